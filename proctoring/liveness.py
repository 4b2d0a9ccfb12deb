"""Liveness challenges: the learner must do something unpredictable, now.

Pure code. Frame analysis turns each sampled frame into a `PoseSample` (eye openness
and head yaw, from face-mesh landmarks or blendshapes); this module decides whether a
challenge was met.

Why it defeats a photo and a looping video:
* a still photo never changes: no blink, no turn;
* the challenge is a random *sequence* of two actions drawn by the server, each to be
  done inside its own short window after it is shown, starting from a neutral pose,
  while the *other* actions must not happen in that window. A recording that blinks or
  turns on its own rhythm would have to match the order and the timing by chance.
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


@dataclass(frozen=True)
class LivenessPolicy:
    window_s: float = 4.0            # time to perform each action after it is shown
    blink_closed: float = 0.25       # eye openness (0 closed .. 1 open) counted as closed
    blink_open: float = 0.6          # ... and as open again
    turn_deg: float = 20.0           # yaw beyond this counts as a turn
    neutral_deg: float = 10.0        # |yaw| within this is looking at the screen
    min_samples: int = 6             # fewer samples in a window: not enough evidence
    # The actions challenges are drawn from (an office may leave out blinking, e.g. for a
    # learner with an eye condition); at least two, so a challenge is a sequence.
    actions: tuple["Action", ...] = ("blink", "turn_left", "turn_right")


@dataclass(frozen=True)
class PoseSample:
    at: float
    eye_openness: float   # mean of both eyes, 0 closed .. 1 open
    yaw_deg: float        # + the learner's left, - the learner's right


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
    """A server-drawn sequence of distinct actions, unpredictable without the secret."""
    pool = [Action(a) for a in pool]
    length = min(length, len(pool))
    chosen = []
    for step in range(length):
        pick = int(uniform(secret, "liveness", session_key, index, step) * len(pool))
        chosen.append(pool.pop(min(pick, len(pool) - 1)))
    return tuple(chosen)


def _did(action: Action, samples: Sequence[PoseSample], p: LivenessPolicy) -> bool:
    if action is Action.BLINK:
        closed_at = next((i for i, s in enumerate(samples) if s.eye_openness <= p.blink_closed), None)
        return closed_at is not None and any(s.eye_openness >= p.blink_open for s in samples[closed_at:])
    sign = 1 if action is Action.TURN_LEFT else -1
    return any(sign * s.yaw_deg >= p.turn_deg for s in samples)


def verify(actions: Sequence[Action], shown_at: Sequence[float], samples: Sequence[PoseSample],
           policy: LivenessPolicy = LivenessPolicy()) -> ChallengeResult:
    """Check each action inside its window [shown_at[i], shown_at[i] + window_s]."""
    steps = []
    for action, start in zip(actions, shown_at, strict=True):
        window = [s for s in samples if start <= s.at <= start + policy.window_s]
        steps.append(_verify_step(action, window, policy))
    return ChallengeResult(all(s.passed for s in steps), tuple(steps))


def _verify_step(action: Action, window: Sequence[PoseSample], p: LivenessPolicy) -> StepResult:
    if len(window) < p.min_samples:
        return StepResult(action, False, f"only {len(window)} samples")
    head = window[: max(1, len(window) // 5)]
    if not all(abs(s.yaw_deg) <= p.neutral_deg and s.eye_openness >= p.blink_open for s in head):
        return StepResult(action, False, "did not start from looking at the screen")
    if not _did(action, window, p):
        return StepResult(action, False, "not performed in time")
    # Blinking is involuntary and may come with a turn; turning the wrong way may not.
    rivals = [a for a in (Action.TURN_LEFT, Action.TURN_RIGHT) if a is not action]
    wrong = [other for other in rivals if _did(other, window, p)]
    if wrong:
        return StepResult(action, False, f"also did {wrong[0].value}")
    return StepResult(action, True, "ok")
