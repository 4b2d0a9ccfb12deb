"""The face for the check-in: a short burst of frames filmed while the station shows the prompts of
the portal's liveness challenge (``POST /checkin/challenge``, docs/vr_station_api.md), as
``[(offset_s, JPEG bytes)]``. The portal checks everything (identity, the challenge); the station
only films and sends.

* ``capture_challenge_frames``: the station webcam through OpenCV, in real time, printing each
  prompt when its time comes;
* ``burst_from_frames``: the burst a camera would film of a face that follows the prompts, made of
  still frames of each pose (``--face-frames DIR``: ``neutral*.jpg``, ``turn_left*.jpg``,
  ``turn_right*.jpg``, ``blink*.jpg``) for tests and demonstrations. A photo alone
  (``--face-image``) only ever shows the neutral pose: the portal refuses it, as it refuses a
  photo held up to the webcam.

OpenCV is imported only when a face is filmed or re-encoded.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

POSES = ("neutral", "blink", "turn_left", "turn_right", "look_up", "look_down", "open_mouth")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# Inside an action's window, a face that follows the prompt does the action over this share of it
# (from a quarter to 55 %), looking at the camera before and after.
ACTION_FROM, ACTION_TO = 0.25, 0.55

Frames = list[tuple[float, bytes]]
Say = Callable[[str], None]


def capture_face_jpeg(camera: int | str = 0, warmup_frames: int = 10, quality: int = 90) -> bytes:
    """One frame from the station webcam as JPEG (a few frames are dropped first: exposure settles).
    ``camera``: a device index, or a device path / video source OpenCV opens (``/dev/video2``)."""
    cap = _open(camera)
    try:
        frame = None
        for _ in range(max(1, warmup_frames)):
            ok, got = cap.read()
            if ok:
                frame = got
        if frame is None:
            raise RuntimeError(f"camera {camera} gave no frame")
    finally:
        cap.release()
    return _encode_jpeg(frame, quality)


def _open(camera: int | str):
    import cv2

    if isinstance(camera, str) and camera.isdigit():
        camera = int(camera)
    cap = cv2.VideoCapture(camera)
    if not cap.isOpened():
        cap.release()
        raise RuntimeError(f"camera {camera} cannot be opened")
    return cap


def _prompts(challenge: dict) -> list[tuple[float, str]]:
    """(offset_s, text) of everything the station shows during the burst, in order."""
    shown = [(0.0, challenge.get("start_prompt") or "请正视摄像头，保持不动")]
    shown += [(float(step["at_s"]), step.get("prompt") or step["action"]) for step in challenge["steps"]]
    shown.append((float(challenge.get("end_at_s", challenge["duration_s"])),
                  challenge.get("end_prompt") or "请再次正视摄像头，保持不动"))
    return shown


def capture_challenge_frames(challenge: dict, camera: int | str = 0, say: Say = print,
                             clock: Callable[[], float] = time.monotonic, warmup_frames: int = 10,
                             max_side: int = 640, quality: int = 85) -> Frames:
    """Film the challenge with the webcam: frames at about ``challenge["fps"]`` for
    ``challenge["duration_s"]``, each prompt said when its offset comes. Offsets are seconds since
    the first prompt, by ``clock``. A source that runs dry (a video file) ends the burst early."""
    cap = _open(camera)
    try:
        for _ in range(max(0, warmup_frames)):
            cap.read()
        prompts = _prompts(challenge)
        fps = float(challenge.get("fps") or 6.0)
        duration = float(challenge["duration_s"])
        limit = int(challenge.get("max_frames") or 64)
        max_bytes = int(challenge.get("max_frame_bytes") or 512 * 1024)
        frames: Frames = []
        start = clock()
        next_shot = 0.0
        while len(frames) < limit:
            t = clock() - start
            while prompts and prompts[0][0] <= t:
                say(prompts.pop(0)[1])
            if t > duration:
                break
            ok, frame = cap.read()
            if not ok:
                break
            t = clock() - start
            if t >= next_shot and (not frames or t > frames[-1][0]):
                next_shot = (next_shot if frames else t) + 1.0 / fps
                if next_shot <= t:            # fell behind (a slow camera): no burst of catch-up frames
                    next_shot = t + 1.0 / fps
                frames.append((round(t, 3), _encode_frame(frame, max_side, quality, max_bytes)))
        if not frames:
            raise RuntimeError(f"camera {camera} gave no frame")
        return frames
    finally:
        cap.release()


def load_face_frames(folder: str) -> dict[str, list[bytes]]:
    """A face as still frames per pose: ``<pose>*.jpg`` (or .jpeg, .png) in ``folder``, by name."""
    if not os.path.isdir(folder):
        raise ValueError(f"{folder}: not a folder")
    poses: dict[str, list[bytes]] = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        pose = next((p for p in sorted(POSES, key=len, reverse=True) if stem.startswith(p)), None)
        if pose and ext.lower() in IMAGE_EXTENSIONS:
            poses.setdefault(pose, []).append(load_face_jpeg(os.path.join(folder, name)))
    if not poses.get("neutral"):
        raise ValueError(f"{folder}: no neutral*.jpg (the face looking at the camera)")
    return poses


def pose_at(challenge: dict, t: float) -> str:
    """The pose at ``t`` seconds into the burst of a face that follows the prompts."""
    window = float(challenge["window_s"])
    for step in challenge["steps"]:
        at = float(step["at_s"])
        if at + ACTION_FROM * window <= t < at + ACTION_TO * window:
            return step["action"]
    return "neutral"


def burst_from_frames(poses: dict[str, list[bytes]], challenge: dict, say: Say = print) -> Frames:
    """The burst of a face that follows the prompts, from still frames per pose (no waiting: the
    offsets are the ones a camera at ``challenge["fps"]`` would have). A pose without frames shows
    the neutral face, so a lone photo stays still all along."""
    fps = float(challenge.get("fps") or 6.0)
    count = min(int(challenge.get("max_frames") or 64), int(float(challenge["duration_s"]) * fps) + 1)
    prompts = _prompts(challenge)
    frames: Frames = []
    for k in range(count):
        t = round(k / fps, 3)
        while prompts and prompts[0][0] <= t:
            say(prompts.pop(0)[1])
        choice = poses.get(pose_at(challenge, t)) or poses["neutral"]
        frames.append((t, choice[k % len(choice)]))
    return frames


def still_burst(jpeg: bytes, challenge: dict, say: Say = print) -> Frames:
    """A photo (``--face-image``) filmed all along the challenge: it cannot follow the prompts."""
    return burst_from_frames({"neutral": [jpeg]}, challenge, say)


def load_face_jpeg(path: str, quality: int = 90) -> bytes:
    """A photo file as JPEG bytes (a JPEG is sent as it is; PNG and others are re-encoded)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:3] == b"\xff\xd8\xff":
        return data
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not an image")
    return _encode_jpeg(image, quality)


def _encode_frame(image, max_side: int, quality: int, max_bytes: int) -> bytes:
    import cv2

    height, width = image.shape[:2]
    if max(height, width) > max_side:
        scale = max_side / max(height, width)
        image = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
    data = _encode_jpeg(image, quality)
    while len(data) > max_bytes and quality > 30:
        quality -= 15
        data = _encode_jpeg(image, quality)
    return data


def _encode_jpeg(image, quality: int) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
