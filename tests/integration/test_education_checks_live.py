"""Attendance checks of a group education session, real parts only: the portal on SQLite with
an education session on the conference (shortened timings), Socket.IO through Flask-SocketIO's
test clients, real aiortc client peers publishing frames of real face photos into the
conference's media room (aiortc, and Janus for the face checks), the live conference's own EducationChecks (created at the first
entry, ticked every EDU_TICK_S) running mediapipe and dlib on the room's tapped frames, with the
roll call's liveness challenge.

zhangsan and lisi are both enrolled with the astronaut's face; zhangsan shows it and turns or
nods as each challenge asks (a real photo re-rendered as turned, as in
test_conference_rollcall.py), lisi's camera shows somebody else. K is 1: the room's tap stats,
sampled all along, never show two cameras tapped at once.
"""
from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import select

from proctoring.sample_faces import ENROLLED, IMPOSTOR, nod, scene, turn
from tests.conftest import user
from tests.integration.test_conference_rollcall import Rig
from tests.rtc_peers import FrameTrack
from webapp.models import EducationCheck, EducationSession, Evidence, ProctorFlag, User

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("webrtc_network")]

SIZE = (640, 480)


@pytest.fixture
def rig(tmp_path, database_factory, client_loop, enrolled_embedding):
    made = []

    def make(**overrides):
        r = Rig(tmp_path / "app", database_factory.new("app"), client_loop, enrolled_embedding,
                **{"CONFERENCE_MEDIA_BACKEND": "aiortc", **overrides})
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


@pytest.fixture(params=["aiortc", "janus"])
def media_settings(request) -> dict:
    """The face checks run on both conference media backends (as the roll-call suite does): aiortc
    rooms in the portal's process, and Janus VideoRoom rooms on a private Janus, where a tap is
    an extra subscription of the portal's own."""
    if request.param == "aiortc":
        return {"CONFERENCE_MEDIA_BACKEND": "aiortc"}
    server = request.getfixturevalue("janus_server")
    return {"CONFERENCE_MEDIA_BACKEND": "janus", "JANUS_URL": server.url, "JANUS_API_SECRET": server.api_secret,
            "JANUS_ADMIN_KEY": server.admin_key}


class TapWatch:
    """Samples every room's stats: which camera sources are tapped at each moment."""

    def __init__(self, live):
        self.live = live
        self.most = 0
        self.seen: set[str] = set()
        self.delivered: dict[str, int] = {}      # frames handed to the checks, per tap (the last tap's count)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.1):
            tapped = set()
            for room in list(self.live.rooms.values()):
                try:
                    sources = room.stats()["sources"]
                except Exception:   # noqa: BLE001 - a room shutting down
                    continue
                tapped |= {sid for sid, info in sources.items() if info.get("tap")}
                for sid, info in sources.items():
                    if info.get("tap"):
                        self.delivered[sid] = info["tap"]["delivered"]
            self.most = max(self.most, len(tapped))
            self.seen |= tapped

    def stop(self):
        self._stop.set()
        self._thread.join(2)


def checks_of(r, session_id) -> dict[str, list[EducationCheck]]:
    r.db.expire_all()
    out: dict[str, list[EducationCheck]] = {}
    for row in r.db.scalars(select(EducationCheck).where(EducationCheck.session_id == session_id)
                            .order_by(EducationCheck.at)):
        out.setdefault(r.db.get(User, row.user_id).username, []).append(row)
    return out


def test_sampled_checks_pass_the_enrolled_face_and_flag_the_impostor_k_at_once(rig, media_settings):
    r = rig(**media_settings, ROLLCALL_LIVENESS=True, ROLLCALL_ANSWER_S=10.0, LIVENESS_WINDOW_S=3.0,
            LIVENESS_ACTIONS="turn_left,turn_right,look_up,look_down")
    edu = EducationSession(conference_id=r.conference_id, topic="法治教育", first_within_s=5.0, min_gap_s=10.0,
                           max_gap_s=20.0, max_parallel=1)
    r.db.add(edu)
    r.db.commit()
    session_id = edu.id

    neutral = [scene(ENROLLED, SIZE, seed=0)]
    posed = {"turn_left": [turn(neutral[0], 40.0)], "turn_right": [turn(neutral[0], -40.0)],
             "look_up": [nod(neutral[0], 35.0)], "look_down": [nod(neutral[0], -30.0)]}
    host = r.member("officer_bs")
    host.enter()
    live = r.app.extensions["conference_live"][r.conference_id]
    assert live.edu is not None and live.edu.checks is not None
    checks = live.edu.checks
    assert (checks.policy.max_parallel, checks.policy.first_within_s, checks.policy.max_gap_s) == (1, 5.0, 20.0)
    watch = TapWatch(live)
    zhang, li = r.member("zhangsan"), r.member("lisi")
    zhang_track = FrameTrack(list(neutral), fps=8.0)
    for m, track in ((zhang, zhang_track), (li, FrameTrack([scene(IMPOSTOR, SIZE, seed=0)], fps=8.0))):
        m.enter()
        m.publish(None, track=track)
    entered = time.time()

    # zhangsan's page: follow every challenge the checks send (as a person in front of the camera would)
    answered = 0
    deadline = time.monotonic() + 75
    while time.monotonic() < deadline:
        rows = checks_of(r, session_id)
        passed = [c for c in rows.get("zhangsan", []) if c.passed]
        if len(passed) >= 2 and rows.get("lisi"):
            break
        challenges = [e for e in zhang.conf_events() if e["type"] == "edu_check_challenge"]
        if len(challenges) > answered:
            challenge, received = challenges[answered], time.monotonic()
            answered += 1
            for step, action in enumerate(challenge["actions"]):
                window_start = received + challenge["starts_in_s"] + step * challenge["window_s"]
                time.sleep(max(0.0, window_start + 1.0 - time.monotonic()))
                zhang_track.frames = posed[action]
                time.sleep(1.2)
                zhang_track.frames = neutral
        time.sleep(0.1)
    watch.stop()
    rows = checks_of(r, session_id)
    view = checks.view()
    print("checks:", {k: [(round(c.at - entered, 1), c.passed) for c in v] for k, v in rows.items()},
          "view:", {k: view[k] for k in ("peak_parallel", "peak_tapped", "started")}, "most tapped:", watch.most,
          "frames delivered (last tap of each):", watch.delivered)

    # the enrolled face passed identity and liveness, twice, each written as a face check
    zhang_rows = rows.get("zhangsan", [])
    assert len([c for c in zhang_rows if c.passed]) >= 2, [(c.passed, c.scores_json) for c in zhang_rows]
    first = zhang_rows[0]
    assert first.passed and first.kind == "face" and first.flag_id is None
    scores = json.loads(first.scores_json)
    assert scores["outcome"] == "present_verified" and scores["distance"] <= 0.5
    assert len(scores["steps"]) == 2 and all(s["passed"] for s in scores["steps"])
    assert first.room_path == live.member_room[user(r.db, "zhangsan").id]
    # the first check came within first_within_s of the entry (+ one tick of the ticker, + the
    # identity and challenge before the verdict); the next one min_gap_s..max_gap_s later
    assert first.at - entered <= 5.0 + 2.0 + 12.0
    second = [c for c in zhang_rows if c.passed][1]
    assert 10.0 - 12.0 <= second.at - first.at <= 20.0 + 12.0
    calls = [e for e in zhang.conf_events() if e["type"] == "edu_check_call"]
    assert calls and calls[0]["name"] == "张三"
    assert [e["passed"] for e in zhang.conf_events() if e["type"] == "edu_check_result"][:2] == [True, True]

    # the impostor failed, with a flag and its evidence frame
    li_rows = rows["lisi"]
    assert li_rows and not any(c.passed for c in li_rows)
    flag = r.db.get(ProctorFlag, li_rows[0].flag_id)
    assert flag is not None and flag.kind == "identity_mismatch" and flag.learner_id == user(r.db, "lisi").id
    assert json.loads(flag.scores_json)["distance"] > 0.5
    assert json.loads(flag.scores_json)["education_session_id"] == session_id
    assert r.db.scalar(select(Evidence).where(Evidence.flag_id == flag.id)) is not None
    assert json.loads(li_rows[0].scores_json)["outcome"] == "present_unverified"

    # only K = 1 camera analysed at a time; only the checked people were ever tapped (not the host)
    assert watch.most == 1 and view["peak_tapped"] == 1 and view["peak_parallel"] == 1
    assert watch.seen == {f"u{user(r.db, 'zhangsan').id}", f"u{user(r.db, 'lisi').id}"}
    assert view["started"] >= 3


def test_shared_room_confirmed_over_the_socket(rig):
    """The township room's officer (here the host, in that room) names who sits in front of its
    camera with conf_edu_confirm: officer checks and shared-room presence are written; a
    supervisee, a person on their own camera and someone of another unit are refused."""
    from webapp.models import EducationPresence

    r = rig()
    edu = EducationSession(conference_id=r.conference_id, topic="法治教育", first_within_s=30.0, min_gap_s=60.0,
                           max_gap_s=600.0, max_parallel=1)
    r.db.add(edu)
    r.db.commit()
    host = r.member("officer_bs")
    host.enter()
    zhang = r.member("zhangsan")
    zhang.enter()                                       # on their own device
    ids = {name: user(r.db, name).id for name in ("zhangsan", "lisi", "wanger", "officer_ly")}

    def panel_people():
        panels = [e for e in host.conf_events() if e["type"] == "edu_room"]
        return {p["user_id"]: p for p in panels[-1]["people"]} if panels else {}
    # the officer's panel lists the unit's supervisees; zhangsan shows as on their own camera
    r.wait_for(lambda: panel_people().get(ids["zhangsan"], {}).get("own_camera"), timeout=10,
               what="the officer's panel")
    assert set(panel_people()) == {ids["zhangsan"], ids["lisi"], ids["wanger"]}

    assert zhang.emit("conf_edu_confirm", present=[ids["lisi"]])["error"] == "forbidden"
    assert host.emit("conf_edu_confirm", present=[ids["zhangsan"]])["error"] == "bad_field"
    assert host.emit("conf_edu_confirm", present=[ids["officer_ly"]])["error"] == "bad_field"
    assert host.emit("conf_edu_confirm", present="all")["error"] == "bad_field"
    r.db.expire_all()
    assert r.db.scalars(select(EducationCheck).where(EducationCheck.session_id == edu.id)).all() == []

    before = time.time()
    ack = host.emit("conf_edu_confirm", present=[ids["lisi"], ids["wanger"]])
    assert ack.get("ok"), ack
    r.db.expire_all()
    rows = r.db.scalars(select(EducationCheck).where(EducationCheck.session_id == edu.id)).all()
    host_id = user(r.db, "officer_bs").id
    assert sorted((c.user_id, c.kind, c.passed, c.confirmed_by_id) for c in rows) == sorted(
        [(ids["lisi"], "officer", True, host_id), (ids["wanger"], "officer", True, host_id)])
    shared = r.db.scalars(select(EducationPresence).where(EducationPresence.session_id == edu.id,
                                                          EducationPresence.shared_room.is_(True))).all()
    assert sorted(p.user_id for p in shared) == sorted([ids["lisi"], ids["wanger"]])
    assert all(p.left_at is None and p.joined_at >= before for p in shared)
    # the next confirmation leaves wanger out: wanger fails and leaves the room
    assert host.emit("conf_edu_confirm", present=[ids["lisi"]]).get("ok")
    r.db.expire_all()
    latest = r.db.scalars(select(EducationCheck).where(EducationCheck.session_id == edu.id)
                          .order_by(EducationCheck.id.desc()).limit(2)).all()
    assert sorted((c.user_id, c.passed) for c in latest) == sorted([(ids["lisi"], True), (ids["wanger"], False)])
    wanger = r.db.scalar(select(EducationPresence).where(EducationPresence.user_id == ids["wanger"]))
    assert wanger.left_at is not None
