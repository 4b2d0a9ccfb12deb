"""One Socket.IO connection per page (issue 10): every script of a page (notices, officer alerts,
the player and its study camera, the conference room's modules) shares the one that base.html
creates (window.portalSocket, webapp/static/js/portal_socket.js). Checked on the player page,
an officer page and the conference room (host and supervisee); the camera's signalling has no
socket of its own (camera.js), and its flow is tested in test_proctoring_browser.py.

A connection is counted at its engine.io handshake as the browser makes it: a WebSocket opened
without a `sid` (the portal's client is websocket-only), or a polling request without a `sid`
(should a client ever start with polling, its later upgrade carries the sid and is not counted).
Each page is watched from its navigation to a few seconds after its scripts are up, so a second,
late connection (e.g. the study camera's, or a reconnect loop) would be seen.
"""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, db_session, login, open_course, play, wait_for
from tests.conftest import DEMO_PASSWORD
from webapp.models import Conference, ConferenceStatus, User, WatchProgress, utcnow

pytestmark = pytest.mark.browser

SETTLE_S = 3.0


class Handshakes:
    """The Socket.IO connections a page opens (engine.io handshakes), from `reset()` on, and the
    page's uncaught script errors (a module that fails to load would leave the page half-wired)."""

    def __init__(self, page):
        self.urls: list[str] = []
        self.errors: list[str] = []
        page.on("websocket", lambda ws: self._seen(ws.url))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda req: self._seen(req.url) if "transport=polling" in req.url else None)

    def _seen(self, url: str) -> None:
        if "/socket.io/" in url and "sid=" not in url:
            self.urls.append(url)

    def reset(self) -> None:
        self.urls.clear()
        self.errors.clear()

    @property
    def count(self) -> int:
        return len(self.urls)


def connected(page) -> None:
    page.wait_for_function("() => window.portalSocket && window.portalSocket.connected", timeout=20_000)


def settle_and_count(page, handshakes) -> int:
    connected(page)
    time.sleep(SETTLE_S)
    assert page.evaluate("() => window.portalSocket.connected")
    assert not handshakes.errors, handshakes.errors
    return handshakes.count


def stored_position(live) -> float:
    with db_session(live) as s:
        return s.scalar(select(WatchProgress.position_s)) or 0.0


def test_the_player_page_opens_one_socket_io_connection(live, new_page):
    page = new_page()
    handshakes = Handshakes(page)
    login(page, live)
    connected(page)   # the home page's own connection is counted before the reset
    handshakes.reset()
    open_course(page, live)
    play(page)
    # The heartbeats use the page's one connection (base.html's shared socket).
    wait_for(lambda: page.get_attribute("#player", "data-transport") == "socket",
             message="a heartbeat over Socket.IO")
    wait_for(lambda: stored_position(live) >= 2.0, message="2 s of playback reported to the server")
    assert settle_and_count(page, handshakes) == 1, handshakes.urls


@pytest.fixture
def conference(live):
    """A conference of 北山街道司法所 (supervisees included), scheduled now: the host's entering
    makes it live."""
    from webapp.conferences import live as conference_live
    from webapp.core import db as webdb
    from webapp.proctor import hub as proctor_hub

    with live.app.app_context():
        session = webdb.session()
        host = session.scalar(select(User).where(User.username == "officer_bs"))
        row = Conference(host_unit_id=host.unit_id, host_officer_id=host.id, title="北山所月度集中教育",
                         starts_at=utcnow() + timedelta(minutes=1), duration_min=60, levels="",
                         include_supervisees=True, status=ConferenceStatus.SCHEDULED)
        session.add(row)
        session.commit()
        conference_id = row.id
    yield conference_id
    conference_live.shutdown(live.app)
    proctor_hub.shutdown(live.app)


@pytest.fixture
def media_browser(playwright):
    """Chromium with a fake camera and microphone (the room publishes both)."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
    yield browser
    browser.close()


def person(browser, live, username):
    page = browser.new_context(locale="zh-CN").new_page()
    page.set_default_timeout(20_000)
    handshakes = Handshakes(page)
    page.goto(live.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, page.url
    connected(page)
    return page, handshakes


def test_officer_pages_and_the_conference_room_open_one_socket_io_connection(live, conference, media_browser):
    host, host_sockets = person(media_browser, live, "officer_bs")
    # An officer page: officer_alerts.js and notices.js on one connection.
    host_sockets.reset()
    host.goto(f"{live.url}/officer/")
    assert settle_and_count(host, host_sockets) == 1, host_sockets.urls

    room_url = f"{live.url}/conferences/{conference}/room"
    member, member_sockets = person(media_browser, live, "zhangsan")
    for page, handshakes in ((host, host_sockets), (member, member_sockets)):   # the host opens it first
        handshakes.reset()
        page.goto(room_url)
        page.wait_for_function("() => document.getElementById('room').dataset.state === 'live'")
        assert settle_and_count(page, handshakes) == 1, handshakes.urls
    # The room's events and acks work on that connection: a chat message reaches both pages.
    member.fill("#chat-text", "一条连接")
    member.click("#chat-send")
    for each in (host, member):
        each.wait_for_function("() => Array.from(document.querySelectorAll('#chat-log .c-text'))"
                               ".some(e => e.textContent === '一条连接')")
