"""webapp.core.db.write_transaction: one writer at a time, on SQLite and PostgreSQL.

A read-modify-write inside the block never loses an update to a concurrent one (SQLite: the
process's write lock; PostgreSQL, READ COMMITTED: advisory locks, so this holds across processes
too). On PostgreSQL a keyed block excludes only the same key and the unkeyed blocks.
"""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text

from tests.conftest import user
from webapp.core import db as webdb
from webapp.models import User

THREADS = 4
ROUNDS = 15


def bump(app, user_id: int, key, errors: list) -> None:
    try:
        for _ in range(ROUNDS):
            with app.app_context(), webdb.write_transaction(key) as session:
                seen = session.scalar(select(User.failed_logins).where(User.id == user_id))
                time.sleep(0.002)                       # room for another writer to slip in
                session.get(User, user_id).failed_logins = seen + 1
                session.commit()
                # a read after the commit, still inside the block (a new transaction)
                session.scalar(select(User.failed_logins).where(User.id == user_id))
    except Exception as exc:                            # noqa: BLE001  (reported by the test)
        errors.append(exc)


def test_concurrent_read_modify_writes_lose_nothing(app, db):
    learner = user(db, "zhangsan")
    learner.failed_logins = 0
    db.commit()
    keys = [None, ("learner", learner.id), None, ("learner", learner.id)][:THREADS]
    errors: list = []
    threads = [threading.Thread(target=bump, args=(app, learner.id, key, errors)) for key in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    db.expire_all()
    assert user(db, "zhangsan").failed_logins == THREADS * ROUNDS


def test_an_exception_rolls_back_and_frees_the_next_writer(app, db):
    lisi = user(db, "lisi")
    lisi.failed_logins, learner_id = 0, lisi.id
    db.commit()
    with app.app_context(), pytest.raises(RuntimeError), webdb.write_transaction() as session:
        session.get(User, learner_id).failed_logins = 99
        session.flush()
        raise RuntimeError("boom")
    done = threading.Event()

    def other():
        with app.app_context(), webdb.write_transaction() as session:
            session.get(User, learner_id).failed_logins += 1
            session.commit()
        done.set()
    threading.Thread(target=other, daemon=True).start()
    assert done.wait(10), "the failed block's lock outlived it"
    db.expire_all()
    assert user(db, "lisi").failed_logins == 1


def test_postgresql_keys_exclude_only_their_own_key_and_unkeyed_blocks(app, db, database):
    if database != "postgresql":
        return    # SQLite has one writer at a time, whatever the key
    inside, release = threading.Event(), threading.Event()
    finished: dict[str, threading.Event] = {name: threading.Event() for name in ("other key", "same key", "unkeyed")}

    def holder():
        with app.app_context(), webdb.write_transaction(("learner", 1)) as session:
            session.connection()
            inside.set()
            release.wait(30)

    def writer(name, key):
        with app.app_context(), webdb.write_transaction(key) as session:
            session.connection()
        finished[name].set()

    def waiting_for_advisory_locks() -> int:
        db.rollback()
        return db.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"))

    threading.Thread(target=holder, daemon=True).start()
    try:
        assert inside.wait(10)
        threading.Thread(target=writer, args=("other key", ("learner", 2)), daemon=True).start()
        assert finished["other key"].wait(10), "a block with another key waited"
        # (started after: an unkeyed block waiting in the queue also holds up keyed ones behind it)
        for name, key in (("same key", ("learner", 1)), ("unkeyed", None)):
            threading.Thread(target=writer, args=(name, key), daemon=True).start()
        deadline = time.monotonic() + 10
        while waiting_for_advisory_locks() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiting_for_advisory_locks() == 2
        assert not finished["same key"].is_set() and not finished["unkeyed"].is_set()
    finally:
        release.set()
    assert finished["same key"].wait(10) and finished["unkeyed"].wait(10)
