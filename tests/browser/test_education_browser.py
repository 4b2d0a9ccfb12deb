"""The conference stage (issue 16) in real Chromium: a county officer (区级工作人员) hosts a
conference with the township level; a township supervisee (张三) watches from the township's
room, one level down. The host picks a course on the room page and plays it: the supervisee's
main video shows it, and the media time drawn into every frame of the course
(content.marker_video) is read back from that <video> element (drawn to a canvas in the page,
decoded in Python by the same `read_marker`): it advances, and freezes when the host pauses.
Then the host stops the course and shares a screen (Chromium's fake display capture:
getDisplayMedia with --use-fake-ui-for-media-stream and the fake media device, 1280x720 in
headless Chromium 156): the supervisee's main video shows the screen and its frames move.

What counts is what the supervisee's browser decodes; the pages' data attributes only say what
the page shows. Runs inside the private network namespace (scripts/in-netns.sh).
"""
from __future__ import annotations

import base64
import os
import time
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from content import marker_video
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer
from tests.conftest import DEMO_PASSWORD
from webapp import create_app, migrate
from webapp.demo import load_demo
from webapp.models import Category, Conference, ConferenceStatus, Course, User, utcnow

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MEDIA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              "--auto-select-desktop-capture-source=Entire screen"]
COURSE_S = 40.0


@pytest.fixture(scope="module", autouse=True)
def private_network():
    if not os.environ.get("IN_NETNS") and not os.environ.get("RTC_TEST_HOST_NETWORK"):
        pytest.fail("WebRTC tests run inside a private network namespace: use scripts/in-netns.sh")


@pytest.fixture
def portal(tmp_path):
    """A county conference (levels: township) with the marker course imported as MEDIA_ROOT/<slug>/source.mp4."""
    from webapp.conferences import live as conference_live
    from webapp.core import db as webdb

    media_root = tmp_path / "media"
    marker_video.build(media_root / "marker-course" / "source.mp4", COURSE_S, width=320, height=180, fps=15)
    app = create_app({
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'education.db'}",
        "MEDIA_ROOT": str(media_root), "SECRET_KEY": "education-browser-secret",
        "RATELIMIT_ENABLED": False, "SCHEDULER_ENABLED": False,
    })
    migrate.upgrade(app.config["DATABASE_URL"])
    with app.app_context():
        session = webdb.session()
        load_demo(DEMO_PASSWORD)
        host = session.scalar(select(User).where(User.username == "officer_xh"))
        course = Course(slug="marker-course", title="法治教育：计时课", category=Category.LAW, duration_s=COURSE_S,
                        master_playlist="master.m3u8", source_file="source.mp4")
        conference = Conference(host_unit_id=host.unit_id, host_officer_id=host.id, title="西湖区集中教育",
                                starts_at=utcnow() + timedelta(minutes=1), duration_min=60, levels="5",
                                include_supervisees=True, status=ConferenceStatus.SCHEDULED)
        session.add_all([course, conference])
        session.commit()
        app.config["TEST_IDS"] = {"conference": conference.id, "course": course.id}
    server = LiveServer(app)
    yield server
    server.stop()
    conference_live.shutdown(app)
    app.extensions["db_engine"].dispose()


@pytest.fixture
def chromium(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + MEDIA_ARGS)
    yield browser
    browser.close()


def room_page(chromium, portal, username):
    context = chromium.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("console", lambda msg: print(f"[{username} console] {msg.type}: {msg.text}")
            if msg.type in ("error", "warning") else None)
    page.errors = []                 # uncaught errors of the page's scripts (the room's modules)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(portal.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, page.url
    page.goto(f"{portal.url}/conferences/{portal.app.config['TEST_IDS']['conference']}/room")
    wait_room(page, "() => document.getElementById('room').dataset.state === 'live'", f"{username} to be in")
    return page


def room_state(page) -> dict:
    return page.evaluate("""() => { const r = document.getElementById('room');
        return Object.assign({}, r.dataset, {status: document.getElementById('room-status').textContent,
            stage: document.getElementById('stage-info').textContent,
            toasts: Array.from(document.querySelectorAll('#notices .toast span')).map(s => s.textContent)}); }""")


def wait_room(page, predicate_js, message, timeout=20.0):
    try:
        page.wait_for_function(predicate_js, timeout=timeout * 1000)
    except Exception as exc:
        raise AssertionError(f"{message}: {room_state(page)}") from exc


# The main <video> drawn to a canvas at its own size: the RGB pixels of rows [0, rows) (all when
# rows is 0), base64, with the picture's size.
GRAB = """(rows) => { const v = document.getElementById('main-video');
    if (!v.videoWidth) return null;
    const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext('2d'); g.drawImage(v, 0, 0);
    const h = rows ? Math.min(rows, c.height) : c.height;
    const d = g.getImageData(0, 0, c.width, h).data;
    const rgb = new Uint8Array(c.width * h * 3);
    for (let i = 0, j = 0; i < d.length; i += 4) { rgb[j++] = d[i]; rgb[j++] = d[i + 1]; rgb[j++] = d[i + 2]; }
    let s = ''; for (let i = 0; i < rgb.length; i += 8192) s += String.fromCharCode.apply(null, rgb.subarray(i, i + 8192));
    return {w: c.width, h: c.height, rows: h, rgb: btoa(s)}; }"""


def grab(page, rows: int = 0) -> np.ndarray | None:
    """The main video's picture as the page shows it (HxWx3; rows below `rows` left black)."""
    got = page.evaluate(GRAB, rows)
    if got is None:
        return None
    band = np.frombuffer(base64.b64decode(got["rgb"]), dtype=np.uint8).reshape(got["rows"], got["w"], 3)
    frame = np.zeros((got["h"], got["w"], 3), dtype=np.uint8)
    frame[:got["rows"]] = band
    return frame


def markers(page, seconds: float, every: float = 0.1) -> list[tuple[float, float]]:
    """(wall time, media time read from the picture) every `every` seconds for `seconds`."""
    out = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        frame = grab(page, rows=0)
        value = marker_video.read_marker(frame) if frame is not None else None
        if value is not None:
            out.append((time.monotonic(), value))
        time.sleep(every)
    return out


def test_a_course_and_a_shared_screen_reach_a_township_viewer(portal, chromium):
    ids = portal.app.config["TEST_IDS"]
    host = room_page(chromium, portal, "officer_xh")
    viewer = room_page(chromium, portal, "zhangsan")
    assert viewer.locator("#stage-play").count() == 0          # no stage controls for a participant
    assert viewer.is_hidden("#share-btn")                       # nor sharing, until the host allows it

    # The host picks the course (the picker lists the courses with a video file) and plays it.
    host.wait_for_selector(f"#stage-course option[value='{ids['course']}']", state="attached")
    assert host.inner_text(f"#stage-course option[value='{ids['course']}']") == "法治教育：计时课"
    host.select_option("#stage-course", str(ids["course"]))
    host.click("#stage-play")
    wait_room(viewer, "() => document.getElementById('room').dataset.main === 'media'", "the course as the main stream")
    wait_room(viewer, "() => document.getElementById('main-video').videoWidth > 0", "the course's picture", 30)
    assert "正在播放：法治教育：计时课" in viewer.inner_text("#stage-info")

    # The media time in the supervisee's picture advances with the wall clock...
    playing = markers(viewer, 2.0)
    assert len(playing) >= 8, playing
    values = [m for _, m in playing]
    assert values == sorted(values) and values[-1] - values[0] > 1.0, values
    rate = (values[-1] - values[0]) / (playing[-1][0] - playing[0][0])
    assert 0.7 < rate < 1.3, (rate, playing)
    # ... with sound (the course's tone reaches the <video> as an audio track)
    assert viewer.evaluate("() => document.getElementById('main-video').srcObject.getAudioTracks().length") == 1

    # ... and stands still when the host pauses (every level: the server's playback pauses).
    host.click("#stage-pause")
    wait_room(viewer, "() => document.getElementById('room').dataset.stagePlaying === '0'", "the pause")
    time.sleep(0.8)
    paused = markers(viewer, 1.5)
    assert len(paused) >= 5 and len({m for _, m in paused}) == 1, paused
    assert paused[0][1] >= values[-1]
    assert "已暂停" in viewer.inner_text("#stage-info")

    # The host stops the course and shares a screen (the fake display capture).
    host.click("#stage-stop")
    wait_room(viewer, "() => document.getElementById('room').dataset.stage === 'none'", "the course stopped")
    host.click("#share-btn")
    wait_room(host, "() => document.getElementById('room').dataset.sharing === '1'", "the host sharing")
    wait_room(viewer, "() => document.getElementById('room').dataset.main === 'screen'", "the screen as the main stream")
    wait_room(viewer, "() => document.getElementById('main-video').videoWidth > 0", "the screen's picture", 30)
    assert "正在共享屏幕" in viewer.inner_text("#stage-info")
    width = viewer.evaluate("() => document.getElementById('main-video').videoWidth")
    height = viewer.evaluate("() => document.getElementById('main-video').videoHeight")
    assert width * 9 == height * 16, (width, height)            # the 16:9 fake screen, not a 4:3 camera
    first = grab(viewer)
    time.sleep(1.0)
    second = grab(viewer)
    moved = np.abs(first.astype(np.int16) - second.astype(np.int16)).mean()
    assert moved > 1.0, moved                                   # the shared screen's frames move
    host.click("#share-stop")
    wait_room(viewer, "() => document.getElementById('room').dataset.stage === 'none'", "the share ended")
    assert room_state(host)["toasts"] == [] and room_state(viewer)["toasts"] == []
    # the room's scripts (the stage's and the education checks' modules too) ran without an error
    assert host.errors == [] and viewer.errors == [], (host.errors, viewer.errors)
    assert viewer.evaluate("() => !!document.getElementById('edu-checks')")
