"""Credit for a VR warning-education session: plain rules beside the study ledger (ledger.py).

The portal (webapp/vr/api.py) parses a station's post, loads the learner's check-ins and credited
VR sessions, calls `decide`, and persists what it returns. Nothing here knows Flask or SQL.

* complete: every stage of the scene reached and every quiz question answered; otherwise 0 s;
* cap: at most the scene's longest scripted run plus `slack_s` (a learner idling in the headset
  earns nothing more);
* overlap: a session overlapping one already credited to the same learner earns 0 s;
* verified: a face session is verified by a face check-in of that learner at that station
  between `lookback_s` before its start and `slack_s` after its end; an assignment session is
  recorded unverified (the officer's assignment, not a face, named the learner).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CREDIT_SLACK_S = 60.0
CHECKIN_LOOKBACK_S = 86400.0
FUTURE_SLACK_S = 300.0


@dataclass(frozen=True)
class SceneSpec:
    stages: frozenset[str]
    max_s: float


@dataclass(frozen=True)
class Claim:
    """What a station reports of one session."""
    station_id: int
    checkin: str                  # "face" | "assignment"
    started: float                # epoch seconds
    ended: float
    stages_reached: frozenset[str]
    quiz_questions: int
    quiz_answers: int


@dataclass(frozen=True)
class CheckIn:
    """A check-in record of the learner (the vr_checkin table)."""
    station_id: int
    method: str                   # "face" | "assignment"
    at: float                     # epoch seconds


@dataclass(frozen=True)
class Verdict:
    credited_s: float
    reason: str                   # credited | incomplete | overlap
    verified: bool


def is_complete(spec: SceneSpec, claim: Claim) -> bool:
    return spec.stages <= claim.stages_reached and claim.quiz_questions >= 1 \
        and claim.quiz_answers == claim.quiz_questions


def is_verified(claim: Claim, checkins: Iterable[CheckIn], lookback_s: float = CHECKIN_LOOKBACK_S,
                slack_s: float = FUTURE_SLACK_S) -> bool:
    if claim.checkin != "face":
        return False
    return any(c.method == "face" and c.station_id == claim.station_id
               and claim.started - lookback_s <= c.at <= claim.ended + slack_s for c in checkins)


def overlaps(claim: Claim, credited: Iterable[tuple[float, float]]) -> bool:
    return any(start < claim.ended and end > claim.started for start, end in credited)


def decide(spec: SceneSpec, claim: Claim, checkins: Iterable[CheckIn], credited: Iterable[tuple[float, float]],
           slack_s: float = CREDIT_SLACK_S) -> Verdict:
    """`credited`: (started, ended) of the learner's VR sessions that earned credit."""
    verified = is_verified(claim, checkins)
    if not is_complete(spec, claim):
        return Verdict(0.0, "incomplete", verified)
    if overlaps(claim, credited):
        return Verdict(0.0, "overlap", verified)
    return Verdict(min(claim.ended - claim.started, spec.max_s + slack_s), "credited", verified)
