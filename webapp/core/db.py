"""Engine and session handling (plain SQLAlchemy 2.x, one scoped session per app)."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from flask import Flask, current_app
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker


class Base(DeclarativeBase):
    pass


def make_engine(url: str) -> Engine:
    kwargs = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
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


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    app.extensions["db_engine"] = engine
    app.extensions["db_session"] = scoped_session(factory)
    # SQLite has one writer at a time and its busy handler waits by sleeping (1, 2, 5 ... 100 ms):
    # under concurrent heartbeats that sleeping, not the work, made the latency. Writers of this
    # process queue on a lock instead. Other databases lock rows themselves.
    app.extensions["db_write_lock"] = threading.Lock() if engine.dialect.name == "sqlite" else None

    @app.teardown_appcontext
    def _remove_session(_exc):
        app.extensions["db_session"].remove()


def session() -> Session:
    return current_app.extensions["db_session"]()


@contextmanager
def write_transaction() -> Iterator[Session]:
    """A session for a read-modify-write that must see the newest committed state.

    Ends any read transaction the request already holds (the login check opens one): in
    SQLite's WAL mode a stale read snapshot cannot be upgraded to a write.
    """
    s = session()
    s.commit()
    lock = current_app.extensions["db_write_lock"]
    if lock is None:
        yield s
        return
    with lock:
        try:
            yield s
        except BaseException:
            s.rollback()
            raise


def engine() -> Engine:
    return current_app.extensions["db_engine"]
