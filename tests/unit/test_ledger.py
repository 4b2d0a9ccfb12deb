"""streaming.ledger by example: heartbeats, segments, settlement by presence, credit, completion.

`Study` below drives the pure functions the way webapp/study.py does: accepted heartbeats
yield pending segments; each attestation settles what is pending up to its time, crediting
it only when both that attestation and the previous one passed.
"""
from __future__ import annotations

import math

import pytest

from streaming.intervals import IntervalSet
from streaming.ledger import (Credit, Heartbeat, HeartbeatResult, LedgerPolicy, Reason, WatchSegment, WatchState,
                              admit, apply_heartbeat, credit, is_complete, settle)

POLICY = LedgerPolicy()  # max_rate 2.0, tolerance 1.5 s, max_gap 30 s, completion 95 %
T0 = 1_700_000_000.0     # a realistic epoch: float rounding as in production


def admit_from_history(segment: WatchSegment, attestations: list[tuple[float, bool]]):
    """What webapp.study.service does: the last attestation at or before the segment's start, then the later ones."""
    before = [ok for at, ok in attestations if at <= segment.wall_start]
    later = [(at, ok) for at, ok in attestations if at > segment.wall_start]
    return admit(segment, before[-1], later)


class Study:
    """One sitting, as webapp.study.service runs it (start attestation passed)."""

    def __init__(self, duration: float = 600.0, policy: LedgerPolicy = POLICY, state: WatchState | None = None,
                 coverage: IntervalSet | None = None):
        self.policy = policy
        self.state = state or WatchState(duration=duration)
        self.pending: list[WatchSegment] = []
        self.coverage = coverage if coverage is not None else IntervalSet()
        self.credits: list[Credit] = []
        self.dropped: list[WatchSegment] = []
        self.last_ok = True
        self.attestations: list[tuple[float, bool]] = [(float("-inf"), True)]  # the start passed
        self.seq = -1

    def beat(self, position: float, at: float, playing: bool = True, rate: float = 1.0,
             seq: int | None = None) -> HeartbeatResult:
        if seq is None:
            self.seq += 1
            seq = self.seq
        result = apply_heartbeat(self.state, Heartbeat(seq, position, playing, rate, T0 + at), self.policy)
        self.state = result.state
        if result.segment is not None:
            taken = admit_from_history(result.segment, self.attestations)
            self.credits += credit(self.coverage, taken.credited)
            self.dropped += taken.dropped
            self.pending += taken.pending
        return result

    def play(self, start: float, end: float, at: float, step: float = 5.0, rate: float = 1.0) -> float:
        """Honest playback from media `start` (already anchored) to `end`, one beat every `step` s of wall
        time; returns the wall time reached."""
        position = start
        while position < end:
            at += step
            position = min(end, position + step * rate)
            result = self.beat(position, at, rate=rate)
            assert result.accepted, result
        return at

    def attest(self, at: float, ok: bool = True) -> None:
        outcome = settle(self.pending, T0 + at, present=ok and self.last_ok)
        self.pending = outcome.pending
        self.dropped += outcome.dropped
        self.credits += credit(self.coverage, outcome.credited)
        self.last_ok = ok
        self.attestations.append((T0 + at, ok))

    @property
    def credited(self) -> float:
        return sum(c.credited_s for c in self.credits)


# --- playback and credit -------------------------------------------------------------

def test_normal_playback_credits_the_watched_span():
    study = Study()
    assert study.beat(0.0, 0).accepted
    end = study.play(0.0, 120.0, at=0)
    assert end == 120.0
    assert study.credited == 0  # nothing before presence is attested
    study.attest(end)
    assert study.credited == pytest.approx(120.0)
    assert study.coverage.measure() == pytest.approx(120.0)
    assert study.state.frontier == 120.0 and study.state.last_position == 120.0
    assert study.pending == [] and study.dropped == []


def test_normal_playback_with_jittery_receive_times_still_credits_about_the_watched_span():
    study = Study()
    study.beat(0.0, 0)
    jitter = [0.3, -0.2, 0.1, -0.4, 0.25, 0.0, -0.1, 0.4, -0.3, 0.2, 0.05, -0.05]
    for i, j in enumerate(jitter, start=1):  # the player sends every 5 s; the network adds jitter
        assert study.beat(5.0 * i, 5.0 * i + j).accepted
    study.attest(61)
    assert study.coverage.measure() == pytest.approx(60.0)  # every media second was covered
    # Credit is capped per segment by its wall span, so a beat that arrives early (shorter wall
    # span than the 5 s played) loses that difference; nothing else is lost.
    lost = sum(max(0.0, a - b) for a, b in zip([0.0] + jitter, jitter))
    assert 60.0 - lost - 1e-6 <= study.credited <= 60.0 + 1e-6


def test_double_speed_covers_twice_as_fast_but_credits_at_most_wall_time():
    study = Study()
    study.beat(0.0, 0, rate=2.0)
    end = study.play(0.0, 120.0, at=0, rate=2.0)
    assert end == 60.0  # 120 s of media in 60 s of wall time
    study.attest(end)
    assert study.coverage.measure() == pytest.approx(120.0)
    assert study.credited == pytest.approx(60.0)
    assert all(c.credited_s <= c.segment.wall_span + 1e-9 for c in study.credits)


def test_settlement_waits_for_the_attestation_and_splits_a_segment_at_its_time():
    study = Study()
    study.beat(0.0, 0)
    study.play(0.0, 30.0, at=0)
    study.attest(12.5)  # mid-segment [10, 15]
    assert study.credited == pytest.approx(12.5)
    assert study.pending[0] == WatchSegment(12.5, 15.0, T0 + 12.5, T0 + 15)
    study.attest(30)
    assert study.credited == pytest.approx(30.0) and study.pending == []


# --- refusals and snap-back --------------------------------------------------------------

def test_seek_ahead_past_the_frontier_is_refused_with_snap_back_to_the_previous_position():
    study = Study()
    study.beat(0.0, 0)
    study.play(0.0, 20.0, at=0)
    before = study.state
    result = study.beat(300.0, 25)
    assert result.reason is Reason.SEEK_AHEAD and result.snap_to == 20.0
    assert result.state == before and result.segment is None and not result.accepted
    study.beat(8.0, 26)                      # back to 8: the snap target is the last position, not the frontier
    result = study.beat(300.0, 27)
    assert result.reason is Reason.SEEK_AHEAD and result.snap_to == 8.0 and study.state.frontier == 20.0


def test_seek_ahead_just_within_tolerance_of_the_frontier_is_a_seek_not_a_refusal():
    study = Study()
    study.beat(0.0, 0)
    study.play(0.0, 20.0, at=0)
    study.beat(5.0, 21)                       # back to 5 (frontier stays 20)
    result = study.beat(20.0 + POLICY.tolerance_s, 21.5)  # an implausible jump, but within frontier + tolerance
    assert result.accepted and result.segment is None
    assert result.state.frontier == 20.0
    refused = study.beat(20.0 + POLICY.tolerance_s + 0.01 + 20, 21.6)
    assert refused.reason is Reason.SEEK_AHEAD


def test_seek_back_then_forward_within_the_frontier_is_accepted_without_credit():
    study = Study()
    study.beat(0.0, 0)
    end = study.play(0.0, 60.0, at=0)
    study.attest(end)
    credited = study.credited
    back = study.beat(10.0, end + 1)
    assert back.accepted and back.segment is None and back.state.frontier == 60.0
    forward = study.beat(55.0, end + 2)
    assert forward.accepted and forward.segment is None and forward.state.frontier == 60.0
    study.attest(end + 3)
    assert study.credited == credited


def test_rate_above_the_cap_is_refused_with_snap_back():
    study = Study()
    study.beat(0.0, 0, rate=2.0)
    before = study.state
    result = study.beat(10.0, 5, rate=2.5)
    assert result.reason is Reason.RATE_TOO_HIGH and result.snap_to == 0.0 and result.state == before


def test_advance_faster_than_the_cap_is_a_seek_even_at_a_claimed_normal_rate():
    study = Study()
    study.beat(0.0, 0)
    result = study.beat(5 * POLICY.max_rate + POLICY.tolerance_s + 0.5, 5, rate=1.0)
    assert result.reason is Reason.SEEK_AHEAD and result.snap_to == 0.0


def test_duplicate_and_replayed_heartbeats_are_refused_and_change_nothing():
    study = Study()
    study.beat(0.0, 0)
    study.play(0.0, 15.0, at=0)  # seq 0..3
    before = study.state
    dup = apply_heartbeat(before, Heartbeat(3, 20.0, True, 1.0, T0 + 20), POLICY)
    old = apply_heartbeat(before, Heartbeat(1, 20.0, True, 1.0, T0 + 20), POLICY)
    assert dup.reason is Reason.DUPLICATE and old.reason is Reason.REPLAYED
    assert dup.state == before and old.state == before and dup.segment is None and old.segment is None


def test_sequence_numbers_may_skip_forward():
    study = Study()
    study.beat(0.0, 0, seq=0)
    assert study.beat(5.0, 5, seq=7).accepted
    assert study.beat(10.0, 10, seq=6).reason is Reason.REPLAYED


@pytest.mark.parametrize("beat", [
    Heartbeat(1, math.nan, True, 1.0, T0 + 5), Heartbeat(1, math.inf, True, 1.0, T0 + 5),
    Heartbeat(1, -math.inf, True, 1.0, T0 + 5), Heartbeat(1, -0.001, True, 1.0, T0 + 5),
    Heartbeat(1, 601.001, True, 1.0, T0 + 5),
    Heartbeat(1, 5.0, True, 0.0, T0 + 5), Heartbeat(1, 5.0, True, -1.0, T0 + 5),
    Heartbeat(1, 5.0, True, math.nan, T0 + 5), Heartbeat(1, 5.0, True, math.inf, T0 + 5),
    Heartbeat(1, 5.0, True, 1.0, math.nan), Heartbeat(1, 5.0, True, 1.0, math.inf),
    Heartbeat(-1, 5.0, True, 1.0, T0 + 5), Heartbeat(True, 5.0, True, 1.0, T0 + 5),
    Heartbeat(1.0, 5.0, True, 1.0, T0 + 5), Heartbeat("1", 5.0, True, 1.0, T0 + 5),
    Heartbeat(1, "5", True, 1.0, T0 + 5), Heartbeat(1, None, True, 1.0, T0 + 5),
])
def test_invalid_heartbeats_are_refused_and_change_nothing(beat):
    study = Study()
    study.beat(0.0, 0)
    before = study.state
    result = apply_heartbeat(before, beat, POLICY)
    assert result.reason is Reason.INVALID and result.state == before and result.segment is None


def test_invalid_is_checked_before_duplicate():
    study = Study()
    study.beat(0.0, 0)
    assert apply_heartbeat(study.state, Heartbeat(0, math.nan, True, 1.0, T0 + 1), POLICY).reason is Reason.INVALID


def test_a_position_just_past_the_end_is_clamped_to_the_duration():
    study = Study(duration=20.0)
    study.beat(0.0, 0)
    study.play(0.0, 15.0, at=0)
    result = study.beat(20.8, 20)  # within the 1 s slack past the end
    assert result.accepted and result.state.last_position == 20.0 and result.state.frontier == 20.0
    assert result.segment.media_end == 20.0
    study.attest(21)
    assert study.coverage.measure() == pytest.approx(20.0)
    assert is_complete(study.coverage, 20.0, POLICY)


# --- continuity: gaps and pauses -----------------------------------------------------------

def test_a_gap_longer_than_max_gap_earns_nothing():
    study = Study()
    study.beat(0.0, 0)
    result = study.beat(POLICY.max_gap_s + 1, POLICY.max_gap_s + 1)
    assert result.accepted and result.segment is None
    study.attest(POLICY.max_gap_s + 2)
    assert study.credited == 0 and study.coverage.measure() == 0


def test_a_gap_of_exactly_max_gap_still_counts():
    study = Study()
    study.beat(0.0, 0)
    result = study.beat(POLICY.max_gap_s, POLICY.max_gap_s)
    assert result.segment == WatchSegment(0.0, POLICY.max_gap_s, T0, T0 + POLICY.max_gap_s)


def test_paused_intervals_earn_nothing():
    study = Study()
    study.beat(0.0, 0, playing=False)
    assert study.beat(0.0, 5, playing=False).segment is None
    assert study.beat(3.0, 10, playing=True).segment is None  # was paused at the previous beat
    assert study.beat(8.0, 15, playing=True).segment == WatchSegment(3.0, 8.0, T0 + 10, T0 + 15)
    assert study.beat(8.0, 20, playing=False).segment is None  # no media advance
    study.attest(21)
    assert study.credited == pytest.approx(5.0)


def test_no_segment_without_wall_time():
    study = Study()
    study.beat(0.0, 0)
    result = study.beat(1.0, 0)  # same receive time
    assert result.accepted and result.segment is None


def test_receive_times_going_backwards_do_not_crash_or_earn():
    study = Study()
    study.beat(0.0, 10)
    result = study.beat(1.0, 5)
    assert result.segment is None


# --- sessions ------------------------------------------------------------------------------

def test_the_first_heartbeat_of_a_new_session_past_the_frontier_is_refused():
    state = WatchState(duration=600.0, frontier=50.0, last_position=42.0, last_seq=17)
    fresh = WatchState(duration=600.0, frontier=50.0, last_position=42.0)  # new sitting: seq and anchor reset
    refused = apply_heartbeat(fresh, Heartbeat(0, 50.0 + POLICY.tolerance_s + 0.5, True, 1.0, T0), POLICY)
    assert refused.reason is Reason.SEEK_AHEAD and refused.snap_to == 42.0 and refused.state == fresh
    ok = apply_heartbeat(fresh, Heartbeat(0, 42.0, True, 1.0, T0), POLICY)
    assert ok.accepted and ok.segment is None and ok.state.last_at == T0 and ok.state.frontier == 50.0
    assert state.last_seq == 17  # (the old sitting's numbering does not carry over)


def test_the_first_heartbeat_only_anchors_even_within_the_frontier():
    fresh = WatchState(duration=600.0, frontier=100.0, last_position=100.0)
    result = apply_heartbeat(fresh, Heartbeat(0, 20.0, True, 1.0, T0), POLICY)
    assert result.accepted and result.segment is None
    assert result.state.last_position == 20.0 and result.state.frontier == 100.0


def test_a_resumed_session_continues_from_the_frontier_and_earns():
    first = Study()
    first.beat(0.0, 0)
    first.attest(first.play(0.0, 30.0, at=0))
    resumed = Study(state=WatchState(duration=600.0, frontier=first.state.frontier,
                                     last_position=first.state.last_position), coverage=first.coverage)
    assert resumed.beat(30.0, 1000).accepted
    resumed.attest(resumed.play(30.0, 60.0, at=1000))
    assert first.coverage.measure() == pytest.approx(60.0)
    assert resumed.credited == pytest.approx(30.0)


# --- rewatching and completion -----------------------------------------------------------------

def test_rewatching_a_covered_span_earns_nothing():
    study = Study()
    study.beat(0.0, 0)
    end = study.play(0.0, 60.0, at=0)
    study.attest(end)
    assert study.credited == pytest.approx(60.0)
    study.beat(0.0, end + 1)  # seek back
    end = study.play(0.0, 60.0, at=end + 1)
    study.attest(end)
    assert study.credited == pytest.approx(60.0)
    assert study.coverage.measure() == pytest.approx(60.0)
    assert all(c.credited_s == 0 and c.unique_s == 0 for c in study.credits[12:])


def test_partly_rewatched_segment_earns_only_its_new_seconds():
    coverage = IntervalSet([(0, 10)])
    [c] = credit(coverage, [WatchSegment(5, 15, T0, T0 + 10)])
    assert c.unique_s == pytest.approx(5) and c.credited_s == pytest.approx(5)
    assert list(coverage) == [(0, 15)]


def test_completion_at_95_percent_coverage():
    duration = 200.0
    coverage = IntervalSet([(0, 100), (110, 199)])  # 189 s = 94.5 %
    assert not is_complete(coverage, duration, POLICY)
    coverage.add(199, 200)                           # 190 s = 95 %
    assert is_complete(coverage, duration, POLICY)
    assert not is_complete(IntervalSet(), duration, POLICY)
    assert not is_complete(IntervalSet([(0, 1)]), 0.0, POLICY)  # no media: never complete
    assert is_complete(IntervalSet([(0, 50)]), 100, LedgerPolicy(completion_share=0.5))


def test_a_full_watch_completes_the_course():
    study = Study(duration=100.0)
    study.beat(0.0, 0)
    end = study.play(0.0, 94.0, at=0, step=2.0)
    study.attest(end)
    assert not is_complete(study.coverage, 100.0, POLICY)
    end = study.play(94.0, 95.0, at=end, step=1.0)
    study.attest(end)
    assert is_complete(study.coverage, 100.0, POLICY)


# --- presence ------------------------------------------------------------------------------------

def test_a_failed_attestation_drops_everything_pending_up_to_it():
    study = Study()
    study.beat(0.0, 0)
    study.play(0.0, 40.0, at=0)
    study.attest(32.5, ok=False)
    assert study.credited == 0
    assert sum(s.wall_span for s in study.dropped) == pytest.approx(32.5)
    assert study.pending == [WatchSegment(32.5, 35.0, T0 + 32.5, T0 + 35), WatchSegment(35, 40, T0 + 35, T0 + 40)]


def test_nothing_between_a_failed_and_the_next_passed_attestation_is_credited():
    study = Study()
    study.beat(0.0, 0)
    end = study.play(0.0, 20.0, at=0)
    study.attest(end, ok=False)                 # fails at 20
    end = study.play(20.0, 50.0, at=end)        # watched while not verified
    study.attest(end, ok=True)                  # back at 50: window 20..50 was not verified
    assert study.credited == 0 and study.coverage.measure() == 0
    end2 = study.play(50.0, 80.0, at=end)
    study.attest(end2, ok=True)                 # 50..80 verified at both ends
    assert study.credited == pytest.approx(30.0)
    assert list(study.coverage) == [(50.0, 80.0)]


def test_a_passed_attestation_after_a_failed_one_credits_nothing_of_its_window():
    study = Study()
    study.beat(0.0, 0)
    study.attest(0.0, ok=False)
    study.play(0.0, 30.0, at=0)
    study.attest(30.0, ok=True)
    assert study.credited == 0


def test_the_heartbeat_interval_straddling_a_recovery_is_not_credited():
    study = Study()
    study.beat(0.0, 0)
    study.attest(1.0, ok=False)          # presence fails at 1
    study.beat(4.0, 4)                   # still watching, unverified
    study.attest(6.0, ok=True)           # back at 6: the window 1..6 is not verified
    study.beat(9.0, 9)                   # segment [4, 9] s of wall time: 4..6 lies in the failed window
    study.attest(10.0, ok=True)          # window 6..10 verified
    unverified = sum(max(0.0, min(c.segment.wall_end, T0 + 6) - max(c.segment.wall_start, T0 + 1))
                     for c in study.credits if c.credited_s > 0)
    assert unverified == 0


def test_settle_partitions_pending_segments_at_the_window_end():
    pending = [WatchSegment(0, 10, T0, T0 + 10), WatchSegment(10, 30, T0 + 10, T0 + 20),
               WatchSegment(30, 35, T0 + 25, T0 + 30)]
    out = settle(pending, T0 + 15, present=True)
    assert out.credited == [WatchSegment(0, 10, T0, T0 + 10), WatchSegment(10, 20, T0 + 10, T0 + 15)]
    assert out.pending == [WatchSegment(20, 30, T0 + 15, T0 + 20), WatchSegment(30, 35, T0 + 25, T0 + 30)]
    assert out.dropped == []
    absent = settle(pending, T0 + 15, present=False)
    assert absent.credited == [] and absent.dropped == out.credited and absent.pending == out.pending


def test_settle_boundaries():
    seg = WatchSegment(0, 10, T0, T0 + 10)
    assert settle([seg], T0 + 10, True).credited == [seg]         # ends exactly at the attestation
    assert settle([seg], T0, True).pending == [seg]               # starts exactly at it: not yet settled
    assert settle([], T0, True) == settle([], T0, False)
    assert settle([], T0, True).credited == []


# --- segments and credit ---------------------------------------------------------------------------

def test_split_at_wall_maps_media_linearly():
    seg = WatchSegment(10.0, 30.0, T0, T0 + 10)  # 2x
    left, right = seg.split_at_wall(T0 + 2.5)
    assert left == WatchSegment(10.0, 15.0, T0, T0 + 2.5)
    assert right == WatchSegment(15.0, 30.0, T0 + 2.5, T0 + 10)
    assert left.wall_span + right.wall_span == seg.wall_span
    slow = WatchSegment(0.0, 4.0, T0, T0 + 8)  # 0.5x
    left, right = slow.split_at_wall(T0 + 6)
    assert left.media_end == pytest.approx(3.0) and right.media_start == left.media_end


def test_split_at_wall_outside_or_on_the_edges():
    seg = WatchSegment(10.0, 30.0, T0, T0 + 10)
    assert seg.split_at_wall(T0) == (None, seg)
    assert seg.split_at_wall(T0 - 5) == (None, seg)
    assert seg.split_at_wall(T0 + 10) == (seg, None)
    assert seg.split_at_wall(T0 + 50) == (seg, None)


def test_credit_caps_at_wall_time_and_skips_empty_segments():
    coverage = IntervalSet()
    out = credit(coverage, [WatchSegment(0, 20, T0, T0 + 10), WatchSegment(5, 5, T0 + 10, T0 + 12),
                            WatchSegment(30, 25, T0 + 12, T0 + 14), WatchSegment(20, 21, T0 + 14, T0 + 24)])
    assert [(c.unique_s, c.credited_s) for c in out] == [(20, 10), (1, 1)]
    assert list(coverage) == [(0, 21)]


def test_credit_within_one_batch_counts_each_second_once():
    coverage = IntervalSet()
    out = credit(coverage, [WatchSegment(0, 10, T0, T0 + 10), WatchSegment(0, 10, T0 + 10, T0 + 20)])
    assert [c.credited_s for c in out] == [10, 0]


# --- tolerance must not accumulate (anti-skip) -------------------------------------------------------

def test_a_burst_of_heartbeats_cannot_creep_ahead_by_the_tolerance_each_time():
    """Many heartbeats a millisecond apart, each claiming tolerance_s more media, must neither cover the
    course nor move the frontier faster than max_rate x wall time."""
    duration = 600.0
    study = Study(duration=duration)
    study.beat(0.0, 0)
    at, position = 0.0, 0.0
    for _ in range(500):
        at += 0.001
        position = min(duration, position + POLICY.tolerance_s)
        study.beat(position, at)
    study.attest(at + 0.001)
    elapsed = at
    assert study.state.frontier <= POLICY.max_rate * elapsed + 1e-6
    assert study.coverage.measure() <= POLICY.max_rate * elapsed + 1e-6
    assert study.credited <= elapsed + 1e-9
    assert not is_complete(study.coverage, duration, POLICY)


def test_alternating_seek_and_beat_cannot_creep_the_frontier():
    study = Study()
    study.beat(0.0, 0)
    end = study.play(0.0, 10.0, at=0)
    frontier = study.state.frontier
    at = end
    for _ in range(100):  # seek to frontier + tolerance, then confirm it at once, again and again
        at += 0.001
        study.beat(study.state.frontier + POLICY.tolerance_s, at)
        at += 0.001
        study.beat(study.state.last_position, at)
    assert study.state.frontier <= frontier + POLICY.max_rate * (at - end) + 1e-6


def test_new_sessions_cannot_creep_the_frontier():
    state = WatchState(duration=600.0, frontier=10.0, last_position=10.0)
    at = 0.0
    for _ in range(50):  # open a sitting at frontier + tolerance, beat at once, close it
        state = WatchState(duration=600.0, frontier=state.frontier, last_position=state.last_position)
        at += 0.001
        state = apply_heartbeat(state, Heartbeat(0, state.frontier + POLICY.tolerance_s, True, 1.0, T0 + at),
                                POLICY).state
        at += 0.001
        state = apply_heartbeat(state, Heartbeat(1, state.last_position, True, 1.0, T0 + at), POLICY).state
    assert state.frontier <= 10.0 + POLICY.max_rate * at + 1e-6
