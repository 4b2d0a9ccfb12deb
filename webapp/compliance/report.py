"""The monthly compliance report of a unit, as rows: one per unit below it (what the unit page
shows), the people attached to the unit itself, the total; and every person of the subtree that
month, in the unit they belonged to then. The XLSX/CSV/PDF writers and the views share these."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.compliance import queries
from webapp.core import jurisdiction
from webapp.models import LearnerMonth, OrgUnit, User


@dataclass
class UnitReport:
    unit: OrgUnit
    month: str
    children: list[queries.Figures]
    direct: queries.Figures | None
    overall: queries.Figures
    trend: list[queries.Figures]
    outcomes: dict[str, int]


def build(session: Session, unit: OrgUnit, month: str) -> UnitReport:
    children, direct = queries.by_child_unit(session, unit, month)
    overall = queries.total(children, direct)
    return UnitReport(unit, month, children, direct, overall, queries.trend(session, unit, month, overall),
                      queries.flag_outcomes(session, unit, month))


def unit_header() -> list[str]:
    return [_("Unit"), _("Supervisees"), _("Met the requirement"), _("Share met (%)"), _("Hours credited"),
            _("Open flags"), _("Flags raised"), _("Roll calls"), _("Absences at roll calls")]


def _unit_row(name: str, f: queries.Figures) -> list:
    return [name, f.people, f.met, f.share if f.share is not None else "", round(f.hours, 1), f.flags_open,
            f.flags_raised, f.rollcalls, f.absences]


def unit_rows(report: UnitReport) -> list[list]:
    rows = [_unit_row(f.name, f) for f in report.children]
    if report.direct is not None:
        rows.append(_unit_row(_("Directly in %(unit)s", unit=report.unit.name), report.direct))
    rows.append(_unit_row(_("Total"), report.overall))
    return rows


def trend_header() -> list[str]:
    return [_("Month"), _("Supervisees"), _("Met the requirement"), _("Share met (%)"), _("Hours credited")]


def trend_rows(report: UnitReport) -> list[list]:
    return [[f.key, f.people, f.met, f.share if f.share is not None else "", round(f.hours, 1)]
            for f in report.trend]


FLAG_STATUSES = ("open", "confirmed", "dismissed")


def outcome_rows(report: UnitReport) -> list[list]:
    names = {"open": _("Awaiting review"), "confirmed": _("Confirmed"), "dismissed": _("Dismissed")}
    return [[names[s], report.outcomes.get(s, 0)] for s in FLAG_STATUSES]


def people_header() -> list[str]:
    return [_("Name"), _("Username"), _("Unit"), _("Hours credited"), _("Hours required"),
            _("Met the requirement"), _("Open flags"), _("Roll calls"), _("Absences at roll calls")]


def people_rows(session: Session, unit: OrgUnit, month: str, chunk: int = 2000) -> Iterator[list]:
    """Every person counted in the unit's subtree that month, by unit then name, streamed."""
    yes, no = _("yes"), _("no")
    m = LearnerMonth
    query = (select(User.display_name, User.username, OrgUnit.name, m.credited_s, m.required_s, m.met,
                    m.flags_open, m.rollcalls, m.rollcall_absences)
             .join(User, User.id == m.learner_id).join(OrgUnit, OrgUnit.id == m.unit_id)
             .where(m.month == month, jurisdiction.month_rows_within(unit))
             .order_by(OrgUnit.path, User.display_name, m.id)
             .execution_options(yield_per=chunk))
    for name, username, unit_name, credited, required, met, flags_open, calls, absences in session.execute(query):
        yield [name, username, unit_name, round(credited / 3600, 2), round(required / 3600, 2), yes if met else no,
               flags_open, calls, absences]
