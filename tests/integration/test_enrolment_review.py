"""Face enrolment by officers (upload and camera capture) and the review of proctoring flags,
with the real models on real photos (proctoring.sample_faces)."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from proctoring.sample_faces import ENROLLED, IMPOSTOR, photo, scene, two_people
from tests.conftest import user
from webapp.models import AuditLog, Evidence, FaceEnrolment, FlagStatus, ProctorFlag, utcnow


def encode(rgb: np.ndarray, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return out.getvalue()


def upload(client, learner_id, *files, replace=False, follow=True):
    data = {"csrf_token": client.token, "photos": [(io.BytesIO(b), name) for b, name in files]}
    if replace:
        data["replace"] = "1"
    return client.c.post(f"/officer/supervisees/{learner_id}/face", data=data, content_type="multipart/form-data",
                         follow_redirects=follow)


def capture(client, learner_id, payload: bytes, **form):
    data = {"image": (io.BytesIO(payload), "capture.jpg"), **form}
    return client.c.post(f"/officer/supervisees/{learner_id}/face/capture", data=data,
                         content_type="multipart/form-data",
                         headers={"X-CSRFToken": client.token, "Accept": "application/json"})


def enrolments(db, learner_id, active=None):
    db.expire_all()
    query = select(FaceEnrolment).where(FaceEnrolment.user_id == learner_id)
    if active is not None:
        query = query.where(FaceEnrolment.active.is_(active))
    return db.scalars(query.order_by(FaceEnrolment.id)).all()


def audits(db, action):
    db.expire_all()
    return db.scalars(select(AuditLog).where(AuditLog.action == action)).all()


def new_flag(app, learner_id, frame=True, kind="identity_mismatch", at=1_780_000_000.0):
    from webapp.core import db as webdb
    from webapp.proctor.evidence import record_flag
    with app.app_context():
        flag = record_flag(webdb.session(), learner_id=learner_id, session_id=None, check_id=None, kind=kind,
                           at=at, scores={"distance": np.float32(0.71), "detector_score": 0.93,
                                                      "threshold": 0.5, "reason": "mismatch"},
                           frame_rgb=scene(IMPOSTOR) if frame else None)
        webdb.session().commit()
        evidence_id = webdb.session().scalar(select(Evidence.id).where(Evidence.flag_id == flag.id))
        return flag.id, evidence_id


@pytest.fixture
def officer(client_for):
    return client_for("officer_bs")


def test_a_good_photo_enrols_an_encrypted_embedding(app, db, officer):
    learner = user(db, "zhangsan")
    page = upload(officer, learner.id, (encode(photo(ENROLLED)), "me.jpg"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "已采集 1 张参考照片" in html
    rows = enrolments(db, learner.id)
    assert len(rows) == 1 and rows[0].active and rows[0].source == "upload"
    assert rows[0].created_by_id == user(db, "officer_bs").id
    quality = json.loads(rows[0].quality_json)
    assert quality["faces"] == 1 and quality["face_px"] >= 80
    with app.app_context():
        from webapp.core.face_crypto import decrypt_embedding
        vector = decrypt_embedding(rows[0].embedding_enc)
    assert vector.shape == (128,) and vector.dtype == np.float32 and np.all(np.isfinite(vector))
    assert vector.tobytes() not in rows[0].embedding_enc
    assert vector[:4].tobytes() not in rows[0].embedding_enc
    entry = audits(db, "face_enrolled")
    assert len(entry) == 1 and entry[0].target == f"user:{learner.id}"
    # The page shows how many references are active, and no image at all.
    page = officer.c.get(f"/officer/supervisees/{learner.id}/face").get_data(as_text=True)
    assert "有效参考照片：1 张" in page and "<img" not in page


def test_png_upload_is_accepted(db, officer):
    learner = user(db, "lisi")
    html = upload(officer, learner.id, (encode(photo(ENROLLED), "PNG"), "me.png")).get_data(as_text=True)
    assert "已采集 1 张参考照片" in html
    assert len(enrolments(db, learner.id, active=True)) == 1


@pytest.mark.parametrize("frame, message", [
    (lambda: scene(None), "照片中未检测到人脸"),
    (lambda: two_people(), "照片中有不止一张人脸"),
])
def test_quality_gates_name_their_reason(db, officer, frame, message):
    learner = user(db, "zhangsan")
    html = upload(officer, learner.id, (encode(frame()), "x.jpg")).get_data(as_text=True)
    assert message in html
    assert enrolments(db, learner.id) == []
    assert audits(db, "face_enrolled") == []


def test_non_images_and_oversized_uploads_are_refused_clearly(db, officer):
    learner = user(db, "zhangsan")
    html = upload(officer, learner.id, (b"GIF89a not a photo", "x.gif")).get_data(as_text=True)
    assert "只能使用 JPEG 或 PNG 格式的照片" in html
    html = upload(officer, learner.id, (b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024), "big.jpg")).get_data(as_text=True)
    assert "每张照片不能超过 5 MB" in html
    html = upload(officer, learner.id, (b"\xff\xd8\xff\xe0 broken", "broken.jpg")).get_data(as_text=True)
    assert "无法将该文件读取为照片" in html
    bomb = io.BytesIO()
    Image.new("1", (8000, 4000)).save(bomb, format="PNG")   # small file, 32 megapixels
    html = upload(officer, learner.id, (bomb.getvalue(), "bomb.png")).get_data(as_text=True)
    assert "照片像素过多" in html
    html = officer.c.post(f"/officer/supervisees/{learner.id}/face", data={"csrf_token": officer.token},
                          follow_redirects=True).get_data(as_text=True)
    assert "请选择 1 至 5 张照片上传" in html
    six = [(encode(photo(ENROLLED)), f"{i}.jpg") for i in range(6)]
    assert "请选择 1 至 5 张照片上传" in upload(officer, learner.id, *six).get_data(as_text=True)
    assert enrolments(db, learner.id) == []


def test_mixed_upload_keeps_the_good_photo_and_names_the_bad_one(db, officer):
    learner = user(db, "zhangsan")
    html = upload(officer, learner.id, (encode(scene(None)), "room.jpg"),
                  (encode(photo(ENROLLED)), "me.jpg")).get_data(as_text=True)
    assert "第 1 张照片：照片中未检测到人脸" in html and "已采集 1 张参考照片" in html
    assert len(enrolments(db, learner.id, active=True)) == 1


def test_camera_capture_answers_json(db, officer):
    learner = user(db, "zhangsan")
    ok = capture(officer, learner.id, encode(scene(ENROLLED, size=(1280, 720))))
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["ok"] is True and ok.get_json()["active"] == 1
    rows = enrolments(db, learner.id, active=True)
    assert len(rows) == 1 and rows[0].source == "camera"
    refused = capture(officer, learner.id, encode(scene(None)))
    assert refused.status_code == 422
    assert refused.get_json()["error"] == "no_face" and "未检测到人脸" in refused.get_json()["message"]
    bad = capture(officer, learner.id, b"not an image")
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_image"
    # Without the CSRF header the capture is refused.
    no_csrf = officer.c.post(f"/officer/supervisees/{learner.id}/face/capture",
                             data={"image": (io.BytesIO(encode(photo(ENROLLED))), "c.jpg")},
                             content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert no_csrf.status_code == 400 and no_csrf.get_json()["error"] == "csrf"
    assert len(enrolments(db, learner.id, active=True)) == 1


def test_reenrolment_replaces_earlier_references_and_is_audited(db, officer):
    learner = user(db, "zhangsan")
    good = encode(photo(ENROLLED))
    upload(officer, learner.id, (good, "a.jpg"), (good, "b.jpg"))
    first = enrolments(db, learner.id, active=True)
    assert len(first) == 2
    # A failed re-enrolment changes nothing.
    upload(officer, learner.id, (encode(scene(None)), "room.jpg"), replace=True)
    assert len(enrolments(db, learner.id, active=True)) == 2
    html = upload(officer, learner.id, (good, "c.jpg"), replace=True).get_data(as_text=True)
    assert "已采集 1 张参考照片" in html
    active = enrolments(db, learner.id, active=True)
    assert len(active) == 1 and active[0].id not in {r.id for r in first}
    assert len(enrolments(db, learner.id, active=False)) == 2
    entry = audits(db, "face_reenrolled")
    assert len(entry) == 1 and json.loads(entry[0].detail)["deactivated"] == 2
    # Camera re-enrolment replaces only what existed when the page was loaded.
    watermark = active[0].id
    capture(officer, learner.id, good, replace="1", replace_up_to=str(watermark))
    capture(officer, learner.id, good, replace="1", replace_up_to=str(watermark))
    now_active = enrolments(db, learner.id, active=True)
    assert len(now_active) == 2 and all(r.source == "camera" for r in now_active)
    assert len(audits(db, "face_reenrolled")) == 2 and len(audits(db, "face_enrolled")) == 2


def test_active_references_are_capped(db, officer):
    learner = user(db, "zhangsan")
    good = encode(photo(ENROLLED))
    upload(officer, learner.id, *[(good, f"{i}.jpg") for i in range(5)])
    upload(officer, learner.id, *[(good, f"{i}.jpg") for i in range(5)])
    assert len(enrolments(db, learner.id, active=True)) == 10
    html = upload(officer, learner.id, (good, "11.jpg")).get_data(as_text=True)
    assert "每人最多 10 张有效的参考照片" in html
    assert capture(officer, learner.id, good).status_code == 409
    assert len(enrolments(db, learner.id, active=True)) == 10


def test_outside_jurisdiction_and_supervisees_are_kept_out(app, db, client_for):
    zhaoliu = user(db, "zhaoliu")
    flag_id, evidence_id = new_flag(app, zhaoliu.id)
    good = encode(photo(ENROLLED))
    urls = [f"/officer/supervisees/{zhaoliu.id}/face", f"/officer/flags/{flag_id}",
            f"/officer/flags/{flag_id}/evidence/{evidence_id}"]
    for name in ("officer_bs", "officer_zj", "officer_ly"):
        other = client_for(name)
        for url in urls:
            assert other.c.get(url).status_code == 404, (name, url)
        assert upload(other, zhaoliu.id, (good, "a.jpg"), follow=False).status_code == 404
        assert capture(other, zhaoliu.id, good).status_code == 404
        assert other.c.post(f"/officer/flags/{flag_id}/review",
                            data={"csrf_token": other.token, "decision": "dismiss", "reason": "x"}).status_code == 404
        assert "赵六" not in other.c.get("/officer/flags?status=all").get_data(as_text=True)
        assert other.c.get(f"/officer/flags?learner={zhaoliu.id}").status_code == 404
    learner = client_for("zhangsan")
    for url in urls + [f"/officer/supervisees/{user(db, 'zhangsan').id}/face", "/officer/flags"]:
        assert learner.c.get(url).status_code in (403, 404), url
    assert capture(learner, user(db, "zhangsan").id, good).status_code in (403, 404)
    assert enrolments(db, zhaoliu.id) == []
    db.expire_all()
    assert db.get(ProctorFlag, flag_id).status == FlagStatus.OPEN
    # The responsible officer does see it.
    mine = client_for("officer_my")
    assert mine.c.get(f"/officer/flags/{flag_id}").status_code == 200
    assert "赵六" in mine.c.get("/officer/flags").get_data(as_text=True)


def review(client, flag_id, decision, reason):
    return client.c.post(f"/officer/flags/{flag_id}/review",
                         data={"csrf_token": client.token, "decision": decision, "reason": reason},
                         follow_redirects=True)


def test_review_confirm_and_dismiss_with_a_reason(app, db, officer):
    learner = user(db, "zhangsan")
    first, _ev = new_flag(app, learner.id)
    second, _ev2 = new_flag(app, learner.id, frame=False, kind="liveness_failed", at=1_780_000_600.0)
    queue = officer.c.get("/officer/flags").get_data(as_text=True)
    assert "张三" in queue and "身份不符" in queue and "活体检测未通过" in queue and "不是处罚" in queue
    assert queue.index(f"/officer/flags/{second}") < queue.index(f"/officer/flags/{first}")   # newest first
    page = officer.c.get(f"/officer/flags/{first}").get_data(as_text=True)
    assert "0.71" in page and "detector_score" in page and "待复核" in page and "不是处罚" in page
    assert 'id="open-flag-count">2<' in page

    assert "请填写处理理由" in review(officer, first, "confirm", "   ").get_data(as_text=True)
    assert "理由不能超过 500 个字" in review(officer, first, "confirm", "x" * 501).get_data(as_text=True)
    assert "请选择确认或驳回" in review(officer, first, "sanction", "why").get_data(as_text=True)
    db.expire_all()
    assert db.get(ProctorFlag, first).status == FlagStatus.OPEN

    html = review(officer, first, "confirm", "比对照片确为他人代学").get_data(as_text=True)
    assert "标记已确认" in html
    db.expire_all()
    flag = db.get(ProctorFlag, first)
    assert flag.status == FlagStatus.CONFIRMED and flag.review_reason == "比对照片确为他人代学"
    assert flag.reviewed_by_id == user(db, "officer_bs").id and flag.reviewed_at is not None
    again = review(officer, first, "dismiss", "changed my mind").get_data(as_text=True)
    assert "该标记已复核，复核结果不能更改" in again
    db.expire_all()
    assert db.get(ProctorFlag, first).status == FlagStatus.CONFIRMED

    assert "标记已驳回" in review(officer, second, "dismiss", "光线不足导致误报").get_data(as_text=True)
    db.expire_all()
    assert db.get(ProctorFlag, second).status == FlagStatus.DISMISSED
    assert [a.target for a in audits(db, "flag_confirmed")] == [f"flag:{first}"]
    assert [a.target for a in audits(db, "flag_dismissed")] == [f"flag:{second}"]
    open_queue = officer.c.get("/officer/flags").get_data(as_text=True)
    assert f"/officer/flags/{first}\"" not in open_queue
    assert f"/officer/flags/{first}\"" in officer.c.get("/officer/flags?status=confirmed").get_data(as_text=True)
    assert officer.c.get("/officer/flags?status=bogus").status_code == 400


def test_evidence_is_served_decrypted_in_jurisdiction_and_purged(app, db, client_for):
    learner = user(db, "zhangsan")
    flag_id, evidence_id = new_flag(app, learner.id)
    row = db.get(Evidence, evidence_id)
    assert row.image_enc[:3] != b"\xff\xd8\xff"          # encrypted at rest
    assert timedelta(days=29) < row.expires_at - row.created_at <= timedelta(days=30)
    officer = client_for("officer_bs")
    page = officer.c.get(f"/officer/flags/{flag_id}").get_data(as_text=True)
    assert f"/officer/flags/{flag_id}/evidence/{evidence_id}" in page
    image = officer.c.get(f"/officer/flags/{flag_id}/evidence/{evidence_id}")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert image.headers["Cache-Control"] == "no-store"
    assert image.data[:3] == b"\xff\xd8\xff" and max(Image.open(io.BytesIO(image.data)).size) <= 240
    assert [a.target for a in audits(db, "evidence_viewed")] == [f"flag:{flag_id}"]
    assert client_for("officer_ly").c.get(f"/officer/flags/{flag_id}/evidence/{evidence_id}").status_code == 404
    other_flag, _ev = new_flag(app, learner.id)
    assert officer.c.get(f"/officer/flags/{other_flag}/evidence/{evidence_id}").status_code == 404

    from webapp.core import db as webdb
    from webapp.proctor.evidence import purge_expired_evidence
    with app.app_context():
        assert purge_expired_evidence(webdb.session()) == 0
        assert purge_expired_evidence(webdb.session(), now=utcnow() + timedelta(days=31)) == 2
    assert officer.c.get(f"/officer/flags/{flag_id}/evidence/{evidence_id}").status_code == 404
    db.expire_all()
    flag = db.get(ProctorFlag, flag_id)
    assert flag is not None and json.loads(flag.scores_json)["distance"] == pytest.approx(0.71, abs=1e-6)
    assert "没有截图" in officer.c.get(f"/officer/flags/{flag_id}").get_data(as_text=True)


def test_purge_cli(app, db):
    learner = user(db, "zhangsan")
    new_flag(app, learner.id)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["proctor", "purge-evidence"])
    assert result.exit_code == 0 and "deleted 0" in result.output


def test_notify_flag_reaches_the_responsible_officer_only(app, db, client_for):
    from webapp.proctor.alerts import notify_flag
    from webapp.extensions import socketio
    learner = user(db, "zhangsan")
    flag_id, _ev = new_flag(app, learner.id)
    sockets = {}
    for name in ("officer_bs", "officer_ly", "officer_xh", "admin", "zhangsan", "lisi"):
        sockets[name] = socketio.test_client(app, flask_test_client=client_for(name).c)
        assert sockets[name].is_connected(), name
    for sock in sockets.values():
        sock.get_received()
    from webapp.core import db as webdb
    with app.app_context():
        flag = webdb.session().get(ProctorFlag, flag_id)
        assert notify_flag(flag, flag.learner) is True
    got = {name: [m for m in sock.get_received() if m["name"] == "proctor_alert"] for name, sock in sockets.items()}
    assert len(got["officer_bs"]) == 1
    assert all(not got[name] for name in got if name != "officer_bs"), got
    alert = got["officer_bs"][0]["args"][0]
    assert alert == {"flag_id": flag_id, "kind": "identity_mismatch", "learner": "张三",
                     "at": alert["at"], "url": f"/officer/flags/{flag_id}"}
    assert alert["at"].startswith("2026-")
    for sock in sockets.values():
        sock.disconnect()


def test_officer_pages_load_the_alerts_and_link_enrolment(db, officer, client_for):
    learner = user(db, "zhangsan")
    record = officer.c.get(f"/officer/supervisee/{learner.id}").get_data(as_text=True)
    assert f"/officer/supervisees/{learner.id}/face" in record and f"/officer/flags?learner={learner.id}" in record
    assert "js/officer_alerts.js" in record and "vendor/socket.io.min.js" in record and "需要复核：" in record
    page = officer.c.get(f"/officer/supervisees/{learner.id}/face").get_data(as_text=True)
    assert "js/enrol_capture.js" in page and "<script>" not in page and "style=" not in page
    home = client_for("zhangsan").c.get("/learn/").get_data(as_text=True)
    assert "officer_alerts.js" not in home


def test_a_huge_photo_upload_is_refused_before_it_is_parsed(db, officer):
    learner = user(db, "zhangsan")
    body = b"\xff\xd8\xff" + b"\0" * (30 * 1024 * 1024)
    res = upload(officer, learner.id, (body, "huge.jpg"))
    assert res.status_code == 413
    assert enrolments(db, learner.id) == []
