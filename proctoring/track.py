"""One continuous face track between identity checks, cheaply (no embedding per sample).

A seat swap must not earn the time until the next random identity check. The track breaks,
and the sitting runs an identity check at once, when:
* the face leaves the picture and a face comes back, even for one sample (less than the
  presence grace period: nobody is held, but who came back is checked);
* the box jumps: the face centre moves more than `max_jump` face widths, or its size changes by
  more than `max_scale`, between two consecutive samples;
* the appearance changes: at 1 fps a swap can happen between two samples with the new face in
  the old place, so every sample's appearance (a hue/saturation histogram of the head and
  shoulders, ~0.2 ms) is compared with the one taken when identity last passed.

Measured on the real sample photos in webcam scenes (proctoring.sample_faces, 320x240, different
backgrounds, head turned and nodding): the same person 0.78-1.00 histogram intersection,
different people 0.27-0.31. `min_similarity` 0.55 sits between; a false break costs one extra
identity check, never credit.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]     # x, y, w, h in pixels


@dataclass(frozen=True)
class TrackPolicy:
    min_similarity: float = 0.55
    max_jump: float = 1.0            # face widths between consecutive samples
    max_scale: float = 1.8


def appearance(rgb: np.ndarray, box: Box) -> np.ndarray:
    """A normalised 12x8 hue/saturation histogram of the head and shoulders around `box`."""
    height, width = rgb.shape[:2]
    x, y, w, h = box
    x0, x1 = int(max(0, x - 0.5 * w)), int(min(width, x + 1.5 * w))
    y0, y1 = int(max(0, y - 0.3 * h)), int(min(height, y + 1.6 * h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return np.zeros(96, np.float32)
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [12, 8], [0, 180, 0, 256]).flatten()
    return (hist / max(float(hist.sum()), 1e-9)).astype(np.float32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Histogram intersection: 1 the same distribution, 0 disjoint."""
    return float(np.minimum(a, b).sum())


@dataclass
class FaceTrack:
    policy: TrackPolicy = TrackPolicy()
    anchor: np.ndarray | None = None     # appearance when identity last passed
    latest: np.ndarray | None = None     # appearance of the latest single-face sample
    _box: Box | None = None
    _gap: bool = False

    def verified(self) -> None:
        """Identity passed: the current appearance is the learner's."""
        if self.latest is not None:
            self.anchor = self.latest

    def observe(self, faces: int, box: Box | None = None, signature: np.ndarray | None = None) -> str | None:
        """One sample; the reason the track broke, or None."""
        if faces == 0:
            self._gap = self._box is not None
            return None
        if faces > 1:
            self._box, self._gap = None, False
            return None          # several faces: presence flags and holds
        reason = None
        if self._gap:
            reason = "face_returned"
        elif self._box is not None and box is not None:
            (x0, y0, w0, h0), (x1, y1, w1, h1) = self._box, box
            jump = np.hypot((x1 + w1 / 2) - (x0 + w0 / 2), (y1 + h1 / 2) - (y0 + h0 / 2)) / max(w0, w1, 1e-9)
            scale = max(w0, w1) / max(min(w0, w1), 1e-9)
            if jump > self.policy.max_jump or scale > self.policy.max_scale:
                reason = "box_jump"
        if signature is not None:
            self.latest = signature
            if reason is None and self.anchor is not None and \
                    similarity(self.anchor, signature) < self.policy.min_similarity:
                reason = "appearance_changed"
        if box is not None:
            self._box = box
        self._gap = False
        return reason
