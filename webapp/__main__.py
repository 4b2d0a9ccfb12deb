"""`python -m webapp [--host H] [--port P]`: serve the portal (Socket.IO in threading mode).

Serves in both modes (PROCTORING_REQUIRED=1 and 0; with 1 the face models are loaded at start,
not when the first learner turns the camera on). Ctrl-C and SIGTERM stop it the same orderly
way: the server stops accepting, the scheduler and the proctoring engine (threads, identity
worker process) shut down, exit status 0. tests/integration/test_server_starts.py runs it so.
"""
import argparse
import signal

from webapp.app import create_app
from webapp.extensions import socketio


def _stop(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (systemd, docker stop) takes the Ctrl-C path


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the portal.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    app = create_app()
    signal.signal(signal.SIGTERM, _stop)
    if app.config["MEDIA_MODE"] == "embedded":
        # The live conferences are this process's: roll calls an earlier run left open end now.
        from webapp.conferences.live import close_orphaned_rollcalls
        from webapp.conferences.education_credit import recover as recover_education
        with app.app_context():
            close_orphaned_rollcalls()
            recover_education()      # education sessions: presence a crash left open, ended ones credited
    scheduler = None
    if app.config["SCHEDULER_ENABLED"]:
        from webapp.scheduler import start
        scheduler = start(app)
    if app.config["PROCTORING_REQUIRED"]:
        # Load the face models (seconds) now, not when the first learner turns the camera on.
        import threading

        from webapp.proctor.hub import runner
        threading.Thread(target=lambda: runner(app).warm(), name="proctor-warm", daemon=True).start()
    try:
        socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True)
    finally:
        # Before the interpreter's own shutdown: MediaPipe tasks closed later than that raise
        # from their __del__, and the identity worker process must not outlive us.
        if scheduler is not None:
            scheduler.shutdown()
        # The live conferences, and the roll-call analysis threads that loaded face models when the
        # first one went live (left to the interpreter's exit, each printed a traceback).
        from webapp.conferences.live import shutdown as close_conferences
        close_conferences(app)
        from webapp.proctor.hub import shutdown
        shutdown(app)


if __name__ == "__main__":
    main()
