"""The web shell of camera proctoring: one CheckRunner per app, its actions persisted and told.

* Attestations go to the watch ledger (webapp.study.service.attest) in one write transaction with the
  check records (ProctorCheck), flags (ProctorFlag + encrypted evidence) and the learner's standing
  (ProctorStanding, webapp.proctor.standing), so a crash loses neither credited time nor a verdict.
* Holds, releases and liveness challenges go to the learner's browser as Socket.IO "proctor"
  events (room user:<id>); a flag alerts the responsible officer (webapp.proctor.alerts).
* So does the camera's frame rate (state "camera": fps, height; proctoring.camera_rate): the
  page applies it with RTCRtpSender.setParameters (camera.js).
"""
from __future__ import annotations

import json
import logging
import threading
import time

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l

from proctoring.camera_rate import CameraRate, CameraRatePolicy
from proctoring.feed import FeedPolicy
from proctoring.liveness import Action, LivenessPolicy
from proctoring.policy import IdentityPolicy
from proctoring.presence import PresencePolicy
from proctoring.sitting import Attest, Challenge, CheckPolicy, Finished, Flag, Hold, Release, Standing, Verdict
from proctoring.vision import IDENTITY_THRESHOLD
from streaming.rtc import RtcConfig

from webapp.core import db
from webapp.proctor.check_runner import CheckRunner, Sitting
from webapp.extensions import socketio
from webapp.models import ProctorCheck, StudySession, User

log = logging.getLogger(__name__)

# Why playback is held, as the learner reads it (the player page renders them).
HOLD_MESSAGES = {
    "unverified": _l("Look into the camera: we are checking that it is you."),
    "no_face": _l("No face was found for the identity check. Sit in front of the camera: the check repeats by itself."),
    "absent": _l("No face in view: playback is paused and no time is credited until you are back."),
    "identity": _l("The face in view is not the enrolled person. Playback is paused until you verify again."),
    "liveness": _l("The liveness challenge was not met. Playback is paused until you verify again."),
    "question": _l("The question was missed. Verify again to continue."),
    "feed": _l("The camera picture is frozen or repeats itself. Use a real camera, then verify again."),
    "camera": _l("The camera connection was lost. Reconnecting by itself: playback continues once you are verified."),
    "review": _l("Verification failed several times in a row. An officer must review it before you can continue; "
                 "you can ask for the review here."),
}


def check_policy(cfg) -> CheckPolicy:
    return CheckPolicy(
        presence=PresencePolicy(grace_s=cfg["PRESENCE_GRACE_S"], attest_every_s=cfg["PRESENCE_ATTEST_EVERY_S"]),
        identity=IdentityPolicy(mean_s=cfg["IDENTITY_MEAN_S"], min_s=cfg["IDENTITY_MIN_S"],
                                max_s=cfg["IDENTITY_MAX_S"], liveness_share=cfg["LIVENESS_SHARE"]),
        liveness=LivenessPolicy(window_s=cfg["LIVENESS_WINDOW_S"], actions=liveness_actions(cfg["LIVENESS_ACTIONS"])),
        check_timeout_s=cfg["CHECK_TIMEOUT_S"], recheck_backoff_s=cfg["RECHECK_BACKOFF_S"],
        recheck_backoff_max_s=cfg["RECHECK_BACKOFF_MAX_S"], block_after=cfg["PROCTOR_BLOCK_AFTER"],
        camera=camera_policy(cfg))


def camera_policy(cfg) -> CameraRatePolicy:
    """What the learner's browser is asked to send (proctoring.camera_rate): CAMERA_BASE_FPS /
    CAMERA_BASE_HEIGHT, raised to CAMERA_CHALLENGE_FPS / CAMERA_CHALLENGE_HEIGHT for a liveness
    challenge."""
    return CameraRatePolicy(base_fps=cfg["CAMERA_BASE_FPS"], base_height=cfg["CAMERA_BASE_HEIGHT"],
                            challenge_fps=cfg["CAMERA_CHALLENGE_FPS"],
                            challenge_height=cfg["CAMERA_CHALLENGE_HEIGHT"])


def liveness_actions(text: str) -> tuple[Action, ...]:
    """LIVENESS_ACTIONS, e.g. "blink,turn_left,turn_right": at least two distinct known actions."""
    actions = tuple(dict.fromkeys(Action(a.strip()) for a in text.split(",") if a.strip()))
    if len(actions) < 2:
        raise ValueError("LIVENESS_ACTIONS needs at least two of turn_left, turn_right, look_up, look_down, open_mouth, blink")
    return actions


def rtc_config(cfg) -> RtcConfig:
    return RtcConfig(ice_servers=json.loads(cfg["ICE_SERVERS"] or "[]"), max_streams=cfg["RTC_MAX_STREAMS"],
                     sample_fps=cfg["CAMERA_SAMPLE_FPS"], burst_fps=cfg["CAMERA_BURST_FPS"],
                     workers=cfg["RTC_WORKERS"])


# What the web tier may ask of a runner in the media workers (MEDIA_MODE=remote, webapp.media):
# each method's first argument is the sitting id, which picks the worker; `sittings` (how many
# sittings run) goes to every live worker, the counts summed.
REMOTE_METHODS = frozenset({"open", "owner", "add_candidate", "close", "finish", "recheck", "external_failure",
                            "recheck_wait", "blocked", "hold", "sittings"})
REMOTE_FANOUT = {"sittings": sum}


def runner(app: Flask | None = None) -> CheckRunner:
    """The app's CheckRunner, started on first use (its engine thread, ticker and workers); with
    MEDIA_MODE=remote its stand-in, whose calls go to the media worker of the sitting."""
    app = app or current_app._get_current_object()
    if app.config["MEDIA_MODE"] == "remote":
        return _remote(app)
    found = app.extensions.get("proctor_runner")
    if found is None:
        with _creation_lock:
            found = app.extensions.get("proctor_runner")
            if found is None:
                cfg = app.config
                threshold = cfg["IDENTITY_THRESHOLD"] or IDENTITY_THRESHOLD
                found = CheckRunner(rtc_config(cfg), check_policy(cfg), cfg["SECRET_KEY"].encode(),
                                    _Persist(app), threshold=threshold,
                                    identity_processes=cfg["IDENTITY_PROCESSES"],
                                    feed=FeedPolicy() if cfg["FEED_CHECK"] else None).start()
                app.extensions["proctor_runner"] = found
    return found


def running(app: Flask | None = None):
    """The runner if one is running (None when no camera has been opened in this process)."""
    app = app or current_app._get_current_object()
    if app.config["MEDIA_MODE"] == "remote":
        return _remote(app)
    return app.extensions.get("proctor_runner")


def _remote(app: Flask):
    found = app.extensions.get("proctor_remote")
    if found is None:
        from webapp.media import client
        found = client(app).service("proctor", REMOTE_METHODS, timeouts={"open": 20.0}, fanout=REMOTE_FANOUT)
        app.extensions["proctor_remote"] = found
    return found


def shutdown(app: Flask) -> None:
    found = app.extensions.pop("proctor_runner", None)
    if found is not None:
        found.shutdown()


_creation_lock = threading.Lock()


class _Persist:
    """The runner's sink: actions of one sitting, in order."""

    def __init__(self, app: Flask):
        self.app = app

    def __call__(self, sitting: Sitting, actions: list, frame) -> None:
        if all(isinstance(action, CameraRate) for action in actions):
            # Only the camera's frame rate changed: nothing to persist, the browser is told.
            for action in actions:
                socketio.emit("proctor", {"session_id": sitting.id, **action.message()},
                              to=f"user:{sitting.learner_id}")
            return
        from webapp.proctor.evidence import record_flag
        from webapp.proctor.standing import keep_standing
        from webapp.study import attest

        flags = []
        with self.app.app_context():
            # Everything below is this learner's (checks, ledger, flags, standing): keyed by learner.
            with db.write_transaction(key=("learner", sitting.learner_id)) as session:
                study = session.get(StudySession, sitting.id)
                if study is None or (study.ended_at is not None and not sitting.checks.finishing):
                    # The sitting ended (finished, superseded by another device, abandoned):
                    # its camera stream has nothing left to attest.
                    running = self.app.extensions.get("proctor_runner")
                    if running is not None:
                        threading.Thread(target=running.close, args=(sitting.id,), daemon=True).start()
                    return
                open_ = True
                check_id = None
                for action in actions:
                    if isinstance(action, Verdict):
                        if action.kind == "presence" and action.passed:
                            continue   # routine presence samples are not worth a row each
                        row = ProctorCheck(session_id=study.id, kind=action.kind, triggered_at=action.triggered_at,
                                           verdict_at=action.at, passed=action.passed, reason=action.reason[:64],
                                           scores_json=json.dumps(action.scores))
                        session.add(row)
                        session.flush()
                        check_id = row.id
                    elif isinstance(action, Attest) and open_:
                        attest(session, study, max(action.at, study.attested_at), action.ok,
                               source=f"camera:{action.source}", detail=action.detail[:200])
                    elif isinstance(action, Flag):
                        flags.append(record_flag(session, learner_id=study.learner_id, session_id=study.id,
                                                 check_id=check_id, kind=action.kind, at=action.at,
                                                 scores=action.scores, frame_rgb=frame))
                    elif isinstance(action, Standing):
                        keep_standing(session, study.learner_id, action)
                session.commit()
                learner = session.get(User, study.learner_id) if flags else None
            for action in actions:
                payload = _browser_event(action)
                if payload is not None:
                    socketio.emit("proctor", {"session_id": sitting.id, **payload}, to=f"user:{sitting.learner_id}")
            if flags:
                from webapp.proctor.alerts import notify_flag
                for flag in flags:
                    if flag.is_new:          # a repeat joins the open flag: alerted once
                        notify_flag(flag, learner)


def _browser_event(action) -> dict | None:
    if isinstance(action, Hold):
        return {"state": "hold", "reason": action.reason}
    if isinstance(action, Release):
        return {"state": "ok"}
    if isinstance(action, Challenge):
        now = time.time()
        return {"state": "challenge", "actions": [a.value for a in action.actions],
                "starts_in_s": max(0.0, action.starts_at - now), "window_s": action.window_s,
                "steps_in_s": [round(max(0.0, s - now), 3) for s in (action.step_starts or (action.starts_at,))]}
    if isinstance(action, Finished):
        return {"state": "finished", "passed": action.passed}
    if isinstance(action, CameraRate):
        return action.message()
    if isinstance(action, Verdict) and action.kind in ("identity", "liveness"):
        return {"state": "verdict", "kind": action.kind, "passed": action.passed}
    return None
