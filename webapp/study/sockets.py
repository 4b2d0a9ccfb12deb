"""The player's heartbeats over its Socket.IO connection.

The connection was authenticated once (webapp.core.sockets), so a beat costs no cookie, CSRF or
user lookup; the HTTP endpoint stays as the fallback. See bench/media.py for both.
"""
from __future__ import annotations

import logging
import time

from webapp.core import db
from webapp.core.sockets import limiter, on_connect, on_disconnect
from webapp.extensions import socketio
from webapp.models import Role
from webapp.study.service import StudyError, record_heartbeat
from webapp.study.views import heartbeat_fields, heartbeat_response

log = logging.getLogger(__name__)

# sid -> user id of connected supervisees (only they send heartbeats).
_learners: dict[str, int] = {}


@on_connect
def _remember_learner(sid: str, user) -> None:
    if user.role == Role.SUPERVISEE:
        _learners[sid] = user.id


@on_disconnect
def _forget_learner(sid: str) -> None:
    _learners.pop(sid, None)


def register_raw_handlers(app) -> None:
    """Handlers on the python-socketio server itself, without Flask-SocketIO's per-event
    request context (a cookie decode and a thread per event): the heartbeat is the
    portal's hottest path. Called by create_app for each app."""

    def heartbeat(sid, data):
        # Every beat answers: an error inside is logged and answered, never left without an ack.
        from sqlalchemy.exc import OperationalError
        try:
            return beat(sid, data)
        except OperationalError as exc:
            # The database is restarting: nothing was recorded; the player's next beat carries on.
            log.warning("heartbeat: database unavailable: %s", str(exc).splitlines()[0][:200])
            return {"error": "unavailable", "status": 503}
        except Exception:
            log.exception("heartbeat failed")
            return {"error": "internal", "status": 500}

    def beat(sid, data):
        user_id = _learners.get(sid)
        if user_id is None:
            return {"error": "forbidden", "status": 403}
        now = time.time()
        if app.config["RATELIMIT_ENABLED"] and \
                not limiter.allowed(sid, "heartbeat", now=now, budget=app.config["HEARTBEAT_MAX_PER_10S"]):
            return {"error": "rate_limited", "status": 429}
        if not isinstance(data, dict) or not isinstance(data.get("session_id"), str):
            return {"error": "bad_field", "status": 400, "field": "session_id"}
        problems, seq, position, playing, rate = heartbeat_fields(data)
        if problems:
            return {"error": "bad_field", "status": 400, "field": ", ".join(problems)}
        with app.app_context():
            try:
                # Keyed by learner: beats of different learners commit side by side on PostgreSQL
                # (one lock for all writers held every beat to ~300/s: bench.media).
                with db.write_transaction(key=("learner", user_id)) as session:
                    outcome = record_heartbeat(session, data["session_id"][:64], user_id, seq, position,
                                               playing, rate, now)
            except StudyError as exc:
                return {"error": exc.code, "status": exc.status}
            if outcome is None:
                return {"error": "not_found", "status": 404}
            body, status = heartbeat_response(outcome)
        body["status"] = status
        return body

    socketio.server.on("heartbeat", heartbeat)
