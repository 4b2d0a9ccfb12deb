"""Frame analysis on real photos with the real models (mediapipe, dlib), offline."""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from proctoring import sample_faces as sf
from proctoring.vision import (IDENTITY_THRESHOLD, Analyzer, Box, compare, distance,
                               pose_from_matrix, thread_analyzer)


@pytest.fixture(scope="module")
def analyzer():
    a = Analyzer()
    yield a
    a.close()


@pytest.fixture(scope="module")
def reference(analyzer):
    img = sf.photo("astronaut")
    (det,) = analyzer.detector.detect(img)
    return analyzer.embed(img, det.box)


def _jpeg(img, q):
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def test_astronaut_photo_has_one_confident_face(analyzer):
    img = sf.photo("astronaut")
    found = analyzer.detector.detect(img)
    assert len(found) == 1 and found[0].score > 0.6
    b = found[0].box
    assert 0 <= b.x and 0 <= b.y and b.x + b.w <= img.shape[1] and b.y + b.h <= img.shape[0]
    assert 70 <= b.h <= 130


@pytest.mark.parametrize("size", [(640, 480), (320, 240)])
def test_empty_rooms_have_no_face(analyzer, size):
    for seed in range(4):
        assert analyzer.presence_scores(sf.scene(None, size, seed)) == ()


def test_uniform_noise_frames_have_no_face(analyzer):
    rng = np.random.default_rng(7)
    hits = [analyzer.presence_scores(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)) for _ in range(30)]
    assert all(h == () for h in hits), hits


@pytest.mark.parametrize("size", [(640, 480), (320, 240)])
def test_scenes_count_people(analyzer, size):
    assert len(analyzer.presence_scores(sf.scene("astronaut", size))) == 1
    assert len(analyzer.presence_scores(sf.scene("grace_hopper", size))) == 1
    assert len(analyzer.presence_scores(sf.two_people(size))) == 2


def test_same_person_variants_are_within_the_threshold(analyzer, reference):
    img = sf.photo("astronaut")
    variants = {
        "scene640": sf.scene("astronaut", (640, 480), seed=3),
        "scene320": sf.scene("astronaut", (320, 240), seed=4),
        "jpeg30": _jpeg(img, 30),
        "darker": (img * 0.6).astype(np.uint8),
        "mirror": np.ascontiguousarray(img[:, ::-1]),
    }
    for name, frame in variants.items():
        result = analyzer.identity(frame, [reference])
        assert result.faces == 1 and result.verdict is not None, name
        assert result.verdict.passed and result.verdict.distance < IDENTITY_THRESHOLD, (name, result)
        assert result.verdict.threshold == IDENTITY_THRESHOLD


def test_impostor_is_beyond_the_threshold(analyzer, reference):
    for frame in (sf.photo("grace_hopper"), sf.scene("grace_hopper", seed=5)):
        result = analyzer.identity(frame, [reference])
        assert result.faces == 1
        assert not result.verdict.passed and result.verdict.distance > IDENTITY_THRESHOLD + 0.1


def test_compare_takes_the_nearest_reference(reference):
    far = np.zeros(128, np.float32)
    verdict = compare(reference + 0.01, [far, reference])
    assert verdict.passed and verdict.distance == pytest.approx(distance(reference + 0.01, reference))
    assert not compare(reference, [far]).passed
    with pytest.raises(ValueError):
        compare(reference, [])


def test_identity_needs_exactly_one_face(analyzer, reference):
    empty = analyzer.identity(sf.scene(None), [reference])
    assert empty.faces == 0 and empty.verdict is None and empty.box is None and empty.detector_score == 0.0
    crowd = analyzer.identity(sf.two_people(), [reference])
    assert crowd.faces == 2 and crowd.verdict is None and crowd.detector_score > 0.6


def test_embedding_shape(analyzer):
    img = sf.photo("grace_hopper")
    emb = analyzer.embed(img, analyzer.detector.detect(img)[0].box)
    assert emb.shape == (128,) and emb.dtype == np.float32


def test_frontal_photo_pose(analyzer):
    (face,) = analyzer.pose(sf.photo("astronaut"))
    assert abs(face.yaw_deg) < 10 and abs(face.pitch_deg) < 20
    assert face.eye_openness > 0.6 and face.score > 0.6


def test_turn_sign_and_mirror_flips_yaw(analyzer):
    """+yaw is the learner's own left: the nose moves to image right in an unmirrored frame."""
    turned = sf.turn(sf.photo("astronaut"), 35)
    (face,) = analyzer.pose(turned)
    assert face.yaw_deg > 20
    raw = analyzer.landmarks.raw(turned).face_landmarks[0]
    assert raw[1].x > (raw[234].x + raw[454].x) / 2  # nose tip right of the face's middle
    (mirrored,) = analyzer.pose(np.ascontiguousarray(turned[:, ::-1]))
    assert mirrored.yaw_deg < -20
    (other_way,) = analyzer.pose(sf.turn(sf.photo("astronaut"), -35))
    assert other_way.yaw_deg < -20


def test_pose_from_matrix_signs():
    def yaw_matrix(deg):
        t = np.radians(deg)
        m = np.eye(4)
        m[0, 0], m[0, 2], m[2, 0], m[2, 2] = np.cos(t), np.sin(t), -np.sin(t), np.cos(t)
        return m
    assert pose_from_matrix(yaw_matrix(30))[0] == pytest.approx(30)
    assert pose_from_matrix(np.eye(4)) == (0.0, 0.0)


def test_thread_analyzer_is_per_thread():
    mine = thread_analyzer()
    assert thread_analyzer() is mine
    theirs = []
    t = threading.Thread(target=lambda: theirs.append(thread_analyzer()))
    t.start()
    t.join()
    assert theirs[0] is not mine
    theirs[0].close()


def test_bad_frames_are_refused(analyzer):
    with pytest.raises(ValueError):
        analyzer.presence_scores(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        analyzer.presence_scores(np.zeros((10, 10, 3), np.float32))


def test_box_iou():
    assert Box(0, 0, 10, 10).iou(Box(0, 0, 10, 10)) == 1.0
    assert Box(0, 0, 10, 10).iou(Box(20, 20, 5, 5)) == 0.0


def test_write_y4m(tmp_path):
    frames = [sf.scene("astronaut", (640, 480), s) for s in range(3)]
    path = sf.write_y4m(tmp_path / "cam.y4m", frames)
    data = path.read_bytes()
    header = b"YUV4MPEG2 W640 H480 F15:1 Ip A1:1 C420jpeg\n"
    assert data.startswith(header)
    frame_bytes = 640 * 480 * 3 // 2
    assert len(data) == len(header) + 3 * (len(b"FRAME\n") + frame_bytes)
    assert data.count(b"FRAME\n") >= 3


# --- liveness actions on real input: photos re-rendered by sample_faces, read by the real landmarker

RENDER = {"turn_left": lambda img: sf.turn(img, 40.0), "turn_right": lambda img: sf.turn(img, -40.0),
          "look_up": lambda img: sf.nod(img, 35.0), "look_down": lambda img: sf.nod(img, -30.0),
          "open_mouth": lambda img: sf.open_mouth(img, 0.2)}


def _window(analyzer, neutral, action_frame):
    """Pose samples of one 4 s step window at 6 fps: looking at the screen for a second, the
    action for a second, then back (the real analyzer on every frame)."""
    from proctoring.liveness import PoseSample

    samples = []
    for i in range(24):
        frame = action_frame if action_frame is not None and 6 <= i < 12 else neutral
        (face,) = analyzer.pose(frame)
        samples.append(PoseSample(i / 6, face.eye_openness, face.yaw_deg, face.pitch_deg, face.mouth_open))
    return samples


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_every_default_liveness_action_passes_on_real_input_and_a_still_face_does_not(analyzer, name):
    from proctoring.liveness import Action, LivenessPolicy, verify

    policy = LivenessPolicy()
    assert set(policy.actions) == set(RENDER)          # every default action has a real-input test
    neutral = sf.scene(name, (320, 240), seed=0)
    frames = {action: RENDER[action](neutral) for action in RENDER}
    still = _window(analyzer, neutral, None)
    for action, frame in frames.items():
        done = _window(analyzer, neutral, frame)
        assert verify((Action(action),), (0.0,), done, policy).passed, (name, action, done[8])
        assert not verify((Action(action),), (0.0,), still, policy).passed, (name, action)
        for other in RENDER:                            # an action does not pass for another one
            if other != action:
                assert not verify((Action(other),), (0.0,), done, policy).passed, (name, action, other)


def test_open_mouth_render_moves_the_jaw_and_nothing_else(analyzer):
    neutral = sf.scene("astronaut", (320, 240), seed=0)
    (closed,) = analyzer.pose(neutral)
    (opened,) = analyzer.pose(sf.open_mouth(neutral, 0.2))
    assert closed.mouth_open < 0.05 and opened.mouth_open > 0.15
    assert abs(opened.yaw_deg - closed.yaw_deg) < 5 and abs(opened.pitch_deg - closed.pitch_deg) < 5
