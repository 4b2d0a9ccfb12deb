"""Officers: face enrolment of a supervisee, and the review of proctoring flags.

Enrolment keeps only encrypted 128-d embeddings (webapp.core.face_crypto), never the photo.
A flag is a failed camera check waiting for an officer's review; it is no sanction until an
officer confirms it, with a reason. Every object is loaded within the officer's jurisdiction
(404 outside), every enrolment, review and evidence view is audited.
"""
from __future__ import annotations

import io
import json
import warnings

import numpy as np
from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select, update

from webapp.core import db, jurisdiction
from webapp.core.inputs import parse_int
from webapp.core.access import STAFF, allow, json_error, user_or_404
from webapp.core.audit import audit
from webapp.core.face_crypto import decrypt_blob, encrypt_embedding
from webapp.proctor.standing import clear_standing, needs_attention, standing_of, tell_cleared
from webapp.proctor.standing_views import standing_context
from webapp.proctor.story import check_rows, local_time, repeat_rows
from webapp.models import (Course, Evidence, FaceEnrolment, FlagStatus, ProctorCheck, ProctorFlag, Role,
                     StudySession, User, utcnow)

bp = Blueprint("proctor", __name__, url_prefix="/officer", template_folder="templates",
               static_folder="static", static_url_path="/assets/proctor")

MAX_PHOTOS = 5
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 24_000_000          # 6000 x 4000: larger "photos" are refused before decoding
ANALYSIS_MAX_SIDE = 2000         # big photos are scaled down before the quality gates
MAX_ACTIVE_REFERENCES = 10
MAX_REASON = 500

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

QUALITY_MESSAGES = {
    "no_face": _l("No face was found in the photo."),
    "several_faces": _l("More than one face is in the photo: only the supervisee may be in it."),
    "too_small": _l("The face is too small: move closer to the camera or use a closer photo."),
    "blurry": _l("The photo is blurred: hold still, light the face well and try again."),
    "not_frontal": _l("The face is not frontal: look straight into the camera."),
}

KIND_LABELS = {
    "identity_mismatch": _l("Identity mismatch"),
    "liveness_failed": _l("Liveness challenge failed"),
    "multiple_faces": _l("Several faces in view"),
    "frozen_feed": _l("Frozen camera picture"),
    "looped_feed": _l("Looped camera picture"),
    "review_requested": _l("Review requested by the supervisee"),
}

STATUS_LABELS = {
    FlagStatus.OPEN: _l("Awaiting review"),
    FlagStatus.CONFIRMED: _l("Confirmed"),
    FlagStatus.DISMISSED: _l("Dismissed"),
}


class PhotoError(ValueError):
    pass


def kind_label(kind: str) -> str:
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else kind


# --- jurisdiction ---------------------------------------------------------------



def flag_or_404(flag_id: int) -> ProctorFlag:
    flag = db.session().get(ProctorFlag, flag_id)
    if flag is None:
        abort(404)
    user_or_404(flag.learner_id, Role.SUPERVISEE)
    return flag


def open_flag_count(viewer: User) -> int:
    return db.session().scalar(select(func.count(ProctorFlag.id)).where(
        ProctorFlag.status == FlagStatus.OPEN, ProctorFlag.learner_id.in_(jurisdiction.supervisee_ids_within(viewer.unit)))) or 0


@bp.app_context_processor
def _officer_globals():
    """Staff pages: the open-flag count in the navigation, and the alert strings for
    webapp/proctor/static/js/officer_alerts.js."""
    if not (current_user and current_user.is_authenticated and current_user.role in STAFF):
        return {}
    try:
        count = open_flag_count(current_user)
    except Exception:  # a broken count must not take every officer page down
        current_app.logger.exception("open flag count")
        count = 0
    kinds = {k: str(v) for k, v in KIND_LABELS.items()}
    return {"open_flag_count": count, "alert_kinds_json": json.dumps(kinds, ensure_ascii=False)}


# --- photos and quality gates -------------------------------------------------------

def decode_photo(data: bytes) -> np.ndarray:
    """JPEG or PNG bytes (checked by their magic numbers) to an RGB array; PhotoError otherwise."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise PhotoError(_("The file is empty."))
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(_("A photo may be at most 5 MB."))
    if not data.startswith((JPEG_MAGIC, PNG_MAGIC)):
        raise PhotoError(_("Only JPEG or PNG photos can be used."))
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ("JPEG", "PNG"):
                raise PhotoError(_("Only JPEG or PNG photos can be used."))
            if image.width * image.height > MAX_PIXELS:
                raise PhotoError(_("The photo has too many pixels."))
            image.load()
            image = ImageOps.exif_transpose(image).convert("RGB")
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoError(_("The photo has too many pixels."))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise PhotoError(_("The file could not be read as a photo."))
    if max(image.size) > ANALYSIS_MAX_SIDE:
        image.thumbnail((ANALYSIS_MAX_SIDE, ANALYSIS_MAX_SIDE))
    return np.asarray(image, dtype=np.uint8)


def assess_photo(rgb: np.ndarray):
    from proctoring.enrolment import assess
    from proctoring.vision import thread_analyzer
    return assess(rgb, thread_analyzer())


def quality_message(reason: str) -> str:
    message = QUALITY_MESSAGES.get(reason)
    return str(message) if message is not None else _("The photo was not accepted.")


def _active_count(learner_id: int) -> int:
    return db.session().scalar(select(func.count(FaceEnrolment.id)).where(
        FaceEnrolment.user_id == learner_id, FaceEnrolment.active.is_(True))) or 0


def _plain_metrics(metrics) -> str:
    from webapp.proctor.evidence import plain_scores
    return json.dumps(plain_scores(dict(metrics or {})), ensure_ascii=False)


def store_enrolments(learner: User, results: list, source: str, replace: bool,
                     replace_up_to: int | None = None) -> tuple[int, int]:
    """Store accepted quality results as active references. With `replace`, earlier active
    references (up to id `replace_up_to` when given) are deactivated first. Returns (added,
    deactivated); raises PhotoError when the cap on active references would be passed."""
    with db.write_transaction() as session:
        deactivated = 0
        if replace:
            condition = (FaceEnrolment.user_id == learner.id) & FaceEnrolment.active.is_(True)
            if replace_up_to is not None:
                condition = condition & (FaceEnrolment.id <= replace_up_to)
            deactivated = session.execute(update(FaceEnrolment).where(condition).values(active=False)).rowcount or 0
        active = session.scalar(select(func.count(FaceEnrolment.id)).where(
            FaceEnrolment.user_id == learner.id, FaceEnrolment.active.is_(True))) or 0
        if active + len(results) > MAX_ACTIVE_REFERENCES:
            session.rollback()
            raise PhotoError(_("At most %(n)d active reference photos per person: choose to replace the earlier "
                               "ones.", n=MAX_ACTIVE_REFERENCES))
        for result in results:
            session.add(FaceEnrolment(user_id=learner.id, embedding_enc=encrypt_embedding(result.embedding),
                                      source=source, quality_json=_plain_metrics(result.metrics), active=True,
                                      created_by_id=current_user.id))
        session.flush()
        # A new face starts a new standing: failures against the old references say nothing now.
        cleared = clear_standing(session, learner.id) if replace else None
        detail = {"source": source, "added": len(results), "deactivated": deactivated}
        if cleared is not None:
            detail["standing_cleared"] = cleared
        audit("face_reenrolled" if replace and deactivated else "face_enrolled", target=f"user:{learner.id}",
              detail=json.dumps(detail), commit=False)
        session.commit()
    if cleared is not None:
        tell_cleared(learner.id)
    return len(results), deactivated


# --- enrolment ---------------------------------------------------------------------

@bp.route("/supervisees/<int:user_id>/face")
@allow(*STAFF)
def enrolment(user_id: int):
    session = db.session()
    learner = user_or_404(user_id, Role.SUPERVISEE)
    rows = session.execute(
        select(FaceEnrolment, User.display_name).outerjoin(User, User.id == FaceEnrolment.created_by_id)
        .where(FaceEnrolment.user_id == learner.id).order_by(FaceEnrolment.id.desc()).limit(50)).all()
    active = [(row, by) for row, by in rows if row.active]
    watermark = session.scalar(select(func.max(FaceEnrolment.id)).where(FaceEnrolment.user_id == learner.id)) or 0
    return render_template("proctor/face.html", learner=learner, rows=rows, active=active, watermark=watermark,
                           max_photos=MAX_PHOTOS, max_active=MAX_ACTIVE_REFERENCES)


@bp.route("/supervisees/<int:user_id>/face", methods=["POST"])
@allow(*STAFF)
def enrol_upload(user_id: int):
    learner = user_or_404(user_id, Role.SUPERVISEE)
    back = redirect(url_for("proctor.enrolment", user_id=learner.id)), 303
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    if not files:
        flash(_("Choose 1 to %(n)d photos to upload.", n=MAX_PHOTOS), "error")
        return back
    if len(files) > MAX_PHOTOS:
        flash(_("Choose 1 to %(n)d photos to upload.", n=MAX_PHOTOS), "error")
        return back
    accepted, problems = [], []
    for index, upload in enumerate(files, start=1):
        data = upload.stream.read(MAX_PHOTO_BYTES + 1)
        try:
            rgb = decode_photo(data)
        except PhotoError as exc:
            problems.append(_("Photo %(i)d: %(problem)s", i=index, problem=str(exc)))
            continue
        result = assess_photo(rgb)
        if result.ok and result.embedding is not None:
            accepted.append(result)
        else:
            problems.append(_("Photo %(i)d: %(problem)s", i=index, problem=quality_message(result.reason)))
    for problem in problems:
        flash(problem, "error")
    if accepted:
        try:
            added, _gone = store_enrolments(learner, accepted, "upload", replace=request.form.get("replace") == "1")
        except PhotoError as exc:
            flash(str(exc), "error")
            return back
        flash(_("%(n)d reference photo(s) enrolled.", n=added), "success")
    return back


@bp.route("/supervisees/<int:user_id>/face/capture", methods=["POST"])
@allow(*STAFF)
def enrol_capture(user_id: int):
    learner = user_or_404(user_id, Role.SUPERVISEE)
    upload = request.files.get("image")
    data = upload.stream.read(MAX_PHOTO_BYTES + 1) if upload else b""
    try:
        rgb = decode_photo(data)
    except PhotoError as exc:
        return json_error(400, "bad_image", str(exc))
    result = assess_photo(rgb)
    if not (result.ok and result.embedding is not None):
        return json_error(422, result.reason, quality_message(result.reason))
    replace = request.form.get("replace") == "1"
    up_to = parse_int(request.form.get("replace_up_to", "0"), minimum=0) if replace else None
    if replace and up_to is None:
        return json_error(400, "bad_field", _("The request was not valid."))
    try:
        _added, deactivated = store_enrolments(learner, [result], "camera", replace=replace, replace_up_to=up_to)
    except PhotoError as exc:
        return json_error(409, "too_many", str(exc))
    return jsonify({"ok": True, "message": _("Reference photo enrolled."), "active": _active_count(learner.id),
                    "deactivated": deactivated})


# --- flags -----------------------------------------------------------------------

def _parse_status(raw: str | None) -> FlagStatus | None:
    if raw in (None, "", "open"):
        return FlagStatus.OPEN
    if raw == "all":
        return None
    try:
        return FlagStatus(raw)
    except ValueError:
        abort(400)


@bp.route("/flags")
@allow(*STAFF)
def flags():
    session = db.session()
    status = _parse_status(request.args.get("status"))
    query = (select(ProctorFlag, User).join(User, User.id == ProctorFlag.learner_id)
             .where(ProctorFlag.learner_id.in_(jurisdiction.supervisee_ids_within(current_user.unit))))
    learner = None
    if request.args.get("learner"):
        try:
            learner = user_or_404(int(request.args["learner"]), Role.SUPERVISEE)
        except ValueError:
            abort(400)
        query = query.where(ProctorFlag.learner_id == learner.id)
    if status is not None:
        query = query.where(ProctorFlag.status == status)
    rows = session.execute(query.order_by(ProctorFlag.raised_at.desc(), ProctorFlag.id.desc()).limit(500)).all()
    return render_template("proctor/flags.html", rows=rows, status=status.value if status else "all",
                           learner=learner, kind_label=kind_label, status_labels=STATUS_LABELS,
                           when=_when)


def _when(epoch: float | None) -> str:
    return local_time(epoch)


def _scores(raw: str) -> dict:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


@bp.route("/flags/<int:flag_id>")
@allow(*STAFF)
def flag(flag_id: int):
    session = db.session()
    item = flag_or_404(flag_id)
    learner = session.get(User, item.learner_id)
    study = session.get(StudySession, item.session_id) if item.session_id else None
    course = session.get(Course, study.course_id) if study else None
    check = session.get(ProctorCheck, item.check_id) if item.check_id else None
    evidence = session.scalars(select(Evidence).where(Evidence.flag_id == item.id).order_by(Evidence.id)).all()
    reviewer = session.get(User, item.reviewed_by_id) if item.reviewed_by_id else None
    story = _scores(item.scores_json)
    scores = {k: v for k, v in story.items() if k not in ("repeats", "occurrences")}
    occurrences, repeats = repeat_rows(story)
    checks = session.scalars(select(ProctorCheck).where(ProctorCheck.session_id == item.session_id).order_by(
        ProctorCheck.triggered_at, ProctorCheck.verdict_at, ProctorCheck.id)).all() if item.session_id else []
    standing = standing_context(learner) if needs_attention(standing_of(session, learner.id)) else {}
    return render_template("proctor/flag.html", flag=item, learner=learner, study=study, course=course,
                           check=check, check_scores=_scores(check.scores_json) if check else {},
                           scores=scores, evidence=evidence, reviewer=reviewer,
                           kind_label=kind_label, status_labels=STATUS_LABELS, when=_when,
                           max_reason=MAX_REASON, checks=check_rows(checks), occurrences=occurrences,
                           repeats=repeats, show_standing=bool(standing), **standing)


@bp.route("/flags/<int:flag_id>/evidence/<int:evidence_id>")
@allow(*STAFF)
def evidence_image(flag_id: int, evidence_id: int):
    item = flag_or_404(flag_id)
    evidence = db.session().get(Evidence, evidence_id)
    if evidence is None or evidence.flag_id != item.id or evidence.expires_at <= utcnow():
        abort(404)
    data = decrypt_blob(evidence.image_enc)
    audit("evidence_viewed", target=f"flag:{item.id}", detail=f"evidence:{evidence.id}")
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.route("/flags/<int:flag_id>/review", methods=["POST"])
@allow(*STAFF)
def review(flag_id: int):
    item = flag_or_404(flag_id)
    back = redirect(url_for("proctor.flag", flag_id=item.id)), 303
    decision = request.form.get("decision", "")
    reason = (request.form.get("reason") or "").strip()
    if decision not in ("confirm", "dismiss"):
        flash(_("Choose whether to confirm or dismiss the flag."), "error")
        return back
    if not reason:
        flash(_("Give a reason for your decision."), "error")
        return back
    if len(reason) > MAX_REASON:
        flash(_("The reason may be at most %(n)d characters.", n=MAX_REASON), "error")
        return back
    status = FlagStatus.CONFIRMED if decision == "confirm" else FlagStatus.DISMISSED
    with db.write_transaction() as session:
        # Only an open flag changes: two officers reviewing at once cannot both succeed.
        changed = session.execute(
            update(ProctorFlag).where(ProctorFlag.id == item.id, ProctorFlag.status == FlagStatus.OPEN)
            .values(status=status, reviewed_by_id=current_user.id, reviewed_at=utcnow(), review_reason=reason)
        ).rowcount
        if not changed:
            session.rollback()
            flash(_("This flag has already been reviewed; a review cannot be changed."), "error")
            return back
        audit(f"flag_{status.value}", target=f"flag:{item.id}", detail=reason, commit=False)
        session.commit()
    flash(_("Flag confirmed.") if status is FlagStatus.CONFIRMED else _("Flag dismissed."), "success")
    return back
