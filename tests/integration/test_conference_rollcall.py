"""Live conferences end to end on the server side, real parts only: the portal on SQLite,
Socket.IO signalling through Flask-SocketIO's test clients (each logged in as its user), real
aiortc client peers publishing VP8 frames made from real face photos into the conference's
media rooms, mediapipe and dlib on the room's sampled frames, the roll-call state machine and
its attendance rows.

Every test runs twice: on the aiortc media rooms and on Janus VideoRoom rooms (a private Janus).
Runs inside the private network namespace (scripts/in-netns.sh), like the other WebRTC tests.
"""
from __future__ import annotations

import json
import time
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.conference import MarkerTrack, Viewer
from proctoring.sample_faces import ENROLLED, IMPOSTOR, scene
from tests.conftest import DEMO_PASSWORD, FAST_PROCTORING, Client, user
from tests.rtc_peers import FrameTrack, Publisher
from webapp import create_app
from webapp import migrate
from webapp.core.face_crypto import encrypt_embedding
from webapp.models import (
    AttendanceOutcome,
    AttendanceRecord,
    AuditLog,
    Conference,
    ConferenceStatus,
    Evidence,
    FaceEnrolment,
    OrgUnit,
    ProctorFlag,
    Role,
    RollCall,
    User,
    utcnow,
)
from webapp.core.security import hash_password

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("webrtc_network")]

SIZE = (320, 240)


def frames_of(photo: str | None, count: int = 6) -> list[np.ndarray]:
    if photo is None:     # an empty room: grey wall with a little noise, no face
        rng = np.random.default_rng(3)
        return [np.clip(128 + rng.normal(0, 6, (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8) for _ in range(count)]
    base = scene(photo, SIZE)
    return [np.roll(base, i, axis=1) for i in range(count)]


class Member:
    def __init__(self, rig, username: str):
        from webapp.extensions import socketio

        self.rig, self.username = rig, username
        self.web = Client(rig.app.test_client())
        assert self.web.login(username, DEMO_PASSWORD).status_code == 302
        self.sio = socketio.test_client(rig.app, flask_test_client=self.web.c)
        assert self.sio.is_connected()
        self.publisher: Publisher | None = None
        self.events: list[dict] = []

    def emit(self, event: str, **data):
        return self.sio.emit(event, {"conference_id": self.rig.conference_id, **data}, callback=True)

    def enter(self):
        ack = self.emit("conf_enter")
        assert ack.get("ok"), ack
        return ack

    def publish(self, photo: str | None, track=None):
        self.publisher = Publisher(self.rig.client_loop, track or FrameTrack(frames_of(photo), fps=8.0))
        ack = self.emit("conf_publish", sdp=self.publisher.offer(), type="offer")
        assert ack.get("ok"), ack
        self.publisher.accept(ack["sdp"])
        self.publisher.wait_connected()

    def watch(self, source_id: str) -> Viewer:
        """Subscribe as the pages do: the server offers, the viewer answers."""
        viewer = Viewer(self.rig.client_loop, read_markers=True)
        ack = self.emit("conf_subscribe_offer", source_id=source_id)
        assert ack.get("ok") and ack["type"] == "offer", ack
        answered = self.emit("conf_subscribe_answer", source_id=source_id, sdp=viewer.answer(ack["sdp"]), type="answer")
        assert answered.get("ok"), answered
        self.rig.viewers.append(viewer)
        return viewer

    def conf_events(self) -> list[dict]:
        if self.sio.is_connected():
            self.events += [e["args"][0] for e in self.sio.get_received() if e["name"] == "conf"]
        return self.events

    def cut(self):
        """The connection drops: the camera peer and the socket go without a goodbye."""
        if self.publisher is not None:
            self.publisher.close()
        self.sio.disconnect()


class Rig:
    def __init__(self, tmp_path, database_url, client_loop, enrolled_embedding, host="officer_bs", levels="",
                 **overrides):
        cfg = {"INSTANCE_DIR": str(tmp_path / "instance"), "DATABASE_URL": database_url,
               "MEDIA_ROOT": str(tmp_path / "media"), "SECRET_KEY": "conference-secret", "RATELIMIT_ENABLED": False,
               "SCHEDULER_ENABLED": False, **FAST_PROCTORING, "ROLLCALL_ANSWER_S": 8.0, "ROLLCALL_PARALLEL": 1,
               "ROLLCALL_LIVENESS": False}
        cfg.update(overrides)
        self.app = create_app(cfg)
        self.client_loop = client_loop
        migrate.upgrade(self.app.config["DATABASE_URL"])
        with self.app.app_context():
            from webapp.demo import load_demo
            load_demo(DEMO_PASSWORD)
        self.db = Session(self.app.extensions["db_engine"])
        township = self.db.scalar(select(OrgUnit).where(OrgUnit.name == "北山街道司法所"))
        # a third supervisee of the township, for the silent camera
        self.db.add(User(username="wanger", display_name="王二", role=Role.SUPERVISEE, unit_id=township.id,
                         password_hash=hash_password(DEMO_PASSWORD), failed_logins=0, active=True,
                         officer_id=user(self.db, "officer_bs").id))
        # zhangsan and lisi are enrolled with the same (astronaut) face: lisi's camera will show
        # somebody else (Grace Hopper), as when someone sits in for the person named
        with self.app.app_context():
            sealed = encrypt_embedding(enrolled_embedding)
        for name in ("zhangsan", "lisi", "wanger"):
            self.db.add(FaceEnrolment(user_id=user(self.db, name).id, embedding_enc=sealed,
                                      source="upload", quality_json="{}", active=True))
        host_user = user(self.db, host)
        conference = Conference(host_unit_id=host_user.unit_id, host_officer_id=host_user.id,
                                title="月度点验", starts_at=utcnow() + timedelta(minutes=5), duration_min=60,
                                levels=levels, include_supervisees=True, status=ConferenceStatus.SCHEDULED)
        self.db.add(conference)
        self.db.commit()
        self.conference_id = conference.id
        self.members: list[Member] = []
        self.viewers: list[Viewer] = []

    def member(self, username: str) -> Member:
        m = Member(self, username)
        self.members.append(m)
        return m

    def records(self) -> dict[str, AttendanceRecord]:
        self.db.expire_all()
        rows = self.db.scalars(select(AttendanceRecord)).all()
        return {self.db.get(User, r.user_id).username: r for r in rows}

    def wait_for(self, predicate, timeout=30.0, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; records: "
                             f"{ {k: (v.outcome, v.scores_json) for k, v in self.records().items()} }")

    def close(self):
        from webapp.conferences import live as conference_live
        from webapp.proctor import hub as proctor_hub
        for viewer in self.viewers:
            viewer.close()
        for m in self.members:
            if m.publisher is not None:
                m.publisher.close()
        conference_live.shutdown(self.app)
        proctor_hub.shutdown(self.app)
        self.db.close()
        self.app.extensions["db_engine"].dispose()


@pytest.fixture(params=["aiortc", "janus"])
def media_settings(request) -> dict:
    """Every test runs on both conference media backends: aiortc rooms in the portal's process,
    and Janus VideoRoom rooms on a private Janus (tests/integration/conftest.py: janus_server)."""
    if request.param == "aiortc":
        return {"CONFERENCE_MEDIA_BACKEND": "aiortc"}
    server = request.getfixturevalue("janus_server")
    return {"CONFERENCE_MEDIA_BACKEND": "janus", "JANUS_URL": server.url, "JANUS_API_SECRET": server.api_secret,
            "JANUS_ADMIN_KEY": server.admin_key}


@pytest.fixture
def rig(tmp_path, database_factory, client_loop, enrolled_embedding, media_settings):
    made = []

    def make(**overrides):
        name = f"app{len(made)}"
        r = Rig(tmp_path / name, database_factory.new(name), client_loop, enrolled_embedding,
                **{**media_settings, **overrides})
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def test_roll_call_three_outcomes_and_a_cut_connection(rig):
    r = rig()
    host = r.member("officer_bs")
    ack = host.enter()
    assert ack["me"]["host"] is True
    host.publish(ENROLLED)
    people = {"zhangsan": ENROLLED, "lisi": IMPOSTOR, "wanger": None}
    members = {}
    for name, photo in people.items():
        m = r.member(name)
        entered = m.enter()
        assert entered["me"]["host"] is False
        assert any(s["kind"] == "host" for s in entered["sources"]), entered["sources"]
        m.publish(photo)
        members[name] = m
    ids = [user(r.db, name).id for name in people]
    started = host.emit("rollcall_start", user_ids=ids)
    assert started.get("ok"), started

    # zhangsan is called first and verified; then the host's and zhangsan's connections drop
    r.wait_for(lambda: "zhangsan" in r.records(), what="zhangsan's row")
    assert r.records()["zhangsan"].outcome == AttendanceOutcome.PRESENT_VERIFIED
    calls = [e for e in members["zhangsan"].conf_events() if e["type"] == "rollcall_call"]
    assert calls and calls[0]["name"] == "张三"
    host.cut()
    members["zhangsan"].cut()

    r.wait_for(lambda: len(r.records()) == 3 and r.db.get(RollCall, started["rollcall_id"]).ended_at is not None,
               timeout=40, what="all three rows and the end of the roll call")
    rows = r.records()
    # the row written before the cut is still there: verified, then marked as left early
    assert rows["zhangsan"].outcome == AttendanceOutcome.LEFT_EARLY
    assert json.loads(rows["zhangsan"].scores_json)["distance"] <= 0.5
    # someone else in front of lisi's camera: present but unverified, with a flag and evidence
    assert rows["lisi"].outcome == AttendanceOutcome.PRESENT_UNVERIFIED
    flag = r.db.get(ProctorFlag, rows["lisi"].flag_id)
    assert flag is not None and flag.kind == "identity_mismatch" and flag.learner_id == user(r.db, "lisi").id
    assert json.loads(flag.scores_json)["distance"] > 0.5
    assert r.db.scalar(select(Evidence).where(Evidence.flag_id == flag.id)) is not None
    # nobody in front of wanger's camera: absent
    assert rows["wanger"].outcome == AttendanceOutcome.ABSENT
    results = [e["outcome"] for e in members["lisi"].conf_events() if e["type"] == "rollcall_result"]
    assert results == ["present_unverified"]
    # the table link works for the host afterwards, and shows the three rows
    page = host.web.get(f"/conferences/{r.conference_id}/rollcalls/{started['rollcall_id']}")
    assert page.status_code == 200 and "王二" in page.get_data(as_text=True)
    assert f"/officer/flags/{flag.id}" in page.get_data(as_text=True)       # the evidence, one click away
    assert host.web.get(f"/officer/flags/{flag.id}").status_code == 200
    detail = host.web.get(f"/conferences/{r.conference_id}").get_data(as_text=True)
    assert f"/conferences/{r.conference_id}/rollcalls/{started['rollcall_id']}" in detail
    # a supervisee's detail page lists no roll-call tables
    assert "/rollcalls/" not in members["lisi"].web.get(f"/conferences/{r.conference_id}").get_data(as_text=True)


def test_bad_input_gets_clear_errors(rig):
    r = rig()
    outsider = r.member("officer_ly")            # another township: outside the chain
    ack = outsider.emit("conf_enter")
    assert ack["error"] == "not_found" and ack["message"]
    early = r.member("zhangsan")
    assert early.emit("conf_enter")["error"] == "not_live"     # the host has not opened it
    host = r.member("officer_bs")
    host.enter()
    r.db.expire_all()
    assert r.db.get(Conference, r.conference_id).status == ConferenceStatus.LIVE
    member = r.member("lisi")
    member.enter()
    host_id, lisi_id = user(r.db, "officer_bs").id, user(r.db, "lisi").id
    # forged host commands from a participant
    for event, data in (("conf_host", {"action": "remove", "user_id": host_id}),
                        ("conf_host", {"action": "mute", "user_id": lisi_id}),
                        ("rollcall_start", {}), ("conf_end", {})):
        ack = member.emit(event, **data)
        assert ack["error"] == "forbidden", (event, ack)
    # malformed requests
    assert member.emit("conf_publish", sdp="v=0 garbage", type="offer")["error"] == "media"
    assert member.emit("conf_publish", sdp="x", type="answer")["error"] == "media"
    assert member.emit("conf_subscribe", source_id="host", sdp=123)["error"] == "media"
    assert member.emit("conf_subscribe", source_id="nobody", sdp="v=0\r\n")["error"] in ("media", "unknown_source")
    assert member.emit("conf_subscribe_offer", source_id="nobody")["error"] == "unknown_source"
    assert member.emit("conf_subscribe_offer", source_id="host", audio="yes")["error"] == "bad_field"
    assert member.emit("conf_subscribe_answer", source_id="host", sdp="v=0\r\n", type="answer")["error"] == "not_found"
    assert member.emit("conf_subscribe_answer", source_id="host", sdp="v=0\r\n", type="offer")["error"] == "media"
    assert member.emit("conf_chat", text="")["error"] == "bad_field"
    assert member.emit("conf_chat", text="x" * 501)["error"] == "bad_field"
    assert member.emit("conf_hand", raised="yes")["error"] == "bad_field"
    assert member.sio.emit("conf_enter", {"conference_id": "1"}, callback=True)["error"] == "bad_field"
    assert member.sio.emit("conf_enter", "nonsense", callback=True)["error"] == "bad_field"
    assert host.emit("rollcall_start", user_ids=[99999])["error"] == "bad_field"
    assert host.emit("rollcall_start", user_ids="all")["error"] == "bad_field"
    assert host.emit("conf_host", action="explode", user_id=lisi_id)["error"] == "bad_field"
    # the floor works for proper requests, and the host's command reaches the target
    assert member.emit("conf_hand", raised=True)["ok"]
    assert member.emit("conf_chat", text="到")["ok"]
    assert host.emit("conf_host", action="mute", user_id=lisi_id)["ok"]
    events = member.conf_events()
    assert {"conference_id": r.conference_id, "type": "muted", "muted": True} in events
    assert any(e["type"] == "chat" and e["message"]["text"] == "到" for e in host.conf_events())
    assert host.emit("conf_host", action="remove", user_id=lisi_id)["ok"]
    assert any(e["type"] == "removed" for e in member.conf_events())
    assert member.emit("conf_enter")["error"] == "removed"
    assert r.db.scalar(select(AuditLog).where(AuditLog.action == "conference_participant_removed")) is not None


def test_levels_cascade_the_host_down_and_a_speaker_up(rig):
    """A province conference with the city and township levels: the province host's frames reach
    a township supervisee through the city's room (a marker drawn into each frame is read back),
    and a township participant put in the spotlight is relayed up to the province's room."""
    r = rig(host="officer_zj", levels="3,5")
    host = r.member("officer_zj")
    host.enter()
    host.publish(None, track=MarkerTrack(frames_of(ENROLLED, 8), fps=10))
    city = r.member("officer_hz")
    city.enter()
    township = r.member("zhangsan")
    township.enter()
    live = r.app.extensions["conference_live"][r.conference_id]
    assert sorted(live.rooms) == sorted(["/1/2/", "/1/2/3/", "/1/2/3/4/5/"]), sorted(live.rooms)
    r.wait_for(lambda: "host" in live.rooms["/1/2/3/4/5/"].sources(), what="the host relayed to the township")
    viewer = township.watch("host")
    viewer.wait_frames(15, timeout=20)
    with viewer.lock:
        markers = [m for _, m in viewer.markers]
    assert markers[-1] > markers[0] and all(b > a for a, b in zip(markers[-8:], markers[-7:])), markers[-8:]
    assert markers[-1] < host.publisher.track.sent
    # the same stream went through the city: one room per level, none carries the tree
    assert "host" in live.rooms["/1/2/3/"].sources()
    assert f"u{user(r.db, 'zhangsan').id}" not in live.rooms["/1/2/"].sources()

    township.publish(ENROLLED)
    zhang = user(r.db, "zhangsan").id
    r.wait_for(lambda: live.floor.members[zhang].publishing, what="zhangsan publishing")
    assert host.emit("conf_host", action="spotlight", user_id=zhang)["ok"]
    r.wait_for(lambda: "speaker" in live.rooms["/1/2/"].sources(), what="the speaker relayed up")
    assert any(s["source_id"] == "speaker" and s["user_id"] == zhang
               for e in host.conf_events() if e["type"] == "sources" for s in e["sources"])
    speaker = host.watch("speaker")
    speaker.wait_frames(5, timeout=20)
    with speaker.lock:
        seen = speaker.last
    reference = frames_of(ENROLLED, 1)[0]
    a = seen.astype(float).ravel() - seen.mean()
    b = reference.astype(float).ravel() - reference.mean()
    assert float(a @ b / np.sqrt((a @ a) * (b @ b))) > 0.8
    assert host.emit("conf_unsubscribe", source_id="speaker")["ok"]
    assert host.emit("conf_unsubscribe", source_id="speaker")["error"] == "not_found"
    # a new camera replaces the old one without ending what the publisher watches
    township.publisher.close()
    township.publish(ENROLLED)
    viewer.wait_frames(viewer.frames + 5, timeout=20)
    assert host.emit("conf_host", action="unspotlight", user_id=zhang)["ok"]
    r.wait_for(lambda: "speaker" not in live.rooms["/1/2/"].sources(), what="the speaker relay ended")


def test_roll_call_liveness_challenge(rig):
    """With liveness on, a verified face must then follow a drawn challenge. zhangsan's client
    turns the head as asked (a real photo re-rendered as turned, proctoring.sample_faces.turn)
    inside each window; lisi's camera shows the right face as a still photo and fails it."""
    from proctoring.sample_faces import nod, turn

    size = (640, 480)
    neutral = [scene(ENROLLED, size, seed=0)]
    turned = {"turn_left": [turn(neutral[0], 40.0)], "turn_right": [turn(neutral[0], -40.0)],
              "look_up": [nod(neutral[0], 35.0)], "look_down": [nod(neutral[0], -30.0)]}
    r = rig(ROLLCALL_LIVENESS=True, ROLLCALL_PARALLEL=2, ROLLCALL_ANSWER_S=20.0,
            LIVENESS_ACTIONS="turn_left,turn_right,look_up,look_down", LIVENESS_WINDOW_S=3.0)
    host = r.member("officer_bs")
    host.enter()
    live_one, still = r.member("zhangsan"), r.member("lisi")
    tracks = {}
    for m in (live_one, still):
        m.enter()
        tracks[m.username] = FrameTrack(list(neutral), fps=8.0)
        m.publish(None, track=tracks[m.username])
    started = host.emit("rollcall_start")
    assert started.get("ok"), started

    deadline = time.monotonic() + 25
    challenge = None
    while challenge is None and time.monotonic() < deadline:
        challenge = next((e for e in live_one.conf_events() if e["type"] == "rollcall_challenge"), None)
        time.sleep(0.05)
    assert challenge is not None, live_one.conf_events()
    received = time.monotonic()
    for step, action in enumerate(challenge["actions"]):
        window_start = received + challenge["starts_in_s"] + step * challenge["window_s"]
        time.sleep(max(0.0, window_start + 1.0 - time.monotonic()))
        tracks["zhangsan"].frames = turned[action]
        time.sleep(1.2)
        tracks["zhangsan"].frames = neutral

    r.wait_for(lambda: len(r.records()) == 2, timeout=30, what="both outcomes")
    rows = r.records()
    assert rows["zhangsan"].outcome == AttendanceOutcome.PRESENT_VERIFIED, rows["zhangsan"].scores_json
    steps = json.loads(rows["zhangsan"].scores_json)["steps"]
    assert [s["action"] for s in steps] == challenge["actions"] and all(s["passed"] for s in steps)
    assert len(challenge["actions"]) == 2    # a turn and a nod: two signals
    assert rows["lisi"].outcome == AttendanceOutcome.PRESENT_UNVERIFIED
    assert r.db.get(ProctorFlag, rows["lisi"].flag_id).kind == "liveness_failed"
    assert any(e["type"] == "rollcall_challenge" for e in still.conf_events())
