"""Seed for scale: N supervisees across a five-level tree of its own, with a month of credit,
proctoring flags and roll-call attendance, inserted in bulk, then the month's rows of the unit
pages built (webapp.compliance.refresh_month). SQLite and PostgreSQL.

    DATABASE_URL=... python -m scripts.seed_scale --supervisees 100000 [--month 2026-11]

The tree gets a root ministry of its own (司法部（规模）), so it sits beside the demo data. One
officer per level along the first branch (scale_l1 .. scale_l5, password SEED_PASSWORD) is there
to open the pages (bench/officer.py). `seed()` is the library entry (tests, the bench).
"""
from __future__ import annotations

import argparse
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import bindparam, insert, select, text

SEED_PASSWORD = "Scale-Pass-2026"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌辉鹏"
CHUNK = 5000


@dataclass
class Seeded:
    month: str
    supervisees: int
    chain: list[int] = field(default_factory=list)          # unit ids, ministry .. township
    officers: list[str] = field(default_factory=list)       # usernames, level 1 .. 5
    units: int = 0
    credit_rows: int = 0
    flags: int = 0
    attendance: int = 0
    seconds: float = 0.0


def fanout(n: int) -> tuple[int, int, int, int]:
    """(provinces, cities each, districts each, townships each): ~25 people a township at 100k."""
    return (10, 6, 8, 8) if n >= 20_000 else (3, 2, 3, 3) if n >= 500 else (2, 2, 1, 2)


def _insert(session, table, rows: list[dict]) -> None:
    for i in range(0, len(rows), CHUNK):
        session.execute(insert(table), rows[i:i + CHUNK])


def _add_level(session, level: int, parents: list[tuple[int, str]], each: int, label: str,
               tag: str) -> list[tuple[int, str]]:
    """Units of one level, `each` under every parent (the root when there are none), with their
    materialised paths (which need the ids); returns [(id, path)]."""
    from webapp.models import OrgUnit
    table = OrgUnit.__table__
    rows = [{"name": f"{label}{p_i + 1}-{i + 1}{tag}", "level": level, "parent_id": pid, "path": ""}
            for p_i, (pid, _path) in enumerate(parents) for i in range(each)]
    if not parents:
        rows = [{"name": f"司法部（规模）{tag}", "level": 1, "parent_id": None, "path": ""}]
    _insert(session, table, rows)
    created = session.execute(select(table.c.id, table.c.parent_id)
                              .where(table.c.level == level, table.c.path == "").order_by(table.c.id)).all()
    paths = dict(parents)
    out = [(uid, f"{paths.get(parent, '/')}{uid}/") for uid, parent in created]
    session.execute(table.update().where(table.c.id == bindparam("uid")).values(path=bindparam("p")),
                    [{"uid": u, "p": p} for u, p in out])
    return out


def seed(session, supervisees: int, month: str | None = None, rng_seed: int = 14) -> Seeded:
    """Inserts the tree, people and raw rows; builds the month's rows; commits."""
    from webapp.compliance import months, refresh_month
    from webapp.core.security import hash_password
    from webapp.models import (AttendanceRecord, Conference, CreditEntry, ProctorFlag, RollCall, User)
    from webapp.study import current_month
    from flask import current_app

    began = time.monotonic()
    rng = random.Random(rng_seed)
    month = month or current_month()
    tag = uuid.uuid4().hex[:4]
    result = Seeded(month=month, supervisees=supervisees)
    provinces, cities, districts, townships = fanout(supervisees)
    root = _add_level(session, 1, [], 1, "", tag)
    level2 = _add_level(session, 2, root, provinces, "省", tag)
    level3 = _add_level(session, 3, level2, cities, "市", tag)
    level4 = _add_level(session, 4, level3, districts, "区", tag)
    level5 = _add_level(session, 5, level4, townships, "所", tag)
    result.units = 1 + len(level2) + len(level3) + len(level4) + len(level5)
    result.chain = [root[0][0], level2[0][0], level3[0][0], level4[0][0], level5[0][0]]

    password = hash_password(SEED_PASSWORD)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    people = []
    for i in range(supervisees):
        # 2% directly at a district office, the rest in townships
        unit = rng.choice(level4)[0] if rng.random() < 0.02 else level5[i % len(level5)][0]
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        people.append({"username": f"s{tag}_{i:06d}", "display_name": name, "password_hash": password,
                       "role": "supervisee", "unit_id": unit, "active": True, "failed_logins": 0,
                       "session_version": 0, "created_at": now})
    officers = [{"username": f"scale_l{k + 1}", "display_name": f"规模测试{k + 1}级工作人员",
                 "password_hash": password, "role": "officer", "unit_id": uid, "active": True,
                 "failed_logins": 0, "session_version": 0, "created_at": now}
                for k, uid in enumerate(result.chain)]
    taken = set(session.scalars(select(User.username).where(User.username.in_([o["username"] for o in officers]))))
    for officer in officers:         # a second seed in the same database: officers of its own
        if officer["username"] in taken:
            officer["username"] += f"_{tag}"
    result.officers = [o["username"] for o in officers]
    _insert(session, User.__table__, people + officers)
    ids = session.scalars(select(User.id).where(User.username.like(f"s{tag}\\_%", escape="\\"))
                          .order_by(User.id)).all()

    start, end = months.bounds(month, current_app.config["BABEL_DEFAULT_TIMEZONE"])
    span = max(1.0, min(end, time.time()) - start - 60)
    required = current_app.config["MONTHLY_REQUIRED_HOURS"] * 3600
    credit, flags = [], []
    for learner in ids:
        goal = required * rng.choice((0.0, 0.3, 0.7, 1.0, 1.2, 1.5)) if rng.random() < 0.9 else 0.0
        parts = rng.randint(1, 3) if goal else 0
        for p in range(parts):
            at = start + rng.random() * span
            seconds = round(goal / parts, 1)
            credit.append({"learner_id": learner, "course_id": None, "session_id": None, "kind": "course",
                           "media_start": 0.0, "media_end": seconds, "wall_start": at, "wall_end": at + seconds,
                           "unique_s": seconds, "credited_s": seconds, "presence_source": "seed", "month": month,
                           "created_at": now})
        if rng.random() < 0.1:
            flags.append({"learner_id": learner, "kind": "identity_mismatch", "raised_at": start + rng.random() * span,
                          "scores_json": "{}", "status": rng.choice(("open", "open", "confirmed", "dismissed")),
                          "review_reason": ""})
    _insert(session, CreditEntry.__table__, credit)
    _insert(session, ProctorFlag.__table__, flags)
    result.credit_rows, result.flags = len(credit), len(flags)

    officer_id = session.scalar(select(User.id).where(User.username == result.officers[0]))
    called_at = months.naive_utc(start + span / 2)
    conference = session.execute(insert(Conference.__table__).values(
        host_unit_id=result.chain[0], host_officer_id=officer_id, title="规模测试点名", starts_at=called_at,
        duration_min=60, levels="2,3,4,5", include_supervisees=True, status="ended", created_at=now)
        .returning(Conference.__table__.c.id)).scalar_one()
    attendance = []
    for call in range(2):
        roll_call = session.execute(insert(RollCall.__table__).values(
            conference_id=conference, started_by_id=officer_id, started_at=called_at, ended_at=called_at)
            .returning(RollCall.__table__.c.id)).scalar_one()
        for learner in ids:
            if rng.random() < 0.3:
                outcome = rng.choice(("present_verified",) * 5 + ("present_unverified", "absent", "left_early"))
                attendance.append({"roll_call_id": roll_call, "user_id": learner, "outcome": outcome,
                                   "scores_json": "{}", "recorded_at": called_at})
    _insert(session, AttendanceRecord.__table__, attendance)
    result.attendance = len(attendance)
    session.flush()
    refresh_month(session, month)
    if session.get_bind().dialect.name == "postgresql":   # what autovacuum does a little later
        session.execute(text("ANALYZE"))
    session.commit()
    result.seconds = time.monotonic() - began
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed N supervisees with a month of data (bulk inserts).")
    parser.add_argument("--supervisees", type=int, default=100_000)
    parser.add_argument("--month", help="YYYY-MM (default: this month)")
    args = parser.parse_args(argv)
    from webapp.app import create_app
    from webapp.core import db
    app = create_app()
    with app.app_context():
        out = seed(db.session(), args.supervisees, args.month)
    print(f"seeded={out.supervisees} month={out.month} units={out.units} credit_rows={out.credit_rows} "
          f"flags={out.flags} attendance={out.attendance} seconds={out.seconds:.1f}")
    print(f"officers={','.join(out.officers)} password={SEED_PASSWORD} chain={'/'.join(map(str, out.chain))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
