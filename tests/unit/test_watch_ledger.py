"""The watch ledger as plain Python: examples and hypothesis properties."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaming.intervals import IntervalSet
from streaming.ledger import (Heartbeat, LedgerPolicy, Reason, WatchSegment, WatchState, apply_heartbeat, credit,
                              is_complete, settle)

POLICY = LedgerPolicy(max_rate=2.0, tolerance_s=1.5, max_gap_s=30.0)
T0 = 1_000_000.0


def hb(seq, position, at, playing=True, rate=1.0):
    return Heartbeat(seq, position, playing, rate, T0 + at)


def run(beats, duration=600.0, state=None):
    state = state or WatchState(duration=duration)
    results = []
    for beat in beats:
        result = apply_heartbeat(state, beat, POLICY)
        results.append(result)
        state = result.state
    return state, results


# --- examples -------------------------------------------------------------------

def test_normal_playback_yields_segments_covering_the_watched_span():
    state, results = run([hb(i, 5.0 * i, 5.0 * i) for i in range(13)])
    segments = [r.segment for r in results if r.segment]
    assert sum(s.media_end - s.media_start for s in segments) == pytest.approx(60.0)
    assert state.frontier == 60.0 and state.last_position == 60.0
    assert all(r.accepted for r in results)


def test_seek_ahead_past_frontier_is_refused_with_snap_back():
    state, _ = run([hb(0, 0, 0), hb(1, 5, 5), hb(2, 10, 10)])
    result = apply_heartbeat(state, hb(3, 200.0, 15), POLICY)
    assert result.reason is Reason.SEEK_AHEAD and result.snap_to == 10.0
    assert result.state == state and result.segment is None


def test_seek_back_then_forward_within_frontier_is_allowed_without_credit():
    state, _ = run([hb(i, 5.0 * i, 5.0 * i) for i in range(9)])  # frontier 40
    back = apply_heartbeat(state, hb(9, 5.0, 41), POLICY)
    assert back.accepted and back.segment is None
    forward = apply_heartbeat(back.state, hb(10, 38.0, 42), POLICY)
    assert forward.accepted and forward.segment is None and forward.state.frontier == 40.0


def test_double_speed_is_accepted_but_a_higher_rate_is_not():
    state, results = run([hb(0, 0, 0, rate=2.0), hb(1, 10, 5, rate=2.0)])
    assert results[1].segment.media_end == 10.0 and results[1].segment.wall_span == 5.0
    refused = apply_heartbeat(state, hb(2, 40, 10, rate=4.0), POLICY)
    assert refused.reason is Reason.RATE_TOO_HIGH


def test_advance_faster_than_the_rate_cap_is_a_seek():
    _, results = run([hb(0, 0, 0), hb(1, 30, 5)])  # 30 s of video in 5 s of wall time
    assert results[1].reason is Reason.SEEK_AHEAD


def test_duplicate_and_replayed_heartbeats():
    state, _ = run([hb(0, 0, 0), hb(1, 5, 5), hb(2, 10, 10)])
    assert apply_heartbeat(state, hb(2, 15, 15), POLICY).reason is Reason.DUPLICATE
    assert apply_heartbeat(state, hb(1, 15, 15), POLICY).reason is Reason.REPLAYED


@pytest.mark.parametrize("beat", [hb(1, math.nan, 5), hb(1, -1, 5), hb(1, 10_000, 5), hb(1, 5, 5, rate=0),
                                  hb(1, 5, 5, rate=math.inf), Heartbeat(-3, 5, True, 1, T0 + 5),
                                  Heartbeat(True, 5, True, 1, T0 + 5)])
def test_invalid_heartbeats(beat):
    state, _ = run([hb(0, 0, 0)])
    assert apply_heartbeat(state, beat, POLICY).reason is Reason.INVALID


def test_a_long_silence_earns_nothing_but_plausible_progress_moves_the_frontier():
    _, results = run([hb(0, 0, 0), hb(1, 40, 40)])  # 40 s > max_gap
    assert results[1].accepted and results[1].segment is None
    assert results[1].state.frontier == 40


def test_paused_then_playing_earns_nothing_for_that_interval():
    _, results = run([hb(0, 0, 0, playing=False), hb(1, 4, 5), hb(2, 9, 10)])
    assert results[1].accepted and results[1].segment is None
    assert results[2].segment == WatchSegment(4, 9, T0 + 5, T0 + 10)


def test_new_session_may_not_start_past_the_frontier():
    state = WatchState(duration=600, frontier=50, last_position=50)
    assert apply_heartbeat(state, hb(0, 120, 0), POLICY).reason is Reason.SEEK_AHEAD
    assert apply_heartbeat(state, hb(0, 50, 0), POLICY).accepted


def test_split_at_wall_maps_media_linearly():
    seg = WatchSegment(10, 30, T0, T0 + 10)  # 2x
    left, right = seg.split_at_wall(T0 + 4)
    assert left == WatchSegment(10, 18, T0, T0 + 4) and right == WatchSegment(18, 30, T0 + 4, T0 + 10)
    assert seg.split_at_wall(T0 - 1) == (None, seg) and seg.split_at_wall(T0 + 11) == (seg, None)


def test_settle_credits_inside_the_window_and_keeps_the_rest_pending():
    pending = [WatchSegment(0, 10, T0, T0 + 10), WatchSegment(10, 20, T0 + 10, T0 + 20)]
    out = settle(pending, T0 + 15, present=True)
    assert [s.media_end for s in out.credited] == [10, 15] and out.pending == [WatchSegment(15, 20, T0 + 15, T0 + 20)]
    missed = settle(pending, T0 + 15, present=False)
    assert missed.credited == [] and len(missed.dropped) == 2


def test_credit_counts_unique_seconds_capped_by_wall_time():
    coverage = IntervalSet()
    first = credit(coverage, [WatchSegment(0, 20, T0, T0 + 10)])  # 2x speed
    assert first[0].unique_s == 20 and first[0].credited_s == 10
    again = credit(coverage, [WatchSegment(5, 15, T0 + 20, T0 + 30)])
    assert again[0].unique_s == 0 and again[0].credited_s == 0


def test_completion_share():
    coverage = IntervalSet([(0, 94)])
    assert not is_complete(coverage, 100, POLICY)
    coverage.add(94, 95)
    assert is_complete(coverage, 100, POLICY)


# --- properties -----------------------------------------------------------------

positions = st.one_of(st.floats(min_value=-10, max_value=700, allow_nan=False),
                      st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 600.0]))
events = st.lists(st.tuples(
    st.sampled_from(["beat", "beat", "beat", "play", "play", "play", "attest_ok", "attest_fail", "replay"]),
    st.floats(min_value=0, max_value=45),          # wall time step
    positions,                                      # position for random beats
    st.booleans(),                                  # playing
    st.sampled_from([0.5, 1.0, 1.0, 1.5, 2.0, 3.0]),  # rate
    st.integers(min_value=-2, max_value=3),         # seq jump
), max_size=80)


def simulate(evs, duration=600.0):
    """Drive the ledger like webapp.study.service does: heartbeats, then attestations settling pending
    segments; returns the numbers the properties talk about."""
    state = WatchState(duration=duration)
    now, seq, position = T0, 0, 0.0
    pending: list[WatchSegment] = []
    coverage = IntervalSet()
    credited_total = 0.0
    last_ok = True
    sent: list[Heartbeat] = []
    first_at = None
    for kind, step, pos, playing, rate, jump in evs:
        now += step
        if kind in ("attest_ok", "attest_fail"):
            ok = kind == "attest_ok"
            outcome = settle(pending, now, present=ok and last_ok)
            pending = outcome.pending
            if not (ok and last_ok):
                # Nothing settled by a failed window may be credited.
                assert outcome.credited == []
            credited_total += sum(c.credited_s for c in credit(coverage, outcome.credited))
            last_ok = ok
            continue
        if kind == "replay" and sent:
            old = sent[len(sent) // 2]
            before = state
            result = apply_heartbeat(state, Heartbeat(old.seq, old.position, old.playing, old.rate, now), POLICY)
            assert result.reason in (Reason.DUPLICATE, Reason.REPLAYED, Reason.INVALID)
            assert result.state == before and result.segment is None
            continue
        seq = max(0, seq + jump) if kind == "beat" else seq + 1
        if kind == "play":  # honest playback
            position = min(duration, position + step * min(rate, POLICY.max_rate)) if playing else position
            beat = Heartbeat(seq, position, playing, rate, now)
        else:
            beat = Heartbeat(seq, pos, playing, rate, now)
        before = state
        result = apply_heartbeat(state, beat, POLICY)
        if first_at is None and result.accepted:
            first_at = now
        if result.accepted:
            sent.append(beat)
            assert result.state.frontier >= before.frontier
            if result.segment is not None:
                seg = result.segment
                assert seg.media_end - seg.media_start <= seg.wall_span * POLICY.max_rate + POLICY.tolerance_s
                assert seg.wall_start >= (first_at or now)
                pending.append(seg)
            if result.state.last_position > before.frontier + POLICY.tolerance_s:
                advance = result.state.last_position - before.last_position
                assert advance <= (now - (before.last_at or now)) * POLICY.max_rate + POLICY.tolerance_s
        else:
            assert result.state == before and result.segment is None
        state = result.state
        position = state.last_position
    return {"credited": credited_total, "coverage": coverage.measure(), "elapsed": now - (first_at or now),
            "duration": duration}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_random_streams_never_crash_and_keep_the_invariants(evs):
    out = simulate(evs)
    assert out["credited"] <= out["elapsed"] + 1e-6
    assert out["credited"] <= out["coverage"] + 1e-6
    assert out["coverage"] <= out["duration"] + 1e-6


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.5, max_value=12), min_size=2, max_size=40), st.integers(0, 39))
def test_replaying_the_whole_stream_adds_nothing(steps, cut):
    state, now, position, beats = WatchState(duration=600), T0, 0.0, []
    for i, step in enumerate(steps):
        now += step
        position = min(600.0, position + step)
        beats.append(Heartbeat(i, position, True, 1.0, now))
    state, results = run(beats, state=state)
    replay_state = state
    for beat in beats[:cut + 1]:
        later = Heartbeat(beat.seq, beat.position, beat.playing, beat.rate, now + 100)
        result = apply_heartbeat(replay_state, later, POLICY)
        assert not result.accepted and result.segment is None
        replay_state = result.state
    assert replay_state == state


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 500), st.floats(0, 100)), max_size=30),
       st.floats(0, 600), st.floats(0, 600))
def test_interval_set_matches_a_brute_force_grid(spans, a, b):
    grid = [False] * 1200  # half-second cells over [0, 600)
    s = IntervalSet()
    for start, length in spans:
        start, end = round(start * 2) / 2, round((start + length) * 2) / 2
        s.add(start, end)
        for cell in range(int(start * 2), min(1200, int(end * 2))):
            grid[cell] = True
    assert s.measure() == pytest.approx(sum(grid) / 2)
    lo, hi = sorted((round(a * 2) / 2, round(b * 2) / 2))
    assert s.overlap(lo, hi) == pytest.approx(sum(grid[int(lo * 2):int(hi * 2)]) / 2)
    gaps = sum(e - g for g, e in s.gaps(lo, hi))
    assert gaps + s.overlap(lo, hi) == pytest.approx(hi - lo)
    spans_out = list(s)
    assert all(e1 < s2 for (_, e1), (s2, _) in zip(spans_out, spans_out[1:]))  # merged and sorted
