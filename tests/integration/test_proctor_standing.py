"""A learner's proctoring standing across sittings (ProctorStanding): kept from the check runner's
Standing actions, carried into the next sitting's camera, asked to be reviewed by the learner,
cleared by an officer of the learner's jurisdiction or by re-enrolling the face; and the flag page
that tells the whole story (every check of the sitting, distances, challenge steps, repeats).

A real app on a real SQLite file (tests/conftest.py), logged in through the real form, the
Socket.IO handlers through flask_socketio's test client. No WebRTC: the runner behind the
signalling is a real CheckRunner that is never started, with only its media engine's
`open_ingest` replaced (it would negotiate a real peer connection), so `CheckRunner.open` itself
builds the sitting's checks from what the handler passed. Every expected value below is written
by hand (times: 1_780_272_000 is 2026-06-01 00:00:00 UTC, 08:00:00 in Asia/Shanghai).
"""
from __future__ import annotations

import io
import json
import time
from datetime import datetime

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select, update

from proctoring.sitting import Flag, SittingChecks, Standing, Verdict
from tests.conftest import make_course, user
from webapp.extensions import socketio
from webapp.models import (AuditLog, FaceEnrolment, FlagStatus, ProctorCheck, ProctorFlag, ProctorStanding,
                           StudySession, utcnow)

T0 = 1_780_272_000.0      # 2026-06-01 08:00:00 Asia/Shanghai

# A plausible browser offer (one sending video m-line, VP8, ICE credentials, DTLS fingerprint).
OFFER = "\r\n".join([
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
    "a=msid-semantic: WMS", "m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:0", "a=sendonly",
    "a=rtcp-mux", "a=rtpmap:96 VP8/90000", ""])


# --- helpers --------------------------------------------------------------------------------------

@pytest.fixture
def course(app, db):
    return make_course(app, db, duration=600.0, assign_to=("zhangsan", "lisi"))


def enrol(app, db, learner_id: int) -> None:
    """An active reference face (an encrypted embedding, as an officer's enrolment stores it)."""
    with app.app_context():
        from webapp.core.face_crypto import encrypt_embedding
        blob = encrypt_embedding(np.linspace(-0.1, 0.1, 128, dtype=np.float32))
    db.add(FaceEnrolment(user_id=learner_id, embedding_enc=blob, source="upload", quality_json="{}", active=True))
    db.commit()


def camera_sitting(app, db, client, course) -> str:
    """A sitting the learner consented to the camera for (through the real study API)."""
    app.config["PROCTORING_REQUIRED"] = True
    answer = client.api("/api/study/start", {"course_id": course.id, "camera_consent": True})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["session_id"]


def set_standing(db, learner_id: int, **values) -> None:
    row = db.get(ProctorStanding, learner_id)
    if row is None:
        row = ProctorStanding(learner_id=learner_id, failures=0, not_before=0.0, review_message="")
        db.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    db.commit()


def standing(db, learner_id: int) -> ProctorStanding | None:
    db.expire_all()
    return db.get(ProctorStanding, learner_id)


def audits(db, action: str) -> list[AuditLog]:
    db.expire_all()
    return db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


def review_flags(db, learner_id: int) -> list[ProctorFlag]:
    db.expire_all()
    return db.scalars(select(ProctorFlag).where(ProctorFlag.learner_id == learner_id,
                                                ProctorFlag.kind == "review_requested")).all()


def connect(app, client):
    sio = socketio.test_client(app, flask_test_client=client.c)
    assert sio.is_connected()
    return sio


def events(sio, name: str) -> list:
    return [e["args"][0] for e in sio.get_received() if e["name"] == name]


@pytest.fixture
def idle_runner(app, monkeypatch):
    """The app's CheckRunner, real but never started; its engine answers offers with a fixed SDP."""
    from webapp.proctor.check_runner import CheckRunner
    from webapp.proctor.hub import _Persist, check_policy, rtc_config
    cfg = app.config
    found = CheckRunner(rtc_config(cfg), check_policy(cfg), cfg["SECRET_KEY"].encode(), _Persist(app),
                        identity_processes=0)
    monkeypatch.setattr(found.engine, "open_ingest", lambda stream_id, sdp: "v=0 answer")
    app.extensions["proctor_runner"] = found
    yield found
    app.extensions.pop("proctor_runner", None)


def persist(app, sitting_id: str, learner_id: int, actions: list) -> None:
    """Actions of a sitting through the app's runner sink, as the runner hands them over."""
    from webapp.proctor.check_runner import Sitting
    from webapp.proctor.hub import _Persist
    checks = SittingChecks(b"secret", sitting_id, time.time())
    _Persist(app)(Sitting(sitting_id, learner_id, [], checks), actions, None)


# --- kept from the runner ----------------------------------------------------------------------------

def test_standing_actions_are_kept_with_the_checks_they_came_with(app, db, client_for, course):
    learner = user(db, "zhangsan")
    enrol(app, db, learner.id)
    sid = camera_sitting(app, db, client_for("zhangsan"), course)
    assert standing(db, learner.id) is None

    persist(app, sid, learner.id, [
        Verdict("identity", T0, T0 + 2, False, "distance above threshold", {"distance": 0.7, "threshold": 0.51}),
        Flag("identity_mismatch", T0 + 2, {"distance": 0.7}),
        Standing(1, T0 + 2, False)])
    row = standing(db, learner.id)
    assert (row.failures, row.not_before, row.blocked_at) == (1, T0 + 2, None)
    # the check and the flag of the same batch are there too
    assert db.scalar(select(func.count()).select_from(ProctorCheck).where(ProctorCheck.session_id == sid)) == 1
    assert db.scalar(select(ProctorFlag.kind).where(ProctorFlag.session_id == sid)) == "identity_mismatch"

    persist(app, sid, learner.id, [Standing(6, T0 + 300, True)])
    row = standing(db, learner.id)
    assert row.failures == 6 and row.not_before == T0 + 300 and row.blocked_at is not None
    blocked_at = row.blocked_at
    persist(app, sid, learner.id, [Standing(7, T0 + 600, True)])
    assert standing(db, learner.id).blocked_at == blocked_at          # held since the first time

    set_standing(db, learner.id, review_requested_at=blocked_at, review_message="请复核")
    persist(app, sid, learner.id, [Standing(0, 0.0, False)])          # a pass clears everything
    row = standing(db, learner.id)
    assert (row.failures, row.not_before, row.blocked_at, row.review_requested_at, row.review_message) == \
        (0, 0.0, None, None, "")


def test_a_standing_from_an_ended_sitting_is_not_kept(app, db, client_for, course):
    learner = user(db, "zhangsan")
    enrol(app, db, learner.id)
    sid = camera_sitting(app, db, client_for("zhangsan"), course)
    db.execute(update(StudySession).where(StudySession.id == sid).values(ended_at=T0, end_reason="finished"))
    db.commit()
    persist(app, sid, learner.id, [Standing(3, T0 + 20, False)])
    assert standing(db, learner.id) is None


# --- carried into the next sitting --------------------------------------------------------------------

def test_open_args_default_to_a_clean_standing():
    from webapp.proctor.standing import open_args
    assert open_args(None) == {"failures": 0, "not_before": 0.0}
    assert open_args(ProctorStanding(learner_id=1, failures=3, not_before=T0)) == {"failures": 3, "not_before": T0}


def test_a_new_sitting_starts_with_the_learners_failures_and_wait(app, db, client_for, course, idle_runner):
    learner = user(db, "zhangsan")
    enrol(app, db, learner.id)
    client = client_for("zhangsan")
    sid = camera_sitting(app, db, client, course)
    wait_until = time.time() + 120
    set_standing(db, learner.id, failures=3, not_before=wait_until)
    sio = connect(app, client)
    answer = sio.emit("rtc_offer", {"session_id": sid, "sdp": OFFER, "type": "offer"}, callback=True)
    # the answer names the frame rate the page starts at: the baseline (proctoring.camera_rate)
    assert answer == {"ok": True, "sdp": "v=0 answer", "type": "answer",
                      "camera": {"state": "camera", "fps": 1.0, "height": 240, "raised": False}}
    checks = idle_runner._sittings[sid].checks
    assert checks.failures == 3 and checks.recheck_not_before == wait_until
    assert checks.hold == "unverified" and checks.check is None        # no check before the wait is over
    assert not idle_runner.blocked(sid)


def test_a_learner_held_for_review_starts_held_and_cannot_verify_again(app, db, client_for, course, idle_runner):
    learner = user(db, "zhangsan")
    enrol(app, db, learner.id)
    client = client_for("zhangsan")
    sid = camera_sitting(app, db, client, course)
    set_standing(db, learner.id, failures=6, not_before=time.time() - 1)      # PROCTOR_BLOCK_AFTER = 6
    sio = connect(app, client)
    assert sio.emit("rtc_offer", {"session_id": sid, "sdp": OFFER, "type": "offer"}, callback=True)["ok"] is True
    assert idle_runner.blocked(sid)
    assert sio.emit("proctor_state", {"session_id": sid}, callback=True) == {"ok": True, "hold": "review"}
    answer = sio.emit("proctor_recheck", {"session_id": sid}, callback=True)
    assert answer["error"] == "review"
    assert "须经工作人员复核后才能重新核验" in answer["message"] and "申请复核" in answer["message"]


# --- the learner asks for a review ----------------------------------------------------------------------

def test_review_request_needs_something_to_review(app, db, client_for):
    learner = user(db, "zhangsan")
    answer = client_for("zhangsan").api("/api/proctor/review-request", {"message": "请复核"})
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["error"] == "nothing_to_review" and "没有需要工作人员复核的内容" in body["message"]
    assert review_flags(db, learner.id) == [] and standing(db, learner.id) is None
    assert audits(db, "proctor_review_requested") == []


@pytest.mark.parametrize("body, code", [
    ({"message": "字" * 501}, "too_long"),
    ({"message": 5}, "bad_field"),
    ([1, 2], "bad_json"),
])
def test_bad_review_requests_get_a_clear_json_error(app, db, client_for, body, code):
    learner = user(db, "zhangsan")
    set_standing(db, learner.id, failures=2, not_before=T0)
    answer = client_for("zhangsan").api("/api/proctor/review-request", body)
    assert answer.status_code == 400 and answer.get_json()["error"] == code
    assert answer.get_json()["message"]
    assert review_flags(db, learner.id) == []


def test_review_request_without_csrf_is_refused(app, db, client_for):
    learner = user(db, "zhangsan")
    set_standing(db, learner.id, failures=2, not_before=T0)
    client = client_for("zhangsan")
    answer = client.c.post("/api/proctor/review-request", json={"message": "x"})
    assert answer.status_code == 400 and answer.get_json()["error"] == "csrf"
    assert review_flags(db, learner.id) == []


def test_review_requests_make_one_flag_that_alerts_the_officer_once(app, db, client_for):
    learner = user(db, "zhangsan")
    set_standing(db, learner.id, failures=6, not_before=T0, blocked_at=None)
    officer_socket = connect(app, client_for("officer_bs"))
    client = client_for("zhangsan")

    first = client.api("/api/proctor/review-request", {"message": "  我一直在摄像头前  "})
    assert first.status_code == 200
    body = first.get_json()
    assert body["ok"] is True and body["joined"] is False and "工作人员将进行复核" in body["message"]
    flags = review_flags(db, learner.id)
    assert len(flags) == 1 and flags[0].id == body["flag_id"] and flags[0].status == FlagStatus.OPEN
    story = json.loads(flags[0].scores_json)
    assert story["message"] == "我一直在摄像头前" and story["failures"] == 6 and story["requested_at"]
    row = standing(db, learner.id)
    assert row.review_requested_at is not None and row.review_message == "我一直在摄像头前"
    first_requested_at = row.review_requested_at
    alerts = events(officer_socket, "proctor_alert")
    assert [a["flag_id"] for a in alerts] == [flags[0].id] and alerts[0]["kind"] == "review_requested"
    entry = audits(db, "proctor_review_requested")
    assert len(entry) == 1 and entry[0].target == f"user:{learner.id}"
    assert json.loads(entry[0].detail)["message"] == "我一直在摄像头前"

    second = client.api("/api/proctor/review-request", {"message": "请尽快处理"})
    assert second.status_code == 200 and second.get_json()["joined"] is True
    assert second.get_json()["flag_id"] == flags[0].id
    flags = review_flags(db, learner.id)
    assert len(flags) == 1
    story = json.loads(flags[0].scores_json)
    assert story["occurrences"] == 2 and story["repeats"][-1]["message"] == "请尽快处理"
    assert events(officer_socket, "proctor_alert") == []            # alerted once
    row = standing(db, learner.id)
    assert row.review_message == "请尽快处理" and row.review_requested_at == first_requested_at   # the open request's
    assert len(audits(db, "proctor_review_requested")) == 2


def test_an_open_flag_is_enough_to_ask_for_a_review(app, db, client_for):
    learner = user(db, "lisi")
    db.add(ProctorFlag(learner_id=learner.id, kind="identity_mismatch", raised_at=T0, scores_json="{}"))
    db.commit()
    answer = client_for("lisi").api("/api/proctor/review-request", {})
    assert answer.status_code == 200
    assert len(review_flags(db, learner.id)) == 1
    assert standing(db, learner.id).failures == 0 and standing(db, learner.id).review_message == ""


def test_review_requests_are_rate_limited_per_learner(app, db):
    from tests.conftest import Client
    from webapp import create_app
    set_standing(db, user(db, "zhangsan").id, failures=2, not_before=T0)
    limited = create_app({**{k: app.config[k] for k in ("INSTANCE_DIR", "DATABASE_URL", "SECRET_KEY")},
                          "RATELIMIT_ENABLED": True, "PROCTOR_REVIEW_RATE_LIMIT": "3 per minute",
                          "LOGIN_RATE_LIMIT": "100 per minute"})
    try:
        clients = []
        for name in ("zhangsan", "lisi"):
            client = Client(limited.test_client())
            assert client.login(name).status_code == 302
            client.refresh_token()
            clients.append(client)
        codes = [clients[0].api("/api/proctor/review-request", {}).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        limited_answer = clients[0].api("/api/proctor/review-request", {})
        assert limited_answer.get_json()["error"] == "too_many_requests"
        assert clients[1].api("/api/proctor/review-request", {}).status_code == 409   # per learner: not limited
    finally:
        limited.extensions["db_engine"].dispose()


def test_only_supervisees_ask_for_a_review(app, db, client_for):
    set_standing(db, user(db, "zhangsan").id, failures=6, not_before=T0)
    assert client_for("officer_bs").api("/api/proctor/review-request", {}).status_code == 403
    assert db.scalar(select(func.count()).select_from(ProctorFlag)) == 0


# --- the officer clears a hold ----------------------------------------------------------------------------

def clear(client, learner_id: int, reason: str | None, **extra):
    data = {"csrf_token": client.token, **extra}
    if reason is not None:
        data["reason"] = reason
    return client.c.post(f"/officer/supervisee/{learner_id}/proctor-hold/clear", data=data)


def held(db, learner_id: int) -> None:
    """Six failures in a row (PROCTOR_BLOCK_AFTER): held for review."""
    set_standing(db, learner_id, failures=6, not_before=T0 + 300, blocked_at=utcnow())


def test_clearing_a_hold_needs_a_reason_and_the_jurisdiction(app, db, client_for):
    learner = user(db, "zhangsan")
    held(db, learner.id)
    officer = client_for("officer_bs")
    page = clear(officer, learner.id, "   ")
    assert page.status_code == 303 and page.headers["Location"].endswith(f"/officer/supervisee/{learner.id}")
    assert "请填写解除暂停的理由" in officer.c.get(page.headers["Location"]).get_data(as_text=True)
    assert clear(officer, learner.id, None).status_code == 303
    long = clear(officer, learner.id, "理" * 501)
    assert "理由不能超过 500 个字" in officer.c.get(long.headers["Location"]).get_data(as_text=True)
    assert clear(client_for("officer_ly"), learner.id, "越权").status_code == 404     # another township
    assert clear(client_for("zhangsan"), learner.id, "自己解除").status_code == 403
    assert standing(db, learner.id).failures == 6 and standing(db, learner.id).blocked_at is not None
    assert audits(db, "proctor_hold_cleared") == []


def test_an_officer_clears_a_hold_and_the_learners_browser_is_told(app, db, client_for, course, idle_runner):
    learner = user(db, "zhangsan")
    enrol(app, db, learner.id)
    me = client_for("zhangsan")
    sid = camera_sitting(app, db, me, course)
    held(db, learner.id)
    learner_socket = connect(app, me)
    assert learner_socket.emit("rtc_offer", {"session_id": sid, "sdp": OFFER}, callback=True)["ok"] is True
    assert idle_runner.blocked(sid)
    asked = me.api("/api/proctor/review-request", {"message": "误判"}).get_json()["flag_id"]
    learner_socket.get_received()

    officer = client_for("officer_bs")
    answer = clear(officer, learner.id, "已电话核实本人在学习")
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/officer/supervisee/{learner.id}")
    assert "已解除暂停" in officer.c.get(answer.headers["Location"]).get_data(as_text=True)
    row = standing(db, learner.id)
    assert (row.failures, row.not_before, row.blocked_at, row.review_requested_at, row.review_message) == \
        (0, 0.0, None, None, "")
    entry = audits(db, "proctor_hold_cleared")
    assert len(entry) == 1 and entry[0].target == f"user:{learner.id}"
    assert entry[0].actor_id == user(db, "officer_bs").id
    detail = json.loads(entry[0].detail)
    assert detail["reason"] == "已电话核实本人在学习" and detail["before"]["failures"] == 6
    assert detail["review_requests_closed"] == [asked]
    request_flag = db.get(ProctorFlag, asked)
    assert request_flag.status == FlagStatus.DISMISSED and request_flag.review_reason == "已电话核实本人在学习"
    assert {"state": "cleared"} in events(learner_socket, "proctor")
    assert idle_runner.owner(sid) is None              # the stale sitting's camera stream is closed

    again = clear(officer, learner.id, "再次解除")
    assert "没有可解除的监考暂停" in officer.c.get(again.headers["Location"]).get_data(as_text=True)
    assert len(audits(db, "proctor_hold_cleared")) == 1


def test_the_supervisee_page_shows_the_standing_card(app, db, client_for):
    learner = user(db, "zhangsan")
    officer = client_for("officer_bs")
    page = officer.c.get(f"/officer/supervisee/{learner.id}").get_data(as_text=True)
    assert 'id="proctor-standing"' in page and "没有连续未通过的核验，也没有暂停" in page
    assert 'id="clear-hold"' not in page
    set_standing(db, learner.id, failures=6, not_before=T0 + 300, review_message="我在 <b>学习</b>",
                 blocked_at=datetime(2026, 6, 1, 0, 1, 0), review_requested_at=datetime(2026, 6, 1, 0, 2, 30))
    page = officer.c.get(f"/officer/supervisee/{learner.id}").get_data(as_text=True)
    card = page.split('id="proctor-standing"', 1)[1].split("</section>", 1)[0]
    assert "6 / 6" in card
    assert "2026-06-01 08:05:00" in card                       # T0 + 300 s, Shanghai time
    assert "2026-06-01 08:01:00" in card and "2026-06-01 08:02:30" in card   # stored in UTC
    assert "我在 &lt;b&gt;学习&lt;/b&gt;" in card                # the learner's words, escaped
    assert f'/officer/supervisee/{learner.id}/proctor-hold/clear' in card and 'name="reason"' in card


# --- re-enrolling the face ---------------------------------------------------------------------------

def _upload(client, learner_id, replace: bool):
    from proctoring.sample_faces import ENROLLED, photo
    out = io.BytesIO()
    Image.fromarray(photo(ENROLLED)).save(out, format="JPEG", quality=92)
    data = {"csrf_token": client.token, "photos": [(io.BytesIO(out.getvalue()), "me.jpg")]}
    if replace:
        data["replace"] = "1"
    return client.c.post(f"/officer/supervisees/{learner_id}/face", data=data, content_type="multipart/form-data")


def test_re_enrolling_the_face_resets_the_standing(app, db, client_for):
    learner = user(db, "zhangsan")
    enrol(app, db, learner.id)
    held(db, learner.id)
    officer = client_for("officer_bs")
    learner_socket = connect(app, client_for("zhangsan"))

    assert _upload(officer, learner.id, replace=False).status_code == 303     # adding a photo: no reset
    assert standing(db, learner.id).failures == 6
    assert events(learner_socket, "proctor") == []

    assert _upload(officer, learner.id, replace=True).status_code == 303
    row = standing(db, learner.id)
    assert (row.failures, row.not_before, row.blocked_at) == (0, 0.0, None)
    entry = audits(db, "face_reenrolled")
    assert len(entry) == 1
    detail = json.loads(entry[0].detail)
    assert detail["deactivated"] == 2 and detail["standing_cleared"]["failures"] == 6
    assert {"state": "cleared"} in events(learner_socket, "proctor")


# --- the whole story on the flag page ----------------------------------------------------------------

def test_the_flag_page_tells_the_whole_story(app, db, client_for, course):
    from webapp.core import db as webdb
    from webapp.proctor.evidence import record_flag

    learner = user(db, "zhangsan")
    enrol(app, db, learner.id)
    sid = camera_sitting(app, db, client_for("zhangsan"), course)
    liveness = ProctorCheck(
        session_id=sid, kind="liveness", triggered_at=T0 + 3, verdict_at=T0 + 12, passed=False,
        reason="turn_left: not performed in time",
        scores_json=json.dumps({"distance": 0.41, "threshold": 0.51, "challenge": ["turn_left", "look_up"],
                                "steps": [{"action": "turn_left", "passed": False, "reason": "not performed in time"},
                                          {"action": "look_up", "passed": True, "reason": "ok"}]}))
    identity = ProctorCheck(
        session_id=sid, kind="identity", triggered_at=T0, verdict_at=T0 + 2, passed=False,
        reason="distance above threshold",
        scores_json=json.dumps({"distance": 0.6123, "threshold": 0.51, "detector_score": 0.99,
                                "trigger": "box_jump"}))
    db.add_all([liveness, identity])        # the later one first: the page orders by time
    db.commit()
    with app.app_context():
        flag = record_flag(webdb.session(), learner_id=learner.id, session_id=sid, check_id=identity.id,
                           kind="identity_mismatch", at=T0 + 2, scores={"distance": 0.6123, "threshold": 0.51})
        record_flag(webdb.session(), learner_id=learner.id, session_id=sid, check_id=None,
                    kind="identity_mismatch", at=T0 + 60, scores={"distance": 0.65, "threshold": 0.51})
        webdb.session().commit()
        flag_id = flag.id

    officer = client_for("officer_bs")
    page = officer.c.get(f"/officer/flags/{flag_id}").get_data(as_text=True)
    table = page.split('id="checks"', 1)[1].split("</table>", 1)[0]
    rows = table.split("<tr")[2:]                       # header row first
    assert len(rows) == 2
    first, second = rows
    assert "身份核验" in first and "2026-06-01 08:00:00" in first and "2026-06-01 08:00:02" in first
    assert "未通过" in first and "距离超过阈值" in first and "0.6123 / 0.51" in first
    assert "人脸在画面中突然移位" in first                     # the track break that triggered it
    assert "活体检测" in second and "2026-06-01 08:00:03" in second and "2026-06-01 08:00:12" in second
    assert "0.41 / 0.51" in second
    assert "转头向左: 未通过 (未在规定时间内完成)" in second
    assert "抬头向上看: 通过 (已完成)" in second
    assert 'class="flagged"' in first                       # the check the flag was raised on
    assert "本次学习中共发生 2 次。" in page
    repeats = page.split('id="repeats"', 1)[1].split("</table>", 1)[0]
    assert "2026-06-01 08:01:00" in repeats and "distance: 0.65" in repeats
    assert 'id="proctor-standing"' not in page              # no standing: no card

    set_standing(db, learner.id, failures=2, not_before=T0 + 10)
    page = officer.c.get(f"/officer/flags/{flag_id}").get_data(as_text=True)
    card = page.split('id="proctor-standing"', 1)[1].split("</section>", 1)[0]
    assert "2 / 6" in card and f'name="flag_id" value="{flag_id}"' in card
    back = clear(officer, learner.id, "误报", flag_id=str(flag_id))
    assert back.headers["Location"].endswith(f"/officer/flags/{flag_id}")
    assert standing(db, learner.id).failures == 0


def test_new_flag_kinds_have_chinese_labels(app, db, client_for):
    learner = user(db, "zhangsan")
    ids = []
    for kind in ("frozen_feed", "looped_feed", "review_requested"):
        flag = ProctorFlag(learner_id=learner.id, kind=kind, raised_at=T0, scores_json="{}")
        db.add(flag)
        db.flush()
        ids.append(flag.id)
    db.commit()
    officer = client_for("officer_bs")
    titles = [officer.c.get(f"/officer/flags/{i}").get_data(as_text=True).split("<h1>", 1)[1].split("</h1>")[0]
              for i in ids]
    assert "摄像头画面静止" in titles[0] and "摄像头画面循环重复" in titles[1] and "矫正对象申请复核" in titles[2]
    assert "本次学习没有核验记录" in officer.c.get(f"/officer/flags/{ids[0]}").get_data(as_text=True)
