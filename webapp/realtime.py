"""Socket.IO: only signed-in users connect; each joins a private room for notices.

The player also sends its heartbeats here once connected: the connection was
authenticated once, so a beat costs no cookie, CSRF or user lookup (the HTTP
endpoint stays as the fallback). See bench/media.py for both.
"""
from __future__ import annotations

import time

from flask import request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room

from . import db
from .extensions import socketio
from .learn import heartbeat_fields, heartbeat_response
from .models import Role
from .study import StudyError, record_heartbeat

# sid -> user id of connected supervisees (only they send heartbeats).
_learners: dict[str, int] = {}


@socketio.on("connect")
def _connect(auth=None):
    if not current_user.is_authenticated:
        raise ConnectionRefusedError("unauthenticated")
    join_room(f"user:{current_user.id}")
    if current_user.role == Role.SUPERVISEE:
        _learners[request.sid] = current_user.id


@socketio.on("disconnect")
def _disconnect(*_args):
    _learners.pop(request.sid, None)


def register_raw_handlers(app) -> None:
    """Handlers on the python-socketio server itself, without Flask-SocketIO's per-event
    request context (a cookie decode and a thread per event): the heartbeat is the
    portal's hottest path. Called by create_app for each app."""

    def heartbeat(sid, data):
        user_id = _learners.get(sid)
        if user_id is None:
            return {"error": "forbidden", "status": 403}
        if not isinstance(data, dict) or not isinstance(data.get("session_id"), str):
            return {"error": "bad_field", "status": 400, "field": "session_id"}
        problems, seq, position, playing, rate = heartbeat_fields(data)
        if problems:
            return {"error": "bad_field", "status": 400, "field": ", ".join(problems)}
        with app.app_context():
            try:
                with db.write_transaction() as session:
                    outcome = record_heartbeat(session, data["session_id"][:64], user_id, seq, float(position),
                                               playing, float(rate), time.time())
            except StudyError as exc:
                return {"error": exc.code, "status": exc.status}
            if outcome is None:
                return {"error": "not_found", "status": 404}
            body, status = heartbeat_response(outcome)
        body["status"] = status
        return body

    socketio.server.on("heartbeat", heartbeat)
