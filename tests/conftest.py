"""Shared fixtures: a real app on a real SQLite file, migrated with Alembic, with demo data."""
from __future__ import annotations

import json
import re
import types

import pytest
from sqlalchemy import select

from webapp import create_app
from webapp import migrate
from webapp.models import Assignment, Category, Course, User

DEMO_PASSWORD = "Demo-Pass-2026"

# Camera proctoring on, with checks fast enough for a test: samples 3/s, absence after 3 s,
# the first identity check (with its liveness challenge) at once and the next ones far away,
# no liveness on scheduled checks, no breakpoints. Challenges are drawn from the head movements
# (yaw and pitch): a test client can render those from a real photo (sample_faces.turn / nod),
# not a blink.
FAST_PROCTORING = {
    "PROCTORING_REQUIRED": True,
    "CAMERA_SAMPLE_FPS": 3.0, "CAMERA_BURST_FPS": 8.0,
    "PRESENCE_GRACE_S": 3.0, "PRESENCE_ATTEST_EVERY_S": 2.0, "CHECK_TIMEOUT_S": 4.0,
    "IDENTITY_MEAN_S": 600.0, "IDENTITY_MIN_S": 600.0, "IDENTITY_MAX_S": 600.0, "LIVENESS_SHARE": 0.0,
    "LIVENESS_ACTIONS": "turn_left,turn_right,look_up,look_down", "LIVENESS_WINDOW_S": 3.0,
    # the test clients loop a few frames, which is what a looped feed is: tests that check
    # the feed turn it on with live-like feeds
    "FEED_CHECK": False,
    "BREAKPOINT_MIN_S": 900.0, "BREAKPOINT_MEAN_S": 900.0, "BREAKPOINT_MAX_S": 900.0,
}


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    application = create_app({
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'test.db'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SECRET_KEY": "test-secret-key",
        "RATELIMIT_ENABLED": False,
        "SCHEDULER_ENABLED": False,
        "PROCTORING_REQUIRED": False,   # the camera tests turn it on
    })
    migrate.upgrade(application.config["DATABASE_URL"])
    with application.app_context():
        from webapp.demo import load_demo
        load_demo(DEMO_PASSWORD)
    yield application
    application.extensions["db_engine"].dispose()


@pytest.fixture
def db(app):
    """A session of the test's own, outside any app context: a pushed app context
    would be shared by every request of the test client (and with it flask.g)."""
    from sqlalchemy.orm import Session
    with Session(app.extensions["db_engine"]) as session:
        yield session


def user(db, username: str) -> User:
    return db.scalar(select(User).where(User.username == username))


def make_course(app, db, slug="test-course", duration=120.0, assign_to=("zhangsan",)) -> Course:
    """A course row with small placeholder media files (no transcoding): for API and
    range tests. Tests that need real video use the sample_course fixture instead."""
    folder = app.config["MEDIA_ROOT"] + f"/{slug}"
    import os
    os.makedirs(folder + "/v360", exist_ok=True)
    with open(folder + "/source.mp4", "wb") as fh:
        fh.write(bytes(range(256)) * 400)  # 102,400 bytes with a known pattern
    with open(folder + "/master.m3u8", "w") as fh:
        fh.write("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nv360/index.m3u8\n")
    with open(folder + "/v360/index.m3u8", "w") as fh:
        fh.write("#EXTM3U\n#EXT-X-ENDLIST\n")
    course = Course(slug=slug, title=f"课程 {slug}", category=Category.LAW, description="",
                    duration_s=duration, master_playlist="master.m3u8", source_file="source.mp4",
                    renditions_json=json.dumps([]))
    db.add(course)
    db.flush()
    for username in assign_to:
        db.add(Assignment(learner_id=user(db, username).id, course_id=course.id))
    db.commit()
    return course


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or \
        re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Client:
    """A test client that logs in through the real form and sends the CSRF header."""

    def __init__(self, flask_client):
        self.c = flask_client
        self.token = None

    def login(self, username: str, password: str = DEMO_PASSWORD):
        page = self.c.get("/login")
        return self.c.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_from(page.get_data(as_text=True))})

    def refresh_token(self):
        self.token = csrf_from(self.c.get("/account/password").get_data(as_text=True))

    def api(self, path: str, body=None):
        return self.c.post(path, json=body if body is not None else {}, headers={"X-CSRFToken": self.token or ""})

    def __getattr__(self, name):
        return getattr(self.c, name)


@pytest.fixture
def client_for(app):
    def make(username: str | None = None) -> Client:
        client = Client(app.test_client())
        if username:
            response = client.login(username)
            assert response.status_code == 302, f"login failed for {username}"
            client.refresh_token()
        return client
    return make


class Clock:
    """Replaces time.time() in the study API (HTTP and Socket.IO) so tests control the server clock."""

    def __init__(self, start: float = 1_780_000_000.0):
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    import webapp.study.sockets
    import webapp.study.views
    for module in (webapp.study.views, webapp.study.sockets):
        monkeypatch.setattr(module, "time", types.SimpleNamespace(time=fake.time))
    return fake
