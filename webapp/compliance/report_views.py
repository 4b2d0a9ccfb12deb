"""Downloads of a unit's monthly compliance: XLSX (the units, the trend and every person), CSV
(the units) and a printable PDF. Role and jurisdiction are checked like the unit page; every
download is audited."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from webapp.compliance import months, report, report_pdf
from webapp.core import db, spreadsheets
from webapp.core.access import STAFF, allow, unit_or_404
from webapp.core.audit import audit
from webapp.core.inputs import parse_int
from webapp.study import current_month

bp = Blueprint("reports", __name__, url_prefix="/officer/report")
FORMATS = ("xlsx", "csv", "pdf")


def _error(message: str, status: int = 400):
    return render_template("error.html", status=status, message=message), status


@bp.route("/monthly.<fmt>")
@allow(*STAFF)
def monthly(fmt: str):
    if fmt not in FORMATS:
        return _error(_("Reports are available as XLSX, CSV or PDF."), 404)
    unit = current_user.unit
    if request.args.get("unit"):
        unit_id = parse_int(request.args.get("unit"))
        if unit_id is None:
            return _error(_("The unit must be a number."))
        unit = unit_or_404(unit_id)
    try:
        month = months.parse_month(request.args.get("month"), current_month())
    except months.BadMonth:
        return _error(_("The month must be written as YYYY-MM, for example 2026-03, and not in the future."))
    session = db.session()
    built = report.build(session, unit, month)
    name = f"compliance-{unit.id}-{month}.{fmt}"
    if fmt == "pdf":
        try:
            body = report_pdf.render(built, current_app.config["REPORT_FONT"],
                                     current_app.config["BABEL_DEFAULT_TIMEZONE"])
        except report_pdf.FontMissing:
            current_app.logger.error("report font missing: %s", current_app.config["REPORT_FONT"])
            return _error(_("The PDF report cannot be made on this server (its Chinese font is not installed). "
                            "Download the XLSX instead."), 503)
        mimetype = "application/pdf"
    elif fmt == "csv":
        body, mimetype = spreadsheets.csv_bytes(report.unit_header(), report.unit_rows(built)), spreadsheets.CSV_MIMETYPE
    else:
        body = spreadsheets.xlsx_bytes([
            (_("By unit"), report.unit_header(), report.unit_rows(built)),
            (_("The last 12 months"), report.trend_header(), report.trend_rows(built)),
            (_("People"), report.people_header(), report.people_rows(session, unit, month)),
        ])
        mimetype = spreadsheets.XLSX_MIMETYPE
    audit("compliance_exported", target=f"unit:{unit.id}", detail=f"month:{month} format:{fmt}", unit=unit)
    return spreadsheets.attachment(body, mimetype, name)
