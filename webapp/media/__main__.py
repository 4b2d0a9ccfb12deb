"""`python -m webapp.media [--worker ID]`: one media worker of the production mode (README
"Production mode"); a node runs one per core (deploy.stack: `--media N`), each with its own id.

A worker holds the camera engine with its check runners (webapp.proctor.hub) and the live
conferences with their rooms and roll calls (webapp.conferences.live) of the sittings and
conferences the web tier routes to it, and serves the web tier's calls to them over Redis
(webapp.media.rpc: its own queue `media:rpc:<id>`, a heartbeat `media:worker:<id>`,
webapp.media.workers). Its Socket.IO events reach browsers through the same Redis message queue
the web processes use. The id (`--worker`, else MEDIA_WORKER, else "0") stays the same across
restarts: a restarted worker waits until the heartbeat its killed predecessor left expires (and
refuses to start when another live process keeps it up), then closes the roll calls a crash left
open of the conferences it owned or no live worker owns. SIGTERM or Ctrl-C stops it in order
(heartbeat removed, no new calls, conferences and their roll calls ended, the camera engine shut
down).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from webapp.app import create_app

log = logging.getLogger("webapp.media")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp.media", description="a media worker")
    parser.add_argument("--worker", default=os.environ.get("MEDIA_WORKER", "0"),
                        help="this worker's id, the same across restarts (default: MEDIA_WORKER, else 0)")
    args = parser.parse_args(argv)
    from webapp.media.workers import Registry, check_worker_id, orphaned_here
    try:
        check_worker_id(args.worker)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app({"MEDIA_MODE": "embedded", "SCHEDULER_ENABLED": False})
    if not app.config["REDIS_URL"]:
        print("the media process needs REDIS_URL (its RPC and Socket.IO events go through Redis)", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    from webapp.conferences.education_credit import recover as recover_education
    from webapp.conferences.live import close_orphaned_rollcalls
    from webapp.conferences.live import shutdown as close_conferences
    from webapp.core import db
    from webapp.media.rpc import RpcServer
    from webapp.media.services import handlers
    from webapp.proctor.hub import runner
    from webapp.proctor.hub import shutdown as close_runner

    def in_app(step):
        with app.app_context():
            try:
                return step()
            finally:
                db.session().rollback()

    server = RpcServer(app.config["REDIS_URL"], handlers(app), worker=args.worker,
                       threads=app.config["MEDIA_RPC_THREADS"], wrap=in_app)
    if not server.heartbeat.wait_for_earlier():
        print(f"another live media worker has the id {args.worker!r}: give each its own (--worker)", file=sys.stderr)
        return 2
    with app.app_context():
        closed = close_orphaned_rollcalls(orphaned=orphaned_here(Registry(server.redis), args.worker))
        recover_education(orphaned=orphaned_here(Registry(server.redis), args.worker))
    if closed:
        log.info("closed %d roll call(s) left open by an earlier media worker", len(closed))
    if app.config["PROCTORING_REQUIRED"]:
        threading.Thread(target=lambda: runner(app).warm(), name="proctor-warm", daemon=True).start()

    server.start()
    log.info("media worker %s ready (%d RPC threads)", args.worker, app.config["MEDIA_RPC_THREADS"])
    print(f"media worker {args.worker} ready", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
        close_conferences(app)
        close_runner(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
