"""The reliability suite: the production mode's real processes (deploy.stack: PostgreSQL, Redis,
gunicorn web processes behind nginx with TLS, the media workers, the scheduler) with faults put
in by hand: kill -9, restarts, dropped camera connections. Runs inside scripts/in-netns.sh.
A stack has one media worker unless a test asks for more (`stack_for(media=2)`)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
import urllib3

from deploy.stack import Stack

from tests.conftest import DEMO_PASSWORD, csrf_from

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)   # the socket client's unverified TLS

# Short enough that a lost interval is visible in seconds, long enough for a loaded 2-core box.
HEARTBEAT_S = 2.0


@pytest.fixture(scope="module")
def stack_for(tmp_path_factory, request):
    """Start a Stack with extra environment; stopped at the module's end. Its logs are printed
    when a test fails (pytest shows captured output)."""
    made: list[Stack] = []

    def make(web: int = 2, media: int = 1, **env) -> Stack:
        folder = tmp_path_factory.mktemp("stack")
        base = {"HEARTBEAT_INTERVAL_S": HEARTBEAT_S, "EXPOSE_PROCESS_ID": "1", "RATELIMIT_ENABLED": "1"}
        stack = Stack(folder, web=web, media=media, ports="auto", samples=False, env={**base, **env})
        made.append(stack)
        stack.start()
        return stack

    yield make
    for stack in made:
        if request.session.testsfailed:
            for name in stack.names:
                print(f"--- {name} ---\n{stack.log_tail(name, 40)}")
        stack.stop()


def add_course(stack: Stack, slug: str = "reliable", duration: float = 600.0, learners=("zhangsan",)) -> int:
    """A course assigned to `learners`, written straight into the stack's database."""
    from sqlalchemy.orm import Session

    from webapp import create_app
    from tests.conftest import make_course

    app = create_app({"DATABASE_URL": stack.database_url, "INSTANCE_DIR": str(stack.instance_dir),
                      "MEDIA_ROOT": str(stack.media_root), "SECRET_KEY": stack.secrets["secret_key"],
                      "SCHEDULER_ENABLED": False, "FACE_DATA_KEYS": stack.secrets["face_data_key"]})
    try:
        with Session(app.extensions["db_engine"]) as db:
            return make_course(app, db, slug=slug, duration=duration, assign_to=learners).id
    finally:
        app.extensions["db_engine"].dispose()


class Learner:
    """A supervisee's browser as the player drives it: HTTPS through nginx, one websocket-only
    Socket.IO connection that reconnects by itself, heartbeats over the socket when it is up and
    over HTTP when it is not (webapp/study/static/js/player.js)."""

    def __init__(self, stack: Stack, username: str = "zhangsan"):
        import socketio

        self.base = stack.url
        self.http = requests.Session()
        self.http.trust_env = False                 # no proxies, no CA bundle from the environment
        self.http.verify = str(stack.cert_path)     # the stack's own certificate, verified
        # As a browser does: over HTTPS, Flask-WTF checks that a form comes from this site.
        self.http.headers["Referer"] = f"{stack.url}/"
        page = self.http.get(f"{self.base}/login", timeout=10).text
        done = self.http.post(f"{self.base}/login", data={"username": username, "password": DEMO_PASSWORD,
                                                           "csrf_token": csrf_from(page)}, timeout=20,
                              allow_redirects=False)
        assert done.status_code == 302, done.status_code
        self.csrf = csrf_from(self.http.get(f"{self.base}/account/password", timeout=10).text)
        self.pids: list[int] = []
        self.events: list[tuple[str, dict]] = []
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=2,
                                   ssl_verify=False)
        self.sio.on("portal_process", lambda data: self.pids.append(data["pid"]))
        self.sio.on("proctor", lambda data: self.events.append(("proctor", data)))
        self.sio.on("conf", lambda data: self.events.append(("conf", data)))
        self.sio.on("rollcall", lambda data: self.events.append(("rollcall", data)))
        self._in_flight = threading.Event()
        self.sio.on("disconnect", lambda *_: self._in_flight.set())
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        # The same User-Agent as the page's requests, as in a browser (Flask-Login's strong session
        # protection ties the session to it).
        self.sio.connect(self.base, headers={"Cookie": cookie, "User-Agent": self.http.headers["User-Agent"]},
                         transports=["websocket"], wait_timeout=10)
        wait_until(lambda: self.pids, 10, "the web process to say who it is")
        self.session_id: str | None = None
        self.seq = 0
        self.beats: list[dict] = []

    def api(self, path: str, body: dict | None = None, timeout: float = 20):
        return self.http.post(f"{self.base}{path}", json=body or {}, headers={"X-CSRFToken": self.csrf},
                              timeout=timeout)

    def start(self, course_id: int, camera: bool = False) -> dict:
        res = self.api("/api/study/start", {"course_id": course_id, "camera_consent": camera})
        assert res.status_code == 200, res.text
        self.session_id = res.json()["session_id"]
        return res.json()

    def beat(self, position: float, playing: bool = True) -> dict:
        """One heartbeat, as the player sends it; returns what happened (transport, status, when)."""
        self.seq += 1
        body = {"seq": self.seq, "position": position, "playing": playing, "rate": 1.0}
        at = time.time()
        record = {"at": at, "position": position, "seq": self.seq}
        if self.sio.connected:
            # As the player: the answer, or the connection's loss (then the next beat goes by HTTP
            # at once), or 8 s.
            done, answers = threading.Event(), []
            self._in_flight = done
            try:
                self.sio.emit("heartbeat", {"session_id": self.session_id, **body},
                              callback=lambda answer: (answers.append(answer), done.set()))
                done.wait(8)
            except Exception as exc:   # noqa: BLE001 - the connection went between the check and the send
                record.update(error=repr(exc))
            answer = answers[0] if answers else None
            record.update(transport="socket", status=answer.get("status", 200) if answer else 0, body=answer)
        else:
            try:
                res = self.api(f"/api/study/{self.session_id}/heartbeat", body, timeout=8)
                record.update(transport="http", status=res.status_code, body=res.json())
            except (requests.RequestException, ValueError) as exc:
                record.update(transport="http", status=0, error=repr(exc))
        record["took"] = time.time() - at
        self.beats.append(record)
        return record

    def close(self) -> None:
        self.sio.disconnect()
        self.http.close()


class Player(threading.Thread):
    """A learner watching in real time: a heartbeat every HEARTBEAT_S with the position advancing."""

    def __init__(self, learner: Learner, interval: float = HEARTBEAT_S):
        super().__init__(daemon=True)
        self.learner, self.interval = learner, interval
        self.position = 0.0
        self.stop = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        last = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            self.position += now - last
            last = now
            self.learner.beat(round(self.position, 3))
            self.stop.wait(self.interval)


def wait_until(predicate, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def credited_s(stack: Stack, session_id: str) -> float:
    """Credited seconds of a sitting, read from the ledger's rows (not from the portal's answer)."""
    import psycopg

    url = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COALESCE(SUM(credited_s), 0) FROM credit_entry WHERE session_id = %s",
                           (session_id,)).fetchone()
        return float(row[0])


def sql(stack: Stack, query: str, *args):
    import psycopg

    url = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()


ROOT = Path(__file__).resolve().parents[2]
