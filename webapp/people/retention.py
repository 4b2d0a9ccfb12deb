"""Retention (issue 14): personal data of people whose supervision ended, and the audit trail.

* `anonymise_expired`: PERSONAL_DATA_RETENTION_DAYS after the end of a supervision, the person's
  name becomes "已注销#<id>", the username "anon-<id>", the ID number, its hash and the phone are
  cleared, the password hash is replaced by one of a random secret (no one can log in), and their
  face enrolments and remaining evidence snapshots are deleted. The account row itself and every
  row pointing at it stay (credit, months, attendance, flags, transfers, audit), so past figures and
  exports keep their numbers. One audit row per person.
* `purge_old_audit`: audit rows older than AUDIT_RETENTION_DAYS are deleted. The Cybersecurity Law
  (Art. 21) asks for network logs to be kept at least six months: a setting below 183 days is
  refused at start-up (`check_retention_config`).
Both run daily from the scheduler (webapp.scheduler); neither commits.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from webapp.core.audit import audit
from webapp.core.security import hash_password
from webapp.models import AuditLog, Evidence, FaceEnrolment, ProctorFlag, User

AUDIT_MINIMUM_DAYS = 183       # six months, Cybersecurity Law Art. 21
BATCH = 200


def check_retention_config(cfg) -> None:
    if cfg["AUDIT_RETENTION_DAYS"] < AUDIT_MINIMUM_DAYS:
        raise ValueError(f"AUDIT_RETENTION_DAYS={cfg['AUDIT_RETENTION_DAYS']}: audit logs are kept at least "
                         f"{AUDIT_MINIMUM_DAYS} days (six months, Cybersecurity Law Art. 21)")
    if cfg["PERSONAL_DATA_RETENTION_DAYS"] < 0:
        raise ValueError("PERSONAL_DATA_RETENTION_DAYS must not be negative")


def anonymise(session: Session, person: User, now: datetime) -> None:
    person.display_name = f"已注销#{person.id}"
    person.username = f"anon-{person.id}"
    person.national_id_enc = person.national_id_hmac = person.phone_enc = None
    person.password_hash = hash_password(secrets.token_urlsafe(32))
    person.active = False
    person.locale = None
    person.anonymised_at = now
    session.execute(delete(FaceEnrolment).where(FaceEnrolment.user_id == person.id)
                    .execution_options(synchronize_session=False))
    flags = select(ProctorFlag.id).where(ProctorFlag.learner_id == person.id)
    session.execute(delete(Evidence).where(Evidence.flag_id.in_(flags)).execution_options(synchronize_session=False))
    audit("personal_data_anonymised", target=f"user:{person.id}",
          detail=f"supervision_ended_at:{person.supervision_ended_at:%Y-%m-%d}", commit=False, unit=person.unit_id)


def anonymise_expired(session: Session, now: datetime, days: float) -> list[int]:
    """Anonymise everyone whose supervision ended more than `days` ago (a batch at a time)."""
    cutoff = now - timedelta(days=days)
    done: list[int] = []
    while True:
        people = session.scalars(select(User).where(User.supervision_ended_at.is_not(None),
                                                    User.supervision_ended_at < cutoff,
                                                    User.anonymised_at.is_(None))
                                 .order_by(User.id).limit(BATCH)).all()
        for person in people:
            anonymise(session, person, now)
            done.append(person.id)
        session.flush()
        if len(people) < BATCH:
            return done


def purge_old_audit(session: Session, now: datetime, days: float) -> int:
    """Delete audit rows older than `days` (never fewer than six months' worth)."""
    days = max(float(days), AUDIT_MINIMUM_DAYS)
    result = session.execute(delete(AuditLog).where(AuditLog.at < now - timedelta(days=days))
                             .execution_options(synchronize_session=False))
    if result.rowcount:
        audit("audit_purged", detail=f"rows={result.rowcount} older_than_days={days:g}", commit=False)
    return result.rowcount
