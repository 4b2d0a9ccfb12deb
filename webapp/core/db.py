"""Engine and session handling (plain SQLAlchemy 2.x, one scoped session per app).

Two databases are supported and tested (tests/conftest.py runs the integration tests on both):
SQLite (the embedded default, WAL) and PostgreSQL through psycopg 3 (`postgresql+psycopg://`;
a bare `postgresql://` or `postgres://` URL means the same driver).
"""
from __future__ import annotations

import os
import threading
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from flask import Flask, current_app
from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker


class Base(DeclarativeBase):
    pass


def database_url(url: str) -> str:
    """The URL with its driver: PostgreSQL URLs without one use psycopg 3 (requirements.txt
    installs it; SQLAlchemy's own default, psycopg2, is not installed)."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare):]
    return url


def _private_sqlite_file(url: str) -> None:
    """The SQLite file (and its -wal/-shm/-journal companions, which SQLite creates with the
    file's own mode) readable by this user only: created 0600 if missing, tightened if not."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.exists() and path.parent.is_dir():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for name in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        try:
            info = name.stat()
            if info.st_uid == os.getuid() and info.st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """An engine for the URL. SQLite: WAL, foreign keys on, a long busy timeout. PostgreSQL:
    a pool of `pool_size` kept connections plus `max_overflow` more under load, checked before
    use (a restarted server or a dropped connection costs a reconnect, not an error) and
    recycled hourly."""
    url = database_url(url)
    kwargs: dict = {}
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    elif url.startswith("postgresql"):
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=30,
                      pool_pre_ping=True, pool_recycle=3600,
                      connect_args={"application_name": "smart-corrections", "connect_timeout": 10})
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    return engine


# PostgreSQL advisory locks of write_transaction(): one bigint key for "all writers" (taken
# exclusive by an unkeyed write, shared by a keyed one) and (namespace, id) pairs for keyed
# writes. The two forms are separate key spaces in PostgreSQL, so they never collide.
WRITE_LOCK_KEY = 0x5343_5752   # "SCWR"


def _write_lock_sql(key: tuple[str, int] | None) -> str:
    if key is None:
        return f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"
    kind, ident = key
    namespace = zlib.crc32(kind.encode()) & 0x7FFFFFFF
    ident = int(ident) % 0x8000_0000
    return (f"SELECT pg_advisory_xact_lock_shared({WRITE_LOCK_KEY}), "
            f"pg_advisory_xact_lock({namespace}, {ident})")


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"], pool_size=int(app.config.get("DATABASE_POOL_SIZE", 10)),
                         max_overflow=int(app.config.get("DATABASE_MAX_OVERFLOW", 20)))
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    app.extensions["db_engine"] = engine
    app.extensions["db_session"] = scoped_session(factory)
    # SQLite has one writer at a time and its busy handler waits by sleeping (1, 2, 5 ... 100 ms):
    # under concurrent heartbeats that sleeping, not the work, made the latency. Writers of this
    # process queue on a lock instead. PostgreSQL: advisory locks, below, for every process.
    app.extensions["db_write_lock"] = threading.Lock() if engine.dialect.name == "sqlite" else None
    app.extensions["db_advisory_locks"] = engine.dialect.name == "postgresql"

    @event.listens_for(factory, "after_begin")
    def _take_write_lock(sess, _transaction, connection):
        # Inside write_transaction(): every transaction the block begins (the first, and any
        # after a commit in the middle) holds the lock until it ends.
        sql = sess.info.get("write_lock_sql")
        if sql:
            connection.exec_driver_sql(sql)

    @app.teardown_appcontext
    def _remove_session(_exc):
        app.extensions["db_session"].remove()


def session() -> Session:
    return current_app.extensions["db_session"]()


@contextmanager
def write_transaction(key: tuple[str, int] | None = None) -> Iterator[Session]:
    """A session for a read-modify-write that must see the newest committed state, one writer
    at a time: what the block reads cannot change under it before it commits.

    Ends any read transaction the request already holds (the login check opens one): in
    SQLite's WAL mode a stale read snapshot cannot be upgraded to a write.

    SQLite: the writers of this process queue on one lock (SQLite itself allows one writer).
    PostgreSQL (READ COMMITTED): the block's transactions take a transaction-level advisory
    lock first, so writers of every process and machine queue and each one reads what the one
    before it committed. Without `key` the lock excludes every other write_transaction; with
    `key=(kind, id)`, e.g. ("learner", 7), it excludes only blocks with the same key (and the
    unkeyed ones): for writes that touch that one learner's rows only.
    """
    s = session()
    s.commit()
    lock = current_app.extensions["db_write_lock"]
    if lock is not None:
        with lock:
            try:
                yield s
            except BaseException:
                s.rollback()
                raise
        return
    if not current_app.extensions.get("db_advisory_locks"):
        yield s
        return
    s.info["write_lock_sql"] = _write_lock_sql(key)
    try:
        s.connection()               # begins the transaction: the lock is held from here
        yield s
    except BaseException:
        s.rollback()
        raise
    finally:
        s.info.pop("write_lock_sql", None)
    if s.in_transaction() and not (s.new or s.dirty or s.deleted):
        s.commit()                   # only reads since the block's last commit: let the lock go


def engine() -> Engine:
    return current_app.extensions["db_engine"]
