"""The watch ledger: which media seconds were really watched, and what they earn.

Pure code (no Flask, no database). The web layer persists the state it returns.

Model
-----
* The player sends heartbeats (sequence number, position, playing, rate). Times
  are the *server's* receive times: nothing the client says about time is used.
* Two consecutive accepted heartbeats while playing yield a `WatchSegment`:
  media span [p0, p1] watched during wall span [t0, t1]. The media advance must
  fit the wall time at a capped rate; a bigger jump forward past the frontier
  (the furthest point reached by real playback) is refused and the player is
  told where to snap back to.
* A segment is only *pending* until presence settles it: credit is
  watched ∩ present. Presence comes from attestations (a confirmed random
  breakpoint today, camera checks later) — see `settle`.
* Credited seconds are unique media seconds (replays earn nothing), and never
  more than the wall time the segment took.
* The frontier grows with any plausible playback (an advance that fits the wall
  time at the capped rate), credited or not; only credited segments earn time.
* `tolerance_s` only decides whether a heartbeat is plausible; it never adds media
  time: the ledger's position, the frontier and segments advance at most
  wall × max_rate per heartbeat, so the slack cannot accumulate over a burst.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum
from typing import Iterable, Sequence

from .intervals import IntervalSet


class Reason(str, Enum):
    """Why a heartbeat was refused. Stored with every rejection."""

    DUPLICATE = "duplicate"          # same sequence number again
    REPLAYED = "replayed"            # an older sequence number
    INVALID = "invalid"              # not a number, negative, past the end, bad rate
    RATE_TOO_HIGH = "rate_too_high"  # playback rate above the cap
    SEEK_AHEAD = "seek_ahead"        # a jump past the furthest watched point


@dataclass(frozen=True)
class LedgerPolicy:
    max_rate: float = 2.0            # highest playback rate accepted
    tolerance_s: float = 1.5         # slack for timer jitter between player and server
    max_gap_s: float = 30.0          # a longer silence breaks continuity: no credit across it
    completion_share: float = 0.95   # unique coverage needed to complete a course


@dataclass(frozen=True)
class Heartbeat:
    seq: int
    position: float
    playing: bool
    rate: float
    received_at: float  # server wall clock, epoch seconds


@dataclass(frozen=True)
class WatchState:
    duration: float
    frontier: float = 0.0        # furthest media point reached by accepted playback
    last_seq: int = -1
    last_position: float = 0.0   # the resume point
    last_playing: bool = False
    last_at: float | None = None  # receive time of the last accepted heartbeat (None: not anchored)


@dataclass(frozen=True)
class WatchSegment:
    media_start: float
    media_end: float
    wall_start: float
    wall_end: float

    @property
    def wall_span(self) -> float:
        return self.wall_end - self.wall_start

    def split_at_wall(self, t: float) -> tuple["WatchSegment | None", "WatchSegment | None"]:
        """Cut at wall time t, mapping media time linearly (constant rate inside a segment)."""
        if t <= self.wall_start:
            return None, self
        if t >= self.wall_end:
            return self, None
        frac = (t - self.wall_start) / self.wall_span
        cut = self.media_start + frac * (self.media_end - self.media_start)
        return (WatchSegment(self.media_start, cut, self.wall_start, t),
                WatchSegment(cut, self.media_end, t, self.wall_end))


@dataclass(frozen=True)
class HeartbeatResult:
    state: WatchState
    reason: Reason | None = None
    segment: WatchSegment | None = None
    snap_to: float | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is None


def apply_heartbeat(state: WatchState, hb: Heartbeat, policy: LedgerPolicy) -> HeartbeatResult:
    """Fold one heartbeat into the state. Rejections leave the state unchanged."""
    if not _valid(hb, state.duration):
        return HeartbeatResult(state, Reason.INVALID)
    if hb.seq == state.last_seq:
        return HeartbeatResult(state, Reason.DUPLICATE)
    if hb.seq < state.last_seq:
        return HeartbeatResult(state, Reason.REPLAYED)
    if hb.rate > policy.max_rate:
        return HeartbeatResult(state, Reason.RATE_TOO_HIGH, snap_to=state.last_position)

    position = min(hb.position, state.duration)
    if state.last_at is None:
        # First heartbeat of a session only anchors; it may not start past the frontier.
        if position > state.frontier + policy.tolerance_s:
            return HeartbeatResult(state, Reason.SEEK_AHEAD, snap_to=state.last_position)
        # The tolerance lets the player start a little ahead; the ledger keeps it at the frontier.
        return HeartbeatResult(_moved(state, hb, min(position, state.frontier), state.frontier))

    wall = max(0.0, hb.received_at - state.last_at)
    advance = position - state.last_position
    # Could the player have got here by playing since the last heartbeat? (It may have
    # been paused then and started right after: plausible, but not provably watched.)
    plausible = advance <= wall * policy.max_rate + policy.tolerance_s

    if not plausible:
        if position > state.frontier + policy.tolerance_s:
            return HeartbeatResult(state, Reason.SEEK_AHEAD, snap_to=state.last_position)
        # A seek forward inside what was already reached: allowed, earns nothing.
        return HeartbeatResult(_moved(state, hb, min(position, state.frontier), state.frontier))

    # The tolerance absorbs jitter but adds no media time: the ledger's position (and so the
    # frontier and the segment) moves at most wall × max_rate; a player ahead of it by the
    # jitter is caught up by the next heartbeats. Otherwise a burst of heartbeats, each
    # tolerance_s ahead, would cover the whole course in no time.
    reached = min(position, state.last_position + wall * policy.max_rate)
    # Only an interval that was playing at both ends, without a long silence, is watched.
    continuous = state.last_playing and wall <= policy.max_gap_s
    segment = None
    if continuous and reached > state.last_position and wall > 0:
        segment = WatchSegment(state.last_position, reached, state.last_at, hb.received_at)
    return HeartbeatResult(_moved(state, hb, reached, max(state.frontier, reached)), segment=segment)


def _valid(hb: Heartbeat, duration: float) -> bool:
    numbers = (hb.position, hb.rate, hb.received_at)
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers):
        return False
    if not isinstance(hb.seq, int) or isinstance(hb.seq, bool) or hb.seq < 0:
        return False
    return 0 <= hb.position <= duration + 1.0 and hb.rate > 0


def _moved(state: WatchState, hb: Heartbeat, position: float, frontier: float) -> WatchState:
    return replace(state, frontier=frontier, last_seq=hb.seq, last_position=position,
                   last_playing=hb.playing, last_at=hb.received_at)


# --- presence: watched ∩ present -------------------------------------------------

@dataclass(frozen=True)
class Settlement:
    credited: list[WatchSegment]   # watched while presence was verified
    dropped: list[WatchSegment]    # watched, but presence failed or was not shown
    pending: list[WatchSegment]    # watched after the window: wait for the next attestation


def settle(pending: Sequence[WatchSegment], window_end: float, present: bool) -> Settlement:
    """Settle pending segments up to `window_end`, the time of a new attestation.

    `present` is True when both this attestation and the one opening the window
    passed (the learner was verifiably there across the window). Parts of
    segments after `window_end` stay pending.
    """
    credited, dropped, remaining = [], [], []
    for seg in pending:
        inside, after = seg.split_at_wall(window_end)
        if inside is not None:
            (credited if present else dropped).append(inside)
        if after is not None:
            remaining.append(after)
    return Settlement(credited, dropped, remaining)


def admit(segment: WatchSegment, ok_before: bool, later: Sequence[tuple[float, bool]]) -> Settlement:
    """Take in a new segment whose wall span may reach back over attestations already made
    (a heartbeat interval can straddle one, or several camera checks).

    `ok_before` is the outcome of the last attestation at or before the segment's start;
    `later` are the (time, ok) of the attestations after its start, in time order. Each
    piece of the segment inside an already settled window is credited or dropped as that
    window was (present when the attestations at both of its ends passed); the part after
    the last attestation stays pending.
    """
    credited, dropped = [], []
    rest: WatchSegment | None = segment
    previous_ok = ok_before
    for at, ok in later:
        if rest is None:
            break
        inside, rest = rest.split_at_wall(at)
        if inside is not None:
            (credited if ok and previous_ok else dropped).append(inside)
        previous_ok = ok
    return Settlement(credited, dropped, [rest] if rest is not None else [])


@dataclass(frozen=True)
class Credit:
    segment: WatchSegment
    unique_s: float     # media seconds not covered before
    credited_s: float   # study time earned: unique, and never more than the wall time


def credit(coverage: IntervalSet, segments: Iterable[WatchSegment]) -> list[Credit]:
    """Credit verified segments against `coverage` (updated in place)."""
    out = []
    for seg in segments:
        if seg.media_end <= seg.media_start:
            continue
        unique = (seg.media_end - seg.media_start) - coverage.overlap(seg.media_start, seg.media_end)
        coverage.add(seg.media_start, seg.media_end)
        unique = max(0.0, unique)
        out.append(Credit(seg, unique, min(unique, seg.wall_span)))
    return out


def is_complete(coverage: IntervalSet, duration: float, policy: LedgerPolicy) -> bool:
    return duration > 0 and coverage.measure() >= policy.completion_share * duration - 1e-6
