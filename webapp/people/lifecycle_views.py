"""The supervisee record's lifecycle buttons: end of supervision, transfer, password reset.

Each is a POST from webapp/supervision/templates/officer/supervisee.html (people/_lifecycle.html);
the supervisee is loaded through user_or_404 (404 outside the jurisdiction), the target unit of a
transfer must lie in the acting officer's subtree. Ending and resetting need an explicit
confirmation field, so an empty form changes nothing.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from webapp.core import db, jurisdiction
from webapp.core.access import STAFF, allow, can_see_unit, user_or_404
from webapp.core.inputs import parse_int
from webapp.models import Level, OrgUnit, Role, UnitTransfer, User, utcnow
from webapp.people import lifecycle
from webapp.study import current_month

bp = Blueprint("lifecycle", __name__, url_prefix="/officer/supervisee", template_folder="templates")

# More townships than this in the officer's subtree: the transfer form asks for the unit number.
MAX_UNIT_CHOICES = 300


def lifecycle_context(learner: User) -> dict:
    """What people/_lifecycle.html needs on the record page (learner already checked)."""
    session = db.session()
    query = jurisdiction.units_within(current_user.unit).where(OrgUnit.level == Level.TOWNSHIP,
                                                               OrgUnit.id != learner.unit_id)
    count = session.scalar(select(func.count()).select_from(query.subquery()))
    choices = session.scalars(query.order_by(OrgUnit.path)).all() if count <= MAX_UNIT_CHOICES else None
    source, destination = aliased(OrgUnit), aliased(OrgUnit)
    history = session.execute(
        select(UnitTransfer.at, source.name, destination.name, UnitTransfer.reason)
        .join(source, source.id == UnitTransfer.from_unit_id)
        .join(destination, destination.id == UnitTransfer.to_unit_id)
        .where(UnitTransfer.user_id == learner.id).order_by(UnitTransfer.at.desc()).limit(50)).all()
    return {"transfer_choices": choices, "transfer_history": history}


def _back(learner: User):
    return redirect(url_for("officer.supervisee", user_id=learner.id)), 303


def _confirmed() -> bool:
    return request.form.get("confirm") == "yes"


@bp.route("/<int:user_id>/end-supervision", methods=["POST"])
@allow(*STAFF)
def end_supervision(user_id: int):
    learner = user_or_404(user_id, Role.SUPERVISEE)
    problem = lifecycle.end_problem(learner.supervision_ended_at)
    if problem:
        flash(_(problem), "error")
    elif not _confirmed():
        flash(_("Tick the box to confirm that the supervision has ended."), "error")
    else:
        with db.write_transaction(("learner", learner.id)) as session:
            lifecycle.end_supervision(session, learner, utcnow(), request.form.get("reason", "").strip())
            session.commit()
        flash(_("Supervision ended: the account is deactivated."), "success")
    return _back(learner)


@bp.route("/<int:user_id>/transfer", methods=["POST"])
@allow(*STAFF)
def transfer(user_id: int):
    learner = user_or_404(user_id, Role.SUPERVISEE)
    unit_id = parse_int(request.form.get("unit_id", ""))
    to_unit = db.session().get(OrgUnit, unit_id) if unit_id is not None else None
    visible = to_unit is not None and can_see_unit(current_user, to_unit)
    problem = lifecycle.transfer_problem(
        ended=learner.supervision_ended_at is not None, from_unit_id=learner.unit_id,
        to_level=to_unit.level if visible else None, to_path=to_unit.path if visible else None,
        actor_path=current_user.unit.path)
    if problem:
        flash(_(problem), "error")
        return _back(learner)
    with db.write_transaction(("learner", learner.id)) as session:
        lifecycle.transfer(session, learner, to_unit, current_user._get_current_object(), current_month(),
                           request.form.get("reason", "").strip())
        session.commit()
    flash(_("Transferred to %(unit)s.", unit=to_unit.name), "success")
    return _back(learner)


@bp.route("/<int:user_id>/reset-password", methods=["POST"])
@allow(*STAFF)
def reset_password(user_id: int):
    learner = user_or_404(user_id, Role.SUPERVISEE)
    if not _confirmed():
        flash(_("Tick the box to confirm the password reset."), "error")
        return _back(learner)
    if learner.supervision_ended_at is not None:
        flash(_("This supervision has already ended."), "error")
        return _back(learner)
    with db.write_transaction(("learner", learner.id)) as session:
        password = lifecycle.reset_password(session, learner)
        session.commit()
    return render_template("people/password_reset.html", learner=learner, password=password)
