"""Properties of the watch ledger over random heartbeat streams (hypothesis).

The stream mixes honest playback with hostile or broken heartbeats: random, duplicated and
replayed sequence numbers; positions that jump forward and back, NaN, inf, negative or past
the end; random playing flags; rates above the cap, zero, negative or NaN; server receive
times that never go back but leave random gaps, some longer than max_gap; attestations that
pass or fail; new sittings. It is driven exactly like webapp/study.py: accepted heartbeats
yield pending segments, each attestation settles pending segments up to its time and credits
them (`credit`) only when this and the previous attestation passed.

Properties (numbers as in the issue):
 1. credited seconds <= wall-clock time between the first and the last accepted heartbeat;
 2. credited <= unique coverage <= duration (and coverage lies inside [0, frontier]);
 3. replaying an accepted heartbeat (same seq) is DUPLICATE/REPLAYED, earns and changes nothing;
 4. random streams never raise;
 5. no segment advances more media than wall x max_rate + tolerance; a position past
    frontier + tolerance is only accepted when reached by plausible playback; the frontier
    never outruns max_rate x wall-clock time (the tolerance does not accumulate);
 6. rejections never change the state; the frontier never decreases;
 7. what is pending at a failed attestation, or watched between it and the next passed one,
    is never credited, not even the part of a heartbeat interval that straddles attestations
    (streaming.ledger.admit settles such parts as their windows were).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaming.intervals import IntervalSet
from streaming.ledger import (Heartbeat, LedgerPolicy, Reason, WatchSegment, WatchState, admit, apply_heartbeat,
                              credit, is_complete, settle)

T0 = 1_700_000_000.0
EPS = 1e-6
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

policies = st.sampled_from([
    LedgerPolicy(),                                               # production defaults
    LedgerPolicy(max_rate=1.0, tolerance_s=0.5, max_gap_s=10.0),
    LedgerPolicy(max_rate=3.0, tolerance_s=3.0, max_gap_s=60.0),
])
durations = st.sampled_from([60.0, 600.0, 3600.0])

# --- the random stream ----------------------------------------------------------------------

# Mostly plausible playback (so that segments, credit and completion happen), with every kind of
# hostile or broken heartbeat mixed in.
steps = st.one_of(st.floats(0.5, 8), st.floats(0.5, 8), st.floats(0.5, 8), st.floats(0.5, 8),
                  st.just(0.0), st.floats(0, 0.01), st.floats(8, 100))
rates = st.one_of(st.sampled_from([1.0, 1.0, 1.0, 1.5, 2.0, 2.0]), st.floats(0.05, 4.0),
                  st.sampled_from([3.0, 2.0000001, 0.0, -1.0, math.nan, math.inf]))
specials = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, -1.0, -1e-9])
SEQ_MODES = ["next"] * 10 + ["same", "older", "jump", "random"]
POS_MODES = ["honest"] * 8 + ["same", "back", "back", "ahead", "frontier", "frontier", "absolute", "end", "special"]


KINDS = ["beat"] * 6 + ["play"] * 3 + ["attest"] * 2 + ["replay", "session"]


@st.composite
def event(draw):
    kind = draw(st.sampled_from(KINDS))
    if kind == "beat":  # one heartbeat, honest or not
        return ("beat", draw(steps), draw(st.sampled_from(SEQ_MODES)), draw(st.integers(1, 5)),
                draw(st.sampled_from(POS_MODES)), draw(st.floats(0, 1.0) | st.floats(0, 50) | st.floats(50, 1000)),
                draw(st.sampled_from([True, True, True, True, False])), draw(rates),
                draw(st.floats(-10, 3700) | specials))
    if kind == "play":  # a run of honest playback: k heartbeats, `step` seconds apart, at `rate`
        return ("play", 0.0, draw(st.integers(1, 25)), draw(st.floats(0.5, 10)),
                draw(st.sampled_from([1.0, 1.0, 1.25, 1.5, 2.0])))
    if kind == "attest":
        return ("attest", draw(steps), draw(st.sampled_from([True, True, True, False])))
    if kind == "replay":
        return ("replay", draw(steps), draw(st.integers(0, 10_000)))
    return ("session", draw(steps), draw(st.booleans()))


events = st.lists(event(), max_size=60)


@dataclass
class Sim:
    policy: LedgerPolicy
    duration: float
    state: WatchState = None
    now: float = T0
    seq: int = -1
    pending: list = field(default_factory=list)
    coverage: IntervalSet = field(default_factory=IntervalSet)
    credited: float = 0.0
    credited_pieces: list = field(default_factory=list)
    last_ok: bool = True
    attestations: list = field(default_factory=lambda: [(float("-inf"), True)])  # the start passed
    last_attest_at: float = T0
    unverified: list = field(default_factory=list)   # wall windows (a, b] not verified at both ends
    accepted_this_session: list = field(default_factory=list)
    accepted_times: list = field(default_factory=list)
    first_at: float | None = None
    last_at: float | None = None
    start_frontier: float = 0.0

    def __post_init__(self):
        self.state = WatchState(duration=self.duration)

    # -- heartbeats ---------------------------------------------------------------------------

    def apply(self, beat: Heartbeat):
        before, policy = self.state, self.policy
        result = apply_heartbeat(before, beat, policy)           # property 4: never raises
        after = result.state
        if not result.accepted:
            # property 6: a rejection leaves the state as it was and yields nothing
            assert after == before and result.segment is None
            assert result.reason in Reason
            if result.reason in (Reason.SEEK_AHEAD, Reason.RATE_TOO_HIGH):
                assert result.snap_to == before.last_position
            valid = (beat.seq >= 0 and isinstance(beat.position, float) and math.isfinite(beat.position)
                     and math.isfinite(beat.rate) and beat.rate > 0
                     and 0 <= beat.position <= before.duration + 1.0)
            if valid and beat.seq == before.last_seq:
                assert result.reason is Reason.DUPLICATE
            if valid and beat.seq < before.last_seq:
                assert result.reason is Reason.REPLAYED
            if valid and beat.seq > before.last_seq and beat.rate > policy.max_rate:
                assert result.reason is Reason.RATE_TOO_HIGH
            return result
        # accepted
        assert beat.seq > before.last_seq and after.last_seq == beat.seq and after.last_at == beat.received_at
        assert beat.rate <= policy.max_rate and 0 <= beat.position <= before.duration + 1.0
        assert after.frontier >= before.frontier                              # property 6
        assert 0 <= after.last_position <= after.frontier <= after.duration  # resume point within reach
        wall = 0.0 if before.last_at is None else beat.received_at - before.last_at
        # property 5: nothing accepted past frontier + tolerance unless plausibly played to ...
        position = min(beat.position, before.duration)
        if position > before.frontier + policy.tolerance_s:
            assert before.last_at is not None
            assert position - before.last_position <= wall * policy.max_rate + policy.tolerance_s + EPS
        # ... and the frontier never grows faster than max_rate x wall (the tolerance does not pile up)
        assert after.frontier <= max(before.frontier, before.last_position) + wall * policy.max_rate + EPS
        seg = result.segment
        if seg is not None:
            advance = seg.media_end - seg.media_start
            assert before.last_at is not None and before.last_playing
            assert seg.wall_start == before.last_at and seg.wall_end == beat.received_at
            assert 0 < seg.wall_span <= policy.max_gap_s
            assert advance > 0
            assert advance <= seg.wall_span * policy.max_rate + policy.tolerance_s + EPS   # property 5
            assert advance <= seg.wall_span * policy.max_rate + EPS                         # (no slack at all)
            assert seg.media_start == before.last_position and seg.media_end == after.last_position
            assert 0 <= seg.media_start < seg.media_end <= after.frontier
            # the part reaching back before the last attestation is settled as that window was
            earlier = [ok for at, ok in self.attestations if at <= seg.wall_start]
            taken = admit(seg, earlier[-1], [(at, ok) for at, ok in self.attestations if at > seg.wall_start])
            self._credit(taken.credited)
            self.pending += taken.pending
        self.accepted_this_session.append(beat)
        self.accepted_times.append(beat.received_at)
        if self.first_at is None:
            self.first_at = beat.received_at
        self.last_at = beat.received_at
        self.state = after
        return result

    def beat(self, ev):
        _, _step, seq_mode, seq_arg, pos_mode, pos_arg, playing, rate, absolute = ev
        state = self.state
        seq = {"next": self.seq + 1, "same": self.seq, "older": self.seq - seq_arg,
               "jump": self.seq + 1 + seq_arg, "random": seq_arg - 2}[seq_mode]
        wall = 0.0 if state.last_at is None else self.now - state.last_at
        honest = state.last_position + (wall * min(rate, self.policy.max_rate) if playing else 0.0)
        position = {"honest": min(self.duration, honest) if math.isfinite(honest) else 0.0,
                    "same": state.last_position,
                    "back": state.last_position - pos_arg,
                    "ahead": state.last_position + pos_arg,
                    "frontier": state.frontier + pos_arg,
                    "absolute": absolute,
                    "end": self.duration + pos_arg,
                    "special": absolute if not math.isfinite(absolute) else -abs(absolute) - 1e-9}[pos_mode]
        if seq_mode in ("next", "jump") or seq > self.seq:
            self.seq = max(self.seq, seq)
        return self.apply(Heartbeat(seq, position, playing, rate, self.now))

    def replay(self, index: int):
        if not self.accepted_this_session:
            return
        old = self.accepted_this_session[index % len(self.accepted_this_session)]
        before = self.state
        result = apply_heartbeat(before, Heartbeat(old.seq, old.position, old.playing, old.rate, self.now),
                                 self.policy)
        # property 3
        assert result.reason in (Reason.DUPLICATE, Reason.REPLAYED)
        assert result.state == before and result.segment is None

    # -- presence -----------------------------------------------------------------------------

    def attest(self, ok: bool):
        present = ok and self.last_ok
        outcome = settle(self.pending, self.now, present)
        # settle partitions the pending segments at the attestation time
        assert sum(s.wall_span for s in outcome.credited + outcome.dropped + outcome.pending) == \
            _approx(sum(s.wall_span for s in self.pending))
        assert all(s.wall_end <= self.now for s in outcome.credited + outcome.dropped)
        assert all(s.wall_start >= self.now for s in outcome.pending)
        if not present:
            # property 7: a failed attestation, or the first passed one after it, credits nothing
            assert outcome.credited == []
            assert len(outcome.dropped) == sum(1 for s in self.pending if s.wall_start < self.now)
            self.unverified.append((self.last_attest_at, self.now))
        else:
            assert outcome.dropped == []
        self._credit(outcome.credited)
        self.pending = outcome.pending
        self.last_ok, self.last_attest_at = ok, self.now
        self.attestations.append((self.now, ok))

    def _credit(self, segments):
        covered_before = self.coverage.measure()
        credits = credit(self.coverage, segments)
        assert all(0 <= c.credited_s <= c.unique_s + EPS and c.credited_s <= c.segment.wall_span + EPS
                   for c in credits)
        assert sum(c.unique_s for c in credits) == _approx(self.coverage.measure() - covered_before)
        self.credited += sum(c.credited_s for c in credits)
        self.credited_pieces += [c.segment for c in credits if c.credited_s > 0]

    def new_session(self, confirmed: bool):
        """A new sitting (webapp.start_session): the old one ends (finishing with a passed attestation
        when `confirmed`, else its unconfirmed tail stays uncredited), the anchor and the numbering
        reset, frontier and resume point carry over, and the start itself is a passed attestation."""
        if confirmed:
            self.attest(True)
        self.pending = []
        self.state = WatchState(duration=self.duration, frontier=self.state.frontier,
                                last_position=self.state.last_position)
        self.seq = -1
        self.accepted_this_session = []
        self.last_ok, self.last_attest_at = True, self.now
        self.attestations.append((self.now, True))  # the start attestation of the new sitting

    def run(self, evs):
        for ev in evs:
            self.now += ev[1]
            kind = ev[0]
            if kind == "beat":
                self.beat(ev)
            elif kind == "play":
                _, _, count, step, rate = ev
                for i in range(count):
                    if i:
                        self.now += step
                    self.beat(("beat", step, "next", 1, "honest", 0.0, True, min(rate, self.policy.max_rate), 0.0))
            elif kind == "attest":
                self.attest(ev[2])
            elif kind == "replay":
                self.replay(ev[2])
            else:
                self.new_session(ev[2])
        return self


class _approx:
    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return abs(other - self.value) <= EPS * max(1.0, abs(self.value))


# --- the properties ----------------------------------------------------------------------------

@SETTINGS
@given(policies, durations, events)
def test_random_streams_keep_every_invariant(policy, duration, evs):
    sim = Sim(policy, duration).run(evs)
    sim.attest(True)  # settle whatever is left (a final passed attestation)
    elapsed = 0.0 if sim.first_at is None else sim.last_at - sim.first_at
    covered = sim.coverage.measure()
    # property 1: never more study time than wall-clock time
    assert sim.credited <= elapsed + EPS
    # property 2: credited seconds are unique media seconds, inside the course
    assert sim.credited <= covered + EPS
    assert covered <= duration + EPS
    assert all(0 <= s and e <= sim.state.frontier + EPS for s, e in sim.coverage)
    # property 5 (end to end): reaching further than max_rate x wall-clock time is impossible
    assert sim.state.frontier <= sim.start_frontier + policy.max_rate * elapsed + EPS
    assert covered <= policy.max_rate * elapsed + EPS
    if is_complete(sim.coverage, duration, policy):
        assert elapsed >= policy.completion_share * duration / policy.max_rate - EPS
    # property 7: no credited wall time inside a window that was not verified at both ends
    for a, b in sim.unverified:
        for piece in sim.credited_pieces:
            inside = min(piece.wall_end, b) - max(piece.wall_start, a)
            assert inside <= EPS, (a, b, piece)


@SETTINGS
@given(policies, st.integers(0, 6),
       st.lists(st.tuples(st.sampled_from(["back", "frontier", "same", "honest", "ahead"]),
                          st.sampled_from([0.0, 0.0, 0.001, 0.3, 2.0]), st.floats(0, 3)), max_size=40))
def test_seeks_and_bursts_never_push_the_frontier_faster_than_playback(policy, warmup, moves):
    """Seeks near the frontier and heartbeats in quick succession, each within the tolerance: the
    slack must not add up (the frontier and the coverage grow at most max_rate x wall time)."""
    sim = Sim(policy, 3600.0)
    sim.run([("play", 0.0, warmup + 1, 5.0, 1.0)])
    for mode, step, arg in moves:
        sim.now += step
        sim.beat(("beat", step, "next", 1, mode, arg * policy.tolerance_s, True, 1.0, 0.0))
    sim.attest(True)
    elapsed = sim.last_at - sim.first_at
    assert sim.state.frontier <= policy.max_rate * elapsed + EPS
    assert sim.coverage.measure() <= policy.max_rate * elapsed + EPS
    assert sim.credited <= elapsed + EPS


@SETTINGS
@given(policies, durations, events, st.data())
def test_replaying_any_accepted_heartbeat_changes_nothing(policy, duration, evs, data):
    sim = Sim(policy, duration).run(evs)
    if not sim.accepted_this_session:
        return
    state, pending, credited = sim.state, list(sim.pending), sim.credited
    later = sim.now + data.draw(st.floats(0, 100))
    for old in data.draw(st.permutations(sim.accepted_this_session)):
        for playing in (old.playing, not old.playing):
            result = apply_heartbeat(state, Heartbeat(old.seq, old.position, playing, old.rate, later), policy)
            assert result.reason is (Reason.DUPLICATE if old.seq == state.last_seq else Reason.REPLAYED)
            assert result.state == state and result.segment is None and not result.accepted
    assert sim.pending == pending and sim.credited == credited


@SETTINGS
@given(policies, durations, events, st.integers(0, 3))
def test_nothing_watched_from_a_failed_attestation_to_the_next_passed_one_is_credited(policy, duration, evs,
                                                                                         honest_beats):
    """After a random history, presence fails; whatever is watched until (and including) the next
    passed attestation earns nothing, however the heartbeats go."""
    sim = Sim(policy, duration).run(evs)
    sim.attest(False)
    failed_at, pieces_before = sim.now, len(sim.credited_pieces)
    step = policy.max_gap_s / 2
    for _ in range(honest_beats + 2):
        sim.now += step
        sim.seq += 1
        position = min(duration, sim.state.last_position + step)
        sim.apply(Heartbeat(sim.seq, position, True, 1.0, sim.now))
    sim.attest(True)           # the learner is back: the window since the failure is not verified
    # Only a segment straddling the failure may still earn its part *before* it (a verified window).
    for piece in sim.credited_pieces[pieces_before:]:
        assert piece.wall_end <= failed_at + EPS, (failed_at, piece)
    assert all(s.wall_start >= sim.now for s in sim.pending)


@SETTINGS
@given(policies, st.lists(st.tuples(st.floats(0.5, 10), st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])),
                          min_size=1, max_size=60),
       st.lists(st.floats(0, 1), max_size=8))
def test_honest_verified_playback_credits_its_wall_time_up_to_the_cap(policy, beats, attest_at):
    """Honest, continuously verified playback: coverage is what was played (at most max_rate x wall),
    credit is the wall time of the watched media (at most the unique coverage)."""
    duration = 3600.0
    sim = Sim(policy, duration)
    sim.apply(Heartbeat(0, 0.0, True, 1.0, sim.now))
    marks = sorted(attest_at)
    played = 0.0
    total_wall = 0.0
    for i, (step, rate) in enumerate(beats, start=1):
        step = min(step, policy.max_gap_s)
        rate = min(rate, policy.max_rate)
        sim.now += step
        total_wall += step
        position = min(duration, sim.state.last_position + step * rate)
        played += position - sim.state.last_position
        assert sim.apply(Heartbeat(i, position, True, rate, sim.now)).accepted
        while marks and marks[0] * len(beats) <= i:
            marks.pop(0)
            sim.attest(True)
    sim.attest(True)
    assert sim.coverage.measure() == _approx(played)
    assert sim.credited <= total_wall + EPS
    # every watched second is credited at the wall time it took: rate <= 1 earns the media, faster the wall
    expected = sum(min(step, policy.max_gap_s) * min(rate, policy.max_rate, 1.0) for step, rate in beats)
    assert abs(sim.credited - expected) <= 1e-4
    assert sim.pending == [] and sim.unverified == []


@SETTINGS
@given(st.floats(0, 1e6), st.floats(0.001, 1e4), st.floats(0, 1e4), st.floats(0.0, 1e4), st.floats(-1, 2))
def test_split_at_wall_is_linear_and_lossless(media_start, media_len, wall_start_offset, wall_len, frac):
    seg = WatchSegment(media_start, media_start + media_len, T0 + wall_start_offset,
                       T0 + wall_start_offset + max(wall_len, 0.001))
    t = seg.wall_start + frac * seg.wall_span
    left, right = seg.split_at_wall(t)
    if t <= seg.wall_start:
        assert (left, right) == (None, seg)
    elif t >= seg.wall_end:
        assert (left, right) == (seg, None)
    else:
        assert left.media_start == seg.media_start and right.media_end == seg.media_end
        assert left.media_end == right.media_start and left.wall_end == right.wall_start == t
        assert seg.media_start <= left.media_end <= seg.media_end
        expected = seg.media_start + (t - seg.wall_start) / seg.wall_span * (seg.media_end - seg.media_start)
        assert abs(left.media_end - expected) <= 1e-9 * max(1.0, abs(expected))


@SETTINGS
@given(st.lists(st.tuples(st.floats(0, 1000), st.floats(-5, 60), st.floats(0, 1000), st.floats(0, 60)),
                max_size=30))
def test_credit_counts_each_media_second_once_and_never_beyond_wall_time(raw):
    segments = [WatchSegment(m, m + dm, T0 + w, T0 + w + dw) for m, dm, w, dw in raw]
    coverage = IntervalSet()
    credits = credit(coverage, segments)
    assert len(credits) == sum(1 for s in segments if s.media_end > s.media_start)
    assert sum(c.unique_s for c in credits) == _approx(coverage.measure())
    assert all(0 <= c.credited_s <= min(c.unique_s, c.segment.wall_span) + EPS for c in credits)
    expected = IntervalSet((s.media_start, s.media_end) for s in segments)
    assert coverage == expected
    # crediting the same segments again earns nothing
    assert all(c.credited_s == 0 for c in credit(coverage, segments))
