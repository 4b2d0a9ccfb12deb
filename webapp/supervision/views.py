"""Officers: study compliance of their jurisdiction, one supervisee's record, course assignment."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import SelectField
from wtforms.validators import DataRequired

from webapp.compliance import unit_page
from webapp.core import db
from webapp.core.access import STAFF, allow, requested_unit, user_or_404
from webapp.conferences import records_of
from webapp.core.audit import audit
from webapp.models import (Assignment, Course, CreditEntry, DroppedSegment, HeartbeatRejection, Role, StudySession,
                     WatchProgress)
from webapp.proctor import standing_context
from webapp.study import current_month, required_hours
from webapp.vr import record_context as vr_record

bp = Blueprint("officer", __name__, url_prefix="/officer", template_folder="templates")


class AssignForm(FlaskForm):
    course_id = SelectField(coerce=int, validators=[DataRequired()])


@bp.route("/")
@allow(*STAFF)
def dashboard():
    """The compliance page of the officer's unit, or of `?unit=` within their jurisdiction
    (webapp.compliance: figures per unit below, trend, flags, people; `?month=`, `?q=`, `?page=`)."""
    unit = requested_unit()
    return unit_page(unit)


@bp.route("/supervisee/<int:user_id>")
@allow(*STAFF)
def supervisee(user_id: int):
    from webapp.people import lifecycle_context   # the record's lifecycle section (issue 14)
    session = db.session()
    learner = user_or_404(user_id, Role.SUPERVISEE)
    audit("supervisee_viewed", target=f"user:{learner.id}")     # opening a record is audited
    progress = session.execute(
        select(Assignment, Course, WatchProgress).join(Course, Course.id == Assignment.course_id)
        .outerjoin(WatchProgress, (WatchProgress.course_id == Course.id) &
                   (WatchProgress.learner_id == learner.id))
        .where(Assignment.learner_id == learner.id)).all()
    month = current_month()
    entries = session.scalars(select(CreditEntry).where(CreditEntry.learner_id == learner.id,
                                                        CreditEntry.month == month)
                              .order_by(CreditEntry.wall_start.desc()).limit(200)).all()
    session_ids = select(StudySession.id).where(StudySession.learner_id == learner.id)
    rejections = dict(session.execute(select(HeartbeatRejection.reason, func.count())
                                      .where(HeartbeatRejection.session_id.in_(session_ids))
                                      .group_by(HeartbeatRejection.reason)).all())
    dropped_s = session.scalar(select(func.coalesce(func.sum(DroppedSegment.wall_end - DroppedSegment.wall_start), 0))
                               .where(DroppedSegment.session_id.in_(session_ids)))
    form = AssignForm()
    assigned = {a.course_id for a, _c, _p in progress}
    courses = session.scalars(select(Course).order_by(Course.title)).all()
    form.course_id.choices = [(c.id, c.title) for c in courses if c.id not in assigned]
    credited_h = sum(e.credited_s for e in entries) / 3600
    titles = {c.id: c.title for c in courses}   # a group session's course need not be assigned
    return render_template("officer/supervisee.html", learner=learner, progress=progress, entries=entries,
                           titles=titles,
                           month=month, credited_h=credited_h, needed_h=required_hours(session, learner.unit),
                           rejections=rejections, dropped_s=float(dropped_s or 0), form=form,
                           attendance=records_of(learner.id), **vr_record(learner), **standing_context(learner),
                           **lifecycle_context(learner))


@bp.route("/supervisee/<int:user_id>/assign", methods=["POST"])
@allow(*STAFF)
def assign(user_id: int):
    session = db.session()
    learner = user_or_404(user_id, Role.SUPERVISEE)
    form = AssignForm()
    form.course_id.choices = [(c.id, c.title) for c in session.scalars(select(Course))]
    if not form.validate_on_submit():
        flash(_("Choose a course to assign."), "error")
        return redirect(url_for("officer.supervisee", user_id=learner.id)), 303
    exists = session.scalar(select(Assignment.id).where(Assignment.learner_id == learner.id,
                                                        Assignment.course_id == form.course_id.data))
    if exists is None:
        session.add(Assignment(learner_id=learner.id, course_id=form.course_id.data, assigned_by_id=current_user.id))
        session.commit()
        audit("course_assigned", target=f"user:{learner.id}", detail=f"course:{form.course_id.data}")
        flash(_("Course assigned."), "success")
    return redirect(url_for("officer.supervisee", user_id=learner.id)), 303


@bp.route("/courses")
@allow(*STAFF)
def courses():
    rows = db.session().scalars(select(Course).order_by(Course.category, Course.title)).all()
    return render_template("officer/courses.html", courses=rows)
