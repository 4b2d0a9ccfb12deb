"""Surprise questions: drawn from the course's bank near the position, graded on the server,
a wrong or missed answer is a failed attestation; the answer never reaches the browser."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.conftest import make_course, user
from tests.integration.test_study_api import Learner
from webapp.core.face_crypto import encrypt_embedding
from webapp.models import Attestation, CourseQuestion, CreditEntry, FaceEnrolment, ProctorCheck


@pytest.fixture
def course(app, db):
    app.config.update(BREAKPOINT_MIN_S=30.0, BREAKPOINT_MEAN_S=40.0, BREAKPOINT_MAX_S=50.0,
                      BREAKPOINT_ANSWER_S=20.0)
    course = make_course(app, db, duration=600.0)
    for at in (10.0, 20.0, 30.0, 40.0, 200.0):
        db.add(CourseQuestion(course_id=course.id, at_s=at, prompt=f"第 {int(at)} 秒讲了什么？",
                              choices_json=json.dumps(["甲", "乙", "丙"]), answer=int(at) % 3))
    db.commit()
    return course


@pytest.fixture
def learner(client_for, clock, course):
    return Learner(client_for("zhangsan"), clock, course.id)


def open_question(learner):
    learner.start()
    learner.beat(position=0.0)
    body = learner.play(60)
    prompt = body["prompt"]
    assert prompt and prompt["question"]["choices"] == ["甲", "乙", "丙"]
    assert "answer" not in json.dumps(prompt)
    return prompt


def asked(db, prompt_text):
    return db.scalar(select(CourseQuestion).where(CourseQuestion.prompt == prompt_text))


def test_the_question_is_about_what_was_just_watched_and_a_right_answer_credits(learner, db):
    prompt = open_question(learner)
    question = asked(db, prompt["question"]["prompt"])
    assert question.at_s <= learner.position          # nothing from ahead of the learner
    res = learner.post("confirm", {"prompt_id": prompt["id"], "choice": question.answer})
    assert res.status_code == 200 and res.get_json()["passed"] is True
    assert res.get_json()["credited_s"] > 25
    check = db.scalar(select(ProctorCheck).where(ProctorCheck.kind == "question"))
    assert check.passed and check.reason == "correct"


def test_a_wrong_answer_is_a_failed_attestation_and_credits_nothing(learner, db):
    prompt = open_question(learner)
    question = asked(db, prompt["question"]["prompt"])
    res = learner.post("confirm", {"prompt_id": prompt["id"], "choice": (question.answer + 1) % 3})
    assert res.status_code == 200 and res.get_json()["passed"] is False
    assert res.get_json()["credited_s"] == 0
    last = db.scalars(select(Attestation).order_by(Attestation.id.desc())).first()
    assert (last.ok, last.source, last.detail) == (False, "question", "wrong")


@pytest.mark.parametrize("choice", [None, "1", 7, -1, True, 1.0])
def test_a_malformed_choice_fails_like_a_wrong_one(learner, db, choice):
    prompt = open_question(learner)
    res = learner.post("confirm", {"prompt_id": prompt["id"], "choice": choice})
    assert res.status_code == 200 and res.get_json()["passed"] is False
    assert db.scalar(select(ProctorCheck.reason).where(ProctorCheck.kind == "question")) == "invalid"


def test_a_question_is_not_asked_twice_in_a_sitting(learner, db, clock):
    seen = set()
    learner.start()
    learner.beat(position=0.0)
    for _ in range(3):
        body = learner.play(60)
        prompt = body["prompt"]
        assert prompt["question"]["prompt"] not in seen
        seen.add(prompt["question"]["prompt"])
        question = asked(db, prompt["question"]["prompt"])
        learner.post("confirm", {"prompt_id": prompt["id"], "choice": question.answer})


def test_under_the_camera_a_right_answer_attests_nothing(app, learner, db, enrolled_zhangsan):
    app.config["PROCTORING_REQUIRED"] = True
    res = learner.client.api("/api/study/start", {"course_id": learner.course_id})
    assert res.status_code == 400 and res.get_json()["error"] == "consent_required"
    res = learner.client.api("/api/study/start", {"course_id": learner.course_id, "camera_consent": True})
    assert res.status_code == 200 and res.get_json()["proctored"] is True
    learner.session = res.get_json()["session_id"]
    learner.beat(position=0.0)
    assert learner.play(60)["prompt"] is None     # no question before the camera has verified the learner
    before = db.scalars(select(Attestation).where(Attestation.session_id == learner.session)).all()
    assert [(a.ok, a.detail) for a in before] == [(False, "awaiting camera")]   # nothing counts before the camera
    with app.app_context():    # what the camera's first passed identity check does (see the pipeline tests)
        from webapp.models import StudySession
        from webapp.study.service import attest
        study = db.get(StudySession, learner.session)
        attest(db, study, learner.clock.now, ok=True, source="camera:identity")
        db.commit()
    body = learner.play(60)
    question = asked(db, body["prompt"]["question"]["prompt"])
    res = learner.post("confirm", {"prompt_id": body["prompt"]["id"], "choice": question.answer})
    assert res.get_json()["passed"] is True
    after = db.scalars(select(Attestation).where(Attestation.session_id == learner.session)).all()
    assert len(after) == 2 and not db.scalars(select(CreditEntry)).all()


def test_under_the_camera_studying_needs_an_enrolled_face(app, learner):
    app.config["PROCTORING_REQUIRED"] = True
    res = learner.client.api("/api/study/start", {"course_id": learner.course_id, "camera_consent": True})
    assert res.status_code == 409 and res.get_json()["error"] == "not_enrolled"
    assert res.get_json()["message"]


@pytest.fixture
def enrolled_zhangsan(app, db):
    import numpy as np
    with app.app_context():
        db.add(FaceEnrolment(user_id=user(db, "zhangsan").id, source="upload", quality_json="{}", active=True,
                             embedding_enc=encrypt_embedding(np.linspace(-0.2, 0.2, 128))))
        db.commit()
