"""The audit viewer: /officer/audit, its CSV and XLSX exports.

An officer (or an administrator) sees the rows whose unit (AuditLog.unit_id, webapp.core.audit) is
in their subtree; rows with no unit only a top-level administrator (a unit with no parent) sees.
Filters: officer (the actor's username), supervisee (the username of the person a row is about),
action, a date range; a bad filter is a message on the page (400), never an error. Viewing a page
and every export are audited themselves.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import false, or_, select
from sqlalchemy.orm import aliased

from webapp.core import db, jurisdiction, spreadsheets
from webapp.core.access import STAFF, allow
from webapp.core.audit import audit
from webapp.core.inputs import parse_int
from webapp.models import AuditLog, OrgUnit, Role, User
from webapp.people import audit_filters

bp = Blueprint("audit", __name__, url_prefix="/officer/audit", template_folder="templates")

PAGE_SIZE = 50
EXPORT_MAX_ROWS = 100_000
Actor = aliased(User)


def _sees_unattributed() -> bool:
    return current_user.role == Role.ADMIN and current_user.unit.parent_id is None


def _supervisee_target(name: str) -> str | None:
    """"user:<id>" for a supervisee of the viewer's subtree named by username (or by id)."""
    found = db.session().scalar(jurisdiction.users_within(current_user.unit, User.id, role=Role.SUPERVISEE)
                                .where(User.username == name))
    if found is None and parse_int(name) is not None:
        found = parse_int(name)
    return f"user:{found}" if found is not None else None


def _query(f: audit_filters.AuditFilter):
    unattributed = AuditLog.unit_id.is_(None) if _sees_unattributed() else false()
    query = (select(AuditLog, Actor.username, Actor.display_name, OrgUnit.name)
             .outerjoin(Actor, Actor.id == AuditLog.actor_id)
             .outerjoin(OrgUnit, OrgUnit.id == AuditLog.unit_id)
             .where(or_(jurisdiction.unit_within(current_user.unit), unattributed)))
    if f.officer:
        query = query.where(Actor.username == f.officer)
    if f.supervisee:
        target = _supervisee_target(f.supervisee)
        query = query.where(AuditLog.target == target if target else false())
    if f.action:
        query = query.where(AuditLog.action == f.action)
    start, end = f.utc_range(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    if start is not None:
        query = query.where(AuditLog.at >= start)
    if end is not None:
        query = query.where(AuditLog.at < end)
    return query.order_by(AuditLog.at.desc(), AuditLog.id.desc())


def _rows(f: audit_filters.AuditFilter, offset: int, limit: int) -> list[dict]:
    session = db.session()
    found = session.execute(_query(f).offset(offset).limit(limit)).all()
    ids = {parse_int(row.target[5:]) for row, *_rest in found if row.target.startswith("user:")} - {None}
    names = dict(session.execute(jurisdiction.users_within(current_user.unit, User.id, User.display_name)
                                 .where(User.id.in_(ids))).all()) if ids else {}
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    out = []
    for row, actor_username, actor_name, unit_name in found:
        subject = parse_int(row.target[5:]) if row.target.startswith("user:") else None
        local = row.at.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
        out.append({"at": local.strftime("%Y-%m-%d %H:%M:%S"), "actor": actor_name or "",
                    "actor_username": actor_username or "", "action": row.action, "target": row.target,
                    "target_name": names.get(subject, ""), "detail": row.detail, "unit": unit_name or "",
                    "ip": row.ip})
    return out


@bp.route("")
@allow(*STAFF)
def index():
    f = audit_filters.parse(request.args)
    rows, more = [], False
    if not f.errors:
        rows = _rows(f, (f.page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    audit("audit_viewed", detail=f"{f.describe()} page={f.page}", unit=current_user.unit_id)
    pages = {"prev": url_for("audit.index", **f.query_args(), page=f.page - 1) if f.page > 1 else None,
             "next": url_for("audit.index", **f.query_args(), page=f.page + 1) if more else None}
    return render_template("people/audit.html", f=f, rows=rows, pages=pages,
                           errors=[(name, _(message)) for name, message in f.errors]), (400 if f.errors else 200)


def _header() -> list[str]:
    return [_("Time"), _("Acted by"), _("Acted by (username)"), _("Action"), _("Target"), _("Person"), _("Detail"),
            _("Unit"), _("IP address")]


def _cells(row: dict) -> list[str]:
    return [row[k] for k in ("at", "actor", "actor_username", "action", "target", "target_name", "detail", "unit", "ip")]


def _export(fmt: str):
    f = audit_filters.parse(request.args)
    if f.errors:
        return render_template("people/audit.html", f=f, rows=[], pages={},
                               errors=[(name, _(message)) for name, message in f.errors]), 400
    rows = _rows(f, 0, EXPORT_MAX_ROWS + 1)
    truncated, rows = len(rows) > EXPORT_MAX_ROWS, rows[:EXPORT_MAX_ROWS]
    cells = [_cells(row) for row in rows]
    if fmt == "csv":
        body, mimetype = spreadsheets.csv_bytes(_header(), cells), spreadsheets.CSV_MIMETYPE
    else:
        body, mimetype = spreadsheets.xlsx_bytes([("audit", _header(), cells)]), spreadsheets.XLSX_MIMETYPE
    audit("audit_exported", detail=f"{f.describe()} format={fmt} rows={len(rows)}{' truncated' if truncated else ''}",
          unit=current_user.unit_id)
    return spreadsheets.attachment(body, mimetype, f"audit.{fmt}")


@bp.route("/export.csv")
@allow(*STAFF)
def export_csv():
    return _export("csv")


@bp.route("/export.xlsx")
@allow(*STAFF)
def export_xlsx():
    return _export("xlsx")
