"""The VR stations' API (/api/vr/v1), the contract of docs/vr_station_api.md.

A station authenticates with `Authorization: Bearer <token>` (the token shown once when an officer
registered it; only its SHA-256 is stored). No cookies and no CSRF: the blueprint is CSRF-exempt,
the token is the credential. Every error is JSON {"error": code, "message": Chinese text}.
A station sees only supervisees of its own unit's subtree.

A face check-in is two calls: `POST /checkin/challenge` draws a liveness challenge (random actions
of proctoring.liveness, a nonce, a schedule and an expiry); the station films the learner following
the prompts and posts the burst (`POST /checkin`, method "face", the nonce, the frames with their
capture offsets). The portal identifies the face 1:N on the first frame, checks the challenge on
every frame with the face landmarker (proctoring.vision -> proctoring.liveness.verify) and the
identity again on the last frame, then writes a vr_checkin row with the liveness result. Only a
check-in whose liveness passed, or an officer's on-site confirmation (webapp/vr/views.py), verifies
a session; an unverified session is stored and shown, credited 0 s (streaming.vr_credit).
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
import time
from datetime import timezone
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from proctoring.liveness import Action, LivenessPolicy, PoseSample, draw_challenge, draw_leads, verify
from streaming import vr_attitude, vr_credit

from webapp.compliance import add_credit
from webapp.core import db, jurisdiction
from webapp.core.access import json_error
from webapp.core.inputs import bounded_int, finite_number
from webapp.core.audit import audit
from webapp.extensions import csrf, limiter
from webapp.models import (CreditEntry, FaceEnrolment, OrgUnit, Role, User, VrAssignment, VrAssignmentStatus,
                           VrChallenge, VrCheckIn, VrSession, VrStation, utcnow)
from webapp.study import month_of
from webapp.vr.views import SCENES, hash_token, scene_spec

bp = Blueprint("vr_api", __name__, url_prefix="/api/vr/v1")
csrf.exempt(bp)

MAX_BODY_BYTES = 9 * 1024 * 1024          # a check-in burst in base64 and some slack
MAX_FRAMES = 64                           # frames of one check-in burst
MAX_FRAME_BYTES = 512 * 1024              # one decoded JPEG frame
MAX_BURST_BYTES = 6 * 1024 * 1024         # all decoded frames of a burst together
JPEG_MAGIC = b"\xff\xd8\xff"
AMBIGUITY_MARGIN = 0.03                   # two supervisees this close to the face: no match
FUTURE_SLACK_S = vr_credit.FUTURE_SLACK_S   # station clocks may run this far ahead
MAX_SESSION_S = 86400.0
CHALLENGE_LEAD_S = 1.5                    # looking at the camera before the first prompt
CHALLENGE_TAIL_S = 1.5                    # ... and after the last window (the last frame is compared too)
OFFSET_SLACK_S = 2.0                      # frames may run this far past the challenge's duration
CLIENT_ID = re.compile(r"^[0-9a-f]{32}$")
TEXT_KEY = re.compile(r"^[\w.:-]{1,64}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# Session payload versions (the body's "api_version"; none: 1). Version 2 (issue 15) adds how the
# session ended ("outcome", "progress") and the attitude questionnaire; a station's outbox may still
# hold version-1 posts made before its update, and they are taken and credited as before.
SESSION_VERSIONS = (1, 2)


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
    return finite_number(value) is not None   # a 400-digit integer is not one (no OverflowError)


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


HALVES = {"before": _l("before the scene"), "after": _l("after the scene")}


def _questionnaire(value, scene: str, outcome: str) -> vr_attitude.Answers:
    """Version 2: the attitude questionnaire's raw answers, checked and scored by streaming.vr_attitude."""
    try:
        return vr_attitude.validate(scene, value, after_required=outcome == vr_credit.COMPLETED)
    except vr_attitude.Invalid as exc:
        half, item = str(HALVES.get(exc.half, "")), exc.item or ""
        messages = {
            "missing_half": _("The questionnaire's half %(half)s is missing: the half before the scene is always "
                              "needed, the half after it when the scene was completed.", half=half),
            "unknown_item": _("Unknown questionnaire item %(item)s for this scene (%(half)s).", item=item, half=half),
            "missing_item": _("Questionnaire item %(item)s is not answered (%(half)s).", item=item, half=half),
            "out_of_range": _("The answer to questionnaire item %(item)s (%(half)s) must be a whole number from 1 "
                              "to 5.", item=item, half=half),
        }
        message = messages.get(exc.reason, _("The questionnaire must be an object with the answers before and "
                                             "after the scene."))
        extra = {k: v for k, v in (("half", exc.half), ("item", exc.item)) if v}
        raise ApiError(400, "bad_field", message, field="questionnaire", reason=exc.reason, **extra) from None


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


def _checkin_body(learner: User, distance: float | None, verified: bool) -> dict:
    return {"learner_id": learner.id, "name": learner.display_name,
            "distance": None if distance is None else round(distance, 4), "verified": verified,
            "assignments": [{"id": a.id, "scene": a.scene} for a in _pending_of(learner.id)]}


def _rules() -> vr_credit.Rules:
    cfg = current_app.config
    return vr_credit.Rules(checkin_window_s=cfg["VR_CHECKIN_WINDOW_S"], clock_slack_s=FUTURE_SLACK_S,
                           daily_cap_s=cfg["VR_DAILY_CAP_S"], max_age_s=cfg["VR_MAX_AGE_S"])


def _verified_now(learner_id: int, now: float) -> bool:
    """Whether a session of the learner at this station starting now would be verified
    (streaming.vr_credit): an officer's on-site confirmation, or a face check-in with liveness."""
    rules = _rules()
    rows = db.session().scalars(select(VrCheckIn).where(
        VrCheckIn.learner_id == learner_id, VrCheckIn.station_id == _station().id,
        VrCheckIn.at >= now - rules.checkin_window_s, VrCheckIn.at <= now + rules.clock_slack_s))
    claim = vr_credit.Claim(station_id=_station().id, checkin=vr_credit.ASSIGNMENT, started=now, ended=now,
                            stages_reached=frozenset(), quiz_questions=0, quiz_answers=0)
    return vr_credit.is_verified(claim, [vr_credit.CheckIn(station_id=c.station_id, method=c.method, at=c.at,
                                                           liveness=bool(c.liveness)) for c in rows], rules)


# --- routes -----------------------------------------------------------------------------------

@bp.route("/ping")
@station_required
def ping():
    station = _station()
    return jsonify({"station": {"id": station.id, "name": station.name, "unit": station.unit.name},
                    "scenes": list(SCENES), "session_versions": list(SESSION_VERSIONS),
                    "server_time": time.time()})


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


# What the station shows while it films the burst (Chinese in the catalogue). "Left" is the
# learner's own left (proctoring.vision's sign convention).
PROMPTS = {
    "blink": _l("Blink slowly once, then look at the camera again."),
    "turn_left": _l("Turn your head slowly to your left, then back to the camera."),
    "turn_right": _l("Turn your head slowly to your right, then back to the camera."),
    "look_up": _l("Look up slowly, then back at the camera."),
    "look_down": _l("Look down slowly, then back at the camera."),
    "open_mouth": _l("Open your mouth wide once, then close it and look at the camera."),
}
START_PROMPT = _l("Face check-in: look straight into the camera and hold still.")
END_PROMPT = _l("Look straight into the camera again and hold still.")


def _liveness_policy() -> LivenessPolicy:
    from webapp.proctor import liveness_actions

    cfg = current_app.config
    return LivenessPolicy(window_s=cfg["LIVENESS_WINDOW_S"], actions=liveness_actions(cfg["LIVENESS_ACTIONS"]))


def _challenge_actions(challenge: VrChallenge) -> tuple[Action, ...]:
    return tuple(Action(a) for a in challenge.actions.split(","))


def _challenge_shown_at(challenge: VrChallenge) -> tuple[float, ...]:
    return tuple(float(t) for t in challenge.shown_at.split(","))


def _challenge_fps(challenge: VrChallenge) -> float:
    """VR_CHALLENGE_FPS, lowered if needed so that the whole burst fits in MAX_FRAMES frames."""
    fits = (MAX_FRAMES - 1) / challenge.duration_s
    return math.floor(min(float(current_app.config["VR_CHALLENGE_FPS"]), fits) * 100) / 100


def _challenge_body(challenge: VrChallenge) -> dict:
    actions, shown_at = _challenge_actions(challenge), _challenge_shown_at(challenge)
    return {
        "nonce": challenge.nonce,
        "actions": [a.value for a in actions],
        "steps": [{"action": a.value, "prompt": str(PROMPTS.get(a.value, a.value)), "at_s": round(at, 3)}
                  for a, at in zip(actions, shown_at, strict=True)],
        "start_prompt": str(START_PROMPT),
        "end_prompt": str(END_PROMPT),
        "end_at_s": round(shown_at[-1] + challenge.window_s, 3),
        "window_s": challenge.window_s,
        "duration_s": challenge.duration_s,
        "fps": _challenge_fps(challenge),
        "max_frames": MAX_FRAMES,
        "max_frame_bytes": MAX_FRAME_BYTES,
        "max_total_bytes": MAX_BURST_BYTES,
        "expires_at": challenge.expires_at,
        "expires_in_s": round(challenge.expires_at - challenge.issued_at, 3),
    }


@bp.route("/checkin/challenge", methods=["POST"])
@limiter.limit(lambda: current_app.config["VR_CHECKIN_RATE_LIMIT"], key_func=_rate_key)
@station_required
def checkin_challenge():
    """A liveness challenge for the next face check-in at this station: up to two actions of distinct
    signals drawn from LIVENESS_ACTIONS (proctoring.liveness.draw_challenge, keyed by a fresh random
    nonce), each shown at `at_s` seconds into the burst and to be done within `window_s`."""
    cfg = current_app.config
    policy = _liveness_policy()
    now = time.time()
    nonce = secrets.token_urlsafe(24)
    secret = cfg["SECRET_KEY"].encode()
    actions = draw_challenge(secret, nonce, 0, length=2, pool=policy.actions)
    # each window opens after the previous one, a drawn extra delay first (draw_leads): the timing
    # is not predictable either
    shown_at, at = [], CHALLENGE_LEAD_S
    for lead in draw_leads(secret, nonce, 0, len(actions), policy):
        at += lead
        shown_at.append(round(at, 3))
        at += policy.window_s
    session = db.session()
    session.execute(delete(VrChallenge).where(VrChallenge.expires_at < now - 86400))   # old ones, any station
    challenge = VrChallenge(station_id=_station().id, nonce=nonce, actions=",".join(a.value for a in actions),
                            shown_at=",".join(f"{t:.3f}" for t in shown_at), window_s=policy.window_s,
                            duration_s=round(at + CHALLENGE_TAIL_S, 3), issued_at=now,
                            expires_at=now + cfg["VR_CHALLENGE_TTL_S"])
    session.add(challenge)
    session.commit()
    return jsonify(_challenge_body(challenge))


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
        _record_checkin(learner, vr_credit.ASSIGNMENT, assignment_id=assignment.id)
        audit("vr_checkin", target=f"user:{learner.id}",
              detail=f"station:{_station().id} method:assignment vr_assignment:{assignment.id}")
        # An assignment only names the learner: the session is verified by an officer's on-site
        # confirmation (or a face check-in with liveness); the station is told whether there is one.
        return jsonify(_checkin_body(learner, None, _verified_now(learner.id, time.time())))
    if method != "face":
        raise bad_field("method")
    return jsonify(_face_checkin(body))


def _frame_error(index: int, message: str | None = None) -> ApiError:
    return ApiError(400, "bad_field", message or _("The field %(field)s is missing or not valid.", field="frames"),
                    field="frames", frame=index)


def _frames_field(value) -> list[tuple[float, str]]:
    """[(offset_s, base64 JPEG)] as posted: 1..MAX_FRAMES frames, offsets finite, >= 0 and increasing,
    each frame and all together within their sizes (checked again once decoded)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_FRAMES:
        raise bad_field("frames", _("frames must be a list of 1 to %(n)s frames.", n=MAX_FRAMES))
    out, last, total = [], -1.0, 0
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _frame_error(i)
        offset, image = item.get("offset_s"), item.get("image_jpeg_b64")
        if not _is_number(offset) or offset < 0 or offset <= last:
            raise _frame_error(i, _("Each frame needs an offset_s of at least 0 seconds, increasing from frame "
                                    "to frame."))
        if not isinstance(image, str) or not image:
            raise _frame_error(i)
        if len(image) > (MAX_FRAME_BYTES * 4) // 3 + 8:
            raise ApiError(400, "bad_image", _("A frame may be at most %(kb)s KB.", kb=MAX_FRAME_BYTES // 1024),
                           frame=i)
        total += len(image)
        last = float(offset)
        out.append((float(offset), image))
    if total > (MAX_BURST_BYTES * 4) // 3 + 8:
        raise ApiError(400, "bad_image", _("The frames may be at most %(mb)s MB together.",
                                           mb=MAX_BURST_BYTES // (1024 * 1024)))
    return out


def _decode_frame(value: str, index: int):
    from webapp.proctor import PhotoError, decode_photo

    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_image", _("The image is not valid base64."), frame=index)
    if len(data) > MAX_FRAME_BYTES:
        raise ApiError(400, "bad_image", _("A frame may be at most %(kb)s KB.", kb=MAX_FRAME_BYTES // 1024),
                       frame=index)
    if not data.startswith(JPEG_MAGIC):
        raise ApiError(400, "bad_image", _("The image must be a JPEG."), frame=index)
    try:
        return decode_photo(data)
    except PhotoError as exc:
        raise ApiError(400, "bad_image", str(exc), frame=index)


def _take_challenge(nonce: str) -> VrChallenge:
    """This station's challenge of that nonce, marked used now (once only, before it expires)."""
    session, station, now = db.session(), _station(), time.time()
    taken = session.execute(
        update(VrChallenge).where(VrChallenge.nonce == nonce, VrChallenge.station_id == station.id,
                                  VrChallenge.used_at.is_(None), VrChallenge.expires_at >= now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    session.commit()
    challenge = session.scalar(select(VrChallenge).where(VrChallenge.nonce == nonce))
    if taken == 1:
        return challenge
    if challenge is None or challenge.station_id != station.id:
        reason, message = "unknown", _("No such liveness challenge for this station: ask for a new one.")
    elif challenge.used_at is not None:
        reason, message = "used", _("This liveness challenge was already answered: ask for a new one.")
    else:
        reason, message = "expired", _("This liveness challenge has expired: ask for a new one.")
    _refuse_checkin(f"challenge_{reason}")
    raise ApiError(409, "challenge_invalid", message, field="nonce", reason=reason)


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


def _record_checkin(learner: User, method: str, assignment_id: int | None = None, distance: float | None = None,
                    liveness: bool | None = None) -> VrCheckIn:
    row = VrCheckIn(station_id=_station().id, learner_id=learner.id, method=method, assignment_id=assignment_id,
                    distance=distance, liveness=liveness, at=time.time())
    db.session().add(row)
    return row


def _refuse_checkin(reason: str, distance: float | None = None, extra: str = "") -> None:
    detail = f"station:{_station().id} method:face result:{reason}"
    if distance is not None:
        detail += f" distance:{distance:.4f}"
    audit("vr_checkin_refused", target=f"vr_station:{_station().id}", detail=detail + extra)


def _identify(analyzer, rgb, threshold: float) -> tuple[User, float, list]:
    """1:N among the enrolled supervisees of the station's unit subtree: (learner, distance, their
    references); refused (audit row, ApiError) unless exactly one face clearly matches one person."""
    from proctoring.vision import compare

    detections = analyzer.detector.detect(rgb)
    if len(detections) != 1:
        _refuse_checkin("no_face" if not detections else "several_faces")
        raise ApiError(400, "bad_image", _("Exactly one face must be in the picture."), faces=len(detections),
                       frame=0)
    refs = _references()
    if not refs:
        _refuse_checkin("no_enrolments")
        raise ApiError(422, "no_match", _("No enrolled supervisee of this station's unit matches the face."))
    embedding = analyzer.embed(rgb, detections[0].box)
    verdicts = sorted(((compare(embedding, r, threshold), uid) for uid, r in refs.items()),
                      key=lambda item: item[0].distance)
    best, best_id = verdicts[0]
    ambiguous = len(verdicts) > 1 and verdicts[1][0].passed and \
        verdicts[1][0].distance - best.distance < AMBIGUITY_MARGIN
    if not best.passed or ambiguous:
        _refuse_checkin("ambiguous" if best.passed else "no_match", best.distance)
        raise ApiError(422, "no_match", _("No enrolled supervisee of this station's unit matches the face."))
    return db.session().get(User, best_id), best.distance, refs[best_id]


def _same_person(analyzer, rgb, references: list, threshold: float) -> bool:
    from proctoring.vision import compare

    detections = analyzer.detector.detect(rgb)
    if len(detections) != 1:
        return False
    return compare(analyzer.embed(rgb, detections[0].box), references, threshold).passed


def _face_checkin(body: dict) -> dict:
    """The burst of a liveness challenge: identity 1:N on the first frame, the challenge's actions
    checked on the head pose and eye openness of every frame (one face: one sample), the identity
    again (1:1) on the last frame; a vr_checkin row with the liveness result either way."""
    from proctoring.vision import IDENTITY_THRESHOLD, thread_analyzer

    nonce = body.get("nonce")
    if not isinstance(nonce, str) or not NONCE.match(nonce):
        raise bad_field("nonce", _("A face check-in needs the nonce of a liveness challenge "
                                   "(POST /api/vr/v1/checkin/challenge) and the frames filmed for it."))
    frames = _frames_field(body.get("frames"))
    challenge = _take_challenge(nonce)
    if frames[-1][0] > challenge.duration_s + OFFSET_SLACK_S:
        raise _frame_error(len(frames) - 1, _("A frame's offset_s is beyond the challenge's duration."))
    threshold = current_app.config["IDENTITY_THRESHOLD"] or IDENTITY_THRESHOLD
    analyzer = thread_analyzer()
    try:
        first = _decode_frame(frames[0][1], 0)
        learner, distance, references = _identify(analyzer, first, threshold)
        samples, last = [], first
        for index, (offset, image) in enumerate(frames):
            rgb = first if index == 0 else _decode_frame(image, index)
            faces = analyzer.landmarks.analyse(rgb)
            if len(faces) == 1:           # no face, or a second one: not a sample of the learner
                samples.append(PoseSample(offset, faces[0].eye_openness, faces[0].yaw_deg, faces[0].pitch_deg,
                                          faces[0].mouth_open))
            last = rgb
    except ApiError as exc:
        if exc.code == "bad_image" and "faces" not in exc.extra:
            _refuse_checkin("bad_image")
        raise
    result = verify(_challenge_actions(challenge), _challenge_shown_at(challenge), samples,
                    LivenessPolicy(window_s=challenge.window_s))
    reason = result.reason
    passed = result.passed
    if passed and not (len(frames) > 1 and _same_person(analyzer, last, references, threshold)):
        passed, reason = False, "identity_changed"
    row = _record_checkin(learner, vr_credit.FACE, distance=distance, liveness=passed)
    steps = [{"action": s.action.value, "passed": s.passed, "reason": s.reason} for s in result.steps]
    if not passed:
        _refuse_checkin("liveness_failed", distance,
                        f" user:{learner.id} liveness:{reason} frames:{len(frames)} samples:{len(samples)}")
        raise ApiError(422, "liveness_failed",
                       _("The liveness check failed: follow the prompts on the screen and try again."),
                       reason=reason, steps=steps, samples=len(samples))
    audit("vr_checkin", target=f"user:{learner.id}",
          detail=f"station:{_station().id} method:face distance:{distance:.4f} threshold:{threshold:.3f} "
                 f"liveness:passed frames:{len(frames)} samples:{len(samples)} vr_checkin:{row.id}")
    return {**_checkin_body(learner, distance, True), "checkin_id": row.id,
            "liveness": {"passed": True, "steps": steps, "samples": len(samples)}}


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
    version = body.get("api_version", 1)
    if not _is_int(version) or version not in SESSION_VERSIONS:
        raise bad_field("api_version", _("Unknown session payload version (api_version): this portal takes "
                                         "%(versions)s.", versions=", ".join(map(str, SESSION_VERSIONS))))
    learner = _learner_or_404(_int_field(body, "learner_id"))
    scene = body.get("scene")
    if not isinstance(scene, str) or scene not in SCENES:
        raise bad_field("scene")
    checkin_method = body.get("checkin")
    if checkin_method not in ("face", "assignment"):
        raise bad_field("checkin")
    assignment_id = body.get("assignment_id")
    if assignment_id is not None and bounded_int(assignment_id) is None:
        raise bad_field("assignment_id")
    if checkin_method == "assignment" and assignment_id is None:
        raise bad_field("assignment_id")
    now = time.time()
    rules = _rules()
    started, ended = body.get("started_at"), body.get("ended_at")
    if not _is_number(started) or started > now + FUTURE_SLACK_S:
        raise bad_field("started_at")
    if not _is_number(ended) or ended > now + FUTURE_SLACK_S:
        raise bad_field("ended_at")
    if vr_credit.too_old(ended, now, rules):
        hours = rules.max_age_s / 3600
        raise ApiError(422, "too_old", _("The session ended more than %(hours)s hours ago: the portal no longer "
                                         "accepts it.", hours=f"{hours:g}"),
                       field="ended_at", max_age_s=rules.max_age_s)
    if ended <= started:
        raise bad_field("ended_at")
    if ended - started > MAX_SESSION_S:
        raise bad_field("started_at")
    stages = _stages(body.get("stages"), scene)
    attention = _attention(body.get("attention"))
    reactions = _reactions(body.get("reaction_times"))
    choices = _choices(body.get("choices"))
    quiz = _quiz(body.get("quiz"))
    outcome = progress = attitude = None
    if version >= 2:
        outcome = body.get("outcome")
        if outcome not in vr_credit.OUTCOMES:
            raise bad_field("outcome", _("The outcome must be completed, stopped or unfinished."))
        progress = body.get("progress")
        if not _is_number(progress) or not 0 <= progress <= 1:
            raise bad_field("progress", _("The progress must be a number from 0 to 1."))
        attitude = _questionnaire(body.get("questionnaire"), scene, outcome)
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

    station = _station()
    claim = vr_credit.Claim(station_id=station.id, checkin=checkin_method, started=float(started),
                            ended=float(ended), stages_reached=frozenset(s["id"] for s in stages),
                            quiz_questions=quiz["questions"], quiz_answers=len(quiz["answers"]),
                            outcome=outcome or vr_credit.COMPLETED)
    day_start, day_end = vr_credit.day_bounds(claim.ended, current_app.config["BABEL_DEFAULT_TIMEZONE"])
    month = month_of(ended)
    # One writer per learner from here to the commit: the overlap rule and the daily cap read what
    # the learner's other sessions were credited (a row lock on PostgreSQL; SQLite: the write lock).
    with db.write_transaction() as session:
        session.scalar(select(User.id).where(User.id == learner.id).with_for_update())
        checkins = [vr_credit.CheckIn(station_id=c.station_id, method=c.method, at=c.at, liveness=bool(c.liveness),
                                      id=c.id)
                    for c in session.scalars(select(VrCheckIn).where(
                        VrCheckIn.learner_id == learner.id,
                        VrCheckIn.at >= claim.started - rules.checkin_window_s,
                        VrCheckIn.at <= claim.ended + rules.clock_slack_s))]
        credited_before = session.execute(select(VrSession.started_at, VrSession.ended_at).where(
            VrSession.learner_id == learner.id, VrSession.credited_s > 0,
            VrSession.started_at < claim.ended, VrSession.ended_at > claim.started)).all()
        credited_today = session.scalar(select(func.coalesce(func.sum(VrSession.credited_s), 0.0)).where(
            VrSession.learner_id == learner.id, VrSession.credited_s > 0,
            VrSession.ended_at >= day_start, VrSession.ended_at < day_end))
        verdict = vr_credit.decide(scene_spec(scene), claim, checkins, [tuple(r) for r in credited_before],
                                   credited_today_s=float(credited_today or 0.0), rules=rules)
        credited, reason, verified = verdict.credited_s, verdict.reason, verdict.verified
        row = VrSession(station_id=station.id, learner_id=learner.id,
                        assignment_id=assignment.id if assignment else None, scene=scene,
                        client_session_id=client_id, checkin=checkin_method, checkin_verified=verified,
                        verified_checkin_id=verdict.checkin.id if verdict.checkin else None,
                        started_at=float(started), ended_at=float(ended),
                        stages_json=json.dumps(stages, ensure_ascii=False),
                        attention_json=json.dumps(attention, ensure_ascii=False),
                        reactions_json=json.dumps(reactions), choices_json=json.dumps(choices, ensure_ascii=False),
                        quiz_json=json.dumps(quiz, ensure_ascii=False), quiz_questions=quiz["questions"],
                        quiz_correct=quiz["correct"], credited_s=credited, credit_reason=reason, month=month,
                        api_version=version, outcome=outcome,
                        progress=None if progress is None else float(progress),
                        attitude_json=None if attitude is None else json.dumps(
                            {"before": attitude.before, "after": attitude.after}),
                        attitude_before=None if attitude is None else attitude.before_score,
                        attitude_after=None if attitude is None else attitude.after_score)
        session.add(row)
        # An unverified session leaves the assignment pending: the learner can do it again, verified;
        # so does an emergency stop.
        if assignment is not None and still_pending and verified and reason != "stopped":
            assignment.status = VrAssignmentStatus.DONE
            assignment.done_at = utcnow()
        try:
            session.flush()
            if credited > 0:
                session.add(CreditEntry(learner_id=learner.id, course_id=None, session_id=client_id, kind="vr",
                                        media_start=0.0, media_end=credited, wall_start=float(started),
                                        wall_end=float(ended), unique_s=credited, credited_s=credited,
                                        presence_source=f"vr_{verdict.checkin.method}", month=month))
                add_credit(session, learner.id, month, credited)     # the unit pages' month
            audit("vr_session_posted", target=f"user:{learner.id}",
                  detail=f"station:{station.id} vr_session:{row.id} scene:{scene} credited_s:{credited:.1f} "
                         f"reason:{reason} verified_by:"
                         f"{f'vr_checkin:{verdict.checkin.id}' if verdict.checkin else 'none'} payload:v{version}"
                         f"{f' outcome:{outcome}' if outcome else ''}")
        except IntegrityError:
            # The same client_session_id posted twice at once: the first one won.
            session.rollback()
            repeat = _existing(client_id)
            if repeat is None:
                raise
            return repeat
    return jsonify(_session_body(row)), 201
