"""Group education sessions over a conference (issue 16): who may play or share, the playback
state, when to check whom, and what counts as attended. Pure rules on plain values: no Flask, no
media, nothing of ours beyond `conferencing`. The web shell carries out what they decide.

The stage: who may play or share
--------------------------------
* `Stage` holds the session's host (the floor's `host_id`: `conferencing.floor` has one host and no
  co-host, so neither has this module; another officer, of the host's unit or not, is a participant
  here), the participants the host has allowed to share, and the one main stream: a `Playback` of
  course media, a `Share` of a screen, or nothing.
* The host plays media, pauses, resumes, seeks, stops, shares a screen, and grants or revokes a
  participant's permission to share. Nobody else does any of these (`not_host`).
* A participant (officer or supervisee) shares a screen only while the host's grant stands
  (`not_allowed`); playing media is the host's alone, so a supervisee never plays.
* One main stream at a time. What the host starts (a playback or a share) replaces whatever is on
  the stage: a participant's share ends, a playback stops (its position is not kept). A participant's
  share is refused while anything else is on the stage (`busy`): the host stops it first. Revoking
  a grant ends that person's share at once; so does `leave` (the shell calls it when they go).
* Refusals raise `EducationError` with a code: `not_host`, `not_allowed`, `busy`, `no_playback`,
  `not_sharing`, `bad_position`, `bad_field`. `refusal()` answers the same question without raising.

Playback
--------
A `Playback` is (media, duration, playing, position, set_at): the position at wall time `set_at`,
so anyone (a late joiner too) computes the current position with `position_at(now)` (rate 1,
clamped to [position, duration]). `play`, `pause`, `seek`, `stop_playback` return a new `Stage`.
A seek to a negative position, past the duration or to a non-number is refused (`bad_position`);
it keeps the playing/paused state.

Check sampling
--------------
`plan_checks` picks who to check now: each present person on their own camera is a target; a
shared room (a township room where several supervisees share one camera) is one target, checked
by its on-site officer's confirmation or by check-ins at the room's terminal, and that check covers
the people it names (`room_results`). At most `max_parallel` (K) checks run at once (checks in
progress count), so the server never decodes everyone at once. A target's next check is drawn from
`seed` (HMAC, like `proctoring.policy`: unpredictable without the secret, the same after a restart):
* first check (the target never checked, or someone arrived after its last check: a newcomer in
  the room, a person rejoining): within `first_within_s` of that arrival, since time before a
  first passed check is never attended;
* later checks: between `min_gap_s` and `max_gap_s - reserve_s` after the last one; the reserve is
  the slack for waiting behind K, so the gap between two checks of a target stays <= `max_gap_s`
  (G) when the shell asks at least every few seconds and K checks of `check_s` can serve all the
  targets in the reserve (`capacity`). Ready targets are served earliest deadline first.

Attendance
----------
`attended_spans` turns one person's presence spans and check results into attended wall time:
the time between two consecutive checks is attended when both passed and the person was present
without a break from the first to the second. So:
* a failed check ends attendance until the next passed check (the windows on both sides of it are
  lost);
* first-check lateness: the time from joining to the first passed check is not attended;
* the session end is not a check: the tail after the last passed check is not attended (at most G
  lost; the shell may close a session with a last round of checks to bracket it);
* leaving and rejoining: the window holding the absence is lost (also the part before leaving,
  since no check closes it while present), and attendance resumes between the first two passed
  checks after the return. (The study ledger settles the time before a gap at the next check after
  it; a conference does not: its presence is the joined/left record, and a window that holds an
  absence is not continuous presence.)
* a passed and a failed check at the same moment: the failed one wins.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import struct
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise

# --- the stage ---------------------------------------------------------------------------------

CODES = ("not_host", "not_allowed", "busy", "no_playback", "not_sharing", "bad_position", "bad_field")
HOST_ACTIONS = ("play", "resume", "pause", "seek", "stop_playback", "grant", "revoke")


class EducationError(Exception):
    """code: one of CODES."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Playback:
    media_id: str
    duration: float
    playing: bool
    position: float          # the media position at wall time `set_at`
    set_at: float

    def position_at(self, now: float) -> float:
        """The media position at wall time `now` (rate 1; never before `position`, never past the end)."""
        if not self.playing:
            return self.position
        return min(self.duration, self.position + max(0.0, now - self.set_at))

    def ended_at(self, now: float) -> bool:
        return self.position_at(now) >= self.duration


@dataclass(frozen=True)
class Share:
    user_id: Hashable
    started_at: float


@dataclass(frozen=True)
class Stage:
    host_id: Hashable
    grants: frozenset = frozenset()                 # participants allowed to share
    main: Playback | Share | None = None

    @property
    def playback(self) -> Playback | None:
        return self.main if isinstance(self.main, Playback) else None

    @property
    def share(self) -> Share | None:
        return self.main if isinstance(self.main, Share) else None


def refusal(stage: Stage, actor: Hashable, action: str) -> str | None:
    """Why `actor` may not do `action` now (a code), or None. Actions: HOST_ACTIONS, "share",
    "stop_share". Field checks (a position, a target) come with the transition itself."""
    if action in HOST_ACTIONS:
        if actor != stage.host_id:
            return "not_host"
        if action in ("resume", "pause", "seek", "stop_playback") and stage.playback is None:
            return "no_playback"
        return None
    if action == "share":
        if actor == stage.host_id:
            return None
        if actor not in stage.grants:
            return "not_allowed"
        if stage.main is not None and not (stage.share is not None and stage.share.user_id == actor):
            return "busy"
        return None
    if action == "stop_share":
        if stage.share is None:
            return "not_sharing"
        if actor != stage.host_id and actor != stage.share.user_id:
            return "not_host"
        return None
    return "bad_field"


def _check(stage: Stage, actor: Hashable, action: str) -> None:
    code = refusal(stage, actor, action)
    if code is not None:
        raise EducationError(code, f"{action} refused: {code}")


def play(stage: Stage, actor: Hashable, media_id: str, duration: float, now: float, position: float = 0.0) -> Stage:
    """The host starts a medium (from `position`); it replaces whatever was on the stage."""
    _check(stage, actor, "play")
    if not isinstance(media_id, str) or not media_id or not _number(duration) or duration <= 0:
        raise EducationError("bad_field", "a medium needs an id and a positive duration")
    _position(position, duration)
    return replace(stage, main=Playback(media_id, float(duration), True, float(position), now))


def resume(stage: Stage, actor: Hashable, now: float) -> Stage:
    _check(stage, actor, "resume")
    pb = stage.playback
    if pb.playing:
        return stage
    return replace(stage, main=replace(pb, playing=True, set_at=now))


def pause(stage: Stage, actor: Hashable, now: float) -> Stage:
    _check(stage, actor, "pause")
    pb = stage.playback
    if not pb.playing:
        return stage
    return replace(stage, main=replace(pb, playing=False, position=pb.position_at(now), set_at=now))


def seek(stage: Stage, actor: Hashable, position: float, now: float) -> Stage:
    """Move to `position` (0 <= position <= duration), playing or paused as before."""
    _check(stage, actor, "seek")
    pb = stage.playback
    _position(position, pb.duration)
    return replace(stage, main=replace(pb, position=float(position), set_at=now))


def stop_playback(stage: Stage, actor: Hashable) -> Stage:
    _check(stage, actor, "stop_playback")
    return replace(stage, main=None)


def start_share(stage: Stage, actor: Hashable, now: float) -> Stage:
    """The host (replacing anything on the stage) or a granted participant (on a free stage)."""
    _check(stage, actor, "share")
    if stage.share is not None and stage.share.user_id == actor:
        return stage
    return replace(stage, main=Share(actor, now))


def stop_share(stage: Stage, actor: Hashable) -> Stage:
    """The sharer, or the host, ends the share."""
    _check(stage, actor, "stop_share")
    return replace(stage, main=None)


def grant(stage: Stage, actor: Hashable, target: Hashable) -> Stage:
    _check(stage, actor, "grant")
    if target == stage.host_id or target is None:
        raise EducationError("bad_field", "the host needs no grant")
    return replace(stage, grants=stage.grants | {target})


def revoke(stage: Stage, actor: Hashable, target: Hashable) -> Stage:
    """Take the grant back; a share of that person ends at once."""
    _check(stage, actor, "revoke")
    main = None if stage.share is not None and stage.share.user_id == target else stage.main
    return replace(stage, grants=stage.grants - {target}, main=main)


def leave(stage: Stage, user_id: Hashable) -> Stage:
    """Someone left the conference: their share ends (their grant stays for when they come back)."""
    if stage.share is not None and stage.share.user_id == user_id:
        return replace(stage, main=None)
    return stage


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _position(position: object, duration: float) -> None:
    if not _number(position) or not 0 <= position <= duration:
        raise EducationError("bad_position", f"the position must be within 0..{duration:g} s")


# --- check sampling ------------------------------------------------------------------------------

FACE, OFFICER, TERMINAL = "face", "officer", "terminal"   # kinds of check result
CHECK_KINDS = (FACE, OFFICER, TERMINAL)
PERSON, ROOM = "person", "room"                            # kinds of check target


@dataclass(frozen=True)
class SamplingPolicy:
    max_parallel: int = 2          # K: checks running at once
    max_gap_s: float = 600.0       # G: never longer between two checks of a target
    min_gap_s: float = 120.0       # never sooner than this after the last check of a target
    first_within_s: float = 60.0   # the first check after an arrival comes within this
    reserve_s: float = 120.0       # planned checks leave this much of G for waiting behind K

    def __post_init__(self):
        if self.max_parallel < 1:
            raise ValueError("max_parallel must be at least 1")
        if not 0 <= self.min_gap_s <= self.max_gap_s - self.reserve_s:
            raise ValueError("need 0 <= min_gap_s <= max_gap_s - reserve_s")
        if not 0 < self.first_within_s <= self.max_gap_s - self.reserve_s:
            raise ValueError("need 0 < first_within_s <= max_gap_s - reserve_s")


def capacity(policy: SamplingPolicy, check_s: float) -> int:
    """How many targets K checks of `check_s` each can serve while keeping every gap <= G: at
    worst all of them fall due together and wait their turn inside the reserve."""
    return policy.max_parallel * int(policy.reserve_s // check_s)


@dataclass(frozen=True)
class Present:
    """A person in the session: on their own camera (room None) or in a shared room."""
    person: Hashable
    since: float                   # present without a break since (the last join)
    room: Hashable | None = None


@dataclass(frozen=True)
class Target:
    kind: str                      # PERSON | ROOM
    id: Hashable                   # the person's or the room's id
    people: frozenset
    since: float                   # the latest arrival among its people

    @property
    def key(self) -> tuple:
        return (self.kind, self.id)


@dataclass(frozen=True)
class Plan:
    start: list[Target]            # check these now (at most the free slots of K)
    next_at: float | None          # when to ask again at the latest (None: nobody to check)
    planned: dict = field(default_factory=dict)   # target key -> planned time of its next check


def targets(present: Iterable[Present]) -> list[Target]:
    """One target per person on their own camera, one per shared room, in a stable order."""
    people, rooms = {}, {}
    for p in present:
        if p.room is None:
            people[p.person] = Target(PERSON, p.person, frozenset({p.person}), p.since)
        else:
            rooms.setdefault(p.room, []).append(p)
    out = list(people.values())
    for room, members in rooms.items():
        out.append(Target(ROOM, room, frozenset(m.person for m in members), max(m.since for m in members)))
    return sorted(out, key=lambda t: (t.kind, repr(t.id)))


def planned_at(seed: bytes, session_key: str, target: Target, checks: Sequence[float],
               policy: SamplingPolicy) -> float:
    """The planned time of the target's next check, given the start times of its past checks."""
    last = max(checks, default=None)
    n = len(checks)
    if last is None or target.since > last:
        # Nobody checked this arrival yet: soon, since nothing before it is attended.
        return target.since + policy.first_within_s * _uniform(seed, "first", session_key, target.key, n)
    span = policy.max_gap_s - policy.reserve_s - policy.min_gap_s
    return last + policy.min_gap_s + span * _uniform(seed, "next", session_key, target.key, n)


def plan_checks(seed: bytes, session_key: str, present: Iterable[Present], checks: Iterable[tuple[tuple, float]],
                busy: Collection[tuple], now: float, policy: SamplingPolicy = SamplingPolicy()) -> Plan:
    """Which targets to start checking at `now`.

    `checks`: (target key, start time) of every check started so far (those in progress too);
    `busy`: the keys of the checks in progress (they hold a slot of K). Ready targets (planned time
    reached) are served earliest deadline (last check or arrival + G) first."""
    history: dict[tuple, list[float]] = {}
    for key, at in checks:
        history.setdefault(tuple(key), []).append(at)
    idle, planned, deadline = [], {}, {}
    for target in targets(present):
        past = history.get(target.key, [])
        planned[target.key] = planned_at(seed, session_key, target, past, policy)
        last = max(past, default=None)
        anchor = target.since if last is None or target.since > last else last
        deadline[target.key] = anchor + policy.max_gap_s
        if target.key not in busy:
            idle.append(target)
    ready = sorted((t for t in idle if planned[t.key] <= now), key=lambda t: (deadline[t.key], planned[t.key]))
    slots = max(0, policy.max_parallel - len(busy))
    start = ready[:slots]
    waiting = [t for t in idle if t not in start]
    next_at = min((max(now, planned[t.key]) for t in waiting), default=None)
    return Plan(start, next_at, planned)


def _uniform(seed: bytes, *parts: object) -> float:
    """A number in (0, 1) from HMAC-SHA256 of the parts (as proctoring.policy.uniform)."""
    message = "\x1f".join(repr(p) for p in parts).encode()
    (n,) = struct.unpack(">Q", hmac.new(seed, message, hashlib.sha256).digest()[:8])
    return (n + 0.5) / 2**64


# --- attendance ----------------------------------------------------------------------------------

Span = tuple[float, float]


@dataclass(frozen=True)
class CheckResult:
    at: float
    passed: bool                   # face: identity and liveness passed; officer/terminal: named as present
    kind: str = FACE               # FACE | OFFICER | TERMINAL

    def __post_init__(self):
        if self.kind not in CHECK_KINDS:
            raise ValueError(f"unknown check kind {self.kind!r}")


def room_results(at: float, kind: str, named: Collection[Hashable],
                 members: Iterable[Hashable]) -> dict[Hashable, CheckResult]:
    """A shared room's check, per person: the officer's confirmation (OFFICER) or the terminal's
    check-ins (TERMINAL) name who is there; each member of the room (as the session knows it)
    named passes, a member not named fails. Several faces at the room's camera are not a failure:
    only who is named counts."""
    if kind not in (OFFICER, TERMINAL):
        raise ValueError("a room is checked by its officer or its terminal")
    return {person: CheckResult(at, person in named, kind) for person in members}


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, merged [start, end) spans (touching ones join; empty ones drop)."""
    out: list[list[float]] = []
    for start, end in sorted((s, e) for s, e in spans if e > s):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def attended_spans(presence: Iterable[Span], checks: Iterable[CheckResult],
                   session: Span | None = None) -> list[Span]:
    """The attended wall-clock spans of one person (the rules in the module's docstring).

    `presence`: (joined, left) spans; `checks`: that person's check results; `session`: clip to
    the session's (start, end) when given."""
    present = merge(presence)
    ordered = sorted(checks, key=lambda c: (c.at, c.passed))        # failed first at the same moment
    out = []
    for a, b in pairwise(ordered):
        if a.passed and b.passed and b.at > a.at and any(s <= a.at and b.at <= e for s, e in present):
            out.append((a.at, b.at))
    spans = merge(out)
    if session is not None:
        lo, hi = session
        spans = [(max(s, lo), min(e, hi)) for s, e in spans if min(e, hi) > max(s, lo)]
    return spans


def attended_seconds(spans: Iterable[Span]) -> float:
    return sum(e - s for s, e in merge(spans))
