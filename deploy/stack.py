"""The production topology on one machine, started by one command (README "Production mode"):

    python -m deploy.stack up [--web N] [--media N] [--dir instance/production] [--https-port 8443] [--http-port 8080]
    scripts/run.sh --production       # installs what is needed first, then runs the line above

In the foreground until Ctrl-C or SIGTERM, which stop everything in order. It starts, each with its
own configuration and files under the run folder (--dir):

* PostgreSQL: a cluster of its own (initdb/postgres from Debian's /usr/lib/postgresql/*/bin,
  deploy/pg_cluster.py) on 127.0.0.1, a `portal` role with a password (SCRAM), a `portal` database;
* Redis (Debian redis-server): 127.0.0.1, a password, append-only file; Socket.IO's message
  queue between the web processes, and the rate limiter's counters;
* the migrations (`flask db upgrade`), the sample courses (imported as scripts/run.sh does) and, on
  the first start only, the demo data (`flask demo load`);
* coturn (Debian `turnserver`): TURN with time-limited credentials the portal signs
  (webapp/core/turn.py), plain and over TLS, config from deploy/turnserver.conf.template;
* Janus (Debian `janus`), unless conference_backend="aiortc": the conferences' media rooms
  (VideoRoom), a private config written by deploy/janus_server.py (API secret, VideoRoom admin key),
  its HTTP API on 127.0.0.1 for the media workers only, RTP on its own port range;
* N media workers (`python -m webapp.media --worker <i>`, pieces media0, media1, ...; default one per
  core), sittings and conferences sharded across them by id (webapp.media.workers), and the one
  scheduler process (`python -m webapp.scheduler`);
* N web processes: `gunicorn -c deploy/gunicorn.conf.py webapp.wsgi:app`, one worker with many
  threads each, on 127.0.0.1 ports;
* nginx (Debian nginx-light): TLS in front of them (a self-signed certificate made with openssl
  unless --cert/--key are given), HTTP redirected to HTTPS, signed media served directly.

Every process logs to <dir>/logs/<name>.log. The secrets (Janus's too) are generated once into
<dir>/secrets.json (mode 600), and <dir>/portal.env holds the shared environment (systemd's
EnvironmentFile format) for running `flask` commands against this stack.

Also a library (tests and benchmarks):

    stack = Stack(run_dir, web=2, media=2, ports="auto", samples=False)
    stack.start()        # returns when every piece answers
    stack.url            # https://127.0.0.1:<port> (nginx)
    stack.kill("web0"); stack.restart("web0")
    stack.kill("media1")  # "media" names media0 when there is one media worker
    stack.kill("janus"); stack.restart("janus")   # Stack(conference_backend="aiortc"): no janus piece
    stack.stop()
"""
from __future__ import annotations

import argparse
import contextlib
import getpass
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.pg_cluster import (ClusterDir, PostgresUnavailable, alive, find_bindir, reachable_by, server_user,
                               user_kwargs)

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
JANUS = shutil.which("janus") or "/usr/bin/janus"

# Ports of the documented command. They avoid the ports of Debian's own services (PostgreSQL
# 5432, Redis 6379, coturn 3478/5349), which installing the packages may start.
DEFAULT_PORTS = {"https": 8443, "http": 8080, "web": 5101, "postgres": 5439, "redis": 6389,
                 "turn": 3480, "turn_tls": 5350, "relay": (49160, 49259), "janus": 7088,
                 "janus_rtp": (20000, 29999)}
CONFERENCE_BACKENDS = ("janus", "aiortc")
DB_NAME = DB_USER = "portal"
PG_SUPERUSER = "postgres"
SAMPLES = ROOT / "content" / "samples"
TEMP_PG_PREFIX = "portal-stack-pg-"    # clusters of stacks in the temporary folder, when root (pg_folder)
OWNER_FILE = "run-dir"                 # in such a cluster's folder: the run folder it belongs to


class StackError(RuntimeError):
    pass


@dataclass
class Ports:
    https: int
    http: int
    web: list[int]
    postgres: int
    redis: int
    turn: int
    turn_tls: int
    relay: tuple[int, int]
    janus: int = DEFAULT_PORTS["janus"]                         # Janus's HTTP API (127.0.0.1)
    janus_rtp: tuple[int, int] = DEFAULT_PORTS["janus_rtp"]     # its ICE/RTP ports (UDP)

    @classmethod
    def default(cls, web: int, **override) -> Ports:
        values = dict(DEFAULT_PORTS, web=[DEFAULT_PORTS["web"] + i for i in range(web)])
        values.update(override)
        return cls(**values)

    @classmethod
    def auto(cls, web: int, host: str = "127.0.0.1") -> Ports:
        """Free ports (TCP; the TURN ports free for UDP too), a random relay range and a random
        Janus RTP range apart from it (and from tests/conftest.py's Janus, 30000-34000)."""
        tcp = free_ports(host, 5 + web)
        turn = free_ports(host, 2, udp_too=True)
        low = random.randrange(20000, 60000, 100)
        rtp = random.choice([n for n in range(35000, 60000, 1000) if not n <= low < n + 1000])
        return cls(https=tcp[0], http=tcp[1], postgres=tcp[2], redis=tcp[3], janus=tcp[4], web=tcp[5:],
                   turn=turn[0], turn_tls=turn[1], relay=(low, low + 99), janus_rtp=(rtp, rtp + 999))


def free_ports(host: str, count: int, udp_too: bool = False) -> list[int]:
    """`count` distinct free ports, all bound at once (one at a time, the kernel may hand out the
    same port twice)."""
    for _attempt in range(50):
        with contextlib.ExitStack() as stack:
            socks = [stack.enter_context(socket.socket()) for _ in range(count)]
            for s in socks:
                s.bind((host, 0))
            ports = [s.getsockname()[1] for s in socks]
            if udp_too:
                try:
                    for port in ports:
                        u = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
                        u.bind((host, port))
                except OSError:
                    continue
            return ports
    raise StackError("no free ports")


@dataclass
class _Piece:
    """One process of the stack."""
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    env: dict = field(default_factory=dict)     # on top of the stack's process environment
    cwd: Path = ROOT
    user: str | None = None                     # run as (root only)
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 30.0
    ready_timeout: float = 120.0
    prepare: Callable[[], None] | None = None   # before each start (write its config)
    proc: subprocess.Popen | None = None
    started_at: float = 0.0


class Stack:
    """The production processes on one machine, under one run folder. See the module docstring."""

    def __init__(self, run_dir: str | Path, web: int = 2, *, ports: str | dict | Ports = "default",
                 listen: str = "127.0.0.1", public_host: str | None = None, env: dict | None = None,
                 samples: bool = True, demo: bool = True, media: int | bool | None = None, scheduler: bool = True,
                 cert: str | Path | None = None, key: str | Path | None = None, pg_dir: str | Path | None = None,
                 web_threads: int | None = None, python: str = sys.executable, conference_backend: str = "janus",
                 log: Callable[[str], None] | None = None):
        if web < 1:
            raise ValueError("web: at least one web process")
        self.run_dir = Path(run_dir).resolve()
        self.web = web
        if isinstance(ports, Ports):
            self.ports = ports
        elif ports == "auto":
            self.ports = Ports.auto(web, "127.0.0.1")
        elif ports == "default":
            self.ports = Ports.default(web)
        elif isinstance(ports, dict):
            self.ports = Ports.default(web, **ports)
        else:
            raise ValueError(f"ports={ports!r}: 'default', 'auto', a dict of overrides or a Ports")
        if len(self.ports.web) != web:
            raise ValueError(f"{web} web processes but {len(self.ports.web)} web ports")
        if _overlap(self.ports.relay, self.ports.janus_rtp):
            raise ValueError(f"Janus's RTP ports {self.ports.janus_rtp} overlap coturn's relay ports {self.ports.relay}")
        if conference_backend not in CONFERENCE_BACKENDS:
            raise ValueError(f"conference_backend={conference_backend!r}: one of {', '.join(CONFERENCE_BACKENDS)}")
        self.conference_backend = conference_backend
        self._janus_server = None
        self.listen = listen
        self.host = public_host or ("127.0.0.1" if listen in ("0.0.0.0", "127.0.0.1", "::") else listen)
        self.extra_env = {k: str(v) for k, v in (env or {}).items()}
        # media workers: None or True, one per core; False, none
        self.media = (os.cpu_count() or 1) if media is None or media is True else int(media)
        if self.media < 0:
            raise ValueError("media: a number of media workers (0: none)")
        self.samples, self.demo, self.with_media, self.with_scheduler = samples, demo, self.media > 0, scheduler
        self.cert_path = Path(cert).resolve() if cert else self.run_dir / "tls" / "cert.pem"
        self.key_path = Path(key).resolve() if key else self.run_dir / "tls" / "key.pem"
        self.own_cert = not cert
        self._pg_dir = Path(pg_dir).resolve() if pg_dir else None
        self.web_threads = web_threads
        self.python = python
        self._log = log or (lambda line: print(f"stack: {line}", file=sys.stderr, flush=True))
        self._secrets: dict | None = None
        self._pieces: dict[str, _Piece] = {}
        self._lock = threading.RLock()
        self._stopping = False
        self._define_pieces()

    # ------------------------------------------------------------------ public API

    @property
    def url(self) -> str:
        """The portal through nginx (HTTPS)."""
        return f"https://{self.host}" + ("" if self.ports.https == 443 else f":{self.ports.https}")

    @property
    def http_url(self) -> str:
        return f"http://{self.host}" + ("" if self.ports.http == 80 else f":{self.ports.http}")

    @property
    def web_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports.web]

    @property
    def media_names(self) -> list[str]:
        """The media workers' pieces (worker ids 0, 1, ...)."""
        return [f"media{i}" for i in range(self.media)]

    @property
    def names(self) -> list[str]:
        """The pieces in start order."""
        return list(self._pieces)

    @property
    def database_url(self) -> str:
        s = self.secrets
        return f"postgresql+psycopg://{DB_USER}:{s['db_password']}@127.0.0.1:{self.ports.postgres}/{DB_NAME}"

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.secrets['redis_password']}@127.0.0.1:{self.ports.redis}/0"

    @property
    def turn_urls(self) -> str:
        h, p, t = self.host, self.ports.turn, self.ports.turn_tls
        return f"turn:{h}:{p}?transport=udp,turn:{h}:{p}?transport=tcp,turns:{h}:{t}?transport=tcp"

    @property
    def instance_dir(self) -> Path:
        return self.run_dir / "instance"

    @property
    def media_root(self) -> Path:
        return self.instance_dir / "media"

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def secrets(self) -> dict:
        if self._secrets is None:
            self._secrets = self._load_secrets()
        return self._secrets

    @property
    def env(self) -> dict[str, str]:
        """The portal's environment shared by every process of the stack (what
        /etc/portal/portal.env holds in a systemd deployment)."""
        s = self.secrets
        values = {
            "FLASK_APP": "webapp",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": s["secret_key"],
            "MEDIA_SIGNING_KEY": s["media_signing_key"],
            "FACE_DATA_KEYS": s["face_data_key"],
            "INSTANCE_DIR": str(self.instance_dir),
            "MEDIA_ROOT": str(self.media_root),
            "MEDIA_URL_BASE": "/smedia",
            "MEDIA_MODE": "remote",
            "SCHEDULER_ENABLED": "0",
            "PROXY_FIX_HOPS": "1",
            "SESSION_COOKIE_SECURE": "1",
            "TURN_SECRET": s["turn_secret"],
            "TURN_URLS": self.turn_urls,
        }
        if self.conference_backend == "janus":
            from deploy.janus_server import portal_settings
            values.update(portal_settings(self.janus_server))
        values.update(self.extra_env)
        return values

    @property
    def janus_server(self):
        """deploy.janus_server.JanusServer of the `janus` piece: its config, secrets, URL and
        probe (the stack runs its process). None with conference_backend="aiortc"."""
        if self.conference_backend != "janus":
            return None
        if self._janus_server is None:
            from deploy.janus_server import JanusServer
            s = self.secrets
            # ICE host candidates on nginx's address when that is one address, else on every
            # interface (nginx on 0.0.0.0, or on 127.0.0.1 for a local try-out). Browsers behind
            # NAT reach them through the stack's coturn (TURN_URLS): Janus needs no TURN of its own.
            specific = self.listen not in ("0.0.0.0", "::", "127.0.0.1", "localhost")
            self._janus_server = JanusServer(
                self.run_dir / "janus", host="127.0.0.1", port=self.ports.janus, rtp_port_range=self.ports.janus_rtp,
                ice_enforce_list=self.listen if specific else None, api_secret=s["janus_api_secret"],
                admin_secret=s["janus_admin_secret"], admin_key=s["janus_admin_key"])
        return self._janus_server

    def proc(self, name: str) -> subprocess.Popen | None:
        return self._piece(name).proc

    def log_path(self, name: str) -> Path:
        return self.logs / f"{self._resolve(name)}.log"

    def start(self) -> Stack:
        """Start every piece in order; returns when each answers (raises StackError, with the
        log's tail, when one does not; what was started is stopped again)."""
        with self._lock:
            self._stopping = False
            self._prepare_run_dir()
            try:
                for name in ("postgres", "redis"):
                    self._start_piece(name)
                self._setup_database()
                self._setup_content()
                for name in ("coturn", "janus"):
                    if name in self._pieces:
                        self._start_piece(name)
                backs = [n for n in (*self.media_names, "scheduler") if n in self._pieces]
                for name in backs:
                    self._start_piece(name, wait=False)
                webs = [f"web{i}" for i in range(self.web)]
                for name in webs:
                    self._start_piece(name, wait=False)
                for name in backs + webs:
                    self._wait_ready(self._pieces[name])
                self._start_piece("nginx")
            except BaseException:
                self.stop()
                raise
        self._log(f"up: {self.url} (web processes {', '.join(self.web_urls)})")
        return self

    def stop(self, purge: bool = False) -> None:
        """Stop everything, in order: nginx, the web processes, media and scheduler, Janus, coturn,
        Redis, PostgreSQL. `purge`: then delete the run folder and the database cluster."""
        with self._lock:
            self._stopping = True
            groups = [["nginx"], [f"web{i}" for i in range(self.web)], [*self.media_names, "scheduler"], ["janus"], ["coturn"],
                      ["redis"], ["postgres"]]
            for group in groups:
                pieces = [self._pieces[n] for n in group if n in self._pieces]
                for piece in pieces:
                    self._signal(piece, piece.stop_signal)
                for piece in pieces:
                    self._reap(piece)
            launcher = self.run_dir / "run" / "launcher.pid"
            with contextlib.suppress(OSError, ValueError):
                if int(launcher.read_text()) == os.getpid():
                    launcher.unlink()
            if purge:
                pg = self.pg_folder
                if not str(pg).startswith(str(self.run_dir) + os.sep):
                    shutil.rmtree(pg, ignore_errors=True)
                shutil.rmtree(self.run_dir, ignore_errors=True)

    def kill(self, name: str, sig: int = signal.SIGKILL, wait: bool = True) -> int | None:
        """Send `sig` to a piece's whole process group (a gunicorn master and its worker, a
        postmaster and its backends); with `wait` (SIGKILL, SIGTERM, ...), wait until it is gone and
        return its exit status."""
        piece = self._piece(name)
        if piece.proc is None:
            raise StackError(f"{name} is not running")
        self._signal(piece, sig, group=True)
        if not wait:
            return None
        try:
            return piece.proc.wait(piece.stop_timeout)
        except subprocess.TimeoutExpired:
            raise StackError(f"{name} still running {piece.stop_timeout:.0f} s after signal {sig}") from None

    def restart(self, name: str) -> None:
        """Stop a piece (if it runs) and start it again; returns when it answers."""
        with self._lock:
            piece = self._piece(name)
            if piece.proc is not None:
                self._signal(piece, piece.stop_signal)
                self._reap(piece)
            self._stopping = False
            self._start_piece(piece.name)

    def supervise(self, interval: float = 1.0, stop_event: threading.Event | None = None) -> None:
        """Restart pieces that exit on their own (what systemd's Restart=always does in a real
        deployment), until `stop_event` is set or KeyboardInterrupt."""
        failures: dict[str, list[float]] = {}
        while not (stop_event and stop_event.is_set()):
            time.sleep(interval)
            for name, piece in list(self._pieces.items()):
                if self._stopping or piece.proc is None or piece.proc.poll() is None:
                    continue
                code = piece.proc.returncode
                recent = [t for t in failures.get(name, []) if time.monotonic() - t < 60] + [time.monotonic()]
                failures[name] = recent
                self._log(f"{name} exited with {code}; restarting (see {self.log_path(name)})")
                if len(recent) > 5:
                    raise StackError(f"{name} keeps exiting ({len(recent)} times in a minute): "
                                     f"{self.log_tail(name)}")
                try:
                    self.restart(name)
                except StackError as exc:
                    self._log(str(exc))

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ the pieces

    def _define_pieces(self) -> None:
        py = self.python
        self._pieces["postgres"] = _Piece("postgres", [], self._postgres_ready, user=server_user(),
                                          stop_signal=signal.SIGINT, stop_timeout=60, prepare=self._prepare_postgres)
        self._pieces["redis"] = _Piece("redis", [REDIS_SERVER, str(self.run_dir / "redis" / "redis.conf")],
                                       self._redis_ready, prepare=self._prepare_redis)
        self._pieces["coturn"] = _Piece("coturn", [TURNSERVER, "-c", str(self.run_dir / "coturn" / "turnserver.conf")],
                                        self._turn_ready, stop_timeout=10, prepare=self._prepare_coturn)
        if self.conference_backend == "janus":
            self._pieces["janus"] = _Piece("janus", [], lambda: self.janus_server.ready(), stop_timeout=15,
                                           ready_timeout=30, prepare=self._prepare_janus)
        for i, name in enumerate(self.media_names):
            self._pieces[name] = _Piece(name, [py, "-m", "webapp.media", "--worker", str(i)],
                                        lambda name=name, i=i: self._media_ready(name, str(i)),
                                        env={"SCHEDULER_ENABLED": "0"})
        if self.with_scheduler:
            self._pieces["scheduler"] = _Piece("scheduler", [py, "-m", "webapp.scheduler"],
                                               lambda: self._settled("scheduler"),
                                               env={"SCHEDULER_ENABLED": "1"})
        for i, port in enumerate(self.ports.web):
            env = {"PORTAL_BIND": f"127.0.0.1:{port}"}
            if self.web_threads:
                env["PORTAL_THREADS"] = str(self.web_threads)
            self._pieces[f"web{i}"] = _Piece(
                f"web{i}", [py, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "webapp.wsgi:app"],
                lambda port=port: _http_ok(f"http://127.0.0.1:{port}/login"), env=env, stop_timeout=40)
        nginx_conf = str(self.run_dir / "nginx" / "nginx.conf")
        self._pieces["nginx"] = _Piece("nginx", [NGINX, "-e", "stderr", "-c", nginx_conf, "-g", "daemon off;"],
                                       lambda: _http_ok(f"https://127.0.0.1:{self.ports.https}/login"),
                                       stop_timeout=15, prepare=self._prepare_nginx)

    def _resolve(self, name: str) -> str:
        """"media" names the media worker when there is one."""
        return "media0" if name == "media" and self.media == 1 else name

    def _piece(self, name: str) -> _Piece:
        name = self._resolve(name)
        try:
            return self._pieces[name]
        except KeyError:
            raise StackError(f"no piece named {name!r}: {', '.join(self._pieces)}") from None

    def _process_env(self, piece: _Piece) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env.update(piece.env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _start_piece(self, name: str, wait: bool = True) -> None:
        piece = self._pieces[name]
        if piece.proc is not None and piece.proc.poll() is None:
            raise StackError(f"{name} is already running")
        if piece.prepare:
            piece.prepare()
        self.logs.mkdir(mode=0o700, exist_ok=True)
        with open(self.log_path(name), "ab", buffering=0) as logfile:
            logfile.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} stack: starting {name}\n".encode())
            piece.proc = subprocess.Popen(piece.argv, stdin=subprocess.DEVNULL, stdout=logfile,
                                          stderr=subprocess.STDOUT, cwd=piece.cwd, env=self._process_env(piece),
                                          start_new_session=True, **user_kwargs(piece.user))
        piece.started_at = time.monotonic()
        (self.run_dir / "run" / f"{name}.pid").write_text(f"{piece.proc.pid} {' '.join(piece.argv)}\n")
        if wait:
            self._wait_ready(piece)

    def _wait_ready(self, piece: _Piece) -> None:
        deadline = time.monotonic() + piece.ready_timeout
        while True:
            if piece.proc.poll() is not None:
                raise StackError(f"{piece.name} exited with {piece.proc.returncode} while starting; "
                                 f"{self.log_path(piece.name)}:\n{self.log_tail(piece.name)}")
            with contextlib.suppress(Exception):
                if piece.ready():
                    return
            if time.monotonic() > deadline:
                raise StackError(f"{piece.name} did not answer within {piece.ready_timeout:.0f} s; "
                                 f"{self.log_path(piece.name)}:\n{self.log_tail(piece.name)}")
            time.sleep(0.1)

    def _signal(self, piece: _Piece, sig: int, group: bool = False) -> None:
        """Signal the piece's main process (it stops its own children in order), or with `group`
        its whole process group."""
        if piece.proc is None or piece.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(piece.proc.pid, sig)
            else:
                piece.proc.send_signal(sig)

    def _reap(self, piece: _Piece) -> None:
        """Wait for a signalled piece to exit (then SIGKILL its group), and forget it."""
        if piece.proc is None:
            return
        try:
            piece.proc.wait(piece.stop_timeout)
        except subprocess.TimeoutExpired:
            self._log(f"{piece.name} did not stop within {piece.stop_timeout:.0f} s: killing it")
            self._signal(piece, signal.SIGKILL, group=True)
            piece.proc.wait(10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(piece.proc.pid, signal.SIGKILL)   # anything of its group left behind
        piece.proc = None
        with contextlib.suppress(OSError):
            (self.run_dir / "run" / f"{piece.name}.pid").unlink()

    def _media_ready(self, name: str, worker: str) -> bool:
        """A media worker answers once its heartbeat (webapp.media.workers) carries its pid."""
        import redis

        from webapp.media.workers import Registry
        client = redis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=2, retry=None)
        try:
            beat = Registry(client).heartbeat(worker)
        finally:
            client.close()
        return bool(beat) and beat.get("pid") == self._pieces[name].proc.pid

    def _settled(self, name: str, seconds: float = 1.5) -> bool:
        """A process with nothing to probe: it is up once it has run this long without exiting."""
        return time.monotonic() - self._pieces[name].started_at >= seconds

    # ------------------------------------------------------------------ run folder, secrets

    def _prepare_run_dir(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "logs"):
            (self.run_dir / sub).mkdir(mode=0o700, exist_ok=True)
        self.instance_dir.mkdir(mode=0o700, exist_ok=True)
        self.media_root.mkdir(mode=0o700, exist_ok=True)
        launcher = self.run_dir / "run" / "launcher.pid"
        with contextlib.suppress(OSError, ValueError):
            other = int(launcher.read_text())
            if other != os.getpid() and alive(other):
                raise StackError(f"a stack is already running in {self.run_dir} (launcher pid {other})")
        launcher.write_text(str(os.getpid()))
        self._reap_leftovers()
        reap_orphan_clusters()
        _ = self.secrets
        self._write_env_file()
        if self.own_cert and not (self.cert_path.exists() and self.key_path.exists()):
            self._make_certificate()

    def _reap_leftovers(self) -> None:
        """Processes of an earlier launcher of this folder that was killed: stop them."""
        for pidfile in (self.run_dir / "run").glob("*.pid"):
            if pidfile.name == "launcher.pid":
                continue
            try:
                pid_text, argv = pidfile.read_text().split(" ", 1)
                pid = int(pid_text)
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError):
                pidfile.unlink(missing_ok=True)
                continue
            if alive(pid) and cmdline.strip() == argv.strip():
                self._log(f"stopping a leftover {pidfile.stem} (pid {pid}) of an earlier run")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                for _ in range(100):
                    if not alive(pid):
                        break
                    time.sleep(0.1)
            pidfile.unlink(missing_ok=True)

    def _load_secrets(self) -> dict:
        path = self.run_dir / "secrets.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        wanted = {"secret_key": lambda: secrets.token_hex(32), "media_signing_key": lambda: secrets.token_urlsafe(32),
                  "face_data_key": _fernet_key, "turn_secret": lambda: secrets.token_hex(24),
                  "db_password": lambda: secrets.token_hex(24), "pg_superuser_password": lambda: secrets.token_hex(24),
                  "redis_password": lambda: secrets.token_hex(24), "janus_api_secret": lambda: secrets.token_hex(24),
                  "janus_admin_secret": lambda: secrets.token_hex(24), "janus_admin_key": lambda: secrets.token_hex(24)}
        missing = {k: make() for k, make in wanted.items() if k not in stored}
        if missing:
            stored.update(missing)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            _write_private(path, json.dumps(stored, indent=2) + "\n")
        return stored

    def _write_env_file(self) -> None:
        lines = ["# The portal's shared environment for this stack (deploy/stack.py); systemd EnvironmentFile",
                 "# format. For a flask command against it: set -a; . ./portal.env; set +a; flask ..."]
        lines += [f"{k}={v}" for k, v in self.env.items()]
        _write_private(self.run_dir / "portal.env", "\n".join(lines) + "\n")

    def _make_certificate(self) -> None:
        self.cert_path.parent.mkdir(mode=0o700, exist_ok=True)
        names = {"DNS:localhost", "IP:127.0.0.1"}
        names.add(("IP:" if _is_ip(self.host) else "DNS:") + self.host)
        done = subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "825",
                               "-keyout", str(self.key_path), "-out", str(self.cert_path), "-subj", f"/CN={self.host}",
                               "-addext", "subjectAltName=" + ",".join(sorted(names))],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(f"openssl could not make a certificate: {done.stderr}")
        os.chmod(self.key_path, 0o600)
        self._log(f"made a self-signed certificate for {self.host}: {self.cert_path}")

    # ------------------------------------------------------------------ PostgreSQL

    @property
    def pg_folder(self) -> Path:
        """The cluster's folder: <dir>/postgres, or, when the server's user (`postgres`, when we
        are root) cannot reach the run folder, a folder of its own linked from there: under /tmp
        for a run folder in the temporary folder (removed by a later start once that run folder is
        gone: `reap_orphan_clusters`), else in that user's home (/var/lib/postgresql)."""
        if self._pg_dir:
            return self._pg_dir
        link = self.run_dir / "postgres"
        if link.is_symlink():
            return link.resolve()
        user = server_user()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if reachable_by(self.run_dir, user):
            return link
        import pwd
        entry = pwd.getpwnam(user)
        name = hashlib.sha256(str(self.run_dir).encode()).hexdigest()[:12]
        home = Path(entry.pw_dir)
        if _inside(self.run_dir, Path(tempfile.gettempdir())):
            folder = Path("/tmp") / f"{TEMP_PG_PREFIX}{name}"
        elif home.is_dir() and home.stat().st_uid == entry.pw_uid:
            folder = home / f"portal-stack-{name}"
        else:
            folder = Path("/var/tmp") / f"portal-stack-{name}"
        link.symlink_to(folder)
        return folder

    def _pg_cluster(self) -> ClusterDir:
        return ClusterDir(self.pg_folder)

    def _prepare_postgres(self) -> None:
        cluster = self._pg_cluster()
        cluster.prepare()
        if cluster.folder != self.run_dir / "postgres":
            (cluster.folder / OWNER_FILE).write_text(f"{self.run_dir}\n")
        if not cluster.initialised:
            pwfile = cluster.folder / "pwfile"
            _write_private(pwfile, self.secrets["pg_superuser_password"] + "\n")
            cluster.give(pwfile)
            try:
                cluster.initdb("-U", PG_SUPERUSER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                               "--auth-local=scram-sha-256")
            finally:
                pwfile.unlink(missing_ok=True)
            with open(cluster.data / "postgresql.conf", "a", encoding="utf-8") as conf:
                conf.write("\n# deploy/stack.py rewrites this file at each start\ninclude 'portal-stack.conf'\n")
        conns = max(100, 40 * (self.web + self.media + 2))
        settings = {"listen_addresses": "'127.0.0.1'", "port": self.ports.postgres,
                    "unix_socket_directories": f"'{cluster.folder}'", "unix_socket_permissions": "0700",
                    "max_connections": conns, "shared_buffers": "128MB", "password_encryption": "scram-sha-256",
                    # containers give /dev/shm 64 MB: dynamic shared memory in files instead
                    "dynamic_shared_memory_type": "mmap", "timezone": "'UTC'", "log_min_messages": "warning",
                    "log_destination": "stderr", "logging_collector": "off"}
        path = cluster.data / "portal-stack.conf"
        path.write_text("# deploy/stack.py: written at each start\n"
                        + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        cluster.give(path)
        piece = self._pieces["postgres"]
        piece.argv = cluster.postgres_command()
        piece.cwd = cluster.folder

    def _pg_connect(self, user: str, password: str, dbname: str):
        import psycopg
        return psycopg.connect(host="127.0.0.1", port=self.ports.postgres, user=user, password=password,
                               dbname=dbname, connect_timeout=3, autocommit=True)

    def _postgres_ready(self) -> bool:
        with self._pg_connect(PG_SUPERUSER, self.secrets["pg_superuser_password"], "postgres") as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    def _setup_database(self) -> None:
        """The portal's role (password login) and database, then the migrations."""
        from psycopg import sql
        with self._pg_connect(PG_SUPERUSER, self.secrets["pg_superuser_password"], "postgres") as conn:
            role = sql.Identifier(DB_USER)
            password = sql.Literal(self.secrets["db_password"])
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DB_USER,)).fetchone():
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(role, password))
            else:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, password))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                    sql.Identifier(DB_NAME), role))
        self._flask("db", "upgrade")

    def _setup_content(self) -> None:
        """Sample courses (as scripts/run.sh: built once into content/samples, imported when
        missing), then the demo data on the first start only."""
        if self.samples:
            if not (SAMPLES / "law-basics.json").exists():
                self._log("building sample courses (a minute or two, once)...")
                self._run([self.python, "-m", "content.build_samples", "--out", str(SAMPLES)], "setup")
            for manifest in sorted(SAMPLES.glob("*.json")):
                if not (self.media_root / manifest.stem / "master.m3u8").exists():
                    self._flask("content", "import", str(manifest), "--overwrite")
        if self.demo and not (self.run_dir / "demo-loaded").exists():
            out = self._flask("demo", "load")
            for line in out.splitlines():
                self._log(line)
            (self.run_dir / "demo-loaded").write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))

    def _flask(self, *args: str) -> str:
        return self._run([self.python, "-m", "flask", *args], "setup")

    def _run(self, argv: list[str], log_name: str) -> str:
        env = dict(os.environ)
        env.update(self.env)
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800)
        with open(self.log_path(log_name), "a", encoding="utf-8") as log:
            log.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv[1:])} -> {done.returncode}\n"
                      f"{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise StackError(f"{' '.join(argv[1:])} failed ({done.returncode}):\n{done.stdout[-2000:]}"
                             f"{done.stderr[-4000:]}")
        return done.stdout

    # ------------------------------------------------------------------ Redis, coturn, nginx

    def _prepare_redis(self) -> None:
        folder = self.run_dir / "redis"
        folder.mkdir(mode=0o700, exist_ok=True)
        _write_private(folder / "redis.conf", "\n".join([
            "# deploy/stack.py: written at each start",
            "bind 127.0.0.1",
            f"port {self.ports.redis}",
            "protected-mode yes",
            f"requirepass {self.secrets['redis_password']}",
            "daemonize no",
            "supervised no",
            'logfile ""',
            f"dir {folder}",
            "appendonly yes",
            "appendfsync everysec",
            # rate-limit counters and queued events must not be evicted
            "maxmemory-policy noeviction",
            "",
        ]))

    def _redis_ready(self) -> bool:
        import redis
        client = redis.Redis(host="127.0.0.1", port=self.ports.redis, password=self.secrets["redis_password"],
                             socket_timeout=2, socket_connect_timeout=2, retry=None)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def _prepare_coturn(self) -> None:
        from webapp.deploy import turnserver_config
        folder = self.run_dir / "coturn"
        folder.mkdir(mode=0o700, exist_ok=True)
        # the same address as nginx; every interface when nginx listens on every one
        listen = {"0.0.0.0": None, "::": None, "localhost": "127.0.0.1"}.get(self.listen, self.listen)
        text = turnserver_config(secret=self.secrets["turn_secret"], realm=self.host, port=self.ports.turn,
                                 tls_port=self.ports.turn_tls, cert=self.cert_path, key=self.key_path, run_dir=folder,
                                 listening_ips=[listen] if listen else [], relay_ips=[listen] if listen else [],
                                 relay_ports=self.ports.relay)
        _write_private(folder / "turnserver.conf", text)

    def _turn_ready(self) -> bool:
        return stun_binding(("127.0.0.1", self.ports.turn)) is not None

    def _prepare_janus(self) -> None:
        """deploy/janus_server.py's config (0600 under <dir>/janus/etc); the stack runs its command."""
        server = self.janus_server
        server.write_config()
        self._pieces["janus"].argv = server.command()

    def _prepare_nginx(self) -> None:
        from webapp.deploy import nginx_config
        folder = self.run_dir / "nginx"
        folder.mkdir(mode=0o700, exist_ok=True)
        (folder / "acme").mkdir(exist_ok=True)
        listen_host = f"[{self.listen}]" if ":" in self.listen else self.listen
        config = {"MEDIA_ROOT": str(self.media_root), "MEDIA_SIGNING_KEY": self.secrets["media_signing_key"],
                  "UPLOAD_MAX_BYTES": int(self.env.get("UPLOAD_MAX_BYTES", 2 * 1024**3))}
        text = nginx_config(config, listen=f"{listen_host}:{self.ports.https}",
                            portal=[f"127.0.0.1:{port}" for port in self.ports.web], run_dir=folder,
                            tls_cert=self.cert_path, tls_key=self.key_path,
                            redirect_listen=f"{listen_host}:{self.ports.http}", https_port=self.ports.https,
                            # our files are private to us: as root, the workers run as root too
                            worker_user=getpass.getuser() if os.geteuid() == 0 else None)
        _write_private(folder / "nginx.conf", text)


# ---------------------------------------------------------------------- helpers

def reap_orphan_clusters() -> None:
    """Clusters that temporary stacks (tests) kept outside their run folder, whose run folder is
    gone: stop their server if it still runs, delete them."""
    for folder in Path("/tmp").glob(TEMP_PG_PREFIX + "*"):
        try:
            owner = Path((folder / OWNER_FILE).read_text().strip())
        except OSError:
            continue
        if owner.exists():
            continue
        with contextlib.suppress(OSError, ValueError, ProcessLookupError, PermissionError):
            pid = int((folder / "data" / "postmaster.pid").read_text().split()[0])
            if alive(pid):
                os.kill(pid, signal.SIGQUIT)     # immediate shutdown: nothing in it is wanted
                for _ in range(100):
                    if not alive(pid):
                        break
                    time.sleep(0.1)
        shutil.rmtree(folder, ignore_errors=True)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def _fernet_key() -> str:
    import base64
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        return True
    except OSError:
        return False


def _http_ok(url: str, timeout: float = 3.0) -> bool:
    """GET answers 200 (a self-signed certificate is accepted: this is a liveness probe)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def stun_binding(server: tuple[str, int], timeout: float = 1.0) -> tuple[str, int] | None:
    """One STUN Binding request over UDP (RFC 8489); the mapped address the server saw, or None."""
    tid = os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(struct.pack("!HHI", 0x0001, 0, 0x2112A442) + tid, server)
        try:
            data, _ = sock.recvfrom(2048)
        except (TimeoutError, OSError):
            return None
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    if kind != 0x0101 or cookie != 0x2112A442 or data[8:20] != tid:
        return None
    pos = 20
    while pos + 4 <= 20 + length:
        attr, size = struct.unpack("!HH", data[pos:pos + 4])
        value = data[pos + 4:pos + 4 + size]
        if attr == 0x0020 and size >= 8 and value[1] == 1:   # XOR-MAPPED-ADDRESS, IPv4
            port = struct.unpack("!H", value[2:4])[0] ^ 0x2112
            addr = struct.unpack("!I", value[4:8])[0] ^ 0x2112A442
            return socket.inet_ntoa(struct.pack("!I", addr)), port
        pos += 4 + size + (-size % 4)
    return ("", 0)


# ---------------------------------------------------------------------- the command

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.stack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stack in the foreground (Ctrl-C stops it)")
    up.add_argument("--web", type=int, default=2, help="web processes (about one per core)")
    up.add_argument("--media", type=int, default=os.cpu_count() or 1,
                    help="media workers, sittings and conferences sharded across them (default: one per core)")
    up.add_argument("--dir", type=Path, default=ROOT / "instance" / "production",
                    help="run folder: configs, data, logs, secrets")
    up.add_argument("--https-port", type=int, default=DEFAULT_PORTS["https"])
    up.add_argument("--http-port", type=int, default=DEFAULT_PORTS["http"], help="redirects to HTTPS")
    up.add_argument("--listen", default="127.0.0.1", help="address nginx listens on (0.0.0.0: every interface)")
    up.add_argument("--public-host", default=None, help="host name in URLs, the certificate and the TURN realm")
    up.add_argument("--cert", type=Path, help="TLS certificate (full chain); default: a self-signed one")
    up.add_argument("--key", type=Path, help="its private key")
    up.add_argument("--no-samples", action="store_true", help="do not build or import the sample courses")
    up.add_argument("--no-demo", action="store_true", help="do not load the demo organisation")
    up.add_argument("--conference-backend", choices=CONFERENCE_BACKENDS, default="janus",
                    help="conference media: a Janus of the stack's own (default), or aiortc in the media workers")
    args = parser.parse_args(argv)
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")
    tools = (NGINX, REDIS_SERVER, TURNSERVER, OPENSSL) + ((JANUS,) if args.conference_backend == "janus" else ())
    for tool in tools:
        if not Path(tool).exists():
            print(f"error: {tool} is missing: scripts/install-system-deps.sh --production", file=sys.stderr)
            return 2
    try:
        find_bindir()
    except PostgresUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.media < 1:
        parser.error("--media: at least one media worker")
    stack = Stack(args.dir, web=args.web, media=args.media, ports={"https": args.https_port, "http": args.http_port},
                  listen=args.listen, public_host=args.public_host, cert=args.cert, key=args.key,
                  samples=not args.no_samples, demo=not args.no_demo, conference_backend=args.conference_backend)

    def _stop(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
        print(f"portal: {stack.url}" + (" (self-signed certificate: your browser will ask)" if stack.own_cert else ""),
              flush=True)
        print(f"logs: {stack.logs}/; stop with Ctrl-C", flush=True)
        stack.supervise()
    except KeyboardInterrupt:
        print("stopping...", file=sys.stderr, flush=True)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        stack.stop()
        return 1
    finally:
        # a second Ctrl-C (or SIGTERM) does not cut the orderly stop short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
