"""The VR station API (docs/vr_station_api.md) and the officer's VR pages, against the real app on SQLite,
with the real face models on real photos (proctoring.sample_faces) for the face check-in."""
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
from webapp.models import (AuditLog, CreditEntry, FaceEnrolment, VrAssignment, VrAssignmentStatus, VrSession,
                           VrStation)
from webapp.study.service import credited_seconds_in_month

API = "/api/vr/v1"
PRISON_STAGES = ["arrival", "cell", "regime", "visiting", "door"]


def jpeg_b64(rgb: np.ndarray) -> str:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="JPEG", quality=90)
    return base64.b64encode(out.getvalue()).decode()


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
    response = other.post("/checkin", {"method": "face", "image_jpeg_b64": jpeg_b64(scene(ENROLLED))})
    assert response.status_code == 422 and response.get_json()["error"] == "no_match"


# --- face check-in ----------------------------------------------------------------------------

def test_face_checkin_matches_the_enrolled_supervisee(app, db, station):
    zhangsan, lisi = user(db, "zhangsan"), user(db, "lisi")
    enrol(app, zhangsan.id, ENROLLED)
    response = station.post("/checkin", {"method": "face", "image_jpeg_b64": jpeg_b64(scene(ENROLLED))})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["learner_id"] == zhangsan.id and body["name"] == "张三" and body["assignments"] == []
    from proctoring.vision import IDENTITY_THRESHOLD
    assert 0 <= body["distance"] <= (app.config["IDENTITY_THRESHOLD"] or IDENTITY_THRESHOLD)
    # an impostor is nobody of the unit, even with a second enrolled person to be confused with
    enrol(app, lisi.id, "camera")
    response = station.post("/checkin", {"method": "face", "image_jpeg_b64": jpeg_b64(scene(IMPOSTOR))})
    assert response.status_code == 422 and response.get_json()["error"] == "no_match"
    # nothing but audit rows: no image stored anywhere
    db.expire_all()
    actions = [a.action for a in db.scalars(select(AuditLog).where(AuditLog.action.like("vr_checkin%")))]
    assert actions == ["vr_checkin", "vr_checkin_refused"]
    matched = db.scalar(select(AuditLog).where(AuditLog.action == "vr_checkin"))
    assert matched.target == f"user:{zhangsan.id}" and "distance:" in matched.detail


def test_the_same_face_enrolled_for_two_supervisees_matches_nobody(app, db, station):
    enrol(app, user(db, "zhangsan").id, ENROLLED)
    enrol(app, user(db, "lisi").id, ENROLLED)
    response = station.post("/checkin", {"method": "face", "image_jpeg_b64": jpeg_b64(scene(ENROLLED))})
    assert response.status_code == 422 and response.get_json()["error"] == "no_match"
    db.expire_all()
    refused = db.scalar(select(AuditLog).where(AuditLog.action == "vr_checkin_refused"))
    assert "result:ambiguous" in refused.detail


def test_face_checkin_refuses_bad_images(app, db, station):
    enrol(app, user(db, "zhangsan").id)
    noise = np.random.default_rng(3).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    cases = [
        ({"method": "face", "image_jpeg_b64": jpeg_b64(noise)}, 400, "bad_image"),
        ({"method": "face", "image_jpeg_b64": jpeg_b64(scene(None))}, 400, "bad_image"),
        ({"method": "face", "image_jpeg_b64": "not base64!!"}, 400, "bad_image"),
        ({"method": "face", "image_jpeg_b64": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 100).decode()},
         400, "bad_image"),
        ({"method": "face", "image_jpeg_b64": base64.b64encode(b"\xff\xd8\xff" + b"0" * 100).decode()},
         400, "bad_image"),
        ({"method": "face", "image_jpeg_b64": base64.b64encode(b"\xff\xd8\xff" + bytes(2 * 1024 * 1024)).decode()},
         400, "bad_image"),
        ({"method": "face"}, 400, "bad_field"),
        ({"method": "face", "image_jpeg_b64": 12}, 400, "bad_field"),
        ({"method": "voice"}, 400, "bad_field"),
        ({"method": "assignment", "assignment_id": "1"}, 400, "bad_field"),
        ({"method": "assignment", "assignment_id": True}, 400, "bad_field"),
        ({"method": "assignment", "assignment_id": 99999}, 404, "not_found"),
    ]
    for body, status, code in cases:
        response = station.post("/checkin", body)
        assert response.status_code == status, (body.get("method"), response.get_json())
        assert response.get_json()["error"] == code
        assert re.search(r"[\u4e00-\u9fff]", response.get_json()["message"])
    assert station.c.post(f"{API}/checkin", data="[]", content_type="application/json",
                          headers=station.headers()).status_code == 400
    huge = station.c.post(f"{API}/checkin", data=b"x" * (5 * 1024 * 1024), content_type="application/json",
                          headers=station.headers())
    assert huge.status_code == 413


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
    assert body == {"learner_id": zhangsan.id, "name": "张三", "distance": None,
                    "assignments": [{"id": assignment.id, "scene": "prison"}]}
    wrong_scene = station.post("/sessions", session_body(zhangsan.id, checkin="assignment",
                                                         assignment_id=assignment.id, scene="drunk"))
    assert wrong_scene.status_code == 400
    response = station.post("/sessions", session_body(zhangsan.id, checkin="assignment",
                                                      assignment_id=assignment.id))
    assert response.status_code == 201
    db.expire_all()
    assert db.get(VrAssignment, assignment.id).status == VrAssignmentStatus.DONE
    assert station.get("/assignments").get_json() == {"assignments": []}
    # another session for an assignment already done is stored, but the same time is not credited twice
    again = station.post("/sessions", session_body(zhangsan.id, checkin="assignment", assignment_id=assignment.id))
    assert again.status_code == 201 and again.get_json()["credited_s"] == 0
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
    assert station.post("/checkin", {"method": "face", "image_jpeg_b64": jpeg_b64(scene(ENROLLED))}).status_code == 200
    body = session_body(zhangsan.id)
    first = station.post("/sessions", body)
    assert first.status_code == 201, first.get_json()
    out = first.get_json()
    assert out["month"] == month_now(app) and out["credited_s"] == pytest.approx(390, abs=0.01)
    repeat = station.post("/sessions", body)
    assert repeat.status_code == 200 and repeat.get_json() == out
    db.expire_all()
    assert db.scalar(select(VrSession)).checkin_verified is True
    entries = db.scalars(select(CreditEntry).where(CreditEntry.learner_id == zhangsan.id)).all()
    assert [(e.kind, e.month, round(e.credited_s)) for e in entries] == [("vr", out["month"], 390)]
    assert credited_seconds_in_month(db, zhangsan.id, out["month"]) == pytest.approx(390, abs=0.01)
    # the officer's dashboard counts it (0.11 h) and the record shows the session
    assert "0.11" in officer.c.get("/officer/").get_data(as_text=True)
    record = officer.c.get(f"/officer/supervisee/{zhangsan.id}").get_data(as_text=True)
    assert "监狱警示" in record and "北山所 VR 1" in record and "1/2" in record and "6.5" in record
    # an overlapping second session is stored but not credited twice
    overlap = station.post("/sessions", session_body(zhangsan.id))
    assert overlap.status_code == 201 and overlap.get_json()["credited_s"] == 0


def test_credit_is_capped_and_needs_every_stage_and_the_quiz(app, db, station):
    zhangsan, lisi = user(db, "zhangsan"), user(db, "lisi")
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
    from webapp.models import AuditLog, VrCheckIn

    zhangsan = user(db, "zhangsan")
    enrol(app, zhangsan.id)
    assert station.post("/checkin", {"method": "face", "image_jpeg_b64": jpeg_b64(scene(ENROLLED))}).status_code == 200
    db.expire_all()
    rows = db.scalars(select(VrCheckIn)).all()
    station_id = db.scalar(select(VrStation.id))
    assert [(r.learner_id, r.method, r.station_id) for r in rows] == [(zhangsan.id, "face", station_id)]
    assert rows[0].distance is not None and rows[0].distance < 0.5
    db.query(VrCheckIn).delete()
    db.add(AuditLog(action="vr_checkin", target=f"user:{zhangsan.id}",
                    detail=f"station:{station_id} method:face distance:0.1000 threshold:0.500"))
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
