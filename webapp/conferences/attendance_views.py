"""Roll-call attendance on the web: the table of one roll call, host overrides, CSV/XLSX export.

Who sees a roll call: the host officer and the staff of the host unit see every row; an officer
whose unit's subtree contains some of the people called sees only those rows. Anyone else gets
404. Only the host side may override an outcome, and an override needs a reason (audited).
"""
from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import SelectField, TextAreaField
from wtforms.validators import Length, ValidationError

from proctoring.rollcall import override_outcome

from webapp.core import db, jurisdiction, spreadsheets
from webapp.core.access import STAFF, allow
from webapp.core.audit import audit
from webapp.conferences.views import to_local
from webapp.models import AttendanceOutcome, AttendanceRecord, Conference, RollCall, User, utcnow

bp = Blueprint("attendance", __name__, url_prefix="/conferences")

REASON_MAX = 500
OUTCOME_NAMES = {AttendanceOutcome.PRESENT_VERIFIED: _l("Present (identity verified)"),
                 AttendanceOutcome.PRESENT_UNVERIFIED: _l("Present (not verified)"),
                 AttendanceOutcome.ABSENT: _l("Absent"),
                 AttendanceOutcome.LEFT_EARLY: _l("Left early")}


def outcome_name(outcome: AttendanceOutcome | None) -> str:
    return str(OUTCOME_NAMES[outcome]) if outcome is not None else ""


def is_host_side(conference: Conference) -> bool:
    return current_user.role in STAFF and (conference.host_officer_id == current_user.id
                                           or conference.host_unit_id == current_user.unit_id)


def _load(conference_id: int, rollcall_id: int) -> tuple[Conference, RollCall, list[AttendanceRecord], bool]:
    """The conference, the roll call and the records the current user may see; 404 when none."""
    session = db.session()
    conference = session.get(Conference, conference_id)
    rollcall = session.get(RollCall, rollcall_id)
    if conference is None or rollcall is None or rollcall.conference_id != conference.id:
        abort(404)
    records = session.scalars(select(AttendanceRecord).where(AttendanceRecord.roll_call_id == rollcall.id)
                              .options(joinedload(AttendanceRecord.user).joinedload(User.unit))).all()
    host = is_host_side(conference)
    if not host:
        records = [r for r in records if jurisdiction.contains(current_user.unit, r.user.unit)]
        if not records:
            abort(404)
    records = sorted(records, key=lambda r: (r.user.unit.path, r.user.display_name, r.id))
    return conference, rollcall, records, host


def scores_summary(scores_json: str) -> str:
    try:
        scores = json.loads(scores_json or "{}")
    except ValueError:
        return ""
    if not isinstance(scores, dict):
        return ""
    parts = []
    for key, value in scores.items():
        if isinstance(value, bool) or value is None:
            parts.append(f"{key}={value}")
        elif isinstance(value, float):
            parts.append(f"{key}={value:.2f}")
        elif isinstance(value, (int, str)):
            parts.append(f"{key}={value}")
    text = ", ".join(parts)
    return text if len(text) <= 200 else text[:199] + "…"


def _row(record: AttendanceRecord) -> dict:
    return {"record": record, "name": record.user.display_name, "unit": record.user.unit.name,
            "effective": outcome_name(record.effective_outcome), "original": outcome_name(record.outcome),
            "overridden": record.overridden_outcome is not None,
            "override_reason": record.override_reason or "",
            "recorded_at": to_local(record.recorded_at).strftime("%Y-%m-%d %H:%M:%S"),
            "scores": scores_summary(record.scores_json)}


def _required_reason(form, field):
    if not (field.data or "").strip():
        raise ValidationError(_("Give a reason for the override."))


class OverrideForm(FlaskForm):
    outcome = SelectField(_l("New outcome"), choices=[(o.value, OUTCOME_NAMES[o]) for o in AttendanceOutcome],
                          validate_choice=False)
    reason = TextAreaField(_l("Reason (required)"), validators=[
        _required_reason, Length(max=REASON_MAX, message=_l("The reason may be at most %(n)d characters.",
                                                            n=REASON_MAX))])

    def validate_outcome(self, field):
        if field.data not in {o.value for o in AttendanceOutcome}:
            raise ValidationError(_("Choose one of the outcomes."))


@bp.route("/<int:conference_id>/rollcalls/<int:rollcall_id>")
@allow(*STAFF)
def rollcall(conference_id: int, rollcall_id: int):
    conference, call, records, host = _load(conference_id, rollcall_id)
    return render_template("conferences/rollcall.html", conference=conference, rollcall=call,
                           rows=[_row(r) for r in records], host=host, to_local=to_local,
                           outcomes=[(o.value, OUTCOME_NAMES[o]) for o in AttendanceOutcome], reason_max=REASON_MAX)


@bp.route("/<int:conference_id>/rollcalls/<int:rollcall_id>/records/<int:record_id>/override", methods=["POST"])
@allow(*STAFF)
def override(conference_id: int, rollcall_id: int, record_id: int):
    conference, call, records, host = _load(conference_id, rollcall_id)
    record = next((r for r in records if r.id == record_id), None)
    if record is None:
        abort(404)
    if not host:
        abort(403)
    form = OverrideForm()
    back = redirect(url_for("attendance.rollcall", conference_id=conference.id, rollcall_id=call.id)), 303
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        for errors in (form.outcome.errors, form.reason.errors):
            for message in errors:
                flash(str(message), "error")
        return back
    now = utcnow()
    try:
        decided = override_outcome(record.user_id, record.effective_outcome.value, form.outcome.data,
                                   form.reason.data, current_user.id, now.timestamp(), max_reason=REASON_MAX)
    except ValueError:
        abort(400)
    record.overridden_outcome = AttendanceOutcome(decided.outcome.value)
    record.override_reason = decided.reason
    record.overridden_by_id = current_user.id
    record.overridden_at = now
    audit("attendance_overridden", target=f"attendance_record:{record.id}",
          detail=f"rollcall:{call.id} user:{record.user_id} previous:{decided.previous.value} "
                 f"new:{decided.outcome.value} reason:{decided.reason}", commit=False)
    db.session().commit()
    flash(_("Attendance outcome corrected."), "success")
    return back


def _export_header() -> list[str]:
    return [_("Person"), _("Unit"), _("Outcome"), _("Recorded outcome"), _("Override reason"), _("Recorded at"),
            _("Scores")]


def _export_rows(records: list[AttendanceRecord]) -> list[list[str]]:
    out = []
    for record in records:
        row = _row(record)
        out.append([row["name"], row["unit"], row["effective"], row["original"], row["override_reason"],
                    row["recorded_at"], row["scores"]])
    return out


@bp.route("/<int:conference_id>/rollcalls/<int:rollcall_id>/export.csv")
@allow(*STAFF)
def export_csv(conference_id: int, rollcall_id: int):
    conference, call, records, _host = _load(conference_id, rollcall_id)
    body = spreadsheets.csv_bytes(_export_header(), _export_rows(records))
    audit("attendance_exported", target=f"rollcall:{call.id}",
          detail=f"conference:{conference.id} format:csv rows:{len(records)}")
    return spreadsheets.attachment(body, spreadsheets.CSV_MIMETYPE, f"rollcall-{conference.id}-{call.id}.csv")


@bp.route("/<int:conference_id>/rollcalls/<int:rollcall_id>/export.xlsx")
@allow(*STAFF)
def export_xlsx(conference_id: int, rollcall_id: int):
    conference, call, records, _host = _load(conference_id, rollcall_id)
    body = spreadsheets.xlsx_bytes([(f"rollcall-{call.id}", _export_header(), _export_rows(records))])
    audit("attendance_exported", target=f"rollcall:{call.id}",
          detail=f"conference:{conference.id} format:xlsx rows:{len(records)}")
    return spreadsheets.attachment(body, spreadsheets.XLSX_MIMETYPE, f"rollcall-{conference.id}-{call.id}.xlsx")


def records_of(user_id: int, limit: int = 200) -> list[dict]:
    """One supervisee's attendance records, newest first (the officer's record page)."""
    rows = db.session().execute(
        select(AttendanceRecord, Conference).join(RollCall, RollCall.id == AttendanceRecord.roll_call_id)
        .join(Conference, Conference.id == RollCall.conference_id)
        .where(AttendanceRecord.user_id == user_id)
        .order_by(AttendanceRecord.recorded_at.desc()).limit(limit)).all()
    return [{"title": conference.title, "conference_id": conference.id, "rollcall_id": record.roll_call_id,
             "at": to_local(record.recorded_at).strftime("%Y-%m-%d %H:%M"),
             "outcome": outcome_name(record.effective_outcome), "overridden": record.overridden_outcome is not None}
            for record, conference in rows]
