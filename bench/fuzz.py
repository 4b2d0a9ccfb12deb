"""Fuzzing the live portal: the JSON APIs with schemathesis, every Socket.IO event with Hypothesis.

    python -m bench.fuzz [--cases 10000] [--http-share 0.5] [--database sqlite|postgresql] [--smoke]

Starts `python -m webapp` on a throw-away instance (tests/fuzz/harness.py: demo data, a course, an
enrolled learner, a live conference, a VR station; camera proctoring required, as deployed), sends
`--cases` generated cases, `--http-share` of them over HTTP (every operation of the description the
portal serves at /api/openapi.json, positive and negative, with real logins and the station's
token) and the rest as Socket.IO events (every event, tests/fuzz/strategies.py, from a learner's
and an officer's real connection), then stops the portal. Prints key=value lines: the cases sent,
5xx answers and "internal" acks (`responses_500`), events never answered (`unanswered_events`),
answers that broke the description or the events' contract, tracebacks in the portal's log
(during the run and at its exit), the time taken and the machine (cores, load average). Exit
status 1 when anything was found (the failures on stderr), so a smoke run that finds a bug fails
the suite.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import parse_args

# --smoke: both halves, every operation and event at least once, a live portal: about half a minute
SMOKE = {"cases": 300}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="generated cases in all (HTTP and Socket.IO)")
    parser.add_argument("--http-share", type=float, default=0.5, help="the share of the cases sent over HTTP")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="the portal's database: SQLite (the embedded default) or a throw-away PostgreSQL "
                             "cluster (tests/pg.py)")
    args = parse_args(parser, argv, SMOKE)
    if args.smoke:
        print("smoke=1", flush=True)

    from tests.fuzz.harness import fuzz_http, fuzz_socketio, identities, live_portal, machine, tracebacks

    began = time.monotonic()
    before = machine()
    print(f"machine_cores={before['machine_cores']}")
    print(f"load_1m_before={before['load_1m']}", flush=True)
    n_http = round(args.cases * args.http_share)
    n_socket = args.cases - n_http
    work = Path(tempfile.mkdtemp(prefix="bench-fuzz-"))
    found: list[str] = []
    try:
        with contextlib.ExitStack() as stack:
            url = None
            if args.database == "postgresql":
                from tests.pg import Cluster
                url = stack.enter_context(Cluster()).create_database()
            portal = stack.enter_context(live_portal(work, url))
            print(f"database={args.database}")
            print(f"portal_start_s={time.monotonic() - began:.1f}", flush=True)
            who = identities(portal)
            started = time.monotonic()
            http = fuzz_http(portal, n_http, who, log=lambda line: print(line, file=sys.stderr))
            http_s = time.monotonic() - started
            print(f"cases_http={http.cases}")
            print(f"http_cases_per_s={http.cases / http_s:.1f}")
            print(f"http_statuses={' '.join(f'{k}:{v}' for k, v in sorted(http.statuses.items()))}", flush=True)
            started = time.monotonic()
            sio = fuzz_socketio(portal, n_socket, who, log=lambda line: print(line, file=sys.stderr))
            sio_s = time.monotonic() - started
            print(f"cases_socketio={sio.cases}")
            print(f"socketio_events_per_s={sio.cases / sio_s:.1f}")
            print(f"socketio_reconnects={sio.reconnects}")
            print(f"socketio_error_answers={sum(sio.errors.values())}", flush=True)
            during = tracebacks(portal.log_text())
        at_exit = tracebacks((work / "server.log").read_text(errors="replace"))[len(during):]
        exit_code = portal.proc.returncode
        print(f"cases_total={http.cases + sio.cases}")
        print(f"responses_500={http.responses_500 + sio.internal}")
        print(f"unanswered_events={sio.unanswered}")
        print(f"http_no_answer={http.no_answer}")
        print(f"http_failures={len(http.failures)}")
        print(f"socketio_failures={len(sio.failures)}")
        print(f"server_tracebacks={len(during)}")
        print(f"server_tracebacks_at_exit={len(at_exit)}")
        print(f"server_exit_code={exit_code}")
        print(f"seconds={time.monotonic() - began:.1f}")
        after = machine()
        print(f"load_1m={after['load_1m']}")
        print(f"load_5m={after['load_5m']}", flush=True)
        found = http.failures + sio.failures + during + at_exit
        if exit_code != 0:
            found.append(f"the portal exited with status {exit_code}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for problem in found[:50]:
        print(f"--- {problem[:4000]}", file=sys.stderr)
    if len(found) > 50:
        print(f"--- ... and {len(found) - 50} more", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
