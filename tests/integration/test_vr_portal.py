"""The VR station API (docs/vr_station_api.md) and the officer's VR pages, against the real app on SQLite,
with the real face models on real photos (proctoring.sample_faces) for the face check-in.

A face check-in is a liveness challenge: the portal draws the actions, the "station" here films a
face that follows them: frames of the enrolled person's photo in a webcam-like room, re-rendered as
turned left and right or looking up and down (proctoring.sample_faces.turn and nod) inside each
action's window. Blinking cannot be rendered from these photos, so the tests draw from the head
movements (LIVENESS_ACTIONS without blink)."""
from __future__ import annotations

import base64
import io
import re
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from proctoring.sample_faces import ENROLLED, IMPOSTOR, photo, scene
from tests.conftest import user
from webapp.models import (AuditLog, CreditEntry, FaceEnrolment, VrAssignment, VrAssignmentStatus, VrChallenge,
                           VrCheckIn, VrSession, VrStation)
from webapp.study.service import credited_seconds_in_month

API = "/api/vr/v1"
PRISON_STAGES = ["arrival", "cell", "regime", "visiting", "door"]
CJK = re.compile(r"[\u4e00-\u9fff]")


def jpeg_b64(rgb: np.ndarray) -> str:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=90)
    return base64.b64encode(out.getvalue()).decode()


_POSES: dict[str, dict[str, str]] = {}


def poses(name: str = ENROLLED) -> dict[str, str]:
    """A webcam-like frame of `name` looking at the camera, and the same re-rendered as turned to
    their own left and right and as looking up and down (base64 JPEGs), made once per test run."""
    if name not in _POSES:
        from proctoring.sample_faces import nod, turn
        neutral = scene(name, (640, 480), seed=3)
        _POSES[name] = {"neutral": jpeg_b64(neutral), "turn_left": jpeg_b64(turn(neutral, 40.0)),
                        "turn_right": jpeg_b64(turn(neutral, -40.0)), "look_up": jpeg_b64(nod(neutral, 30.0)),
                        "look_down": jpeg_b64(nod(neutral, -30.0))}
    return _POSES[name]


def pose_at(challenge: dict, t: float) -> str:
    """The pose of a face that follows the prompts: each action from a quarter to 55 % into its window."""
    for step in challenge["steps"]:
        if step["at_s"] + 0.25 * challenge["window_s"] <= t < step["at_s"] + 0.55 * challenge["window_s"]:
            return step["action"]
    return "neutral"


def burst(challenge: dict, images: dict[str, str] | None = None, pose=pose_at) -> list[dict]:
    """The frames a camera at the challenge's fps films over its duration; `pose(challenge, t)` says
    which image shows at t (default: the face follows the prompts)."""
    images = images or poses()
    count = int(challenge["duration_s"] * challenge["fps"]) + 1
    assert count <= challenge["max_frames"]
    frames = []
    for k in range(count):
        t = round(k / challenge["fps"], 3)
        frames.append({"offset_s": t, "image_jpeg_b64": images.get(pose(challenge, t)) or images["neutral"]})
    return frames


def challenge_of(station) -> dict:
    response = station.post("/checkin/challenge", {})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def face_checkin(station, images=None, pose=pose_at, frames=None):
    """Challenge, burst, check-in: the response."""
    challenge = challenge_of(station)
    body = {"method": "face", "nonce": challenge["nonce"],
            "frames": frames if frames is not None else burst(challenge, images, pose)}
    return station.post("/checkin", body)


def still(challenge, t):
    return "neutral"


HEAD_MOVES = "turn_left,turn_right,look_up,look_down"


@pytest.fixture(autouse=True)
def head_movements_only(app):
    app.config["LIVENESS_ACTIONS"] = HEAD_MOVES


def confirm(officer, learner_id, station_id):
    """The officer's on-site confirmation on the supervisee's record."""
    return officer.c.post(f"/officer/vr/supervisee/{learner_id}/confirm",
                          data={"csrf_token": officer.token, "station_id": station_id})


def register(client, name="北山所 VR 1", unit_id=None) -> str:
    page = client.c.get("/officer/vr/stations").get_data(as_text=True)
    unit_id = unit_id or int(re.search(r'<option selected value="(\d+)"', page).group(1))
    response = client.c.post("/officer/vr/stations", data={"csrf_token": client.token, "name": name,
                                                           "unit_id": unit_id})
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    token = re.search(r'<code id="station-token">([^<]+)</code>', html).group(1)
    return token


class Station:
    def __init__(self, app, token):
        self.c, self.token = app.test_client(), token

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path):
        return self.c.get(API + path, headers=self.headers())

    def post(self, path, body):
        return self.c.post(API + path, json=body, headers=self.headers())


@pytest.fixture
def officer(client_for):
    return client_for("officer_bs")


@pytest.fixture
def station(app, officer):
    return Station(app, register(officer))


def enrol(app, learner_id, name=ENROLLED):
    from proctoring.vision import thread_analyzer
    from webapp.core import db as webdb
    from webapp.core.face_crypto import encrypt_embedding
    rgb = photo(name)
    analyzer = thread_analyzer()
    [detection] = analyzer.detector.detect(rgb)
    with app.app_context():
        webdb.session().add(FaceEnrolment(user_id=learner_id, source="upload",
                                          embedding_enc=encrypt_embedding(analyzer.embed(rgb, detection.box))))
        webdb.session().commit()


def session_body(learner, **over):
    now = time.time()
    started = now - 400
    body = {"client_session_id": uuid.uuid4().hex, "learner_id": learner, "assignment_id": None,
            "scene": "prison", "checkin": "face", "started_at": started, "ended_at": now - 10,
            "stages": [{"id": k, "title": k, "started_at": started + 70 * i, "ended_at": started + 70 * (i + 1),
                        "completed": True} for i, k in enumerate(PRISON_STAGES)],
            "attention": {"guard": 0.8, "window": 0.4},
            "reaction_times": {"sober": [], "drunk": []},
            "choices": {},
            "quiz": {"questions": 2, "correct": 1, "answers": [{"id": "q1", "answer": "a", "correct": True},
                                                              {"id": "q2", "answer": "b", "correct": False}]}}
    body.update(over)
    return body


def month_now(app) -> str:
    return datetime.now(ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])).strftime("%Y-%m")


# --- token ---------------------------------------------------------------------------------

def test_token_is_shown_once_and_stored_as_a_hash(app, db, officer, station):
    row = db.scalar(select(VrStation))
    assert row.token_hash != station.token and len(row.token_hash) == 64 and station.token not in row.token_hash
    listing = officer.c.get("/officer/vr/stations").get_data(as_text=True)
    assert station.token not in listing and "北山所 VR 1" in listing
    response = station.get("/ping")
    assert response.status_code == 200
    body = response.get_json()
    assert body["station"]["name"] == "北山所 VR 1" and body["station"]["unit"] == "北山街道司法所"
    assert body["scenes"] == ["prison", "drunk", "rehab"] and abs(body["server_time"] - time.time()) < 5
    db.expire_all()
    assert db.get(VrStation, row.id).last_contact_at is not None


def test_missing_unknown_and_revoked_tokens_are_refused(app, db, officer, station):
    bare = app.test_client()
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer vrs_not-a-token"}):
        response = bare.get(f"{API}/ping", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"] == "unauthorized"
        assert re.search(r"[\u4e00-\u9fff]", response.get_json()["message"])
    # a logged-in officer's cookie is not a station credential
    assert officer.c.get(f"{API}/ping").status_code == 401
    row = db.scalar(select(VrStation))
    assert officer.c.post(f"/officer/vr/stations/{row.id}/revoke", data={"csrf_token": officer.token}).status_code == 303
    assert station.get("/ping").status_code == 401
    assert station.post("/sessions", session_body(user(db, "zhangsan").id)).status_code == 401
    assert "已吊销" in officer.c.get("/officer/vr/stations").get_data(as_text=True)


def test_a_station_of_another_unit_sees_nothing_of_this_one(app, db, client_for, officer):
    other = Station(app, register(client_for("officer_ly"), name="灵隐所 VR"))
    zhangsan = user(db, "zhangsan")
    officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/assign", data={"csrf_token": officer.token,
                                                                        "scene": "drunk"})
    assert other.get("/assignments").get_json() == {"assignments": []}
    assignment = db.scalar(select(VrAssignment))
    response = other.post("/checkin", {"method": "assignment", "assignment_id": assignment.id})
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    response = other.post("/sessions", session_body(zhangsan.id))
    assert response.status_code == 404 and response.get_json()["field"] == "learner_id"
    enrol(app, zhangsan.id)
    response = face_checkin(other)
    assert response.status_code == 422 and response.get_json()["error"] == "no_match"
    # nor can its officer confirm zhangsan at it, nor the station use another station's challenge
    ly_station = db.scalar(select(VrStation).where(VrStation.name == "灵隐所 VR"))
    assert confirm(officer, zhangsan.id, ly_station.id).status_code == 303
    assert db.scalars(select(VrCheckIn).where(VrCheckIn.method == "officer")).all() == []
    station = Station(app, register(officer, name="北山所 VR 9"))
    nonce = challenge_of(station)["nonce"]
    response = other.post("/checkin", {"method": "face", "nonce": nonce, "frames": burst(challenge_of(other))})
    assert response.status_code == 409 and response.get_json()["reason"] == "unknown"


# --- face check-in with liveness ----------------------------------------------------------------

def test_challenge_is_drawn_by_the_server(app, db, station):
    app.config["LIVENESS_ACTIONS"] = "blink,turn_left,turn_right,look_up,look_down"
    signal = {"blink": "eyes", "turn_left": "yaw", "turn_right": "yaw", "look_up": "pitch", "look_down": "pitch"}
    seen, starts = set(), set()
    for _ in range(12):
        ch = challenge_of(station)
        assert len(ch["actions"]) == 2 and len({signal[a] for a in ch["actions"]}) == 2
        seen.add(tuple(ch["actions"]))
        # the schedule: neutral for 1.5 s, then each action's window after a drawn delay of up to 1 s,
        # then a neutral tail of 1.5 s
        first, second = (s["at_s"] for s in ch["steps"])
        assert [s["action"] for s in ch["steps"]] == ch["actions"] and ch["window_s"] == 4.0
        assert 1.5 <= first <= 2.5 and first + 4.0 <= second <= first + 5.0
        assert ch["end_at_s"] == pytest.approx(second + 4.0) and ch["duration_s"] == pytest.approx(second + 5.5)
        starts.add(first)
        assert all(CJK.search(s["prompt"]) for s in ch["steps"]) and CJK.search(ch["start_prompt"])
        assert 0 < ch["fps"] <= 5 and ch["fps"] * ch["duration_s"] + 1 <= ch["max_frames"] == 64
        assert ch["max_frame_bytes"] == 512 * 1024 and 119 <= ch["expires_in_s"] <= 121
        assert abs(ch["expires_at"] - time.time() - 120) < 5
        for step in ch["steps"]:
            assert {"turn_left": "左", "turn_right": "右", "look_up": "抬头", "look_down": "低头",
                    "blink": "眨眼"}[step["action"]] in step["prompt"]
    assert len(seen) >= 3 and len(starts) >= 6               # random actions and timing
    assert len({c.nonce for c in db.scalars(select(VrChallenge))}) == 12
    # a window too long for 64 frames at VR_CHALLENGE_FPS lowers the fps
    app.config["LIVENESS_WINDOW_S"] = 12.0
    ch = challenge_of(station)
    assert 27.0 <= ch["duration_s"] <= 29.0 and ch["fps"] < 2.4 and ch["fps"] * ch["duration_s"] + 1 <= 64


def test_face_checkin_with_liveness_matches_the_enrolled_supervisee(app, db, station):
    zhangsan, lisi = user(db, "zhangsan"), user(db, "lisi")
    enrol(app, zhangsan.id, ENROLLED)
    enrol(app, lisi.id, "camera")
    response = face_checkin(station)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["learner_id"] == zhangsan.id and body["name"] == "张三" and body["assignments"] == []
    assert body["verified"] is True and body["liveness"]["passed"] is True
    assert [s["passed"] for s in body["liveness"]["steps"]] == [True, True]
    assert body["liveness"]["samples"] >= 50
    from proctoring.vision import IDENTITY_THRESHOLD
    assert 0 <= body["distance"] <= (app.config["IDENTITY_THRESHOLD"] or IDENTITY_THRESHOLD)
    db.expire_all()
    [row] = db.scalars(select(VrCheckIn)).all()
    assert (row.learner_id, row.method, row.liveness, row.officer_id) == (zhangsan.id, "face", True, None)
    assert row.id == body["checkin_id"] and abs(row.at - time.time()) < 30
    matched = db.scalar(select(AuditLog).where(AuditLog.action == "vr_checkin"))
    assert matched.target == f"user:{zhangsan.id}" and "liveness:passed" in matched.detail
    # the challenge is answered once only
    nonce = db.scalar(select(VrChallenge.nonce))
    again = station.post("/checkin", {"method": "face", "nonce": nonce, "frames": burst(challenge_of(station))})
    assert again.status_code == 409 and again.get_json()["error"] == "challenge_invalid"
    assert again.get_json()["reason"] == "used" and CJK.search(again.get_json()["message"])
    # an impostor following the prompts is nobody of the unit
    response = face_checkin(station, poses(IMPOSTOR))
    assert response.status_code == 422 and response.get_json()["error"] == "no_match"
    db.expire_all()
    actions = [a.action for a in db.scalars(select(AuditLog).where(AuditLog.action.like("vr_checkin%"))
                                            .order_by(AuditLog.id))]
    assert actions == ["vr_checkin", "vr_checkin_refused", "vr_checkin_refused"]


def test_the_enrolment_photo_itself_fails_the_liveness_check(app, db, station):
    """Issue 11: the enrolment photo checked in. It is still the right face, but it cannot follow
    the challenge: one still frame, or the same photo filmed all along, or a face that turns the
    wrong way, fails; a check-in row with liveness False records the attempt; nothing verifies."""
    zhangsan = user(db, "zhangsan")
    enrol(app, zhangsan.id, ENROLLED)
    enrolment_photo = jpeg_b64(photo(ENROLLED))
    ch = challenge_of(station)
    one = station.post("/checkin", {"method": "face", "nonce": ch["nonce"],
                                    "frames": [{"offset_s": 0.0, "image_jpeg_b64": enrolment_photo}]})
    assert one.status_code == 422, one.get_json()
    body = one.get_json()
    assert body["error"] == "liveness_failed" and CJK.search(body["message"]) and "samples" in body["reason"]
    assert "learner_id" not in body and "name" not in body          # who it looked like is not told
    held_up = face_checkin(station, {"neutral": enrolment_photo})
    assert held_up.status_code == 422 and held_up.get_json()["error"] == "liveness_failed"
    assert "not performed" in held_up.get_json()["reason"]
    assert [s["passed"] for s in held_up.get_json()["steps"]] == [False, False]
    # the webcam-like frame, still: the same
    assert face_checkin(station, pose=still).get_json()["error"] == "liveness_failed"
    # turning the other way round: every action in its window, but the wrong direction
    opposite = {"turn_left": "turn_right", "turn_right": "turn_left", "look_up": "look_down", "look_down": "look_up"}
    wrong = face_checkin(station, pose=lambda ch, t: opposite.get(pose_at(ch, t), "neutral"))
    assert wrong.status_code == 422 and wrong.get_json()["error"] == "liveness_failed"
    # blink cannot be rendered from a photo: with the default actions a still photo fails as well
    app.config["LIVENESS_ACTIONS"] = "blink,turn_left,turn_right"
    assert face_checkin(station, {"neutral": enrolment_photo}).get_json()["error"] == "liveness_failed"
    db.expire_all()
    rows = db.scalars(select(VrCheckIn)).all()
    assert [(r.method, r.liveness) for r in rows] == [("face", False)] * 5
    refused = db.scalars(select(AuditLog).where(AuditLog.action == "vr_checkin_refused")).all()
    assert len(refused) == 5 and all("result:liveness_failed" in r.detail for r in refused)
    # a session after these attempts is stored and shown, and earns nothing
    response = station.post("/sessions", session_body(zhangsan.id))
    assert response.status_code == 201 and response.get_json()["credited_s"] == 0
    db.expire_all()
    row = db.scalar(select(VrSession))
    assert (row.credit_reason, row.checkin_verified, row.verified_checkin_id) == ("unverified", False, None)


def test_a_face_swapped_after_the_first_frame_fails(app, db, station):
    """The enrolled face on the first frame, then somebody else doing the turns and looking at the
    camera at the end: the last frame is not the person identified."""
    enrol(app, user(db, "zhangsan").id, ENROLLED)
    mine, theirs = poses(ENROLLED), poses(IMPOSTOR)
    ch = challenge_of(station)
    frames = burst(ch, theirs)
    frames[0] = {**frames[0], "image_jpeg_b64": mine["neutral"]}
    response = station.post("/checkin", {"method": "face", "nonce": ch["nonce"], "frames": frames})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"] == "liveness_failed"
    assert response.get_json()["reason"] == "identity_changed", response.get_json()
    assert [s["passed"] for s in response.get_json()["steps"]] == [True, True]   # the impostor did turn


def test_the_same_face_enrolled_for_two_supervisees_matches_nobody(app, db, station):
    enrol(app, user(db, "zhangsan").id, ENROLLED)
    enrol(app, user(db, "lisi").id, ENROLLED)
    response = face_checkin(station)
    assert response.status_code == 422 and response.get_json()["error"] == "no_match"
    db.expire_all()
    refused = db.scalar(select(AuditLog).where(AuditLog.action == "vr_checkin_refused"))
    assert "result:ambiguous" in refused.detail
    assert db.scalars(select(VrCheckIn)).all() == []


def test_challenges_expire_and_belong_to_their_station(app, db, station):
    enrol(app, user(db, "zhangsan").id)
    app.config["VR_CHALLENGE_TTL_S"] = 0.0
    ch = challenge_of(station)
    time.sleep(0.05)
    response = station.post("/checkin", {"method": "face", "nonce": ch["nonce"], "frames": burst(ch)})
    assert response.status_code == 409 and response.get_json()["reason"] == "expired"
    unknown = station.post("/checkin", {"method": "face", "nonce": "A" * 32, "frames": burst(ch)})
    assert unknown.status_code == 409 and unknown.get_json()["reason"] == "unknown"
    db.expire_all()
    details = [a.detail for a in db.scalars(select(AuditLog).where(AuditLog.action == "vr_checkin_refused"))]
    assert any("challenge_expired" in d for d in details) and any("challenge_unknown" in d for d in details)
    assert db.scalars(select(VrCheckIn)).all() == []


def test_face_checkin_refuses_bad_input(app, db, station):
    """Every field of the new check-in: a clear JSON error with a Chinese message, never a 500."""
    enrol(app, user(db, "zhangsan").id)
    noise = np.random.default_rng(3).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    good = poses()["neutral"]
    frame = {"offset_s": 0.0, "image_jpeg_b64": good}

    def frames(*items):
        return list(items)

    # refused before the challenge is taken (the nonce stays usable): (body without nonce, field)
    shape_cases = [
        ({"nonce": None, "frames": None}, "nonce"),
        ({"nonce": None, "frames": None, "image_jpeg_b64": good}, "nonce"),    # the old one-photo check-in
        ({"method": "face", "nonce": 12, "frames": [frame]}, "nonce"),
        ({"method": "face", "nonce": "short", "frames": [frame]}, "nonce"),
        ({"method": "face", "nonce": "x" * 20 + "/+=", "frames": [frame]}, "nonce"),
        ({"method": "face", "nonce": "x" * 65, "frames": [frame]}, "nonce"),
        ({"frames": None}, "frames"), ({"frames": "abc"}, "frames"), ({"frames": []}, "frames"),
        ({"frames": {"0": frame}}, "frames"), ({"frames": [frame] * 65}, "frames"), ({"frames": ["x"]}, "frames"),
        ({"frames": [{"image_jpeg_b64": good}]}, "frames"),
        ({"frames": [{**frame, "offset_s": "0"}]}, "frames"),
        ({"frames": [{**frame, "offset_s": True}]}, "frames"),
        ({"frames": [{**frame, "offset_s": -0.1}]}, "frames"),
        ({"frames": [{**frame, "offset_s": float("nan")}]}, "frames"),
        ({"frames": [{**frame, "offset_s": 1.0}, {**frame, "offset_s": 1.0}]}, "frames"),
        ({"frames": [{**frame, "offset_s": 2.0}, {**frame, "offset_s": 1.0}]}, "frames"),
        ({"frames": [{"offset_s": 0.0}]}, "frames"),
        ({"frames": [{"offset_s": 0.0, "image_jpeg_b64": 5}]}, "frames"),
        ({"frames": [{"offset_s": 0.0, "image_jpeg_b64": ""}]}, "frames"),
    ]
    ch = challenge_of(station)
    for over, field in shape_cases:
        body = {"method": "face", "nonce": ch["nonce"], **over}
        response = station.post("/checkin", body)
        assert response.status_code == 400, (over, response.get_json())
        payload = response.get_json()
        assert payload["error"] == "bad_field" and payload["field"] == field, (over, payload)
        assert CJK.search(payload["message"]), payload
    assert db.scalar(select(VrChallenge)).used_at is None
    # too big: one frame, all frames together
    big = base64.b64encode(b"\xff\xd8\xff" + bytes(600 * 1024)).decode()
    response = station.post("/checkin", {"method": "face", "nonce": ch["nonce"],
                                         "frames": [{"offset_s": 0.0, "image_jpeg_b64": big}]})
    assert response.status_code == 400 and response.get_json()["error"] == "bad_image"
    assert CJK.search(response.get_json()["message"]) and response.get_json()["frame"] == 0
    chunk = base64.b64encode(b"\xff\xd8\xff" + bytes(100 * 1024)).decode()
    response = station.post("/checkin", {"method": "face", "nonce": ch["nonce"],
                                         "frames": [{"offset_s": k / 5, "image_jpeg_b64": chunk}
                                                    for k in range(64)]})
    assert response.status_code == 400 and response.get_json()["error"] == "bad_image"
    assert db.scalar(select(VrChallenge)).used_at is None
    # refused once the challenge is taken (each case on a fresh one)
    taken_cases = [
        ([{"offset_s": 0.0, "image_jpeg_b64": "not base64!!"}], 400, "bad_image"),
        ([{"offset_s": 0.0, "image_jpeg_b64": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 100).decode()}],
         400, "bad_image"),
        ([{"offset_s": 0.0, "image_jpeg_b64": base64.b64encode(b"\xff\xd8\xff" + b"0" * 100).decode()}],
         400, "bad_image"),
        ([{"offset_s": 0.0, "image_jpeg_b64": jpeg_b64(noise)}], 400, "bad_image"),          # no face
        ([{"offset_s": 0.0, "image_jpeg_b64": jpeg_b64(scene(None))}], 400, "bad_image"),    # an empty room
        ([frame, {"offset_s": 0.5, "image_jpeg_b64": "!!"}], 400, "bad_image"),              # a later frame
        ([frame, {"offset_s": 99.0, "image_jpeg_b64": good}], 400, "bad_field"),             # past the duration
    ]
    for frames_, status, code in taken_cases:
        response = station.post("/checkin", {"method": "face", "nonce": challenge_of(station)["nonce"],
                                             "frames": frames_})
        assert response.status_code == status, (frames_[-1]["offset_s"], response.get_json())
        assert response.get_json()["error"] == code and CJK.search(response.get_json()["message"])
    # the station's other check-in fields
    for body, status, code in [({"method": "voice"}, 400, "bad_field"),
                               ({"method": "assignment", "assignment_id": "1"}, 400, "bad_field"),
                               ({"method": "assignment", "assignment_id": True}, 400, "bad_field"),
                               ({"method": "assignment", "assignment_id": 99999}, 404, "not_found")]:
        response = station.post("/checkin", body)
        assert response.status_code == status and response.get_json()["error"] == code
        assert CJK.search(response.get_json()["message"])
    assert station.c.post(f"{API}/checkin", data="[]", content_type="application/json",
                          headers=station.headers()).status_code == 400
    huge = station.c.post(f"{API}/checkin", data=b"x" * (10 * 1024 * 1024), content_type="application/json",
                          headers=station.headers())
    assert huge.status_code == 413
    assert station.c.post(f"{API}/checkin/challenge").status_code == 401          # no token
    db.expire_all()
    assert db.scalars(select(VrCheckIn)).all() == []


def test_checkin_is_rate_limited_per_station(app, db, officer, station):
    from webapp import create_app
    limited = create_app({**{k: app.config[k] for k in ("INSTANCE_DIR", "DATABASE_URL", "SECRET_KEY")},
                          "RATELIMIT_ENABLED": True, "VR_CHECKIN_RATE_LIMIT": "3 per minute"})
    try:
        first = Station(limited, station.token)
        codes = [first.post("/checkin", {"method": "voice"}).status_code for _ in range(5)]
        assert codes == [400, 400, 400, 429, 429]
        assert first.get("/ping").status_code == 200          # only check-ins are limited
        other = Station(limited, register(officer, name="北山所 VR 2"))
        assert other.post("/checkin", {"method": "voice"}).status_code == 400  # per station
    finally:
        limited.extensions["db_engine"].dispose()


# --- assignments ------------------------------------------------------------------------------

def test_assignment_checkin_and_session_marks_it_done(app, db, officer, station):
    zhangsan = user(db, "zhangsan")
    page = officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/assign",
                          data={"csrf_token": officer.token, "scene": "prison"}, follow_redirects=True)
    assert page.status_code == 200 and "监狱警示" in page.get_data(as_text=True)
    assignment = db.scalar(select(VrAssignment))
    listed = station.get("/assignments").get_json()["assignments"]
    assert [(a["id"], a["learner_id"], a["learner_name"], a["scene"]) for a in listed] == \
        [(assignment.id, zhangsan.id, "张三", "prison")]
    body = station.post("/checkin", {"method": "assignment", "assignment_id": assignment.id}).get_json()
    assert body == {"learner_id": zhangsan.id, "name": "张三", "distance": None, "verified": False,
                    "assignments": [{"id": assignment.id, "scene": "prison"}]}
    wrong_scene = station.post("/sessions", session_body(zhangsan.id, checkin="assignment",
                                                         assignment_id=assignment.id, scene="drunk"))
    assert wrong_scene.status_code == 400
    # the assignment only names the learner: unverified, stored, credited 0, the assignment still pending
    unverified = station.post("/sessions", session_body(zhangsan.id, checkin="assignment",
                                                        assignment_id=assignment.id))
    assert unverified.status_code == 201 and unverified.get_json()["credited_s"] == 0
    db.expire_all()
    assert db.get(VrAssignment, assignment.id).status == VrAssignmentStatus.PENDING
    assert db.scalar(select(VrSession)).credit_reason == "unverified"
    # the officer confirms on site: the station is told, the next session is verified and credited
    station_id = db.scalar(select(VrStation.id))
    assert confirm(officer, zhangsan.id, station_id).status_code == 303
    body = station.post("/checkin", {"method": "assignment", "assignment_id": assignment.id}).get_json()
    assert body["verified"] is True
    now = time.time()
    response = station.post("/sessions", session_body(zhangsan.id, checkin="assignment", assignment_id=assignment.id,
                                                      started_at=now - 300, ended_at=now - 5))
    assert response.status_code == 201 and response.get_json()["credited_s"] == pytest.approx(295, abs=0.01)
    db.expire_all()
    assert db.get(VrAssignment, assignment.id).status == VrAssignmentStatus.DONE
    assert station.get("/assignments").get_json() == {"assignments": []}
    # another session for an assignment already done is stored, but the same time is not credited twice
    again = station.post("/sessions", session_body(zhangsan.id, checkin="assignment", assignment_id=assignment.id,
                                                   started_at=now - 300, ended_at=now - 5))
    assert again.status_code == 201 and again.get_json()["credited_s"] == 0
    db.expire_all()
    assert db.scalar(select(VrSession).order_by(VrSession.id.desc())).credit_reason == "overlap"
    assert station.post("/checkin", {"method": "assignment", "assignment_id": assignment.id}).status_code == 409


def test_officer_cancels_a_pending_assignment(app, db, officer, station):
    zhangsan = user(db, "zhangsan")
    officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/assign", data={"csrf_token": officer.token,
                                                                        "scene": "rehab"})
    officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/assign", data={"csrf_token": officer.token,
                                                                        "scene": "rehab"})
    assignment = db.scalar(select(VrAssignment))
    assert len(db.scalars(select(VrAssignment)).all()) == 1    # a pending scene is not assigned twice
    assert officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/assign",
                          data={"scene": "rehab"}).status_code == 400  # no CSRF token
    assert officer.c.post(f"/officer/vr/assignments/{assignment.id}/cancel",
                          data={"csrf_token": officer.token}).status_code == 303
    db.expire_all()
    assert db.get(VrAssignment, assignment.id).status == VrAssignmentStatus.CANCELLED
    assert station.get("/assignments").get_json() == {"assignments": []}
    response = station.post("/checkin", {"method": "assignment", "assignment_id": assignment.id})
    assert response.status_code == 409
    # a session queued offline before the cancellation still arrives: stored and credited, nothing lost
    # (the officer had confirmed the learner at the station)
    assert confirm(officer, zhangsan.id, db.scalar(select(VrStation.id))).status_code == 303
    from webapp.vr.views import SCENES
    late_body = session_body(zhangsan.id, checkin="assignment", assignment_id=assignment.id, scene="rehab")
    late_body["stages"] = [{**stage, "id": key, "title": key}
                           for stage, key in zip(late_body["stages"] * 2, SCENES["rehab"]["stages"])]
    late = station.post("/sessions", late_body)
    assert late.status_code == 201 and late.get_json()["credited_s"] > 0, late.get_json()
    db.expire_all()
    assert db.get(VrAssignment, assignment.id).status == VrAssignmentStatus.CANCELLED


# --- sessions ---------------------------------------------------------------------------------

def test_a_complete_session_is_credited_in_the_month_and_idempotent(app, db, station, officer):
    zhangsan = user(db, "zhangsan")
    enrol(app, zhangsan.id)
    assert face_checkin(station).status_code == 200
    body = session_body(zhangsan.id)
    first = station.post("/sessions", body)
    assert first.status_code == 201, first.get_json()
    out = first.get_json()
    assert out["month"] == month_now(app) and out["credited_s"] == pytest.approx(390, abs=0.01)
    repeat = station.post("/sessions", body)
    assert repeat.status_code == 200 and repeat.get_json() == out
    db.expire_all()
    row = db.scalar(select(VrSession))
    assert row.checkin_verified is True and row.verified_checkin_id == db.scalar(select(VrCheckIn.id))
    entries = db.scalars(select(CreditEntry).where(CreditEntry.learner_id == zhangsan.id)).all()
    assert [(e.kind, e.month, round(e.credited_s), e.presence_source) for e in entries] == \
        [("vr", out["month"], 390, "vr_face")]
    assert credited_seconds_in_month(db, zhangsan.id, out["month"]) == pytest.approx(390, abs=0.01)
    # the officer's dashboard counts it (0.11 h) and the record shows the session
    assert "0.11" in officer.c.get("/officer/").get_data(as_text=True)
    record = officer.c.get(f"/officer/supervisee/{zhangsan.id}").get_data(as_text=True)
    assert "监狱警示" in record and "北山所 VR 1" in record and "1/2" in record and "6.5" in record
    assert "人脸活体签到" in record
    # an overlapping second session is stored but not credited twice
    overlap = station.post("/sessions", session_body(zhangsan.id))
    assert overlap.status_code == 201 and overlap.get_json()["credited_s"] == 0


def test_credit_is_capped_and_needs_every_stage_and_the_quiz(app, db, station, officer):
    zhangsan, lisi = user(db, "zhangsan"), user(db, "lisi")
    station_id = db.scalar(select(VrStation.id))
    for learner in (zhangsan, lisi):
        assert confirm(officer, learner.id, station_id).status_code == 303
    now = time.time()
    long = session_body(zhangsan.id, scene="drunk", started_at=now - 3000, ended_at=now - 5,
                        stages=[{"id": k, "title": k, "started_at": 0, "ended_at": 1, "completed": False}
                                for k in ("briefing", "sober_lap", "drinking", "drunk_lap", "crash", "police",
                                          "hospital", "court", "family")],
                        reaction_times={"sober": [1.2, 1.4], "drunk": [2.5, 2.9]})
    assert station.post("/sessions", long).get_json()["credited_s"] == pytest.approx(550 + 60)
    missing_stage = session_body(lisi.id)
    missing_stage["stages"] = missing_stage["stages"][:-1]
    assert station.post("/sessions", missing_stage).get_json()["credited_s"] == 0
    no_quiz = session_body(lisi.id, quiz={"questions": 0, "correct": 0, "answers": []})
    assert station.post("/sessions", no_quiz).get_json()["credited_s"] == 0
    unanswered = session_body(lisi.id, quiz={"questions": 3, "correct": 0, "answers": []})
    assert station.post("/sessions", unanswered).get_json()["credited_s"] == 0
    db.expire_all()
    assert db.scalar(select(VrSession).where(VrSession.learner_id == lisi.id)).credit_reason == "incomplete"
    assert [e.learner_id for e in db.scalars(select(CreditEntry))] == [zhangsan.id]


def test_every_session_field_is_validated(app, db, station):
    zhangsan, wangwu = user(db, "zhangsan"), user(db, "wangwu")
    now = time.time()
    stage = {"id": "arrival", "title": "入监", "started_at": 0, "ended_at": 1, "completed": True}
    bad = {
        "client_session_id": ["", "xyz", 5, uuid.uuid4().hex.upper(), str(uuid.uuid4()), None],
        "learner_id": [None, "1", True, 0, -3],
        "scene": [None, "casino", 3],
        "checkin": [None, "fingerprint", True],
        "assignment_id": ["1", 0, True, 1.5],
        "started_at": [None, "now", True, float("nan"), now - 9 * 86400, now + 3600],
        "ended_at": [None, "later", now - 500, now + 3600, float("inf")],
        "stages": [None, [], {}, [stage, stage], [{**stage, "id": "cell2"}], [{**stage, "ended_at": -1}],
                   [{**stage, "completed": "yes"}], [{**stage, "title": 5}], [{**stage, "started_at": "0"}],
                   [stage] * 31, ["arrival"]],
        "attention": [None, [], {"guard": 1.5}, {"guard": -0.1}, {"guard": "high"}, {"": 0.5}, {"a b": 0.5},
                      {f"k{i}": 0.1 for i in range(51)}, {"guard": True}],
        "reaction_times": [[], {"tipsy": []}, {"sober": "1.2"}, {"sober": [-1]}, {"sober": [99]},
                           {"sober": [0.5] * 51}, {"drunk": [None]}],
        "choices": [[], {"c": 1}, {"": "x"}, {"c": "x" * 201}, {f"c{i}": "x" for i in range(21)}],
        "quiz": [None, [], {"questions": -1, "correct": 0}, {"questions": 2, "correct": 3},
                 {"questions": 51, "correct": 0}, {"questions": "2", "correct": 0},
                 {"questions": 1, "correct": 0, "answers": "a"},
                 {"questions": 1, "correct": 0, "answers": [{"id": "q1", "answer": "a"}]},
                 {"questions": 1, "correct": 0, "answers": [{"id": "q1", "answer": "a", "correct": True}]},
                 {"questions": 1, "correct": 1, "answers": [{"id": "q1", "answer": "a", "correct": True}] * 2},
                 {"questions": 1, "correct": 1, "answers": [{"id": "", "answer": "a", "correct": True}]}],
    }
    for field, values in bad.items():
        for value in values:
            body = session_body(zhangsan.id, **{field: value})
            if field == "ended_at":
                body["started_at"] = now - 400
            response = station.post("/sessions", body)
            assert response.status_code in (400, 404), (field, value, response.get_json())
            payload = response.get_json()
            assert payload["error"] in ("bad_field", "not_found"), (field, value, payload)
            assert payload.get("field") == field, (field, value, payload)
            assert re.search(r"[\u4e00-\u9fff]", payload["message"])
    # the assignment check-in needs an assignment; a supervisee of another unit is not found
    assert station.post("/sessions", session_body(zhangsan.id, checkin="assignment")).get_json()["field"] == \
        "assignment_id"
    response = station.post("/sessions", session_body(wangwu.id))
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    assert station.post("/sessions", session_body(zhangsan.id, assignment_id=4242)).status_code == 404
    assert station.c.post(f"{API}/sessions", data="nope", content_type="application/json",
                          headers=station.headers()).get_json()["error"] == "bad_field"
    db.expire_all()
    assert db.scalars(select(VrSession)).all() == [] and db.scalars(select(CreditEntry)).all() == []


def test_verified_comes_from_a_checkin_record_not_from_audit_text(app, db, station):
    """A face check-in writes a vr_checkin row; an audit row that merely reads like one verifies nothing."""

    zhangsan = user(db, "zhangsan")
    enrol(app, zhangsan.id)
    assert face_checkin(station).status_code == 200
    db.expire_all()
    rows = db.scalars(select(VrCheckIn)).all()
    station_id = db.scalar(select(VrStation.id))
    assert [(r.learner_id, r.method, r.station_id, r.liveness) for r in rows] == \
        [(zhangsan.id, "face", station_id, True)]
    assert rows[0].distance is not None and rows[0].distance < 0.5
    db.query(VrCheckIn).delete()
    db.add(AuditLog(action="vr_checkin", target=f"user:{zhangsan.id}",
                    detail=f"station:{station_id} method:face distance:0.1000 threshold:0.500 liveness:passed"))
    db.commit()
    assert station.post("/sessions", session_body(zhangsan.id)).status_code == 201
    db.expire_all()
    assert db.scalar(select(VrSession)).checkin_verified is False


def test_a_session_id_of_another_station_conflicts(app, db, officer, station):
    second = Station(app, register(officer, name="北山所 VR 2"))
    body = session_body(user(db, "zhangsan").id)
    assert station.post("/sessions", body).status_code == 201
    db.expire_all()
    assert db.scalar(select(VrSession)).checkin_verified is False   # no face check-in before it
    response = second.post("/sessions", body)
    assert response.status_code == 409 and response.get_json()["error"] == "conflict"


# --- officer pages and jurisdiction -----------------------------------------------------------

def test_officers_of_another_township_see_nothing(app, db, client_for, officer, station):
    zhangsan = user(db, "zhangsan")
    officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/assign", data={"csrf_token": officer.token,
                                                                        "scene": "prison"})
    assert station.post("/sessions", session_body(zhangsan.id)).status_code == 201
    row = db.scalar(select(VrStation))
    assignment = db.scalar(select(VrAssignment))
    ly = client_for("officer_ly")
    listing = ly.c.get("/officer/vr/stations").get_data(as_text=True)
    assert "北山所 VR 1" not in listing and "北山街道司法所" not in listing
    assert ly.c.get(f"/officer/supervisee/{zhangsan.id}").status_code == 404
    assert ly.c.post(f"/officer/vr/stations/{row.id}/revoke", data={"csrf_token": ly.token}).status_code == 404
    assert ly.c.post(f"/officer/vr/assignments/{assignment.id}/cancel",
                     data={"csrf_token": ly.token}).status_code == 404
    assert ly.c.post(f"/officer/vr/supervisee/{zhangsan.id}/assign",
                     data={"csrf_token": ly.token, "scene": "prison"}).status_code == 404
    # a station cannot be registered for a unit outside the officer's subtree
    bs_unit = row.unit_id
    response = ly.c.post("/officer/vr/stations", data={"csrf_token": ly.token, "name": "x", "unit_id": bs_unit})
    assert response.status_code == 400
    db.expire_all()
    assert db.get(VrStation, row.id).revoked_at is None
    assert db.get(VrAssignment, assignment.id).status == VrAssignmentStatus.PENDING
    assert db.scalar(select(VrStation).where(VrStation.name == "x")) is None
    # the district officer above both townships sees the station
    assert "北山所 VR 1" in client_for("officer_xh").c.get("/officer/vr/stations").get_data(as_text=True)
    # a supervisee may not open the officer pages
    assert client_for("zhangsan").c.get("/officer/vr/stations").status_code == 403


def test_registration_needs_a_name(app, officer):
    response = officer.c.post("/officer/vr/stations", data={"csrf_token": officer.token, "name": " "})
    assert response.status_code == 400
    assert officer.c.post("/officer/vr/stations", data={"name": "no csrf"}).status_code == 400


# --- verified check-ins, the daily cap, old sessions (issue 11) --------------------------------------

def test_a_station_token_without_checkin_is_stored_and_shown_but_not_credited(app, db, station, officer):
    """Issue 11: three complete 50-minute drunk-scene sessions from a station token and no check-in
    were credited 3 x 610 = 1,830 s. Now each is stored, shown on the record, and credited 0 s."""
    zhangsan = user(db, "zhangsan")
    from webapp.vr.views import SCENES
    now = time.time()
    credited = []
    for k in range(3):
        started = now - 3 * 3100 + k * 3100
        body = session_body(zhangsan.id, scene="drunk", started_at=started, ended_at=started + 3000,
                            stages=[{"id": key, "title": key, "started_at": started, "ended_at": started + 60,
                                     "completed": True} for key in SCENES["drunk"]["stages"]])
        response = station.post("/sessions", body)
        assert response.status_code == 201, response.get_json()
        credited.append(response.get_json()["credited_s"])
    assert credited == [0, 0, 0]
    db.expire_all()
    rows = db.scalars(select(VrSession)).all()
    assert [(r.credit_reason, r.checkin_verified, r.credited_s) for r in rows] == [("unverified", False, 0.0)] * 3
    assert db.scalars(select(CreditEntry)).all() == []
    assert credited_seconds_in_month(db, zhangsan.id, month_now(app)) == 0
    record = officer.c.get(f"/officer/supervisee/{zhangsan.id}").get_data(as_text=True)
    table = record.split('id="vr-sessions"', 1)[1]
    assert table.count("醉驾警示") == 3 and table.count("未核验") >= 3
    assert "未计学时：在该设备上没有经核验的签到" in table
    audit_rows = db.scalars(select(AuditLog).where(AuditLog.action == "vr_session_posted")).all()
    assert len(audit_rows) == 3 and all("reason:unverified verified_by:none" in a.detail for a in audit_rows)


def test_officer_confirms_the_supervisee_at_the_station(app, db, client_for, officer, station):
    zhangsan = user(db, "zhangsan")
    row = db.scalar(select(VrStation))
    # the record offers the stations that serve the supervisee, with CSRF
    record = officer.c.get(f"/officer/supervisee/{zhangsan.id}").get_data(as_text=True)
    form = record.split('id="vr-confirm"', 1)[1].split("</form>", 1)[0]
    assert "北山所 VR 1" in form and 'name="csrf_token"' in form and f'value="{row.id}"' in form
    # no CSRF token, no station, a station that does not exist: nothing written
    assert officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/confirm",
                          data={"station_id": row.id}).status_code == 400
    for data in ({}, {"station_id": ""}, {"station_id": "abc"}, {"station_id": 99999}):
        response = officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/confirm",
                                  data={"csrf_token": officer.token, **data}, follow_redirects=True)
        assert response.status_code == 200 and "请选择辖区内为该社区矫正对象服务的在用VR设备" in \
            response.get_data(as_text=True)
    # another township's officer, a supervisee: refused; a supervisee outside the officer's subtree: 404
    ly = client_for("officer_ly")
    assert ly.c.post(f"/officer/vr/supervisee/{zhangsan.id}/confirm",
                     data={"csrf_token": ly.token, "station_id": row.id}).status_code == 404
    me = client_for("zhangsan")
    assert me.c.post(f"/officer/vr/supervisee/{zhangsan.id}/confirm",
                     data={"csrf_token": me.token, "station_id": row.id}).status_code == 403
    assert officer.c.post(f"/officer/vr/supervisee/{user(db, 'wangwu').id}/confirm",
                          data={"csrf_token": officer.token, "station_id": row.id}).status_code == 404
    # the district officer sees the 灵隐 station, but it does not serve a 北山 supervisee
    xh = client_for("officer_xh")
    ly_station = Station(app, register(ly, name="灵隐所 VR"))
    ly_id = db.scalar(select(VrStation.id).where(VrStation.name == "灵隐所 VR"))
    assert confirm(xh, zhangsan.id, ly_id).status_code == 303
    assert db.scalars(select(VrCheckIn)).all() == []
    # the confirmation: a row with the officer, an audit row, a message
    response = officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/confirm",
                              data={"csrf_token": officer.token, "station_id": row.id}, follow_redirects=True)
    assert response.status_code == 200 and "已确认：张三 在 北山所 VR 1" in response.get_data(as_text=True)
    db.expire_all()
    [checkin] = db.scalars(select(VrCheckIn)).all()
    officer_id = user(db, "officer_bs").id
    assert (checkin.method, checkin.learner_id, checkin.station_id, checkin.officer_id, checkin.liveness) == \
        ("officer", zhangsan.id, row.id, officer_id, None)
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "vr_checkin_officer"))
    assert entry.actor_id == officer_id and entry.target == f"user:{zhangsan.id}"
    assert f"station:{row.id} vr_checkin:{checkin.id}" in entry.detail
    # it verifies this station's session, credited with the officer as the source; not the 灵隐 station's
    response = station.post("/sessions", session_body(zhangsan.id))
    assert response.status_code == 201 and response.get_json()["credited_s"] == pytest.approx(390, abs=0.01)
    db.expire_all()
    session = db.scalar(select(VrSession))
    assert session.verified_checkin_id == checkin.id
    assert db.scalar(select(CreditEntry)).presence_source == "vr_officer"
    record = officer.c.get(f"/officer/supervisee/{zhangsan.id}").get_data(as_text=True)
    assert "民警 北山所 王警官 现场确认" in record.split('id="vr-sessions"', 1)[1]
    assert "民警 北山所 王警官 现场确认" in record.split('id="vr-checkins"', 1)[1].split("</table>", 1)[0]
    # a revoked station is offered no more
    assert officer.c.post(f"/officer/vr/stations/{row.id}/revoke", data={"csrf_token": officer.token}).status_code == 303
    assert confirm(officer, zhangsan.id, row.id).status_code == 303
    db.expire_all()
    assert len(db.scalars(select(VrCheckIn)).all()) == 1
    assert ly_station.get("/ping").status_code == 200


def test_an_officers_confirmation_counts_for_half_an_hour(app, db, officer, station):
    zhangsan = user(db, "zhangsan")
    assert confirm(officer, zhangsan.id, db.scalar(select(VrStation.id))).status_code == 303
    body = session_body(zhangsan.id)                     # starts 400 s ago
    db.expire_all()
    checkin = db.scalar(select(VrCheckIn))
    checkin.at = body["started_at"] - 1801               # confirmed 30 min and 1 s before it started
    db.commit()
    response = station.post("/sessions", body)
    assert response.status_code == 201 and response.get_json()["credited_s"] == 0
    checkin.at = body["started_at"] - 1799
    db.commit()
    response = station.post("/sessions", session_body(zhangsan.id))
    assert response.status_code == 201 and response.get_json()["credited_s"] == pytest.approx(390, abs=0.01)


def test_daily_cap_in_the_platforms_time_zone(app, db, officer, station):
    """VR_DAILY_CAP_S per learner per local day (TIMEZONE): 600 s here. Three verified 390 s sessions
    of one day: 390, 210 (the cap), 0; one of the day before is not counted against today."""
    from datetime import timezone as tz
    now = time.time()
    utc_hour = datetime.fromtimestamp(now, tz.utc).hour
    offset = 12 - utc_hour                         # a zone where it is 12:00-12:59 now, far from midnight
    offset = offset - 24 if offset > 12 else offset
    app.config["BABEL_DEFAULT_TIMEZONE"] = f"Etc/GMT{'-' if offset >= 0 else '+'}{abs(offset)}"
    app.config["VR_DAILY_CAP_S"] = 600.0
    zhangsan = user(db, "zhangsan")
    station_id = db.scalar(select(VrStation.id))
    assert confirm(officer, zhangsan.id, station_id).status_code == 303
    db.expire_all()
    confirmation = db.scalar(select(VrCheckIn))
    confirmation.at = now - 1400                   # confirmed before the first session started
    db.commit()
    got = []
    for k in range(3):
        started = now - 1300 + k * 420
        body = session_body(zhangsan.id, started_at=started, ended_at=started + 390)
        response = station.post("/sessions", body)
        assert response.status_code == 201, response.get_json()
        got.append(round(response.get_json()["credited_s"], 3))
    assert got == [390.0, 210.0, 0.0]
    db.expire_all()
    assert [r.credit_reason for r in db.scalars(select(VrSession).order_by(VrSession.started_at))] == \
        ["credited", "daily_cap", "daily_cap"]
    assert sum(e.credited_s for e in db.scalars(select(CreditEntry))) == pytest.approx(600.0)
    # yesterday (14 h ago: it is 12:00-12:59 here, so 22:00-22:59 yesterday), confirmed then: its own day's cap
    yesterday = now - 14 * 3600
    db.add(VrCheckIn(station_id=station_id, learner_id=zhangsan.id, method="officer",
                     officer_id=user(db, "officer_bs").id, at=yesterday - 60))
    db.commit()
    response = station.post("/sessions", session_body(zhangsan.id, started_at=yesterday, ended_at=yesterday + 390))
    assert response.status_code == 201 and response.get_json()["credited_s"] == pytest.approx(390.0)
    record = officer.c.get(f"/officer/supervisee/{zhangsan.id}").get_data(as_text=True)
    assert "仅按每日VR学时上限计入" in record


def test_old_sessions_are_refused(app, db, officer, station):
    zhangsan = user(db, "zhangsan")
    assert confirm(officer, zhangsan.id, db.scalar(select(VrStation.id))).status_code == 303
    now = time.time()
    # backdated 7 days (the measured attack), and just over the default 24 h
    for ended in (now - 7 * 86400, now - 86400 - 60):
        response = station.post("/sessions", session_body(zhangsan.id, started_at=ended - 390, ended_at=ended))
        assert response.status_code == 422, response.get_json()
        body = response.get_json()
        assert (body["error"], body["field"], body["max_age_s"]) == ("too_old", "ended_at", 86400.0)
        assert "24 小时" in body["message"]
    # configurable: 1 h
    app.config["VR_MAX_AGE_S"] = 3600.0
    response = station.post("/sessions", session_body(zhangsan.id, started_at=now - 7600, ended_at=now - 7200))
    assert response.status_code == 422 and response.get_json()["error"] == "too_old"
    assert "1 小时" in response.get_json()["message"]
    db.expire_all()
    assert db.scalars(select(VrSession)).all() == [] and db.scalars(select(CreditEntry)).all() == []
    # within the age: accepted (and credited: the confirmation is recent)
    assert station.post("/sessions", session_body(zhangsan.id)).get_json()["credited_s"] > 0


# --- session payload version 2: outcome, emergency stop, attitude questionnaire (issue 15) ------------

DRUNK_BEFORE = {"drunk_risk": 3, "drunk_little_ok": 4, "drunk_refuse": 2, "drunk_intention": 3}   # 3+2+2+3 = 2.5
DRUNK_AFTER = {"drunk_risk": 5, "drunk_little_ok": 1, "drunk_refuse": 4, "drunk_intention": 5}    # 5+5+4+5 = 4.75


def drunk_v2(learner, before=DRUNK_BEFORE, after=DRUNK_AFTER, **over):
    from webapp.vr.views import SCENES
    now = time.time()
    started = now - 600
    body = session_body(learner, scene="drunk", started_at=started, ended_at=now - 10,
                        stages=[{"id": k, "title": k, "started_at": started + 60 * i,
                                 "ended_at": started + 60 * (i + 1), "completed": True}
                                for i, k in enumerate(SCENES["drunk"]["stages"])],
                        api_version=2, outcome="completed", progress=1.0,
                        questionnaire={"before": before, "after": after})
    body.update(over)
    return body


def effect_rows(html: str, table_id: str) -> list[list[str]]:
    table = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)
            if "<td>" in row]


def test_v2_session_with_questionnaire_is_stored_credited_and_shown(app, db, officer, station):
    zhangsan = user(db, "zhangsan")
    assert confirm(officer, zhangsan.id, db.scalar(select(VrStation.id))).status_code == 303
    body = drunk_v2(zhangsan.id)
    response = station.post("/sessions", body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["credited_s"] == pytest.approx(590, abs=0.01)
    db.expire_all()
    row = db.scalar(select(VrSession))
    assert (row.api_version, row.outcome, row.progress, row.credit_reason) == (2, "completed", 1.0, "credited")
    assert (row.attitude_before, row.attitude_after) == (2.5, 4.75)
    import json
    assert json.loads(row.attitude_json) == {"before": DRUNK_BEFORE, "after": DRUNK_AFTER}
    record = officer.c.get(f"/officer/supervisee/{zhangsan.id}").get_data(as_text=True)
    assert "态度问卷：体验前 2.50，体验后 4.75，变化 +2.25" in record
    assert effect_rows(record, "vr-effects") == [["醉驾警示", "1", "2.50", "4.75", "+2.25"]]
    assert station.get("/ping").get_json()["session_versions"] == [1, 2]


def test_v1_session_from_an_old_outbox_is_still_taken_and_credited(app, db, officer, station):
    zhangsan = user(db, "zhangsan")
    assert confirm(officer, zhangsan.id, db.scalar(select(VrStation.id))).status_code == 303
    body = session_body(zhangsan.id)          # no api_version, outcome or questionnaire
    assert "api_version" not in body
    response = station.post("/sessions", body)
    assert response.status_code == 201 and response.get_json()["credited_s"] == pytest.approx(390, abs=0.01)
    db.expire_all()
    row = db.scalar(select(VrSession))
    assert (row.api_version, row.outcome, row.attitude_before, row.credit_reason) == (1, None, None, "credited")
    # v1 with version-2 fields: they are not read (a v1 station never sent them)
    again = session_body(user(db, "lisi").id, api_version=1, outcome="stopped", questionnaire="x")
    assert station.post("/sessions", again).status_code == 201


def test_emergency_stop_is_stored_shown_and_not_credited(app, db, officer, station):
    zhangsan = user(db, "zhangsan")
    officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/assign", data={"csrf_token": officer.token,
                                                                        "scene": "drunk"})
    assignment = db.scalar(select(VrAssignment))
    assert confirm(officer, zhangsan.id, db.scalar(select(VrStation.id))).status_code == 303
    body = drunk_v2(zhangsan.id, after=None, outcome="stopped", progress=0.42, assignment_id=assignment.id,
                    quiz={"questions": 4, "correct": 0, "answers": []})
    body["stages"] = body["stages"][:3]
    response = station.post("/sessions", body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["credited_s"] == 0
    db.expire_all()
    row = db.scalar(select(VrSession))
    assert (row.outcome, row.progress, row.credit_reason, row.checkin_verified) == ("stopped", 0.42, "stopped", True)
    assert (row.attitude_before, row.attitude_after) == (2.5, None)
    assert db.scalars(select(CreditEntry)).all() == []
    assert db.get(VrAssignment, assignment.id).status == VrAssignmentStatus.PENDING
    record = officer.c.get(f"/officer/supervisee/{zhangsan.id}").get_data(as_text=True)
    table = record.split('id="vr-sessions"', 1)[1]
    assert "紧急停止" in table and "进度 42%" in table and "未计学时：操作员紧急停止" in table
    assert "尚无体验前后均已作答的问卷" in record.split('id="vr-effects"', 1)[1]


def test_invalid_v2_sessions_are_refused_with_json_errors(app, db, station):
    zhangsan = user(db, "zhangsan")
    cases = [
        ({"api_version": 3}, "api_version", {}),
        ({"api_version": "2"}, "api_version", {}),
        ({"outcome": "exploded"}, "outcome", {}),
        ({"outcome": None}, "outcome", {}),
        ({"progress": 1.5}, "progress", {}),
        ({"progress": "half"}, "progress", {}),
        ({"questionnaire": None}, "questionnaire", {"reason": "not_object"}),
        ({"questionnaire": {"after": DRUNK_AFTER}}, "questionnaire", {"reason": "missing_half", "half": "before"}),
        ({"questionnaire": {"before": DRUNK_BEFORE}}, "questionnaire", {"reason": "missing_half", "half": "after"}),
        ({"questionnaire": {"before": DRUNK_BEFORE, "after": {**DRUNK_AFTER, "drunk_risk": 6}}}, "questionnaire",
         {"reason": "out_of_range", "half": "after", "item": "drunk_risk"}),
        ({"questionnaire": {"before": {**DRUNK_BEFORE, "drunk_risk": 0}, "after": DRUNK_AFTER}}, "questionnaire",
         {"reason": "out_of_range", "half": "before", "item": "drunk_risk"}),
        ({"questionnaire": {"before": {**DRUNK_BEFORE, "prison_freedom": 3}, "after": DRUNK_AFTER}},
         "questionnaire", {"reason": "unknown_item", "half": "before", "item": "prison_freedom"}),
        ({"questionnaire": {"before": DRUNK_BEFORE, "after": {"drunk_risk": 5}}}, "questionnaire",
         {"reason": "missing_item", "half": "after", "item": "drunk_little_ok"}),
        ({"questionnaire": {"before": DRUNK_BEFORE, "after": [5, 1, 4, 5]}}, "questionnaire",
         {"reason": "not_object", "half": "after"}),
    ]
    for over, field, extra in cases:
        response = station.post("/sessions", drunk_v2(zhangsan.id, **over))
        out = response.get_json()
        assert response.status_code == 400 and out["error"] == "bad_field" and out["field"] == field, (over, out)
        assert CJK.search(out["message"]), out
        assert {k: out.get(k) for k in extra} == extra, (over, out)
    assert db.scalars(select(VrSession)).all() == []


def test_unit_effect_is_the_mean_within_the_officers_jurisdiction(app, db, client_for, officer, station):
    zhangsan, lisi, wangwu = user(db, "zhangsan"), user(db, "lisi"), user(db, "wangwu")
    lisi_before = {"drunk_risk": 3, "drunk_little_ok": 3, "drunk_refuse": 3, "drunk_intention": 3}   # 3.0
    lisi_after = {"drunk_risk": 4, "drunk_little_ok": 2, "drunk_refuse": 3, "drunk_intention": 4}    # 4+4+3+4 = 3.75
    assert station.post("/sessions", drunk_v2(zhangsan.id)).status_code == 201               # 2.5 -> 4.75
    assert station.post("/sessions", drunk_v2(lisi.id, lisi_before, lisi_after)).status_code == 201
    stopped = drunk_v2(lisi.id, after=None, outcome="stopped", progress=0.1)                 # no after: left out
    assert station.post("/sessions", stopped).status_code == 201
    ly = client_for("officer_ly")
    ly_station = Station(app, register(ly, name="灵隐所 VR 1"))
    worst = {"drunk_risk": 1, "drunk_little_ok": 5, "drunk_refuse": 1, "drunk_intention": 1}     # 1.0
    best = {"drunk_risk": 5, "drunk_little_ok": 1, "drunk_refuse": 5, "drunk_intention": 5}      # 5.0
    assert ly_station.post("/sessions", drunk_v2(wangwu.id, worst, best)).status_code == 201
    # 北山: (2.5 + 3.0) / 2 = 2.75 before, (4.75 + 3.75) / 2 = 4.25 after, +1.50, n = 2
    page = officer.c.get("/officer/vr/stations").get_data(as_text=True)
    assert effect_rows(page, "vr-unit-effects") == [["醉驾警示", "2", "2.75", "4.25", "+1.50"]]
    # 灵隐 sees only wangwu: 1.00 -> 5.00
    page = ly.c.get("/officer/vr/stations").get_data(as_text=True)
    assert effect_rows(page, "vr-unit-effects") == [["醉驾警示", "1", "1.00", "5.00", "+4.00"]]
    # the district: (2.5 + 3.0 + 1.0) / 3 = 2.1667, (4.75 + 3.75 + 5.0) / 3 = 4.5, change 2.3333
    xh = client_for("officer_xh")
    assert effect_rows(xh.c.get("/officer/vr/stations").get_data(as_text=True), "vr-unit-effects") == \
        [["醉驾警示", "3", "2.17", "4.50", "+2.33"]]
    bs_unit = db.scalar(select(VrStation.unit_id).where(VrStation.name == "北山所 VR 1"))
    narrowed = xh.c.get(f"/officer/vr/stations?unit={bs_unit}").get_data(as_text=True)
    assert effect_rows(narrowed, "vr-unit-effects") == [["醉驾警示", "2", "2.75", "4.25", "+1.50"]]
    # another township's officer cannot ask for 北山's figures, nor see its supervisees' records
    assert ly.c.get(f"/officer/vr/stations?unit={bs_unit}").status_code == 404
    assert ly.c.get("/officer/vr/stations?unit=x").status_code == 400
    assert ly.c.get(f"/officer/supervisee/{zhangsan.id}").status_code == 404
