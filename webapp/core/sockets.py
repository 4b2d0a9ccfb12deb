"""The one Socket.IO guard: only signed-in users connect, every event is rate-limited per
connection by one limiter, and a closed connection is forgotten by every domain that tracks it.

Domains register their events on `webapp.extensions.socketio` in their own `sockets.py`
(study: heartbeats; proctor: the study camera's signalling; conferences: the room) and call
`allowed(sid, bucket)` before doing any work; each returns its own error body.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import request
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room

from webapp.extensions import socketio

WINDOW_S = 10.0
# Events per connection per WINDOW_S, per bucket (a flood is refused before any work).
BUDGETS = {"rtc": 40, "conference": 60}


class EventLimiter:
    """A sliding window of event times per (connection, bucket)."""

    def __init__(self, budgets: dict[str, int], window_s: float = WINDOW_S, clock=time.monotonic):
        self._budgets = dict(budgets)
        self._window = window_s
        self._clock = clock
        self._stamps: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def allowed(self, sid: str, bucket: str) -> bool:
        now = self._clock()
        with self._lock:
            stamps = [t for t in self._stamps.get((sid, bucket), []) if now - t < self._window]
            ok = len(stamps) < self._budgets[bucket]
            if ok:
                stamps.append(now)
            self._stamps[(sid, bucket)] = stamps
            return ok

    def forget(self, sid: str) -> None:
        with self._lock:
            for key in [k for k in self._stamps if k[0] == sid]:
                del self._stamps[key]


limiter = EventLimiter(BUDGETS)
_connect_hooks: list[Callable] = []
_disconnect_hooks: list[Callable[[str], None]] = []


def allowed(sid: str, bucket: str) -> bool:
    return limiter.allowed(sid, bucket)


def on_disconnect(hook: Callable[[str], None]) -> Callable[[str], None]:
    """Register `hook(sid)`, called when any connection closes."""
    _disconnect_hooks.append(hook)
    return hook


@socketio.on("connect")
def _connect(auth=None):
    if not current_user.is_authenticated:
        raise ConnectionRefusedError("unauthenticated")
    join_room(f"user:{current_user.id}")
    for hook in _connect_hooks:
        hook(request.sid, current_user)


def on_connect(hook: Callable) -> Callable:
    """Register `hook(sid, user)`, called when an authenticated connection opens."""
    _connect_hooks.append(hook)
    return hook


@socketio.on("disconnect")
def _disconnect(*_args):
    sid = request.sid
    limiter.forget(sid)
    for hook in _disconnect_hooks:
        hook(sid)
