"""Camera proctoring in real Chromium: the player page publishes the fake camera (a y4m file
built here from real face photos) over WebRTC to the portal's aiortc engine, and the server
decides with mediapipe and dlib. What counts is what the server stored (StudySession,
CreditEntry, ProctorCheck, ProctorFlag, Evidence); the page's data attributes only show that
the browser obeyed.

Runs inside the private network namespace (scripts/in-netns.sh): the live server, aiortc and
Chromium all live in it, and Chromium gathers its host candidates on the namespace's veth.
"""
from __future__ import annotations

import json
import os
import re
import time

import pytest
from sqlalchemy import func, select

from proctoring.enrolment import assess
from proctoring.sample_faces import ENROLLED, IMPOSTOR, nod, scene, turn, write_y4m
from proctoring.vision import thread_analyzer
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer, db_session, login, wait_for
from tests.conftest import DEMO_PASSWORD, FAST_PROCTORING
from webapp import create_app
from webapp import migrate
from webapp.courses.catalogue import persist_course
from webapp.demo import load_demo
from webapp.models import CreditEntry, Evidence, FaceEnrolment, ProctorCheck, ProctorFlag, StudySession, User

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
SHOTS = os.environ.get("PROCTOR_SCREENSHOTS", "/tmp")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module", autouse=True)
def private_network():
    if not os.environ.get("IN_NETNS") and not os.environ.get("RTC_TEST_HOST_NETWORK"):
        pytest.fail("WebRTC tests run inside a private network namespace: use scripts/in-netns.sh")


@pytest.fixture(scope="module")
def enrolled_embedding():
    quality = assess(scene(ENROLLED, (640, 480)), thread_analyzer())
    assert quality.ok, quality.reason
    return quality.embedding


@pytest.fixture(scope="module")
def cameras(tmp_path_factory):
    """y4m files for Chromium's fake camera: a few frames of the same room (slightly different
    seeds, so the picture is not perfectly still), looped by Chromium."""
    folder = tmp_path_factory.mktemp("cameras")
    made = {}
    for name, face in [("enrolled", ENROLLED), ("empty", None), ("impostor", IMPOSTOR)]:
        made[name] = write_y4m(folder / f"{name}.y4m", [scene(face, (320, 240), seed=i) for i in range(4)], fps=15)
    # a 4 s recording of the enrolled learner looking left, right, up and down, looped
    still = scene(ENROLLED, (320, 240), seed=0)
    clip = []
    for pose in (turn(still, 35.0), turn(still, -35.0), nod(still, 30.0), nod(still, -25.0)):
        clip += [still] * 5 + [pose] * 5
    made["looped"] = write_y4m(folder / "looped.y4m", clip, fps=10)
    return made


@pytest.fixture
def camera_page(playwright, cameras):
    """new page in a Chromium of its own whose camera plays the named y4m file (the file is a
    launch argument, so every camera gets its own browser)."""
    launched = []

    def make(name):
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS + CAMERA_ARGS + [f"--use-file-for-fake-video-capture={cameras[name]}"])
        launched.append(chromium)
        page = chromium.new_context(locale="zh-CN").new_page()
        page.set_default_timeout(20_000)
        return page
    yield make
    for chromium in launched:
        chromium.close()


@pytest.fixture
def proctored(tmp_path, sample_media, enrolled_embedding, request):
    """The portal with PROCTORING_REQUIRED, zhangsan enrolled (an encrypted embedding of the
    enrolled photo) and short check timings, served on loopback. Indirect parameters are more
    settings (e.g. FEED_CHECK)."""
    from webapp.core import db as webdb
    from webapp.proctor import hub as proctor_hub
    from webapp.core.face_crypto import encrypt_embedding

    media_root, imported = sample_media
    app = create_app({
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'proctored.db'}",
        "MEDIA_ROOT": str(media_root), "SECRET_KEY": "proctored-browser-secret",
        "RATELIMIT_ENABLED": False, "SCHEDULER_ENABLED": False, "HEARTBEAT_INTERVAL_S": 1.0,
        **FAST_PROCTORING, **getattr(request, "param", {}),
    })
    migrate.upgrade(app.config["DATABASE_URL"])
    with app.app_context():
        session = webdb.session()
        course = persist_course(session, imported)
        session.commit()
        load_demo(DEMO_PASSWORD)
        zhangsan = session.scalar(select(User).where(User.username == "zhangsan"))
        session.add(FaceEnrolment(user_id=zhangsan.id, embedding_enc=encrypt_embedding(enrolled_embedding),
                                  source="upload", quality_json="{}", active=True))
        session.commit()
        app.config["TEST_COURSE_ID"] = course.id
    server = LiveServer(app)
    yield server
    server.stop()
    proctor_hub.shutdown(app)
    app.extensions["db_engine"].dispose()


# --- helpers ------------------------------------------------------------------------------

def wait_until(predicate, timeout=20.0, step=0.25, message="condition", page=None):
    return wait_for(predicate, timeout, step, message, describe=(lambda: player_state(page)) if page else None)


def player_state(page) -> dict:
    return page.evaluate("""() => { const p = document.getElementById('player'); const v = document.getElementById('video');
        return Object.assign({}, p.dataset, {paused: v.paused, time: v.currentTime,
                              notice: document.getElementById('notice').textContent}); }""")


def attr(page, name) -> str | None:
    return page.get_attribute("#player", f"data-{name}")


def open_player(page, live):
    page.goto(f"{live.url}/learn/course/{live.app.config['TEST_COURSE_ID']}")
    page.wait_for_selector("#consent-box")


def consent_and_start(page) -> str:
    page.check("#consent-box")
    page.click("#consent-start")
    page.wait_for_function("() => document.getElementById('player').dataset.session")
    return attr(page, "session")


def wait_camera_connected(page):
    page.wait_for_function("() => document.getElementById('player').dataset.camera", timeout=20_000)
    assert attr(page, "camera") == "connected", player_state(page)


def credited(live, session_id) -> float:
    with db_session(live) as s:
        return s.scalar(select(func.coalesce(func.sum(CreditEntry.credited_s), 0.0))
                        .where(CreditEntry.session_id == session_id))


def checks(live, session_id):
    with db_session(live) as s:
        return [(c.kind, c.passed, c.reason, json.loads(c.scores_json)) for c in s.scalars(
            select(ProctorCheck).where(ProctorCheck.session_id == session_id).order_by(ProctorCheck.id))]


def flags(live, session_id):
    with db_session(live) as s:
        return [(f.id, f.kind, json.loads(f.scores_json)) for f in s.scalars(
            select(ProctorFlag).where(ProctorFlag.session_id == session_id))]


def video_time(page) -> float:
    return page.evaluate("() => document.getElementById('video').currentTime")


def video_paused(page) -> bool:
    return page.evaluate("() => document.getElementById('video').paused")


def shoot(page, name):
    path = os.path.join(SHOTS, f"proctoring-{name}.png")
    page.screenshot(path=path, full_page=True)
    return path


def hold_text_zh(live, reason: str) -> str:
    """The Chinese the page should show for a hold (the catalogue's translation of the msgid)."""
    from flask_babel import force_locale

    from webapp.proctor.hub import HOLD_MESSAGES
    with live.app.test_request_context(), force_locale("zh_Hans_CN"):
        return str(HOLD_MESSAGES[reason])   # lazy strings translate when rendered


# --- tests --------------------------------------------------------------------------------

def test_without_consent_nothing_starts(proctored, camera_page):
    page = camera_page("enrolled")
    login(page, proctored)
    open_player(page, proctored)
    assert page.is_visible("#consent") and not page.is_checked("#consent-box")
    page.click("#consent-start")
    page.wait_for_selector("#notice", state="visible")
    assert page.inner_text("#notice") == "请勾选同意摄像头核验。"
    time.sleep(1.5)
    with db_session(proctored) as s:
        assert s.scalar(select(func.count()).select_from(StudySession)) == 0
    assert attr(page, "session") is None and attr(page, "camera") is None
    assert video_paused(page) and video_time(page) == 0


def test_a_still_enrolled_face_on_a_fake_camera_meets_the_challenge_and_earns_nothing(proctored, camera_page):
    """The fake camera plays a fixed file of the enrolled face. Identity passes, but the first
    check carries a liveness challenge, shown in Chinese, which a fixed file cannot follow: the
    sitting stays held, is flagged, and earns 0 s even after 'finish'."""
    page = camera_page("enrolled")
    offers = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: offers.append(payload)
                                            if isinstance(payload, str) and "rtc_offer" in payload else None))
    login(page, proctored)
    open_player(page, proctored)
    sid = consent_and_start(page)
    with db_session(proctored) as s:
        study = s.get(StudySession, sid)
        assert study is not None and study.camera_consent_at is not None
    # Until the server has seen the learner, playback is held.
    assert attr(page, "hold") == "unverified"
    wait_camera_connected(page)
    page.wait_for_function("() => (document.getElementById('player').dataset.challenge || '') !== ''",
                           timeout=25_000)
    assert attr(page, "last-verdict") == "identity:pass"
    identity = [(ok, s) for k, ok, _, s in checks(proctored, sid) if k == "identity"]
    assert identity and identity[0][0] and identity[0][1]["distance"] < identity[0][1]["threshold"]
    actions = attr(page, "challenge").split(",")
    assert len(actions) == 2 and set(actions) <= {"turn_left", "turn_right", "look_up", "look_down", "open_mouth"}
    page.wait_for_function("() => !document.getElementById('challenge').hidden", timeout=10_000)
    assert CJK.search(page.inner_text("#challenge-text"))
    # The offer went over the page's Socket.IO connection with Chromium's candidates in it.
    candidates = re.findall(r"a=candidate:[^\\]*", offers[0]) if offers else []
    assert any(" typ host" in c for c in candidates), offers
    page.wait_for_function("() => document.getElementById('player').dataset.hold === 'liveness'", timeout=30_000)
    assert attr(page, "last-verdict") == "liveness:fail"
    assert [kind for _, kind, _ in flags(proctored, sid)] == ["liveness_failed"]
    assert video_paused(page) and video_time(page) < 1.0
    shoot(page, "enrolled-still")
    page.evaluate("() => document.getElementById('finish').click()")   # under the hold dialog
    page.wait_for_url("**/learn/", timeout=40_000)
    assert credited(proctored, sid) == 0.0


def test_an_empty_room_keeps_the_hold_and_earns_nothing(proctored, camera_page):
    page = camera_page("empty")
    login(page, proctored)
    open_player(page, proctored)
    sid = consent_and_start(page)
    wait_camera_connected(page)
    holds = []

    def failed_identity():
        holds.append(attr(page, "hold"))
        return any(k == "identity" and not ok for k, ok, *_ in checks(proctored, sid))
    wait_until(failed_identity, timeout=25.0, message="a failed identity check", page=page)
    assert [reason for k, ok, reason, _ in checks(proctored, sid) if k == "identity"] == ["no face"]
    end = time.monotonic() + 2.0   # a few more heartbeats while held
    while time.monotonic() < end:
        holds.append(attr(page, "hold"))
        time.sleep(0.2)
    assert "" not in holds and None not in holds, holds   # never released
    # The identity check that saw nobody holds as "no face": it repeats by itself when a face
    # is back, so there is no button, and the text says what is missing.
    assert attr(page, "hold") == "no_face" and attr(page, "last-verdict") == "identity:fail"
    assert page.is_visible("#hold") and page.is_hidden("#hold-recheck")
    text = page.inner_text("#hold-text")
    assert text == hold_text_zh(proctored, "no_face")
    assert video_paused(page) and video_time(page) < 1.0
    assert credited(proctored, sid) == 0.0
    assert float(attr(page, "credited") or 0) == 0.0
    assert flags(proctored, sid) == []   # absence is not a suspected proxy
    shoot(page, "empty")
    assert CJK.search(text), f"the hold dialog is not in Chinese: {text!r}"


def test_another_persons_face_raises_a_flag_and_holds_for_identity(proctored, camera_page):
    page = camera_page("impostor")
    login(page, proctored)
    open_player(page, proctored)
    sid = consent_and_start(page)
    wait_camera_connected(page)
    found = wait_until(lambda: flags(proctored, sid), timeout=25.0, message="a flag", page=page)
    _, kind, scores = found[0]
    assert kind == "identity_mismatch" and scores["distance"] > scores["threshold"]
    with db_session(proctored) as s:
        evidence = s.scalars(select(Evidence).where(Evidence.flag_id == found[0][0])).all()
    assert len(evidence) == 1 and evidence[0].width > 0
    page.wait_for_function("() => document.getElementById('player').dataset.hold === 'identity'", timeout=10_000)
    assert attr(page, "last-verdict") == "identity:fail"
    assert page.is_visible("#hold") and page.is_visible("#hold-recheck")
    text = page.inner_text("#hold-text")
    assert text == hold_text_zh(proctored, "identity")
    assert video_paused(page) and video_time(page) < 1.0
    assert credited(proctored, sid) == 0.0
    assert float(attr(page, "credited") or 0) == 0.0
    shoot(page, "impostor")
    assert CJK.search(text), f"the hold dialog is not in Chinese: {text!r}"
    assert CJK.search(page.inner_text("#hold-recheck")), page.inner_text("#hold-recheck")


@pytest.mark.parametrize("proctored", [{"FEED_CHECK": True}], indirect=True)
def test_a_looped_clip_of_the_enrolled_face_is_found_and_earns_nothing(proctored, camera_page):
    """Chromium's fake camera loops a recording of the enrolled learner turning her head. The
    server finds the loop (looped_feed) and, whatever the challenge drew, nothing is credited."""
    page = camera_page("looped")
    login(page, proctored)
    open_player(page, proctored)
    sid = consent_and_start(page)
    wait_camera_connected(page)
    wait_until(lambda: any(kind == "looped_feed" for _, kind, _ in flags(proctored, sid)), timeout=75.0,
               message="the looped_feed flag", page=page)
    assert {kind for _, kind, _ in flags(proctored, sid)} <= {"looped_feed", "frozen_feed", "liveness_failed"}
    assert attr(page, "hold") in ("feed", "liveness")
    page.evaluate("() => document.getElementById('finish').click()")
    page.wait_for_url("**/learn/", timeout=40_000)
    assert credited(proctored, sid) == 0.0


# --- the camera's frame rate is the server's to decide ---------------------------------------

RECORD_PEERS = """(() => {
    const Original = window.RTCPeerConnection;
    window.__pcs = [];
    window.RTCPeerConnection = function (...args) { const pc = new Original(...args); window.__pcs.push(pc); return pc; };
    window.RTCPeerConnection.prototype = Original.prototype;
})();"""

OUTBOUND = """async () => {
    const pc = window.__pcs[window.__pcs.length - 1];
    if (!pc) return null;
    let found = null;
    (await pc.getStats()).forEach(function (r) {
        if (r.type === 'outbound-rtp' && r.kind === 'video') found = {frames: r.framesSent, fps: r.framesPerSecond,
            width: r.frameWidth, height: r.frameHeight, bytes: r.bytesSent, at: r.timestamp};
    });
    return found;
}"""


def sending(page, live, sid, seconds: float) -> dict:
    """What Chromium sent over `seconds` (its outbound-rtp stats: frames a second from framesSent,
    the last frame's size) and what the server's engine received on the stream meanwhile."""
    from webapp.proctor import hub as proctor_hub

    def received():
        found = [s for s in proctor_hub.runner(live.app).engine.streams() if s["stream_id"] == sid]
        return found[0]["frames"] if found else 0
    first, got0 = page.evaluate(OUTBOUND), received()
    time.sleep(seconds)
    last, got1 = page.evaluate(OUTBOUND), received()
    span = (last["at"] - first["at"]) / 1000
    return {"sent_fps": (last["frames"] - first["frames"]) / span, "width": last["width"], "height": last["height"],
            "received_fps": (got1 - got0) / seconds, "chromium_fps": last.get("fps"),
            "kbps": round((last["bytes"] - first["bytes"]) * 8 / span / 1000, 1)}


def rate(page) -> str | None:
    return attr(page, "camera-rate")


@pytest.mark.parametrize("proctored", [{"CAMERA_SAMPLE_FPS": 1.0, "CAMERA_BURST_FPS": 6.0, "CAMERA_BASE_FPS": 1.0,
                                        "CAMERA_BASE_HEIGHT": 120, "CAMERA_CHALLENGE_FPS": 6.0,
                                        "CAMERA_CHALLENGE_HEIGHT": 240}], indirect=True)
def test_the_browser_sends_the_servers_frame_rate_low_and_raised_for_a_challenge(proctored, camera_page):
    """Chromium's real sender, read from its own outbound-rtp stats and from the frames the
    server's engine received: the baseline (a frame a second; 120 lines here, so the scaling shows
    too) from the offer's answer, raised to six frames a second at 240 lines when the server starts
    a liveness challenge, lowered when it ends, raised again for a re-check's challenge."""
    page = camera_page("enrolled")
    page.add_init_script(RECORD_PEERS)
    login(page, proctored)
    open_player(page, proctored)
    sid = consent_and_start(page)
    wait_camera_connected(page)
    # The first check's challenge (identity passes on the baseline frames, then the server raises it)
    page.wait_for_function("() => document.getElementById('player').dataset.cameraRate === '6@240'", timeout=25_000)
    time.sleep(0.5)                               # the encoder's first frames at the new rate
    raised = sending(page, proctored, sid, 2.5)
    # The fixed file cannot follow the challenge: it fails, and the rate goes back down.
    page.wait_for_function("() => document.getElementById('player').dataset.hold === 'liveness'", timeout=30_000)
    page.wait_for_function("() => document.getElementById('player').dataset.cameraRate === '1@120'", timeout=5_000)
    time.sleep(1.5)                               # frames already in the encoder's pipeline
    low = sending(page, proctored, sid, 5.0)
    # A re-check carries a challenge: the server raises the rate again.
    page.click("#hold-recheck")
    page.wait_for_function("() => document.getElementById('player').dataset.cameraRate === '6@240'", timeout=25_000)
    time.sleep(0.5)
    again = sending(page, proctored, sid, 2.5)
    print(f"camera rates: raised={raised} baseline={low} raised_again={again}")
    assert 0.5 <= low["sent_fps"] <= 1.5, low
    assert 0.5 <= low["received_fps"] <= 1.5, low
    assert (low["width"], low["height"]) == (160, 120), low
    for up in (raised, again):
        # Chromium's own count is steady; the server's count is read at other moments than the
        # page's stats, so it gets more room (still three times the baseline at least)
        assert up["sent_fps"] >= 4.0 and up["received_fps"] >= 3.0, up
        assert (up["width"], up["height"]) == (320, 240), up
    events = [k for k, *_ in checks(proctored, sid)]
    assert events.count("liveness") >= 1


def test_the_page_ignores_a_camera_rate_outside_its_bounds(proctored, camera_page):
    """The page checks the server's message before touching the sender: nonsense is refused."""
    page = camera_page("enrolled")
    login(page, proctored)
    open_player(page, proctored)
    verdicts = page.evaluate("""() => [
        {fps: 1, height: 240}, {fps: 6, height: 120}, {fps: 0, height: 240}, {fps: 1e9, height: 240},
        {fps: NaN, height: 240}, {fps: '6', height: 240}, {fps: 6, height: 240.5}, {fps: 6, height: 10},
        {fps: 6}, null, 'fast'].map(function (r) { return window.StudyCamera.validRate(r); })""")
    assert verdicts == [True, True, False, False, False, False, False, False, False, False, False]
