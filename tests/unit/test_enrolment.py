"""Enrolment photo quality gates, each rejection triggered by a real image."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from proctoring import sample_faces as sf
from proctoring.enrolment import QualityPolicy, assess
from proctoring.vision import Analyzer


@pytest.fixture(scope="module")
def analyzer():
    a = Analyzer()
    yield a
    a.close()


def test_clean_astronaut_is_accepted(analyzer):
    q = assess(sf.photo("astronaut"), analyzer)
    assert q.ok and q.reason == "ok"
    assert q.embedding is not None and q.embedding.shape == (128,)
    assert q.metrics["face_px"] >= 80 and q.metrics["sharpness"] >= 60
    assert abs(q.metrics["yaw_deg"]) <= 20 and abs(q.metrics["pitch_deg"]) <= 20


def test_webcam_scene_is_accepted(analyzer):
    assert assess(sf.scene("astronaut", (640, 480)), analyzer).reason == "ok"


def test_empty_room_has_no_face(analyzer):
    q = assess(sf.scene(None), analyzer)
    assert not q.ok and q.reason == "no_face" and q.embedding is None


def test_two_people_are_refused(analyzer):
    assert assess(sf.two_people(), analyzer).reason == "several_faces"


def test_tiny_face_is_refused(analyzer):
    small = sf.scene("astronaut", (320, 240), face_height=55)
    q = assess(small, analyzer)
    assert q.reason == "too_small" and q.metrics["face_px"] < 80
    # the limit is configurable
    assert assess(small, analyzer, QualityPolicy(min_face_px=30)).reason == "ok"


def test_blurred_photo_is_refused(analyzer):
    q = assess(cv2.GaussianBlur(sf.photo("astronaut"), (0, 0), 2.0), analyzer)
    assert q.reason == "blurry" and q.metrics["sharpness"] < 60


def test_jpeg_compression_is_not_blur(analyzer):
    ok, buf = cv2.imencode(".jpg", sf.photo("astronaut")[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 30])
    img = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    assert assess(img, analyzer).reason == "ok"


def test_turned_head_is_refused(analyzer):
    q = assess(sf.turn(sf.photo("astronaut"), 40), analyzer)
    assert q.reason == "not_frontal" and q.metrics["yaw_deg"] > 20
