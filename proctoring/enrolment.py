"""Quality gates for an enrolment (reference) photo: is it good enough to compare with later?

Pure code over plain data: an RGB frame and an `Analyzer` in, an `EnrolmentQuality` out.
Checks, in order (the first failure is the reason):

* "no_face": the detector finds no face (score >= its min_score, 0.6);
* "several_faces": more than one face;
* "too_small": the face box's shorter side is below `min_face_px` (80 by default: dlib's
  ResNet aligns faces to 150 px chips; smaller faces give noisier embeddings);
* "blurry": the variance of the Laplacian of the grey face crop, resized to 112x112 so the
  measure does not depend on the face's size, is below `min_sharpness`;
* "not_frontal": |yaw| or |pitch| from the landmarker above `max_angle_deg` (20), or the
  landmarker cannot place the face at all;
* "ok": the embedding is returned.

Calibration of `min_sharpness` = 60 (measured on the real photos, Gaussian blur sigma in the
photo's pixels; Laplacian variance of the normalised face crop):
  astronaut photo (95 px face)       sharp 301, sigma 1: 46, 1.5: 24, 2: 15, JPEG q30: 259
  grace_hopper photo (194 px face)   sharp 1650, sigma 1: 449, 1.5: 202, 2: 100, 3: 34
  astronaut in a 640x480 room scene  sharp 178, sigma 1: 56, 1.5: 32
  grace_hopper in a 640x480 scene    sharp 904, sigma 1: 168, 1.5: 68, 2: 34
  both in 320x240 scenes             sharp 241 / 701, sigma 1.5: 47 / 52
Every sharp image is >= 178 (3x the threshold) and JPEG q30 does not come near it; blur of
about 1.2 px or more at the 112 px face scale falls below 60. The measure depends on the
face's texture (grace_hopper's photo is very detailed), so it is a floor, not a grade.
Note: the astronaut photo itself has pitch ~ -15 deg by the landmarker's matrix (the neutral
pose of real frontal photos is not 0), which leaves 5 deg below the 20 deg limit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

REASONS = ("ok", "no_face", "several_faces", "too_small", "blurry", "not_frontal")


@dataclass(frozen=True)
class QualityPolicy:
    min_face_px: int = 80          # shorter side of the detector's face box
    min_sharpness: float = 60.0    # variance of the Laplacian on the 112x112 grey face crop
    max_angle_deg: float = 20.0    # |yaw| and |pitch|
    sharpness_side: int = 112      # the face crop is resized to this square before measuring


@dataclass(frozen=True)
class EnrolmentQuality:
    ok: bool
    reason: str                          # one of REASONS
    embedding: np.ndarray | None         # 128 float32 when ok
    metrics: dict[str, Any] = field(default_factory=dict)


def sharpness(rgb: np.ndarray, box, side: int = 112) -> float:
    """Variance of the Laplacian of the grey face crop resized to side x side."""
    import cv2

    crop = rgb[box.y:box.y + box.h, box.x:box.x + box.w]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def assess(rgb: np.ndarray, analyzer, policy: QualityPolicy = QualityPolicy()) -> EnrolmentQuality:
    """Check a candidate reference photo; `analyzer` is a `proctoring.vision.Analyzer`."""
    metrics: dict[str, Any] = {"height": int(rgb.shape[0]), "width": int(rgb.shape[1])}
    detections = analyzer.detector.detect(rgb)
    metrics["faces"] = len(detections)
    metrics["scores"] = [round(d.score, 4) for d in detections]
    if not detections:
        return EnrolmentQuality(False, "no_face", None, metrics)
    if len(detections) > 1:
        return EnrolmentQuality(False, "several_faces", None, metrics)
    box = detections[0].box
    metrics["box"] = (box.x, box.y, box.w, box.h)
    metrics["face_px"] = min(box.w, box.h)
    if metrics["face_px"] < policy.min_face_px:
        return EnrolmentQuality(False, "too_small", None, metrics)
    metrics["sharpness"] = round(sharpness(rgb, box, policy.sharpness_side), 2)
    if metrics["sharpness"] < policy.min_sharpness:
        return EnrolmentQuality(False, "blurry", None, metrics)
    poses = analyzer.pose(rgb)
    face = max(poses, key=lambda o: o.box.iou(box), default=None)
    if face is None or face.box.iou(box) <= 0.2:
        metrics["yaw_deg"] = metrics["pitch_deg"] = None
        return EnrolmentQuality(False, "not_frontal", None, metrics)
    metrics["yaw_deg"] = round(face.yaw_deg, 2)
    metrics["pitch_deg"] = round(face.pitch_deg, 2)
    metrics["eye_openness"] = round(face.eye_openness, 3)
    if abs(face.yaw_deg) > policy.max_angle_deg or abs(face.pitch_deg) > policy.max_angle_deg:
        return EnrolmentQuality(False, "not_frontal", None, metrics)
    return EnrolmentQuality(True, "ok", analyzer.embed(rgb, box), metrics)
