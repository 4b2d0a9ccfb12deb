"""`python -m webapp.media`: the media process of the production mode (README "Production mode").

It holds what must live in exactly one place: the camera engine with its check runners
(webapp.proctor.hub) and the live conferences with their rooms and roll calls
(webapp.conferences.live), and serves the web tier's calls to them over Redis
(webapp.media.rpc). Its Socket.IO events reach browsers through the same Redis message queue
the web processes use. On start it closes roll calls a crash left open; SIGTERM or Ctrl-C stops
it in order (no new calls, conferences and their roll calls ended, the camera engine shut down).
"""
from __future__ import annotations

import logging
import signal
import sys
import threading

from webapp.app import create_app

log = logging.getLogger("webapp.media")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app({"MEDIA_MODE": "embedded", "SCHEDULER_ENABLED": False})
    if not app.config["REDIS_URL"]:
        print("the media process needs REDIS_URL (its RPC and Socket.IO events go through Redis)", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    from webapp.conferences.live import close_orphaned_rollcalls
    from webapp.conferences.live import shutdown as close_conferences
    from webapp.core import db
    from webapp.media.rpc import RpcServer
    from webapp.media.services import handlers
    from webapp.proctor.hub import runner
    from webapp.proctor.hub import shutdown as close_runner

    with app.app_context():
        closed = close_orphaned_rollcalls()
    if closed:
        log.info("closed %d roll call(s) left open by an earlier media process", len(closed))
    if app.config["PROCTORING_REQUIRED"]:
        threading.Thread(target=lambda: runner(app).warm(), name="proctor-warm", daemon=True).start()

    def in_app(step):
        with app.app_context():
            try:
                return step()
            finally:
                db.session().rollback()

    server = RpcServer(app.config["REDIS_URL"], handlers(app), threads=app.config["MEDIA_RPC_THREADS"],
                       wrap=in_app).start()
    log.info("media process ready (%d RPC threads)", app.config["MEDIA_RPC_THREADS"])
    print("media process ready", flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
        close_conferences(app)
        close_runner(app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
