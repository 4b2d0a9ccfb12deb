"""The VR station client: ``python -m vr_scenes.station``.

One session: ping the portal, check the supervisee in (a face check with a liveness challenge filmed
by the station webcam, or an officer's assignment), run the scene (a window, or ``--fast``: the fake clock and the scripted
learner, no rendering), ask the reflection quiz (``vr_scenes.quiz``), then queue the session on disk
(``vr_scenes.outbox``) and post it. The portal is reached only over its HTTP API
(``/api/vr/v1``, bearer station token; see docs/vr_station_api.md): nothing here imports the portal.

    python -m vr_scenes.station --portal https://portal.example --token-file /etc/vr/token \\
        [--queue-dir DIR] [--checkin face|assignment] [--assignment ID] [--scene KEY] [--camera 0]
        [--face-frames DIR | --face-image PATH] [--fast] [--answers cbcb] [--offscreen] [--autopilot] [--stereo] [--comfort] [--no-sound]
        [--loop] [--flush] [--requeue-rejected] [--drain-s S]
        [--console [--console-port N]] [--fast-speed X] [--attitude-before 3423] [--attitude-after 5145]

``--console``: the operator's console, a web page on 127.0.0.1 (``console.py``; its address, with a
per-launch secret, is printed at start): who is checked in, start, pause/resume and the emergency stop.

Configuration may also come from the environment: ``VR_PORTAL_URL``, ``VR_STATION_TOKEN`` (or
``VR_STATION_TOKEN_FILE``), ``VR_QUEUE_DIR``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from ..attitude import AnswerError
from ..outbox import Outbox
from .camera import burst_from_frames, capture_challenge_frames, load_face_frames, load_face_jpeg, still_burst
from .console import Console
from .control import SceneControl
from .portal import PortalError, PortalUnreachable
from .session import Station, StationConfig, default_queue_dir

EX_TEMPFAIL = 75          # sysexits: try again later (the portal is away; nothing is lost)


# --- command line -----------------------------------------------------------------------------------
def _token(args) -> str:
    if args.token:
        return args.token
    path = args.token_file or os.environ.get("VR_STATION_TOKEN_FILE")
    if path:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    return os.environ.get("VR_STATION_TOKEN", "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m vr_scenes.station", description="VR station client")
    p.add_argument("--portal", default=os.environ.get("VR_PORTAL_URL", ""), help="portal base URL (VR_PORTAL_URL)")
    p.add_argument("--token", default="", help="station token (better: --token-file or VR_STATION_TOKEN)")
    p.add_argument("--token-file", default="", help="file holding the station token (VR_STATION_TOKEN_FILE)")
    p.add_argument("--queue-dir", default=os.environ.get("VR_QUEUE_DIR") or default_queue_dir(),
                   help="the on-disk outbox (VR_QUEUE_DIR)")
    p.add_argument("--timeout", type=float, default=15.0, help="HTTP timeout, seconds")
    p.add_argument("--checkin", choices=("face", "assignment"), default="face")
    p.add_argument("--assignment", type=int, default=None, help="an officer-assigned session, by id")
    p.add_argument("--camera", default="0", help="webcam index or device path for the face check-in")
    p.add_argument("--face-image", default="",
                   help="a photo instead of the webcam (a still: the portal's liveness check refuses it)")
    p.add_argument("--face-frames", default="",
                   help="a folder of face frames by pose (neutral*.jpg, turn_left*.jpg, turn_right*.jpg, "
                        "look_up*.jpg, look_down*.jpg, open_mouth*.jpg, blink*.jpg)"
                        " played as a camera would film them following the challenge's prompts (tests, demos)")
    p.add_argument("--scene", default=None, help="scene key (default: the learner's assignment)")
    p.add_argument("--fast", action="store_true", help="fast-forward: fake clock and scripted learner, no rendering")
    p.add_argument("--answers", default=None, help="quiz answers instead of asking, e.g. cbcb or id=a,id2=b")
    p.add_argument("--offscreen", action="store_true", help="render without a window (software renderer)")
    p.add_argument("--autopilot", action="store_true", help="the scripted learner plays (demonstration)")
    p.add_argument("--stereo", action="store_true")
    p.add_argument("--comfort", action="store_true")
    p.add_argument("--no-sound", dest="sound", action="store_false",
                   help="no sound and no spoken subtitles (a station without speakers, a quiet room)")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--speed", type=float, default=1.0, help="scene time per real second (rendered runs)")
    p.add_argument("--max-seconds", type=float, default=0.0,
                   help="stop a rendered scene after this much real time (posted as unfinished)")
    p.add_argument("--console", action="store_true",
                   help="the operator's console: a local web page (127.0.0.1) to start, pause and emergency-stop")
    p.add_argument("--console-port", type=int, default=0, help="the console's port (default: any free one)")
    p.add_argument("--fast-speed", type=float, default=0.0,
                   help="--fast: scene seconds per real second (default 0: as fast as it goes)")
    p.add_argument("--attitude-before", default=None,
                   help="questionnaire answers before the scene instead of asking, e.g. 3423 or key=3,...")
    p.add_argument("--attitude-after", default=None, help="questionnaire answers after the scene, e.g. 5145")
    p.add_argument("--loop", action="store_true", help="run sessions one after another (a kiosk)")
    p.add_argument("--flush", action="store_true", help="only deliver the outbox, then exit")
    p.add_argument("--requeue-rejected", action="store_true",
                   help="move rejected sessions back into the queue (after fixing the cause), then exit")
    p.add_argument("--drain-s", type=float, default=0.0,
                   help="after the session, keep retrying a queued outbox with backoff for up to this long")
    p.add_argument("--retry-base-s", type=float, default=5.0)
    p.add_argument("--retry-max-s", type=float, default=600.0)
    return p.parse_args(argv)


def requeue_rejected(outbox: Outbox) -> list[str]:
    moved = []
    for path in outbox.rejected():
        name = os.path.basename(path)
        os.replace(path, os.path.join(outbox.root, name))
        err = path[:-len(".json")] + ".error.json"
        if os.path.exists(err):
            os.replace(err, os.path.join(outbox.rejected_dir, f"{name[:-5]}.error.{int(time.time())}.old"))
        moved.append(name[:-5])
    return moved


def main(argv: list[str] | None = None, out: TextIO | None = None, read: Callable[[], str] | None = None) -> int:
    args = parse_args(argv)
    out = out or sys.stdout
    w, h = (int(v) for v in args.size.split("x"))
    config = StationConfig(portal_url=args.portal, token=_token(args), queue_dir=args.queue_dir,
                           timeout_s=args.timeout, fast=args.fast, offscreen=args.offscreen,
                           autopilot=args.autopilot, stereo=args.stereo, comfort=args.comfort, sound=args.sound, size=(w, h),
                           speed=args.speed, max_seconds=args.max_seconds, retry_base_s=args.retry_base_s, retry_max_s=args.retry_max_s)
    config.fast_speed = args.fast_speed
    control = SceneControl() if args.console else None
    try:
        station = Station(config, out=out, read=read, control=control)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    console = None
    if control is not None and not (args.flush or args.requeue_rejected):
        try:
            console = Console(control, port=args.console_port).start()
        except OSError as exc:
            print(f"error: the console cannot listen on 127.0.0.1:{args.console_port}: {exc}", file=sys.stderr)
            return 2
        print(f"操作员控制台：{console.url}", file=out, flush=True)
    try:
        return _run(args, station, config, out)
    finally:
        if console is not None:
            console.close()


def _run(args, station: Station, config: StationConfig, out: TextIO) -> int:
    import json

    if args.requeue_rejected:
        moved = requeue_rejected(station.outbox)
        print(json.dumps({"requeued": moved}), file=out)
        return 0
    report = station.flush()          # retried on start
    if args.flush:
        if args.drain_s > 0 and report.kept:
            report = station.drain(args.drain_s)
        print(json.dumps({"delivered": report.delivered, "kept": report.kept, "rejected": report.rejected}),
              file=out)
        return 0 if not report.kept else EX_TEMPFAIL

    try:
        info = station.ping()
    except PortalUnreachable as exc:
        print(f"error: the portal cannot be reached for a check-in: {exc}", file=sys.stderr)
        return EX_TEMPFAIL
    except PortalError as exc:        # a wrong or revoked token: retrying will not help
        print(f"error: the portal refused the station: {exc}", file=sys.stderr)
        return 1
    station.start_background_retries()
    face = None
    if args.checkin == "face" and args.assignment is None:
        if args.face_frames:
            poses = load_face_frames(args.face_frames)
            face = lambda challenge, say: burst_from_frames(poses, challenge, say)        # noqa: E731
        elif args.face_image:
            face = lambda challenge, say: still_burst(load_face_jpeg(args.face_image), challenge, say)  # noqa: E731
        else:
            face = lambda challenge, say: capture_challenge_frames(challenge, args.camera, say=say)  # noqa: E731
    status = 0
    try:
        while True:
            if args.loop:
                station.say("\n请下一位学员站到摄像头前，按回车键开始签到" if face else "\n按回车键开始下一次体验")
                try:
                    station.read()
                except EOFError:
                    break
            try:
                result = station.session(checkin_method=args.checkin, face=face, assignment_id=args.assignment,
                                         scene=args.scene, answers=args.answers, known_scenes=info.get("scenes"),
                                         attitude_before=args.attitude_before, attitude_after=args.attitude_after)
            except AnswerError as exc:         # --attitude-before/--attitude-after that do not fit the scene
                print(f"error: questionnaire answers: {exc}", file=sys.stderr)
                return 2
            except PortalError as exc:
                print(f"error: {exc}", file=sys.stderr)
                if not args.loop:
                    return 1
                continue
            except PortalUnreachable as exc:
                print(f"error: {exc}", file=sys.stderr)
                if not args.loop:
                    return EX_TEMPFAIL
                time.sleep(config.retry_base_s)
                continue
            print(json.dumps({"status": result.status, "client_session_id": result.client_session_id,
                              "scene": result.payload["scene"], "learner_id": result.payload["learner_id"],
                              "outcome": result.payload.get("outcome"), "portal": result.answer,
                              "error": result.error}, ensure_ascii=False), file=out, flush=True)
            status = 1 if result.status == "rejected" else 0
            if not args.loop:
                break
        if args.drain_s > 0 and station.outbox.pending():
            station.stop()
            station.drain(args.drain_s)
    finally:
        station.stop()
    return status

