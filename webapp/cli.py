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
    @click.option("--portal", default="127.0.0.1:5000", show_default=True, help="where the portal listens")
    @click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                  help="folder for nginx's pid, logs and temp files")
    @click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
    def nginx_conf(listen, portal, run_dir, output):
        """Write an nginx config that serves signed media and proxies the portal.
        Then run the portal with MEDIA_URL_BASE=/smedia and the same SECRET_KEY."""
        from webapp.deploy import nginx_config
        run_dir.mkdir(parents=True, exist_ok=True)
        output.write_text(nginx_config(current_app.config, listen=listen, portal=portal, run_dir=run_dir))
        output.chmod(0o600)  # it holds the media signing key
        click.echo(f"wrote {output}; start it with: nginx -c {output.resolve()}")

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

    app.cli.add_command(proctor_cli)
    app.cli.add_command(deploy_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(content_cli)
    app.cli.add_command(demo_cli)
