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

from .. import quiz as quiz_mod
from .. import registry
from ..core import Scene

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

    from .. import view
    from ..controls import DesktopControls

    view.configure(config.size, backend="tiny" if config.offscreen else "gl", offscreen=config.offscreen,
                   title=registry.get(key).title, sound=config.sound)
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
