"""In-process APScheduler with a durable SQLAlchemy job store (DESIGN: durable jobs).

Started by `python -m webapp` only (not by tests or CLI commands), when SCHEDULER_ENABLED.
"""
from __future__ import annotations

import logging
import time

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import select

from webapp.core import db
from webapp.models import StudySession
from webapp.study.service import finish_session

log = logging.getLogger(__name__)
_app: Flask | None = None


def close_abandoned_sessions(now: float | None = None) -> int:
    """End sittings silent for longer than the ledger's gap: an open breakpoint past its
    deadline counts as missed, and the unconfirmed tail stays uncredited."""
    now = time.time() if now is None else now
    with _app.app_context(), db.write_transaction() as session:
        horizon = now - max(2 * _app.config["LEDGER_MAX_GAP_S"], _app.config["BREAKPOINT_ANSWER_S"])
        stale = session.scalars(select(StudySession).where(
            StudySession.ended_at.is_(None),
            StudySession.last_at.is_not(None) & (StudySession.last_at < horizon)
            | StudySession.last_at.is_(None) & (StudySession.started_at < horizon))).all()
        for study in stale:
            finish_session(session, study, now, confirmed=False)
            study.end_reason = "abandoned"
        session.commit()
        return len(stale)


def purge_expired_evidence() -> int:
    """Retention: delete evidence snapshots past EVIDENCE_RETENTION_DAYS (flags stay)."""
    from webapp.proctor.evidence import purge_expired_evidence as purge
    with _app.app_context(), db.write_transaction() as session:
        return purge(session)


def conference_reminders() -> int:
    """Send the conference reminders whose time has come (webapp.conferences.reminders)."""
    from webapp.conferences.reminders import send_due_reminders
    from webapp.models import utcnow
    with _app.app_context(), db.write_transaction() as session:
        return send_due_reminders(session, utcnow())


def end_overdue_conferences() -> int:
    """End live conferences well past their scheduled end (webapp.conferences.live)."""
    from webapp.conferences.live import end_overdue_conferences as end_overdue
    from webapp.models import utcnow
    with _app.app_context(), db.write_transaction() as session:
        return len(end_overdue(_app, session, utcnow()))


def credit_education_sessions() -> int:
    """Credit group education sessions of ended conferences not credited yet: their end went by a
    path that did not credit, or the credit failed (webapp.conferences.education_credit). The
    start-up `recover` does the same once; this does not wait for a restart."""
    from webapp.conferences.education_credit import credit_ended_sessions
    with _app.app_context(), db.write_transaction() as session:
        done = credit_ended_sessions(session)
        session.commit()
        return len(done)


def compliance_refresh() -> int:
    """The unit pages' months (webapp.compliance.rollup): this month's rows created at the start
    of a month and refreshed from the raw tables (flags, roll calls, credit), last month's once more
    after its end."""
    from webapp.compliance import scheduled_refresh
    with _app.app_context():
        return scheduled_refresh(db.write_transaction)


def anonymise_expired_people() -> int:
    """Retention (webapp.people.retention): personal data of people whose supervision ended more
    than PERSONAL_DATA_RETENTION_DAYS ago is anonymised; their figures stay."""
    from webapp.models import utcnow
    from webapp.people import anonymise_expired
    with _app.app_context(), db.write_transaction() as session:
        done = anonymise_expired(session, utcnow(), _app.config["PERSONAL_DATA_RETENTION_DAYS"])
        session.commit()
        return len(done)


def purge_old_audit() -> int:
    """Retention: audit rows older than AUDIT_RETENTION_DAYS (at least six months) are deleted."""
    from webapp.models import utcnow
    from webapp.people import purge_old_audit as purge
    with _app.app_context(), db.write_transaction() as session:
        done = purge(session, utcnow(), _app.config["AUDIT_RETENTION_DAYS"])
        session.commit()
        return done


def study_reminders() -> int:
    """Remind the supervisees behind this month through REMINDER_CHANNEL (webapp.attention.reminders;
    off by default). Never raises: a failed send is a row, anything else is logged."""
    from webapp.attention import send_study_reminders
    try:
        with _app.app_context():
            return sum(send_study_reminders().values())
    except Exception:
        log.exception("study reminders")
        return 0


def start(app: Flask) -> BackgroundScheduler:
    global _app
    _app = app
    scheduler = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(url=db.database_url(app.config["DATABASE_URL"]))},
                                    timezone=app.config["BABEL_DEFAULT_TIMEZONE"])
    scheduler.add_job(close_abandoned_sessions, "interval", minutes=5, id="close_abandoned_sessions",
                      replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(purge_expired_evidence, "interval", hours=1, id="purge_expired_evidence",
                      replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(conference_reminders, "interval", minutes=1, id="conference_reminders",
                      replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(end_overdue_conferences, "interval", minutes=1, id="end_overdue_conferences",
                      replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(credit_education_sessions, "interval", minutes=5, id="credit_education_sessions",
                      replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(compliance_refresh, "interval", minutes=app.config.get("COMPLIANCE_REFRESH_MIN", 10),
                      id="compliance_refresh", replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(anonymise_expired_people, "interval", hours=24, id="anonymise_expired_people",
                      replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(purge_old_audit, "interval", hours=24, id="purge_old_audit",
                      replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(study_reminders, "cron", hour=app.config.get("REMINDER_HOUR", 19), id="study_reminders",
                      replace_existing=True, coalesce=True, max_instances=1)
    scheduler.start()
    log.info("scheduler started")
    return scheduler


def main() -> int:
    """`python -m webapp.scheduler`: the one scheduler process of the production mode (README
    "Production mode"). Its jobs reach live conferences through the media process (MEDIA_MODE=remote)
    and browsers through the Socket.IO message queue. SIGTERM or Ctrl-C stops it."""
    import signal
    import threading

    from webapp.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Through the module's import name: run as __main__, the jobs would be stored under
    # "__main__:..." references that no other process can load.
    from webapp import scheduler as this_module
    scheduler = this_module.start(app)
    print("scheduler ready", flush=True)
    try:
        stop.wait()
    finally:
        scheduler.shutdown()
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
