"""A live conference in real Chromium: the host officer (北山所 王警官) and an enrolled
supervisee of that township (张三) open the room page of the same conference; the supervisee's
fake camera plays a y4m file built from the enrolled face photo, and Chromium's fake device
gives both a microphone. The host starts a roll call, the supervisee's page shows the call,
the server verifies the face from the published stream (ROLLCALL_LIVENESS off, a short
answer window), and the host's page and the database both show 到场已核验. Chat and host
mute go through the same pages.

What counts is what the server stored and sent; the pages' data attributes only show that
the browser obeyed. Runs inside the private network namespace (scripts/in-netns.sh).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from proctoring.enrolment import assess
from proctoring.sample_faces import ENROLLED, scene, write_y4m
from proctoring.vision import thread_analyzer
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, LiveServer, db_session, wait_for
from tests.conftest import DEMO_PASSWORD
from webapp import create_app
from webapp import migrate
from webapp.demo import load_demo
from webapp.models import (AttendanceOutcome, AttendanceRecord, Conference, ConferenceParticipant, ConferenceStatus,
                           FaceEnrolment, RollCall, User, utcnow)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
SHOTS = os.environ.get("PROCTOR_SCREENSHOTS", "/tmp")


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
def enrolled_camera(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conference-camera")
    return write_y4m(folder / "enrolled.y4m", [scene(ENROLLED, (320, 240), seed=i) for i in range(4)], fps=15)


@pytest.fixture
def portal(request, tmp_path, enrolled_embedding):
    """The portal with 张三 enrolled and a conference of 北山街道司法所 (supervisees included)
    scheduled to start now; the host's entering makes it live. Config overrides come from
    indirect parametrization."""
    from webapp.conferences import live as conference_live
    from webapp.proctor import hub as proctor_hub
    from webapp.core import db as webdb
    from webapp.core.face_crypto import encrypt_embedding

    overrides = dict(getattr(request, "param", {}))
    if overrides.get("CONFERENCE_MEDIA_BACKEND") == "janus":   # a private Janus (tests/conftest.py)
        janus = request.getfixturevalue("janus_server")
        overrides.update(JANUS_URL=janus.url, JANUS_API_SECRET=janus.api_secret, JANUS_ADMIN_KEY=janus.admin_key)
    app = create_app({
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'conference.db'}",
        "SECRET_KEY": "conference-browser-secret",
        "RATELIMIT_ENABLED": False, "SCHEDULER_ENABLED": False,
        "ROLLCALL_LIVENESS": False, "ROLLCALL_ANSWER_S": 20.0,
        **overrides,
    })
    migrate.upgrade(app.config["DATABASE_URL"])
    with app.app_context():
        session = webdb.session()
        load_demo(DEMO_PASSWORD)
        zhangsan = session.scalar(select(User).where(User.username == "zhangsan"))
        host = session.scalar(select(User).where(User.username == "officer_bs"))
        session.add(FaceEnrolment(user_id=zhangsan.id, embedding_enc=encrypt_embedding(enrolled_embedding),
                                  source="upload", quality_json="{}", active=True))
        conference = Conference(host_unit_id=host.unit_id, host_officer_id=host.id, title="北山所月度集中教育",
                                starts_at=utcnow() + timedelta(minutes=1), duration_min=60, levels="",
                                include_supervisees=True, status=ConferenceStatus.SCHEDULED)
        session.add(conference)
        session.commit()
        assert host.unit_id == zhangsan.unit_id
        app.config["TEST_IDS"] = {"conference": conference.id, "zhangsan": zhangsan.id, "host": host.id}
    server = LiveServer(app)
    yield server
    server.stop()
    conference_live.shutdown(app)
    proctor_hub.shutdown(app)
    app.extensions["db_engine"].dispose()


@pytest.fixture
def chromium(playwright, enrolled_camera):
    """One Chromium whose fake camera plays the enrolled face (the file is a launch argument);
    each person gets a browser context of their own."""
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS + CAMERA_ARGS + [f"--use-file-for-fake-video-capture={enrolled_camera}"])
    yield browser
    browser.close()


def person_page(chromium, live, username):
    context = chromium.new_context(locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("console", lambda msg: print(f"[{username} console] {msg.type}: {msg.text}")
            if msg.type in ("error", "warning") else None)
    page.goto(live.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, page.url
    return page


def room_state(page) -> dict:
    return page.evaluate("""() => { const r = document.getElementById('room');
        return Object.assign({}, r.dataset, {status: document.getElementById('room-status').textContent,
            toasts: Array.from(document.querySelectorAll('#notices .toast span')).map(s => s.textContent)}); }""")


def wait_room(page, predicate_js, message, timeout=20.0):
    try:
        page.wait_for_function(predicate_js, timeout=timeout * 1000)
    except Exception as exc:
        raise AssertionError(f"{message}: {room_state(page)}") from exc


def shoot(page, name):
    page.screenshot(path=os.path.join(SHOTS, f"conference-{name}.png"), full_page=True)


def records(live):
    with db_session(live) as s:
        return [(r.user_id, r.outcome) for r in s.scalars(select(AttendanceRecord).join(RollCall)
                .where(RollCall.conference_id == live.app.config["TEST_IDS"]["conference"]))]


@pytest.mark.parametrize("portal", [{}, {"CONFERENCE_MEDIA_BACKEND": "janus"}], indirect=True,
                         ids=["aiortc", "janus"])
def test_roll_call_chat_and_mute_between_host_and_supervisee(portal, chromium):
    ids = portal.app.config["TEST_IDS"]
    room_url = f"{portal.url}/conferences/{ids['conference']}/room"

    # The host sees the way in on the detail page (scheduled, host) and opens the room: live.
    host = person_page(chromium, portal, "officer_bs")
    host.goto(f"{portal.url}/conferences/{ids['conference']}")
    host.click("#enter-room")
    host.wait_for_url(room_url)
    assert host.get_attribute("#room", "data-host") == "1"
    wait_room(host, "() => document.getElementById('room').dataset.state === 'live'", "the host to be in")
    wait_room(host, "() => document.getElementById('room').dataset.published === '1'", "the host's camera")
    with db_session(portal) as s:
        assert s.get(Conference, ids["conference"]).status == ConferenceStatus.LIVE

    member = person_page(chromium, portal, "zhangsan")
    member.goto(room_url)
    assert member.get_attribute("#room", "data-host") == "0"
    assert member.locator("#rollcall-start-all").count() == 0     # no host controls for a participant
    wait_room(member, "() => document.getElementById('room').dataset.state === 'live'", "the supervisee to be in")
    wait_room(member, "() => document.getElementById('room').dataset.published === '1'", "the supervisee's camera")
    with db_session(portal) as s:
        joined = s.scalars(select(ConferenceParticipant.user_id).where(
            ConferenceParticipant.conference_id == ids["conference"],
            ConferenceParticipant.joined_at.is_not(None))).all()
    assert set(joined) == {ids["host"], ids["zhangsan"]}

    # The supervisee watches the host's stream; the host sees 张三 in the list and as a tile.
    wait_room(member, f"() => document.getElementById('room').dataset.main === 'u{ids['host']}'",
              "the host's stream as the main stream")
    wait_room(member, "() => document.getElementById('main-video').videoWidth > 0", "the host's picture", 30)
    host.wait_for_selector(f"#participants li[data-user-id='{ids['zhangsan']}']")
    wait_room(host, f"() => document.querySelector(\"#tiles .tile[data-source-id='u{ids['zhangsan']}'] video\")"
                    f" && document.querySelector(\"#tiles .tile[data-source-id='u{ids['zhangsan']}'] video\").videoWidth > 0",
              "张三's tile playing on the host's page", 30)

    # Chat: plain text arrives on the host's page as text, never as markup.
    member.fill("#chat-text", "<b>到</b> 我在")
    member.click("#chat-send")
    host.wait_for_function("() => Array.from(document.querySelectorAll('#chat-log li .c-text'))"
                           ".some(e => e.textContent === '<b>到</b> 我在')")
    assert host.locator("#chat-log b").count() == 0
    assert "张三" in host.inner_text("#chat-log")

    # Roll call over everyone: 张三 is called by name, the server verifies the face.
    host.click("#rollcall-start-all")
    member.wait_for_selector("#call-overlay:not([hidden])")
    assert member.inner_text("#call-text") == "张三，请面向摄像头应答"
    assert "秒" in member.inner_text("#call-countdown")
    shoot(member, "called")
    wait_room(host, f"() => document.querySelector(\"#rollcall-records li[data-user-id='{ids['zhangsan']}']\")",
              "张三's outcome on the host's page", 30)
    row = host.locator(f"#rollcall-records li[data-user-id='{ids['zhangsan']}']")
    assert row.get_attribute("data-outcome") == "present_verified", room_state(host)
    assert "到场已核验" in row.inner_text()
    assert host.inner_text("#rollcall-counts [data-count=present_verified]") == "1"
    wait_for(lambda: records(portal), timeout=10, message="the attendance row")
    assert records(portal) == [(ids["zhangsan"], AttendanceOutcome.PRESENT_VERIFIED)]
    member.wait_for_function("() => document.getElementById('room').dataset.myOutcome === 'present_verified'")
    assert "到场已核验" in member.inner_text("#call-outcome")
    wait_room(host, "() => document.getElementById('room').dataset.rollcall === 'done'", "the roll call to finish")
    table = host.get_attribute("#rollcall-table", "href")
    assert table and table.startswith(f"/conferences/{ids['conference']}/rollcalls/")
    shoot(host, "host-after-rollcall")

    # The host mutes 张三: the page shows it and its microphone track is off.
    assert member.evaluate("() => document.getElementById('self-video').srcObject.getAudioTracks()"
                           ".every(t => t.enabled)")
    host.click(f"#participants button[data-action=mute][data-user-id='{ids['zhangsan']}']")
    wait_room(member, "() => document.getElementById('mic-state').dataset.muted === '1'", "the muted state")
    assert member.inner_text("#mic-state") == "您已被主持人静音"
    assert member.evaluate("() => { const t = document.getElementById('self-video').srcObject.getAudioTracks();"
                           " return t.length > 0 && t.every(x => !x.enabled); }")
    host.wait_for_selector(f"#participants li[data-user-id='{ids['zhangsan']}'][data-muted='1']")
    host.click(f"#participants button[data-action=unmute][data-user-id='{ids['zhangsan']}']")
    wait_room(member, "() => document.getElementById('mic-state').dataset.muted === '0'", "the unmuted state")
    shoot(member, "supervisee")
    # Nothing went wrong on either page.
    assert room_state(host)["toasts"] == [] and room_state(member)["toasts"] == []


def enter_both(portal, chromium):
    ids = portal.app.config["TEST_IDS"]
    room_url = f"{portal.url}/conferences/{ids['conference']}/room"
    pages = []
    for username in ("officer_bs", "zhangsan"):
        page = person_page(chromium, portal, username)
        page.goto(room_url)
        wait_room(page, "() => document.getElementById('room').dataset.state === 'live'", f"{username} to be in")
        wait_room(page, "() => document.getElementById('room').dataset.published === '1'", f"{username}'s camera")
        pages.append(page)
    return pages


@pytest.mark.parametrize("portal", [{}, {"CONFERENCE_MEDIA_BACKEND": "janus"}], indirect=True,
                         ids=["aiortc", "janus"])
def test_hands_spotlight_reconnect_and_removal(portal, chromium):
    ids = portal.app.config["TEST_IDS"]
    host, member = enter_both(portal, chromium)
    me = f"#participants li[data-user-id='{ids['zhangsan']}']"

    # A raised hand shows on the host's list; the host lowers it.
    member.click("#hand-btn")
    host.wait_for_selector(f"{me}[data-hand='1'] .tag.hand")
    assert member.inner_text("#hand-btn") == "放下举手"
    host.click(f"{me} button[data-action=lower_hand]")
    member.wait_for_selector("#hand-btn[data-raised='0']")
    assert member.inner_text("#hand-btn") == "举手"

    # Spotlight: 张三 becomes the host's main stream and leaves the tile page.
    host.click(f"{me} button[data-action=spotlight]")
    wait_room(host, f"() => document.getElementById('room').dataset.main === 'u{ids['zhangsan']}'",
              "张三 as the host's main stream")
    wait_room(host, "() => document.getElementById('main-video').videoWidth > 0", "张三's picture on the main stage", 30)
    assert host.locator("#tiles .tile").count() == 0
    member.wait_for_selector(f"{me} .tag.speaker")
    host.click(f"{me} button[data-action=unspotlight]")
    wait_room(host, f"() => document.querySelector(\"#tiles .tile[data-source-id='u{ids['zhangsan']}']\")",
              "张三 back among the tiles")

    # A dropped connection: the page enters again and publishes again by itself.
    member.evaluate("() => window.portalSocket.io.engine.close()")
    wait_room(member, "() => document.getElementById('room').dataset.state !== 'live'", "the drop to be noticed", 10)
    wait_room(member, "() => document.getElementById('room').dataset.published === '1'", "publishing again", 30)
    assert member.get_attribute("#room", "data-state") == "live"
    host.wait_for_selector(me)
    wait_room(host, f"() => document.querySelector(\"#tiles .tile[data-source-id='u{ids['zhangsan']}'] video\")"
                    f" && document.querySelector(\"#tiles .tile[data-source-id='u{ids['zhangsan']}'] video\").videoWidth > 0",
              "张三's tile playing again", 30)

    # Removal: the page closes its media and says so; entering again is refused.
    host.once("dialog", lambda dialog: dialog.accept())
    host.click(f"{me} button[data-action=remove]")
    wait_room(member, "() => document.getElementById('room').dataset.state === 'removed'", "the removal")
    assert member.inner_text("#room-status") == "您已被主持人移出会议"
    assert member.evaluate("() => document.getElementById('self-video').srcObject === null")
    host.wait_for_selector(me, state="detached")
    member.reload()
    wait_room(member, "() => document.getElementById('room').dataset.state === 'removed'", "the refusal")
    assert member.inner_text("#room-status") == "您已被主持人移出会议"
    assert room_state(host)["toasts"] == []


@pytest.mark.parametrize("portal", [{"ROLLCALL_LIVENESS": True, "LIVENESS_WINDOW_S": 2.5,
                                     "LIVENESS_ACTIONS": "turn_left,turn_right"},
                                    {"ROLLCALL_LIVENESS": True, "LIVENESS_WINDOW_S": 2.5,
                                     "LIVENESS_ACTIONS": "turn_left,turn_right", "CONFERENCE_MEDIA_BACKEND": "janus"}],
                         indirect=True, ids=["aiortc", "janus"])
def test_a_still_photo_sees_the_challenge_and_is_present_unverified(portal, chromium):
    """With liveness on, the called person's page shows the challenge step by step; the fake
    camera's still photo cannot turn its head, so the server decides 到场未核验 (with a flag)."""
    from webapp.models import ProctorFlag

    ids = portal.app.config["TEST_IDS"]
    host, member = enter_both(portal, chromium)
    member.evaluate("""() => { window.__seen = []; const o = document.getElementById('call-overlay');
        new MutationObserver(() => { const t = document.getElementById('call-action').textContent;
            if (t && window.__seen[window.__seen.length - 1] !== t) window.__seen.push(t); })
          .observe(o, {subtree: true, childList: true, characterData: true}); }""")
    member.evaluate("""() => { window.__events = [];
        window.portalSocket.on('conf', ev => { if (String(ev.type).startsWith('rollcall_'))
            window.__events.push(Object.assign({received_at: Date.now() / 1000}, ev)); }); }""")
    # Roll call over the ticked people only (张三).
    host.check(f"#participants li[data-user-id='{ids['zhangsan']}'] input.rc-pick")
    host.click("#rollcall-start-checked")
    member.wait_for_selector("#call-overlay:not([hidden])")
    assert member.inner_text("#call-text") == "张三，请面向摄像头应答"
    wait_room(member, "() => document.getElementById('room').dataset.myOutcome", "the outcome", 60)
    seen = member.evaluate("() => window.__seen")
    print("challenge texts seen:", seen, "; events:", *member.evaluate("() => window.__events"), sep="\n  ")
    actions = [t for t in seen if t in ("转头向左", "转头向右")]
    assert actions and set(actions) <= {"转头向左", "转头向右"}, seen
    # (the "get ready" line shows only while the first window has not begun: it may be gone
    # by the time the challenge reaches the page, when the identity check took a while)
    assert all(t in ("转头向左", "转头向右") or t.startswith("活体检测") for t in seen), seen
    assert member.get_attribute("#room", "data-my-outcome") == "present_unverified"
    assert "到场未核验" in member.inner_text("#call-outcome")
    row = host.locator(f"#rollcall-records li[data-user-id='{ids['zhangsan']}']")
    row.wait_for()
    assert "到场未核验" in row.inner_text()
    wait_for(lambda: records(portal), timeout=10, message="the attendance row")
    assert records(portal) == [(ids["zhangsan"], AttendanceOutcome.PRESENT_UNVERIFIED)]
    with db_session(portal) as s:
        kinds = s.scalars(select(ProctorFlag.kind).where(ProctorFlag.learner_id == ids["zhangsan"])).all()
    assert kinds and kinds[0].startswith("liveness"), kinds


def test_the_host_pages_through_tiles_nine_at_a_time(portal, chromium):
    """Twelve real sources in the host's media room (in-process relays of the host's own camera,
    announced by the server like anyone's camera): one page holds nine tiles, and only the page's
    sources are subscribed; the next page subscribes the other three and drops the first nine:
    the page closes them and tells the server, whose room then holds no subscription of the host
    to any of them (its `stats()`, the subscriptions it forwards packets to)."""
    from streaming.rtc import SignallingError
    from webapp.conferences.live import live_conferences, media_backend, source_of
    ids = portal.app.config["TEST_IDS"]
    host = person_page(chromium, portal, "officer_bs")
    host.goto(f"{portal.url}/conferences/{ids['conference']}/room")
    wait_room(host, "() => document.getElementById('room').dataset.state === 'live'", "the host to be in")
    host.wait_for_selector(f"#participants li[data-user-id='{ids['host']}'][data-publishing='1']")
    host.evaluate("""() => { window.__asked = []; window.__dropped = []; const s = window.portalSocket;
        const emit = s.emit;
        s.emit = function (event, body) {
          if (event === 'conf_subscribe_offer') window.__asked.push(body.source_id);
          if (event === 'conf_unsubscribe') window.__dropped.push(body.source_id);
          return emit.apply(this, arguments); }; }""")
    live = live_conferences(portal.app)[ids["conference"]]
    room = live.rooms[live.member_room[ids["host"]]]
    me = source_of(ids["host"])
    first, last = [f"u{9000 + i}" for i in range(1, 10)], [f"u{9000 + i}" for i in range(10, 13)]

    def server_subscriptions() -> set[str]:
        """The sources the server forwards to the host (its room's subscriptions "viewer->source")."""
        return {key.split("->", 1)[1] for key in room.stats()["subscriptions"] if key.startswith(me + "->")}

    def page_subscriptions() -> set[str]:
        return set(filter(None, host.evaluate("() => document.getElementById('room').dataset.subscribed").split(",")))

    donor = media_backend(portal.app.config["CONFERENCE_MEDIA_BACKEND"])("tiles-donor", live.room_config).start()
    # A room relays at most two sources (the level above, a speaker): this room may take twelve.
    room.config = dataclasses.replace(room.config, max_relays=12)
    try:
        donor.relay_from(room, me, "cam")                  # a room cannot relay from itself: via a second room
        for source in first + last:
            room.relay_from(donor, "cam", source)           # each source_connected makes the server announce them
        host.wait_for_function("() => document.querySelectorAll('#tiles .tile').length === 9")
        # the twelve are announced one by one: the page count follows the last announcement
        host.wait_for_function("() => document.getElementById('tiles-page').textContent === '第 1 / 2 页'",
                               timeout=10_000)
        assert host.is_disabled("#tiles-prev") and host.is_enabled("#tiles-next")
        wait_for(lambda: server_subscriptions() == set(first), timeout=20,
                 message=f"the host subscribed to the first page: {server_subscriptions()}")
        wait_room(host, "() => document.getElementById('room').dataset.subscribed.split(',').length === 9",
                  "the page's nine subscriptions")
        assert page_subscriptions() == set(first)
        assert host.evaluate("() => window.__asked") == first and host.evaluate("() => window.__dropped") == []

        host.click("#tiles-next")
        host.wait_for_function("() => document.querySelectorAll('#tiles .tile').length === 3")
        assert host.inner_text("#tiles-page") == "第 2 / 2 页"
        assert [host.get_attribute(f"#tiles .tile >> nth={i}", "data-source-id") for i in range(3)] == last
        wait_for(lambda: server_subscriptions() == set(last), timeout=20,
                 message=f"the server dropped the first nine: {server_subscriptions()}")
        wait_room(host, "() => document.getElementById('room').dataset.subscribed.split(',').length === 3",
                  "the page's three subscriptions")
        assert page_subscriptions() == set(last)
        assert sorted(host.evaluate("() => window.__dropped")) == first
        assert host.evaluate("() => window.__asked")[9:] == last
        sources = room.stats()["sources"]
        assert all(sources[s]["subscribers"] == 0 for s in first), {s: sources[s] for s in first}
        assert room_state(host)["toasts"] == []          # nothing was refused
    finally:
        for source in first + last:
            with contextlib.suppress(SignallingError):   # not relayed (the test failed before it)
                room.stop_relay(source)
        donor.shutdown()
