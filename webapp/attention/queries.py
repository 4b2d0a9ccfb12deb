"""What needs an officer's attention, in SQL limited to a unit's subtree (no loop over people):

* supervisees behind this month's requirement (LearnerMonth of the month, by the unit of the
  month: `jurisdiction.month_rows_within`), filtered and ordered in SQL with the thresholds of
  `behind.Pace`, so the SQL and the pure rule agree on who is behind;
* open proctoring flags of the subtree's supervisees, counted by age and listed oldest first;
* conferences in the next days that the viewer hosts or that a unit of the subtree hosts;
* VR assignments not done yet;
* the reminders sent this month (webapp.attention.reminders).

Every list is one page (LIMIT/OFFSET) plus a count; the page's few rows may be looked at in Python.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from webapp.attention import behind
from webapp.core import jurisdiction
from webapp.models import (Conference, ConferenceStatus, FlagStatus, LearnerMonth, OrgUnit, ProctorFlag, Role,
                           RollCall, StudyReminder, User, VrAssignment, VrAssignmentStatus)

DAY = 86400.0
# Open flags by age: [0, 1) days, [1, 3), [3, 7), 7 and more
AGE_BUCKETS = ("lt1", "d1_3", "d3_7", "gt7")
LONGEST_CONFERENCE = timedelta(minutes=480)


@dataclass
class Page:
    rows: list
    total: int
    page: int
    per_page: int
    extra: dict = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _offset(page: int, per_page: int) -> int:
    return (page - 1) * per_page


# --- the month and its pace --------------------------------------------------------------------

def clock() -> datetime:
    """Now, aware UTC: the day the page's pace is computed for (tests replace it)."""
    return datetime.now(timezone.utc)


def month_pace(now: datetime | None = None) -> tuple[str, behind.Pace]:
    """("YYYY-MM", Pace) of the current month in the platform's time zone (BABEL_DEFAULT_TIMEZONE),
    with ATTENTION_TOLERANCE_H and ATTENTION_MAX_HOURS_PER_DAY."""
    config = current_app.config
    now = now or clock()
    today = now.astimezone(ZoneInfo(config["BABEL_DEFAULT_TIMEZONE"])).date()
    elapsed, left = behind.month_days(today)
    p = behind.pace(elapsed, left, tolerance_s=float(config.get("ATTENTION_TOLERANCE_H", 1.0)) * 3600.0,
                    max_hours_per_day=float(config.get("ATTENTION_MAX_HOURS_PER_DAY", 4.0)))
    return today.strftime("%Y-%m"), p


def behind_condition(p: behind.Pace):
    """SQL on LearnerMonth: the row's severity (behind.severity) is not ON_TRACK."""
    m = LearnerMonth
    missing = m.required_s - m.credited_s
    return and_(m.required_s > 0, m.credited_s < m.required_s,
                or_(missing > literal(p.capacity_s),
                    m.credited_s < m.required_s * literal(p.share) - literal(p.tolerance_s)))


def severity_case(p: behind.Pace):
    """SQL on LearnerMonth rows that satisfy `behind_condition`: their behind.Severity value."""
    m = LearnerMonth
    return case((m.required_s - m.credited_s > literal(p.capacity_s), int(behind.Severity.CANNOT_MEET)),
                (m.credited_s < m.required_s * literal(p.share * p.far_share), int(behind.Severity.FAR_BEHIND)),
                else_=int(behind.Severity.BEHIND))


@dataclass
class Behind:
    learner_id: int
    name: str
    unit_name: str
    required_s: float
    credited_s: float
    severity: behind.Severity
    reminded_at: datetime | None = None

    @property
    def hours(self) -> float:
        return self.credited_s / 3600.0

    @property
    def required_h(self) -> float:
        return self.required_s / 3600.0


def behind_page(session: Session, unit: OrgUnit, month: str, p: behind.Pace, page: int = 1,
                per_page: int = 25) -> Page:
    """One page of the supervisees (active accounts) of the subtree behind in `month`, the worst
    first (severity, then how far below the pace), and the count per severity."""
    m = LearnerMonth
    where = (m.month == month, behind_condition(p), User.active.is_(True))
    level = severity_case(p)
    counts = {int(sev): int(n) for sev, n in session.execute(
        select(level, func.count(m.id)).join(User, User.id == m.learner_id)
        .where(jurisdiction.month_rows_within(unit), *where).group_by(level)).all()}
    rows = session.execute(
        select(m.learner_id, User.display_name, OrgUnit.name, m.required_s, m.credited_s, level)
        .join(User, User.id == m.learner_id).join(OrgUnit, OrgUnit.id == m.unit_id)
        .where(jurisdiction.month_rows_within(unit), *where)
        .order_by(level.desc(), (m.required_s * literal(p.share) - m.credited_s).desc(), m.learner_id)
        .limit(per_page).offset(_offset(page, per_page))).all()
    items = [Behind(r[0], r[1], r[2], float(r[3]), float(r[4]), behind.Severity(int(r[5]))) for r in rows]
    if items:   # the last reminder of the page's people (one query for the page)
        last = dict(session.execute(
            select(StudyReminder.learner_id, func.max(StudyReminder.sent_at))
            .where(StudyReminder.month == month, StudyReminder.learner_id.in_([i.learner_id for i in items]))
            .group_by(StudyReminder.learner_id)).all())
        for item in items:
            item.reminded_at = last.get(item.learner_id)
    by_severity = {sev: counts.get(int(sev), 0) for sev in behind.Severity if sev is not behind.Severity.ON_TRACK}
    return Page(items, sum(by_severity.values()), page, per_page, {"by_severity": by_severity})


# --- proctoring flags -------------------------------------------------------------------------

def _age_bucket(now: float):
    return case((ProctorFlag.raised_at > now - DAY, 0), (ProctorFlag.raised_at > now - 3 * DAY, 1),
                (ProctorFlag.raised_at > now - 7 * DAY, 2), else_=3)


@dataclass
class Flag:
    flag_id: int
    learner_id: int
    name: str
    kind: str
    raised_at: float
    age_days: float


def open_flags_page(session: Session, unit: OrgUnit, now: float, page: int = 1, per_page: int = 25) -> Page:
    """Open flags of the subtree's supervisees: the count per age bucket, and one page, oldest first.
    Driven from the open flags (ix_proctor_flag_status) joined to their person and unit, not from
    the subtree's people: the open flags are few, the people many."""
    bucket = _age_bucket(now)
    counts = dict(session.execute(
        select(bucket, func.count(ProctorFlag.id)).join(User, User.id == ProctorFlag.learner_id)
        .join(OrgUnit, OrgUnit.id == User.unit_id)
        .where(ProctorFlag.status == FlagStatus.OPEN, User.role == Role.SUPERVISEE, jurisdiction.unit_within(unit))
        .group_by(bucket)).all())
    by_age = {name: int(counts.get(i, 0)) for i, name in enumerate(AGE_BUCKETS)}
    rows = session.execute(
        select(ProctorFlag.id, ProctorFlag.learner_id, User.display_name, ProctorFlag.kind, ProctorFlag.raised_at)
        .join(User, User.id == ProctorFlag.learner_id).join(OrgUnit, OrgUnit.id == User.unit_id)
        .where(ProctorFlag.status == FlagStatus.OPEN, User.role == Role.SUPERVISEE, jurisdiction.unit_within(unit))
        .order_by(ProctorFlag.raised_at, ProctorFlag.id).limit(per_page).offset(_offset(page, per_page))).all()
    items = [Flag(r[0], r[1], r[2], r[3], float(r[4]), (now - float(r[4])) / DAY) for r in rows]
    return Page(items, sum(by_age.values()), page, per_page, {"by_age": by_age})


# --- conferences ------------------------------------------------------------------------------

@dataclass
class UpcomingConference:
    conference_id: int
    title: str
    host_unit_name: str
    host_unit_path: str
    host_unit_level: int
    starts_at: datetime          # naive UTC, as stored
    duration_min: int
    status: ConferenceStatus
    levels: str
    include_supervisees: bool
    rollcalls: int
    hosted_by_viewer: bool


def conferences_page(session: Session, unit: OrgUnit, viewer: User, now: datetime, days: int, page: int = 1,
                     per_page: int = 25) -> Page:
    """Scheduled or live conferences starting within `days` (or running now) that `viewer` hosts or
    that a unit of the subtree hosts, soonest first, with their roll calls so far. `now` is naive UTC."""
    c = Conference
    where = (c.status.in_((ConferenceStatus.SCHEDULED, ConferenceStatus.LIVE)),
             c.starts_at >= now - LONGEST_CONFERENCE, c.starts_at <= now + timedelta(days=days))
    total = session.scalar(select(func.count(c.id)).join(OrgUnit, OrgUnit.id == c.host_unit_id)
                           .where(or_(c.host_officer_id == viewer.id, jurisdiction.unit_within(unit)), *where))
    calls = select(func.count(RollCall.id)).where(RollCall.conference_id == c.id).scalar_subquery()
    rows = session.execute(
        select(c.id, c.title, OrgUnit.name, OrgUnit.path, OrgUnit.level, c.starts_at, c.duration_min, c.status,
               c.levels, c.include_supervisees, calls, c.host_officer_id)
        .join(OrgUnit, OrgUnit.id == c.host_unit_id)
        .where(or_(c.host_officer_id == viewer.id, jurisdiction.unit_within(unit)), *where)
        .order_by(c.starts_at, c.id).limit(per_page).offset(_offset(page, per_page))).all()
    items = [UpcomingConference(*r[:11], hosted_by_viewer=r[11] == viewer.id) for r in rows]
    return Page(items, int(total or 0), page, per_page)


# --- VR assignments ---------------------------------------------------------------------------

@dataclass
class PendingVr:
    assignment_id: int
    learner_id: int
    name: str
    scene: str
    assigned_at: datetime


def pending_vr_page(session: Session, unit: OrgUnit, page: int = 1, per_page: int = 25) -> Page:
    """VR assignments of the subtree's supervisees still pending, oldest first (driven from the
    pending assignments, ix_vr_assignment_status, like the flags)."""
    v = VrAssignment
    total = session.scalar(
        select(func.count(v.id)).join(User, User.id == v.learner_id).join(OrgUnit, OrgUnit.id == User.unit_id)
        .where(v.status == VrAssignmentStatus.PENDING, User.role == Role.SUPERVISEE, jurisdiction.unit_within(unit)))
    rows = session.execute(
        select(v.id, v.learner_id, User.display_name, v.scene, v.assigned_at)
        .join(User, User.id == v.learner_id).join(OrgUnit, OrgUnit.id == User.unit_id)
        .where(v.status == VrAssignmentStatus.PENDING, User.role == Role.SUPERVISEE, jurisdiction.unit_within(unit))
        .order_by(v.assigned_at, v.id).limit(per_page).offset(_offset(page, per_page))).all()
    return Page([PendingVr(*r) for r in rows], int(total or 0), page, per_page)


# --- reminders --------------------------------------------------------------------------------

@dataclass
class Reminder:
    learner_id: int
    name: str
    channel: str
    status: str
    sent_at: datetime


def reminders_page(session: Session, unit: OrgUnit, month: str, page: int = 1, per_page: int = 25) -> Page:
    """The reminders of `month` to people of the subtree (by the unit of their month), newest first."""
    r = StudyReminder
    joined = and_(LearnerMonth.month == r.month, LearnerMonth.learner_id == r.learner_id)
    counts = dict(session.execute(select(r.status, func.count(r.id)).join(LearnerMonth, joined)
                                  .where(r.month == month, jurisdiction.month_rows_within(unit))
                                  .group_by(r.status)).all())
    rows = session.execute(
        select(r.learner_id, User.display_name, r.channel, r.status, r.sent_at)
        .join(LearnerMonth, joined).join(User, User.id == r.learner_id)
        .where(r.month == month, jurisdiction.month_rows_within(unit))
        .order_by(r.sent_at.desc(), r.id.desc()).limit(per_page).offset(_offset(page, per_page))).all()
    return Page([Reminder(*row) for row in rows], int(sum(counts.values())), page, per_page,
                {"by_status": {k: int(v) for k, v in counts.items()}})
