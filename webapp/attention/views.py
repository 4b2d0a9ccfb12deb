"""The officer's "What needs attention" page, /officer/attention: supervisees behind this month,
open flags by age, upcoming conferences, pending VR assignments, and the reminders sent.

Staff only; the lists are limited to the viewer's unit's subtree, or to `?unit=` within it
(access.unit_or_404: another unit answers 404). Each list is one page (`?page=` for the people
behind, `?flags_page=`, `?conf_page=`, `?vr_page=`, `?reminders_page=` for the others)."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from conferencing.rules import ConferenceScope, levels_from_text, may_join
from webapp.attention import queries
from webapp.attention.behind import Severity
from webapp.core import db
from webapp.core.access import STAFF, allow, requested_unit
from webapp.proctor import KIND_LABELS
from webapp.models import Role

bp = Blueprint("attention", __name__, url_prefix="/officer", template_folder="templates")

PER_PAGE = 25
MAX_PAGE = 100_000
PAGE_ARGS = ("page", "flags_page", "conf_page", "vr_page", "reminders_page")

SEVERITY_LABELS = {Severity.BEHIND: _l("Behind"), Severity.FAR_BEHIND: _l("Far behind"),
                   Severity.CANNOT_MEET: _l("Can no longer make it")}
AGE_LABELS = {"lt1": _l("Under 1 day"), "d1_3": _l("1 to 3 days"), "d3_7": _l("3 to 7 days"),
              "gt7": _l("Over 7 days")}
REMINDER_STATUS = {"sent": _l("Sent"), "failed": _l("Failed"), "no_contact": _l("No phone number")}


def _pages() -> dict[str, int] | None:
    out = {}
    for name in PAGE_ARGS:
        raw = request.args.get(name) or "1"
        try:
            value = int(raw)
        except ValueError:
            return None
        if not 1 <= value <= MAX_PAGE:
            return None
        out[name] = value
    return out


def _local(value: datetime | float | None) -> str:
    if value is None:
        return ""
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    moment = (datetime.fromtimestamp(value, timezone.utc) if isinstance(value, (int, float))
              else value.replace(tzinfo=timezone.utc))
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _may_open(conference: queries.UpcomingConference) -> bool:
    """Whether the viewer may open the conference's page (conferences.conference_or_404's rule)."""
    try:
        scope = ConferenceScope(host_unit_path=conference.host_unit_path, host_level=conference.host_unit_level,
                                levels=levels_from_text(conference.levels),
                                include_supervisees=conference.include_supervisees)
    except ValueError:
        return False
    return may_join(scope, current_user.unit.path, current_user.unit.level,
                    is_supervisee=current_user.role == Role.SUPERVISEE)


@bp.route("/attention")
@allow(*STAFF)
def page():
    unit = requested_unit()
    pages = _pages()
    if pages is None:
        return render_template("error.html", status=400, message=_(
            "The page number must be a whole number from 1 to %(n)d.", n=MAX_PAGE)), 400
    session = db.session()
    now = datetime.now(timezone.utc)
    month, pace = queries.month_pace()
    days = int(current_app.config.get("ATTENTION_CONFERENCE_DAYS", 7))
    behind = queries.behind_page(session, unit, month, pace, pages["page"], PER_PAGE)
    flags = queries.open_flags_page(session, unit, time.time(), pages["flags_page"], PER_PAGE)
    conferences = queries.conferences_page(session, unit, current_user, now.replace(tzinfo=None), days,
                                           pages["conf_page"], PER_PAGE)
    vr = queries.pending_vr_page(session, unit, pages["vr_page"], PER_PAGE)
    reminders = queries.reminders_page(session, unit, month, pages["reminders_page"], PER_PAGE)
    return render_template(
        "attention/page.html", unit=unit, month=month, pace=pace, behind=behind, flags=flags,
        conferences=conferences, vr=vr, reminders=reminders, days=days, pages=pages, local=_local,
        may_open=_may_open, severity_labels=SEVERITY_LABELS, age_labels=AGE_LABELS,
        age_buckets=queries.AGE_BUCKETS, reminder_status=REMINDER_STATUS, flag_kinds=KIND_LABELS,
        channel=current_app.config.get("REMINDER_CHANNEL") or "",
        unit_arg=unit.id if unit.id != current_user.unit_id else None)
