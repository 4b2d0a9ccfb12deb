"""Credit for a VR warning-education session: plain rules beside the study ledger (ledger.py).

The portal (webapp/vr/api.py) parses a station's post, loads the learner's check-ins, credited VR
sessions and the VR seconds already credited on the session's day, calls `decide`, and persists
what it returns. Nothing here knows Flask or SQL. In the order they apply:

* verified: a session earns nothing ("unverified") unless a check-in *record* puts the learner at
  that station: a face check-in whose liveness challenge passed, or an officer's on-site
  confirmation, between `checkin_window_s` before the session's start and `clock_slack_s` after
  its end. A check-in by an officer's assignment only names the learner: it verifies nothing;
  neither does a face check-in that failed its liveness challenge;
* stopped: a session the station's operator ended with the emergency stop (outcome "stopped", a
  station speaking session payload version 2) earns nothing ("stopped"), whatever it reached;
* complete: every stage of the scene reached and every quiz question answered, and (payload
  version 2) the station reports the scene as completed ("incomplete");
* overlap: a session overlapping one already credited to the same learner earns 0 s ("overlap");
* cap: at most the scene's longest scripted run plus `credit_slack_s` (a learner idling in the
  headset earns nothing more);
* daily cap: at most `daily_cap_s` of VR credit per learner per local day (the day of the
  session's end in the platform's time zone, like the month of its credit entry); a session over
  what is left is credited up to the cap ("daily_cap").

A session whose end is more than `max_age_s` old is refused outright (`too_old`): the portal does
not store it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

CREDIT_SLACK_S = 60.0
CHECKIN_WINDOW_S = 1800.0     # a check-in verifies sessions starting up to 30 min after it
FUTURE_SLACK_S = 300.0        # station clocks may run this far off the portal's
DAILY_CAP_S = 3600.0
MAX_AGE_S = 86400.0

# The check-in methods that can verify a session (a face one only with liveness passed).
FACE, OFFICER, ASSIGNMENT = "face", "officer", "assignment"

# How a session ended (payload version 2; a version-1 post is taken as "completed" and judged on its
# stages and quiz alone, as before): played to the end, ended by the operator's emergency stop, or
# cut short otherwise (the window closed, a time limit).
COMPLETED, STOPPED, UNFINISHED = "completed", "stopped", "unfinished"
OUTCOMES = (COMPLETED, STOPPED, UNFINISHED)


@dataclass(frozen=True)
class Rules:
    checkin_window_s: float = CHECKIN_WINDOW_S
    clock_slack_s: float = FUTURE_SLACK_S
    credit_slack_s: float = CREDIT_SLACK_S
    daily_cap_s: float = DAILY_CAP_S
    max_age_s: float = MAX_AGE_S


@dataclass(frozen=True)
class SceneSpec:
    stages: frozenset[str]
    max_s: float


@dataclass(frozen=True)
class Claim:
    """What a station reports of one session."""
    station_id: int
    checkin: str                  # "face" | "assignment" (how the station named the learner)
    started: float                # epoch seconds
    ended: float
    stages_reached: frozenset[str]
    quiz_questions: int
    quiz_answers: int
    outcome: str = COMPLETED      # COMPLETED | STOPPED | UNFINISHED


@dataclass(frozen=True)
class CheckIn:
    """A check-in record of the learner (the vr_checkin table)."""
    station_id: int
    method: str                   # "face" | "officer" | "assignment"
    at: float                     # epoch seconds, portal clock
    liveness: bool = False        # face: the liveness challenge passed
    id: int | None = None


@dataclass(frozen=True)
class Verdict:
    credited_s: float
    reason: str                   # credited | stopped | unverified | incomplete | overlap | daily_cap
    verified: bool
    checkin: CheckIn | None = None    # the check-in that verified the session


def is_complete(spec: SceneSpec, claim: Claim) -> bool:
    return claim.outcome == COMPLETED and spec.stages <= claim.stages_reached and claim.quiz_questions >= 1 \
        and claim.quiz_answers == claim.quiz_questions


def verifies(checkin: CheckIn, claim: Claim, rules: Rules = Rules()) -> bool:
    """A face check-in with liveness passed or an officer's confirmation, at the claim's station,
    in [started - checkin_window_s, ended + clock_slack_s]."""
    if checkin.station_id != claim.station_id:
        return False
    if not claim.started - rules.checkin_window_s <= checkin.at <= claim.ended + rules.clock_slack_s:
        return False
    return (checkin.method == FACE and checkin.liveness) or checkin.method == OFFICER


def verifying_checkin(claim: Claim, checkins: Iterable[CheckIn], rules: Rules = Rules()) -> CheckIn | None:
    """The verifying check-in nearest the session's start (None: the session is unverified)."""
    found = [c for c in checkins if verifies(c, claim, rules)]
    return min(found, key=lambda c: (abs(c.at - claim.started), -c.at)) if found else None


def is_verified(claim: Claim, checkins: Iterable[CheckIn], rules: Rules = Rules()) -> bool:
    return verifying_checkin(claim, checkins, rules) is not None


def overlaps(claim: Claim, credited: Iterable[tuple[float, float]]) -> bool:
    return any(start < claim.ended and end > claim.started for start, end in credited)


def too_old(ended: float, now: float, rules: Rules = Rules()) -> bool:
    """A session that ended more than `max_age_s` ago is refused (not stored)."""
    return ended < now - rules.max_age_s


def day_bounds(epoch: float, tz_name: str) -> tuple[float, float]:
    """[start, end) in epoch seconds of the local day (in `tz_name`) that holds `epoch`."""
    tz = ZoneInfo(tz_name)
    day = datetime.fromtimestamp(epoch, tz).date()
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=tz)
    return start.timestamp(), end.timestamp()


def decide(spec: SceneSpec, claim: Claim, checkins: Iterable[CheckIn], credited: Iterable[tuple[float, float]],
           credited_today_s: float = 0.0, rules: Rules = Rules()) -> Verdict:
    """`credited`: (started, ended) of the learner's VR sessions that earned credit;
    `credited_today_s`: VR seconds already credited to the learner on the local day of `claim.ended`
    (`day_bounds`)."""
    checkin = verifying_checkin(claim, checkins, rules)
    if claim.outcome == STOPPED:      # the emergency stop: never credited (verified or not, it is recorded)
        return Verdict(0.0, "stopped", checkin is not None, checkin)
    if checkin is None:
        return Verdict(0.0, "unverified", False)
    if not is_complete(spec, claim):
        return Verdict(0.0, "incomplete", True, checkin)
    if overlaps(claim, credited):
        return Verdict(0.0, "overlap", True, checkin)
    earned = max(0.0, min(claim.ended - claim.started, spec.max_s + rules.credit_slack_s))
    left = max(0.0, rules.daily_cap_s - credited_today_s)
    if earned > left:
        return Verdict(left, "daily_cap", True, checkin)
    return Verdict(earned, "credited", True, checkin)
