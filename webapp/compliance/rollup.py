"""Upkeep of LearnerMonth, the supervisee's month the unit pages aggregate.

* `add_credit`: the ledger's share, in the transaction that writes the CreditEntry rows.
* `refresh_month`: rebuilds the figures of a month from the raw tables (credit, proctoring flags,
  roll-call attendance), creating the rows that are missing; the scheduled job and
  `flask compliance refresh` call it.
* `move_current_month`: a transfer moves the current month's row to the new unit, never a past one.

The unit of a row is the unit of its month: the current month follows the person's current unit;
a past month's existing row never changes unit (a past month with no row gets the current unit).
Everything here works in bulk (INSERT ... ON CONFLICT, correlated UPDATEs), on SQLite and PostgreSQL.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import and_, case, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from webapp.compliance import months, queries
from webapp.compliance.ancestry import ancestry
from webapp.models import (AttendanceOutcome, AttendanceRecord, CreditEntry, FlagStatus, LearnerMonth, OrgUnit,
                           ProctorFlag, Role, User, utcnow)
from webapp import study   # its names at call time: the ledger imports this module

LM = LearnerMonth.__table__
CHUNK = 500


def _upsert(session: Session):
    dialect = session.get_bind().dialect.name
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](LM)


def _bounds(month: str) -> tuple[float, float]:
    return months.bounds(month, current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _placement(session: Session, unit: OrgUnit) -> dict:
    """The row's unit columns for a person in `unit`: the unit, its ancestry, the requirement."""
    return {"unit_id": unit.id, **ancestry(unit.path), "required_s": study.required_hours(session, unit) * 3600.0}


def _new_row(month: str, learner_id: int, placement: dict, credited_s: float = 0.0) -> dict:
    return {"month": month, "learner_id": learner_id, **placement, "credited_s": credited_s,
            "met": credited_s >= placement["required_s"], "flags_raised": 0, "flags_open": 0,
            "rollcalls": 0, "rollcall_absences": 0, "updated_at": utcnow()}


def add_credit(session: Session, learner_id: int, month: str, seconds: float) -> None:
    """Adds `seconds` of credit to the learner's month (called where CreditEntry rows are written,
    in the same transaction). A missing row is created in the learner's current unit."""
    if seconds <= 0:
        return
    credited = LM.c.credited_s + seconds
    done = session.execute(update(LM).where(LM.c.month == month, LM.c.learner_id == learner_id)
                           .values(credited_s=credited, met=credited >= LM.c.required_s, updated_at=utcnow()))
    if done.rowcount:
        return
    learner = session.get(User, learner_id)
    row = _new_row(month, learner_id, _placement(session, session.get(OrgUnit, learner.unit_id)), seconds)
    stmt = _upsert(session).values(**row)
    added = LM.c.credited_s + stmt.excluded.credited_s
    session.execute(stmt.on_conflict_do_update(index_elements=["month", "learner_id"], set_={
        "credited_s": added, "met": added >= LM.c.required_s, "updated_at": stmt.excluded.updated_at}))


def move_current_month(session: Session, learner: User, month: str) -> None:
    """After a transfer (learner.unit_id already set to the new unit): the current month's row
    follows the new unit. Past months keep the unit they had."""
    if month != study.current_month():
        raise ValueError(f"only the current month's row moves, not {month}")
    placement = _placement(session, session.get(OrgUnit, learner.unit_id))
    done = session.execute(update(LM).where(LM.c.month == month, LM.c.learner_id == learner.id)
                           .values(**placement, met=LM.c.credited_s >= placement["required_s"],
                                   updated_at=utcnow()))
    if not done.rowcount:
        refresh_month(session, month, [learner.id])


def _chunks(ids: list[int] | None):
    if ids is None:
        yield None
        return
    ids = sorted(set(ids))
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def refresh_month(session: Session, month: str, learner_ids: list[int] | None = None) -> int:
    """Builds or refreshes the month's rows (all supervisees, or `learner_ids`) from the raw
    tables; returns how many rows were refreshed. The caller commits."""
    current = study.current_month()
    if months.parse_month(month, current) != month:
        raise ValueError(month)
    start, end = _bounds(month)
    units: dict[int, dict] = {}
    inserted = 0
    for chunk in _chunks(learner_ids):
        inserted += _insert_missing(session, month, start, end, chunk, units)
        if month == current:
            _follow_current_units(session, month, chunk, units)
    analyze_after_bulk(session, "learner_month", inserted)
    refreshed = 0
    for chunk in _chunks(learner_ids):
        refreshed += _recount(session, month, start, end, chunk)
    queries.forget_month(month)       # this process's kept trend points of the month
    return refreshed


def _placement_of(session: Session, unit_id: int, cache: dict[int, dict]) -> dict:
    if unit_id not in cache:
        cache[unit_id] = _placement(session, session.get(OrgUnit, unit_id))
    return cache[unit_id]


BULK_ROWS = 1000


def analyze_after_bulk(session: Session, table: str, rows: int) -> None:
    """On PostgreSQL, fresh statistics for `table` after `rows` (>= BULK_ROWS) were added in bulk,
    as at a month's start. Until autovacuum gets to it, the planner would take the month's rows
    for a handful and join them by nested loops: the ministry's flag outcomes took 20 s instead of
    0.2 (bench.officer, 100,000 supervisees). ANALYZE may run inside the transaction."""
    if rows >= BULK_ROWS and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {table}"))


def _insert_missing(session, month, start, end, ids, cache) -> int:
    """Rows for the supervisees of the month (created before its end, active or ended within it)
    that have none yet, in their current unit; returns how many."""
    has_row = select(LM.c.id).where(LM.c.month == month, LM.c.learner_id == User.id).exists()
    query = (select(User.id, User.unit_id)
             .where(User.role == Role.SUPERVISEE, ~has_row,
                    or_(User.created_at.is_(None), User.created_at < months.naive_utc(end)),
                    or_(User.active.is_(True), User.supervision_ended_at >= months.naive_utc(start)))
             .order_by(User.id))
    if ids is not None:
        query = query.where(User.id.in_(ids))
    missing = session.execute(query).all()
    loaded = _all_units(session) if missing else []
    rows = [_new_row(month, learner_id, _placement_of(session, unit_id, cache)) for learner_id, unit_id in missing]
    for i in range(0, len(rows), 5000):
        session.execute(_upsert(session).on_conflict_do_nothing(index_elements=["month", "learner_id"]),
                        rows[i:i + 5000])
    del loaded
    return len(rows)


def _all_units(session: Session) -> list[OrgUnit]:
    """Every unit, once, into the session (the caller keeps the list: the identity map holds weak
    references), so requirements that walk up the tree cost no further queries."""
    return session.scalars(select(OrgUnit)).all()


def _follow_current_units(session, month, ids, cache) -> None:
    """The current month: rows whose person moved since follow them; every row gets its unit's
    requirement as it is now."""
    query = (select(LM.c.id, User.unit_id).join(User, User.id == LM.c.learner_id)
             .where(LM.c.month == month, LM.c.unit_id != User.unit_id))
    if ids is not None:
        query = query.where(LM.c.learner_id.in_(ids))
    moved = session.execute(query).all()
    pairs = select(LM.c.unit_id, LM.c.required_s).where(LM.c.month == month).distinct()
    if ids is not None:
        pairs = pairs.where(LM.c.learner_id.in_(ids))
    pairs = session.execute(pairs).all()
    loaded = _all_units(session) if moved or pairs else []
    for row_id, unit_id in moved:
        session.execute(update(LM).where(LM.c.id == row_id).values(**_placement_of(session, unit_id, cache)))
    # a unit whose requirement changed: its rows of this month (usually none), by the unit's
    # level column so that an index finds them
    for unit_id in sorted({u for u, required in pairs if required != _placement_of(session, u, cache)["required_s"]}):
        placement = _placement_of(session, unit_id, cache)
        level = max(k for k in range(1, 6) if placement[f"l{k}"] is not None)
        stmt = update(LM).where(LM.c.month == month, LM.c[f"l{level}"] == unit_id, LM.c.unit_id == unit_id)
        if ids is not None:
            stmt = stmt.where(LM.c.learner_id.in_(ids))
        session.execute(stmt.values(required_s=placement["required_s"]))
    del loaded


def _recount(session, month, start, end, ids) -> int:
    """The figures of the month's rows, from the raw tables, in one UPDATE."""
    who = LM.c.learner_id
    since, until = months.naive_utc(start), months.naive_utc(end)

    def count(model, condition, of=None):
        # of: counted among the rows of `condition`, as a SUM (a WHERE on it would lead SQLite to
        # the (status, raised_at) index and a scan of every open flag per row)
        what = func.count() if of is None else func.coalesce(func.sum(case((of, 1), else_=0)), 0)
        return select(what).select_from(model).where(condition).scalar_subquery()

    in_month = and_(ProctorFlag.learner_id == who, ProctorFlag.raised_at >= start, ProctorFlag.raised_at < end)
    called = and_(AttendanceRecord.user_id == who, AttendanceRecord.recorded_at >= since,
                  AttendanceRecord.recorded_at < until)
    absent = or_(AttendanceRecord.overridden_outcome == AttendanceOutcome.ABSENT,
                 and_(AttendanceRecord.overridden_outcome.is_(None), AttendanceRecord.outcome == AttendanceOutcome.ABSENT))
    credited = (select(func.coalesce(func.sum(CreditEntry.credited_s), 0.0))
                .where(CreditEntry.learner_id == who, CreditEntry.month == LM.c.month).scalar_subquery())
    stmt = update(LM).where(LM.c.month == month).values(
        credited_s=credited, flags_raised=count(ProctorFlag, in_month),
        flags_open=count(ProctorFlag, in_month, of=ProctorFlag.status == FlagStatus.OPEN),
        rollcalls=count(AttendanceRecord, called), rollcall_absences=count(AttendanceRecord, called, of=absent),
        updated_at=utcnow())
    met = update(LM).where(LM.c.month == month).values(met=LM.c.credited_s >= LM.c.required_s)
    if ids is not None:
        stmt, met = stmt.where(who.in_(ids)), met.where(who.in_(ids))
    done = session.execute(stmt).rowcount
    session.execute(met)
    return done


JOB_CHUNK = 5000


def _refresh_in_chunks(transaction, month: str) -> int:
    """refresh_month for everyone, JOB_CHUNK people per transaction of its own."""
    with transaction() as session:
        ids = sorted(set(session.scalars(select(User.id).where(User.role == Role.SUPERVISEE)))
                     | set(session.scalars(select(LM.c.learner_id).where(LM.c.month == month))))
    done = 0
    for i in range(0, len(ids), JOB_CHUNK):
        with transaction() as session:
            done += refresh_month(session, month, ids[i:i + JOB_CHUNK])
            session.commit()
    return done


def scheduled_refresh(transaction) -> int:
    """The scheduled job: the current month's rows (created at the start of a month, then kept
    current), and the previous month once more until it has been refreshed after its end (its
    final flag and roll-call figures). `transaction()` opens a write transaction
    (db.write_transaction); each chunk of people gets its own, so the ledger's writers never wait
    for more than one chunk."""
    month = study.current_month()
    done = _refresh_in_chunks(transaction, month)
    previous = months.shift(month, -1)
    _start, end = _bounds(previous)
    with transaction() as session:
        oldest = session.scalar(select(func.min(LM.c.updated_at)).where(LM.c.month == previous))
    if oldest is not None and oldest < months.naive_utc(end):
        done += _refresh_in_chunks(transaction, previous)
    return done
