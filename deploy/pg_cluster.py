"""A PostgreSQL cluster in a folder of our own: `initdb`, `pg_ctl` and `postgres` from Debian's
/usr/lib/postgresql/<version>/bin, run as the right user.

Shared by the production stack (deploy/stack.py: a durable cluster on 127.0.0.1 with password
logins) and the test run (tests/pg.py: a throw-away cluster on a unix socket, fsync off).

PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user of the Debian
package (else `nobody`), and the folder is handed to that user. The binaries come from $PG_BINDIR,
else the newest /usr/lib/postgresql/*/bin (Debian), else the PATH.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def find_bindir() -> Path:
    """The folder holding initdb, pg_ctl and postgres."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(re.sub(r"\D", "", p.parent.parent.name) or 0))
    if versions:
        return versions[-1].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (initdb): install the Debian package `postgresql` "
        "(scripts/install-system-deps.sh --test or --production does), or set PG_BINDIR")


def server_user() -> str | None:
    """Who runs the server: None for the current user; as root, postgres (else nobody)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresUnavailable("running as root and neither a `postgres` nor a `nobody` user exists")


def user_kwargs(user: str | None) -> dict:
    """subprocess keyword arguments that run a child as `user` (nothing for the current user)."""
    if not user:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def reachable_by(path: Path, user: str | None) -> bool:
    """Whether `user` (None: ourselves) can pass through every folder above `path`."""
    if user is None:
        return True
    uid = pwd.getpwnam(user).pw_uid
    path = Path(path).resolve()
    for folder in (path, *path.parents):
        if not folder.exists():
            continue
        st = folder.stat()
        if not (st.st_mode & 0o001 or st.st_uid == uid and st.st_mode & 0o100):
            return False
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie (killed, not yet reaped) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


class ClusterDir:
    """One cluster's folder: `data/` (the cluster), `server.log` (pg_ctl's log)."""

    def __init__(self, folder: Path, bindir: Path | None = None):
        self.folder = Path(folder)
        self.bindir = bindir or find_bindir()
        self.user = server_user()

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def logfile(self) -> Path:
        return self.folder / "server.log"

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def prepare(self) -> None:
        """Create the folder (private), owned by the server's user."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        self.give(self.folder)

    def give(self, path: Path) -> None:
        """Hand `path` to the server's user (as root)."""
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def run(self, *args: str, timeout: float = 120) -> str:
        """Run one of the server binaries (`initdb`, `pg_ctl`, ...) as the server's user."""
        done = subprocess.run([str(self.bindir / args[0]), *args[1:]], capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=self.folder, **user_kwargs(self.user))
        if done.returncode != 0:
            log = self.log_tail()
            raise PostgresUnavailable(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
                                      + (f"\nserver log:\n{log}" if log else ""))
        return done.stdout

    def initdb(self, *extra: str) -> None:
        self.run("initdb", "-D", str(self.data), "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions", *extra)

    def configure(self, settings: dict, comment: str) -> None:
        """Append settings to postgresql.conf (later lines win)."""
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\n# {comment}\n")
            for name, value in settings.items():
                conf.write(f"{name} = {value}\n")

    def pg_ctl_start(self, timeout: int = 60) -> None:
        self.run("pg_ctl", "start", "-w", "-t", str(timeout), "-D", str(self.data), "-l", str(self.logfile),
                 timeout=timeout + 30)

    def pg_ctl_stop(self, mode: str = "fast", timeout: int = 60) -> None:
        self.run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", timeout=timeout)

    def postgres_command(self) -> list[str]:
        """The server in the foreground (a child process of ours; SIGINT: fast shutdown)."""
        return [str(self.bindir / "postgres"), "-D", str(self.data)]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, TypeError):
            return ""
