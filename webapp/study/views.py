"""The supervisee's side: home page, player page, and the study API the player talks to."""
from __future__ import annotations

import json
import math
import time

from flask import Blueprint, abort, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from streaming import signed_urls

from webapp.core import db
from webapp.proctor import hub as proctor_hub
from webapp.core.access import allow, course_or_404, is_assigned, json_error, own_session_or_404, sitting_key
from webapp.core.inputs import MAX_ID, bounded_int, to_float
from webapp.core.sockets import EventLimiter
from webapp.core.turn import ice_servers_for
from webapp.models import Assignment, Course, FaceEnrolment, Role, WatchProgress
from webapp.study.service import (StudyError, camera_resume, confirm_prompt, credited_seconds_in_month, current_month,
                    finish_session, progress_for, record_heartbeat, required_hours, resume_after_failure,
                    start_session)

bp = Blueprint("learn", __name__, template_folder="templates", static_folder="static",
               static_url_path="/assets/study")


def _assigned_course_or_404(course_id: int) -> Course:
    course = course_or_404(course_id)
    if not is_assigned(current_user.id, course.id):
        abort(404)
    return course


def _progress_json(progress, duration: float) -> dict:
    return {
        "position": round(progress.position_s, 3),
        "frontier": round(progress.frontier_s, 3),
        "covered_s": round(progress.covered_s, 3),
        "credited_s": round(progress.credited_s, 3),
        "coverage_share": round(progress.covered_s / duration, 4) if duration else 0.0,
        "complete": progress.completed_at is not None,
    }


@bp.route("/learn/")
@allow(Role.SUPERVISEE)
def home():
    session = db.session()
    rows = session.execute(
        select(Assignment, Course, WatchProgress)
        .join(Course, Course.id == Assignment.course_id)
        .outerjoin(WatchProgress, (WatchProgress.course_id == Course.id) &
                   (WatchProgress.learner_id == Assignment.learner_id))
        .where(Assignment.learner_id == current_user.id)
        .order_by(Assignment.assigned_at)).all()
    month = current_month()
    credited_h = credited_seconds_in_month(session, current_user.id, month) / 3600
    needed_h = required_hours(session, current_user.unit)
    return render_template("learn/home.html", rows=rows, month=month, credited_h=credited_h, needed_h=needed_h)


@bp.route("/learn/course/<int:course_id>")
@allow(Role.SUPERVISEE)
def player(course_id: int):
    course = _assigned_course_or_404(course_id)
    progress = progress_for(db.session(), current_user.id, course.id)
    db.session().commit()
    hls_url, mp4_url = media_urls(course, current_user.id)
    return render_template("learn/player.html", course=course, progress=progress, hls_url=hls_url, mp4_url=mp4_url,
                           heartbeat_s=current_app.config["HEARTBEAT_INTERVAL_S"],
                           proctored=current_app.config["PROCTORING_REQUIRED"],
                           enrolled=_enrolled(current_user.id),
                           ice_servers=json.dumps(ice_servers_for(current_app.config, current_user.id)),
                           hold_messages=proctor_hub.HOLD_MESSAGES)


def _enrolled(user_id: int) -> bool:
    return db.session().scalar(select(FaceEnrolment.id).where(FaceEnrolment.user_id == user_id,
                                                              FaceEnrolment.active.is_(True)).limit(1)) is not None


def media_urls(course: Course, user_id: int) -> tuple[str, str]:
    """Playlist and MP4 URLs: signed nginx URLs when deployed behind nginx, else our route."""
    cfg = current_app.config
    if cfg["MEDIA_URL_BASE"]:
        expires = int(time.time()) + cfg["MEDIA_URL_TTL_S"]
        base = signed_urls.prefix(cfg["MEDIA_URL_BASE"], cfg["MEDIA_SIGNING_KEY"], user_id, course.slug, expires)
        return base + course.master_playlist, base + course.source_file
    return (url_for("media.course_file", course_id=course.id, relpath=course.master_playlist),
            url_for("media.course_file", course_id=course.id, relpath=course.source_file))


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(json_error(400, "bad_json", _("The request body must be a JSON object.")))
    return data


@bp.errorhandler(StudyError)
def _study_error(exc: StudyError):
    return json_error(exc.status, exc.code, _(exc.message))


@bp.route("/api/study/start", methods=["POST"])
@allow(Role.SUPERVISEE)
def api_start():
    data = _body()
    course_id = bounded_int(data.get("course_id"))
    if course_id is None:
        return json_error(400, "bad_field", _("Field %(field)s is missing or not valid.", field="course_id"))
    course = _assigned_course_or_404(course_id)
    camera = current_app.config["PROCTORING_REQUIRED"]
    if camera:
        if data.get("camera_consent") is not True:
            return json_error(400, "consent_required",
                              _("Studying needs your consent to the camera checks."))
        if not _enrolled(current_user.id):
            return json_error(409, "not_enrolled",
                              _("Your face is not enrolled yet. Please ask your officer to enrol it."))
    with db.write_transaction(key=("learner", current_user.id)) as session:
        study = start_session(session, current_user, course, time.time(), request.user_agent.string or "",
                              camera=camera)
    progress = progress_for(db.session(), current_user.id, course.id)
    return jsonify(session_id=study.id, duration=course.duration_s, proctored=camera,
                   heartbeat_interval=current_app.config["HEARTBEAT_INTERVAL_S"],
                   max_rate=current_app.config["LEDGER_MAX_RATE"], **_progress_json(progress, course.duration_s))


def heartbeat_fields(data: dict):
    """(problems, seq, position, playing, rate): the fields' names that are missing or of the
    wrong type, and the values, position and rate as floats. A number no float holds (a
    400-digit integer) becomes ±inf, which the ledger refuses as `invalid` like NaN."""
    seq, position, playing, rate = (data.get(k) for k in ("seq", "position", "playing", "rate"))
    problems = []
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_ID:   # an INTEGER column
        problems.append("seq")
    if not isinstance(position, (int, float)) or isinstance(position, bool):
        problems.append("position")
    if not isinstance(playing, bool):
        problems.append("playing")
    if not isinstance(rate, (int, float)) or isinstance(rate, bool):
        problems.append("rate")
    if problems:
        return problems, seq, position, playing, rate
    return problems, seq, to_float(position), playing, to_float(rate)


def _http_beats() -> EventLimiter:
    """Heartbeats over HTTP, per learner (one open sitting at a time), HEARTBEAT_MAX_PER_10S, one
    limiter per app. In-process, like the Socket.IO limiter; the cap on stored rejections
    (study.service) holds across processes. RATELIMIT_ENABLED=0 turns both limiters off, like every
    rate limit (tests, benchmarks that load the heartbeat path far above a player's rate)."""
    limiter = current_app.extensions.get("study_http_beats")
    if limiter is None:
        limiter = current_app.extensions["study_http_beats"] = EventLimiter({"heartbeat": 30})
    return limiter


@bp.route("/api/study/<session_id>/heartbeat", methods=["POST"])
@allow(Role.SUPERVISEE)
def api_heartbeat(session_id: str):
    now, limiter, key = time.time(), _http_beats(), f"user:{current_user.id}"
    cfg = current_app.config
    if cfg["RATELIMIT_ENABLED"] and not limiter.allowed(key, "heartbeat", now=now, budget=cfg["HEARTBEAT_MAX_PER_10S"]):
        response = json_error(429, "rate_limited", _("Too many requests. Please wait and try again."))
        response.headers["Retry-After"] = str(limiter.retry_after(key, "heartbeat", now))
        return response
    problems, seq, position, playing, rate = heartbeat_fields(_body())
    if problems:
        own_session_or_404(session_id)  # another learner's sitting answers 404 whatever the body
        return json_error(400, "bad_field", _("Field %(field)s is missing or not valid.", field=", ".join(problems)))
    key = sitting_key(session_id)
    if key is None:
        abort(404)
    with db.write_transaction(key=("learner", current_user.id)) as session:
        outcome = record_heartbeat(session, key, current_user.id, seq, position, playing, rate, now)
    if outcome is None:
        abort(404)
    body, status = heartbeat_response(outcome)
    return jsonify(body), status


def heartbeat_response(outcome) -> tuple[dict, int]:
    """The answer to a heartbeat, over HTTP or Socket.IO."""
    body = {"accepted": outcome.accepted, "reason": outcome.reason, "prompt": outcome.prompt,
            "prompt_expired": outcome.prompt_expired, **_progress_json(outcome.progress, outcome.duration)}
    if outcome.snap_to is not None and math.isfinite(outcome.snap_to):
        body["snap_to"] = outcome.snap_to
    return body, (200 if outcome.accepted else 422)


@bp.route("/api/study/<session_id>/confirm", methods=["POST"])
@allow(Role.SUPERVISEE)
def api_confirm(session_id: str):
    data = _body()
    with db.write_transaction(key=("learner", current_user.id)) as session:
        study = own_session_or_404(session_id)  # read inside: the sitting may have just changed
        camera = study.camera_consent_at is not None
        progress, passed = confirm_prompt(session, study, str(data.get("prompt_id", ""))[:64], time.time(),
                                          choice=data.get("choice"), camera=camera)
    if camera and not passed:
        proctor_hub.runner().external_failure(study.id, "question")
    return jsonify(ok=True, passed=passed,
                   **_progress_json(progress, db.session().get(Course, study.course_id).duration_s))


@bp.route("/api/study/<session_id>/resume", methods=["POST"])
@allow(Role.SUPERVISEE)
def api_resume(session_id: str):
    with db.write_transaction(key=("learner", current_user.id)) as session:
        study = own_session_or_404(session_id)
        if study.camera_consent_at is not None:
            camera_resume(session, study, time.time())
        else:
            progress = resume_after_failure(session, study, time.time())
    if study.camera_consent_at is not None:
        # Back after a failure under the camera: a fresh identity check decides.
        runner = proctor_hub.runner()
        runner.external_failure(study.id, "question")
        if not runner.recheck(study.id):
            return json_error(409, "no_camera", _("The camera is not connected. Allow the camera and try again."))
        return jsonify(ok=True, rechecking=True)
    return jsonify(ok=True, **_progress_json(progress, db.session().get(Course, study.course_id).duration_s))


@bp.route("/api/study/<session_id>/finish", methods=["POST"])
@allow(Role.SUPERVISEE)
def api_finish(session_id: str):
    """`confirmed: true` comes from the learner's click on "finish"; a page being closed
    sends `confirmed: false` (navigator.sendBeacon)."""
    data = request.get_json(silent=True, force=True)
    confirmed = isinstance(data, dict) and data.get("confirmed") is True
    with db.write_transaction(key=("learner", current_user.id)) as session:
        study = own_session_or_404(session_id)
        progress = finish_session(session, study, time.time(), confirmed)
    running = proctor_hub.running()
    verifying = False
    if running is not None:
        # A click runs the camera's final identity check (the stream closes after its verdict);
        # a closed page ends the stream at once.
        verifying = confirmed and running.finish(study.id)
        if not verifying:
            running.close(study.id)
    return jsonify(ok=True, verifying=verifying,
                   **_progress_json(progress, db.session().get(Course, study.course_id).duration_s))


@bp.route("/api/study/progress/<int:course_id>")
@allow(Role.SUPERVISEE)
def api_progress(course_id: int):
    course = _assigned_course_or_404(course_id)
    progress = progress_for(db.session(), current_user.id, course.id)
    db.session().commit()
    return jsonify(**_progress_json(progress, course.duration_s))
