"""Socket.IO: only signed-in users connect; each joins a private room for notices.

The player also sends its heartbeats here once connected: the connection was
authenticated once, so a beat costs no cookie, CSRF or user lookup (the HTTP
endpoint stays as the fallback). See bench/media.py for both.
"""
from __future__ import annotations

import time

from sqlalchemy import select
from flask import request
from flask_babel import gettext as _
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, join_room

from webapp.core import db
from webapp.conferences import sockets as conference_signalling  # noqa: F401  (registers the conference events)
from webapp.extensions import socketio
from webapp.study.views import heartbeat_fields, heartbeat_response
from webapp.models import FaceEnrolment, Role, StudySession
from webapp.study.service import StudyError, record_heartbeat

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
    from webapp.conferences.sockets import on_disconnect

    _learners.pop(request.sid, None)
    _rtc_budget.pop(request.sid, None)
    on_disconnect(request.sid)


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


# --- WebRTC signalling for the study camera (issue 3) ------------------------------------
# Flask-SocketIO handlers: they run with the connection's login (current_user), so a learner
# can only ever signal for their own open, consented sitting. Answers are acks:
# {"ok": true, ...} or {"error": code, "message": text}.

_RTC_EVENTS_PER_10S = 40
_rtc_budget: dict[str, list[float]] = {}


def _rtc_error(code: str, message: str) -> dict:
    return {"error": code, "message": _(message)}


def _rtc_allowed(sid: str) -> bool:
    """A sliding window per connection: a flood is refused without touching the engine."""
    now = time.monotonic()
    stamps = [t for t in _rtc_budget.get(sid, []) if now - t < 10.0]
    if len(stamps) >= _RTC_EVENTS_PER_10S:
        _rtc_budget[sid] = stamps
        return False
    stamps.append(now)
    _rtc_budget[sid] = stamps
    return True


def _own_sitting(data) -> tuple[StudySession | None, dict | None]:
    if not current_user.is_authenticated or current_user.role != Role.SUPERVISEE:
        return None, _rtc_error("forbidden", "Only supervisees publish a study camera.")
    if not _rtc_allowed(request.sid):
        return None, _rtc_error("rate_limited", "Too many requests. Please wait and try again.")
    if not isinstance(data, dict) or not isinstance(data.get("session_id"), str) or len(data["session_id"]) > 64:
        return None, _rtc_error("bad_field", "The request was not valid.")
    study = db.session().get(StudySession, data["session_id"])
    if study is None or study.learner_id != current_user.id or study.ended_at is not None:
        return None, _rtc_error("not_found", "Not found, or outside your jurisdiction.")
    return study, None


@socketio.on("rtc_offer")
def _rtc_offer(data=None):
    from streaming.rtc import SignallingError

    from webapp.core.face_crypto import decrypt_embedding
    from webapp.proctor.hub import runner

    study, error = _own_sitting(data)
    if error:
        return error
    if study.camera_consent_at is None:
        return _rtc_error("consent_required", "Studying needs your consent to the camera checks.")
    sdp = data.get("sdp")
    if not isinstance(sdp, str) or data.get("type", "offer") != "offer":
        return _rtc_error("bad_sdp", "The camera connection could not be set up. Reload the page and try again.")
    references = [decrypt_embedding(row.embedding_enc) for row in db.session().scalars(
        select(FaceEnrolment).where(FaceEnrolment.user_id == current_user.id, FaceEnrolment.active.is_(True)))]
    db.session().rollback()   # end the read: the runner writes from its own threads
    try:
        answer = runner().open(study.id, current_user.id, references, sdp)
    except SignallingError as exc:
        if exc.code == "not_enrolled":
            return _rtc_error("not_enrolled", "Your face is not enrolled yet. Please ask your officer to enrol it.")
        return {"error": exc.code, "message": _("The camera connection could not be set up. "
                                                 "Reload the page and try again."), "detail": exc.message[:200]}
    return {"ok": True, "sdp": answer, "type": "answer"}


@socketio.on("rtc_ice")
def _rtc_ice(data=None):
    from streaming.rtc import SignallingError

    from webapp.proctor.hub import runner

    study, error = _own_sitting(data)
    if error:
        return error
    if runner().owner(study.id) != current_user.id:
        return _rtc_error("not_found", "Not found, or outside your jurisdiction.")
    try:
        runner().add_candidate(study.id, data.get("candidate"))
    except SignallingError as exc:
        return {"error": exc.code, "message": _("The request was not valid."), "detail": exc.message[:200]}
    return {"ok": True}


@socketio.on("proctor_recheck")
def _proctor_recheck(data=None):
    from webapp.proctor.hub import runner

    study, error = _own_sitting(data)
    if error:
        return error
    if not runner().recheck(study.id):
        return _rtc_error("no_camera", "The camera is not connected. Allow the camera and try again.")
    return {"ok": True}


@socketio.on("proctor_state")
def _proctor_state(data=None):
    from webapp.proctor.hub import runner

    study, error = _own_sitting(data)
    if error:
        return error
    return {"ok": True, "hold": runner().hold(study.id)}
