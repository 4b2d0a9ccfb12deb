"""The VR station client (``python -m vr_scenes.station``; usage in ``cli``).

- ``portal``: the portal's HTTP API (``/api/vr/v1``, bearer station token), the only way to it;
- ``camera``: the face for the check-in (webcam through OpenCV, or ``--face-image``);
- ``runner``: running a scene (``--fast``, offscreen or a window), the reflection quiz, and the
  telemetry and session payload that is posted;
- ``session``: the station's configuration and one session (check-in, scene, quiz, outbox, post);
- ``cli``: the command line, the kiosk loop (``--loop``), ``--flush`` and ``--requeue-rejected``.
"""
from .camera import capture_face_jpeg, load_face_jpeg
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
from .session import CheckIn, SessionResult, Station, StationConfig, default_queue_dir

__all__ = [
    "API", "EX_TEMPFAIL", "FAST_DT", "CheckIn", "PortalClient", "PortalError", "PortalUnreachable", "SceneRun",
    "SessionResult", "StageWallClock", "Station", "StationConfig", "capture_face_jpeg", "default_queue_dir",
    "load_face_jpeg", "main", "parse_args", "requeue_rejected", "run_scene_fast", "run_scene_rendered",
    "session_payload", "telemetry_payload",
]
