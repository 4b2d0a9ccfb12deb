"""`flask db ...`, `flask content import ...`, `flask demo load`, `flask proctor purge-evidence`,
`flask proctor recompute-far-frr`."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from webapp import migrate
from webapp.courses.catalogue import CourseImportError, import_into_db


def register(app: Flask) -> None:
    db_cli = AppGroup("db", help="Database schema (Alembic).")
    content_cli = AppGroup("content", help="Course content.")
    demo_cli = AppGroup("demo", help="Demo data.")

    @db_cli.command("upgrade")
    @click.argument("revision", default="head")
    def db_upgrade(revision):
        migrate.upgrade(current_app.config["DATABASE_URL"], revision)
        click.echo(f"database at {revision}")

    @db_cli.command("downgrade")
    @click.argument("revision")
    def db_downgrade(revision):
        migrate.downgrade(current_app.config["DATABASE_URL"], revision)
        click.echo(f"database at {revision}")

    @content_cli.command("import")
    @click.argument("manifests", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--overwrite", is_flag=True, help="Replace a course already imported under the same slug.")
    def content_import(manifests, overwrite):
        """Validate and import course manifests (JSON) with their media, producing HLS renditions."""
        failed = 0
        for manifest in manifests:
            with click.progressbar(length=1000, label=f"{manifest.name}", show_percent=True) as bar:
                done = [0]

                def progress(fraction: float) -> None:
                    step = int(max(0.0, min(1.0, fraction)) * 1000)
                    if step > done[0]:
                        bar.update(step - done[0])
                        done[0] = step
                try:
                    course = import_into_db(manifest, progress=progress, overwrite=overwrite)
                except CourseImportError as exc:
                    failed += 1
                    click.echo("")
                    click.secho(f"error: {exc}", fg="red", err=True)
                    continue
            click.echo(f"imported {course.slug}: {course.title} ({course.duration_s:.0f} s)")
        if failed:
            raise SystemExit(1)

    @demo_cli.command("load")
    def demo_load():
        """Create the demo organisation, accounts and assignments (idempotent)."""
        from webapp.demo import load_demo
        for line in load_demo():
            click.echo(line)

    deploy_cli = AppGroup("deploy", help="Deployment helpers.")

    @deploy_cli.command("nginx-conf")
    @click.option("--listen", default="127.0.0.1:8080", show_default=True)
    @click.option("--portal", multiple=True, default=["127.0.0.1:5000"], show_default=True,
                  help="where the portal listens; repeat for several web processes (round-robin)")
    @click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                  help="folder for nginx's pid, logs and temp files")
    @click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
    @click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path),
                  help="certificate (full chain): --listen becomes a TLS listener")
    @click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), help="its private key")
    @click.option("--redirect-listen", help="plain HTTP here redirects to HTTPS (e.g. 0.0.0.0:80)")
    @click.option("--https-port", type=int, default=443, show_default=True, help="the port the redirect points to")
    @click.option("--server-name", default="_", show_default=True, help="the site's host name (nginx server_name)")
    @click.option("--user", "worker_user", help="user nginx's workers run as (Debian: www-data)")
    def nginx_conf(listen, portal, run_dir, output, tls_cert, tls_key, redirect_listen, https_port, server_name,
                   worker_user):
        """Write an nginx config that serves signed media and proxies the portal.
        Then run the portal with MEDIA_URL_BASE=/smedia and the same SECRET_KEY (and MEDIA_SIGNING_KEY)."""
        from webapp.deploy import nginx_config
        run_dir.mkdir(parents=True, exist_ok=True)
        output.write_text(nginx_config(current_app.config, listen=listen, portal=list(portal), run_dir=run_dir,
                                       tls_cert=tls_cert, tls_key=tls_key, redirect_listen=redirect_listen,
                                       https_port=https_port, server_name=server_name, worker_user=worker_user))
        output.chmod(0o600)  # it holds the media signing key
        click.echo(f"wrote {output}; start it with: nginx -c {output.resolve()}")

    @deploy_cli.command("turnserver-conf")
    @click.option("--realm", required=True, help="the TURN host name, e.g. turn.example.org")
    @click.option("--port", type=int, default=3478, show_default=True, help="plain STUN/TURN (UDP and TCP)")
    @click.option("--tls-port", type=int, default=443, show_default=True,
                  help="TURN over TLS: 443 gets through firewalls that pass only HTTPS (needs its own address)")
    @click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), required=True)
    @click.option("--key", type=click.Path(dir_okay=False, path_type=Path), required=True)
    @click.option("--listening-ip", multiple=True, help="addresses to listen on (default: all)")
    @click.option("--relay-ip", multiple=True, help="addresses relays are opened on")
    @click.option("--external-ip", help="public address, when coturn is behind 1:1 NAT (PUBLIC or PUBLIC/PRIVATE)")
    @click.option("--relay-ports", default="49152-65535", show_default=True)
    @click.option("--allowed-peer", multiple=True,
                  help="private address (or range a-b) relays may reach anyway: the media servers' own")
    @click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("/var/lib/turn"),
                  show_default=True, help="coturn's pid file and database")
    @click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
    def turnserver_conf(realm, port, tls_port, cert, key, listening_ip, relay_ip, external_ip, relay_ports,
                        allowed_peer, run_dir, output):
        """Write a coturn config (deploy/turnserver.conf.template) whose credentials are the ones the
        portal issues: its static-auth-secret is TURN_SECRET."""
        from webapp.deploy import turnserver_config
        secret = current_app.config["TURN_SECRET"]
        if not secret:
            raise click.UsageError("set TURN_SECRET (the portal's and coturn's shared secret) first")
        low, _, high = relay_ports.partition("-")
        text = turnserver_config(secret=secret, realm=realm, port=port, tls_port=tls_port, cert=cert, key=key,
                                 run_dir=run_dir, listening_ips=listening_ip, relay_ips=relay_ip,
                                 external_ip=external_ip, relay_ports=(int(low), int(high or low)),
                                 allowed_peers=allowed_peer)
        output.write_text(text)
        output.chmod(0o640)   # it holds the shared secret (coturn reads it as its own group)
        click.echo(f"wrote {output}; browsers get TURN_URLS with credentials signed by the same secret")

    proctor_cli = AppGroup("proctor", help="Camera proctoring data.")

    @proctor_cli.command("purge-evidence")
    def purge_evidence():
        """Delete evidence snapshots past EVIDENCE_RETENTION_DAYS (the flags stay)."""
        from webapp.core import db
        from webapp.proctor.evidence import purge_expired_evidence
        with db.write_transaction() as session:
            click.echo(f"deleted {purge_expired_evidence(session)} expired evidence image(s)")

    @proctor_cli.command("recompute-far-frr")
    @click.option("--threshold", type=float, default=None,
                  help="threshold to evaluate (default: the one in force, IDENTITY_THRESHOLD)")
    def recompute_far_frr(threshold):
        """FRR, and what can honestly be said of FAR, from stored identity-check distances and
        officers' reviews of identity_mismatch flags (proctoring.evaluate.field_rates)."""
        import json

        from sqlalchemy import and_, select

        from proctoring.evaluate import FieldRecord, field_rates
        from proctoring.vision import IDENTITY_THRESHOLD
        from webapp.core import db
        from webapp.models import ProctorCheck, ProctorFlag
        if threshold is None:
            threshold = current_app.config["IDENTITY_THRESHOLD"] or IDENTITY_THRESHOLD
        query = (select(ProctorCheck.id, ProctorCheck.passed, ProctorCheck.scores_json, ProctorFlag.status)
                 .outerjoin(ProctorFlag, and_(ProctorFlag.check_id == ProctorCheck.id,
                                              ProctorFlag.kind == "identity_mismatch"))
                 .where(ProctorCheck.kind == "identity").order_by(ProctorCheck.id))
        records, seen = [], set()
        session = db.session()
        for check_id, passed, scores_json, status in session.execute(query):
            if check_id in seen:   # one record per check, even with two flags on it
                continue
            seen.add(check_id)
            try:
                distance = json.loads(scores_json or "{}").get("distance")
            except (ValueError, AttributeError):
                distance = None
            records.append(FieldRecord(float(distance) if isinstance(distance, (int, float)) else None,
                                       bool(passed), getattr(status, "value", status)))
        for key, value in field_rates(records, threshold).items():
            text = f"{value:.4f}" if isinstance(value, float) else str(value).lower()
            click.echo(f"{key}={text}")

    compliance_cli = AppGroup("compliance", help="The unit pages' monthly figures.")

    @compliance_cli.command("refresh")
    @click.option("--month", help="YYYY-MM (default: this month); a past month keeps its people's units")
    def compliance_refresh(month):
        """Build or refresh the supervisees' rows of a month from credit, flags and roll calls."""
        from webapp.compliance import refresh_month
        from webapp.core import db
        from webapp.study import current_month
        month = month or current_month()
        with db.write_transaction() as session:
            try:
                done = refresh_month(session, month)
            except ValueError as exc:
                raise click.UsageError(f"--month {month}: not a month up to this one") from exc
            session.commit()
        click.echo(f"{month}: {done} supervisee month(s) refreshed")

    app.cli.add_command(compliance_cli)
    app.cli.add_command(proctor_cli)
    app.cli.add_command(deploy_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(content_cli)
    app.cli.add_command(demo_cli)
