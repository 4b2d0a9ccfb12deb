"""Socket.IO: only signed-in users connect; each joins a private room for notices."""
from __future__ import annotations

from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room

from .extensions import socketio


@socketio.on("connect")
def _connect(auth=None):
    if not current_user.is_authenticated:
        raise ConnectionRefusedError("unauthenticated")
    join_room(f"user:{current_user.id}")
