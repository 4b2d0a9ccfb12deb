"""The officers' unit pages at national scale (issue 14): p95 of each level's page.

    python -m bench.officer [--supervisees 100000] [--requests 20] [--database sqlite|postgresql|both]

For each database (a fresh SQLite file; a throw-away PostgreSQL cluster, tests/pg.py): migrate,
seed N supervisees with a month of credit, flags and roll calls (scripts/seed_scale.py: bulk
inserts, then the month's rows of the unit pages), log in one officer per level along the first
branch, and GET each officer's own unit page `--requests` times through the WSGI app in this
process (no network, no other load: what the server spends on a page). Prints, per database
(suffix `_sqlite` / `_postgresql`):

* `page_p95_ms_<page>`, `page_p50_ms_<page>`, `page_kb_<page>` for ministry, province, city, district,
  township, `search` (the ministry page searching a surname) and `page2` (the ministry page's second
  page of people); `attention` too when /officer/attention exists;
* `page_cold_p95_ms_<page>` for the five levels: the same with nothing kept by the process
  (webapp.compliance.kept: levels 1-3 keep this month's figures a minute), i.e. every SQL
  aggregate run for the request; `goal_met` / `goal_met_cold`: every level's p95 under 300 ms;
* `numbers_match`: the ministry's and the province's units tables equal the figures computed again
  in plain SQL from the raw rows (bench/officer_check.py), at the bench's size;
* `seed_s`, `refresh_s` (a full refresh of the month, as the scheduled job does), `supervisees`;
* `export_s` (`export_kb`): a province officer's monthly XLSX (every person of the province), goal
  under 10 s (`export_goal_met`); `export_s_xlsx`, `export_s_csv` (`export_kb_*`): the ministry's
  (one request each);
* the machine: `machine_cores`, `load_1m_before`, `load_1m`.
Goal: every page_p95_ms below 300.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import parse_args

SMOKE = {"supervisees": 300, "requests": 3}
PAGES = ("ministry", "province", "city", "district", "township")
GOAL_MS = 300.0
EXPORT_GOAL_S = 10.0


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def login(app, username: str, password: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    if answer.status_code != 302:
        raise SystemExit(f"login of {username} failed: {answer.status_code}")
    return client


def timed(client, url: str, requests: int, cold: bool = False) -> tuple[list[float], int]:
    """`requests` GETs of `url` after one untimed; `cold`: with nothing kept before each
    (webapp.compliance.kept), as the first view of a unit in a process."""
    from webapp.compliance.queries import forget_month
    client.get(url)       # templates compiled
    times, size = [], 0
    for _ in range(requests):
        if cold:
            forget_month()
        began = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"GET {url}: {answer.status_code}")
        size = len(answer.data)
    return times, size


def check_numbers(app, seeded, clients) -> str:
    """The ministry's and the province's units tables against the raw rows (bench/officer_check.py):
    "yes", or "no" with the differences on stderr."""
    from bench.officer_check import mismatches
    from webapp.compliance import months
    from webapp.core import db
    start, end = months.bounds(seeded.month, app.config["BABEL_DEFAULT_TIMEZONE"])
    required = float(app.config["MONTHLY_REQUIRED_HOURS"]) * 3600
    # the pages first, outside an app context: a request inside one would reuse its `g`, and
    # with it the user Flask-Login loaded for the previous request
    pages = [clients[level].get("/officer/").get_data(as_text=True) for level in (0, 1)]
    wrong = []
    with app.app_context():
        for level, html in enumerate(pages):
            wrong += mismatches(db.session(), html, seeded.chain[level], seeded.month, start, end, required)
    for line in wrong[:20]:
        print(f"numbers differ: {line}", file=sys.stderr)
    return "no" if wrong else "yes"


def run(database: str, url: str, folder: Path, args) -> dict[str, str]:
    from webapp import create_app, migrate
    from webapp.compliance import refresh_month
    from webapp.core import db
    from scripts.seed_scale import SEED_PASSWORD, seed
    app = create_app({"INSTANCE_DIR": str(folder / "instance"), "DATABASE_URL": url, "SECRET_KEY": "bench",
                      "RATELIMIT_ENABLED": False, "SCHEDULER_ENABLED": False, "MEDIA_ROOT": str(folder / "media")})
    migrate.upgrade(url)
    out: dict[str, str] = {}
    with app.app_context():
        seeded = seed(db.session(), args.supervisees)
        began = time.monotonic()
        with db.write_transaction() as session:
            refresh_month(session, seeded.month)
            session.commit()
        out["refresh_s"] = f"{time.monotonic() - began:.2f}"
    out["seed_s"] = f"{seeded.seconds:.1f}"
    clients = [login(app, name, SEED_PASSWORD) for name in seeded.officers]
    urls = {page: (clients[i], "/officer/") for i, page in enumerate(PAGES)}
    urls["search"] = (clients[0], "/officer/?q=%E7%8E%8B")                 # 王
    urls["page2"] = (clients[0], "/officer/?page=2")
    if any(rule.rule == "/officer/attention" for rule in app.url_map.iter_rules()):
        urls["attention"] = (clients[0], "/officer/attention")
    for page, (client, path) in urls.items():
        times, size = timed(client, path, args.requests)
        out[f"page_p95_ms_{page}"] = f"{p95(times):.1f}"
        out[f"page_p50_ms_{page}"] = f"{statistics.median(times):.1f}"
        out[f"page_kb_{page}"] = f"{size / 1024:.1f}"
        if page in PAGES:
            cold, _size = timed(client, path, args.requests, cold=True)
            out[f"page_cold_p95_ms_{page}"] = f"{p95(cold):.1f}"
    if any(rule.rule == "/officer/report/monthly.<fmt>" for rule in app.url_map.iter_rules()):
        # the figure: a province's monthly XLSX (export_s); then the ministry's whole month,
        # every person (xlsx) and the units (csv)
        for key, client, fmt in (("export_s", clients[1], "xlsx"), ("export_s_xlsx", clients[0], "xlsx"),
                                 ("export_s_csv", clients[0], "csv")):
            began = time.perf_counter()
            answer = client.get(f"/officer/report/monthly.{fmt}")
            if answer.status_code != 200:
                raise SystemExit(f"export {key}: {answer.status_code}")
            out[key] = f"{time.perf_counter() - began:.2f}"
            out[key.replace("export_s", "export_kb")] = f"{len(answer.data) / 1024:.1f}"
        out["export_goal_met"] = "yes" if float(out["export_s"]) < EXPORT_GOAL_S else "no"
    out["numbers_match"] = check_numbers(app, seeded, clients)
    worst = max(float(out[f"page_p95_ms_{page}"]) for page in PAGES)
    worst_cold = max(float(out[f"page_cold_p95_ms_{page}"]) for page in PAGES)
    out["goal_met"] = "yes" if worst < GOAL_MS else "no"
    out["goal_met_cold"] = "yes" if worst_cold < GOAL_MS else "no"
    app.extensions["db_engine"].dispose()
    return {f"{key}_{database}": value for key, value in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supervisees", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    args = parse_args(parser, argv, SMOKE)
    if args.smoke:
        print("smoke=1", flush=True)
    load_before = os.getloadavg()[0]
    print(f"supervisees={args.supervisees}\nrequests={args.requests}\nmachine_cores={os.cpu_count()}\n"
          f"load_1m_before={load_before:.2f}", flush=True)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-officer-") as tmp:
        if args.database in ("sqlite", "both"):
            folder = Path(tmp) / "sqlite"
            folder.mkdir()
            for key, value in run("sqlite", f"sqlite:///{folder / 'portal.db'}", folder, args).items():
                print(f"{key}={value}", flush=True)
        if args.database in ("postgresql", "both"):
            from tests.pg import Cluster
            folder = Path(tmp) / "postgresql"
            folder.mkdir()
            with Cluster() as cluster:
                for key, value in run("postgresql", cluster.create_database(), folder, args).items():
                    print(f"{key}={value}", flush=True)
    load = os.getloadavg()
    print(f"load_1m={load[0]:.2f}\nload_5m={load[1]:.2f}\nbench_seconds={time.monotonic() - began:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
