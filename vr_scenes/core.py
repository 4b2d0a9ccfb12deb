"""The scene interface: stages, inputs, a fake-able clock, the stage runner and the Scene base class.

Pure Python (no Panda3D): a scene's logic runs, and is tested, without rendering. A scene is one
module that subclasses :class:`Scene`, declares its ``stages`` and implements the hooks
(``on_enter``, ``on_step``, ``stage_complete``, ``autopilot``) plus ``build``/``sync`` for the view;
``vr_scenes.registry`` makes it selectable by key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar

from .impairment import VisionEffects
from .telemetry import Telemetry

if TYPE_CHECKING:  # the view side, only imported where a scene is rendered
    from .world import World

EYE_STANDING = 1.65
EYE_SEATED = 1.2


class SimClock:
    """Scene time in seconds. Advanced only by the scene's ``step(dt)``: the real-time app feeds it
    the frame time, tests and the gallery feed it fixed steps and so fast-forward."""

    def __init__(self, start: float = 0.0):
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        if dt < 0:
            raise ValueError("time does not run backwards")
        self.t += dt


@dataclass(frozen=True)
class Cue:
    """One narration subtitle, shown from ``at`` seconds after the stage starts until the next cue.
    ``speaker`` names who says it (Chinese, e.g. "民警"; empty for the narrator): the subtitle then
    reads "民警：……", the speaking character turns to the learner, and speech synthesis picks a voice."""
    at: float
    text: str
    speaker: str = ""

    @property
    def subtitle(self) -> str:
        return f"{self.speaker}：{self.text}" if self.speaker else self.text


@dataclass(frozen=True)
class KeyEvent:
    """Something the learner should look at: attention is the share of its active time during which the
    head faces it (within ``cone_deg`` of the gaze direction)."""
    name: str
    pos: tuple[float, float, float]
    start: float = 0.0              # seconds after the stage starts
    end: float = math.inf
    cone_deg: float = 25.0


@dataclass(frozen=True)
class Stage:
    key: str
    title: str                      # Simplified Chinese, shown when the stage starts
    duration_s: float               # the stage ends by itself after this long (timed out if not completed)
    cues: tuple[Cue, ...] = ()
    goal: str = ""                  # what the learner is asked to do (Chinese), shown under the subtitle
    min_s: float = 0.0              # completing the goal advances the stage no earlier than this
    key_events: tuple[KeyEvent, ...] = ()
    keyframe_s: float = 8.0         # where in the stage the gallery and the tests take their key frame


@dataclass
class Inputs:
    """One step's learner input, whatever the device (keyboard and mouse, gamepad, HMD)."""
    move: float = 0.0               # walk forward (+) / back (-), -1..1
    strafe: float = 0.0             # walk right (+) / left (-)
    yaw: float = 0.0                # head yaw in degrees, relative to the body/vehicle; + is left
    pitch: float = 0.0              # head pitch in degrees; + is up
    steer: float = 0.0              # -1 (left) .. 1 (right)
    throttle: float = 0.0           # 0..1
    brake: float = 0.0              # 0..1
    action: bool = False            # the use/sit/answer button went down this step
    choice: int | None = None       # a numbered choice (1, 2) made this step


@dataclass
class Body:
    """Where the learner's head is: position (Panda3D axes: x right, y forward, z up) and orientation."""
    x: float = 0.0
    y: float = 0.0
    eye: float = EYE_STANDING
    heading: float = 0.0            # body (or vehicle) heading in degrees, + is left (Panda3D H)
    yaw: float = 0.0                # head yaw relative to the body
    pitch: float = 0.0

    @property
    def pos(self) -> tuple[float, float, float]:
        return (self.x, self.y, self.eye)

    @property
    def gaze_h(self) -> float:
        return self.heading + self.yaw

    def gaze(self) -> tuple[float, float, float]:
        h, p = math.radians(self.gaze_h), math.radians(self.pitch)
        return (-math.sin(h) * math.cos(p), math.cos(h) * math.cos(p), math.sin(p))


def angle_between(gaze: tuple[float, float, float], frm: tuple[float, float, float],
                  to: tuple[float, float, float]) -> float:
    d = (to[0] - frm[0], to[1] - frm[1], to[2] - frm[2])
    n = math.sqrt(sum(c * c for c in d)) or 1e-9
    cos = sum(g * c for g, c in zip(gaze, d, strict=True)) / n
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def heading_to(frm: tuple[float, float], to: tuple[float, float]) -> float:
    """The Panda3D heading (degrees, + left, 0 = +y) that looks from ``frm`` to ``to``."""
    return math.degrees(math.atan2(-(to[0] - frm[0]), to[1] - frm[1]))


class StageRunner:
    """Which stage is on, for how long, and when it ends: completed (the goal was met, after ``min_s``)
    or timed out (``duration_s`` ran out)."""

    def __init__(self, stages: tuple[Stage, ...], clock: SimClock):
        if not stages:
            raise ValueError("a scene needs at least one stage")
        self.stages = stages
        self.clock = clock
        self.index = 0
        self.started = clock.now()
        self.finished = False

    @property
    def stage(self) -> Stage:
        return self.stages[self.index]

    @property
    def t(self) -> float:
        """Seconds since the current stage started."""
        return self.clock.now() - self.started

    def update(self, goal_met: bool) -> tuple[Stage, bool] | None:
        """Call once per step after the scene logic; returns (the stage that ended, completed?) or None."""
        if self.finished:
            return None
        stage = self.stage
        if goal_met and self.t >= stage.min_s:
            completed = True
        elif self.t >= stage.duration_s:
            completed = False
        else:
            return None
        if self.index + 1 < len(self.stages):
            self.index += 1
            self.started = self.clock.now()
        else:
            self.finished = True
        return stage, completed

    def cue(self) -> Cue | None:
        """The cue shown now (the last one that has started), if any."""
        current = None
        for cue in self.stage.cues:
            if cue.at <= self.t:
                current = cue
        return current

    def subtitle(self) -> str:
        cue = self.cue()
        return cue.subtitle if cue else ""


class Scene:
    """Base of every scene. Subclasses set ``key``, ``title``, ``stages`` and implement the hooks."""

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    stages: ClassVar[tuple[Stage, ...]] = ()
    max_walk_speed: ClassVar[float] = 1.4   # m/s

    def __init__(self, clock: SimClock | None = None, comfort: bool = False):
        self.clock = clock or SimClock()
        self.comfort = comfort
        self.runner = StageRunner(self.stages, self.clock)
        self.telemetry = Telemetry(self.key)
        self.body = Body()
        self.moving = 0.0             # 0..1, how fast the view moves (drives the comfort vignette)
        self.fade = 0.0               # 0..1 black fade (stage cuts)
        self.flash: tuple[float, float, float, float] = (0, 0, 0, 0)   # full-view colour overlay (rgba)
        self.vision = VisionEffects()
        self.telemetry.stage_started(self.stage.key, self.clock.now())
        self.on_enter(self.stage)

    # --- running ---------------------------------------------------------------------------------
    @property
    def stage(self) -> Stage:
        return self.runner.stage

    @property
    def t_stage(self) -> float:
        return self.runner.t

    @property
    def finished(self) -> bool:
        return self.runner.finished

    @property
    def total_duration_s(self) -> float:
        return sum(s.duration_s for s in self.stages)

    def step(self, dt: float, inputs: Inputs | None = None) -> None:
        if self.finished:
            return
        inputs = inputs or Inputs()
        self.clock.advance(dt)
        self.body.yaw = max(-170.0, min(170.0, inputs.yaw))
        self.body.pitch = max(-80.0, min(80.0, inputs.pitch))
        self.on_step(self.stage, dt, inputs)
        self.fade = max(0.0, 1.0 - self.t_stage / 0.6) if self.runner.index > 0 else 0.0
        self._observe_attention(dt)
        ended = self.runner.update(self.stage_complete(self.stage))
        if ended:
            stage, completed = ended
            now = self.clock.now()
            self.telemetry.stage_ended(stage.key, now, completed)
            if not self.finished:
                self.telemetry.stage_started(self.stage.key, now)
                self.on_enter(self.stage)

    def _observe_attention(self, dt: float) -> None:
        gaze, eye = self.body.gaze(), self.body.pos
        t = self.t_stage
        for event in self.stage.key_events:
            if event.start <= t < event.end and self.event_active(event):
                facing = angle_between(gaze, eye, self.event_pos(event)) <= event.cone_deg
                self.telemetry.attention(event.name, dt, facing)

    def active_events(self) -> list[KeyEvent]:
        """Key events on now (their time window covers now and ``event_active``), where they are now."""
        t = self.t_stage
        return [replace(e, pos=self.event_pos(e)) for e in self.stage.key_events
                if e.start <= t < e.end and self.event_active(e)]

    def event_active(self, event: KeyEvent) -> bool:
        """Scenes may switch a key event off inside its time window (a hazard not yet on the road)."""
        return True

    def event_pos(self, event: KeyEvent) -> tuple[float, float, float]:
        return event.pos

    def subtitle(self) -> str:
        return self.runner.subtitle()

    def speaker(self) -> str:
        """Who says the line on screen now ("" for the narrator): the cue's speaker, unless a scene
        knows better (the prison's roll call)."""
        cue = self.runner.cue()
        return cue.speaker if cue else ""

    def walk(self, dt: float, inputs: Inputs, area: tuple[float, float, float, float]) -> None:
        """Learner-controlled walking in the gaze direction, kept inside ``area`` = (x0, y0, x1, y1)."""
        speed = self.max_walk_speed
        h = math.radians(self.body.heading + self.body.yaw)
        fx, fy = -math.sin(h), math.cos(h)
        dx = (fx * inputs.move + fy * inputs.strafe) * speed * dt
        dy = (fy * inputs.move - fx * inputs.strafe) * speed * dt
        x0, y0, x1, y1 = area
        self.body.x = max(x0, min(x1, self.body.x + dx))
        self.body.y = max(y0, min(y1, self.body.y + dy))
        self.moving = min(1.0, math.hypot(inputs.move, inputs.strafe))

    def look_at(self, target: tuple[float, float, float]) -> tuple[float, float]:
        """(yaw, pitch) relative to the body that faces ``target``: what an attentive learner's head does."""
        b = self.body
        yaw = heading_to((b.x, b.y), (target[0], target[1])) - b.heading
        yaw = (yaw + 180.0) % 360.0 - 180.0
        dist = math.hypot(target[0] - b.x, target[1] - b.y)
        pitch = math.degrees(math.atan2(target[2] - b.eye, dist))
        return yaw, pitch

    def look_at_event(self, name: str | None = None) -> tuple[float, float]:
        """Face the named active key event (or the first active one); straight ahead if there is none."""
        for event in self.active_events():
            if name is None or event.name == name:
                return self.look_at(event.pos)
        return 0.0, 0.0

    def walk_to(self, target: tuple[float, float], radius: float = 0.35, **extra) -> Inputs:
        """The scripted learner's walk: face ``target`` and walk until within ``radius``."""
        yaw, _ = self.look_at((target[0], target[1], self.body.eye))
        move = 0.0 if self.near(target, radius) else 1.0
        return Inputs(move=move, yaw=yaw, **extra)

    def near(self, xy: tuple[float, float], radius: float) -> bool:
        return math.hypot(self.body.x - xy[0], self.body.y - xy[1]) <= radius

    def place(self, x: float, y: float, heading: float, eye: float = EYE_STANDING) -> None:
        """Put the learner somewhere at a stage cut (under a fade; never a continuous forced motion)."""
        self.body.x, self.body.y, self.body.heading, self.body.eye = x, y, heading, eye

    # --- hooks for scenes ------------------------------------------------------------------------
    def on_enter(self, stage: Stage) -> None:
        """A stage begins: place the learner, reset stage state."""

    def on_step(self, stage: Stage, dt: float, inputs: Inputs) -> None:
        """Advance the scene's own logic by dt."""

    def stage_complete(self, stage: Stage) -> bool:
        """True once the learner has done what the stage asks."""
        return False

    def goal(self) -> str:
        return self.stage.goal

    def autopilot(self) -> Inputs:
        """A scripted learner that completes every stage: drives the tests, the gallery and the bench."""
        return Inputs()

    # --- view hooks (Panda3D; see vr_scenes.world) ----------------------------------------------
    def build(self, world: World) -> None:
        """Make the scene's geometry. Every registered scene has one; a scene used for its logic
        alone (as in tests) has no view and is refused here."""
        raise SceneHasNoView(f"scene {self.key!r} has no view (build)")

    def sync(self, world: World) -> None:
        """Move the dynamic nodes to the logic's state (called before each rendered frame)."""


class SceneHasNoView(RuntimeError):
    """A scene used for its logic alone (a test's throwaway scene) was asked to render."""


@dataclass
class RunResult:
    steps: int = 0
    seconds: float = 0.0
    stages_seen: list[str] = field(default_factory=list)


def fast_forward(scene: Scene, dt: float = 0.05, until_stage: str | None = None, until_t: float = 0.0,
                 max_s: float = 3600.0) -> RunResult:
    """Run ``scene`` with its autopilot in fixed steps, without rendering: to the end, or until stage
    ``until_stage`` has run ``until_t`` seconds."""
    result = RunResult(stages_seen=[scene.stage.key])
    keys = [s.key for s in scene.stages]
    target = keys.index(until_stage) if until_stage else None
    while not scene.finished and result.seconds < max_s:
        if target is not None and (scene.runner.index > target
                                   or (scene.runner.index == target and scene.t_stage >= until_t)):
            break
        scene.step(dt, scene.autopilot())
        result.steps += 1
        result.seconds += dt
        if scene.stage.key != result.stages_seen[-1]:
            result.stages_seen.append(scene.stage.key)
    return result
