"""Video conferences, first web slice: list, schedule, detail, cancel.

Who may see a conference follows conferencing.rules: a conference of a host unit is
seen by the host unit's officers, by officers of the included levels in the host's subtree and,
when included, by supervisees of township units in that subtree. Anything else answers 404.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.fields import DateTimeLocalField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from conferencing.lifecycle import open_for_joining
from conferencing.rules import (MAX_LEVEL, TOWNSHIP, ConferenceScope, levels_from_text, levels_to_text, may_join,
                                participant_units)

from webapp.conferences import education_store, lifecycle
from webapp.core import db, jurisdiction
from webapp.core.access import STAFF, allow
from webapp.core.audit import audit
from webapp.core.turn import ice_servers_for
from webapp.models import (Conference, ConferenceParticipant, ConferenceStatus, Course, EducationSession, OrgUnit,
                           Role, RollCall, User, utcnow)

bp = Blueprint("conferences", __name__, url_prefix="/conferences", template_folder="templates",
               static_folder="static", static_url_path="/assets")

EVERYONE = (Role.ADMIN, Role.OFFICER, Role.SUPERVISEE)
LEVEL_NAMES = {1: _l("Ministry"), 2: _l("Province"), 3: _l("City"), 4: _l("District/County"),
               5: _l("Township judicial office")}
STATUS_NAMES = {ConferenceStatus.SCHEDULED: _l("Scheduled"), ConferenceStatus.LIVE: _l("In progress"),
                ConferenceStatus.ENDED: _l("Ended"), ConferenceStatus.CANCELLED: _l("Cancelled")}


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def to_utc(local: datetime) -> datetime:
    """A naive date-time in the platform time zone -> naive UTC (as stored)."""
    return local.replace(tzinfo=_zone()).astimezone(timezone.utc).replace(tzinfo=None)


def to_local(utc: datetime) -> datetime:
    return utc.replace(tzinfo=timezone.utc).astimezone(_zone()).replace(tzinfo=None)


def lower_levels(host_level: int) -> list[int]:
    """The levels an officer at `host_level` may include: those deeper than their own."""
    return list(range(max(2, host_level + 1), MAX_LEVEL + 1))


def scope_of(conference: Conference) -> ConferenceScope:
    return ConferenceScope(host_unit_path=conference.host_unit.path, host_level=conference.host_unit.level,
                           levels=levels_from_text(conference.levels),
                           include_supervisees=conference.include_supervisees)


def user_may_join(conference: Conference) -> bool:
    try:
        scope = scope_of(conference)
    except ValueError:
        return False
    return may_join(scope, current_user.unit.path, current_user.unit.level,
                    is_supervisee=current_user.role == Role.SUPERVISEE)


def conference_or_404(conference_id: int) -> Conference:
    conference = db.session().get(Conference, conference_id)
    if conference is None or not user_may_join(conference):
        abort(404)
    return conference


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConferenceForm(FlaskForm):
    title = StringField(_l("Title"), validators=[
        DataRequired(message=_l("Enter a title.")),
        Length(max=200, message=_l("The title may have at most 200 characters."))])
    starts_at = DateTimeLocalField(_l("Starts at"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
                                   validators=[InputRequired(message=_l("Enter a valid start date and time."))])
    duration_min = IntegerField(_l("Duration (minutes)"), default=60, validators=[
        InputRequired(message=_l("Enter the duration in minutes.")),
        NumberRange(min=5, max=480, message=_l("The duration must be between 5 and 480 minutes."))])
    levels = MultiCheckboxField(_l("Include the officers of these levels below"), coerce=int, choices=[],
                                validate_choice=False)
    include_supervisees = BooleanField(_l("Include the supervisees of township judicial offices"))
    # A group education session (optional): a course or a topic, and the attendance check timings
    education = BooleanField(_l("Hold it as a group education session"))
    edu_course = SelectField(_l("Course"), choices=[], validate_choice=False)
    edu_topic = StringField(_l("Topic"), validators=[
        Length(max=200, message=_l("The topic may have at most 200 characters."))])
    edu_first_within_s = StringField(_l("First check within (seconds)"), default="120")
    edu_min_gap_s = StringField(_l("Shortest gap between checks (seconds)"), default="300")
    edu_max_gap_s = StringField(_l("Longest gap between checks (seconds)"), default="900")
    edu_max_parallel = StringField(_l("Checks at once"), default="2")

    def __init__(self, host_level: int, *args, courses: list[tuple[int, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.host_level = host_level
        self.levels.choices = [(level, LEVEL_NAMES[level]) for level in lower_levels(host_level)]
        self.edu_course.choices = [("", _("None (a topic)"))] + [(str(cid), title) for cid, title in courses]
        self.education_values: dict = {}

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if self.education.data:
            ok = self._validate_education() and ok
        return ok

    def _validate_education(self) -> bool:
        """The education part, parsed into `education_values` (EducationSession's columns)."""
        course = (self.edu_course.data or "").strip()
        if course and course not in {value for value, _label in self.edu_course.choices}:
            self.edu_course.errors.append(_("Choose one of the courses."))
            return False
        topic = (self.edu_topic.data or "").strip()
        if not course and not topic:
            self.edu_topic.errors.append(_("Choose a course or enter a topic."))
            return False
        numbers = {}
        for name in ("edu_first_within_s", "edu_min_gap_s", "edu_max_gap_s", "edu_max_parallel"):
            field = getattr(self, name)
            text = (field.data or "").strip()
            if not (text.isascii() and text.isdigit() and len(text) <= 6):
                field.errors.append(_("Enter a whole number."))
            else:
                numbers[name] = int(text)
        if len(numbers) < 4:
            return False
        messages = {"first_within": (self.edu_first_within_s, _(
                        "The first check must come within at least 30 seconds, sooner than the longest gap.")),
                    "min_gap": (self.edu_min_gap_s, _(
                        "The shortest gap must be at least 60 seconds and shorter than the longest gap.")),
                    "max_gap": (self.edu_max_gap_s, _("The longest gap may be at most 3600 seconds.")),
                    "max_parallel": (self.edu_max_parallel, _("Between 1 and 8 checks may run at once."))}
        problems = education_store.timing_problems(numbers["edu_first_within_s"], numbers["edu_min_gap_s"],
                                                   numbers["edu_max_gap_s"], numbers["edu_max_parallel"])
        for code in problems:
            field, message = messages[code]
            field.errors.append(message)
        if problems:
            return False
        self.education_values = {"course_id": int(course) if course else None, "topic": topic,
                                 "first_within_s": float(numbers["edu_first_within_s"]),
                                 "min_gap_s": float(numbers["edu_min_gap_s"]),
                                 "max_gap_s": float(numbers["edu_max_gap_s"]),
                                 "max_parallel": numbers["edu_max_parallel"]}
        return True

    def validate_starts_at(self, field):
        if field.data is not None and to_utc(field.data) <= utcnow():
            raise ValidationError(_("The start must be in the future."))

    def validate_levels(self, field):
        allowed = set(lower_levels(self.host_level))
        if any(level not in allowed for level in field.data or []):
            raise ValidationError(_("Only levels below your own unit can be included."))

    def validate_include_supervisees(self, field):
        if field.data and self.host_level != TOWNSHIP and TOWNSHIP not in (self.levels.data or []):
            raise ValidationError(_("Supervisees can be included only together with the township level."))


@bp.route("/")
@allow(*EVERYONE)
def index():
    session = db.session()
    rows = session.scalars(select(Conference).join(OrgUnit, OrgUnit.id == Conference.host_unit_id)
                           .where(OrgUnit.path.in_(_ancestor_paths(current_user.unit.path)))).all()
    visible = [c for c in rows if user_may_join(c)]
    now = utcnow()

    def order(c: Conference):
        upcoming = c.status in (ConferenceStatus.SCHEDULED, ConferenceStatus.LIVE) and \
            c.starts_at + timedelta(minutes=c.duration_min) >= now
        return (0, c.starts_at) if upcoming else (1, -c.starts_at.timestamp())
    visible.sort(key=order)
    return render_template("conferences/list.html", conferences=visible, status_names=STATUS_NAMES,
                           to_local=to_local)


def _ancestor_paths(path: str) -> list[str]:
    """"/1/4/9/" -> ["/1/", "/1/4/", "/1/4/9/"]: the only units whose conferences a user may see."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)]


@bp.route("/new", methods=["GET", "POST"])
@allow(*STAFF)
def new():
    unit = current_user.unit
    courses = db.session().execute(select(Course.id, Course.title).order_by(Course.title, Course.id)).all()
    form = ConferenceForm(unit.level, courses=[tuple(c) for c in courses])
    if form.validate_on_submit():
        levels = sorted(set(form.levels.data or []))
        conference = Conference(host_unit_id=unit.id, host_officer_id=current_user.id,
                                title=form.title.data.strip(), starts_at=to_utc(form.starts_at.data),
                                duration_min=form.duration_min.data, levels=levels_to_text(levels),
                                include_supervisees=bool(form.include_supervisees.data),
                                status=ConferenceStatus.SCHEDULED)
        session = db.session()
        session.add(conference)
        session.flush()
        if form.education.data:     # a group education session, in the same transaction
            session.add(EducationSession(conference_id=conference.id, **form.education_values))
        audit("conference_created", target=f"conference:{conference.id}",
              detail=f"unit:{unit.id} levels:{conference.levels} supervisees:{int(conference.include_supervisees)}"
                     f"{' education:1' if form.education.data else ''}",
              commit=False)
        session.commit()
        flash(_("Conference scheduled."), "success")
        return redirect(url_for("conferences.detail", conference_id=conference.id)), 303
    return render_template("conferences/new.html", form=form, unit=unit, level_names=LEVEL_NAMES)


@bp.route("/<int:conference_id>")
@allow(*EVERYONE)
def detail(conference_id: int):
    conference = conference_or_404(conference_id)
    units = db.session().scalars(jurisdiction.units_within(conference.host_unit)
                                 .order_by(OrgUnit.path)).all()
    participants = participant_units(scope_of(conference), units)
    may_manage = _may_cancel(conference)
    mine = _participation(conference.id, current_user.id)
    # officers see the roll calls (each table shows them only the rows of their own subtree)
    rollcalls = db.session().scalars(select(RollCall).where(RollCall.conference_id == conference.id)
                                     .order_by(RollCall.started_at.desc())).all() \
        if current_user.role in STAFF else []
    joined = []
    if may_manage:   # who has joined: for the host and the staff of the host unit only
        joined = db.session().execute(
            select(ConferenceParticipant, User, OrgUnit).join(User, User.id == ConferenceParticipant.user_id)
            .join(OrgUnit, OrgUnit.id == User.unit_id)
            .where(ConferenceParticipant.conference_id == conference.id,
                   ConferenceParticipant.joined_at.is_not(None))
            .order_by(ConferenceParticipant.joined_at, ConferenceParticipant.id)).all()
    return render_template("conferences/detail.html", conference=conference, participants=participants,
                           levels=sorted(levels_from_text(conference.levels)), level_names=LEVEL_NAMES,
                           status_names=STATUS_NAMES, to_local=to_local, may_cancel=may_manage,
                           joined=joined, show_joined=may_manage,
                           is_in=mine is not None and mine.joined_at is not None and mine.left_at is None,
                           may_attend=open_for_joining(conference.status.value),
                           rollcalls=rollcalls, education=_education_link(conference))


def _education_link(conference: Conference) -> dict | None:
    """The education session's subject and, for who may see it, its attendance page."""
    from webapp.conferences.education_views import may_view
    edu = education_store.session_for(db.session(), conference.id)
    if edu is None:
        return None
    course = db.session().get(Course, edu.course_id) if edu.course_id else None
    return {"subject": course.title if course is not None else edu.topic,
            "url": url_for("conferences.education", conference_id=conference.id) if may_view(conference) else None}


def _may_cancel(conference: Conference) -> bool:
    return current_user.role in STAFF and (conference.host_officer_id == current_user.id
                                           or conference.host_unit_id == current_user.unit_id)


class CancelForm(FlaskForm):
    pass


@bp.route("/<int:conference_id>/cancel", methods=["POST"])
@allow(*STAFF)
def cancel(conference_id: int):
    conference = conference_or_404(conference_id)
    if not _may_cancel(conference):
        abort(403)
    if not CancelForm().validate_on_submit():
        abort(400)
    if lifecycle.transition(db.session(), conference, lifecycle.Event.CANCEL):
        audit("conference_cancelled", target=f"conference:{conference.id}", commit=False)
        db.session().commit()
        flash(_("Conference cancelled."), "success")
    else:
        flash(_("This conference can no longer be cancelled."), "error")
    return redirect(url_for("conferences.detail", conference_id=conference.id)), 303


def _participation(conference_id: int, user_id: int) -> ConferenceParticipant | None:
    return db.session().scalar(select(ConferenceParticipant).where(
        ConferenceParticipant.conference_id == conference_id, ConferenceParticipant.user_id == user_id))


@bp.route("/<int:conference_id>/join", methods=["POST"])
@allow(*EVERYONE)
def join(conference_id: int):
    """Records that the user joined (idempotent; joining again after leaving clears left_at).
    The conference room page (conf_enter over Socket.IO) records joining too; this form is the
    way to say one is there without a camera."""
    conference = conference_or_404(conference_id)
    if not CancelForm().validate_on_submit():
        abort(400)
    if not open_for_joining(conference.status.value):
        flash(_("This conference is not open for joining."), "error")
        return redirect(url_for("conferences.detail", conference_id=conference.id)), 303
    with db.write_transaction() as session:
        lifecycle.record_join(session, session.get(Conference, conference.id), current_user.id)
        session.commit()
    flash(_("You have joined the conference."), "success")
    return redirect(url_for("conferences.detail", conference_id=conference_id)), 303


@bp.route("/<int:conference_id>/leave", methods=["POST"])
@allow(*EVERYONE)
def leave(conference_id: int):
    conference = conference_or_404(conference_id)
    if not CancelForm().validate_on_submit():
        abort(400)
    with db.write_transaction() as session:
        if lifecycle.record_leave(session, conference.id, current_user.id):
            session.commit()
    flash(_("You have left the conference."), "success")
    return redirect(url_for("conferences.detail", conference_id=conference_id)), 303


@bp.route("/<int:conference_id>/room")
@allow(*EVERYONE)
def room(conference_id: int):
    """The live conference page: media, floor, chat and roll calls run over Socket.IO
    (webapp/conferences/static/js/conference.js; protocol in webapp/conferences/sockets.py)."""
    conference = conference_or_404(conference_id)
    return render_template("conferences/room.html", conference=conference,
                           is_host=current_user.id == conference.host_officer_id,
                           ice_servers=json.dumps(ice_servers_for(current_app.config, current_user.id)),
                           closed=conference.status in (ConferenceStatus.ENDED, ConferenceStatus.CANCELLED))


from webapp.conferences import education_views  # noqa: E402,F401  (its routes are on bp)
