"""Running a scene at the station and what is posted about it: ``--fast`` (the fake clock and the
scripted learner, no rendering), or rendered in real time (a window, or offscreen with the software
renderer); the wall-clock times of its stages; the telemetry and session payload in the contract's
shape (docs/vr_station_api.md); the reflection quiz (``vr_scenes.quiz``)."""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from .. import attitude, registry
from .. import quiz as quiz_mod
from ..core import Scene
from .control import ANSWER, PAUSE, RESUME, START, STOP, SceneControl

if TYPE_CHECKING:
    from .session import StationConfig

FAST_DT = 1 / 30          # the fake clock's step in --fast mode (as the tests in tests/vr use)


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
    aborted: bool = False         # ended before the end (window closed, time limit, emergency stop): never credited
    stopped: bool = False         # the operator's emergency stop (posted as outcome "stopped")
    cancelled: bool = False       # stopped or closed before the scene began: nothing to post
    attitude_before: dict | None = None    # the questionnaire's answers, when asked by the rendered run
    attitude_after: dict | None = None

    @property
    def outcome(self) -> str:
        """completed | stopped | unfinished (the session payload's ``outcome``)."""
        if self.stopped:
            return "stopped"
        return "unfinished" if self.aborted or not self.scene.finished else "completed"

    @property
    def progress(self) -> float:
        return scene_progress(self.scene)


def scene_progress(scene: Scene) -> float:
    """How far the scene got, 0..1: the stages behind it plus the share of the current one's duration."""
    if scene.finished:
        return 1.0
    stage = scene.stage
    share = min(1.0, scene.t_stage / stage.duration_s) if stage.duration_s > 0 else 0.0
    return min(1.0, (scene.runner.index + share) / len(scene.stages))


def _publish_running(control: SceneControl | None, scene: Scene, phase: str) -> None:
    if control is not None:
        control.publish(phase=phase, stage=scene.stage.title if not scene.finished else "",
                        progress=round(scene_progress(scene), 4))


def run_scene_fast(key: str, now: Callable[[], float] = time.time, dt: float = FAST_DT,
                   max_scene_s: float = 3600.0, control: SceneControl | None = None, speed: float = 0.0,
                   sleep: Callable[[float], None] = time.sleep, **scene_kwargs) -> SceneRun:
    """The scene on its fake clock with the scripted learner, no rendering (tests, offline demos).

    ``control``: the operator's commands, polled every step (pause, resume, emergency stop);
    ``speed`` > 0 paces the run at that many scene seconds per real second (0: as fast as it goes)."""
    scene = registry.create(key, **scene_kwargs)
    wall = StageWallClock(now)
    started = now()
    wall.observe(scene)
    t = 0.0
    paused = stopped = False
    active_s = 0.0                     # real seconds spent running (not paused), for the pacing
    last = time.monotonic()
    published = 0.0
    _publish_running(control, scene, "running")
    while not scene.finished and t < max_scene_s:
        tick = time.monotonic()
        if not paused:
            active_s += tick - last
        last = tick
        if control is not None:
            for command, _value in control.poll():
                if command == STOP:
                    stopped = True
                elif command == PAUSE:
                    paused = True
                elif command == RESUME:
                    paused = False
            if stopped:
                break
            if paused or tick - published >= 0.05:
                _publish_running(control, scene, "paused" if paused else "running")
                published = tick
            if paused:
                sleep(0.01)
                continue
        if speed > 0 and t / speed > active_s:
            sleep(min(0.05, t / speed - active_s))
            continue
        scene.step(dt, scene.autopilot())
        t += dt
        wall.observe(scene)
    _publish_running(control, scene, "running")
    return SceneRun(scene, started, now(), wall, aborted=stopped, stopped=stopped)


def _mirror_jpeg(viewer, stereo: bool, width: int = 480) -> bytes:
    """The learner's view for the operator's console: the left eye when stereo (mono), small, JPEG."""
    import io

    from PIL import Image

    rgb = viewer.image()
    if stereo:
        rgb = rgb[:, : rgb.shape[1] // 2]
    img = Image.fromarray(rgb)
    img = img.resize((width, max(1, round(width * img.height / img.width))))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=70)
    return out.getvalue()


def run_scene_rendered(key: str, config: StationConfig, control: SceneControl | None = None,
                       before: dict | None = None, after: dict | None = None,
                       wait_for_start: bool = False, mirror_s: float = 0.5) -> SceneRun:
    """The scene in a window (or offscreen), in real time, with keyboard and mouse (or the scripted
    learner with ``--autopilot``), inside one Panda3D task loop:

    1. the attitude questionnaire before the scene, in the headset (``overlay``: the statement and the
       scale, answered with keys 1-5, or from the console), unless ``before`` answers are given;
    2. with ``wait_for_start``, "please wait" until the operator starts it from the console;
    3. the scene; the console pauses and resumes it; Esc in the window, or the console's button, is the
       emergency stop: the scene ends at once (``stopped``);
    4. the questionnaire after the scene (unless ``after`` is given, or the scene did not end normally).

    With a ``control``, the learner's view (mono: the left eye) is published for the console every
    ``mirror_s`` seconds."""
    from direct.showbase.DirectObject import DirectObject
    from direct.showbase.ShowBaseGlobal import globalClock

    from .. import view
    from ..controls import DesktopControls
    from .overlay import Overlay

    view.configure(config.size, backend="tiny" if config.offscreen else "gl", offscreen=config.offscreen,
                   title=registry.get(key).title, sound=config.sound)
    scene = registry.create(key, comfort=config.comfort)
    viewer = view.Viewer(scene, stereo=config.stereo)
    b = view.base()
    controls = DesktopControls(b, mouse=not config.autopilot)
    overlay = Overlay(viewer)
    items = attitude.items_for(key)
    keys = DirectObject()
    pressed: list = []
    for digit in "12345":
        keys.accept(digit, pressed.append, [(ANSWER, int(digit))])
    keys.accept("escape", pressed.append, [(STOP, None)])        # the operator's key on the station's window
    wall = StageWallClock()
    run = {"phase": "", "started": time.time(), "aborted": False, "stopped": False, "cancelled": False,
           "mirrored": 0.0, "before": dict(before) if before is not None else None,
           "after": dict(after) if after is not None else None, "asker": None}

    def enter(phase: str) -> None:
        run["phase"] = phase
        if phase in ("before", "after"):
            run["asker"] = attitude.Asker(items, phase)
        if phase == "running":
            run["started"] = time.time()
            wall.observe(scene)
            controls.read(0.0)          # keys pressed while answering are not scene choices
        if control is not None:
            control.publish(phase=phase, question="", progress=round(scene_progress(scene), 4))

    def show_question() -> None:
        asker = run["asker"]
        overlay.show(asker.prompt(), attitude.scale_line(), "请按数字键 1-5 作答")
        if control is not None:
            control.publish(question=asker.prompt(), question_index=asker.index, question_total=len(items))

    def end(task):
        b.task_mgr.stop()
        return task.done

    def close_window():           # ShowBase would sys.exit(): keep what the learner did instead
        if run["phase"] in ("before", "ready"):
            run["cancelled"] = True
        run["aborted"] = True
        b.task_mgr.stop()

    b.userExit = close_window

    def tick(task):
        commands = (control.poll() if control is not None else []) + pressed[:]
        pressed.clear()
        phase = run["phase"]
        if any(c == STOP for c, _ in commands):
            overlay.hide()
            if phase in ("before", "ready"):
                run["cancelled"] = run["aborted"] = True
            else:
                run["stopped"] = run["aborted"] = True
            return end(task)
        if phase in ("before", "after"):
            asker = run["asker"]
            for command, value in commands:
                if command == ANSWER:
                    asker.answer(value)
            if asker.done:
                run[phase] = dict(asker.answers)
                overlay.hide()
                if phase == "after":
                    return end(task)
                enter("ready" if wait_for_start else "running")
            else:
                show_question()
            viewer.sync()
            return task.cont
        if phase == "ready":
            overlay.show("请戴好头显，等待工作人员开始", "", "")
            if any(c == START for c, _ in commands):
                overlay.hide()
                enter("running")
            viewer.sync()
            return task.cont
        for command, _value in commands:
            if command == PAUSE and phase == "running":
                phase = run["phase"] = "paused"
            elif command == RESUME and phase == "paused":
                phase = run["phase"] = "running"
        if phase == "paused":
            overlay.show("已暂停", "请稍候", "")
            viewer.update(0.0)
        else:
            overlay.hide()
            dt = min(0.1, globalClock.get_dt()) if not config.offscreen else 1 / 60
            dt *= config.speed
            inputs = scene.autopilot() if config.autopilot else controls.read(dt)
            viewer.update(dt, inputs)
            wall.observe(scene)
        now = time.time()
        if control is not None:
            _publish_running(control, scene, phase)
            if now - run["mirrored"] >= mirror_s:
                run["mirrored"] = now
                try:
                    control.set_frame(_mirror_jpeg(viewer, config.stereo))
                except RuntimeError:      # no frame yet
                    pass
        out_of_time = config.max_seconds and now - run["started"] >= config.max_seconds
        if out_of_time:
            run["aborted"] = True
            return end(task)
        if scene.finished:
            if run["after"] is not None:
                return end(task)
            enter("after")
        return task.cont

    enter("before" if run["before"] is None else ("ready" if wait_for_start else "running"))
    b.task_mgr.add(tick, "vr-station-scene")
    try:
        b.run()
    finally:
        keys.ignore_all()
        viewer.close()
    return SceneRun(scene, run["started"], time.time(), wall, aborted=run["aborted"] or not scene.finished,
                    stopped=run["stopped"], cancelled=run["cancelled"], attitude_before=run["before"],
                    attitude_after=run["after"] if not run["aborted"] else None)


# --- the reflection quiz ----------------------------------------------------------------------------
def ask_quiz(key: str, answers: str | None, read: Callable[[], str], out: TextIO) -> dict:
    """The scene's quiz, graded: ``answers`` given (``cbcb`` or ``id=c,...``), or asked on the terminal."""
    questions = quiz_mod.questions_for(key)
    if answers is not None:
        return quiz_mod.grade(questions, quiz_mod.parse_answers(answers, questions))
    return quiz_mod.ask(questions, read, out)


def unanswered_quiz(key: str) -> dict:
    """What is posted for a scene stopped before its end: no quiz was asked."""
    return {"questions": len(quiz_mod.questions_for(key)), "correct": 0, "answers": []}


# --- what is posted ---------------------------------------------------------------------------------
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


SESSION_API_VERSION = 2      # the session payload's version (docs/vr_station_api.md)


def session_payload(*, learner_id: int, scene_key: str, checkin: str, run: SceneRun, quiz: dict,
                    assignment_id: int | None = None, client_session_id: str | None = None,
                    questionnaire: dict | None = None) -> dict:
    """Version 2: with how the session ended (``outcome``, ``progress``) and the attitude
    questionnaire's answers (``{"before": {...}, "after": {...} | None}``)."""
    payload = {
        "api_version": SESSION_API_VERSION,
        "client_session_id": client_session_id or uuid.uuid4().hex,
        "learner_id": int(learner_id),
        "assignment_id": None if assignment_id is None else int(assignment_id),
        "scene": scene_key,
        "checkin": checkin,
        "started_at": round(run.started_at, 3),
        "ended_at": round(max(run.ended_at, run.started_at + 0.001), 3),
        **telemetry_payload(run),
        "quiz": quiz,
        "outcome": run.outcome,
        "progress": round(run.progress, 4),
        "questionnaire": questionnaire if questionnaire is not None else {"before": run.attitude_before,
                                                                          "after": run.attitude_after},
    }
    return payload
