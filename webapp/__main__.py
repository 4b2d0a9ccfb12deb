"""`python -m webapp [--host H] [--port P]`: serve the portal (Socket.IO in threading mode)."""
import argparse

from webapp.app import create_app
from webapp.extensions import socketio


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the portal.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    app = create_app()
    if app.config["SCHEDULER_ENABLED"]:
        from webapp.scheduler import start
        start(app)
    if app.config["PROCTORING_REQUIRED"]:
        # Load the face models (seconds) now, not when the first learner turns the camera on.
        import threading

        from webapp.proctor.hub import runner
        threading.Thread(target=lambda: runner(app).warm(), name="proctor-warm", daemon=True).start()
        socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True)


if __name__ == "__main__":
    main()
