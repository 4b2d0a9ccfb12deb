"""The unit page (officer.dashboard renders it): parse the query string, run the SQL aggregates,
render. The caller has checked the role and loaded the unit through access.unit_or_404."""
from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from webapp.compliance import months, queries
from webapp.core import db, jurisdiction
from webapp.models import OrgUnit
from webapp.study import current_month

PER_PAGE = 50
MAX_PAGE = 100_000
MAX_SEARCH = 50
FLAG_STATUSES = ("open", "confirmed", "dismissed")


def _bad_request(message: str):
    return render_template("error.html", status=400, message=message), 400


def _month_error(reason: str) -> str:
    return {"future": _("The month cannot be in the future."),
            "too_old": _("There are no figures before 2000.")}.get(
        reason, _("The month must be written as YYYY-MM, for example 2026-03."))


def _breadcrumb(session, unit: OrgUnit) -> list[tuple[int, str]]:
    """The unit's ancestors from the viewer's own unit down (nothing above the viewer)."""
    ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    rows = dict(session.execute(select(OrgUnit.id, OrgUnit.name).where(
        OrgUnit.id.in_(ids), jurisdiction.unit_within(current_user.unit))).all())
    return [(i, rows[i]) for i in ids if i in rows]


def unit_page(unit: OrgUnit):
    session = db.session()
    current = current_month()
    try:
        month = months.parse_month(request.args.get("month"), current)
    except months.BadMonth as exc:
        return _bad_request(_month_error(exc.reason))
    search = (request.args.get("q") or "").strip()
    if len(search) > MAX_SEARCH:
        return _bad_request(_("The search is too long (at most %(n)d characters).", n=MAX_SEARCH))
    try:
        page = int(request.args.get("page") or 1)
    except ValueError:
        page = 0
    if not 1 <= page <= MAX_PAGE:
        return _bad_request(_("The page number must be a whole number from 1 to %(n)d.", n=MAX_PAGE))
    children, direct = queries.by_child_unit(session, unit, month)
    overall = queries.total(children, direct)
    people, found = queries.people(session, unit, month, search, page, PER_PAGE)
    matching = overall.people if found is None else found
    outcomes = queries.flag_outcomes(session, unit, month)
    return render_template(
        "compliance/unit.html", unit=unit, month=month, current=current, children=children, direct=direct,
        overall=overall, trend=queries.trend(session, unit, month, overall), outcomes=outcomes,
        capped=found is not None and found > queries.SEARCH_COUNT_CAP,
        flag_statuses=FLAG_STATUSES, people=people, search=search, page=page, per_page=PER_PAGE,
        pages=max(1, -(-matching // PER_PAGE)), matching=matching, breadcrumb=_breadcrumb(session, unit),
        level=queries.depth(unit), year_ago=months.shift(month, -11),
        timezone=current_app.config["BABEL_DEFAULT_TIMEZONE"])
