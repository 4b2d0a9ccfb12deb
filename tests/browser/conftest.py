"""Browser tests: the real portal served on loopback, driven by Debian's Chromium via Playwright.

The sample course is built and transcoded once per run (real H.264 with Chinese slides),
and every test gets a fresh database that points at it.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from content.build_samples import main as build_samples_main
from streaming.ingest import import_course
from webapp import create_app
from webapp import migrate
from webapp.courses.catalogue import persist_course
from webapp.demo import load_demo
from webapp.models import Assignment

from tests.conftest import DEMO_PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic",
                 "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="session")
def sample_media(tmp_path_factory):
    """One real course (about 40 s) built from the project's own sample builder, imported to HLS."""
    out = tmp_path_factory.mktemp("samples")
    build_samples_main(["--out", str(out), "--minutes", "0.7", "--only", "law-basics"])
    media_root = tmp_path_factory.mktemp("media")
    imported = import_course(out / "law-basics.json", media_root)
    return media_root, imported


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver per run (the sync API allows only one at a time): tests that need
    their own Chromium (e.g. a fake camera file, a launch argument) launch it from here."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run scripts/install-system-deps.sh --test")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright):
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live(tmp_path, sample_media):
    media_root, imported = sample_media
    app = create_app({
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'browser.db'}",
        "MEDIA_ROOT": str(media_root),
        "SECRET_KEY": "browser-test-secret",
        "RATELIMIT_ENABLED": False,
        "SCHEDULER_ENABLED": False,
        "PROCTORING_REQUIRED": False,   # the camera tests turn it on
        "HEARTBEAT_INTERVAL_S": 1.0,
        # Breakpoints far away unless a test brings them closer.
        "BREAKPOINT_MIN_S": 600.0, "BREAKPOINT_MEAN_S": 600.0, "BREAKPOINT_MAX_S": 600.0,
    })
    migrate.upgrade(app.config["DATABASE_URL"])
    with app.app_context():
        from webapp.core import db
        session = db.session()
        course = persist_course(session, imported)
        session.commit()
        load_demo(DEMO_PASSWORD)
        app.config["TEST_COURSE_ID"] = course.id
        assert session.query(Assignment).filter(Assignment.course_id == course.id).count() >= 1
    server = LiveServer(app)
    yield server
    server.stop()
    app.extensions["db_engine"].dispose()


@pytest.fixture
def new_page(browser):
    contexts = []

    def make():
        context = browser.new_context(locale="zh-CN")
        contexts.append(context)
        return context.new_page()
    yield make
    for context in contexts:
        context.close()


def login(page, live, username="zhangsan", password=DEMO_PASSWORD):
    page.goto(live.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login-submit")
    page.wait_for_url("**/learn/")


def open_course(page, live):
    page.goto(f"{live.url}/learn/course/{live.app.config['TEST_COURSE_ID']}")
    page.wait_for_selector("#player[data-ready='1']", state="attached", timeout=20_000)


def play(page):
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; return v.play(); }")


def current_time(page) -> float:
    return page.evaluate("() => document.getElementById('video').currentTime")


def db_session(live):
    """A session of the test's own on the live server's database."""
    from sqlalchemy.orm import Session
    return Session(live.app.extensions["db_engine"])


def wait_for(predicate, timeout=20.0, step=0.2, message="condition", describe=None):
    """Poll until `predicate()` is truthy and return its value; fail with `message` (and
    `describe()`, e.g. the page's state) after `timeout` seconds."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {message} {describe() if describe else ''}".rstrip())
