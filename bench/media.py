"""Media benchmark: range serving against nginx, and the portal under load in both of its modes.

    python -m bench.media [--seconds 15] [--learners 200] [--connections 32] [--rounds 3] [--web 2]
                          [--threads N] [--modes production,embedded] [--smoke]

Two modes of the portal are measured in one run, with the same load generators (wrk, Debian
package, and bench/sio_client.py, each in processes of their own):

* embedded: the portal as `python -m webapp` runs it (one process, SQLite, camera proctoring
  required: the production default) on a throw-away instance, with nginx (plain, and configured by
  `flask deploy nginx-conf` for signed media URLs) over the same media folder for the range
  figures;
* production: deploy/stack.py's Stack (PostgreSQL, Redis, --web gunicorn web processes of one
  worker and many threads each with MEDIA_MODE=remote, one media process, one scheduler, nginx with
  TLS in front), loaded through nginx over HTTPS.

In each mode: logins, the supervisee home page and the officer dashboard, and heartbeats of
enrolled learners with open proctored sittings over HTTP and over Socket.IO; the server CPU of
the mode (every process of it, from /proc) per heartbeat. Plain keys are the production mode's,
`_embedded` keys the embedded one's. Everything runs on 127.0.0.1 and is stopped at the end.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import requests

from bench import parse_args

ROOT = Path(__file__).resolve().parent.parent
# --smoke: every part once, the production stack included, at tiny sizes (tests/bench/test_bench_smoke.py)
SMOKE = {"seconds": 1, "learners": 8, "connections": 4, "rounds": 1}
PASSWORD = "Bench-Pass-2026"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLK = os.sysconf("SC_CLK_TCK")
GOAL_PER_S, GOAL_P99_MS = 1000, 50.0
# A paced run offers exactly GOAL_PER_S; its measured rate comes out a little lower (connections
# opening and closing at the ends of the window): within this share of the goal counts as meeting it.
GOAL_TOLERANCE = 0.975
MODES = ("production", "embedded")


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all bound at once: one at a time, the kernel may hand out the
    same port twice, and a server that cannot bind would leave its port to another one's answers)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited with code {proc.returncode} before {url} came up")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def write_media(folder: Path) -> None:
    """The bench course's files: an 8 MiB MP4 and a 200 KiB HLS-sized segment (random bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    (folder / "source.mp4").write_bytes(rng.randbytes(8 * 1024 * 1024))
    (folder / "seg00000.ts").write_bytes(rng.randbytes(200 * 1024))


def add_bench_learners(app, learners: int, slug: str) -> int:
    """In `app`'s database (demo data loaded): the bench course, `learners` supervisees of
    officer_bs (password PASSWORD), each assigned the course and enrolled; the course's id."""
    import numpy as np
    from sqlalchemy import select

    from webapp.core.face_crypto import EMBEDDING_SIZE, encrypt_embedding
    from webapp.core.security import hash_password
    from webapp.models import Assignment, Category, Course, FaceEnrolment, Role, User

    with app.app_context():
        from webapp.core import db
        session = db.session()
        course = Course(slug=slug, title="bench", category=Category.LAW, description="", duration_s=36000.0,
                        master_playlist="master.m3u8", source_file="source.mp4", renditions_json="[]")
        session.add(course)
        officer = session.scalar(select(User).where(User.username == "officer_bs"))   # a township's
        password_hash = hash_password(PASSWORD)
        for i in range(learners):
            session.add(User(username=f"bench{i:04d}", display_name=f"bench {i}", role=Role.SUPERVISEE,
                             unit_id=officer.unit_id, officer_id=officer.id, password_hash=password_hash,
                             failed_logins=0, active=True))
        session.flush()
        # Every learner is enrolled, as an officer's enrolment stores it (one encrypted 128-d
        # embedding): with PROCTORING_REQUIRED a sitting opens only for an enrolled learner who
        # consents to the camera. The heartbeat path never reads the embedding, so a random
        # unit vector stands in for a face.
        vectors = np.random.default_rng(7).standard_normal((learners, EMBEDDING_SIZE))
        bench_learners = session.scalars(select(User).where(User.username.like("bench%")).order_by(User.id)).all()
        for learner, vector in zip(bench_learners, vectors):
            session.add(Assignment(learner_id=learner.id, course_id=course.id))
            embedding = encrypt_embedding(vector / np.linalg.norm(vector))
            session.add(FaceEnrolment(user_id=learner.id, embedding_enc=embedding, source="upload",
                                      quality_json="{}", active=True, created_by_id=officer.id))
        session.commit()
        course_id = course.id
    app.extensions["db_engine"].dispose()
    return course_id


def prepare_instance(work: Path, learners: int) -> tuple[dict, int, str]:
    """The embedded mode's instance: migrated SQLite, demo data, `learners` extra supervisees and
    one course."""
    # PROCTORING_REQUIRED=1 (the default) whatever the caller's environment says: the heartbeats
    # measured are those of proctored sittings, in a portal running its camera check runner.
    env = {"INSTANCE_DIR": str(work / "instance"), "MEDIA_ROOT": str(work / "media"),
           "SECRET_KEY": "bench-secret", "RATELIMIT_ENABLED": "0", "SCHEDULER_ENABLED": "0",
           "PROCTORING_REQUIRED": "1"}
    os.environ.update(env)
    from webapp import create_app, migrate
    from webapp.demo import load_demo

    app = create_app()
    migrate.upgrade(app.config["DATABASE_URL"])
    slug = "bench-course"
    write_media(work / "media" / slug)
    with app.app_context():
        load_demo(PASSWORD)
    return env, add_bench_learners(app, learners, slug), slug


def prepare_production(stack, learners: int, slug: str) -> int:
    """The same learners and course in the stack's PostgreSQL (its demo data is loaded by the
    stack): an app of the stack's configuration in this process, then the same inserts."""
    from webapp import create_app
    write_media(stack.media_root / slug)
    secrets = stack.secrets
    app = create_app({"INSTANCE_DIR": str(stack.instance_dir), "MEDIA_ROOT": str(stack.media_root),
                      "DATABASE_URL": stack.database_url, "SECRET_KEY": secrets["secret_key"],
                      "FACE_DATA_KEYS": secrets["face_data_key"], "MEDIA_SIGNING_KEY": secrets["media_signing_key"],
                      # no Socket.IO message queue in this process: it only writes rows
                      "REDIS_URL": "", "MEDIA_MODE": "embedded", "SCHEDULER_ENABLED": False})
    return add_bench_learners(app, learners, slug)


@contextlib.contextmanager
def portal(env: dict, port: int):
    proc = subprocess.Popen([sys.executable, "-m", "webapp", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/login", proc=proc)
        # With PROCTORING_REQUIRED the portal loads the face models at start-up (its sample
        # workers in-process, the identity worker in a child): seconds of CPU that must not
        # fall into any timed run.
        print(f"portal_warm_s_embedded={wait_quiet({'portal': [proc.pid]}):.1f}", flush=True)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


@contextlib.contextmanager
def nginx(work: Path, media_root: Path, port: int, course_id: int, slug: str):
    conf = work / "nginx.conf"
    conf.write_text(f"""
worker_processes auto;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port};
        location /media/{course_id}/ {{ alias {media_root}/{slug}/; }}
    }}
}}
""")
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(work)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/media/{course_id}/seg00000.ts", proc=proc)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


UA = "bench-media/1"  # the same on every request: "strong" session protection binds a login to it


@contextlib.contextmanager
def signed_nginx(work: Path, port: int, portal_port: int):
    """nginx as deployed in production: deploy/nginx.conf.template filled by the portal."""
    from webapp import create_app
    from webapp.deploy import nginx_config
    app = create_app()
    conf = work / "nginx-signed.conf"
    conf.write_text(nginx_config(app.config, listen=f"127.0.0.1:{port}", portal=f"127.0.0.1:{portal_port}",
                                 run_dir=work / "signed-run"))
    (work / "signed-run").mkdir(exist_ok=True)
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/login", proc=proc)
        yield app.config["MEDIA_SIGNING_KEY"]
    finally:
        proc.terminate()
        proc.wait(10)


# ---------------------------------------------------------------------- CPU from /proc

def proc_cpu(pid: int) -> float:
    """CPU seconds of a process (all its threads) and of its children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / CLK


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    for child in (task / "children").read_text().split():
                        found.append(int(child))
                        todo.append(int(child))
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process tree: every live process of it, and what each has reaped (a
    PostgreSQL backend that ended moves into the postmaster's children time, so differences
    between two readings stay right as processes come and go)."""
    return sum(proc_cpu(p) for p in [pid, *descendants(pid)])


def group_cpu(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(tree_cpu(pid) for pid in pids) for name, pids in groups.items()}


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process."""
    out = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                out[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLK
    return out


def children_cpu() -> float:
    """CPU seconds of the children this process has waited for (the load generators)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_quiet(groups: dict[str, list[int]], timeout: float = 240.0, window: float = 1.0,
               cores: float = 0.15) -> float:
    """Wait until the processes use less than `cores` together over `window` s; seconds waited."""
    began = time.monotonic()
    before = sum(group_cpu(groups).values())
    while time.monotonic() - began < timeout:
        time.sleep(window)
        now = sum(group_cpu(groups).values())
        if now - before < cores * window:
            return time.monotonic() - began
        before = now
    print(f"# the servers were still busy after {timeout:.0f} s; measuring anyway", file=sys.stderr)
    return time.monotonic() - began


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Target:
    """One mode of the portal under load."""
    name: str                       # production | embedded
    suffix: str                     # of its keys: "" | "_embedded"
    base: str                       # where the load goes (nginx over HTTPS in production)
    verify: str | bool              # for requests: the stack's certificate
    groups: dict[str, list[int]]    # its server processes by piece: root pids (their trees count)
    course_id: int
    officer_password: str
    worker: int | None = None       # one web worker, for the thread split
    pg: dict | None = None          # psycopg connection arguments: PostgreSQL's backends are sampled
    results: dict = field(default_factory=dict)

    def component(self, piece: str) -> str:
        return "web" if re.fullmatch(r"web\d+", piece) else piece


class LockSampler:
    """Samples pg_stat_activity every `interval` s in a thread of its own: how many of the
    portal's backends run a statement, and which locks the waiting ones wait for
    (webapp.core.db's write_transaction takes a transaction-level advisory lock: writers queue on it)."""

    def __init__(self, conninfo: dict, interval: float = 0.05):
        self.conninfo, self.interval = conninfo, interval
        self.active: list[int] = []
        self.waits: dict[str, int] = {}      # wait_event of backends waiting for a lock -> samples
        self.sessions_opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg
        sessions = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        with psycopg.connect(**self.conninfo, autocommit=True) as conn:
            first = conn.execute(sessions).fetchone()[0]
            while not self._stop.wait(self.interval):
                rows = conn.execute(
                    "SELECT wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()").fetchall()
                self.active.append(len(rows))
                for kind, event in rows:
                    if kind == "Lock":
                        self.waits[event] = self.waits.get(event, 0) + 1
            # connections opened meanwhile (PostgreSQL 14+): a pool that closes and opens them
            # again pays a backend start and a SCRAM exchange each time
            self.sessions_opened = conn.execute(sessions).fetchone()[0] - first

    def means(self) -> tuple[float, float, str]:
        n = max(1, len(self.active))
        events = ",".join(f"{event}:{count / n:.1f}" for event, count in sorted(self.waits.items(), key=lambda kv: -kv[1]))
        return sum(self.active) / n, sum(self.waits.values()) / n, events or "none"


@contextlib.contextmanager
def window(target: Target):
    """The server CPU of `target` (by piece), the load generators' CPU and the wall time of a run."""
    w: dict = {}
    cpu0, client0, threads0 = group_cpu(target.groups), children_cpu(), thread_cpu(target.worker or 0)
    t0 = time.monotonic()
    with LockSampler(target.pg) if target.pg else contextlib.nullcontext() as sampler:
        yield w
    w["wall"] = time.monotonic() - t0
    if sampler is not None:
        w["pg_active"], w["pg_lock_waiting"], w["pg_lock_events"] = sampler.means()
        w["pg_sessions_opened"] = sampler.sessions_opened
    cpu1 = group_cpu(target.groups)
    w["cpu"] = {k: cpu1[k] - cpu0[k] for k in cpu1}
    w["server_cpu_s"] = sum(w["cpu"].values())
    w["client_cpu_s"] = children_cpu() - client0
    threads1 = thread_cpu(target.worker or 0)
    w["threads"] = sorted((threads1[t] - threads0.get(t, 0.0) for t in threads1), reverse=True)


def session_for(target: Target) -> requests.Session:
    s = requests.Session()
    s.trust_env = False              # REQUESTS_CA_BUNDLE would override `verify`
    s.verify = target.verify
    s.headers["User-Agent"] = UA
    s.headers["Referer"] = f"{target.base}/login"    # Flask-WTF checks it over HTTPS
    return s


def login(base: str, username: str, password: str = PASSWORD, target: Target | None = None) -> requests.Session:
    s = session_for(target) if target else requests.Session()
    s.headers["User-Agent"] = UA
    page = s.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = s.post(f"{base}/login", data={"username": username, "password": password, "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 302, f"login failed for {username}: {r.status_code}"
    return s


def cookie_header(s: requests.Session) -> str:
    return "; ".join(f"{k}={v}" for k, v in s.cookies.items())


def check_ranges(base: str, url_prefix: str, media_root: Path, slug: str, cookie: dict | None) -> None:
    """Every server must answer ranges correctly before it is timed."""
    body = (media_root / slug / "source.mp4").read_bytes()
    rng = random.Random(1)
    for _ in range(20):
        a = rng.randrange(len(body) - 1)
        b = min(len(body) - 1, a + rng.randrange(1, 300_000))
        r = requests.get(f"{base}{url_prefix}source.mp4", headers={"Range": f"bytes={a}-{b}", "User-Agent": UA},
                         cookies=cookie, timeout=10)
        assert r.status_code == 206, r.status_code
        assert r.headers["Content-Range"] == f"bytes {a}-{b}/{len(body)}"
        assert r.content == body[a:b + 1]


# ---------------------------------------------------------------------- wrk

RANGE_LUA = """
local size = {size}
local path = "{path}"
local span = {span}
math.randomseed(os.time())
request = function()
  local a = math.random(0, size - span - 1)
  local headers = {{}}
  headers["Range"] = "bytes=" .. a .. "-" .. (a + span - 1)
  headers["User-Agent"] = "{ua}"
  {cookie_line}
  return wrk.format("GET", path, headers)
end
done = function(summary, latency, requests)
  io.write(string.format("WRK requests=%d bytes=%d seconds=%f errors=%d status_errors=%d\\n",
    summary.requests, summary.bytes, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""

# Requests built from rows (one per learner); each wrk thread cycles through its share. Answers
# with `ok_status` count as accepted; the first others are printed.
ROWS_LUA = """
local rows = {rows}
local counter = 0
local threads = {{}}
accepted, answered = 0, 0  -- globals: read back per thread with thread:get
setup = function(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
init = function(args)
  mine = {{}}
  for i, r in ipairs(rows) do
    if (i - 1) % {nthreads} == tid - 1 then table.insert(mine, r) end
  end
  if #mine == 0 then mine = rows end
  idx = 0
  accepted, answered = 0, 0
end
request = function()
  idx = idx % #mine + 1
  local r = mine[idx]
  local headers = {{}}
  headers["User-Agent"] = "{ua}"
  headers["Referer"] = "{referer}"
{build}
end
response = function(status, headers, body)
  answered = answered + 1
  if status == {ok_status} then accepted = accepted + 1
  else
    errors_logged = (errors_logged or 0) + 1
    if errors_logged <= 3 then io.write("HBERR " .. status .. " " .. string.sub(body, 1, 200) .. "\\n") end
  end
end
done = function(summary, latency, requests)
  local a, t = 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("accepted")
    t = t + thread:get("answered")
  end
  io.write(string.format("HB accepted=%d total=%d\\n", a, t))
  io.write(string.format("LAT p50=%f p95=%f p99=%f\\n", latency:percentile(50), latency:percentile(95),
    latency:percentile(99)))
  io.write(string.format("WRK requests=%d bytes=%d seconds=%f errors=%d status_errors=%d\\n",
    summary.requests, summary.bytes, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""

# rows: {session id, cookie, CSRF token, seq, start}; positions follow real time at 1x
HEARTBEAT_BUILD = """
  r[4] = r[4] + 1
  if r[5] == nil then r[5] = os.time() end  -- each learner's video starts at its first beat
  local body = string.format('{"seq": %d, "position": %d, "playing": true, "rate": 1.0}', r[4], os.time() - r[5])
  headers["Content-Type"] = "application/json"
  headers["Cookie"] = r[2]
  headers["X-CSRFToken"] = r[3]
  return wrk.format("POST", "/api/study/" .. r[1] .. "/heartbeat", headers, body)
"""

# rows: {username, anonymous session cookie, its CSRF token}: every request is a new login
LOGIN_BUILD = """
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["Cookie"] = r[2]
  return wrk.format("POST", "/login", headers, "username=" .. r[1] .. "&password={password}&csrf_token=" .. r[3])
"""

# rows: {cookie}
PAGE_BUILD = """
  headers["Cookie"] = r[1]
  return wrk.format("GET", "{path}", headers)
"""


def lua_rows(rows: list) -> str:
    return "{" + ", ".join("{" + ", ".join(json.dumps(v) for v in row) + "}" for row in rows) + "}"


def run_wrk(url: str, script: str, seconds: int, connections: int, work: Path, threads: int = 1) -> dict:
    path = work / f"wrk-{random.random():.8f}.lua"
    path.write_text(script)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
                          "--timeout", "10s", "-s", str(path), url], check=False, capture_output=True, text=True,
                          timeout=seconds + 60)
    out = out.stdout + out.stderr
    match = re.search(r"WRK requests=(\d+) bytes=(\d+) seconds=([\d.]+) errors=(\d+) status_errors=(\d+)", out)
    if not match:
        raise RuntimeError("wrk gave no summary:\n" + out)
    requests_, bytes_, secs, errors, status_errors = match.groups()
    result = {"requests": int(requests_), "bytes": int(bytes_), "seconds": float(secs), "errors": int(errors),
              "status_errors": int(status_errors), "raw": out}
    m = re.search(r"HB accepted=(\d+) total=(\d+)", out)
    if m:
        result["accepted"], result["answered"] = int(m.group(1)), int(m.group(2))
    m = re.search(r"LAT p50=([\d.]+) p95=([\d.]+) p99=([\d.]+)", out)
    if m:   # wrk's percentiles are in microseconds
        result["p50_ms"], result["p95_ms"], result["p99_ms"] = (float(v) / 1000 for v in m.groups())
    for line in out.splitlines():
        if line.startswith("HBERR"):
            print("# " + line[:300], file=sys.stderr)
    return result


def rows_case(target: Target, build: str, rows: list, ok_status: int, seconds: int, connections: int,
              work: Path, threads: int = 1) -> dict:
    threads = max(1, min(threads, connections, len(rows)))
    script = ROWS_LUA.format(rows=lua_rows(rows), nthreads=threads, ua=UA, referer=f"{target.base}/login",
                             build=build, ok_status=ok_status)
    return run_wrk(target.base, script, seconds, connections, work, threads=threads)


def range_case(base: str, url_path: str, size: int, span: int, cookie: str | None, seconds: int,
               connections: int, work: Path) -> dict:
    cookie_line = f'headers["Cookie"] = "{cookie}"' if cookie else ""
    script = RANGE_LUA.format(size=size, path=url_path, span=span, cookie_line=cookie_line, ua=UA)
    return run_wrk(base, script, seconds, connections, work)


# ---------------------------------------------------------------------- the portal under load

def start_learners(target: Target, learners: int) -> list[tuple[str, str, str]]:
    """Log every learner in and open a study sitting the way the player does with camera
    proctoring required (player.js: the consent box ticked, then `camera_consent: true`):
    (session id, cookie, CSRF token). The camera itself never connects: the sitting stays
    "awaiting camera" (nothing credited, no breakpoint prompts), and its heartbeats take the same
    path as a verified one's (streaming.ledger, 1 SELECT, 2 UPDATEs, 1 INSERT, 1 COMMIT)."""
    base = target.base

    def one(i: int) -> tuple[str, str, str]:
        s = login(base, f"bench{i:04d}", target=target)
        page = s.get(f"{base}/learn/course/{target.course_id}").text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        r = s.post(f"{base}/api/study/start", json={"course_id": target.course_id, "camera_consent": True},
                   headers={"X-CSRFToken": token})
        assert r.status_code == 200, r.text
        assert r.json()["proctored"] is True, r.text
        return r.json()["session_id"], cookie_header(s), token

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(learners)))


def anonymous_rows(target: Target, count: int) -> list[tuple[str, str, str]]:
    """(username, anonymous session cookie, its login form's CSRF token) for `count` learners."""
    rows = []
    for i in range(count):
        s = session_for(target)
        page = s.get(f"{target.base}/login").text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        rows.append((f"bench{i:04d}", cookie_header(s), token))
    return rows


def sio_run(target: Target, sessions: list, seconds: int, rate: int, seq_base: int, procs: int) -> dict:
    """bench/sio_client.py in `procs` processes, the learners and the rate split between them."""
    procs = max(1, min(procs, len(sessions)))
    learners = [[sid, cookie] for sid, cookie, _token in sessions]
    running = []
    for k in range(procs):
        share = learners[k::procs]
        job = {"url": target.base, "ua": UA, "learners": share, "seconds": seconds,
               "rate": rate * len(share) / len(learners) if rate else 0, "seq_base": seq_base, "raw": procs > 1}
        proc = subprocess.Popen([sys.executable, "-m", "bench.sio_client"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        running.append((proc, json.dumps(job)))
    outs = []
    for proc, job in running:
        try:
            stdout, stderr = proc.communicate(job, timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(stderr[-2000:])
        outs.append(json.loads(stdout))
    if procs == 1:
        return outs[0]
    lat = sorted(v for o in outs for v in o["latencies_ms"])

    def pct(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
    answered = sum(o["answered"] for o in outs)
    return {"answered": answered, "accepted": sum(o["accepted"] for o in outs),
            "seconds": max(o["seconds"] for o in outs), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "errors": [e for o in outs for e in o["errors"]][:3],
            "connection_failures": [e for o in outs for e in o["connection_failures"]][:3]}


def emit(key: str, value) -> None:
    print(f"{key}={value}", flush=True)


def emit_cpu(target: Target, w: dict, run: str, count: int) -> None:
    """Server CPU per request, cores used by servers and clients, and (production) the split."""
    m = target.suffix
    emit(f"heartbeat_server_cpu_ms_each{run}{m}", f"{1000 * w['server_cpu_s'] / max(1, count):.2f}")
    emit(f"server_cores{run}{m}", f"{w['server_cpu_s'] / w['wall']:.2f}")
    emit(f"client_cores{run}{m}", f"{w['client_cpu_s'] / w['wall']:.2f}")
    if target.name != "production":
        return
    by_component: dict[str, float] = {}
    for piece, cpu in w["cpu"].items():
        by_component[target.component(piece)] = by_component.get(target.component(piece), 0.0) + cpu
    total = max(1e-9, w["server_cpu_s"])
    if run in ("_http", "_socketio"):
        for component, cpu in sorted(by_component.items(), key=lambda kv: -kv[1]):
            emit(f"cpu_share_{component}{run}", f"{cpu / total:.3f}")
        webs = {p: c / w["wall"] for p, c in w["cpu"].items() if target.component(p) == "web"}
        emit(f"web_process_cores_max{run}", f"{max(webs.values()):.2f}")
    if "pg_active" in w:
        emit(f"pg_backends_active_mean{run}", f"{w['pg_active']:.1f}")
        emit(f"pg_backends_waiting_lock_mean{run}", f"{w['pg_lock_waiting']:.1f}")
        emit(f"pg_lock_waits{run}", w["pg_lock_events"])
        emit(f"pg_connections_opened{run}", w["pg_sessions_opened"])
    target.results.setdefault("cpu", {})[run] = (by_component, w)


def load_portal(target: Target, args, work: Path) -> None:
    """Logins, pages and heartbeats against one mode; prints its keys, keeps figures in target.results."""
    m, base, res = target.suffix, target.base, target.results
    short = max(1, args.seconds // 3)
    emit(f"load_avg_start{m}", loadavg())

    # Logins: each request a new login (one Argon2 verification, a few hundred ms of CPU), 2
    # connections, long enough for a few dozen (wrk counts only answers within the window).
    rows = anonymous_rows(target, min(args.learners, 64))
    for seconds in (max(3, args.seconds // 2), 10):
        with window(target) as w:
            r = rows_case(target, LOGIN_BUILD.replace("{password}", PASSWORD), rows, 302, seconds, 2, work)
        if r["requests"]:
            break
        print(f"# logins{m}: none answered within {seconds} s (a busy machine): once more for 10 s", file=sys.stderr)
    res["logins_per_s"] = r["requests"] / r["seconds"]
    emit(f"logins_per_s{m}", f"{res['logins_per_s']:.1f}")
    emit(f"login_p95_ms{m}", f"{r.get('p95_ms', float('nan')):.1f}")
    emit(f"login_accept_share{m}", f"{r.get('accepted', 0) / max(1, r.get('answered', 0)):.3f}")
    emit(f"login_server_cpu_ms_each{m}", f"{1000 * w['server_cpu_s'] / max(1, r['requests']):.1f}")

    sessions = start_learners(target, args.learners)
    emit(f"heartbeat_proctored{m}", 1)   # every sitting opened with camera consent

    # Pages, 4 connections: the supervisee home page (every bench learner in turn) and the
    # officer dashboard (officer_bs, whose township holds every bench learner).
    officer = login(base, "officer_bs", target.officer_password, target=target)
    pages = {"learn": ("/learn/", [[cookie] for _sid, cookie, _token in sessions]),
             "officer": ("/officer/", [[cookie_header(officer)]])}
    for name, (path, cookies) in pages.items():
        r = rows_case(target, PAGE_BUILD.replace("{path}", path), cookies, 200, short, 4, work)
        res[f"page_p95_ms_{name}"] = r.get("p95_ms", float("nan"))
        emit(f"page_p95_ms_{name}{m}", f"{res[f'page_p95_ms_{name}']:.1f}")
        emit(f"pages_per_s_{name}{m}", f"{r['requests'] / r['seconds']:.1f}")
        emit(f"page_accept_share_{name}{m}", f"{r.get('accepted', 0) / max(1, r.get('answered', 0)):.3f}")

    # Heartbeats over HTTP: saturated (--connections), then below saturation (4 connections).
    hb_rows = [[sid, cookie, token, 0, None] for sid, cookie, token in sessions]
    for k, (connections, run) in enumerate(((args.connections, "_http"), (4, "_http_c4"))):
        for row in hb_rows:
            row[3] = k * 10**7        # sequence numbers continue across runs: the sittings are the same
        with window(target) as w:
            hb = rows_case(target, HEARTBEAT_BUILD, [row[:4] for row in hb_rows], 200, args.seconds, connections,
                           work, threads=2)
        per_s = hb["requests"] / hb["seconds"]
        res[run] = {"per_s": per_s, "p99_ms": hb.get("p99_ms", float("nan")),
                    "cpu_ms_each": 1000 * w["server_cpu_s"] / max(1, hb["requests"])}
        emit(f"heartbeat_connections{run}{m}", connections)
        emit(f"heartbeats_per_s{run}{m}", f"{per_s:.0f}")
        emit(f"heartbeat_p50_ms{run}{m}", f"{hb.get('p50_ms', float('nan')):.1f}")
        emit(f"heartbeat_p99_ms{run}{m}", f"{hb.get('p99_ms', float('nan')):.1f}")
        emit(f"heartbeat_accept_share{run}{m}", f"{hb.get('accepted', 0) / max(1, hb.get('answered', 0)):.3f}")
        emit(f"heartbeat_socket_errors{run}{m}", hb["errors"])
        emit_cpu(target, w, run, hb["requests"])

    # The same learners over Socket.IO: closed loop (as fast as answered), then paced loads.
    jobs = [("_socketio", 0, 10**8), ("_socketio_at_1000", 1000, 2 * 10**8), ("_socketio_at_400", 400, 3 * 10**8)]
    for run, rate, seq_base in jobs:
        with window(target) as w:
            r = sio_run(target, sessions, args.seconds, rate, seq_base, args.client_procs)
        for error in r["errors"] + r["connection_failures"]:
            print(f"# {run}{m}: {str(error)[:300]}", file=sys.stderr)
        per_s = r["answered"] / r["seconds"]
        res[run] = {"per_s": per_s, "p99_ms": r["p99_ms"],
                    "cpu_ms_each": 1000 * w["server_cpu_s"] / max(1, r["answered"])}
        emit(f"heartbeats_per_s{run}{m}", f"{per_s:.0f}")
        emit(f"heartbeat_p50_ms{run}{m}", f"{r['p50_ms']:.1f}")
        emit(f"heartbeat_p99_ms{run}{m}", f"{r['p99_ms']:.1f}")
        emit(f"heartbeat_accept_share{run}{m}", f"{r['accepted'] / max(1, r['answered']):.3f}")
        emit_cpu(target, w, run, r["answered"])
    emit(f"load_avg_end{m}", loadavg())


class StackStart:
    """The production stack (deploy/stack.py) on free ports, started now or in a thread of its
    own (--smoke: while the embedded mode is measured; its figures are no measurements)."""

    def __init__(self, args, work: Path, threads: int):
        from deploy.stack import Stack
        self.stack = Stack(work / "stack", web=args.web, ports="auto", samples=False, web_threads=threads,
                           env={"RATELIMIT_ENABLED": "0", "PROCTORING_REQUIRED": "1"},
                           log=lambda line: print(f"# stack: {line}", file=sys.stderr, flush=True))
        self.took: float | None = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        began = time.monotonic()
        try:
            self.stack.start()
            self.took = time.monotonic() - began
        except Exception as exc:  # noqa: BLE001  (handed to the main thread by wait())
            self.error = exc

    def in_background(self) -> StackStart:
        self._thread = threading.Thread(target=self._start, name="stack-start", daemon=True)
        self._thread.start()
        return self

    def wait(self):
        if self._thread is None:
            self._start()
        else:
            self._thread.join()
        if self.error is not None:
            raise self.error
        return self.stack

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self.stack.stop(purge=True)


def production(args, work: Path, slug: str, start: StackStart) -> Target:
    """The learners in the stack's PostgreSQL, then the load through nginx (HTTPS)."""
    from webapp.demo import DEMO_PASSWORD
    stack = start.wait()
    emit("stack_start_s", f"{start.took:.1f}")
    course_id = prepare_production(stack, args.learners, slug)
    groups = {name: [stack.proc(name).pid] for name in stack.names if stack.proc(name) is not None}
    master = stack.proc("web0").pid
    workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    target = Target("production", "", stack.url, str(stack.cert_path), groups, course_id, DEMO_PASSWORD,
                    worker=int(workers[0]) if workers else master,
                    pg={"host": "127.0.0.1", "port": stack.ports.postgres, "user": "portal", "dbname": "portal",
                        "password": stack.secrets["db_password"], "connect_timeout": 3})
    # the media process loads the face models at start-up: not in any timed run
    emit("portal_warm_s", f"{wait_quiet(groups):.1f}")
    emit("production_path", f"https through nginx (TLS) to {args.web} gunicorn web processes, "
                            f"PostgreSQL, Redis; {', '.join(groups)}")
    load_portal(target, args, work)
    return target


def compare(targets: dict[str, Target]) -> None:
    """Ratios production / embedded, the goal, and where production's CPU went."""
    prod, emb = targets.get("production"), targets.get("embedded")
    runs = ("_http", "_http_c4", "_socketio", "_socketio_at_1000", "_socketio_at_400")
    if prod and emb:
        for run in runs:
            emit(f"ratio_heartbeats_per_s{run}_vs_embedded",
                 f"{prod.results[run]['per_s'] / max(1e-9, emb.results[run]['per_s']):.2f}")
        for run in ("_http", "_socketio"):
            emit(f"ratio_heartbeat_server_cpu_ms_each{run}_vs_embedded",
                 f"{prod.results[run]['cpu_ms_each'] / max(1e-9, emb.results[run]['cpu_ms_each']):.2f}")
        emit("ratio_logins_per_s_vs_embedded",
             f"{prod.results['logins_per_s'] / max(1e-9, emb.results['logins_per_s']):.2f}")
    if not prod:
        return
    emit("goal_heartbeats_per_s", GOAL_PER_S)
    emit("goal_p99_ms", f"{GOAL_P99_MS:.0f}")
    meeting = [run for run in runs if prod.results[run]["per_s"] >= GOAL_TOLERANCE * GOAL_PER_S
               and prod.results[run]["p99_ms"] < GOAL_P99_MS]
    emit("goal_met", "yes" if meeting else "no")
    if meeting:
        emit("goal_met_by", ",".join(meeting))
        return
    # Short of the goal: where the CPU of the saturated Socket.IO run went (server pieces, the
    # load generator beside them), and how one web worker's threads shared theirs.
    by_component, w = prod.results["cpu"]["_socketio"]
    total = w["server_cpu_s"] + w["client_cpu_s"]
    parts = sorted([*by_component.items(), ("load_generator", w["client_cpu_s"])], key=lambda kv: -kv[1])
    for name, cpu in parts[:5]:
        emit("profile_top", f"{name} {cpu / w['wall']:.2f} cores ({100 * cpu / max(1e-9, total):.0f}% of the "
                            f"machine's CPU in the run _socketio)")
    if "pg_active" in w:
        emit("profile_top", f"postgres backends: {w['pg_active']:.1f} running a statement on average, "
                            f"{w['pg_lock_waiting']:.1f} of them waiting for a lock ({w['pg_lock_events']}; "
                            "advisory: write_transaction's write lock); "
                            f"{w['pg_sessions_opened']} connections opened in the run")
    threads = [t for t in w["threads"] if t > 0]
    if threads:   # one thread per open websocket: is one of them (or the total) near a core?
        emit("profile_top", f"web0 worker: {len(threads)} threads used CPU, busiest "
                            + ", ".join(f"{t / w['wall']:.3f}" for t in threads[:5])
                            + f" cores; worker total {sum(threads) / w['wall']:.2f} cores")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="length of each timed heartbeat run")
    parser.add_argument("--learners", type=int, default=200,
                        help="many more than connections, so one learner's beats are rarely in flight together")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--web", type=int, default=max(2, os.cpu_count() or 2),
                        help="production: gunicorn web processes (default: one per core, at least 2)")
    parser.add_argument("--threads", type=int, default=0,
                        help="production: threads per web process (0: enough for 1.5 times its share of the "
                             "learners' websockets plus --connections, at least 100)")
    parser.add_argument("--client-procs", type=int, default=1, help="Socket.IO load generator processes")
    parser.add_argument("--modes", default="production,embedded",
                        help="which modes' portal load to run (comma-separated: production, embedded)")
    parser.add_argument("--skip-ranges", action="store_true", help="no range load")
    parser.add_argument("--skip-heartbeats", action="store_true", help="only the range load (no portal load)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved range rounds per server (the median is printed), each --seconds/3 long")
    args = parse_args(parser, argv, SMOKE)
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if set(modes) - set(MODES):
        parser.error(f"--modes: {', '.join(MODES)}")
    if args.skip_heartbeats:
        modes = []
    threads = args.threads or max(100, math.ceil(1.5 * args.learners / args.web) + args.connections)
    began = time.monotonic()
    if args.smoke:
        print("smoke=1", flush=True)
    for tool in ("wrk", NGINX):
        if not shutil.which(tool) and not Path(tool).exists():
            print(f"error: {tool} is missing: scripts/install-system-deps.sh --bench", file=sys.stderr)
            return 2
    if "production" in modes:
        from deploy.pg_cluster import PostgresUnavailable, find_bindir
        from deploy.stack import OPENSSL, REDIS_SERVER, TURNSERVER
        try:
            find_bindir()
        except PostgresUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for tool in (REDIS_SERVER, TURNSERVER, OPENSSL):
            if not Path(tool).exists():
                print(f"error: {tool} is missing (the production mode): scripts/install-system-deps.sh --production",
                      file=sys.stderr)
                return 2
    emit("cores", os.cpu_count())
    emit("load_avg_before", loadavg())
    emit("web_processes", args.web)
    emit("web_threads", threads)
    emit("heartbeat_learners", args.learners)
    emit("connections", args.connections)
    emit("seconds", args.seconds)
    emit("load_generator", f"wrk 4.1 (Debian) and bench/sio_client.py ({args.client_procs} process), "
                           "processes of their own on the same machine")
    work = Path(tempfile.mkdtemp(prefix="bench-media-"))
    work.chmod(0o755)  # nginx workers run as an unprivileged user
    targets: dict[str, Target] = {}
    start = None
    try:
        if "production" in modes:
            start = StackStart(args, work, threads)
        slug = "bench-course"
        if "embedded" in modes or not args.skip_ranges:
            env, course_id, slug = prepare_instance(work, args.learners)   # sets os.environ: before the thread
            if start is not None and args.smoke:
                start.in_background()
            media_root = Path(env["MEDIA_ROOT"])
            ours_port, nginx_port, signed_port = free_ports(3)
            ours, theirs = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{nginx_port}"
            signed = f"http://127.0.0.1:{signed_port}"
            with portal(env, ours_port) as proc, nginx(work, media_root, nginx_port, course_id, slug), \
                    signed_nginx(work, signed_port, ours_port) as key:
                if not args.skip_ranges:
                    ranges(args, work, ours, theirs, signed, key, media_root, slug, course_id)
                if "embedded" in modes:
                    # the embedded portal serves its own media; the nginxes above sit idle
                    targets["embedded"] = Target("embedded", "_embedded", ours, True, {"portal": [proc.pid]},
                                                 course_id, PASSWORD)
                    load_portal(targets["embedded"], args, work)
        if start is not None:
            targets["production"] = production(args, work, slug, start)
        compare(targets)
    finally:
        if start is not None:
            start.stop()
        shutil.rmtree(work, ignore_errors=True)
    emit("load_avg_after", loadavg())
    emit("elapsed_s", f"{time.monotonic() - began:.0f}")
    return 0


def ranges(args, work: Path, ours: str, theirs: str, signed: str, key: str, media_root: Path, slug: str,
           course_id: int) -> None:
    """Ranges from plain nginx, from nginx checking signed URLs (production) and from the
    embedded portal's own route."""
    staff = login(ours, "officer_bs")
    cookie = cookie_header(staff)
    check_ranges(ours, f"/media/{course_id}/", media_root, slug, dict(staff.cookies))
    check_ranges(theirs, f"/media/{course_id}/", media_root, slug, None)
    from streaming.signed_urls import prefix
    signed_prefix = prefix("/smedia", key, 1, slug, int(time.time()) + 3600)
    check_ranges(signed, signed_prefix, media_root, slug, None)
    print("range_load_generator=wrk 4.1 (Debian), keep-alive, 1 thread, 8 connections", flush=True)
    cases = {"": ("seg00000.ts", 200 * 1024, 64 * 1024),
             "_large": ("source.mp4", 8 * 1024 * 1024, 1024 * 1024)}
    for suffix, (path, size, span) in cases.items():
        targets = {"nginx": (theirs, f"/media/{course_id}/{path}", None),
                   "signed": (signed, signed_prefix + path, None),
                   "embedded": (ours, f"/media/{course_id}/{path}", cookie)}
        # Interleaved rounds, median per server: the machine is shared and noisy.
        rounds = {name: [] for name in targets}
        slot = max(1, args.seconds // 3)
        for _ in range(args.rounds):
            for name, (base, url_path, cookie_) in targets.items():
                r = range_case(base, url_path, size, span, cookie_, slot, 8, work)
                if r["errors"] or r["status_errors"]:
                    print(f"# {name}{suffix}: {r['errors']} socket errors, {r['status_errors']} bad "
                          "statuses", file=sys.stderr)
                rounds[name].append((r["bytes"] / r["seconds"] / 1e6, r["requests"] / r["seconds"]))
        mb = {}
        for name, values in rounds.items():
            mb[name] = sorted(v[0] for v in values)[len(values) // 2]
            print(f"{name}_range_mb_s{suffix}={mb[name]:.1f}")
            print(f"{name}_requests_per_s{suffix}={sorted(v[1] for v in values)[len(values) // 2]:.0f}")
        # Ours in production: the portal signs, nginx checks the signature and sends the bytes.
        print(f"range_throughput_ratio_vs_nginx{suffix}={mb['signed'] / mb['nginx']:.3f}")
        # Ours embedded: Python (Werkzeug) sends the bytes itself.
        print(f"range_throughput_ratio_vs_nginx_embedded{suffix}={mb['embedded'] / mb['nginx']:.3f}",
              flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
