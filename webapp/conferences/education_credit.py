"""Attendance of a group education session into the study ledger (issue 16), and the per-person
figures the officer's attendance page and its exports show.

`credit_session(db, session_id, now)`, for each supervisee with presence in the session:

1. attended spans: their presence stretches (an open one runs to `now`) and their check results
   through `conferencing.education.attended_spans` (time between two consecutive passed checks
   with continuous presence; a failed check loses the windows on both sides of it);
2. minus everything already in the ledger for them in those minutes, of any kind (home study,
   VR, other sessions, this session's own rows): `streaming.group_credit.credit_attendance`,
   with the session's cap (`session_cap_min`) when it has one;
3. written as `CreditEntry` rows, one per credited wall span and month: kind "group",
   session_id "edu<session id>", course_id the session's course (None for a topic),
   wall_start/wall_end the credited wall span, media_start 0 and media_end the span's credited
   seconds (a group session has no media position of the learner's own: the pair only carries
   the length, so code that sums media_end - media_start still gets the seconds), unique_s =
   credited_s = the span's seconds, presence_source "edu_checks". A span across a month boundary
   of the platform's time zone is cut there, each piece in its month;
4. the learner's month (`compliance.add_credit`) in the same transaction, as the study and VR
   code do.

Officers and administrators present in a session get no credit. The session's `credited_at` is set:
a second call credits nothing (and would not anyway: the rows it wrote are "already credited").
Nothing here commits; the caller's transaction holds the rows and the month together. The
functions need an app context (the platform's time zone and the monthly requirement are
configuration), not a request.

Where it runs: `conference_ended` (one line in `webapp.conferences.lifecycle.transition`, when a
conference reaches a final state: the host ends it, the scheduler ends it as overdue, it is
cancelled) closes the open presence at the end time and credits; `recover` (at start-up, where
roll calls a crash left open are closed: `python -m webapp` in the embedded mode, each media
worker for the conferences it owned) closes the presence a dead process left open at each
person's last check and credits the sessions of ended conferences not credited yet
(`credit_ended_sessions`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from conferencing.education import CheckResult, attended_spans, merge
from streaming.group_credit import credit_attendance

from webapp.compliance import add_credit
from webapp.conferences import education_store as store
from webapp.models import (Conference, ConferenceParticipant, ConferenceStatus, CreditEntry, EducationSession, Role,
                           User, utcnow)

log = logging.getLogger(__name__)

KIND = "group"
PRESENCE_SOURCE = "edu_checks"
ENDED = (ConferenceStatus.ENDED, ConferenceStatus.CANCELLED)


def ledger_key(session_id: int) -> str:
    """CreditEntry.session_id of a session's rows."""
    return f"edu{session_id}"


def _epoch(moment: datetime) -> float:
    """A naive UTC datetime (as stored) -> epoch seconds."""
    return moment.replace(tzinfo=timezone.utc).timestamp()


def month_pieces(start: float, end: float, tz_name: str) -> list[tuple[str, float, float]]:
    """[start, end) cut at the month boundaries of the time zone: [(month, start, end), ...]."""
    tz = ZoneInfo(tz_name)
    out = []
    while start < end:
        local = datetime.fromtimestamp(start, tz)
        following = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=tz)
        cut = min(end, following.timestamp())
        out.append((local.strftime("%Y-%m"), start, cut))
        start = cut
    return out


def _presence_spans(rows, now: float) -> list[tuple[float, float]]:
    return [(r.joined_at, r.left_at if r.left_at is not None else max(now, r.joined_at)) for r in rows]


def _results(rows) -> list[CheckResult]:
    return [CheckResult(r.at, bool(r.passed), r.kind) for r in rows]


def _already(db, learner_id: int, lo: float, hi: float) -> list[tuple[float, float]]:
    """Wall spans of the learner's ledger rows (any kind) that meet [lo, hi]."""
    return [(s, e) for s, e in db.execute(select(CreditEntry.wall_start, CreditEntry.wall_end).where(
        CreditEntry.learner_id == learner_id, CreditEntry.wall_end > lo, CreditEntry.wall_start < hi)).all()]


def _plan(db, edu: EducationSession, now: float) -> dict[int, list[tuple[float, float]]]:
    """{supervisee id: credited wall spans} (reads only)."""
    presence = store.presence_of(db, edu.id)
    checks = store.checks_of(db, edu.id)
    roles = dict(db.execute(select(User.id, User.role).where(User.id.in_(list(presence)))).all()) if presence else {}
    cap_s = None if edu.session_cap_min is None else edu.session_cap_min * 60.0
    out = {}
    for user_id in sorted(presence):
        if roles.get(user_id) != Role.SUPERVISEE:
            continue
        attended = attended_spans(_presence_spans(presence[user_id], now), _results(checks.get(user_id, [])))
        if not attended:
            out[user_id] = []
            continue
        already = _already(db, user_id, attended[0][0], attended[-1][1])
        out[user_id] = credit_attendance(attended, already, session_cap_s=cap_s).spans
    return out


def credit_session(db, session_id: int, now: float) -> dict[int, float]:
    """Credit the session's verified attendance (module docstring). Returns {supervisee id:
    seconds credited now} for every supervisee with presence; {} when the session was credited
    before (or does not exist). Sets `credited_at`; the caller commits."""
    edu = db.get(EducationSession, session_id)
    if edu is None or edu.credited_at is not None:
        return {}
    return _write(db, edu, _plan(db, edu, now), current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _write(db, edu: EducationSession, plan: dict[int, list[tuple[float, float]]], tz_name: str) -> dict[int, float]:
    credited: dict[int, float] = {}
    for user_id, spans in plan.items():
        total = 0.0
        for start, end in spans:
            for month, s, e in month_pieces(start, end, tz_name):
                seconds = e - s
                db.add(CreditEntry(learner_id=user_id, course_id=edu.course_id, session_id=ledger_key(edu.id),
                                   kind=KIND, media_start=0.0, media_end=seconds, wall_start=s, wall_end=e,
                                   unique_s=seconds, credited_s=seconds, presence_source=PRESENCE_SOURCE,
                                   month=month))
                add_credit(db, user_id, month, seconds)       # the unit pages' month
                total += seconds
        credited[user_id] = total
    edu.credited_at = utcnow()
    db.flush()
    return credited


def conference_ended(db, conference_id: int, at: datetime | None = None) -> dict[int, float] | None:
    """A conference reached a final state at `at` (naive UTC; default now): when it holds an
    education session not credited yet, close its open presence then and credit it. None for a
    plain conference. The end itself must not fail for this: an error in working out the credit
    is logged and leaves the session uncredited (the sweep tries again); the caller commits."""
    edu = store.session_for(db, conference_id)
    if edu is None or edu.credited_at is not None:
        return None
    end = _epoch(at or utcnow())
    store.close_all_presence(db, edu.id, end)
    try:
        plan = _plan(db, edu, end)      # reads only: a failure here leaves nothing half-written
        tz_name = current_app.config["BABEL_DEFAULT_TIMEZONE"]     # (outside an app context: no credit now)
    except Exception:
        log.exception("education session %s: credit not worked out; the sweep will try again", edu.id)
        return None
    return _write(db, edu, plan, tz_name)


def credit_ended_sessions(db, now: float | None = None) -> list[int]:
    """The sweep: sessions of ended or cancelled conferences not credited yet (their end went by
    another path, or the credit failed): presence still open is closed at each person's last check
    (a process died with them), then credited. Returns the session ids credited; the caller commits."""
    now = utcnow().replace(tzinfo=timezone.utc).timestamp() if now is None else now
    ids = db.scalars(select(EducationSession.id).join(Conference, Conference.id == EducationSession.conference_id)
                     .where(EducationSession.credited_at.is_(None), Conference.status.in_(ENDED))
                     .order_by(EducationSession.id)).all()
    if ids:
        store.close_orphaned_presence(db, session_ids=list(ids))
    for session_id in ids:
        credit_session(db, session_id, now)
    return list(ids)


def recover(orphaned: Callable[[int], bool] | None = None) -> list[int]:
    """At start-up, where the live conferences live (next to `live.close_orphaned_rollcalls`):
    presence rows an earlier process left open are closed at each person's last check, then the
    ended sessions not yet credited are credited. Commits. Returns the session ids credited."""
    from webapp.core import db as dbm
    with dbm.write_transaction() as db:
        store.close_orphaned_presence(db, orphaned=orphaned)
        done = credit_ended_sessions(db)
        db.commit()
        return done


# --- the officer's table -------------------------------------------------------------------------

@dataclass
class PersonRow:
    user_id: int
    name: str
    unit: str
    unit_path: str
    supervisee: bool
    present_s: float = 0.0
    checks: dict = field(default_factory=dict)       # {(kind, passed): count}
    attended_s: float = 0.0
    credited_s: float = 0.0

    def count(self, kind: str, passed: bool) -> int:
        return self.checks.get((kind, passed), 0)

    @property
    def passed(self) -> int:
        return sum(n for (_k, ok), n in self.checks.items() if ok)

    @property
    def failed(self) -> int:
        return sum(n for (_k, ok), n in self.checks.items() if not ok)


def attendance_table(db, edu: EducationSession, now: float) -> list[PersonRow]:
    """One row per person with presence, a check or a participation in the conference: present,
    attended (the rules above) and credited seconds (the ledger's rows of this session), checks
    by kind and verdict. Ordered by unit path, then name."""
    presence = store.presence_of(db, edu.id)
    checks = store.checks_of(db, edu.id)
    joined = set(db.scalars(select(ConferenceParticipant.user_id).where(
        ConferenceParticipant.conference_id == edu.conference_id, ConferenceParticipant.joined_at.is_not(None))))
    ids = set(presence) | set(checks) | joined
    credited = {}
    for learner_id, seconds in db.execute(select(CreditEntry.learner_id, CreditEntry.credited_s).where(
            CreditEntry.session_id == ledger_key(edu.id), CreditEntry.kind == KIND)).all():
        credited[learner_id] = credited.get(learner_id, 0.0) + seconds
    rows = []
    for user in db.scalars(select(User).where(User.id.in_(list(ids)))).all() if ids else []:
        spans = _presence_spans(presence.get(user.id, []), now)
        row = PersonRow(user.id, user.display_name, user.unit.name if user.unit else "",
                        user.unit.path if user.unit else "", user.role == Role.SUPERVISEE)
        row.present_s = sum(e - s for s, e in merge(spans))
        for check in checks.get(user.id, []):
            key = (check.kind, bool(check.passed))
            row.checks[key] = row.checks.get(key, 0) + 1
        row.attended_s = sum(e - s for s, e in attended_spans(spans, _results(checks.get(user.id, []))))
        row.credited_s = credited.get(user.id, 0.0)
        rows.append(row)
    rows.sort(key=lambda r: (r.unit_path, r.name, r.user_id))
    return rows
