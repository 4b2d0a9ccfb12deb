"""How fast and how large the learner's browser sends its camera, by check state.

Pure code: the server decides how many frames its checks need and asks the browser for that
(webapp.proctor sends the rule's answer over the proctor Socket.IO channel; the page applies it
with ``RTCRtpSender.setParameters``: ``maxFramerate``, and ``scaleResolutionDownBy`` from its own
capture height). The server decodes every frame it receives, so the frames it does not ask for
are the decode cost it does not pay.

The rule:

* **baseline** (no liveness challenge running): ``base_fps`` at ``base_height`` lines. What
  runs on these frames is presence (the face detector), the face track that catches a seat swap
  (one sample's appearance against the verified one, see proctoring.track), the frozen/looped
  feed check (about one thumbnail a second, proctoring.feed) and every identity check that is
  not followed by a challenge: the scheduled ones and the one a broken face track starts at
  once. The engine samples ``CAMERA_SAMPLE_FPS`` (1 by default), so the baseline is that: one
  frame a second. Its height stays 240 lines: an identity check starts without warning on the
  next baseline frame, and at 120 lines the enrolled face's distance to its reference doubles
  (0.13-0.16 at 240, 0.31-0.35 at 120, threshold 0.51: README, "Camera frame rate").
* **challenge** (a liveness challenge is running, from its identity pass to the end of its
  last window: the engine's burst): ``challenge_fps`` at ``challenge_height``. The challenge
  needs ``LivenessPolicy.min_samples`` pose samples inside each window; the engine samples
  ``CAMERA_BURST_FPS`` (6 by default) then.

The server never depends on the page obeying: the engine's sampling is bounded by its own
sample/burst rates whatever arrives, and a page that sends less only gets fewer samples (a
challenge without enough of them fails).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MIN_FPS, MAX_FPS = 0.5, 30.0          # what the page accepts (camera.js validates the same bounds)
MIN_HEIGHT, MAX_HEIGHT = 60, 1080


@dataclass(frozen=True)
class CameraRatePolicy:
    base_fps: float = 1.0
    base_height: int = 240
    challenge_fps: float = 6.0
    challenge_height: int = 240

    def __post_init__(self):
        for name in ("base_fps", "challenge_fps"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and MIN_FPS <= value <= MAX_FPS):
                raise ValueError(f"{name} must be within [{MIN_FPS:g}, {MAX_FPS:g}], got {value!r}")
        for name in ("base_height", "challenge_height"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and MIN_HEIGHT <= value <= MAX_HEIGHT):
                raise ValueError(f"{name} must be an integer within [{MIN_HEIGHT}, {MAX_HEIGHT}], got {value!r}")
        if self.challenge_fps < self.base_fps or self.challenge_height < self.base_height:
            raise ValueError("a challenge never asks for less than the baseline")


@dataclass(frozen=True)
class CameraRate:
    """What the browser is asked to send: at most `fps` frames a second, `height` lines high
    (the page scales its capture down by capture height / height, never up)."""
    fps: float
    height: int
    raised: bool          # a liveness challenge is running

    def message(self) -> dict:
        """The proctor event's payload (besides session_id)."""
        return {"state": "camera", "fps": self.fps, "height": self.height, "raised": self.raised}


def camera_rate(policy: CameraRatePolicy, now: float, challenge_until: float | None = None,
                challenge_running: bool = False) -> CameraRate:
    """The rate for this moment: raised while a liveness challenge runs (`challenge_running`)
    and its burst lasts (`now < challenge_until`, the end of its last window), else the baseline."""
    if challenge_running and challenge_until is not None and now < challenge_until:
        return CameraRate(policy.challenge_fps, policy.challenge_height, True)
    return CameraRate(policy.base_fps, policy.base_height, False)


def scale_down_by(capture_height: float, height: int) -> float:
    """``scaleResolutionDownBy`` for a capture `capture_height` lines high (what camera.js
    computes): never below 1 (a browser cannot scale up)."""
    if not capture_height or capture_height <= height:
        return 1.0
    return capture_height / height
