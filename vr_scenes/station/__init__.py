"""The VR station client (``python -m vr_scenes.station``; usage in ``cli``).

- ``portal``: the portal's HTTP API (``/api/vr/v1``, bearer station token), the only way to it;
- ``camera``: the face for the check-in: a burst filmed following the portal's liveness challenge
  (webcam through OpenCV; ``--face-frames DIR`` or ``--face-image`` for tests and demonstrations);
- ``runner``: running a scene (``--fast``, offscreen or a window), the reflection quiz, and the
  telemetry and session payload that is posted;
- ``session``: the station's configuration and one session (check-in, scene, quiz, outbox, post);
- ``cli``: the command line, the kiosk loop (``--loop``), ``--flush`` and ``--requeue-rejected``.
"""
from .camera import (
    burst_from_frames,
    capture_challenge_frames,
    capture_face_jpeg,
    load_face_frames,
    load_face_jpeg,
    pose_at,
    still_burst,
)
from .cli import EX_TEMPFAIL, main, parse_args, requeue_rejected
from .portal import API, PortalClient, PortalError, PortalUnreachable
from .runner import (
    FAST_DT,
    SceneRun,
    StageWallClock,
    run_scene_fast,
    run_scene_rendered,
    session_payload,
    telemetry_payload,
)
from .session import CheckIn, FaceSource, SessionResult, Station, StationConfig, default_queue_dir

__all__ = [
    "API", "EX_TEMPFAIL", "FAST_DT", "CheckIn", "FaceSource", "PortalClient", "PortalError", "PortalUnreachable",
    "SceneRun", "SessionResult", "StageWallClock", "Station", "StationConfig", "burst_from_frames",
    "capture_challenge_frames", "capture_face_jpeg", "default_queue_dir", "load_face_frames", "load_face_jpeg",
    "main", "parse_args", "pose_at", "requeue_rejected", "run_scene_fast", "run_scene_rendered",
    "session_payload", "still_burst", "telemetry_payload",
]
