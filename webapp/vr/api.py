"""The VR stations' API (/api/vr/v1), the contract of docs/vr_station_api.md.

A station authenticates with `Authorization: Bearer <token>` (the token shown once when an officer
registered it; only its SHA-256 is stored). No cookies and no CSRF: the blueprint is CSRF-exempt,
the token is the credential. Every error is JSON {"error": code, "message": Chinese text}.
A station sees only supervisees of its own unit's subtree.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from datetime import timezone
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from streaming import vr_credit

from webapp.core import db, jurisdiction
from webapp.core.access import json_error
from webapp.core.audit import audit
from webapp.extensions import csrf, limiter
from webapp.models import (CreditEntry, FaceEnrolment, OrgUnit, Role, User, VrAssignment, VrAssignmentStatus, VrCheckIn,
                     VrSession, VrStation, utcnow)
from webapp.study import month_of
from webapp.vr.views import SCENES, hash_token, scene_spec

bp = Blueprint("vr_api", __name__, url_prefix="/api/vr/v1")
csrf.exempt(bp)

MAX_BODY_BYTES = 4 * 1024 * 1024          # a check-in photo in base64 and some slack
MAX_IMAGE_BYTES = 2 * 1024 * 1024         # the decoded JPEG
JPEG_MAGIC = b"\xff\xd8\xff"
AMBIGUITY_MARGIN = 0.03                   # two supervisees this close to the face: no match
MAX_AGE_S = 7 * 86400                     # sessions older than this are refused
FUTURE_SLACK_S = vr_credit.FUTURE_SLACK_S   # station clocks may run this far ahead
MAX_SESSION_S = 86400.0
CLIENT_ID = re.compile(r"^[0-9a-f]{32}$")
TEXT_KEY = re.compile(r"^[\w.:-]{1,64}$")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def bad_field(field: str, message: str | None = None) -> ApiError:
    return ApiError(400, "bad_field", message or _("The field %(field)s is missing or not valid.", field=field),
                    field=field)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return json_error(exc.status, exc.code, exc.message, **exc.extra)


@bp.before_request
def _limit_body():
    request.max_content_length = MAX_BODY_BYTES


def _token() -> str:
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _rate_key() -> str:
    token = _token()
    return "vr:" + (hash_token(token)[:24] if token else (request.remote_addr or ""))


def station_required(view):
    """The view runs with g.vr_station, an unrevoked station; every such call updates its last contact."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        token = _token()
        station = None
        if token and len(token) <= 200:
            station = db.session().scalar(select(VrStation).where(VrStation.token_hash == hash_token(token)))
        if station is None or station.revoked_at is not None:
            return json_error(401, "unauthorized", _("The station token is missing, unknown or revoked."))
        station.last_contact_at = utcnow()
        db.session().commit()
        g.vr_station = station
        return view(*args, **kwargs)
    # Not a user route: tests/integration/test_access_matrix.py checks that no role gets in
    # with a login alone (a station token is the only credential).
    wrapper.access_roles = frozenset()
    wrapper.station_token = True
    return wrapper


def _station() -> VrStation:
    return g.vr_station


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_field("body", _("The request body must be a JSON object."))
    return body


# --- field validation -------------------------------------------------------------------------

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _int_field(body: dict, field: str, minimum: int = 1, maximum: int = 2**31 - 1) -> int:
    value = body.get(field)
    if not _is_int(value) or not minimum <= value <= maximum:
        raise bad_field(field)
    return value


def _text(value, field: str, max_len: int, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > max_len or (not allow_empty and not value.strip()):
        raise bad_field(field)
    return value


def _key(value, field: str) -> str:
    if not isinstance(value, str) or not TEXT_KEY.match(value):
        raise bad_field(field)
    return value


def _stages(value, scene: str) -> list[dict]:
    known = set(SCENES[scene]["stages"])
    if not isinstance(value, list) or not 1 <= len(value) <= 30:
        raise bad_field("stages")
    out, seen = [], set()
    for item in value:
        if not isinstance(item, dict):
            raise bad_field("stages")
        key = item.get("id")
        if not isinstance(key, str) or key not in known or key in seen:
            raise bad_field("stages", _("Unknown or repeated stage in stages."))
        seen.add(key)
        started, ended = item.get("started_at"), item.get("ended_at")
        if not (_is_number(started) and _is_number(ended) and 0 <= started <= ended):
            raise bad_field("stages")
        if not isinstance(item.get("completed"), bool):
            raise bad_field("stages")
        out.append({"id": key, "title": _text(item.get("title", ""), "stages", 100, allow_empty=True),
                    "started_at": float(started), "ended_at": float(ended), "completed": item["completed"]})
    return out


def _attention(value) -> dict:
    if not isinstance(value, dict) or len(value) > 50:
        raise bad_field("attention")
    out = {}
    for key, share in value.items():
        _key(key, "attention")
        if not _is_number(share) or not 0 <= share <= 1:
            raise bad_field("attention")
        out[key] = float(share)
    return out


def _reactions(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or not set(value) <= {"sober", "drunk"}:
        raise bad_field("reaction_times")
    out = {}
    for lap, times in value.items():
        if not isinstance(times, list) or len(times) > 50 or \
                not all(_is_number(t) and 0 <= t <= 60 for t in times):
            raise bad_field("reaction_times")
        out[lap] = [float(t) for t in times]
    return out


def _choices(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 20:
        raise bad_field("choices")
    return {_key(k, "choices"): _text(v, "choices", 200, allow_empty=True) for k, v in value.items()}


def _quiz(value) -> dict:
    if not isinstance(value, dict):
        raise bad_field("quiz")
    questions, correct, answers = value.get("questions"), value.get("correct"), value.get("answers", [])
    if not _is_int(questions) or not 0 <= questions <= 50:
        raise bad_field("quiz")
    if not _is_int(correct) or not 0 <= correct <= questions:
        raise bad_field("quiz")
    if not isinstance(answers, list) or len(answers) > questions:
        raise bad_field("quiz")
    out = []
    for a in answers:
        if not isinstance(a, dict) or not isinstance(a.get("correct"), bool):
            raise bad_field("quiz")
        out.append({"id": _key(a.get("id"), "quiz"), "answer": _text(a.get("answer"), "quiz", 500, allow_empty=True),
                    "correct": a["correct"]})
    if out and len(out) == questions and sum(a["correct"] for a in out) != correct:
        raise bad_field("quiz", _("The quiz's correct count does not match its answers."))
    return {"questions": questions, "correct": correct, "answers": out}


# --- lookups in the station's jurisdiction ----------------------------------------------------

def _learner_or_404(learner_id: int) -> User:
    learner = db.session().scalar(
        select(User).join(OrgUnit, OrgUnit.id == User.unit_id)
        .where(User.id == learner_id, User.role == Role.SUPERVISEE, jurisdiction.unit_within(_station().unit)))
    if learner is None:
        raise ApiError(404, "not_found", _("No such supervisee in this station's unit."), field="learner_id")
    return learner


def _assignment_or_404(assignment_id: int) -> VrAssignment:
    assignment = db.session().scalar(
        select(VrAssignment).join(User, User.id == VrAssignment.learner_id).join(OrgUnit, OrgUnit.id == User.unit_id)
        .where(VrAssignment.id == assignment_id, jurisdiction.unit_within(_station().unit)))
    if assignment is None:
        raise ApiError(404, "not_found", _("No such VR assignment in this station's unit."), field="assignment_id")
    return assignment


def _pending_of(learner_id: int) -> list[VrAssignment]:
    return db.session().scalars(select(VrAssignment).where(
        VrAssignment.learner_id == learner_id, VrAssignment.status == VrAssignmentStatus.PENDING)
        .order_by(VrAssignment.assigned_at)).all()


def _checkin_body(learner: User, distance: float | None) -> dict:
    return {"learner_id": learner.id, "name": learner.display_name,
            "distance": None if distance is None else round(distance, 4),
            "assignments": [{"id": a.id, "scene": a.scene} for a in _pending_of(learner.id)]}


# --- routes -----------------------------------------------------------------------------------

@bp.route("/ping")
@station_required
def ping():
    station = _station()
    return jsonify({"station": {"id": station.id, "name": station.name, "unit": station.unit.name},
                    "scenes": list(SCENES), "server_time": time.time()})


@bp.route("/assignments")
@station_required
def assignments():
    rows = db.session().execute(
        select(VrAssignment, User).join(User, User.id == VrAssignment.learner_id)
        .join(OrgUnit, OrgUnit.id == User.unit_id)
        .where(VrAssignment.status == VrAssignmentStatus.PENDING, User.active.is_(True),
               jurisdiction.unit_within(_station().unit))
        .order_by(VrAssignment.assigned_at).limit(500)).all()
    return jsonify({"assignments": [
        {"id": a.id, "learner_id": u.id, "learner_name": u.display_name, "scene": a.scene,
         "assigned_at": a.assigned_at.replace(tzinfo=timezone.utc).timestamp()} for a, u in rows]})


@bp.route("/checkin", methods=["POST"])
@limiter.limit(lambda: current_app.config["VR_CHECKIN_RATE_LIMIT"], key_func=_rate_key)
@station_required
def checkin():
    body = _body()
    method = body.get("method")
    if method == "assignment":
        assignment = _assignment_or_404(_int_field(body, "assignment_id"))
        if assignment.status != VrAssignmentStatus.PENDING:
            raise ApiError(409, "conflict", _("This VR assignment is no longer pending."), field="assignment_id")
        learner = db.session().get(User, assignment.learner_id)
        _record_checkin(learner, "assignment", assignment_id=assignment.id)
        audit("vr_checkin", target=f"user:{learner.id}",
              detail=f"station:{_station().id} method:assignment vr_assignment:{assignment.id}")
        return jsonify(_checkin_body(learner, None))
    if method != "face":
        raise bad_field("method")
    return jsonify(_face_checkin(body.get("image_jpeg_b64")))


def _decode_image(value) -> "object":
    from webapp.proctor import PhotoError, decode_photo

    if not isinstance(value, str) or not value:
        raise bad_field("image_jpeg_b64")
    if len(value) > (MAX_IMAGE_BYTES * 4) // 3 + 8:
        raise ApiError(400, "bad_image", _("The image may be at most 2 MB."))
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_image", _("The image is not valid base64."))
    if len(data) > MAX_IMAGE_BYTES:
        raise ApiError(400, "bad_image", _("The image may be at most 2 MB."))
    if not data.startswith(JPEG_MAGIC):
        raise ApiError(400, "bad_image", _("The image must be a JPEG."))
    try:
        return decode_photo(data)
    except PhotoError as exc:
        raise ApiError(400, "bad_image", str(exc))


def _references() -> dict[int, list]:
    from webapp.core.face_crypto import InvalidToken, decrypt_embedding

    rows = db.session().execute(
        select(FaceEnrolment.user_id, FaceEnrolment.embedding_enc).join(User, User.id == FaceEnrolment.user_id)
        .join(OrgUnit, OrgUnit.id == User.unit_id)
        .where(FaceEnrolment.active.is_(True), User.active.is_(True), User.role == Role.SUPERVISEE,
               jurisdiction.unit_within(_station().unit))).all()
    refs: dict[int, list] = {}
    for user_id, token in rows:
        try:
            refs.setdefault(user_id, []).append(decrypt_embedding(token))
        except InvalidToken:
            current_app.logger.warning("face enrolment of user %s cannot be decrypted", user_id)
    return refs


def _record_checkin(learner: User, method: str, assignment_id: int | None = None,
                    distance: float | None = None) -> None:
    db.session().add(VrCheckIn(station_id=_station().id, learner_id=learner.id, method=method,
                               assignment_id=assignment_id, distance=distance, at=time.time()))


def _refuse_checkin(reason: str, distance: float | None = None) -> None:
    detail = f"station:{_station().id} method:face result:{reason}"
    if distance is not None:
        detail += f" distance:{distance:.4f}"
    audit("vr_checkin_refused", target=f"vr_station:{_station().id}", detail=detail)


def _face_checkin(image_b64) -> dict:
    from proctoring.vision import IDENTITY_THRESHOLD, compare, thread_analyzer

    try:
        rgb = _decode_image(image_b64)
    except ApiError as exc:
        if exc.code == "bad_image":
            _refuse_checkin("bad_image")
        raise
    analyzer = thread_analyzer()
    detections = analyzer.detector.detect(rgb)
    if len(detections) != 1:
        _refuse_checkin("no_face" if not detections else "several_faces")
        raise ApiError(400, "bad_image", _("Exactly one face must be in the picture."), faces=len(detections))
    refs = _references()
    if not refs:
        _refuse_checkin("no_enrolments")
        raise ApiError(422, "no_match", _("No enrolled supervisee of this station's unit matches the face."))
    threshold = current_app.config["IDENTITY_THRESHOLD"] or IDENTITY_THRESHOLD
    embedding = analyzer.embed(rgb, detections[0].box)
    verdicts = sorted(((compare(embedding, r, threshold), uid) for uid, r in refs.items()),
                      key=lambda item: item[0].distance)
    best, best_id = verdicts[0]
    ambiguous = len(verdicts) > 1 and verdicts[1][0].passed and \
        verdicts[1][0].distance - best.distance < AMBIGUITY_MARGIN
    if not best.passed or ambiguous:
        _refuse_checkin("ambiguous" if best.passed else "no_match", best.distance)
        raise ApiError(422, "no_match", _("No enrolled supervisee of this station's unit matches the face."))
    learner = db.session().get(User, best_id)
    _record_checkin(learner, "face", distance=best.distance)
    audit("vr_checkin", target=f"user:{learner.id}",
          detail=f"station:{_station().id} method:face distance:{best.distance:.4f} threshold:{threshold:.3f}")
    return _checkin_body(learner, best.distance)


def _session_body(row: VrSession) -> dict:
    return {"session_id": row.id, "credited_s": round(row.credited_s, 3), "month": row.month}


def _existing(client_id: str):
    row = db.session().scalar(select(VrSession).where(VrSession.client_session_id == client_id))
    if row is None:
        return None
    if row.station_id != _station().id:
        raise ApiError(409, "conflict", _("This session id was already posted by another station."),
                       field="client_session_id")
    return jsonify(_session_body(row)), 200


@bp.route("/sessions", methods=["POST"])
@station_required
def post_session():
    body = _body()
    client_id = body.get("client_session_id")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise bad_field("client_session_id")
    repeat = _existing(client_id)
    if repeat is not None:
        return repeat
    learner = _learner_or_404(_int_field(body, "learner_id"))
    scene = body.get("scene")
    if not isinstance(scene, str) or scene not in SCENES:
        raise bad_field("scene")
    checkin_method = body.get("checkin")
    if checkin_method not in ("face", "assignment"):
        raise bad_field("checkin")
    assignment_id = body.get("assignment_id")
    if assignment_id is not None and (not _is_int(assignment_id) or assignment_id < 1):
        raise bad_field("assignment_id")
    if checkin_method == "assignment" and assignment_id is None:
        raise bad_field("assignment_id")
    now = time.time()
    started, ended = body.get("started_at"), body.get("ended_at")
    if not _is_number(started) or started < now - MAX_AGE_S - MAX_SESSION_S or started > now + FUTURE_SLACK_S:
        raise bad_field("started_at")
    if not _is_number(ended) or ended <= started or ended - started > MAX_SESSION_S:
        raise bad_field("ended_at")
    if ended < now - MAX_AGE_S or ended > now + FUTURE_SLACK_S:
        raise bad_field("ended_at", _("The session is more than 7 days old or in the future."))
    stages = _stages(body.get("stages"), scene)
    attention = _attention(body.get("attention"))
    reactions = _reactions(body.get("reaction_times"))
    choices = _choices(body.get("choices"))
    quiz = _quiz(body.get("quiz"))
    assignment = None
    if assignment_id is not None:
        assignment = _assignment_or_404(assignment_id)
        if assignment.learner_id != learner.id:
            raise ApiError(404, "not_found", _("No such VR assignment in this station's unit."),
                           field="assignment_id")
        if assignment.scene != scene:
            raise bad_field("scene", _("The scene is not the assigned one."))
        # A session queued offline may arrive after an officer cancelled its assignment (or after
        # another session completed it): the learner did the scene, so it is stored and credited on
        # its own merits (the overlap rule below prevents double credit), the assignment untouched.
        still_pending = assignment.status == VrAssignmentStatus.PENDING

    session = db.session()
    station = _station()
    claim = vr_credit.Claim(station_id=station.id, checkin=checkin_method, started=float(started),
                            ended=float(ended), stages_reached=frozenset(s["id"] for s in stages),
                            quiz_questions=quiz["questions"], quiz_answers=len(quiz["answers"]))
    checkins = [vr_credit.CheckIn(station_id=c.station_id, method=c.method, at=c.at)
                for c in session.scalars(select(VrCheckIn).where(
                    VrCheckIn.learner_id == learner.id,
                    VrCheckIn.at >= claim.started - vr_credit.CHECKIN_LOOKBACK_S,
                    VrCheckIn.at <= claim.ended + vr_credit.FUTURE_SLACK_S))]
    credited_before = session.execute(select(VrSession.started_at, VrSession.ended_at).where(
        VrSession.learner_id == learner.id, VrSession.credited_s > 0,
        VrSession.started_at < claim.ended, VrSession.ended_at > claim.started)).all()
    verdict = vr_credit.decide(scene_spec(scene), claim, checkins, [tuple(r) for r in credited_before])
    credited, reason, verified = verdict.credited_s, verdict.reason, verdict.verified
    month = month_of(ended)
    row = VrSession(station_id=station.id, learner_id=learner.id, assignment_id=assignment.id if assignment else None,
                    scene=scene, client_session_id=client_id, checkin=checkin_method, checkin_verified=verified,
                    started_at=float(started), ended_at=float(ended),
                    stages_json=json.dumps(stages, ensure_ascii=False),
                    attention_json=json.dumps(attention, ensure_ascii=False),
                    reactions_json=json.dumps(reactions), choices_json=json.dumps(choices, ensure_ascii=False),
                    quiz_json=json.dumps(quiz, ensure_ascii=False), quiz_questions=quiz["questions"],
                    quiz_correct=quiz["correct"], credited_s=credited, credit_reason=reason, month=month)
    session.add(row)
    if assignment is not None and still_pending:
        assignment.status = VrAssignmentStatus.DONE
        assignment.done_at = utcnow()
    try:
        session.flush()
        if credited > 0:
            session.add(CreditEntry(learner_id=learner.id, course_id=None, session_id=client_id, kind="vr",
                                    media_start=0.0, media_end=credited, wall_start=float(started),
                                    wall_end=float(ended), unique_s=credited, credited_s=credited,
                                    presence_source=f"vr_{checkin_method}", month=month))
        audit("vr_session_posted", target=f"user:{learner.id}",
              detail=f"station:{station.id} vr_session:{row.id} scene:{scene} credited_s:{credited:.1f}")
    except IntegrityError:
        # The same client_session_id posted twice at once: the first one won.
        session.rollback()
        repeat = _existing(client_id)
        if repeat is None:
            raise
        return repeat
    return jsonify(_session_body(row)), 201
