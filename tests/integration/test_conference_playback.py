"""The conference stage (issue 16) end to end on the server side, real parts only: the portal on
SQLite, Socket.IO signalling through Flask-SocketIO's test clients (each logged in as its user),
real aiortc client peers, the conference's real media rooms (aiortc, and Janus VideoRoom rooms on
a private Janus), and a real course file whose every frame carries its media time
(content.marker_video), read back from the frames a township viewer decodes.

A city conference with the county and township levels (demo data): the host (杭州市) plays the
course; it reaches a township supervisee through the county room; pause freezes it, seek moves
it, a late joiner is told the current position and sees it. A supervisee's screen share is
refused until the host allows it, goes up to the host's room and down the other township's room,
and ends when the host takes the permission back.

Runs inside the private network namespace (scripts/in-netns.sh), like the other WebRTC tests.
"""
from __future__ import annotations

import shutil
import time
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session

from bench.conference import CourseViewer, MarkerTrack, Viewer
from content import marker_video
from tests.conftest import DEMO_PASSWORD, Client, user
from tests.rtc_peers import Publisher, photo_frames
from webapp import create_app, migrate
from webapp.models import Category, Conference, ConferenceStatus, Course, utcnow

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("webrtc_network")]

COURSE_S = 30.0          # the marker course's length
CITY, COUNTY, TOWNSHIP, OTHER_TOWNSHIP = "/1/2/3/", "/1/2/3/4/", "/1/2/3/4/5/", "/1/2/3/4/6/"


@pytest.fixture(scope="module")
def course_file(tmp_path_factory):
    """The marker course at 320x180, 15 fps, with its tone: built once for the module."""
    folder = tmp_path_factory.mktemp("course")
    return marker_video.build(folder / "source.mp4", COURSE_S, width=320, height=180, fps=15)


class MarkerViewer(CourseViewer):
    """bench.conference's CourseViewer (it reads the course's media-time marker from every frame),
    called as `Member.watch` calls its viewers, with the readings as (arrival, media time)."""

    def __init__(self, client_loop, read_markers: bool = True, audio: bool = False):
        super().__init__(client_loop, None, audio=audio)

    @property
    def readings(self) -> list[tuple[float, float | None]]:
        with self.lock:
            return [(at, m) for at, m, _clock in self.seen]

    def read(self, seconds: float) -> list[tuple[float, float]]:
        """The (arrival, media time) of the readable frames of the next `seconds`."""
        start = time.monotonic()
        time.sleep(seconds)
        return [(at, m) for at, m in self.readings if at >= start and m is not None]


class Member:
    def __init__(self, rig, username: str):
        from webapp.extensions import socketio

        self.rig, self.username = rig, username
        self.id = user(rig.db, username).id
        self.web = Client(rig.app.test_client())
        assert self.web.login(username, DEMO_PASSWORD).status_code == 302
        self.sio = socketio.test_client(rig.app, flask_test_client=self.web.c)
        assert self.sio.is_connected()
        self.events: list[dict] = []

    def emit(self, event: str, **data):
        return self.sio.emit(event, {"conference_id": self.rig.conference_id, **data}, callback=True)

    def enter(self):
        ack = self.emit("conf_enter")
        assert ack.get("ok"), ack
        return ack

    def watch(self, source_id: str, audio: bool = False, viewer_class=MarkerViewer) -> Viewer:
        viewer = viewer_class(self.rig.client_loop, read_markers=True, audio=audio)
        ack = self.emit("conf_subscribe_offer", source_id=source_id, audio=audio)
        assert ack.get("ok") and ack["type"] == "offer", ack
        answered = self.emit("conf_subscribe_answer", source_id=source_id, sdp=viewer.answer(ack["sdp"]),
                             type="answer")
        assert answered.get("ok"), answered
        self.rig.closing.append(viewer)
        return viewer

    def conf_events(self) -> list[dict]:
        self.events += [e["args"][0] for e in self.sio.get_received() if e["name"] == "conf"]
        return self.events


class Rig:
    def __init__(self, tmp_path, database_url, client_loop, course_file, media_settings):
        self.app = create_app({"INSTANCE_DIR": str(tmp_path / "instance"), "DATABASE_URL": database_url,
                               "MEDIA_ROOT": str(tmp_path / "media"), "SECRET_KEY": "stage-secret",
                               "RATELIMIT_ENABLED": False, "SCHEDULER_ENABLED": False, **media_settings})
        self.client_loop = client_loop
        self.closing: list = []
        migrate.upgrade(self.app.config["DATABASE_URL"])
        with self.app.app_context():
            from webapp.demo import load_demo
            load_demo(DEMO_PASSWORD)
        # the course folder as an import leaves it: MEDIA_ROOT/<slug>/source.mp4
        folder = tmp_path / "media" / "marker-course"
        folder.mkdir(parents=True)
        shutil.copyfile(course_file, folder / "source.mp4")
        self.db = Session(self.app.extensions["db_engine"])
        marker = Course(slug="marker-course", title="法治教育：计时课", category=Category.LAW, duration_s=COURSE_S,
                        master_playlist="master.m3u8", source_file="source.mp4")
        bare = Course(slug="no-video", title="尚无视频的课程", category=Category.LAW, duration_s=60.0,
                      master_playlist="master.m3u8", source_file="source.mp4")
        host = user(self.db, "officer_hz")
        conference = Conference(host_unit_id=host.unit_id, host_officer_id=host.id, title="集中教育",
                                starts_at=utcnow() + timedelta(minutes=5), duration_min=60, levels="4,5",
                                include_supervisees=True, status=ConferenceStatus.SCHEDULED)
        self.db.add_all([marker, bare, conference])
        self.db.commit()
        self.course_id, self.bare_id, self.conference_id = marker.id, bare.id, conference.id

    def member(self, username: str) -> Member:
        return Member(self, username)

    @property
    def live(self):
        return self.app.extensions["conference_live"][self.conference_id]

    def close(self):
        from webapp.conferences import live as conference_live
        for peer in self.closing:
            peer.close()
        conference_live.shutdown(self.app)
        self.db.close()
        self.app.extensions["db_engine"].dispose()


def wait_until(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(params=["aiortc", "janus"])
def media_settings(request) -> dict:
    if request.param == "aiortc":
        return {"CONFERENCE_MEDIA_BACKEND": "aiortc"}
    server = request.getfixturevalue("janus_server")
    return {"CONFERENCE_MEDIA_BACKEND": "janus", "JANUS_URL": server.url, "JANUS_API_SECRET": server.api_secret,
            "JANUS_ADMIN_KEY": server.admin_key}


@pytest.fixture
def rig(tmp_path, database_factory, client_loop, course_file, media_settings):
    r = Rig(tmp_path, database_factory.new("stage"), client_loop, course_file, media_settings)
    yield r
    r.close()


def advancing(readings: list[tuple[float, float]]) -> tuple[float, float]:
    """(media seconds advanced, wall seconds elapsed) between the first and last reading."""
    assert len(readings) >= 5, readings
    times = [m for _, m in readings]
    assert times == sorted(times), times
    return readings[-1][1] - readings[0][1], readings[-1][0] - readings[0][0]


def test_host_plays_a_course_to_every_level(rig):
    host, county, township = rig.member("officer_hz"), rig.member("officer_xh"), rig.member("zhangsan")
    for m in (host, county, township):
        m.enter()
    assert sorted(rig.live.rooms) == [CITY, COUNTY, TOWNSHIP]

    # refusals: a participant plays or seeks nothing; bad courses and positions
    assert county.emit("conf_media", action="play", course_id=rig.course_id)["error"] == "forbidden"
    from webapp.conferences.live import LiveError
    with pytest.raises(LiveError) as refused:
        rig.live.play_media(county.id, rig.course_id)
    assert refused.value.code == "not_host"
    assert host.emit("conf_media", action="pause")["error"] == "no_playback"
    assert host.emit("conf_media", action="play", course_id=rig.bare_id)["error"] == "no_media"
    assert host.emit("conf_media", action="play", course_id=999999)["error"] == "not_found"
    assert host.emit("conf_media", action="play", course_id="1")["error"] == "bad_field"
    assert host.emit("conf_media", action="rewind")["error"] == "bad_field"

    played = host.emit("conf_media", action="play", course_id=rig.course_id)
    assert played.get("ok"), played
    stage = played["stage"]
    assert stage["kind"] == "media" and stage["playing"] and stage["title"] == "法治教育：计时课"
    assert abs(stage["duration"] - COURSE_S) < 0.5 and stage["position"] < 2.0
    # relayed down every level like the host's camera: the county's room, then the township's
    wait_until(lambda: "media" in rig.live.rooms[TOWNSHIP].sources(), what="media relayed to the township")
    assert "media" in rig.live.rooms[COUNTY].sources()
    assert any(s["source_id"] == "media" and s["kind"] == "media" for s in township.enter()["sources"])

    viewer = township.watch("media", audio=True)
    viewer.wait_frames(10, timeout=20)
    readings = viewer.read(1.5)
    media_s, wall_s = advancing(readings)
    assert media_s > 0.8 and abs(media_s - wall_s) < 0.5, (media_s, wall_s)      # real time, rate 1
    assert viewer.size == (320, 180)
    wait_until(lambda: viewer.audio_loud_frames >= 10, 15, "the course's tone at the township")
    assert county.emit("conf_media", action="seek", position=5.0)["error"] == "forbidden"

    # pause: every level's picture stops at the same media time
    paused = host.emit("conf_media", action="pause")
    assert paused.get("ok") and paused["stage"]["playing"] is False
    time.sleep(0.6)
    frozen = viewer.read(1.0)
    still = {m for _, m in frozen}
    assert len(still) <= 1, sorted(still)
    if frozen:   # a paused playback may send no new frame: then the last one stands
        assert abs(frozen[-1][1] - paused["stage"]["position"]) < 0.3, (frozen[-1], paused["stage"])
    time.sleep(0.5)
    assert rig.live.stage_view()["position"] == paused["stage"]["position"]

    # seek while paused, then play on from there
    assert host.emit("conf_media", action="seek", position=COURSE_S + 1)["error"] == "bad_position"
    assert host.emit("conf_media", action="seek", position="20")["error"] == "bad_position"
    sought = host.emit("conf_media", action="seek", position=20.0)
    assert sought.get("ok") and sought["stage"]["position"] == pytest.approx(20.0, abs=0.1)
    resumed = host.emit("conf_media", action="resume")
    assert resumed.get("ok") and resumed["stage"]["playing"]
    wait_until(lambda: any(m is not None and m >= 20.0 for _, m in viewer.readings[-5:]), 10, "frames after 20 s")
    after = viewer.read(1.0)
    media_s, wall_s = advancing(after)
    assert 20.0 <= after[0][1] < 23.0 and media_s > 0.5, after[:3]

    # a late joiner: told the current position when entering, and sees that picture
    late = rig.member("lisi")
    entered = late.enter()
    told, told_at = entered["stage"], time.monotonic()
    assert told["kind"] == "media" and told["playing"] and 20.0 < told["position"] < 26.0
    late_viewer = late.watch("media")
    late_viewer.wait_frames(5, timeout=20)
    first = late_viewer.read(0.8)
    assert first, "no readable frame at the late joiner"
    expected = told["position"] + (first[0][0] - told_at)
    assert abs(first[0][1] - expected) < 1.0, (first[0], told, expected)
    # the floor broadcasts carry the stage too
    assert any(e["type"] == "floor" and e.get("stage", {}).get("kind") == "media" for e in township.conf_events())

    # stop: the media leaves every room
    assert host.emit("conf_media", action="stop")["stage"]["kind"] == "none"
    wait_until(lambda: all("media" not in room.sources() for room in rig.live.rooms.values()), 10,
               "the media gone from every room")
    assert host.emit("conf_media", action="resume")["error"] == "no_playback"


def test_a_granted_supervisee_shares_a_screen(rig, client_loop):
    host, sharer, other = rig.member("officer_hz"), rig.member("zhangsan"), rig.member("wangwu")
    for m in (host, sharer, other):
        m.enter()
    assert sorted(rig.live.rooms) == [CITY, COUNTY, TOWNSHIP, OTHER_TOWNSHIP]
    screen = Publisher(client_loop, MarkerTrack(photo_frames(320, 240, count=4), fps=10,
                                                value=lambda n: 5000 + n))
    rig.closing.append(screen)
    offer = screen.offer()
    # not allowed yet; a participant cannot allow themselves
    assert sharer.emit("conf_share", action="start", sdp=offer, type="offer")["error"] == "not_allowed"
    assert sharer.emit("conf_share_grant", user_id=sharer.id, allowed=True)["error"] == "forbidden"
    assert host.emit("conf_share_grant", user_id="x", allowed=True)["error"] == "bad_field"
    assert host.emit("conf_share", action="stop")["error"] == "not_sharing"

    granted = host.emit("conf_share_grant", user_id=sharer.id, allowed=True)
    assert granted.get("ok") and granted["stage"]["grants"] == [sharer.id]
    answer = sharer.emit("conf_share", action="start", sdp=offer, type="offer")
    assert answer.get("ok") and answer["type"] == "answer", answer
    screen.accept(answer["sdp"])
    screen.wait_connected()
    assert rig.live.stage_view()["kind"] == "share" and rig.live.stage_view()["user_id"] == sharer.id
    # up the sharer's chain to the host's room, then down the other township
    wait_until(lambda: "screen" in rig.live.rooms[OTHER_TOWNSHIP].sources(), 20, "the screen in the other township")
    assert all("screen" in rig.live.rooms[p].sources() for p in (TOWNSHIP, COUNTY, CITY))
    sources = other.enter()["sources"]
    assert any(s["source_id"] == "screen" and s["kind"] == "screen" and s["user_id"] == sharer.id for s in sources)
    # the host cannot play over a participant's share without ending it; a second sharer waits
    watcher = other.watch("screen", viewer_class=Viewer)
    watcher.wait_frames(8, timeout=20)
    with watcher.lock:
        seen = [m for _, m in watcher.markers[-6:]]
    assert all(5000 <= m < 5000 + screen.track.sent for m in seen) and seen == sorted(seen), seen
    host_view = host.watch("screen", viewer_class=Viewer)
    host_view.wait_frames(3, timeout=20)

    # the host takes the permission back: the share ends at every level
    revoked = host.emit("conf_share_grant", user_id=sharer.id, allowed=False)
    assert revoked.get("ok") and revoked["stage"]["kind"] == "none" and revoked["stage"]["grants"] == []
    wait_until(lambda: all("screen" not in room.sources() for room in rig.live.rooms.values()), 10,
               "the screen gone from every room")
    again = Publisher(client_loop, MarkerTrack(photo_frames(320, 240, count=4), fps=10))
    rig.closing.append(again)
    assert sharer.emit("conf_share", action="start", sdp=again.offer(), type="offer")["error"] == "not_allowed"
    assert np.isfinite(rig.live.stage_view()["at"])


@pytest.mark.parametrize("media_settings", ["aiortc"], indirect=True)
def test_an_education_session_records_presence_and_takes_confirmations(rig):
    """A conference held as an education session: a supervisee's entering and leaving are
    written as presence (officers have none), the session's attendance checks run beside the
    conference (their ticker), and an officer's confirmation reaches them (conf_edu_confirm)."""
    from webapp.conferences.education_checks import EducationChecks
    from webapp.models import EducationCheck, EducationPresence, EducationSession

    session = EducationSession(conference_id=rig.conference_id, course_id=rig.course_id, topic="",
                               first_within_s=300.0, min_gap_s=300.0, max_gap_s=900.0, max_parallel=2)
    rig.db.add(session)
    rig.db.commit()
    host, county, township = rig.member("officer_hz"), rig.member("officer_xh"), rig.member("zhangsan")
    for m in (host, county, township):
        m.enter()

    def rows():
        rig.db.expire_all()
        return rig.db.query(EducationPresence).filter_by(session_id=session.id).all()
    wait_until(lambda: len(rows()) == 1, 10, "zhangsan's presence row")
    (row,) = rows()
    assert row.user_id == township.id and row.room_path == TOWNSHIP and row.left_at is None
    assert abs(row.joined_at - time.time()) < 10 and not row.shared_room
    edu = rig.live.edu
    assert edu is not None and isinstance(edu.checks, EducationChecks) and edu.session_id == session.id
    assert edu._thread is not None and edu._thread.is_alive()
    wait_until(lambda: township.id in edu.checks.view()["own_camera"], 10, "zhangsan among the checked")

    # confirmations: officers only, ids only; the checks' own refusal comes back with its reason
    assert township.emit("conf_edu_confirm", present=[township.id])["error"] == "forbidden"
    assert county.emit("conf_edu_confirm", present="all")["error"] == "bad_field"
    refused = county.emit("conf_edu_confirm", present=[township.id])
    assert refused["error"] == "bad_field" and "at that unit" in refused["detail"], refused
    # the township's on-site officer names 李四, in front of the township room's camera
    onsite, lisi = rig.member("officer_bs"), user(rig.db, "lisi").id
    onsite.enter()
    refused = onsite.emit("conf_edu_confirm", present=[township.id])
    assert refused["error"] == "bad_field" and "own camera" in refused["detail"], refused
    confirmed = onsite.emit("conf_edu_confirm", present=[lisi])
    assert confirmed.get("ok"), confirmed
    rig.db.expire_all()
    checks = rig.db.query(EducationCheck).filter_by(session_id=session.id).all()
    assert [(c.user_id, c.kind, c.passed, c.confirmed_by_id, c.room_path) for c in checks] == \
        [(lisi, "officer", True, onsite.id, TOWNSHIP)]
    assert {(r.user_id, r.shared_room) for r in rows()} == {(township.id, False), (lisi, True)}

    assert township.emit("conf_leave")["ok"]
    mine = lambda: [r for r in rows() if r.user_id == township.id]    # noqa: E731
    wait_until(lambda: mine()[0].left_at is not None, 10, "zhangsan's presence closed")
    assert mine()[0].left_at >= mine()[0].joined_at and len(mine()) == 1
    wait_until(lambda: township.id not in edu.checks.view()["own_camera"], 10, "zhangsan no longer checked")
    rig.live.shutdown()
    assert not edu._thread.is_alive()
