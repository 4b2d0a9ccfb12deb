"""Liveness challenges: the learner must do something unpredictable, now.

Pure code. Frame analysis turns each sampled frame into a `PoseSample` (eye openness
and head yaw, from face-mesh landmarks or blendshapes); this module decides whether a
challenge was met.

Why it defeats a photo and a looping video:
* a still photo never changes: no blink, no turn, no nod, no open mouth;
* the challenge is a random *sequence* of two actions of different signals (turning the head
  left or right: yaw; looking up or down: pitch; opening the mouth: jaw; blinking: eyes) drawn
  by the server, each to be
  done inside its own short window after it is shown, starting from a neutral pose,
  while the *other* actions must not happen in that window. A recording that blinks or
  turns on its own rhythm would have to match the order and the timing by chance.

What the real landmarker verifies (tests on real photos re-rendered by proctoring.sample_faces):
yaw, pitch and the open mouth (its `jawOpen` blendshape: about 0.00-0.02 for a closed mouth,
0.19-0.77 for one opened by a fifth of the face height). Blinking is not in the default pool:
the `eyeBlink` blendshapes read real closed eyes in the ORL set as 0.26-0.56 (never the 0.25
the rule needs), so a real learner could fail it; an office may still add it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Sequence

from .policy import uniform


class Action(str, Enum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"
    LOOK_DOWN = "look_down"
    OPEN_MOUTH = "open_mouth"


# Which signal each action moves: a challenge never draws two actions of one signal, so a
# recording that merely turns its head back and forth cannot meet it.
SIGNAL = {Action.BLINK: "eyes", Action.TURN_LEFT: "yaw", Action.TURN_RIGHT: "yaw",
          Action.LOOK_UP: "pitch", Action.LOOK_DOWN: "pitch", Action.OPEN_MOUTH: "jaw"}
HEAD_ACTIONS = (Action.TURN_LEFT, Action.TURN_RIGHT, Action.LOOK_UP, Action.LOOK_DOWN)


@dataclass(frozen=True)
class LivenessPolicy:
    window_s: float = 4.0            # time to perform each action after it is shown
    blink_closed: float = 0.25       # eye openness (0 closed .. 1 open) counted as closed
    blink_open: float = 0.6          # ... and as open again
    turn_deg: float = 20.0           # yaw beyond this counts as a turn
    nod_deg: float = 12.0            # pitch this far from the step's start counts as looking up / down
    neutral_pitch_deg: float = 20.0  # |pitch| at the start: webcams sit above or below the eyes
    neutral_deg: float = 10.0        # |yaw| and |pitch| within this is looking at the screen
    mouth_open_delta: float = 0.12   # jawOpen this much above the step's start counts as opening the mouth
    max_lead_s: float = 1.0          # each step's window starts up to this much later, drawn
    min_samples: int = 6             # fewer samples in a window: not enough evidence
    # The actions challenges are drawn from: at least two, so a challenge is a sequence. Three
    # signals by default, all verified on real input (blinking is not: see above).
    actions: tuple["Action", ...] = ("turn_left", "turn_right", "look_up", "look_down", "open_mouth")


@dataclass(frozen=True)
class PoseSample:
    at: float
    eye_openness: float   # mean of both eyes, 0 closed .. 1 open
    yaw_deg: float        # + the learner's left, - the learner's right
    pitch_deg: float = 0.0    # + looking up
    mouth_open: float = 0.0   # the jawOpen blendshape, 0 closed .. 1 wide open


@dataclass(frozen=True)
class StepResult:
    action: Action
    passed: bool
    reason: str


@dataclass(frozen=True)
class ChallengeResult:
    passed: bool
    steps: tuple[StepResult, ...]

    @property
    def reason(self) -> str:
        failed = [s for s in self.steps if not s.passed]
        return "ok" if not failed else f"{failed[0].action.value}: {failed[0].reason}"


def draw_challenge(secret: bytes, session_key: str, index: int, length: int = 2,
                   pool: tuple = tuple(Action)) -> tuple[Action, ...]:
    """A server-drawn sequence of actions of distinct signals, unpredictable without the secret."""
    pool = [Action(a) for a in pool]
    chosen: list[Action] = []
    for step in range(length):
        left = [a for a in pool if SIGNAL[a] not in {SIGNAL[c] for c in chosen}]
        if not left:
            break
        pick = int(uniform(secret, "liveness", session_key, index, step) * len(left))
        chosen.append(left[min(pick, len(left) - 1)])
    return tuple(chosen)


def draw_leads(secret: bytes, session_key: str, index: int, steps: int, policy: "LivenessPolicy") -> tuple:
    """A random extra delay before each step's window: the timing is not predictable either."""
    return tuple(uniform(secret, "liveness-lead", session_key, index, step) * policy.max_lead_s
                 for step in range(steps))


def _did(action: Action, samples: Sequence[PoseSample], p: LivenessPolicy, pitch0: float = 0.0,
         mouth0: float = 0.0) -> bool:
    """`pitch0`, `mouth0`: the pitch and jaw opening the step started from (a camera above or
    below the eyes reads as a constant pitch; a nod is measured from there)."""
    if action is Action.OPEN_MOUTH:
        return any(s.mouth_open - mouth0 >= p.mouth_open_delta for s in samples)
    if action is Action.BLINK:
        closed_at = next((i for i, s in enumerate(samples) if s.eye_openness <= p.blink_closed), None)
        return closed_at is not None and any(s.eye_openness >= p.blink_open for s in samples[closed_at:])
    if action in (Action.LOOK_UP, Action.LOOK_DOWN):
        sign = 1 if action is Action.LOOK_UP else -1
        return any(sign * (s.pitch_deg - pitch0) >= p.nod_deg for s in samples)
    sign = 1 if action is Action.TURN_LEFT else -1
    return any(sign * s.yaw_deg >= p.turn_deg for s in samples)


def verify(actions: Sequence[Action], shown_at: Sequence[float], samples: Sequence[PoseSample],
           policy: LivenessPolicy = LivenessPolicy()) -> ChallengeResult:
    """Check each action inside its window [shown_at[i], shown_at[i] + window_s]."""
    steps = []
    for action, start in zip(actions, shown_at, strict=True):
        window = [s for s in samples if start <= s.at <= start + policy.window_s]
        steps.append(_verify_step(action, window, policy, start))
    return ChallengeResult(all(s.passed for s in steps), tuple(steps))


def _verify_step(action: Action, window: Sequence[PoseSample], p: LivenessPolicy,
                 start: float | None = None) -> StepResult:
    if len(window) < p.min_samples:
        return StepResult(action, False, f"only {len(window)} samples")
    # The starting pose: the samples of the window's first fifth *in time* (a server that
    # dropped early samples must not take the action itself for the start), at least one.
    start = window[0].at if start is None else start
    head = [s for s in window if s.at <= start + p.window_s / 5] or window[:1]
    if not all(abs(s.yaw_deg) <= p.neutral_deg and abs(s.pitch_deg) <= p.neutral_pitch_deg
               and s.eye_openness >= p.blink_open for s in head):
        return StepResult(action, False, "did not start from looking at the screen")
    pitch0 = sorted(s.pitch_deg for s in head)[len(head) // 2]
    mouth0 = sorted(s.mouth_open for s in head)[len(head) // 2]
    if not _did(action, window, p, pitch0, mouth0):
        return StepResult(action, False, "not performed in time")
    # Blinking is involuntary and may come with a head movement; another head movement may not.
    rivals = [a for a in HEAD_ACTIONS if a is not action]
    wrong = [other for other in rivals if _did(other, window, p, pitch0)]
    if wrong:
        return StepResult(action, False, f"also did {wrong[0].value}")
    return StepResult(action, True, "ok")
