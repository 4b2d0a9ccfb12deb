"""The study reminder job: supervisees behind this month's requirement get a message through the
configured channel (webapp.attention.channels; REMINDER_CHANNEL, off by default).

Run once a day by the scheduler (REMINDER_HOUR, the platform's time zone). Who is behind is the
SQL of webapp.attention.queries (the same thresholds as the officer's page). A person is passed
over when they already got a reminder recently: a `sent` or `no_contact` row within
REMINDER_MIN_DAYS_BETWEEN days, or any row today (a `failed` send is tried again the next day, not
the same day), so running the job twice a day sends nothing twice.

Each person gives one StudyReminder row: `sent` (the channel accepted it; detail: its message id),
`failed` (the channel refused or raised; detail: a short reason, the exception's type only) or
`no_contact` (no phone number, or one that cannot be decrypted). Nothing raises out of the job: a
failed send is a row and the job goes on. Each row is committed on its own, right after its send,
in a short write transaction (the network wait holds no write lock), so a crash resends at most
the one message in flight.

The text is in Chinese (the platform's default locale) and holds only the person's own name,
their hours this month, the hours required and the days left.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from webapp.attention import queries
from webapp.attention.behind import Pace
from webapp.attention.channels import ChannelConfigError, ReminderChannel, SendResult, channel_from_config
from webapp.core import db
from webapp.core.face_crypto import InvalidToken, decrypt_blob
from webapp.models import LearnerMonth, Role, StudyReminder, User

log = logging.getLogger(__name__)

SENT, FAILED, NO_CONTACT = "sent", "failed", "no_contact"
BATCH = 200


def reminder_text(name: str, credited_h: float, required_h: float, days_left: int) -> str:
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        return _("%(name)s, you have studied %(done).1f of the %(required).1f hours required this month, and "
                 "%(days)d days are left. Please log in to the study platform and continue your study.",
                 name=name, done=credited_h, required=required_h, days=days_left)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _batch(session, month: str, p: Pace, after_id: int, since: datetime, today: datetime):
    """The next BATCH supervisees (active, not anonymised) behind in `month` with learner id above
    `after_id` and no recent reminder: (id, name, phone_enc, credited_s, required_s)."""
    m, r = LearnerMonth, StudyReminder
    recent = select(r.id).where(r.learner_id == m.learner_id, or_(
        and_(r.status.in_((SENT, NO_CONTACT)), r.sent_at >= since), r.sent_at >= today)).exists()
    return session.execute(
        select(m.learner_id, User.display_name, User.phone_enc, m.credited_s, m.required_s)
        .join(User, User.id == m.learner_id)
        .where(m.month == month, queries.behind_condition(p), m.learner_id > after_id, ~recent,
               User.active.is_(True), User.role == Role.SUPERVISEE, User.anonymised_at.is_(None))
        .order_by(m.learner_id).limit(BATCH)).all()


def _phone(token: bytes | None) -> str | None:
    if not token:
        return None
    try:
        phone = decrypt_blob(token).decode("utf-8").strip()
    except (InvalidToken, UnicodeDecodeError, ValueError):
        return None
    return phone or None


def _deliver(channel: ReminderChannel, phone: str | None, text: str) -> tuple[str, str]:
    if phone is None:
        return NO_CONTACT, "no phone number"
    try:
        result = channel.send(phone, text)
    except Exception as exc:   # a channel's failure is a row, never the job's end
        return FAILED, f"error: {type(exc).__name__}"
    if not isinstance(result, SendResult):
        return FAILED, "channel gave no result"
    return (SENT if result.ok else FAILED), (result.detail or "")[:200]


def send_study_reminders(now: datetime | None = None, channel: ReminderChannel | None = None) -> dict[str, int]:
    """Remind everyone behind this month (needs an app context). Returns {status: rows written};
    {} when the channel is off. Never raises for a person's failure."""
    config = current_app.config
    if channel is None:
        try:
            channel = channel_from_config(config)
        except ChannelConfigError:
            log.exception("study reminders: the channel is misconfigured; nothing sent")
            return {}
    if channel is None:
        return {}
    now = now or queries.clock()
    month, p = queries.month_pace(now)
    zone = ZoneInfo(config["BABEL_DEFAULT_TIMEZONE"])
    local = now.astimezone(zone)
    today = _naive_utc(local.replace(hour=0, minute=0, second=0, microsecond=0))
    since = _naive_utc(now) - timedelta(days=float(config.get("REMINDER_MIN_DAYS_BETWEEN", 3)))
    stamp = _naive_utc(now)
    counts = {SENT: 0, FAILED: 0, NO_CONTACT: 0}
    after = 0
    session = db.session()
    while True:
        rows = _batch(session, month, p, after, since, today)
        session.commit()                         # end the read before the sends
        if not rows:
            break
        for learner_id, name, phone_enc, credited_s, required_s in rows:
            after = learner_id
            text = reminder_text(name, float(credited_s) / 3600.0, float(required_s) / 3600.0, p.days_left)
            status, detail = _deliver(channel, _phone(phone_enc), text)
            try:
                with db.write_transaction(key=("learner", learner_id)) as writer:
                    writer.add(StudyReminder(learner_id=learner_id, month=month, channel=channel.name[:20],
                                             status=status, detail=detail, sent_at=stamp))
                    writer.commit()
            except Exception:
                log.exception("study reminders: could not record the reminder of learner %s", learner_id)
                db.session().rollback()
                continue
            counts[status] += 1
    log.info("study reminders %s: %s", month, counts)
    return counts
