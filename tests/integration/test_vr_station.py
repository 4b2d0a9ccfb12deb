"""The VR station client against a real portal, end to end.

The portal is the real app (SQLite, Alembic-migrated, demo data) served by a real HTTP server
(werkzeug) in a thread; a station is registered in the database with its token and zhangsan is
face-enrolled from a real photo (proctoring.sample_faces.ENROLLED), as in test_proctoring_pipeline.

1. ``python -m vr_scenes.station`` in a subprocess, a whole session: face check-in with the portal's
   liveness challenge (``--face-frames``: a webcam-like frame of the enrolled person and the same
   re-rendered turned and nodding, played following the prompts; the portal checks them with the real
   face models), the drunk scene fast-forwarded, the quiz from ``--answers``, posted, credited (a
   CreditEntry of kind "vr"). The same with ``--face-image`` (a still photo): refused, nothing queued.
2. A session of an officer's assignment, verified by the officer's on-site confirmation on the
   supervisee's record, whose portal goes away after the scene, before posting: the session waits on
   disk; the portal comes back on the same address and ``--flush`` delivers it exactly once (a second
   flush and a re-post of the same client_session_id change nothing).
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading

import cv2
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from proctoring.enrolment import assess
from proctoring.sample_faces import ENROLLED, nod, scene, turn
from proctoring.vision import thread_analyzer
from tests.conftest import DEMO_PASSWORD, Client, user
from vr_scenes.station import PortalClient, Station, StationConfig
from webapp import create_app
from webapp import migrate
from webapp.core.face_crypto import encrypt_embedding
from webapp.models import (CreditEntry, FaceEnrolment, VrAssignment, VrAssignmentStatus, VrCheckIn, VrSession,
                           VrStation)
from webapp.vr.views import hash_token

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "vrs_test-station-token-0123456789abcdef"


class Portal:
    """The app behind a real HTTP server in a thread; ``stop()`` and ``start()`` again on the same port."""

    def __init__(self, app):
        self.app = app
        self.port = 0
        self.server = None
        self.thread = None

    def start(self):
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        self.server = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def rig(tmp_path, db_url):
    app = create_app({
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": db_url,
        "MEDIA_ROOT": str(tmp_path / "media"), "SECRET_KEY": "vr-station-secret",
        "RATELIMIT_ENABLED": False, "SCHEDULER_ENABLED": False, "PROCTORING_REQUIRED": False,
        # blinking cannot be rendered from a photo: the challenge draws from the head movements
        "LIVENESS_ACTIONS": "turn_left,turn_right,look_up,look_down",
    })
    migrate.upgrade(app.config["DATABASE_URL"])
    with app.app_context():
        from webapp.demo import load_demo
        load_demo(DEMO_PASSWORD)
    photo = scene(ENROLLED, (640, 480))
    quality = assess(photo, thread_analyzer())
    assert quality.ok, quality.reason
    db = Session(app.extensions["db_engine"])
    zhangsan = user(db, "zhangsan")
    with app.app_context():
        db.add(FaceEnrolment(user_id=zhangsan.id, embedding_enc=encrypt_embedding(quality.embedding),
                             source="upload", quality_json="{}", active=True))
    db.add(VrStation(name="矫正中心一号VR站", unit_id=zhangsan.unit_id, token_hash=hash_token(TOKEN)))
    db.commit()
    # the station webcam's frame: another draw of the room and the enrolled person (not the enrolment
    # photo), and the same re-rendered as the head movements a challenge may ask for
    webcam = scene(ENROLLED, (640, 480), seed=3)
    face = tmp_path / "face"
    face.mkdir()
    for name, rgb in (("neutral", webcam), ("turn_left", turn(webcam, 40.0)), ("turn_right", turn(webcam, -40.0)),
                      ("look_up", nod(webcam, 30.0)), ("look_down", nod(webcam, -30.0))):
        cv2.imwrite(str(face / f"{name}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    portal = Portal(app).start()
    yield app, db, zhangsan, portal, face, tmp_path / "outbox"
    portal.stop()
    db.close()
    app.extensions["db_engine"].dispose()


def station_cli(portal, queue, *args, timeout=180):
    out = subprocess.run([sys.executable, "-m", "vr_scenes.station", "--portal", portal.url, "--token", TOKEN,
                          "--queue-dir", str(queue), *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
                         env={**os.environ, "PYTHONPATH": ROOT})
    return out


def last_json(out) -> dict:
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_whole_session_then_portal_cut_before_posting(rig):
    _app, db, zhangsan, portal, face, queue = rig

    # --- 0. a still photo of the right person: the liveness check refuses it, nothing is queued -------
    out = station_cli(portal, queue, "--face-image", str(face / "neutral.jpg"), "--fast", "--scene", "drunk",
                      "--answers", "cbcb")
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    assert "liveness_failed" in out.stderr and "活体检测未通过" in out.stdout
    assert "人脸签到：请正视摄像头" in out.stdout                   # the portal's prompts, said by the station
    assert not os.path.exists(queue / "rejected") or os.listdir(queue / "rejected") == []
    db.expire_all()
    assert [(c.method, c.liveness) for c in db.scalars(select(VrCheckIn))] == [("face", False)]
    assert db.scalar(select(func.count()).select_from(VrSession)) == 0

    # --- 1. a whole session through the command line, face check-in with liveness ----------------------
    out = station_cli(portal, queue, "--face-frames", str(face), "--fast", "--scene", "drunk", "--answers", "cbcb")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = last_json(out)
    assert result["status"] == "posted", result
    assert result["learner_id"] == zhangsan.id and result["scene"] == "drunk"
    assert "签到成功" in out.stdout and "已通过活体检测" in out.stdout and "反思" not in out.stdout
    assert sorted(os.listdir(queue)) == [".deliver.lock", "rejected"] and os.listdir(queue / "rejected") == []

    db.expire_all()
    checkins = db.scalars(select(VrCheckIn).order_by(VrCheckIn.id)).all()
    assert [(c.method, c.liveness) for c in checkins] == [("face", False), ("face", True)]
    row = db.scalar(select(VrSession).where(VrSession.client_session_id == result["client_session_id"]))
    assert row is not None and row.learner_id == zhangsan.id and row.checkin == "face" and row.checkin_verified
    assert row.verified_checkin_id == checkins[1].id
    assert row.credit_reason == "credited" and row.credited_s > 0
    assert row.credited_s == pytest.approx(result["portal"]["credited_s"], abs=1e-3)
    assert row.quiz_questions == 4 and row.quiz_correct == 4
    # payload version 2 (issue 15): completed, the scripted learner's questionnaire (3 on every item
    # before, 4 after, reverse items mirrored: every item scores 3, then 4)
    assert (row.api_version, row.outcome, row.progress) == (2, "completed", 1.0)
    assert (row.attitude_before, row.attitude_after) == (3.0, 4.0)
    stages = json.loads(row.stages_json)
    assert [s["id"] for s in stages][:4] == ["briefing", "sober_lap", "drinking", "drunk_lap"]
    assert stages[0]["title"] == "出发前"
    reactions = json.loads(row.reactions_json)
    assert len(reactions["sober"]) == 3 and min(reactions["drunk"]) > max(reactions["sober"])
    assert json.loads(row.attention_json)["road_ahead"] > 0.5
    credit = db.scalar(select(CreditEntry).where(CreditEntry.session_id == result["client_session_id"]))
    assert credit is not None and credit.kind == "vr" and credit.learner_id == zhangsan.id
    assert credit.credited_s == pytest.approx(row.credited_s) and credit.month == row.month
    station_row = db.scalar(select(VrStation))
    assert station_row.last_contact_at is not None

    # --- 2. an officer's assignment; the portal goes away after the scene, before posting -------------
    assignment = VrAssignment(learner_id=zhangsan.id, scene="rehab")
    db.add(assignment)
    db.commit()
    # the officer at the station confirms on the supervisee's record that zhangsan is there
    officer = Client(_app.test_client())
    assert officer.login("officer_bs").status_code == 302
    officer.refresh_token()
    confirmed = officer.c.post(f"/officer/vr/supervisee/{zhangsan.id}/confirm",
                               data={"csrf_token": officer.token, "station_id": station_row.id})
    assert confirmed.status_code == 303
    config = StationConfig(portal_url=portal.url, token=TOKEN, queue_dir=str(queue), fast=True, timeout_s=5.0)
    station = Station(config, out=io.StringIO())
    station.ping()
    checkin = station.check_in_assignment(assignment.id)
    assert checkin.learner_id == zhangsan.id and checkin.verified
    key = station.choose_scene(checkin)
    assert key == "rehab"
    run = station.run_scene(key)
    quiz = station.ask_quiz(key, "cab")
    portal.stop()                                          # the portal is cut here
    queued = station.finish(checkin, key, run, quiz)
    assert queued.status == "queued"
    sid = queued.client_session_id
    path = queue / f"{sid}.json"
    assert path.exists() and json.loads(path.read_text(encoding="utf-8")) == queued.payload
    assert db.scalar(select(func.count()).select_from(VrSession)) == 1
    # while it is away a flush keeps the file (exit code: try again later)
    out = station_cli(portal, queue, "--flush")
    assert out.returncode == 75 and last_json(out)["kept"] == [sid] and path.exists()

    portal.start()                                         # back, on the same address
    out = station_cli(portal, queue, "--flush")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert last_json(out) == {"delivered": [sid], "kept": [], "rejected": []}
    assert not path.exists()
    out = station_cli(portal, queue, "--flush")            # nothing left: nothing posted again
    assert last_json(out) == {"delivered": [], "kept": [], "rejected": []}

    db.expire_all()
    rows = db.scalars(select(VrSession).where(VrSession.client_session_id == sid)).all()
    assert len(rows) == 1 and rows[0].checkin == "assignment" and rows[0].assignment_id == assignment.id
    assert rows[0].credit_reason == "credited" and rows[0].checkin_verified
    assert db.get(VrCheckIn, rows[0].verified_checkin_id).method == "officer"
    assert json.loads(rows[0].choices_json) == {"temptation": "refuse"}
    assert db.get(VrAssignment, assignment.id).status == VrAssignmentStatus.DONE
    assert db.scalar(select(func.count()).select_from(CreditEntry).where(CreditEntry.session_id == sid)) == 1

    # the same session posted again (an answer lost on the way back): the same answer, still one of it
    client = PortalClient(portal.url, TOKEN)
    status, body = client.post_session(queued.payload)
    assert status == 200 and body["session_id"] == rows[0].id
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(VrSession)) == 2
    assert db.scalar(select(func.count()).select_from(CreditEntry).where(CreditEntry.kind == "vr")) == 2
