"""The unit pages' figures, in SQL over LearnerMonth (no loop over people): per child unit
(GROUP BY the next level's column), the 12-month trend (GROUP BY month), the flag outcomes of the
subtree, and one page of the unit's people. Every query is limited to the unit's subtree by
`jurisdiction.month_rows_within` (the unit of the month, not today's)."""
from __future__ import annotations

from dataclasses import dataclass, replace

from flask import current_app
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from webapp.compliance import kept, months
from webapp.core import jurisdiction
from webapp.models import LearnerMonth, OrgUnit, ProctorFlag, User

LEVELS = 5
KEPT_LEVELS = 3       # ministry, province, city: large subtrees, figures kept a minute


@dataclass
class Figures:
    """Aggregates of a group of people (a child unit, the unit itself, a month)."""
    key: int | str | None
    people: int = 0
    met: int = 0
    credited_s: float = 0.0
    flags_open: int = 0
    flags_raised: int = 0
    rollcalls: int = 0
    absences: int = 0
    name: str = ""

    @property
    def share(self) -> float | None:
        return months.percent(self.met, self.people)

    @property
    def hours(self) -> float:
        return self.credited_s / 3600.0


def depth(unit: OrgUnit) -> int:
    return len([part for part in unit.path.strip("/").split("/") if part])


def _sums():
    m = LearnerMonth
    return (func.count(m.id), func.coalesce(func.sum(case((m.met, 1), else_=0)), 0),
            func.coalesce(func.sum(m.credited_s), 0.0), func.coalesce(func.sum(m.flags_open), 0),
            func.coalesce(func.sum(m.flags_raised), 0), func.coalesce(func.sum(m.rollcalls), 0),
            func.coalesce(func.sum(m.rollcall_absences), 0))


def _figures(key, row) -> Figures:
    people, met, credited, flags_open, raised, calls, absences = row
    return Figures(key, int(people), int(met), float(credited), int(flags_open), int(raised), int(calls),
                   int(absences))


def by_child_unit(session: Session, unit: OrgUnit, month: str) -> tuple[list[Figures], Figures | None]:
    """(one Figures per child unit, named, including those with no one; the people attached to
    the unit itself or None). A township has no children: everyone is in the second."""
    children, direct = kept.kept(_key(session, unit, month, "units"), _ttl(session, unit, month),
                                 lambda: _by_child_unit(session, unit, month))
    return [replace(c) for c in children], replace(direct) if direct else None


def _by_child_unit(session: Session, unit: OrgUnit, month: str) -> tuple[list[Figures], Figures | None]:
    level = depth(unit)
    within = (LearnerMonth.month == month, jurisdiction.month_rows_within(unit))
    if level >= LEVELS:
        row = session.execute(select(*_sums()).where(*within)).one()
        return [], _figures(None, row) if row[0] else None
    child = getattr(LearnerMonth, f"l{level + 1}")
    grouped = {row[0]: _figures(row[0], row[1:])
               for row in session.execute(select(child, *_sums()).where(*within).group_by(child))}
    direct = grouped.pop(None, None)
    names = session.execute(select(OrgUnit.id, OrgUnit.name).where(
        jurisdiction.unit_within(unit), or_(OrgUnit.parent_id == unit.id, OrgUnit.id.in_(list(grouped))))).all()
    children = []
    for unit_id, name in sorted(names, key=lambda r: (r[1], r[0])):
        figures = grouped.pop(unit_id, Figures(unit_id))
        figures.name = name
        children.append(figures)
    for key, figures in grouped.items():    # a unit since deleted
        figures.name = f"#{key}"
        children.append(figures)
    return children, direct


FIELDS = ("people", "met", "credited_s", "flags_open", "flags_raised", "rollcalls", "absences")


def total(children: list[Figures], direct: Figures | None) -> Figures:
    out = Figures("total")
    for part in [*children, *([direct] if direct else [])]:
        for field in FIELDS:
            setattr(out, field, getattr(out, field) + getattr(part, field))
    return out


def forget_month(month: str | None = None) -> None:
    """Drops this process's kept figures (of `month`, or all): after a month's refresh."""
    kept.forget(month)


def _ttl(session: Session, unit: OrgUnit, month: str) -> float:
    """How long this process may keep the unit's figures of `month` (webapp.compliance.kept)."""
    from webapp import study
    if month < study.current_month():
        return kept.PAST_TTL_S
    return kept.LIVE_TTL_S if depth(unit) <= KEPT_LEVELS else 0.0


def _key(session: Session, unit: OrgUnit, month: str, kind: str) -> tuple:
    return (str(session.get_bind().url), unit.id, month, kind)


def trend(session: Session, unit: OrgUnit, month: str, this_month: Figures, length: int = 12) -> list[Figures]:
    """One Figures per month of the `length` months ending with `month` (months with no rows:
    zero); `this_month` is the selected month's total, already computed by the caller."""
    span = months.window(month, length)
    points = {month: replace(this_month, key=month)}
    for m in span[:-1]:
        point = kept.get(_key(session, unit, m, "month"))
        if point is not None:
            points[m] = point
    missing = [m for m in span if m not in points]
    if missing:
        found = {row[0]: _figures(row[0], row[1:]) for row in session.execute(
            select(LearnerMonth.month, *_sums())
            .where(LearnerMonth.month.in_(missing), jurisdiction.month_rows_within(unit))
            .group_by(LearnerMonth.month))}
        for m in missing:
            points[m] = found.get(m, Figures(m))
            kept.put(_key(session, unit, m, "month"), points[m], kept.PAST_TTL_S)
    return [replace(points[m]) for m in span]


def flag_outcomes(session: Session, unit: OrgUnit, month: str) -> dict[str, int]:
    """{status: count} of the proctoring flags raised in the month on people of the subtree (in
    the unit they belonged to that month)."""
    return dict(kept.kept(_key(session, unit, month, "flags"), _ttl(session, unit, month),
                          lambda: _flag_outcomes(session, unit, month)))


def _flag_outcomes(session: Session, unit: OrgUnit, month: str) -> dict[str, int]:
    start, end = months.bounds(month, current_app.config["BABEL_DEFAULT_TIMEZONE"])
    rows = session.execute(
        select(ProctorFlag.status, func.count(ProctorFlag.id))
        .join(LearnerMonth, and_(LearnerMonth.learner_id == ProctorFlag.learner_id, LearnerMonth.month == month))
        .where(jurisdiction.month_rows_within(unit), ProctorFlag.raised_at >= start, ProctorFlag.raised_at < end)
        .group_by(ProctorFlag.status)).all()
    return {getattr(status, "value", status): int(n) for status, n in rows}


@dataclass
class Person:
    learner_id: int
    name: str
    username: str
    unit_name: str
    hours: float
    required_h: float
    met: bool
    flags_open: int
    rollcalls: int
    absences: int


SEARCH_COUNT_CAP = 1000     # a search counts its matches up to here ("1000+")


def _people_order(unit: OrgUnit) -> tuple:
    """A township's people by name; above, by the unit below, then as the rows were made: the
    order of the (month, lk, lk+1) index, so a page is read without sorting the whole subtree."""
    level = depth(unit)
    if level >= LEVELS:
        return (User.display_name, LearnerMonth.id)
    return (getattr(LearnerMonth, f"l{level + 1}"), LearnerMonth.id)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def people(session: Session, unit: OrgUnit, month: str, search: str = "", page: int = 1,
           per_page: int = 50) -> tuple[list[Person], int | None]:
    """One page of the people counted in the unit's subtree that month (_people_order), and the
    number matching `search` (name or username), counted up to SEARCH_COUNT_CAP + 1; None without
    a search (the caller has the total)."""
    where = [LearnerMonth.month == month, jurisdiction.month_rows_within(unit)]
    if search:
        pattern = _like(search)
        where.append(or_(User.display_name.ilike(pattern, escape="\\"), User.username.ilike(pattern, escape="\\")))
    m = LearnerMonth
    rows = session.execute(
        select(m.learner_id, User.display_name, User.username, OrgUnit.name, m.credited_s, m.required_s, m.met,
               m.flags_open, m.rollcalls, m.rollcall_absences)
        .join(User, User.id == m.learner_id).join(OrgUnit, OrgUnit.id == m.unit_id)
        .where(*where, jurisdiction.month_rows_within(unit))
        .order_by(*_people_order(unit))
        .limit(per_page).offset((page - 1) * per_page)).all()
    found = None
    if search:
        matching = (select(m.id).join(User, User.id == m.learner_id)
                    .where(*where, jurisdiction.month_rows_within(unit)).limit(SEARCH_COUNT_CAP + 1))
        found = session.scalar(select(func.count()).select_from(matching.subquery()))
    return [Person(r[0], r[1], r[2], r[3], float(r[4]) / 3600, float(r[5]) / 3600, bool(r[6]), int(r[7]),
                   int(r[8]), int(r[9])) for r in rows], found
