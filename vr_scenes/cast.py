"""The people in a scene: who they are (:class:`Role`) and where each one is and what they do at a
moment (:class:`CharacterState`).

Pure Python (no Panda3D): each scene lists its ``cast`` and computes ``characters()`` from its own
state (stage, time in the stage, flags), so the story's movements are tested without rendering;
``vr_scenes.people`` builds the animated figures and applies these states every frame.

Animations are named here independently of the model (``vr_scenes.people`` maps them to each model's
clips): ``idle``, ``walk``, ``run`` (loops), ``sit`` (seated: ``x, y`` is the seat's centre, ``z`` its
height, the figure faces ``heading``), ``reach`` (an arm held out: searching, pouring, a hand on the
glass), ``lie`` (on the back on a surface at height ``z``, the head towards ``heading``).
``anim_t`` is the seconds into the animation, taken from scene time so frames are reproducible.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from .core import heading_to

ANIMS = ("idle", "walk", "run", "sit", "reach", "lie")
WALK_SPEED = 1.1        # m/s, an unhurried walk
RUN_SPEED = 2.6


@dataclass(frozen=True)
class Role:
    key: str
    name: str               # Chinese, as the subtitles name the speaker ("民警", "母亲")
    model: str              # an assetcoop character: "rebecca", "polyimpairedperson"
    outfit: str             # how ``vr_scenes.people`` dresses it: "police", "prison", "doctor", ...
    height: float = 1.72    # metres, standing
    male: bool = False      # a man or a boy: ``vr_scenes.people`` gives the figure a man's build and hair


@dataclass(frozen=True)
class CharacterState:
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    heading: float = 0.0            # degrees, + is left, 0 faces +y (as the learner's heading)
    anim: str = "idle"
    anim_t: float = 0.0
    visible: bool = True
    speaking: bool = False

    @property
    def xy(self) -> tuple[float, float]:
        return (self.x, self.y)


HIDDEN = CharacterState(visible=False)


def stand(x: float, y: float, heading: float = 0.0, anim: str = "idle", anim_t: float = 0.0,
          z: float = 0.0) -> CharacterState:
    return CharacterState(x, y, z, heading, anim, anim_t)


def sit(x: float, y: float, z: float, heading: float) -> CharacterState:
    return CharacterState(x, y, z, heading, "sit", 10.0)


def facing(state: CharacterState, target: tuple[float, float]) -> CharacterState:
    """The same state turned to look at ``target`` (x, y)."""
    if math.hypot(target[0] - state.x, target[1] - state.y) < 1e-6:
        return state
    return replace(state, heading=heading_to(state.xy, target))


def along(path: Sequence[tuple[float, float]], t: float, start: float = 0.0, speed: float = WALK_SPEED,
          end_heading: float | None = None, anim: str = "walk") -> CharacterState:
    """Walking the polyline ``path`` from ``start`` seconds on at ``speed``: standing at its first point
    before, walking along it, standing at its last point (turned to ``end_heading``) after."""
    if len(path) < 2:
        raise ValueError("a path needs two points")
    first_heading = heading_to(path[0], path[1])
    if t <= start:
        return stand(*path[0], first_heading)
    left = (t - start) * speed
    for a, b in zip(path, path[1:]):
        seg = math.hypot(b[0] - a[0], b[1] - a[1])
        if left <= seg:
            f = left / seg if seg else 1.0
            return CharacterState(a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, 0.0, heading_to(a, b), anim,
                                  t - start)
        left -= seg
    last_heading = heading_to(path[-2], path[-1])
    return stand(*path[-1], last_heading if end_heading is None else end_heading)


def path_time(path: Sequence[tuple[float, float]], speed: float = WALK_SPEED) -> float:
    """Seconds to walk ``path`` at ``speed``."""
    return sum(math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(path, path[1:])) / speed


def speaking_role(cast: Iterable[Role], states: dict[str, CharacterState], speaker: str) -> str | None:
    """The key of the visible role that says the current line (the first in the cast with that name)."""
    if not speaker:
        return None
    for role in cast:
        state = states.get(role.key)
        if role.name == speaker and state is not None and state.visible:
            return role.key
    return None


def finish(cast: Sequence[Role], states: dict[str, CharacterState], speaker: str,
           learner: tuple[float, float]) -> dict[str, CharacterState]:
    """Every role of the cast gets a state (hidden where the scene gave none); the one speaking now is
    marked and turns to face the learner."""
    out = {role.key: states.get(role.key, HIDDEN) for role in cast}
    key = speaking_role(cast, out, speaker)
    if key is not None:
        state = out[key]
        if state.anim in ("walk", "run"):          # a line said on the way: keep walking, not turning
            out[key] = replace(state, speaking=True)
        elif state.anim == "lie":
            out[key] = replace(state, speaking=True)
        else:
            out[key] = replace(facing(state, learner), speaking=True)
    return out
