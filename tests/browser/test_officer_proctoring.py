"""Officer pages in real Chromium: face enrolment from a (fake) camera, and the real-time alert toast."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from proctoring.sample_faces import ENROLLED, IMPOSTOR, scene, write_y4m
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import DEMO_PASSWORD
from webapp.models import FaceEnrolment, User


def until(page, script: str, timeout_s: float = 20.0):
    """Poll `script` (evaluated over CDP: the page's CSP forbids Playwright's in-page eval)."""
    import time
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(script):
        assert time.monotonic() < deadline, f"timed out waiting for {script}"
        page.wait_for_timeout(100)


def officer_login(page, live, username="officer_bs"):
    page.goto(live.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url("**/officer/")


def learner_id(live, username="zhangsan") -> int:
    with live.app.app_context():
        from webapp.core import db
        return db.session().scalar(select(User.id).where(User.username == username))


@pytest.fixture
def camera_browser(playwright, tmp_path):
    def launch(face):
        video = write_y4m(tmp_path / f"{face}.y4m", [scene(face, size=(640, 480))] * 10, fps=10)
        return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + [
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])
    browsers = []
    yield lambda face: browsers.append(launch(face)) or browsers[-1]
    for b in browsers:
        b.close()


def test_capture_from_the_camera_enrols_and_refuses_an_empty_room(live, camera_browser):
    browser = camera_browser(ENROLLED)
    page = browser.new_context(locale="zh-CN").new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    officer_login(page, live)
    uid = learner_id(live)
    page.goto(f"{live.url}/officer/supervisees/{uid}/face")
    page.click("#capture-start")
    until(page, "() => document.getElementById('capture-preview').videoWidth > 0")
    page.click("#capture-shot")
    until(page, "() => document.getElementById('capture-result').classList.contains('ok')")
    assert "参考照片已采集" in page.text_content("#capture-result")
    assert "有效参考照片：1 张" in page.text_content("#active-count")
    with live.app.app_context():
        from webapp.core import db
        rows = db.session().scalars(select(FaceEnrolment).where(FaceEnrolment.user_id == uid)).all()
    assert len(rows) == 1 and rows[0].source == "camera" and rows[0].active
    assert not [e for e in errors if "Content Security Policy" in e], errors

    empty = camera_browser(None).new_context(locale="zh-CN").new_page()
    officer_login(empty, live)
    empty.goto(f"{live.url}/officer/supervisees/{uid}/face")
    empty.click("#capture-start")
    until(empty, "() => document.getElementById('capture-preview').videoWidth > 0")
    empty.click("#capture-shot")
    until(empty, "() => document.getElementById('capture-result').textContent.indexOf('人脸') >= 0")
    assert "未检测到人脸" in empty.text_content("#capture-result")


def test_a_new_flag_shows_a_toast_to_the_responsible_officer(live, new_page):
    page = new_page()
    officer_login(page, live)
    page.wait_for_timeout(1500)   # the Socket.IO connection is up
    uid = learner_id(live)
    with live.app.app_context():
        from webapp.core import db
        from webapp.proctor.alerts import notify_flag
        from webapp.proctor.evidence import record_flag
        session = db.session()
        flag = record_flag(session, learner_id=uid, session_id=None, check_id=None, kind="identity_mismatch",
                           at=1_780_000_000.0, scores={"distance": 0.8}, frame_rgb=scene(IMPOSTOR))
        session.commit()
        notify_flag(flag, session.get(User, uid))
    toast = page.wait_for_selector(".toast", timeout=10000)
    assert "需要复核：张三 身份不符" in toast.text_content()
    toast.query_selector("a").click()
    page.wait_for_url(f"**/officer/flags/{flag.id}")
    assert "不是处罚" in page.content()
    until(page, "() => document.querySelector('img.evidence').naturalWidth > 0")
