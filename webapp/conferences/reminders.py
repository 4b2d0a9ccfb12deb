"""Conference reminders: 24 h, 1 h and 10 min before the start (conference_rules.DEFAULT_REMINDERS).

`send_due_reminders` is run every minute by the scheduler (webapp.scheduler). A reminder is due
once its time has come; it is sent as a Socket.IO "conference_reminder" to the private room
(`user:<id>`) of every active user who may join, and recorded in conference_reminder_sent so it
is never sent twice. Reminders whose time had already passed when the conference was scheduled
are never sent (conference_rules.reminder_times from the creation time), and when several are
due at once (the scheduler was down) only the latest is sent: the older ones are recorded as
passed over. Cancelled, live and ended conferences get none.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask import current_app, has_request_context, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conferencing.rules import DEFAULT_REMINDERS, ConferenceScope, levels_from_text, may_join, \
    reminder_times

from webapp.core import jurisdiction
from webapp.extensions import socketio
from webapp.models import Conference, ConferenceReminderSent, ConferenceStatus, OrgUnit, Role, User

EVENT = "conference_reminder"


def _detail_path(conference_id: int) -> str:
    if has_request_context():
        return url_for("conferences.detail", conference_id=conference_id)
    adapter = current_app.url_map.bind(current_app.config.get("SERVER_NAME") or "localhost",
                                       script_name=current_app.config.get("APPLICATION_ROOT") or "/")
    return adapter.build("conferences.detail", {"conference_id": conference_id})


def _scope(conference: Conference) -> ConferenceScope:
    return ConferenceScope(host_unit_path=conference.host_unit.path, host_level=conference.host_unit.level,
                           levels=levels_from_text(conference.levels),
                           include_supervisees=conference.include_supervisees)


def recipients(session: Session, conference: Conference) -> list[int]:
    """Ids of the active users who may join: looked up among the users of the host's subtree."""
    try:
        scope = _scope(conference)
    except ValueError:
        return []
    rows = session.execute(select(User.id, User.role, OrgUnit.path, OrgUnit.level)
                           .join(OrgUnit, OrgUnit.id == User.unit_id)
                           .where(jurisdiction.unit_within(scope.host_unit_path), User.active.is_(True))
                           .order_by(User.id)).all()
    return [uid for uid, role, path, level in rows
            if may_join(scope, path, level, is_supervisee=role == Role.SUPERVISEE)]


def payload(conference: Conference, before: timedelta) -> dict:
    return {
        "conference_id": conference.id,
        "title": conference.title,
        "starts_at": conference.starts_at.replace(tzinfo=timezone.utc).isoformat(timespec="seconds"),
        "minutes_before": int(before.total_seconds() // 60),
        "url": _detail_path(conference.id),
    }


def send_due_reminders(session: Session, now: datetime,
                       before: tuple[timedelta, ...] = DEFAULT_REMINDERS) -> int:
    """Send the reminders whose time has come and that were not sent yet; `now` is naive UTC
    (as stored). Needs an app context. Commits. Returns the number of reminders sent (one per
    conference and offset, whatever the number of recipients)."""
    horizon = now + max(before)
    due_rows = session.scalars(select(Conference).where(Conference.status == ConferenceStatus.SCHEDULED,
                                                        Conference.starts_at > now,
                                                        Conference.starts_at <= horizon)
                               .order_by(Conference.starts_at, Conference.id)).all()
    sent = 0
    for conference in due_rows:
        done = set(session.scalars(select(ConferenceReminderSent.before_s)
                                   .where(ConferenceReminderSent.conference_id == conference.id)))
        # Only the reminders still to come when the conference was scheduled...
        planned = reminder_times(conference.starts_at, conference.created_at or now, before)
        # ... whose time has come, not yet recorded.
        due = [r for r in planned if r.at <= now and int(r.before.total_seconds()) not in done]
        if not due:
            continue
        latest = min(due, key=lambda r: r.before)       # the one closest to the start
        for reminder in due:
            session.add(ConferenceReminderSent(conference_id=conference.id,
                                               before_s=int(reminder.before.total_seconds()), sent_at=now))
        try:
            session.commit()                            # record first: a second run sends nothing
        except IntegrityError:                          # another run got there first
            session.rollback()
            continue
        body = payload(conference, latest.before)
        for user_id in recipients(session, conference):
            socketio.emit(EVENT, body, to=f"user:{user_id}")
        sent += 1
    return sent
