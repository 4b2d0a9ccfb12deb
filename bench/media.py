"""Media benchmark: range serving against nginx, and the heartbeat endpoint under load.

    python -m bench.media [--seconds 15] [--learners 200] [--connections 32] [--rounds 3] [--smoke]

Starts, on 127.0.0.1 only, the portal as users run it (`python -m webapp`, camera proctoring
required: the production default) on a throw-away instance, and nginx (Debian package) over the
same media folder; loads both with wrk (Debian package) and prints key=value lines. The learners
are enrolled and open their sittings with camera consent, as the player does. Everything it
starts is stopped at the end.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench import parse_args

ROOT = Path(__file__).resolve().parent.parent
# --smoke: every part once, about half a minute (tests/bench/test_bench_smoke.py)
SMOKE = {"seconds": 1, "learners": 8, "connections": 4, "rounds": 1}
PASSWORD = "Bench-Pass-2026"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


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


def prepare_instance(work: Path, learners: int) -> tuple[dict, int, str]:
    """A migrated instance with demo data, `learners` extra supervisees and one course."""
    # PROCTORING_REQUIRED=1 (the default) whatever the caller's environment says: the heartbeats
    # measured are those of proctored sittings, in a portal running its camera check runner.
    env = {"INSTANCE_DIR": str(work / "instance"), "MEDIA_ROOT": str(work / "media"),
           "SECRET_KEY": "bench-secret", "RATELIMIT_ENABLED": "0", "SCHEDULER_ENABLED": "0",
           "PROCTORING_REQUIRED": "1"}
    os.environ.update(env)
    import numpy as np
    from sqlalchemy import select

    from webapp import create_app, migrate
    from webapp.core.face_crypto import EMBEDDING_SIZE, encrypt_embedding
    from webapp.core.security import hash_password
    from webapp.demo import load_demo
    from webapp.models import Assignment, Category, Course, FaceEnrolment, OrgUnit, Role, User

    app = create_app()
    migrate.upgrade(app.config["DATABASE_URL"])
    slug = "bench-course"
    folder = work / "media" / slug
    folder.mkdir(parents=True)
    rng = random.Random(7)
    (folder / "source.mp4").write_bytes(rng.randbytes(8 * 1024 * 1024))
    (folder / "seg00000.ts").write_bytes(rng.randbytes(200 * 1024))
    with app.app_context():
        from webapp.core import db
        load_demo(PASSWORD)
        session = db.session()
        course = Course(slug=slug, title="bench", category=Category.LAW, description="", duration_s=36000.0,
                        master_playlist="master.m3u8", source_file="source.mp4", renditions_json="[]")
        session.add(course)
        township = session.scalar(select(OrgUnit).where(OrgUnit.level == 5))
        officer = session.scalar(select(User).where(User.username == "officer_bs"))
        password_hash = hash_password(PASSWORD)
        for i in range(learners):
            session.add(User(username=f"bench{i:04d}", display_name=f"bench {i}", role=Role.SUPERVISEE,
                             unit_id=township.id, officer_id=officer.id, password_hash=password_hash,
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
    return env, course_id, slug


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
        print(f"portal_warm_s={wait_quiet(proc.pid):.1f}", flush=True)
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


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the portal's identity worker)."""
    total = cpu_seconds(pid)
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    with contextlib.suppress(OSError, ValueError):
                        total += cpu_seconds(int(child))
    return total


def wait_quiet(pid: int, timeout: float = 240.0, window: float = 1.0, cores: float = 0.1) -> float:
    """Wait until a process (with its children) uses less than `cores` over `window` s; seconds waited."""
    began = time.monotonic()
    before = tree_cpu(pid)
    while time.monotonic() - began < timeout:
        time.sleep(window)
        now = tree_cpu(pid)
        if now - before < cores * window:
            return time.monotonic() - began
        before = now
    print(f"# the portal was still busy after {timeout:.0f} s; measuring anyway", file=sys.stderr)
    return time.monotonic() - began


def login(base: str, username: str) -> requests.Session:
    s = requests.Session()
    s.headers["User-Agent"] = UA
    page = s.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = s.post(f"{base}/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 302, f"login failed for {username}: {r.status_code}"
    return s


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


def run_wrk(url: str, script: str, seconds: int, connections: int, work: Path, threads: int = 1) -> dict:
    path = work / f"wrk-{random.random():.8f}.lua"
    path.write_text(script)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
                          "-s", str(path), url], capture_output=True, text=True, timeout=seconds + 60)
    out = out.stdout + out.stderr
    match = re.search(r"WRK requests=(\d+) bytes=(\d+) seconds=([\d.]+) errors=(\d+) status_errors=(\d+)", out)
    if not match:
        raise RuntimeError("wrk gave no summary:\n" + out)
    requests_, bytes_, secs, errors, status_errors = match.groups()
    result = {"requests": int(requests_), "bytes": int(bytes_), "seconds": float(secs), "errors": int(errors),
              "status_errors": int(status_errors), "raw": out}
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        result[f"p{pct}_ms"] = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1000.0}[unit]
    result.update(other_lines(out))
    return result


def other_lines(out: str) -> dict:
    extra = {}
    m = re.search(r"HB accepted=(\d+) total=(\d+)", out)
    if m:
        extra["accepted"], extra["answered"] = int(m.group(1)), int(m.group(2))
    return extra


def range_case(base: str, url_path: str, size: int, span: int, cookie: str | None, seconds: int,
               connections: int, work: Path) -> dict:
    cookie_line = f'headers["Cookie"] = "{cookie}"' if cookie else ""
    script = RANGE_LUA.format(size=size, path=url_path, span=span, cookie_line=cookie_line, ua=UA)
    return run_wrk(base, script, seconds, connections, work)


HEARTBEAT_LUA = """
-- Each wrk thread cycles through its share of learners; positions follow real time at 1x.
local learners = {learners}
local per_thread = {{}}
local counter = 0
accepted, answered = 0, 0  -- globals: read back per thread with thread:get
local start = os.time()
local threads = {{}}
setup = function(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
init = function(args)
  local mine = {{}}
  for i, l in ipairs(learners) do
    if (i - 1) % {nthreads} == tid - 1 then table.insert(mine, {{l[1], l[2], l[3], {seq_base}, nil}}) end
  end
  per_thread = mine
  idx = 0
  accepted, answered = 0, 0
end
request = function()
  idx = idx % #per_thread + 1
  local l = per_thread[idx]
  l[4] = l[4] + 1
  if l[5] == nil then l[5] = os.time() end  -- each learner's video starts at its first beat
  local body = string.format('{{"seq": %d, "position": %d, "playing": true, "rate": 1.0}}', l[4], os.time() - l[5])
  local headers = {{}}
  headers["Content-Type"] = "application/json"
  headers["Cookie"] = l[2]
  headers["X-CSRFToken"] = l[3]
  headers["User-Agent"] = "{ua}"
  return wrk.format("POST", "/api/study/" .. l[1] .. "/heartbeat", headers, body)
end
response = function(status, headers, body)
  answered = answered + 1
  if status == 200 then accepted = accepted + 1
  else
    errors_logged = (errors_logged or 0) + 1
    if errors_logged <= 3 then io.write("HBERR " .. status .. " " .. body .. "\\n") end
  end
end
done = function(summary, latency, requests)
  local a, t = 0, 0
  for _, thread in ipairs(threads) do
    a = a + thread:get("accepted")
    t = t + thread:get("answered")
  end
  io.write(string.format("HB accepted=%d total=%d\\n", a, t))
  io.write(string.format("WRK requests=%d bytes=%d seconds=%f errors=%d status_errors=%d\\n",
    summary.requests, summary.bytes, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def start_learners(base: str, course_id: int, learners: int) -> list[tuple[str, str, str]]:
    """Log every learner in and open a study sitting the way the player does with camera
    proctoring required (player.js: the consent box ticked, then `camera_consent: true`):
    (session id, cookie, CSRF token). The camera itself never connects: the sitting stays
    "awaiting camera" (nothing credited, no breakpoint prompts), and its heartbeats take the same
    path as a verified one's (streaming.ledger, 1 SELECT, 2 UPDATEs, 1 INSERT, 1 COMMIT)."""
    rows = []
    for i in range(learners):
        s = login(base, f"bench{i:04d}")
        page = s.get(f"{base}/learn/course/{course_id}").text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        r = s.post(f"{base}/api/study/start", json={"course_id": course_id, "camera_consent": True},
                   headers={"X-CSRFToken": token})
        assert r.status_code == 200, r.text
        assert r.json()["proctored"] is True, r.text
        cookie = "; ".join(f"{k}={v}" for k, v in s.cookies.items())
        rows.append((r.json()["session_id"], cookie, token))
    return rows


def heartbeat_case(base: str, rows: list, seconds: int, connections: int, work: Path, server_pid: int,
                   seq_base: int) -> dict:
    lua_rows = ", ".join("{" + ", ".join(json.dumps(v) for v in row) + "}" for row in rows)
    threads = min(2, connections)
    script = HEARTBEAT_LUA.format(learners="{" + lua_rows + "}", nthreads=threads, ua=UA, seq_base=seq_base)
    before = cpu_seconds(server_pid)  # after the logins: Argon2 checks are not heartbeat cost
    result = run_wrk(base, script, seconds, connections, work, threads=threads)
    for line in result["raw"].splitlines():
        if line.startswith("HBERR"):
            print("# " + line[:300], file=sys.stderr)
    result["server_cpu_s"] = cpu_seconds(server_pid) - before
    return result


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="length of each timed run")
    parser.add_argument("--learners", type=int, default=200,
                        help="many more than connections, so one learner's beats are rarely in flight together")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--skip-ranges", action="store_true", help="only the heartbeat load")
    parser.add_argument("--skip-heartbeats", action="store_true", help="only the range load")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved range rounds per server (the median is printed), each --seconds/3 long")
    args = parse_args(parser, argv, SMOKE)
    if args.smoke:
        print("smoke=1", flush=True)
    for tool in ("wrk", NGINX):
        if not shutil.which(tool) and not Path(tool).exists():
            print(f"error: {tool} is missing: scripts/install-system-deps.sh --bench", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="bench-media-"))
    work.chmod(0o755)  # nginx workers run as an unprivileged user
    try:
        env, course_id, slug = prepare_instance(work, args.learners)
        media_root = Path(env["MEDIA_ROOT"])
        ours_port, nginx_port, signed_port = free_ports(3)
        ours, theirs = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{nginx_port}"
        signed = f"http://127.0.0.1:{signed_port}"
        with portal(env, ours_port) as proc, nginx(work, media_root, nginx_port, course_id, slug), \
                signed_nginx(work, signed_port, ours_port) as key:
            staff = login(ours, "officer_bs")
            cookie = "; ".join(f"{k}={v}" for k, v in staff.cookies.items())
            check_ranges(ours, f"/media/{course_id}/", media_root, slug, dict(staff.cookies))
            check_ranges(theirs, f"/media/{course_id}/", media_root, slug, None)
            from streaming.signed_urls import prefix
            signed_prefix = prefix("/smedia", key, 1, slug, int(time.time()) + 3600)
            check_ranges(signed, signed_prefix, media_root, slug, None)
            print("load_generator=wrk 4.1 (Debian), keep-alive, 1 thread, 8 connections", flush=True)
            cases = {"": ("seg00000.ts", 200 * 1024, 64 * 1024),
                     "_large": ("source.mp4", 8 * 1024 * 1024, 1024 * 1024)}
            for suffix, (path, size, span) in ({} if args.skip_ranges else cases).items():
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

            if args.skip_heartbeats:
                return 0
            print(f"heartbeat_learners={args.learners}")
            sessions = start_learners(ours, course_id, args.learners)
            print("heartbeat_proctored=1", flush=True)   # every sitting opened with camera consent
            for run, (connections, suffix) in enumerate(((args.connections, ""), (4, "_c4"))):
                # Sequence numbers continue across runs: the sittings are the same.
                hb = heartbeat_case(ours, sessions, args.seconds, connections, work, proc.pid, run * 10**7)
                print(f"heartbeat_connections{suffix}={connections}")
                print(f"heartbeats_per_s{suffix}={hb['requests'] / hb['seconds']:.0f}")
                print(f"heartbeat_p50_ms{suffix}={hb.get('p50_ms', float('nan')):.1f}")
                print(f"heartbeat_p99_ms{suffix}={hb.get('p99_ms', float('nan')):.1f}")
                print(f"heartbeat_accept_share{suffix}={hb.get('accepted', 0) / max(1, hb.get('answered', 0)):.3f}")
                print(f"heartbeat_server_cpu_ms_each{suffix}={1000 * hb['server_cpu_s'] / max(1, hb['requests']):.2f}")
                print(f"heartbeat_socket_errors{suffix}={hb['errors']}", flush=True)
            # The same learners over Socket.IO: closed loop (as fast as answered), then a paced load.
            jobs = [("_socketio", 0, 10**8), ("_socketio_at_1000", 1000, 2 * 10**8),
                    ("_socketio_at_400", 400, 3 * 10**8)]
            for suffix, rate, seq_base in jobs:
                job = {"url": ours, "ua": UA, "learners": [[sid, cookie] for sid, cookie, _token in sessions],
                       "seconds": args.seconds, "rate": rate, "seq_base": seq_base}
                before = cpu_seconds(proc.pid)
                out = subprocess.run([sys.executable, "-m", "bench.sio_client"], input=json.dumps(job), text=True,
                                     capture_output=True, cwd=ROOT, timeout=args.seconds + 120)
                if out.returncode != 0:
                    raise RuntimeError(out.stderr[-2000:])
                r = json.loads(out.stdout)
                server_cpu = cpu_seconds(proc.pid) - before
                for error in r["errors"] + r["connection_failures"]:
                    print(f"# {suffix}: {str(error)[:300]}", file=sys.stderr)
                print(f"heartbeats_per_s{suffix}={r['answered'] / r['seconds']:.0f}")
                print(f"heartbeat_p50_ms{suffix}={r['p50_ms']:.1f}")
                print(f"heartbeat_p99_ms{suffix}={r['p99_ms']:.1f}")
                print(f"heartbeat_accept_share{suffix}={r['accepted'] / max(1, r['answered']):.3f}")
                print(f"heartbeat_server_cpu_ms_each{suffix}={1000 * server_cpu / max(1, r['answered']):.2f}",
                      flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
