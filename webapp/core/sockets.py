"""The one Socket.IO guard: only signed-in users connect, every event is rate-limited per
connection by one limiter, every event answers (an error inside a handler answers
{"error": "internal", ...}, not silence), and a closed connection is forgotten by every domain
that tracks it.

Domains register their events on `webapp.extensions.socketio` in their own `sockets.py`
(study: heartbeats; proctor: the study camera's signalling; conferences: the room) and call
`allowed(sid, bucket)` before doing any work; each returns its own error body.
"""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable

from flask import current_app, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, emit, join_room

from webapp.extensions import socketio

log = logging.getLogger(__name__)

WINDOW_S = 10.0
# Events per connection per WINDOW_S, per bucket (a flood is refused before any work). The
# heartbeat budget is the app's HEARTBEAT_MAX_PER_10S, passed by webapp.study at each beat.
BUDGETS = {"rtc": 40, "conference": 60, "heartbeat": 30}


class EventLimiter:
    """A sliding window of event times per (connection, bucket)."""

    def __init__(self, budgets: dict[str, int], window_s: float = WINDOW_S, clock=time.monotonic):
        self._budgets = dict(budgets)
        self._window = window_s
        self._clock = clock
        self._stamps: dict[tuple[str, str], list[float]] = {}
        self._swept_at = float("-inf")
        self._lock = threading.Lock()

    def allowed(self, sid: str, bucket: str, now: float | None = None, budget: int | None = None) -> bool:
        """Take one event of `sid` in `bucket` if the window has room. `now` (default: this
        limiter's clock) and `budget` (default: the bucket's) let a caller use its own clock and
        configured limit."""
        now = self._clock() if now is None else now
        limit = self._budgets[bucket] if budget is None else budget
        with self._lock:
            self._sweep(now)
            stamps = [t for t in self._stamps.get((sid, bucket), []) if now - t < self._window]
            ok = len(stamps) < limit
            if ok:
                stamps.append(now)
            if stamps:
                self._stamps[(sid, bucket)] = stamps
            else:
                self._stamps.pop((sid, bucket), None)
            return ok

    def retry_after(self, sid: str, bucket: str, now: float | None = None) -> int:
        """Whole seconds until `sid` may send in `bucket` again (at least 1)."""
        now = self._clock() if now is None else now
        with self._lock:
            stamps = [t for t in self._stamps.get((sid, bucket), []) if now - t < self._window]
        return max(1, math.ceil(self._window - (now - stamps[0]))) if stamps else 1

    def _sweep(self, now: float) -> None:
        """Drop keys idle for a whole window (keys that are not connections, e.g. a learner's
        HTTP heartbeats, are never `forget`-ten), at most once a window. Holds the lock."""
        if now - self._swept_at < self._window:
            return
        self._swept_at = now
        for key in [k for k, stamps in self._stamps.items() if not stamps or now - stamps[-1] >= self._window]:
            del self._stamps[key]

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


@socketio.on_error_default
def _internal_error(exc: Exception) -> dict | bool:
    """Any event whose handler raised: the client gets an answer (its ack), the log the trace."""
    from webapp.core import db
    from webapp.media.rpc import MediaError
    if isinstance(exc, MediaError):
        # Production: the media process is restarting; the client may try again shortly.
        log.warning("Socket.IO event: media process call failed: %s", exc)
        return {"error": "media_unavailable", "retry_after_s": 5,
                "message": _("The video service is restarting. Please wait a moment and try again.")}
    log.exception("Socket.IO event failed: %s", exc)
    try:
        db.session().rollback()
    except Exception:   # the answer matters more than a failed rollback
        log.exception("rollback after a failed Socket.IO event")
    if (getattr(request, "event", None) or {}).get("message") == "connect":
        return False    # a connection whose guard failed is refused, not half-open
    return {"error": "internal", "message": _("Internal error. Nothing you submitted was lost; please try again.")}


@socketio.on("connect")
def _connect(auth=None):
    if not current_user.is_authenticated:
        raise ConnectionRefusedError("unauthenticated")
    join_room(f"user:{current_user.id}")
    for hook in _connect_hooks:
        hook(request.sid, current_user)
    if current_app.config["EXPOSE_PROCESS_ID"]:
        # Diagnostics (the reliability suite): which web process holds this connection.
        emit("portal_process", {"pid": os.getpid()})


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
