"""A group education session's attendance on the web: per person, the minutes present, the
checks passed and failed by kind, the minutes attended (bracketed by passed checks) and the
minutes credited to the monthly hours; the session's totals; CSV and XLSX exports. The figures
come from webapp.conferences.education_credit (the same rules the ledger used).

Who sees it: the officers (and administrators) of the host unit and of the units above it. An
officer who may see the conference but is not among them (an included lower level) gets 403;
anyone who may not see the conference, or a conference without a session, 404; a supervisee 403.
The routes are on the conferences blueprint (registered by webapp.conferences.views).
"""
from __future__ import annotations

import time

from flask import abort, render_template
from flask_babel import gettext as _
from flask_login import current_user

from webapp.conferences import education_store
from webapp.conferences.education_credit import PersonRow, attendance_table
from webapp.conferences.views import bp, to_local, user_may_join
from webapp.core import db, jurisdiction, spreadsheets
from webapp.core.access import STAFF, allow
from webapp.core.audit import audit
from webapp.models import Conference, ConferenceStatus, Course, EducationSession

KINDS = ("face", "officer", "terminal")


def may_view(conference: Conference) -> bool:
    """The current user is staff of the host unit or of a unit above it."""
    return current_user.role in STAFF and jurisdiction.contains(current_user.unit, conference.host_unit)


def _load(conference_id: int) -> tuple[Conference, EducationSession]:
    session = db.session()
    conference = session.get(Conference, conference_id)
    if conference is None:
        abort(404)
    if not may_view(conference):
        abort(403 if user_may_join(conference) else 404)
    edu = education_store.session_for(session, conference.id)
    if edu is None:
        abort(404)
    return conference, edu


def minutes(seconds: float) -> float:
    return round(seconds / 60.0, 2)


def kind_names() -> dict[str, str]:
    return {"face": _("Face check"), "officer": _("Officer's confirmation"), "terminal": _("Terminal check-in")}


def _table(conference: Conference, edu: EducationSession) -> tuple[list[PersonRow], dict]:
    rows = attendance_table(db.session(), edu, time.time())    # presence still open counts to now
    learners = [r for r in rows if r.supervisee]
    totals = {"people": len(rows), "supervisees": len(learners),
              "credited_people": sum(1 for r in learners if r.credited_s > 0),
              "present_min": minutes(sum(r.present_s for r in learners)),
              "attended_min": minutes(sum(r.attended_s for r in learners)),
              "credited_min": minutes(sum(r.credited_s for r in learners)),
              "checks": {(k, ok): sum(r.count(k, ok) for r in learners) for k in KINDS for ok in (True, False)}}
    return rows, totals


def _header() -> list[str]:
    names = kind_names()
    head = [_("Person"), _("Unit"), _("Supervisee"), _("Present (minutes)")]
    for kind in KINDS:
        head += [_("%(kind)s passed", kind=names[kind]), _("%(kind)s failed", kind=names[kind])]
    return head + [_("Attended (minutes)"), _("Credited (minutes)")]


def _cells(row: PersonRow) -> list:
    out = [row.name, row.unit, _("Yes") if row.supervisee else _("No"), minutes(row.present_s)]
    for kind in KINDS:
        out += [row.count(kind, True), row.count(kind, False)]
    return out + [minutes(row.attended_s), minutes(row.credited_s) if row.supervisee else ""]


def _total_cells(totals: dict) -> list:
    out = [_("Total (supervisees)"), "", totals["supervisees"], totals["present_min"]]
    for kind in KINDS:
        out += [totals["checks"][(kind, True)], totals["checks"][(kind, False)]]
    return out + [totals["attended_min"], totals["credited_min"]]


def _subject(edu: EducationSession) -> str:
    course = db.session().get(Course, edu.course_id) if edu.course_id else None
    return course.title if course is not None else edu.topic


@bp.route("/<int:conference_id>/education")
@allow(*STAFF)
def education(conference_id: int):
    conference, edu = _load(conference_id)
    rows, totals = _table(conference, edu)
    return render_template("conferences/education_attendance.html", conference=conference, edu=edu,
                           subject=_subject(edu), header=_header(), rows=[_cells(r) for r in rows],
                           totals=_total_cells(totals), summary=totals, to_local=to_local,
                           ended=conference.status in (ConferenceStatus.ENDED, ConferenceStatus.CANCELLED))


@bp.route("/<int:conference_id>/education/export.csv")
@allow(*STAFF)
def education_export_csv(conference_id: int):
    conference, edu = _load(conference_id)
    rows, totals = _table(conference, edu)
    body = spreadsheets.csv_bytes(_header(), [_cells(r) for r in rows] + [_total_cells(totals)])
    audit("education_attendance_exported", target=f"conference:{conference.id}",
          detail=f"education_session:{edu.id} format:csv rows:{len(rows)}")
    return spreadsheets.attachment(body, spreadsheets.CSV_MIMETYPE, f"education-{conference.id}.csv")


@bp.route("/<int:conference_id>/education/export.xlsx")
@allow(*STAFF)
def education_export_xlsx(conference_id: int):
    conference, edu = _load(conference_id)
    rows, totals = _table(conference, edu)
    body = spreadsheets.xlsx_bytes([(f"education-{conference.id}", _header(),
                                     [_cells(r) for r in rows] + [_total_cells(totals)])])
    audit("education_attendance_exported", target=f"conference:{conference.id}",
          detail=f"education_session:{edu.id} format:xlsx rows:{len(rows)}")
    return spreadsheets.attachment(body, spreadsheets.XLSX_MIMETYPE, f"education-{conference.id}.xlsx")
