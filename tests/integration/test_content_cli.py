"""`flask content import` and the admin upload, end to end into the database."""
from __future__ import annotations

import io
import json
import os

import pytest
from sqlalchemy import func, select

from content.build_samples import main as build_samples
from webapp.models import Course, CourseQuestion


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    assert build_samples(["--out", str(out), "--minutes", "0.2", "--only", "law-basics", "ethics-integrity"]) == 0
    return out


def test_cli_imports_courses_with_progress_and_question_bank(app, db, samples):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["content", "import", str(samples / "law-basics.json"),
                                 str(samples / "ethics-integrity.json")])
    assert result.exit_code == 0, result.output
    assert "imported law-basics" in result.output  # (click draws the bar only on a terminal)
    courses = db.scalars(select(Course).order_by(Course.slug)).all()
    assert [c.slug for c in courses] == ["ethics-integrity", "law-basics"]
    law = courses[1]
    assert law.title == "社区矫正法基础" and len(law.renditions) == 2
    assert db.scalar(select(func.count()).select_from(CourseQuestion).where(CourseQuestion.course_id == law.id)) >= 5
    assert os.path.isfile(os.path.join(app.config["MEDIA_ROOT"], "law-basics", "master.m3u8"))


def test_cli_reports_bad_manifest_by_file_and_field_and_imports_nothing(app, db, samples, tmp_path):
    bad = tmp_path / "bad.json"
    data = json.loads((samples / "law-basics.json").read_text(encoding="utf-8"))
    data["category"] = "cooking"
    data["media"] = str(samples / "law-basics.mp4")
    bad.write_text(json.dumps(data), encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["content", "import", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: category:" in result.output
    assert db.scalar(select(func.count()).select_from(Course)) == 0
    assert not os.path.exists(app.config["MEDIA_ROOT"]) or os.listdir(app.config["MEDIA_ROOT"]) == []


def test_admin_uploads_a_real_course(app, db, samples, client_for):
    admin = client_for("admin")
    manifest = (samples / "ethics-integrity.json").read_bytes()
    video = (samples / "ethics-integrity.mp4").read_bytes()
    response = admin.c.post("/admin/courses/upload", data={
        "csrf_token": admin.token, "manifest": (io.BytesIO(manifest), "m.json"),
        "media": (io.BytesIO(video), "ethics.mp4")}, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)
    course = db.scalar(select(Course).where(Course.slug == "ethics-integrity"))
    assert course is not None and course.duration_s == pytest.approx(12.0, abs=0.5)
    assert [p for p in os.listdir(app.config["INSTANCE_DIR"]) if p.startswith("upload-")] == []


def test_admin_upload_with_bad_manifest_shows_the_field(app, db, samples, client_for):
    admin = client_for("admin")
    data = json.loads((samples / "law-basics.json").read_text(encoding="utf-8"))
    data["questions"][0]["answer"] = 9
    response = admin.c.post("/admin/courses/upload", data={
        "csrf_token": admin.token, "manifest": (io.BytesIO(json.dumps(data).encode()), "m.json"),
        "media": (io.BytesIO((samples / "law-basics.mp4").read_bytes()), "v.mp4")},
        content_type="multipart/form-data")
    assert response.status_code == 400
    assert "questions[0].answer" in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Course)) == 0
