"""Frame analysis: RGB frames (uint8 HxWx3 numpy arrays) in, plain dataclasses out.

Three models, all loaded from local files (`proctoring.model_files`), nothing downloaded:

* `FaceDetector`: MediaPipe BlazeFace short-range (Tasks API), ~2 ms a frame. It fires on
  noise below a score of 0.6 (STACK.md), so `min_score` defaults to 0.6.
* `FaceLandmarks`: MediaPipe FaceLandmarker (478 landmarks, 52 blendshapes, a facial
  transformation matrix): eye openness and head pose for liveness.
* `Embedder`: dlib's 5-point shape predictor and ResNet face descriptor (128-d, Euclidean
  distance), fed with MediaPipe's boxes (dlib's HOG detector took a mission patch for a face).

Head pose sign convention (the one `proctoring.liveness.PoseSample` uses):
  * `yaw_deg` > 0: the learner turned to *their own* left. In an unmirrored camera frame the
    learner's left is on the image's right, so the nose moves towards +x (image right).
  * `pitch_deg` > 0: the learner looks up (chin raised).
  Browsers usually *show* the local preview mirrored, but the frames they send are not
  mirrored; a mirrored frame flips the sign of yaw (tests check that).
  How the signs were established: the transformation matrix R maps the canonical face model
  (x towards the face's left side as seen by the camera, i.e. image right; y up; z out of the
  face towards the camera) into camera space (x image right, y image up, z towards the
  viewer). The face's forward axis is R[:, 2]; its x component is positive when the nose
  points to image right, i.e. when the learner turned to their left. This was checked
  empirically against the landmarks: on the synthetic 3D head turns of `sample_faces.turn`
  (+-25..45 deg on two real photos, measured +-14..36) and their mirror images, the sign of
  atan2(R[0,2], R[2,2]) always agreed with the side the nose tip (landmark 1) sits on
  relative to the midpoint of the face contour (landmarks 234 and 454), and mirroring
  flipped it.

MediaPipe task objects are not thread-safe: use one `Analyzer` per worker thread
(`thread_analyzer()` gives each thread its own, created lazily).
"""
from __future__ import annotations

import atexit
import math
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Sequence

import numpy as np

# mediapipe's native logging (glog/absl) prints an INFO line per model load to stderr; keep
# warnings and errors only, unless the operator set a level.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .model_files import detector_path, dlib_model, landmarker_path

# Chosen by `python -m proctoring.evaluate` on 20 calibration people of the ORL set plus 304
# impostor portraits: the largest threshold (0.01 steps) with FAR <= 0.1% in every impostor family;
# FAR/FRR/EER are reported on 20 other, held-out people (proctoring/evaluation.json, README).
# tests/unit/test_evaluation.py ties this value to that file. Same person at or below it.
IDENTITY_THRESHOLD = 0.51


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def iou(self, other: "Box") -> float:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1 = min(self.x + self.w, other.x + other.w)
        y1 = min(self.y + self.h, other.y + other.h)
        inter = max(0, x1 - x0) * max(0, y1 - y0)
        union = self.area + other.area - inter
        return inter / union if union else 0.0


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float


@dataclass(frozen=True)
class FaceObservation:
    box: Box
    score: float          # detector score of the matching detection; NaN when unknown
    eye_openness: float   # 0 closed .. 1 open: 1 - mean(eyeBlinkLeft, eyeBlinkRight)
    yaw_deg: float        # + the learner's own left (nose towards image right)
    pitch_deg: float      # + looking up
    mouth_open: float = 0.0   # jawOpen blendshape, 0 closed .. 1 wide open


@dataclass(frozen=True)
class IdentityVerdict:
    passed: bool
    distance: float
    threshold: float


@dataclass(frozen=True)
class IdentityResult:
    faces: int                       # faces the detector found (score >= min_score)
    verdict: IdentityVerdict | None  # None unless exactly one face
    detector_score: float            # best detector score, 0.0 when no face
    box: Box | None                  # the face compared, None unless exactly one face


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB array, got {getattr(rgb, 'shape', type(rgb))}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {rgb.dtype}")
    return np.ascontiguousarray(rgb)


def _mp_image(rgb: np.ndarray):
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=_check_rgb(rgb))


def _clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> Box:
    x0 = int(round(min(max(x, 0), width)))
    y0 = int(round(min(max(y, 0), height)))
    x1 = int(round(min(max(x + w, 0), width)))
    y1 = int(round(min(max(y + h, 0), height)))
    return Box(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


# MediaPipe task objects raise from __del__ when garbage-collected during interpreter
# shutdown; close the ones still alive before that.
_open_tasks: "weakref.WeakSet" = weakref.WeakSet()


@atexit.register
def _close_open_tasks() -> None:
    for task in list(_open_tasks):
        try:
            task.close()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


class FaceDetector:
    """BlazeFace short-range, IMAGE mode. Boxes are in pixels of the given frame, clipped to it.

    Frames larger than `max_side` are first shrunk with area averaging (the model's input is
    128x128 anyway, and MediaPipe's own resize does not average). Measured on 60 uniform-noise
    640x480 frames: without it 4 scored >= 0.6 (max 0.72, worse than STACK.md's 0.59); with
    it the maximum was 0.33, and real faces scored the same or higher (small faces 0.59-0.63
    -> 0.70-0.71).
    """

    def __init__(self, min_score: float = 0.6, max_side: int | None = 256):
        from mediapipe.tasks.python import BaseOptions, vision

        self.min_score = min_score
        self.max_side = max_side
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(detector_path())),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=min_score,
        )
        self._task = vision.FaceDetector.create_from_options(options)
        _open_tasks.add(self._task)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        height, width = rgb.shape[:2]
        frame, scale = _check_rgb(rgb), 1.0
        if self.max_side and max(height, width) > self.max_side:
            import cv2

            scale = self.max_side / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            scale = size[0] / width
        result = self._task.detect(_mp_image(frame))
        found = []
        for d in result.detections:
            score = float(d.categories[0].score) if d.categories else 0.0
            if score < self.min_score:
                continue
            bb = d.bounding_box
            box = _clip_box(bb.origin_x / scale, bb.origin_y / scale, bb.width / scale, bb.height / scale,
                            width, height)
            if box.w > 0 and box.h > 0:
                found.append(Detection(box, score))
        found.sort(key=lambda det: det.score, reverse=True)
        return found

    def close(self) -> None:
        self._task.close()


def pose_from_matrix(matrix: np.ndarray) -> tuple[float, float]:
    """(yaw_deg, pitch_deg) from MediaPipe's 4x4 facial transformation matrix.

    yaw > 0: the learner's own left (nose towards image right); pitch > 0: looking up.
    See the module docstring for how the signs were checked.
    """
    r = np.asarray(matrix, dtype=float)[:3, :3]
    forward = r[:, 2]  # the face's out-of-face axis in camera coordinates
    yaw = math.degrees(math.atan2(forward[0], forward[2]))
    pitch = math.degrees(math.atan2(forward[1], math.hypot(forward[0], forward[2])))
    return yaw, pitch


class FaceLandmarks:
    """MediaPipe FaceLandmarker, IMAGE mode, up to `num_faces` faces."""

    def __init__(self, num_faces: int = 3, min_confidence: float = 0.5):
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(landmarker_path())),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=num_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self._task = vision.FaceLandmarker.create_from_options(options)
        _open_tasks.add(self._task)

    def raw(self, rgb: np.ndarray):
        """The MediaPipe result itself (landmarks included), for diagnostics and tests."""
        return self._task.detect(_mp_image(rgb))

    def analyse(self, rgb: np.ndarray) -> list[FaceObservation]:
        """One observation per face, largest first. `score` is NaN: the landmarker gives none
        (`Analyzer.pose` fills it in from the detector)."""
        height, width = rgb.shape[:2]
        result = self.raw(rgb)
        observations = []
        for i, landmarks in enumerate(result.face_landmarks):
            xs = np.array([p.x for p in landmarks]) * width
            ys = np.array([p.y for p in landmarks]) * height
            box = _clip_box(xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min(), width, height)
            blend = {c.category_name: c.score for c in result.face_blendshapes[i]} if result.face_blendshapes else {}
            blink = (blend.get("eyeBlinkLeft", 0.0) + blend.get("eyeBlinkRight", 0.0)) / 2
            if result.facial_transformation_matrixes:
                yaw, pitch = pose_from_matrix(result.facial_transformation_matrixes[i])
            else:  # pragma: no cover - we always ask for the matrices
                yaw = pitch = float("nan")
            observations.append(FaceObservation(box, float("nan"), float(1.0 - blink), yaw, pitch,
                                                float(blend.get("jawOpen", 0.0))))
        observations.sort(key=lambda o: o.box.area, reverse=True)
        return observations

    def close(self) -> None:
        self._task.close()


class Embedder:
    """dlib 5-point alignment + ResNet descriptor: 128 float32 values per face."""

    def __init__(self):
        import dlib

        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(dlib_model("shape_predictor_5_face_landmarks.dat")))
        self._net = dlib.face_recognition_model_v1(str(dlib_model("dlib_face_recognition_resnet_model_v1.dat")))

    def embed(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        image = _check_rgb(rgb)
        rect = self._dlib.rectangle(int(box.x), int(box.y), int(box.x + box.w - 1), int(box.y + box.h - 1))
        shape = self._shape(image, rect)
        return np.asarray(self._net.compute_face_descriptor(image, shape), dtype=np.float32)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def compare(embedding: np.ndarray, references: Sequence[np.ndarray],
            threshold: float = IDENTITY_THRESHOLD) -> IdentityVerdict:
    """Same person if the nearest reference is within `threshold` (inclusive)."""
    if len(references) == 0:
        raise ValueError("no reference embeddings to compare with")
    best = min(distance(embedding, ref) for ref in references)
    return IdentityVerdict(best <= threshold, best, threshold)


class Analyzer:
    """The three models together. Not thread-safe: one per worker thread (`thread_analyzer`).

    The landmarker and the embedder are created on first use, so a presence-only worker
    pays only for the detector.
    """

    def __init__(self, min_score: float = 0.6, num_faces: int = 3):
        self.detector = FaceDetector(min_score)
        self._num_faces = num_faces
        self._landmarks: FaceLandmarks | None = None
        self._embedder: Embedder | None = None

    @property
    def landmarks(self) -> FaceLandmarks:
        if self._landmarks is None:
            self._landmarks = FaceLandmarks(self._num_faces)
        return self._landmarks

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder()
        return self._embedder

    def presence_scores(self, rgb: np.ndarray) -> tuple[float, ...]:
        """Detector scores (>= min_score) of the faces in the frame, best first."""
        return tuple(d.score for d in self.detector.detect(rgb))

    def pose(self, rgb: np.ndarray) -> list[FaceObservation]:
        """Landmarker observations, each with the score of the detection it overlaps most."""
        observations = self.landmarks.analyse(rgb)
        if not observations:
            return []
        detections = self.detector.detect(rgb)
        scored = []
        for o in observations:
            best = max(detections, key=lambda d: d.box.iou(o.box), default=None)
            score = best.score if best is not None and best.box.iou(o.box) > 0.2 else float("nan")
            scored.append(FaceObservation(o.box, score, o.eye_openness, o.yaw_deg, o.pitch_deg, o.mouth_open))
        return scored

    def embed(self, rgb: np.ndarray, box: Box) -> np.ndarray:
        return self.embedder.embed(rgb, box)

    def identity(self, rgb: np.ndarray, references: Sequence[np.ndarray],
                 threshold: float = IDENTITY_THRESHOLD) -> IdentityResult:
        detections = self.detector.detect(rgb)
        top = detections[0].score if detections else 0.0
        if len(detections) != 1:
            return IdentityResult(len(detections), None, top, None)
        box = detections[0].box
        verdict = compare(self.embedder.embed(rgb, box), references, threshold)
        return IdentityResult(1, verdict, top, box)

    def close(self) -> None:
        self.detector.close()
        if self._landmarks is not None:
            self._landmarks.close()


_local = threading.local()


def thread_analyzer() -> Analyzer:
    """This thread's own Analyzer, created on first use."""
    analyzer = getattr(_local, "analyzer", None)
    if analyzer is None:
        analyzer = _local.analyzer = Analyzer()
    return analyzer


# --- an identity worker process ------------------------------------------------------------
# dlib's descriptor holds the GIL for its whole ~130 ms: run in a thread of the web process it
# would stall every other Python thread, the WebRTC event loop included. These two functions
# are the entry points of a separate worker process (webapp.proctor.check_runner starts it).

def warm_up() -> None:
    """Load every model of this thread's Analyzer once (seconds), before real work arrives."""
    analyzer = thread_analyzer()
    blank = np.zeros((240, 320, 3), np.uint8)
    analyzer.presence_scores(blank)
    analyzer.pose(blank)
    analyzer.embed(blank, Box(100, 60, 120, 120))


def identify_timed(rgb: np.ndarray, references: Sequence[np.ndarray],
                   threshold: float = IDENTITY_THRESHOLD) -> tuple[IdentityResult, float]:
    """`thread_analyzer().identity(...)` and the CPU milliseconds it took in this process."""
    import time

    started = time.thread_time()
    result = thread_analyzer().identity(rgb, references, threshold)
    return result, (time.thread_time() - started) * 1000
