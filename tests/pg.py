"""A throw-away PostgreSQL cluster for the test run (tests/conftest.py starts one per session).

`initdb` into a fresh temporary folder, `pg_ctl start` listening on a unix socket in that folder
only (no TCP port: nothing to collide with, nothing reachable from outside, and it works inside
scripts/in-netns.sh), settings for speed over durability (fsync off), one database per test
created and dropped through an admin connection, the whole folder removed at the end. A run that
was killed leaves its server behind: the next run stops it and removes its folder (`owner.pid`
names the process a cluster belongs to; clusters of live runs are left alone).

PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user of the Debian
package (else `nobody`), and the folder is handed to that user. Finding the binaries and running
them as that user is shared with the production stack: deploy/pg_cluster.py.

    python -m tests.pg      # start one, print its URL, wait for Ctrl-C (a shell for a look around)
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Self

from deploy.pg_cluster import ClusterDir, PostgresUnavailable, find_bindir, server_user, user_kwargs
from deploy.pg_cluster import alive as _alive

__all__ = ["Cluster", "ExternalServer", "PostgresUnavailable", "Server", "find_bindir", "reap_orphans"]

PORT = 5432        # only names the socket file (.s.PGSQL.5432) in our own folder
SUPERUSER = "postgres"
FOLDER_PREFIX = "test-pg-"
OWNER_FILE = "owner.pid"   # the process that started the cluster


def _server_user() -> str | None:
    return server_user()


def _base_dir() -> Path:
    """Where clusters live: the temporary folder, unless the server user (root runs it as
    another user) could not reach it; then /tmp."""
    base = Path(tempfile.gettempdir()).resolve()
    if _server_user() is None or all(p.stat().st_mode & 0o001 for p in (base, *base.parents)):
        return base
    return Path("/tmp")


def reap_orphans(bindir: Path) -> None:
    """Stops and removes the clusters of earlier runs whose process is gone (a test run that was
    killed leaves its server running). Clusters of runs still going are left alone."""
    for folder in _base_dir().glob(FOLDER_PREFIX + "*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        if (folder / "data" / "postmaster.pid").exists():
            kwargs = user_kwargs(_server_user())
            subprocess.run([str(bindir / "pg_ctl"), "stop", "-D", str(folder / "data"), "-m", "immediate", "-w"],
                           capture_output=True, timeout=60, check=False, **kwargs)
        shutil.rmtree(folder, ignore_errors=True)


class Server:
    """A PostgreSQL server the tests may create and drop databases on."""

    admin = None                     # an AUTOCOMMIT engine on the server's `postgres` database
    _background: ThreadPoolExecutor | None = None
    _spare: dict[str, Future]

    def url(self, database: str) -> str:
        raise NotImplementedError

    def copy_of(self, template: str) -> str:
        """A new database copied from `template` (its URL). The copy for the next caller is made
        in the background meanwhile, while the test runs: a copy takes 0.1-0.7 s."""
        if self._background is None:
            self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-pg")
            self._spare = {}
        spare = self._spare.pop(template, None)
        url = spare.result() if spare is not None else self.create_database(template=template)
        self._spare[template] = self._background.submit(self.create_database, None, template)
        return url

    def drop_later(self, name_or_url: str) -> None:
        """drop_database in the background (before the next copy is made)."""
        if self._background is None:
            self.drop_database(name_or_url)
        else:
            self._background.submit(self.drop_database, name_or_url)

    def finish_background(self) -> None:
        """Waits for the background work and drops the spare copies."""
        if self._background is None:
            return
        self._background.shutdown(wait=True)
        self._background = None
        for spare in self._spare.values():
            try:
                self.drop_database(spare.result())
            except Exception:        # noqa: BLE001, S110  (the cluster is going away anyway)
                pass
        self._spare = {}

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """A new empty database (or a copy of `template`); returns its URL."""
        from sqlalchemy import text
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        sql = f'CREATE DATABASE "{name}"'
        if template:
            # FILE_COPY: copies the files after a checkpoint (cheap with fsync off); the default,
            # WAL_LOG, writes the whole copy through the WAL
            sql += f' TEMPLATE "{template}" STRATEGY FILE_COPY'
        with self.admin.connect() as conn:
            conn.execute(text(sql))
        return self.url(name)

    def drop_database(self, name_or_url: str) -> None:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url
        name = make_url(name_or_url).database if "://" in name_or_url else name_or_url
        if self.admin is None:
            return
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class ExternalServer(Server):
    """A server of your own, named by a URL to a database on it (TEST_POSTGRESQL_URL, e.g.
    postgresql+psycopg://postgres@localhost/postgres) whose user may create databases."""

    def __init__(self, admin_url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        self.base = make_url(admin_url)
        if self.base.drivername == "postgresql":
            self.base = self.base.set(drivername="postgresql+psycopg")
        self.admin = create_engine(self.base, isolation_level="AUTOCOMMIT", poolclass=_null_pool())

    def url(self, database: str) -> str:
        return self.base.set(database=database).render_as_string(hide_password=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc) -> None:
        self.finish_background()
        self.admin.dispose()


class Cluster(Server):
    """One PostgreSQL server in a temporary folder; `url(name)` for a SQLAlchemy URL."""

    def __init__(self, bindir: Path | None = None):
        self.bindir = bindir or find_bindir()
        self.user = _server_user()
        self.folder: Path | None = None
        self.cluster: ClusterDir | None = None   # initdb/pg_ctl as the server's user (deploy/pg_cluster.py)
        self.running = False

    # --------------------------------------------------------------------- life cycle

    def start(self) -> Cluster:
        reap_orphans(self.bindir)
        self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=_base_dir()))
        (self.folder / OWNER_FILE).write_text(str(os.getpid()))
        self.cluster = ClusterDir(self.folder, self.bindir)
        self.cluster.give(self.folder)
        atexit.register(self.stop)
        self.cluster.initdb("-U", SUPERUSER, "--auth=trust", "--no-sync")
        self.cluster.configure({
            "listen_addresses": "''",
            "port": PORT,
            "unix_socket_directories": f"'{self.folder}'",
            "unix_socket_permissions": "0700",
            "max_connections": 300,
            "shared_buffers": "64MB",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "wal_level": "minimal",
            "max_wal_senders": 0,
            "checkpoint_timeout": "1h",
            "max_wal_size": "2GB",
            # containers give /dev/shm 64 MB: dynamic shared memory in files instead
            "dynamic_shared_memory_type": "mmap",
            "timezone": "'UTC'",
            "log_min_messages": "warning",
            "log_min_error_statement": "panic",
        }, "tests/pg.py: a throw-away cluster, fast and unreachable")
        self.cluster.pg_ctl_start()
        self.running = True
        from sqlalchemy import create_engine
        self.admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT", poolclass=_null_pool())
        return self

    def stop(self) -> None:
        if self.admin is not None:
            self.finish_background()
            self.admin.dispose()
            self.admin = None
        if self.running:
            try:
                self.cluster.pg_ctl_stop("immediate")
            except (PostgresUnavailable, subprocess.TimeoutExpired):
                pass
            self.running = False
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def logfile(self) -> Path:
        return self.folder / "server.log"

    def log_tail(self, lines: int = 40) -> str:
        return self.cluster.log_tail(lines) if self.cluster else ""

    # --------------------------------------------------------------------- databases

    def url(self, database: str) -> str:
        """A SQLAlchemy URL for the app (psycopg 3 over the unix socket)."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.folder}&port={PORT}"


def _null_pool():
    from sqlalchemy.pool import NullPool
    return NullPool


if __name__ == "__main__":
    import signal
    import time

    def _stop(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with Cluster() as cluster:
        print(cluster.url("postgres"), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
