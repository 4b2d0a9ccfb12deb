"""Rows of a group education session (webapp/models/education.py): presence and check results.

Plain functions taking a SQLAlchemy session first; no Flask request context. None of them
commits: the caller owns the transaction (as `live._RollCallSink` does: open a
`db.write_transaction()`, call these, commit), so a check result and the flag it raised land
together. Times are epoch seconds (server clock).

Presence is one row per stretch (joined, left). `open_presence` does nothing while the person
already has an open row (a second tab, a reconnect); `close_presence` closes it. At the end of the
session `close_all_presence` closes every open row at the end time. A row a crash left open is not
closed at the time of the restart (the crash time is no presence anyone saw): `close_orphaned_presence`
closes it at that person's last check in the session at or after the join (at the join when
there is none), so it never reaches past a check, passed or failed.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import func, select, update

from conferencing.education import SamplingPolicy

from webapp.models import EducationCheck, EducationPresence, EducationSession

CHECK_KINDS = ("face", "officer", "terminal")

# The check timings an officer may choose when scheduling (seconds; K checks at once)
FIRST_WITHIN_MIN = 30
GAP_MIN, GAP_MAX = 60, 3600
PARALLEL_MIN, PARALLEL_MAX = 1, 8
RESERVE_S = 120.0


def timing_problems(first_within_s: float, min_gap_s: float, max_gap_s: float, max_parallel: int) -> list[str]:
    """What is wrong with a session's check timings, as codes (empty: acceptable):
    first_within (30 <= first_within_s < max_gap_s: the first check comes before a gap could
    end), min_gap (60 <= min_gap_s < max_gap_s), max_gap (max_gap_s <= 3600), max_parallel (1..8)."""
    problems = []
    if not FIRST_WITHIN_MIN <= first_within_s < max_gap_s:
        problems.append("first_within")
    if not GAP_MIN <= min_gap_s < max_gap_s:
        problems.append("min_gap")
    if not max_gap_s <= GAP_MAX:
        problems.append("max_gap")
    if not PARALLEL_MIN <= max_parallel <= PARALLEL_MAX:
        problems.append("max_parallel")
    return problems


def sampling_policy(edu: EducationSession) -> SamplingPolicy:
    """The session's timings as `conferencing.education.SamplingPolicy` takes them. The reserve
    (the slack for waiting behind K) is 120 s, or what the gaps leave when they are shorter, so
    that every gap stays within max_gap_s (timings that passed `timing_problems` always fit)."""
    reserve = max(0.0, min(RESERVE_S, edu.max_gap_s - max(edu.min_gap_s, edu.first_within_s)))
    return SamplingPolicy(max_parallel=edu.max_parallel, max_gap_s=edu.max_gap_s, min_gap_s=edu.min_gap_s,
                          first_within_s=edu.first_within_s, reserve_s=reserve)


def session_for(db, conference_id: int) -> EducationSession | None:
    """The education session held in the conference, or None (a plain conference)."""
    return db.scalar(select(EducationSession).where(EducationSession.conference_id == conference_id))


def _open_row(db, session_id: int, user_id: int) -> EducationPresence | None:
    return db.scalar(select(EducationPresence).where(
        EducationPresence.session_id == session_id, EducationPresence.user_id == user_id,
        EducationPresence.left_at.is_(None)).order_by(EducationPresence.id.desc()).limit(1))


def open_presence(db, session_id: int, user_id: int, room_path: str, at: float, shared_room: bool = False) -> None:
    """The person is present from `at` (in room `room_path`; `shared_room`: through a shared
    township room's camera). Nothing happens while they have an open row already."""
    if _open_row(db, session_id, user_id) is not None:
        return
    db.add(EducationPresence(session_id=session_id, user_id=user_id, room_path=room_path or "",
                             shared_room=bool(shared_room), joined_at=float(at), left_at=None))
    db.flush()


def close_presence(db, session_id: int, user_id: int, at: float) -> None:
    """The person left at `at` (their open row, if any, is closed; never before it opened)."""
    row = _open_row(db, session_id, user_id)
    if row is not None:
        _close(db, row.id, max(float(at), row.joined_at))


def _close(db, row_id: int, at: float) -> None:
    # an UPDATE statement (not an attribute write): closing presence is this module's alone
    db.execute(update(EducationPresence).where(EducationPresence.id == row_id).values(left_at=at))


def close_all_presence(db, session_id: int, at: float) -> int:
    """The session ended at `at`: every open row is closed then. Returns how many."""
    rows = db.scalars(select(EducationPresence).where(EducationPresence.session_id == session_id,
                                                      EducationPresence.left_at.is_(None))).all()
    for row in rows:
        _close(db, row.id, max(float(at), row.joined_at))
    return len(rows)


def last_check_at(db, session_id: int, user_id: int, since: float) -> float | None:
    """The time of the person's last check (passed or failed) in the session at or after `since`."""
    return db.scalar(select(func.max(EducationCheck.at)).where(
        EducationCheck.session_id == session_id, EducationCheck.user_id == user_id, EducationCheck.at >= since))


def close_orphaned_presence(db, session_ids: list[int] | None = None,
                            orphaned: Callable[[int], bool] | None = None) -> int:
    """Rows a process that died left open (its live state died with it): each closed at its
    person's last check since the join, or at the join. `session_ids`: only these sessions;
    `orphaned(conference_id)`: only the sessions of conferences it says yes to (as
    `live.close_orphaned_rollcalls`). Run where the live conferences live, at start, and before
    crediting an ended session. Returns how many rows were closed."""
    query = (select(EducationPresence, EducationSession.conference_id)
             .join(EducationSession, EducationSession.id == EducationPresence.session_id)
             .where(EducationPresence.left_at.is_(None)))
    if session_ids is not None:
        query = query.where(EducationPresence.session_id.in_(session_ids))
    closed = 0
    for row, conference_id in db.execute(query).all():
        if orphaned is not None and not orphaned(conference_id):
            continue
        last = last_check_at(db, row.session_id, row.user_id, row.joined_at)
        _close(db, row.id, row.joined_at if last is None else max(last, row.joined_at))
        closed += 1
    return closed


def record_check(db, session_id: int, user_id: int, at: float, kind: str, passed: bool, room_path: str,
                 scores: dict | None = None, flag_id: int | None = None, confirmed_by_id: int | None = None) -> int:
    """One check result of one person (kind "face" | "officer" | "terminal"); returns its id.
    `scores`: plain JSON-able values (the identity distance, liveness...)."""
    if kind not in CHECK_KINDS:
        raise ValueError(f"unknown check kind {kind!r}")
    row = EducationCheck(session_id=session_id, user_id=user_id, at=float(at), kind=kind, passed=bool(passed),
                         room_path=room_path or "", confirmed_by_id=confirmed_by_id,
                         scores_json=json.dumps(scores or {}, ensure_ascii=False, default=str), flag_id=flag_id)
    db.add(row)
    db.flush()
    return row.id


def presence_of(db, session_id: int) -> dict[int, list[EducationPresence]]:
    """{user_id: [presence rows, by join]}."""
    out: dict[int, list[EducationPresence]] = {}
    for row in db.scalars(select(EducationPresence).where(EducationPresence.session_id == session_id)
                          .order_by(EducationPresence.joined_at, EducationPresence.id)):
        out.setdefault(row.user_id, []).append(row)
    return out


def checks_of(db, session_id: int) -> dict[int, list[EducationCheck]]:
    """{user_id: [check rows, by time]}."""
    out: dict[int, list[EducationCheck]] = {}
    for row in db.scalars(select(EducationCheck).where(EducationCheck.session_id == session_id)
                          .order_by(EducationCheck.at, EducationCheck.id)):
        out.setdefault(row.user_id, []).append(row)
    return out
