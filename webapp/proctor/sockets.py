"""Socket.IO signalling of the study camera (WebRTC to the proctoring engine).

Flask-SocketIO handlers: they run with the connection's login (current_user), so a learner can
only ever signal for their own open, consented sitting. Answers are acks:
{"ok": true, ...} or {"error": code, "message": text}.
"""
from __future__ import annotations

import time

from flask import request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from webapp.core import db
from webapp.core.sockets import allowed
from webapp.extensions import socketio
from webapp.models import FaceEnrolment, Role, StudySession


def _rtc_error(code: str, message: str) -> dict:
    return {"error": code, "message": _(message)}


def _own_sitting(data) -> tuple[StudySession | None, dict | None]:
    if not current_user.is_authenticated or current_user.role != Role.SUPERVISEE:
        return None, _rtc_error("forbidden", "Only supervisees publish a study camera.")
    if not allowed(request.sid, "rtc"):
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
    from webapp.proctor.standing import open_args, standing_of

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
    # The learner's failures in a row and their wait carry over from earlier sittings.
    standing = open_args(standing_of(db.session(), current_user.id))
    db.session().rollback()   # end the read: the runner writes from its own threads
    try:
        answer = runner().open(study.id, current_user.id, references, sdp, **standing)
    except SignallingError as exc:
        if exc.code == "not_enrolled":
            return _rtc_error("not_enrolled", "Your face is not enrolled yet. Please ask your officer to enrol it.")
        return {"error": exc.code, "message": _("The camera connection could not be set up. "
                                                 "Reload the page and try again."), "detail": exc.message[:200]}
    # The browser starts at the baseline frame rate (the runner asks for more during a challenge).
    from flask import current_app

    from proctoring.camera_rate import camera_rate
    from webapp.proctor.hub import camera_policy
    camera = camera_rate(camera_policy(current_app.config), time.time()).message()
    return {"ok": True, "sdp": answer, "type": "answer", "camera": camera}


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
    if runner().blocked(study.id):
        return _rtc_error("review", "Verification failed several times in a row: an officer must review it "
                                    "before you can verify again. You can ask for the review.")
    wait = runner().recheck_wait(study.id)
    if wait > 0:
        return {"error": "wait", "retry_after_s": round(wait, 1),
                "message": _("Please wait %(s)d seconds before verifying again.", s=max(1, round(wait)))}
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
