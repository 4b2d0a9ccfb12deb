"""Studying on a phone (issue 14), in real Chromium with mobile emulation: a 390x844 viewport,
touch (every action is a `tap()`), a device scale factor of 3, a mobile user agent, and no
autoplay switch (the taps are what let playback start, as on a phone).

The camera: Chromium's fake capture device answers the player's real getUserMedia call (its
constraints, the front camera, are checked), and the picture sent is a portrait canvas painted
with the enrolled sample face (proctoring.sample_faces, 240x320) that follows each liveness
challenge the page shows, as a live learner would (the integration rig's `follow_challenges`). A
fixed fake-camera file cannot follow a challenge, and every sitting starts with one, so without a
learner that moves no phone test could earn credit.

What counts is what the server stored: CreditEntry rows, compared with what the page played
(`video.played`) and with the test's own clock of the hidden span.
"""
from __future__ import annotations

import base64
import io
import json
import time

import pytest
from sqlalchemy import func, select

from proctoring.sample_faces import ENROLLED, nod, open_mouth, scene, turn
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, db_session, wait_for
from tests.browser import test_proctoring_browser as proctoring_tests
from tests.conftest import DEMO_PASSWORD, Client
from webapp.models import CourseQuestion, CreditEntry, DroppedSegment, PendingSegment, WatchProgress

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The camera tests' fixtures: the portal with PROCTORING_REQUIRED and zhangsan enrolled, run in
# the private network namespace.
proctored = proctoring_tests.proctored
enrolled_embedding = proctoring_tests.enrolled_embedding
private_network = proctoring_tests.private_network

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True,
         "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/120.0.0.0 Mobile Safari/537.36", "locale": "zh-CN"}
# No --autoplay-policy=no-user-gesture-required: a phone needs a tap before playback with sound.
PHONE_ARGS = [a for a in CHROMIUM_ARGS if not a.startswith("--autoplay-policy")] + [
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
MAIN_BUTTONS = ["#consent-start", "#finish", "#prompt-confirm", "#expired-resume", "#hold-recheck", "#review-ask",
                "#resume-play", "#login-submit", "a.course-link"]

# The player's getUserMedia goes to Chromium's fake device (so its constraints are real ones);
# the stream handed back is a portrait canvas showing the learner, who follows each challenge.
LEARNER = """(() => {
  const images = {};
  for (const [pose, url] of Object.entries(%s)) { const img = new Image(); img.src = url; images[pose] = img; }
  const cam = window.__camera = { asked: [], settings: null, pose: 'neutral', challenges: 0 };
  if (!navigator.mediaDevices) return;
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async function (constraints) {
    cam.asked.push(JSON.parse(JSON.stringify(constraints)));
    const real = await original(constraints);
    cam.settings = real.getVideoTracks()[0].getSettings();
    real.getTracks().forEach(t => t.stop());
    const canvas = document.createElement('canvas');
    canvas.width = 240; canvas.height = 320;
    const ctx = canvas.getContext('2d');
    const draw = () => { const img = images[cam.pose]; if (img.complete) ctx.drawImage(img, 0, 0); };
    draw(); setInterval(draw, 50);
    return canvas.captureStream(15);
  };
  document.addEventListener('DOMContentLoaded', () => {
    if (!window.portalSocket) return;
    window.portalSocket.on('proctor', (ev) => {
      if (!ev || ev.state !== 'challenge') return;
      cam.challenges += 1;
      ev.actions.forEach((action, i) => {
        setTimeout(() => { cam.pose = action; setTimeout(() => { cam.pose = 'neutral'; }, 1200); },
                   ev.steps_in_s[i] * 1000 + 800);
      });
    });
  });
})();"""

HIDE = """(state) => {
    Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => state});
    Object.defineProperty(document, 'hidden', {configurable: true, get: () => state === 'hidden'});
    document.dispatchEvent(new Event('visibilitychange'));
}"""

PLAYED = """() => { const p = document.getElementById('video').played;
    return Array.from({length: p.length}, (_, i) => [p.start(i), p.end(i)]); }"""


def _data_url(rgb) -> str:
    from PIL import Image
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


@pytest.fixture(scope="module")
def learner_script():
    neutral = scene(ENROLLED, (240, 320), seed=0)
    poses = {"neutral": neutral, "turn_left": turn(neutral, 40.0), "turn_right": turn(neutral, -40.0),
             "look_up": nod(neutral, 35.0), "look_down": nod(neutral, -30.0), "open_mouth": open_mouth(neutral, 0.2)}
    return LEARNER % json.dumps({k: _data_url(v) for k, v in poses.items()})


@pytest.fixture
def phone(playwright, learner_script):
    """new phone page (a Chromium of its own, its camera the learner above)."""
    launched = []

    def make(width: int = 390, learner: bool = True, init: str | None = None):
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=PHONE_ARGS)
        launched.append(chromium)
        context = chromium.new_context(**{**PHONE, "viewport": {"width": width, "height": 844}})
        if learner:
            context.add_init_script(learner_script)
        if init:
            context.add_init_script(init)
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page
    yield make
    for chromium in launched:
        chromium.close()


# --- helpers ------------------------------------------------------------------------------

def fits(page, where: str):
    """No sideways scroll, and every visible dialog inside the screen."""
    scroll, inner = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{where}: the page scrolls sideways ({scroll} > {inner} px)"
    for box in page.evaluate("""() => Array.from(document.querySelectorAll('.modal:not([hidden]) .card, .banner:not([hidden]), video'))
            .filter(e => e.offsetParent !== null || getComputedStyle(e).position === 'fixed')
            .map(e => { const r = e.getBoundingClientRect(); return {id: e.id || e.className, left: r.left, right: r.right}; })"""):
        assert box["left"] >= -0.5 and box["right"] <= inner + 0.5, f"{where}: {box} leaves the {inner} px screen"


def big_enough(page, where: str):
    """The main buttons on screen are at least 44 px both ways (a finger, not a mouse)."""
    for selector in MAIN_BUTTONS:
        for handle in page.query_selector_all(selector):
            box = handle.bounding_box() if handle.is_visible() else None
            if box:
                assert box["height"] >= 44 and box["width"] >= 44, f"{where}: {selector} is {box}"


def attr(page, name):
    return page.get_attribute("#player", f"data-{name}")


def state(page) -> dict:
    return page.evaluate("""() => { const p = document.getElementById('player'); const v = document.getElementById('video');
        return Object.assign({}, p.dataset, {paused: v.paused, time: v.currentTime, camera_pose: (window.__camera || {}).pose,
                              notice: document.getElementById('notice').textContent}); }""")


def video_time(page) -> float:
    return page.evaluate("() => document.getElementById('video').currentTime")


def login_by_tap(page, live):
    page.goto(live.url + "/login")
    fits(page, "login")
    big_enough(page, "login")
    page.fill("input[name=username]", "zhangsan")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.tap("#login-submit")
    page.wait_for_url("**/learn/")


def start_studying(page, live):
    """Home → the course → consent → camera → the first check passed, playing."""
    fits(page, "home")
    big_enough(page, "home")
    page.tap(f"a.course-link[data-course='{live.app.config['TEST_COURSE_ID']}']")
    page.wait_for_selector("#consent-box")
    assert page.is_hidden("#insecure")
    fits(page, "consent")
    big_enough(page, "consent")
    page.tap("label.check")
    assert page.is_checked("#consent-box")
    page.tap("#consent-start")
    page.wait_for_function("() => document.getElementById('player').dataset.camera", timeout=20_000)
    assert attr(page, "camera") == "connected", state(page)
    # The real getUserMedia call: the front camera, sizes only as `ideal` (a portrait phone).
    asked = page.evaluate("() => window.__camera.asked")
    assert asked and asked[0]["video"]["facingMode"] == {"ideal": "user"}, asked
    assert page.evaluate("() => window.__camera.settings.width") > 0
    # The preview: the portrait picture, muted, inline, inside the screen.
    preview = page.evaluate("""() => { const v = document.getElementById('camera-preview');
        return {w: v.videoWidth, h: v.videoHeight, muted: v.muted, inline: v.hasAttribute('playsinline')}; }""")
    assert preview["h"] > preview["w"] > 0 and preview["muted"] and preview["inline"], preview
    assert attr(page, "hold") == "unverified"
    fits(page, "camera preview and hold")
    page.wait_for_selector("#challenge", state="visible", timeout=25_000)
    fits(page, "challenge")
    # The learner follows the challenge: the first check passes and the hold goes.
    page.wait_for_function("() => document.getElementById('player').dataset.hold === ''", timeout=40_000)
    assert (attr(page, "last-verdict") or "").endswith(":pass"), state(page)
    assert (attr(page, "camera-rate") or "").endswith("@240"), state(page)   # rate control, portrait
    ensure_playing(page)


def ensure_playing(page):
    """Playback runs after a tap: if the browser wanted a fresh one, the page offers a button."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if page.is_visible("#resume"):
            page.tap("#resume-play")
        if not page.evaluate("() => document.getElementById('video').paused"):
            return
        time.sleep(0.2)
    raise AssertionError(f"playback did not start: {state(page)}")


def answer_by_tap(page, live, question=True):
    page.wait_for_selector("#prompt", state="visible", timeout=60_000)
    assert page.evaluate("() => document.getElementById('video').paused")
    fits(page, "surprise question")
    big_enough(page, "surprise question")
    if question:
        assert page.query_selector("#prompt-choices input"), "the breakpoint is a bank question"
    if page.query_selector("#prompt-choices input"):
        with db_session(live) as s:
            answer = s.scalar(select(CourseQuestion.answer).where(CourseQuestion.prompt == page.inner_text("#prompt-text")))
        page.tap(f"#prompt-choices label:has(input[value='{answer}'])")
        assert page.is_checked(f"#prompt-choices input[value='{answer}']")
    page.tap("#prompt-confirm")
    page.wait_for_selector("#prompt", state="hidden")
    ensure_playing(page)


def measure(ranges) -> float:
    return sum(end - start for start, end in ranges)


def finish_by_tap(page):
    page.tap("#finish")
    page.wait_for_url("**/learn/", timeout=40_000)   # after the final identity check


def credit_rows(live, session_id):
    with db_session(live) as s:
        return s.execute(select(CreditEntry.media_start, CreditEntry.media_end, CreditEntry.wall_start,
                                CreditEntry.wall_end, CreditEntry.credited_s)
                         .where(CreditEntry.session_id == session_id).order_by(CreditEntry.wall_start)).all()


# --- tests --------------------------------------------------------------------------------

@pytest.mark.parametrize("proctored", [{"BREAKPOINT_MIN_S": 28.0, "BREAKPOINT_MEAN_S": 28.0,
                                        "BREAKPOINT_MAX_S": 28.0}], indirect=True)
def test_a_supervisee_studies_a_whole_course_on_a_phone(proctored, phone):
    live = proctored
    page = phone()
    login_by_tap(page, live)
    start_studying(page, live)
    sid = attr(page, "session")
    answer_by_tap(page, live)

    def ended():   # a later breakpoint (28 s after the answer) may come before the end: answer it too
        if page.is_visible("#prompt"):
            answer_by_tap(page, live, question=False)
        return page.evaluate("() => document.getElementById('video').ended")
    wait_for(ended, timeout=90.0, message="the end of the course", describe=lambda: state(page))
    played = page.evaluate(PLAYED)
    fits(page, "the end of the course")
    finish_by_tap(page)

    # Credit, independently: the media seconds the page played, all of them after the first check
    # passed (playback was held before) and before the final one. The ledger loses at most the
    # heartbeat at the start of a run of playback (1 s here) per run: the start and the question.
    expected = measure(played)
    rows = credit_rows(live, sid)
    credited = sum(r.credited_s for r in rows)
    with db_session(live) as s:
        progress = s.scalar(select(WatchProgress))
        dropped = s.scalar(select(func.count()).select_from(DroppedSegment).where(DroppedSegment.session_id == sid))
        pending = s.scalar(select(func.count()).select_from(PendingSegment).where(PendingSegment.session_id == sid))
    print(f"played {played} ({expected:.2f} s), credited {credited:.2f} s in {len(rows)} rows")
    assert expected >= 30.0, played
    assert expected - 3.5 <= credited <= expected + 0.5, (played, rows)
    assert progress.credited_s == pytest.approx(credited, abs=0.01)
    assert dropped == 0 and pending == 0
    for r in rows:   # every credited second was played by the page
        assert any(start - 0.5 <= r.media_start and r.media_end <= end + 0.5 for start, end in played), (r, played)
        assert r.credited_s <= r.wall_end - r.wall_start + 1e-6
    fits(page, "home after studying")


def test_a_page_sent_to_the_background_pauses_and_earns_nothing_while_hidden(proctored, phone):
    live = proctored
    page = phone()
    beats = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: beats.append(time.time())
                                          if isinstance(payload, str) and '"heartbeat"' in payload else None))
    login_by_tap(page, live)
    start_studying(page, live)
    sid = attr(page, "session")
    wait_for(lambda: video_time(page) >= 6.0, message="6 s played", describe=lambda: state(page))

    hidden_from = time.time()
    page.evaluate(HIDE, "hidden")
    page.wait_for_function("() => document.getElementById('video').paused", timeout=2_000)
    at_hide = video_time(page)
    assert attr(page, "away") == "hidden"
    time.sleep(6.0)
    assert video_time(page) == pytest.approx(at_hide, abs=0.05), "playback stayed paused"
    hidden_to = time.time()
    page.evaluate(HIDE, "visible")

    # Back: the page asks for a tap, in Chinese, and plays on from where it stopped.
    page.wait_for_selector("#resume", state="visible")
    assert "后台" in page.inner_text("#resume-text")
    fits(page, "back from the background")
    big_enough(page, "back from the background")
    page.tap("#resume-play")
    wait_for(lambda: video_time(page) > at_hide + 3.0, message="3 s more", describe=lambda: state(page))
    played = page.evaluate(PLAYED)
    page.evaluate("() => document.getElementById('video').pause()")
    time.sleep(1.2)
    finish_by_tap(page)

    # The client went quiet while hidden (its last beats are the pause itself).
    quiet = [t for t in beats if hidden_from + 1.0 < t < hidden_to]
    assert not quiet, f"{len(quiet)} heartbeats while hidden"
    # The server: no credited (or pending) second comes from the hidden span on its own clock.
    rows = credit_rows(live, sid)
    assert rows, "the time before and after the hidden span is credited"
    for r in rows:
        assert r.wall_end <= hidden_from + 1.0 or r.wall_start >= hidden_to - 0.1, (r, hidden_from, hidden_to)
    assert len(played) == 1, played   # one run of media: it resumed from the position
    credited = sum(r.credited_s for r in rows)
    assert credited <= measure(played) + 0.5
    assert credited >= measure(played) - 3.5, (rows, played)   # a heartbeat lost at each start
    assert credited < measure(played) + (hidden_to - hidden_from) - 5.0


def test_a_client_that_goes_quiet_in_the_background_earns_nothing_for_the_silence(proctored):
    """A client that does not pause (tampered, or a browser that keeps playing) and sends no beat
    while in the background, then reports the media it played meanwhile: the server, on its own
    clock, credits nothing across a silence longer than LEDGER_MAX_GAP_S (4 s here)."""
    live = proctored
    live.app.config.update(PROCTORING_REQUIRED=False, LEDGER_MAX_GAP_S=4.0)
    web = Client(live.app.test_client())
    assert web.login("zhangsan").status_code == 302
    web.refresh_token()
    sid = web.api("/api/study/start", {"course_id": live.app.config["TEST_COURSE_ID"]}).get_json()["session_id"]
    seq, position = 0, 0.0

    def beat(pos):
        nonlocal seq
        seq += 1
        assert web.api(f"/api/study/{sid}/heartbeat", {"seq": seq, "position": pos, "playing": True,
                                                       "rate": 1.0}).status_code == 200
    started = time.time()
    for _ in range(4):
        beat(position)
        time.sleep(1.0)
        position += 1.0
    quiet_from = time.time()
    time.sleep(5.0)                       # "in the background", still playing: no beats
    position += 5.0
    quiet_to = time.time()
    for _ in range(3):
        beat(position)
        time.sleep(1.0)
        position += 1.0
    beat(position)
    assert web.api(f"/api/study/{sid}/finish", {"confirmed": True}).status_code == 200
    rows = credit_rows(live, sid)
    assert rows and all(r.wall_end <= quiet_from + 0.2 or r.wall_start >= quiet_to - 0.2 for r in rows), rows
    credited = sum(r.credited_s for r in rows)
    assert credited == pytest.approx(position - 5.0 - 1.0, abs=0.6), (rows, time.time() - started)


@pytest.mark.parametrize("width", [360, 430])
def test_the_supervisee_pages_fit_phones_from_360_to_430_px(proctored, phone, width):
    """Every supervisee page and every dialog of the player, without sideways scrolling, the main
    buttons big enough for a finger (the dialogs are shown with the page's own texts)."""
    live = proctored
    page = phone(width=width, learner=False)
    login_by_tap(page, live)
    fits(page, f"home at {width}")
    big_enough(page, f"home at {width}")
    page.goto(live.url + "/account/password")
    fits(page, f"password at {width}")
    page.goto(live.url + "/conferences/")
    fits(page, f"conferences at {width}")
    page.goto(f"{live.url}/learn/course/{live.app.config['TEST_COURSE_ID']}")
    page.wait_for_selector("#consent-box")
    fits(page, f"consent at {width}")
    big_enough(page, f"consent at {width}")
    with db_session(live) as s:
        question = s.scalars(select(CourseQuestion).order_by(func.length(CourseQuestion.prompt).desc())).first()
    states = {
        "camera": """async () => { const v = document.getElementById('camera-preview');
            v.srcObject = await navigator.mediaDevices.getUserMedia(window.StudyCamera.constraints); await v.play(); }""",
        "challenge": """() => { const p = document.getElementById('player').dataset;
            document.getElementById('challenge-text').textContent = p.msgDoOpenMouth;
            document.getElementById('challenge').hidden = false; }""",
        "question": """(q) => { const box = document.getElementById('prompt-choices');
            document.getElementById('prompt-text').textContent = q.prompt;
            q.choices.forEach((text, i) => { const l = document.createElement('label'); const r = document.createElement('input');
                r.type = 'radio'; r.name = 'choice'; r.value = String(i); l.append(r, ' ' + text); box.append(l); });
            document.getElementById('prompt-left').textContent = '60 s';
            document.getElementById('prompt').hidden = false; }""",
        "expired": "() => { document.getElementById('expired').hidden = false; }",
        "hold": """() => { const p = document.getElementById('player').dataset;
            document.getElementById('hold-text').textContent = p.msgHoldReview;
            document.getElementById('hold-review').hidden = false; document.getElementById('hold').hidden = false; }""",
        "resume": """() => { document.getElementById('resume-text').textContent = document.getElementById('player').dataset.msgAway;
            document.getElementById('resume').hidden = false; }""",
    }
    arg = {"prompt": question.prompt, "choices": json.loads(question.choices_json)}
    for name, script in states.items():
        page.evaluate(script, arg) if name == "question" else page.evaluate(script)
        fits(page, f"{name} at {width}")
        big_enough(page, f"{name} at {width}")
        if name == "camera":
            page.wait_for_function("() => document.getElementById('camera-preview').videoWidth > 0")
        page.evaluate("() => document.querySelectorAll('.modal, .banner').forEach(e => { e.hidden = true; })")


def test_without_a_secure_context_the_page_says_the_camera_needs_https(proctored, phone):
    live = proctored
    page = phone(learner=False, init="Object.defineProperty(window, 'isSecureContext', {get: () => false});")
    login_by_tap(page, live)
    page.goto(f"{live.url}/learn/course/{live.app.config['TEST_COURSE_ID']}")
    page.wait_for_selector("#insecure", state="visible")
    assert "HTTPS" in page.inner_text("#insecure") and "摄像头" in page.inner_text("#insecure")
    page.tap("label.check")
    page.tap("#consent-start")
    page.wait_for_selector("#notice", state="visible")
    assert "HTTPS" in page.inner_text("#notice")
    assert attr(page, "session") is None and attr(page, "camera") == "insecure"
