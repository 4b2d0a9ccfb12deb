"""Production mode as `python -m deploy.stack up` runs it (deploy/stack.py): PostgreSQL, Redis,
coturn, Janus, the media process, the scheduler process, two gunicorn web processes and nginx with
TLS, each a real process with its own config. Checked from outside, through nginx: HTTPS serves the
portal, HTTP redirects to it, a login works with a Secure cookie, nginx spreads requests over both
web processes and survives one of them being killed, a Socket.IO websocket connects through it, a
conference that goes live gets its room on the stack's Janus.

Runs inside scripts/in-netns.sh (its own ports: ports="auto"). About 30 s on two cores.
"""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import requests

from deploy.stack import NGINX, REDIS_SERVER, TURNSERVER, Stack
from webapp.demo import DEMO_PASSWORD

UA = "Mozilla/5.0 (X11; Linux x86_64) production-stack-test"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    for tool in (NGINX, REDIS_SERVER, TURNSERVER):
        if not Path(tool).exists():
            pytest.fail(f"{tool} is missing: scripts/install-system-deps.sh --test")
    s = Stack(tmp_path_factory.mktemp("production"), web=2, ports="auto", samples=False,
              env={"EXPOSE_PROCESS_ID": "1"})
    try:
        s.start()
        yield s
    finally:
        s.stop(purge=True)


def session(stack: Stack) -> requests.Session:
    s = requests.Session()
    s.trust_env = False                # REQUESTS_CA_BUNDLE would override `verify`
    s.verify = str(stack.cert_path)    # the certificate nginx presents is the stack's own (127.0.0.1 in it)
    s.headers["User-Agent"] = UA
    return s


def login(stack: Stack, username: str) -> tuple[requests.Session, requests.Response]:
    s = session(stack)
    page = s.get(f"{stack.url}/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    answer = s.post(f"{stack.url}/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token},
                    headers={"Referer": f"{stack.url}/login"}, allow_redirects=False)
    return s, answer


def worker_pids(stack: Stack, name: str) -> set[int]:
    """The gunicorn master of a web process and its worker."""
    master = stack.proc(name).pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {master, *map(int, children)}


def test_https_through_nginx_serves_the_portal_and_http_redirects(stack):
    assert stack.url.startswith("https://")
    page = session(stack).get(f"{stack.url}/login")
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text and 'name="password"' in page.text
    plain = requests.get(f"{stack.http_url}/login?next=/learn", allow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"{stack.url}/login?next=/learn"
    # nginx, not a web process, answers the TLS handshake: the web processes speak plain HTTP on 127.0.0.1
    assert all(url.startswith("http://127.0.0.1:") for url in stack.web_urls)
    assert requests.get(f"{stack.web_urls[0]}/login").status_code == 200


def test_login_over_https_with_a_secure_cookie(stack):
    s, answer = login(stack, "officer_bs")
    assert answer.status_code == 302, answer.text[:500]
    set_cookie = answer.headers["Set-Cookie"]
    assert "Secure" in set_cookie and "HttpOnly" in set_cookie
    assert all(cookie.secure for cookie in s.cookies)
    home = s.get(stack.url + answer.headers["Location"], allow_redirects=False)
    assert home.status_code == 200, home.status_code
    # the browser sends the Secure cookie over HTTPS only: over plain http nobody is logged in
    direct = s.get(stack.web_urls[0] + answer.headers["Location"], allow_redirects=False)
    assert direct.status_code == 302 and "/login" in direct.headers["Location"]


def test_nginx_uses_both_web_processes_and_survives_losing_one(stack):
    web0, web1 = worker_pids(stack, "web0"), worker_pids(stack, "web1")
    s = session(stack)
    seen = [int(s.get(f"{stack.url}/login").headers["X-Portal-Process"]) for _ in range(8)]
    assert set(seen) & web0 and set(seen) & web1, (seen, web0, web1)
    assert set(seen) <= web0 | web1
    # web0 dies (SIGKILL, master and worker): every request is still answered, by web1
    stack.kill("web0", signal.SIGKILL)
    after = [s.get(f"{stack.url}/login") for _ in range(6)]
    assert [r.status_code for r in after] == [200] * 6
    assert {int(r.headers["X-Portal-Process"]) for r in after} <= web1
    stack.restart("web0")
    new_web0 = worker_pids(stack, "web0")
    deadline = time.monotonic() + 30     # nginx tries a failed server again after fail_timeout (5 s)
    while time.monotonic() < deadline:
        if int(s.get(f"{stack.url}/login").headers["X-Portal-Process"]) in new_web0:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the restarted web0 got no requests from nginx")


def test_socketio_websocket_through_nginx(stack):
    import socketio
    s, answer = login(stack, "zhangsan")
    assert answer.status_code == 302
    cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
    events = []
    client = socketio.Client(ssl_verify=False, reconnection=False)
    client.on("portal_process", lambda data: events.append(data))
    client.connect(stack.url, headers={"Cookie": cookie, "User-Agent": UA}, transports=["websocket"],
                   wait_timeout=10)
    try:
        assert client.transport() == "websocket"
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            time.sleep(0.05)
        assert events and events[0]["pid"] in worker_pids(stack, "web0") | worker_pids(stack, "web1")
    finally:
        client.disconnect()
    # without the session cookie the portal refuses the connection (through nginx as well)
    anonymous = socketio.Client(ssl_verify=False, reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        anonymous.connect(stack.url, headers={"User-Agent": UA}, transports=["websocket"], wait_timeout=10)


def test_scheduler_media_and_services_are_running(stack):
    assert stack.media_names == [f"media{i}" for i in range(os.cpu_count() or 1)]   # one per core by default
    assert stack.names.index("janus") < stack.names.index("media0")   # started before the media workers
    for name in ("postgres", "redis", "coturn", "janus", *stack.media_names, "scheduler", "web0", "web1", "nginx"):
        assert stack.proc(name) is not None and stack.proc(name).poll() is None, (name, stack.log_tail(name))
    assert stack.env["MEDIA_MODE"] == "remote" and stack.env["SCHEDULER_ENABLED"] == "0"
    assert stack.database_url.startswith("postgresql+psycopg://portal:")
    import redis
    client = redis.Redis.from_url(stack.redis_url)
    assert client.ping()
    from webapp.media.workers import Registry
    assert Registry(client).live() == sorted(str(i) for i in range(len(stack.media_names)))   # every worker beats
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=stack.ports.redis, retry=None).ping()    # no password: refused
    client.close()


def test_conferences_go_through_the_stacks_janus(stack):
    """The janus piece: its own config and secrets (kept in secrets.json, 0600), its API refuses
    who lacks the API secret, and a conference that goes live on the stack has its VideoRoom there."""
    import json
    from datetime import datetime, timezone

    import psycopg
    import socketio

    janus = stack.janus_server
    assert stack.conference_backend == "janus"
    assert stack.env["CONFERENCE_MEDIA_BACKEND"] == "janus" and stack.env["JANUS_URL"] == janus.url
    kept = json.loads((stack.run_dir / "secrets.json").read_text())
    assert kept["janus_api_secret"] == janus.api_secret == stack.env["JANUS_API_SECRET"]
    assert kept["janus_admin_key"] == janus.admin_key == stack.env["JANUS_ADMIN_KEY"]
    assert f"JANUS_API_SECRET={janus.api_secret}" in (stack.run_dir / "portal.env").read_text()
    for private in (stack.run_dir / "secrets.json", janus.config_dir / "janus.jcfg"):
        assert private.stat().st_mode & 0o077 == 0, private
    lo, hi = stack.ports.janus_rtp
    assert f'rtp_port_range = "{lo}-{hi}"' in (janus.config_dir / "janus.jcfg").read_text()
    assert hi < stack.ports.relay[0] or lo > stack.ports.relay[1]     # apart from coturn's relays
    refused = requests.post(janus.url, json={"janus": "create", "transaction": "t"}, timeout=5).json()
    assert refused["janus"] == "error" and refused["error"]["code"] == 403

    url = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with psycopg.connect(url) as conn:
        unit_id, officer_id = conn.execute("SELECT unit_id, id FROM app_user WHERE username = 'officer_bs'").fetchone()
        conference_id = conn.execute(
            "INSERT INTO conference (host_unit_id, host_officer_id, title, starts_at, duration_min, levels, "
            "include_supervisees, status, created_at) VALUES (%s, %s, 'janus', %s, 60, '', true, 'live', %s) "
            "RETURNING id", (unit_id, officer_id, now, now)).fetchone()[0]
    s, answer = login(stack, "officer_bs")
    assert answer.status_code == 302
    client = socketio.Client(ssl_verify=False, reconnection=False)
    client.connect(stack.url, headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in s.cookies),
                                       "User-Agent": UA}, transports=["websocket"], wait_timeout=10)
    try:
        ack = client.call("conf_enter", {"conference_id": conference_id}, timeout=30)
        assert ack.get("ok"), ack
        rooms = [room["room"] for room in janus.list_rooms()]
        assert any(str(room).startswith(f"c{conference_id}-") for room in rooms), rooms

        # A course played into it (issue 16) goes through the media worker's RPC to a publisher in
        # that VideoRoom; pause, seek and stop come back with the stage.
        course_id = _course_with_video(stack, url)

        def publishers() -> int:
            return sum(room.get("num_participants", 0) for room in janus.list_rooms()
                       if str(room["room"]).startswith(f"c{conference_id}-"))
        assert publishers() == 0
        played = client.call("conf_media", {"conference_id": conference_id, "action": "play", "course_id": course_id},
                             timeout=30)
        assert played.get("ok"), played
        assert played["stage"]["kind"] == "media" and played["stage"]["playing"] is True
        deadline = time.time() + 10
        while publishers() != 1 and time.time() < deadline:
            time.sleep(0.2)
        assert publishers() == 1
        paused = client.call("conf_media", {"conference_id": conference_id, "action": "pause"}, timeout=15)
        assert paused.get("ok") and paused["stage"]["playing"] is False, paused
        moved = client.call("conf_media", {"conference_id": conference_id, "action": "seek", "position": 3.0},
                            timeout=15)
        assert moved.get("ok") and moved["stage"]["position"] == pytest.approx(3.0, abs=0.1), moved
        stopped = client.call("conf_media", {"conference_id": conference_id, "action": "stop"}, timeout=15)
        assert stopped.get("ok") and stopped["stage"]["kind"] == "none", stopped
        deadline = time.time() + 10
        while publishers() != 0 and time.time() < deadline:
            time.sleep(0.2)
        assert publishers() == 0
    finally:
        client.disconnect()


def _course_with_video(stack: Stack, url: str) -> int:
    """A course whose source file is the marked test course, in the stack's media root."""
    import psycopg

    from content.marker_video import build

    folder = stack.media_root / "stage-course"
    folder.mkdir(exist_ok=True)
    build(folder / "source.mp4", 6.0)
    with psycopg.connect(url) as conn:
        return conn.execute(
            "INSERT INTO course (slug, title, category, description, duration_s, master_playlist, source_file, "
            "renditions_json, created_at) VALUES ('stage-course', '舞台课程', 'law', '', 6.0, 'master.m3u8', "
            "'source.mp4', '[]', now()) RETURNING id").fetchone()[0]


def test_the_conference_backend_is_a_choice(tmp_path):
    """Stack(conference_backend="aiortc"): no janus piece, the media workers' own rooms; an RTP
    range that overlaps coturn's relays is refused."""
    plain = Stack(tmp_path / "a", web=1, media=1, conference_backend="aiortc")
    assert "janus" not in plain.names and plain.janus_server is None
    assert "CONFERENCE_MEDIA_BACKEND" not in plain.env and "JANUS_URL" not in plain.env
    with pytest.raises(ValueError):
        Stack(tmp_path / "b", web=1, media=1, ports={"relay": (20000, 20099)})
    with pytest.raises(ValueError):
        Stack(tmp_path / "c", web=1, media=1, conference_backend="mcu")
