"""The VR station client: ``python -m vr_scenes.station``.

One session: ping the portal, check the supervisee in (a face check from the station webcam, or an
officer's assignment), run the scene (a window, or ``--fast``: the fake clock and the scripted
learner, no rendering), ask the reflection quiz (``vr_scenes.quiz``), then queue the session on disk
(``vr_scenes.outbox``) and post it. The portal is reached only over its HTTP API
(``/api/vr/v1``, bearer station token; see docs/vr_station_api.md): nothing here imports the portal.

    python -m vr_scenes.station --portal https://portal.example --token-file /etc/vr/token \\
        [--queue-dir DIR] [--checkin face|assignment] [--assignment ID] [--scene KEY] [--camera 0]
        [--face-image PATH] [--fast] [--answers cbcb] [--offscreen] [--autopilot] [--stereo] [--comfort]
        [--loop] [--flush] [--requeue-rejected] [--drain-s S]

Configuration may also come from the environment: ``VR_PORTAL_URL``, ``VR_STATION_TOKEN`` (or
``VR_STATION_TOKEN_FILE``), ``VR_QUEUE_DIR``.
"""
from __future__ import annotations

import argparse
import base64
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import requests

from . import quiz as quiz_mod
from . import registry
from .core import Scene
from .outbox import Backoff, DeliveryReport, Outbox, OutboxSender

API = "/api/vr/v1"
EX_TEMPFAIL = 75          # sysexits: try again later (the portal is away; nothing is lost)
FAST_DT = 1 / 30          # the fake clock's step in --fast mode (as the tests in tests/vr use)


# --- configuration ----------------------------------------------------------------------------------
def default_queue_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "vr_station", "outbox")


@dataclass
class StationConfig:
    portal_url: str
    token: str
    queue_dir: str = field(default_factory=default_queue_dir)
    timeout_s: float = 15.0
    fast: bool = False            # fake clock + scripted learner, no rendering
    offscreen: bool = False       # render without a window (software renderer)
    autopilot: bool = False       # the scripted learner plays (demonstration)
    stereo: bool = False
    comfort: bool = False
    size: tuple[int, int] = (1280, 720)
    speed: float = 1.0
    max_seconds: float = 0.0      # rendered runs: stop after this much real time (0: at the end)
    retry_base_s: float = 5.0
    retry_max_s: float = 600.0


# --- the portal over HTTP ---------------------------------------------------------------------------
class PortalError(Exception):
    """The portal answered with an error (``{"error": code, "message": ...}``)."""

    def __init__(self, status: int, code: str, message: str = "", body: Any = None):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body


class PortalUnreachable(Exception):
    pass


class PortalClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = 15.0, session: requests.Session | None = None):
        if not base_url:
            raise ValueError("no portal URL (--portal or VR_PORTAL_URL)")
        if not token:
            raise ValueError("no station token (--token, --token-file, VR_STATION_TOKEN or VR_STATION_TOKEN_FILE)")
        self.base = base_url.rstrip("/") + API
        self.timeout = (min(5.0, timeout_s), timeout_s)
        self.http = session or requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def request(self, method: str, path: str, json_body: dict | None = None) -> tuple[int, Any]:
        """(status, parsed JSON body or text). Raises ``requests.RequestException`` when there is no answer."""
        res = self.http.request(method, self.base + path, json=json_body, timeout=self.timeout)
        try:
            body = res.json()
        except ValueError:
            body = {"error": "not_json", "message": res.text[:500]}
        return res.status_code, body

    def call(self, method: str, path: str, json_body: dict | None = None) -> Any:
        try:
            status, body = self.request(method, path, json_body)
        except requests.RequestException as exc:
            raise PortalUnreachable(f"{self.base}{path}: {exc}") from exc
        if status >= 400:
            code = body.get("error", "error") if isinstance(body, dict) else "error"
            message = body.get("message", "") if isinstance(body, dict) else str(body)
            raise PortalError(status, code, message, body)
        return body

    def ping(self) -> dict:
        return self.call("GET", "/ping")

    def assignments(self) -> list[dict]:
        return self.call("GET", "/assignments")["assignments"]

    def checkin_face(self, jpeg: bytes) -> dict:
        return self.call("POST", "/checkin", {"method": "face", "image_jpeg_b64": base64.b64encode(jpeg).decode()})

    def checkin_assignment(self, assignment_id: int) -> dict:
        return self.call("POST", "/checkin", {"method": "assignment", "assignment_id": int(assignment_id)})

    def post_session(self, payload: dict) -> tuple[int, Any]:
        """For the outbox: (status, body); raises when there is no answer (the session stays queued)."""
        return self.request("POST", "/sessions", payload)


# --- the face at the webcam -------------------------------------------------------------------------
def capture_face_jpeg(camera: int | str = 0, warmup_frames: int = 10, quality: int = 90) -> bytes:
    """One frame from the station webcam as JPEG (a few frames are dropped first: exposure settles).
    ``camera``: a device index, or a device path / video source OpenCV opens (``/dev/video2``)."""
    import cv2

    if isinstance(camera, str) and camera.isdigit():
        camera = int(camera)
    cap = cv2.VideoCapture(camera)
    try:
        if not cap.isOpened():
            raise RuntimeError(f"camera {camera} cannot be opened")
        frame = None
        for _ in range(max(1, warmup_frames)):
            ok, got = cap.read()
            if ok:
                frame = got
        if frame is None:
            raise RuntimeError(f"camera {camera} gave no frame")
    finally:
        cap.release()
    ok, buf = cv2.imencode(".jpg", frame, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


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
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


# --- running a scene and its telemetry --------------------------------------------------------------
class StageWallClock:
    """The wall-clock (epoch) time each stage started and ended, observed after every step: the portal
    wants epoch times, the scene keeps its own (fake-able) clock. In real time they agree; in
    ``--fast`` mode the wall times are the compressed ones that really happened."""

    def __init__(self, now: Callable[[], float] = time.time):
        self.now = now
        self.starts: dict[int, float] = {}
        self.ends: dict[int, float] = {}

    def observe(self, scene: Scene) -> None:
        t = None
        for i, record in enumerate(scene.telemetry.stages):
            if i not in self.starts:
                t = t if t is not None else self.now()
                self.starts[i] = t
            if record.ended is not None and i not in self.ends:
                t = t if t is not None else self.now()
                self.ends[i] = t


@dataclass
class SceneRun:
    scene: Scene
    started_at: float
    ended_at: float
    wall: StageWallClock
    aborted: bool = False         # the window was closed before the end (posted, never credited)


def run_scene_fast(key: str, now: Callable[[], float] = time.time, dt: float = FAST_DT,
                   max_scene_s: float = 3600.0, **scene_kwargs) -> SceneRun:
    """The scene on its fake clock with the scripted learner, no rendering (tests, offline demos)."""
    scene = registry.create(key, **scene_kwargs)
    wall = StageWallClock(now)
    started = now()
    wall.observe(scene)
    t = 0.0
    while not scene.finished and t < max_scene_s:
        scene.step(dt, scene.autopilot())
        t += dt
        wall.observe(scene)
    return SceneRun(scene, started, now(), wall)


def run_scene_rendered(key: str, config: StationConfig) -> SceneRun:
    """The scene in a window (or offscreen), in real time, with keyboard and mouse (or the scripted
    learner with ``--autopilot``)."""
    from direct.showbase.ShowBaseGlobal import globalClock

    from . import view
    from .controls import DesktopControls

    view.configure(config.size, backend="tiny" if config.offscreen else "gl", offscreen=config.offscreen,
                   title=registry.get(key).title)
    scene = registry.create(key, comfort=config.comfort)
    viewer = view.Viewer(scene, stereo=config.stereo)
    b = view.base()
    controls = DesktopControls(b, mouse=not config.autopilot)
    wall = StageWallClock()
    started = time.time()
    wall.observe(scene)
    aborted = False

    def close_window():           # ShowBase would sys.exit(): keep what the learner did instead
        nonlocal aborted
        aborted = True
        b.task_mgr.stop()

    b.userExit = close_window

    def tick(task):
        dt = min(0.1, globalClock.get_dt()) if not config.offscreen else 1 / 60
        dt *= config.speed
        inputs = scene.autopilot() if config.autopilot else controls.read(dt)
        viewer.update(dt, inputs)
        wall.observe(scene)
        out_of_time = config.max_seconds and time.time() - started >= config.max_seconds
        if scene.finished or out_of_time:
            b.task_mgr.stop()
            return task.done
        return task.cont

    b.task_mgr.add(tick, "vr-station-scene")
    try:
        b.run()
    finally:
        viewer.close()
    return SceneRun(scene, started, time.time(), wall, aborted=aborted or not scene.finished)


def telemetry_payload(run: SceneRun) -> dict:
    """The scene's telemetry in the contract's shape: stages (id, title, epoch start/end, completed),
    attention shares per key event, reaction times per lap (the drunk scene: seconds until the car
    actually responded, the learner's command delayed by the impairment; hazards never reacted to
    are left out), choices."""
    scene = run.scene
    titles = {s.key: s.title for s in scene.stages}
    stages = []
    for i, record in enumerate(scene.telemetry.stages):
        started = run.wall.starts.get(i, run.started_at)
        ended = run.wall.ends.get(i, run.ended_at) if record.ended is not None else run.ended_at
        stages.append({"id": record.key, "title": titles.get(record.key, record.key),
                       "started_at": round(started, 3), "ended_at": round(max(started, ended), 3),
                       "completed": bool(record.completed)})
    summary = scene.telemetry.summary()
    reactions: dict[str, list[float]] = {"sober": [], "drunk": []}
    for r in scene.telemetry.reactions:
        if r.lap in reactions and r.effective_s is not None:
            reactions[r.lap].append(round(r.effective_s, 3))
    return {"stages": stages, "attention": summary["attention"], "reaction_times": reactions,
            "choices": {k: str(v) for k, v in summary["choices"].items()}}


def session_payload(*, learner_id: int, scene_key: str, checkin: str, run: SceneRun, quiz: dict,
                    assignment_id: int | None = None, client_session_id: str | None = None) -> dict:
    payload = {
        "client_session_id": client_session_id or uuid.uuid4().hex,
        "learner_id": int(learner_id),
        "assignment_id": None if assignment_id is None else int(assignment_id),
        "scene": scene_key,
        "checkin": checkin,
        "started_at": round(run.started_at, 3),
        "ended_at": round(max(run.ended_at, run.started_at + 0.001), 3),
        **telemetry_payload(run),
        "quiz": quiz,
    }
    return payload


# --- the station ------------------------------------------------------------------------------------
@dataclass
class CheckIn:
    method: str                  # face | assignment
    learner_id: int
    name: str
    assignments: list[dict]      # [{"id", "scene"}] pending for this learner
    assignment_id: int | None = None
    distance: float | None = None


@dataclass
class SessionResult:
    status: str                  # posted | queued | rejected
    client_session_id: str
    payload: dict
    answer: Any = None           # the portal's body when posted
    error: str = ""


class Station:
    def __init__(self, config: StationConfig, portal: PortalClient | None = None, out: TextIO | None = None,
                 read: Callable[[], str] | None = None):
        self.config = config
        self.portal = portal or PortalClient(config.portal_url, config.token, config.timeout_s)
        # the background retries get their own HTTP session (requests.Session is not thread-safe)
        poster = self.portal if portal is not None else \
            PortalClient(config.portal_url, config.token, config.timeout_s)
        self.outbox = Outbox(config.queue_dir)
        self.out = out or sys.stdout
        self.read = read or (lambda: input())
        self.sender = OutboxSender(self.outbox, poster.post_session,
                                   Backoff(config.retry_base_s, config.retry_max_s), on_report=self._log_report)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _log_report(self, report: DeliveryReport) -> None:
        for sid in report.delivered:
            self.say(f"outbox: {sid} delivered")
        for sid in report.rejected:
            self.say(f"outbox: {sid} REJECTED ({report.errors.get(sid)}): see {self.outbox.rejected_dir}")

    # the outbox
    def flush(self) -> DeliveryReport:
        """One delivery attempt of everything queued (at start, and after each session)."""
        report, _ = self.sender.attempt()
        return report

    def start_background_retries(self) -> None:
        """Retry the queue in a thread, with backoff while the portal is away."""
        self.sender.start()

    def stop(self) -> None:
        self.sender.stop()

    def drain(self, seconds: float, sleep: Callable[[float], None] = time.sleep) -> DeliveryReport:
        """Retry with backoff until the queue is empty or ``seconds`` have passed."""
        deadline = time.monotonic() + seconds
        report, delay = self.sender.attempt()
        while report.kept and time.monotonic() + delay <= deadline:
            sleep(delay)
            report, delay = self.sender.attempt()
        return report

    # a session, step by step
    def ping(self) -> dict:
        info = self.portal.ping()
        self.say(f"portal: station {info['station'].get('name')} ({info['station'].get('unit')}); "
                 f"scenes {', '.join(info.get('scenes', []))}")
        return info

    def check_in_face(self, jpeg: bytes) -> CheckIn:
        body = self.portal.checkin_face(jpeg)
        self.say(f"签到成功：{body['name']}")
        return CheckIn("face", int(body["learner_id"]), body["name"], list(body.get("assignments") or []),
                       distance=body.get("distance"))

    def check_in_assignment(self, assignment_id: int | None = None) -> CheckIn:
        if assignment_id is None:
            pending = self.portal.assignments()
            if not pending:
                raise PortalError(404, "not_found", "没有待完成的VR任务")
            self.say("待完成的VR任务：")
            for a in pending:
                self.say(f"  {a['id']}: {a.get('learner_name', a.get('learner_id'))} - {a['scene']}")
            ids = {int(a["id"]) for a in pending}
            while True:
                self.say("请输入任务编号：")
                text = self.read().strip()
                if text.isdigit() and int(text) in ids:
                    assignment_id = int(text)
                    break
        body = self.portal.checkin_assignment(assignment_id)
        self.say(f"签到成功：{body['name']}")
        return CheckIn("assignment", int(body["learner_id"]), body["name"], list(body.get("assignments") or []),
                       assignment_id=int(assignment_id))

    def choose_scene(self, checkin: CheckIn, scene: str | None = None, known: list[str] | None = None) -> str:
        """The scene to run: the assignment's (officer check-in), the requested one (with its pending
        assignment if there is one), the learner's first pending assignment, or asked on the terminal."""
        scenes = [k for k in (known or list(registry.scenes())) if k in registry.scenes()]
        if checkin.method == "assignment":
            match = [a for a in checkin.assignments if int(a["id"]) == checkin.assignment_id]
            if match:
                return match[0]["scene"]
            if scene:
                return scene
            raise ValueError("the portal did not say which scene the assignment is for")
        if scene is None and checkin.assignments:
            scene = checkin.assignments[0]["scene"]
        if scene is None:
            self.say("请选择场景：" + "  ".join(f"{i}. {registry.get(k).title} ({k})"
                                          for i, k in enumerate(scenes, 1)))
            while scene is None:
                text = self.read().strip()
                if text.isdigit() and 1 <= int(text) <= len(scenes):
                    scene = scenes[int(text) - 1]
                elif text in scenes:
                    scene = text
        for a in checkin.assignments:
            if a["scene"] == scene:
                checkin.assignment_id = int(a["id"])
                break
        registry.get(scene)     # a clear error for an unknown key
        return scene

    def run_scene(self, key: str) -> SceneRun:
        self.say(f"开始场景：{registry.get(key).title}")
        if self.config.fast:
            return run_scene_fast(key, comfort=self.config.comfort)
        return run_scene_rendered(key, self.config)

    def ask_quiz(self, key: str, answers: str | None = None) -> dict:
        questions = quiz_mod.questions_for(key)
        if answers is not None:
            return quiz_mod.grade(questions, quiz_mod.parse_answers(answers, questions))
        return quiz_mod.ask(questions, self.read, self.out)

    def finish(self, checkin: CheckIn, key: str, run: SceneRun, quiz: dict,
               client_session_id: str | None = None) -> SessionResult:
        """Queue the session durably, then try to deliver the queue."""
        payload = session_payload(learner_id=checkin.learner_id, scene_key=key, checkin=checkin.method, run=run,
                                  quiz=quiz, assignment_id=checkin.assignment_id,
                                  client_session_id=client_session_id)
        sid = payload["client_session_id"]
        self.outbox.put(payload)
        report = self.flush()
        if sid in report.delivered:
            answer = report.answers[sid]
            self.say(f"已提交，记入学时 {answer.get('credited_s', 0):.0f} 秒（{answer.get('month', '')}）")
            return SessionResult("posted", sid, payload, answer)
        if sid in report.rejected:
            return SessionResult("rejected", sid, payload, error=report.errors.get(sid, ""))
        if os.path.exists(self.outbox.path_for(sid)):
            self.say(f"门户暂时无法连接，记录已保存，稍后自动提交（{report.errors.get(sid, '')}）")
            return SessionResult("queued", sid, payload, error=report.errors.get(sid, ""))
        return SessionResult("posted", sid, payload)      # delivered meanwhile by the background retries

    def session(self, *, checkin_method: str = "face", face_jpeg: Callable[[], bytes] | None = None,
                assignment_id: int | None = None, scene: str | None = None, answers: str | None = None,
                known_scenes: list[str] | None = None) -> SessionResult:
        if checkin_method == "face" and assignment_id is None:
            if face_jpeg is None:
                raise ValueError("face check-in needs a camera or --face-image")
            checkin = self.check_in_face(face_jpeg())
        else:
            checkin = self.check_in_assignment(assignment_id)
        key = self.choose_scene(checkin, scene, known_scenes)
        run = self.run_scene(key)
        if run.aborted:
            # Stopped before the end: posted for the record (the portal credits only complete sessions)
            self.say("场景未完成，记录将提交但不计学时。")
            quiz = {"questions": len(quiz_mod.questions_for(key)), "correct": 0, "answers": []}
            if checkin.method == "face":
                checkin.assignment_id = None    # the portal would mark the assignment done: leave it pending
        else:
            quiz = self.ask_quiz(key, answers)
        return self.finish(checkin, key, run, quiz)


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
    p.add_argument("--face-image", default="", help="a photo instead of the webcam (tests, offline)")
    p.add_argument("--scene", default=None, help="scene key (default: the learner's assignment)")
    p.add_argument("--fast", action="store_true", help="fast-forward: fake clock and scripted learner, no rendering")
    p.add_argument("--answers", default=None, help="quiz answers instead of asking, e.g. cbcb or id=a,id2=b")
    p.add_argument("--offscreen", action="store_true", help="render without a window (software renderer)")
    p.add_argument("--autopilot", action="store_true", help="the scripted learner plays (demonstration)")
    p.add_argument("--stereo", action="store_true")
    p.add_argument("--comfort", action="store_true")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--speed", type=float, default=1.0, help="scene time per real second (rendered runs)")
    p.add_argument("--max-seconds", type=float, default=0.0,
                   help="stop a rendered scene after this much real time (posted as unfinished)")
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
    import json

    args = parse_args(argv)
    out = out or sys.stdout
    w, h = (int(v) for v in args.size.split("x"))
    config = StationConfig(portal_url=args.portal, token=_token(args), queue_dir=args.queue_dir,
                           timeout_s=args.timeout, fast=args.fast, offscreen=args.offscreen,
                           autopilot=args.autopilot, stereo=args.stereo, comfort=args.comfort, size=(w, h),
                           speed=args.speed, max_seconds=args.max_seconds, retry_base_s=args.retry_base_s, retry_max_s=args.retry_max_s)
    try:
        station = Station(config, out=out, read=read)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
        face = (lambda: load_face_jpeg(args.face_image)) if args.face_image else \
            (lambda: capture_face_jpeg(args.camera))
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
                result = station.session(checkin_method=args.checkin, face_jpeg=face, assignment_id=args.assignment,
                                         scene=args.scene, answers=args.answers, known_scenes=info.get("scenes"))
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
                              "portal": result.answer, "error": result.error}, ensure_ascii=False), file=out)
            status = 1 if result.status == "rejected" else 0
            if not args.loop:
                break
        if args.drain_s > 0 and station.outbox.pending():
            station.stop()
            station.drain(args.drain_s)
    finally:
        station.stop()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
