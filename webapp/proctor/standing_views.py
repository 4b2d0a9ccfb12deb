"""The learner's request for a review of their proctoring hold, and the officer's clearing of it.

* POST /api/proctor/review-request (supervisee, for themself; JSON, CSRF header like the study
  API): {"message": optional text of at most 500 characters}.
* POST /officer/supervisee/<id>/proctor-hold/clear (staff, the supervisee within their
  jurisdiction; a form with a required reason): audited, the learner's browser told.

The card that shows the standing (proctor/_standing.html) is on the supervisee's record
(webapp.supervision, through `standing_context`) and on the flag page.
"""
from __future__ import annotations

import json
import time

from flask import Blueprint, current_app, flash, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from webapp.core import db
from webapp.core.access import STAFF, allow, json_error, user_or_404
from webapp.core.audit import audit
from webapp.core.inputs import parse_int
from webapp.extensions import limiter
from webapp.models import ProctorFlag, Role, User
from webapp.proctor.standing import (MAX_MESSAGE, NothingToReview, clear_standing, close_review_requests,
                                     needs_attention, request_review, standing_of, tell_cleared)
from webapp.proctor.story import local_time

bp = Blueprint("proctor_standing", __name__, template_folder="templates")


def _rate_key() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else (request.remote_addr or "")


def standing_context(learner: User) -> dict:
    """What proctor/_standing.html needs for one supervisee (already checked by user_or_404)."""
    from webapp.proctor.views import MAX_REASON

    row = standing_of(db.session(), learner.id)
    return {"standing": row, "standing_open": needs_attention(row),
            "standing_waiting": bool(row and row.not_before and row.not_before > time.time()),
            "standing_time": local_time, "standing_max_reason": MAX_REASON,
            "standing_block_after": current_app.config["PROCTOR_BLOCK_AFTER"]}


@bp.route("/api/proctor/review-request", methods=["POST"])
@limiter.limit(lambda: current_app.config["PROCTOR_REVIEW_RATE_LIMIT"], key_func=_rate_key)
@allow(Role.SUPERVISEE)
def review_request():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return json_error(400, "bad_json", _("The request body must be a JSON object."))
    message = data.get("message")
    if message is None:
        message = ""
    if not isinstance(message, str):
        return json_error(400, "bad_field", _("Field %(field)s is missing or not valid.", field="message"))
    message = message.strip()
    if len(message) > MAX_MESSAGE:
        return json_error(400, "too_long", _("The message may be at most %(n)d characters.", n=MAX_MESSAGE))
    with db.write_transaction() as session:
        try:
            flag = request_review(session, current_user.id, message, time.time())
        except NothingToReview:
            session.rollback()
            return json_error(409, "nothing_to_review",
                              _("There is nothing for an officer to review: no failed check is holding you."))
        audit("proctor_review_requested", target=f"user:{current_user.id}",
              detail=json.dumps({"flag": flag.id, "joined": not flag.is_new, "message": message},
                                ensure_ascii=False), commit=False)
        session.commit()
    if flag.is_new:
        from webapp.proctor.alerts import notify_flag
        notify_flag(flag, current_user._get_current_object())
    return jsonify(ok=True, flag_id=flag.id, joined=not flag.is_new,
                   message=_("Your request was sent. An officer will review it."))


def _back(learner: User):
    """To the flag page the form was on (a flag of this learner), else to the learner's record."""
    flag_id = parse_int(request.form.get("flag_id", ""))   # str.isdigit() took "²" and ids past an INTEGER
    if flag_id is not None:
        flag = db.session().get(ProctorFlag, flag_id)
        if flag is not None and flag.learner_id == learner.id:
            return redirect(url_for("proctor.flag", flag_id=flag.id)), 303
    return redirect(url_for("officer.supervisee", user_id=learner.id)), 303


@bp.route("/officer/supervisee/<int:user_id>/proctor-hold/clear", methods=["POST"])
@allow(*STAFF)
def clear_hold(user_id: int):
    from webapp.proctor.views import MAX_REASON

    learner = user_or_404(user_id, Role.SUPERVISEE)
    back = _back(learner)
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        flash(_("Give a reason for clearing the hold."), "error")
        return back
    if len(reason) > MAX_REASON:
        flash(_("The reason may be at most %(n)d characters.", n=MAX_REASON), "error")
        return back
    with db.write_transaction() as session:
        before = clear_standing(session, learner.id)
        if before is None:
            session.rollback()
            flash(_("There is no proctoring hold to clear."), "error")
            return back
        answered = close_review_requests(session, learner.id, current_user.id, reason)
        audit("proctor_hold_cleared", target=f"user:{learner.id}",
              detail=json.dumps({"reason": reason, "before": before, "review_requests_closed": answered},
                                ensure_ascii=False), commit=False)
        session.commit()
    tell_cleared(learner.id)
    flash(_("The hold was cleared: the supervisee can verify again."), "success")
    return back
