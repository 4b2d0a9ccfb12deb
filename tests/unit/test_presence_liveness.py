"""Camera presence and liveness rules as plain Python (frames already reduced to numbers)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proctoring.liveness import SIGNAL, Action, LivenessPolicy, PoseSample, draw_challenge, verify
from proctoring.presence import FaceSample, Kind, PresencePolicy, PresenceTracker

POLICY = PresencePolicy(grace_s=10.0, attest_every_s=30.0)


def feed_all(tracker, samples):
    events = []
    for sample in samples:
        events += tracker.feed(sample)
    return events


def face(at, *scores):
    return FaceSample(at, scores or (0.9,))


def test_steady_face_attests_periodically():
    events = feed_all(PresenceTracker(POLICY), [face(t) for t in range(0, 91, 2)])
    assert [e.kind for e in events] == [Kind.PRESENT] * 4
    assert [e.at for e in events] == [0, 30, 60, 90]


def test_empty_room_beyond_grace_is_absent_after_crediting_the_good_part():
    samples = [face(t) for t in range(0, 21, 2)] + [FaceSample(t, ()) for t in range(22, 41, 2)]
    events = feed_all(PresenceTracker(POLICY), samples)
    kinds = [(e.kind, e.at) for e in events]
    assert kinds == [(Kind.PRESENT, 0), (Kind.PRESENT, 20), (Kind.ABSENT, 30)]  # grace runs from the last face


def test_short_glance_away_within_grace_is_fine():
    samples = [face(t) for t in range(0, 11)] + [FaceSample(t, ()) for t in range(11, 18)] + \
        [face(t) for t in range(18, 31)]
    events = feed_all(PresenceTracker(POLICY), samples)
    assert all(e.kind is Kind.PRESENT for e in events)


def test_noise_scores_below_threshold_are_not_a_face():
    samples = [FaceSample(t, (0.55,)) for t in range(0, 15)]
    events = feed_all(PresenceTracker(POLICY), samples)
    assert [e.kind for e in events] == [Kind.ABSENT]


def test_second_face_is_flagged_once_and_return_to_one_face_attests_again():
    samples = [face(t) for t in range(0, 5)] + [face(t, 0.9, 0.8) for t in range(5, 10)] + \
        [face(t) for t in range(10, 12)]
    events = feed_all(PresenceTracker(POLICY), samples)
    assert [(e.kind, e.at) for e in events] == [(Kind.PRESENT, 0), (Kind.PRESENT, 4), (Kind.MULTIPLE_FACES, 5),
                                               (Kind.PRESENT, 10)]


def test_samples_stopping_is_a_gap():
    tracker = PresenceTracker(POLICY)
    feed_all(tracker, [face(t) for t in range(0, 6)])
    assert tracker.check_silence(12) == []
    events = tracker.check_silence(20)
    assert [(e.kind, e.at) for e in events] == [(Kind.PRESENT, 5), (Kind.GAP, 15)]
    back = tracker.feed(face(40))
    assert [(e.kind, e.at) for e in back] == [(Kind.PRESENT, 40)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.1, 25), st.lists(st.floats(0, 1), max_size=3)), max_size=60))
def test_events_are_in_time_order_and_never_credit_an_empty_stretch(steps):
    tracker, t, events, samples = PresenceTracker(POLICY), 0.0, [], []
    for step, scores in steps:
        t += step
        samples.append(FaceSample(t, tuple(scores)))
        events += tracker.feed(samples[-1])
    times = [e.at for e in events]
    assert times == sorted(times)
    # Between two consecutive PRESENT events with no failure between them, faces were seen
    # at least every grace period: that is what lets the ledger credit the window.
    for a, b in zip(events, events[1:]):
        if a.kind is Kind.PRESENT and b.kind is Kind.PRESENT:
            seen = [s.at for s in samples if a.at <= s.at <= b.at
                    and sum(1 for x in s.scores if x >= POLICY.min_score) == 1]
            gaps = [y - x for x, y in zip([a.at] + seen, seen + [b.at])]
            assert max(gaps) <= 2 * POLICY.grace_s + 1e-9  # an empty run within grace, plus one step


LIVE = LivenessPolicy()


def neutral(t0, t1, step=0.2):
    out, t = [], t0
    while t <= t1:
        out.append(PoseSample(t, 0.9, 0.0))
        t += step
    return out


def action_samples(action, start, step=0.2):
    """Neutral for 1 s, the action for 1 s, neutral again."""
    out = neutral(start, start + 1.0, step)
    t = start + 1.0 + step
    for i in range(5):
        ramp = 1 if 1 <= i <= 3 else 0.3
        if action is Action.BLINK:
            out.append(PoseSample(t, 0.1 if i in (1, 2) else 0.9, 0.0))
        elif action is Action.OPEN_MOUTH:
            out.append(PoseSample(t, 0.9, 0.0, 0.0, 0.4 * ramp))
        elif action in (Action.LOOK_UP, Action.LOOK_DOWN):
            out.append(PoseSample(t, 0.9, 0.0, (20.0 if action is Action.LOOK_UP else -20.0) * ramp))
        else:
            out.append(PoseSample(t, 0.9, (30.0 if action is Action.TURN_LEFT else -30.0) * ramp))
        t += step
    return out + neutral(t, start + LIVE.window_s, step)


def test_live_person_passes_a_two_step_challenge():
    actions = (Action.TURN_LEFT, Action.BLINK)
    samples = action_samples(Action.TURN_LEFT, 0.0) + action_samples(Action.BLINK, 5.0)
    result = verify(actions, (0.0, 5.0), samples)
    assert result.passed, result.reason


def test_still_photo_fails():
    samples = neutral(0, 10)
    result = verify((Action.BLINK, Action.TURN_RIGHT), (0.0, 5.0), samples)
    assert not result.passed and "not performed" in result.reason


def test_wrong_order_or_wrong_direction_fails():
    samples = action_samples(Action.TURN_RIGHT, 0.0) + action_samples(Action.TURN_LEFT, 5.0)
    assert not verify((Action.TURN_LEFT, Action.TURN_RIGHT), (0.0, 5.0), samples).passed


def test_looping_video_that_turns_both_ways_fails():
    loop = []
    for k in range(5):  # left then right every 2 s, forever
        loop += [PoseSample(k * 2 + i * 0.2, 0.9, y) for i, y in enumerate([0, 0, 15, 30, 15, 0, -15, -30, -15, 0])]
    assert not verify((Action.TURN_LEFT, Action.BLINK), (0.0, 5.0), loop).passed


def test_too_few_samples_is_not_evidence():
    samples = action_samples(Action.BLINK, 0.0, step=1.0)
    result = verify((Action.BLINK,), (0.0,), samples)
    assert not result.passed and "samples" in result.reason


def test_challenges_are_drawn_unpredictably_and_reproducibly():
    draws = [draw_challenge(b"secret", f"s{i}", 0) for i in range(600)]
    # two actions of different signals (eyes, yaw, pitch, jaw), never two of one signal
    assert all(len(d) == 2 and SIGNAL[d[0]] != SIGNAL[d[1]] for d in draws)
    # every ordered pair of actions of distinct signals occurs: 6 x 6 minus the same action
    # twice, minus left/right and up/down in either order
    assert len(set(draws)) == 36 - 6 - 2 - 2
    assert draws == [draw_challenge(b"secret", f"s{i}", 0) for i in range(600)]
    assert draws != [draw_challenge(b"other", f"s{i}", 0) for i in range(600)]


@pytest.mark.parametrize("action", list(Action))
def test_each_action_alone(action):
    assert verify((action,), (0.0,), action_samples(action, 0.0)).passed


def test_the_starting_pose_is_taken_by_time_so_dropped_early_samples_do_not_fail_a_live_learner():
    """The server dropped the window's first second of samples (a busy node): what is left
    starts with the action itself. The start is the first fifth of the window in time, and
    the first sample there is already the turn: that is not a neutral start, so the step fails
    only if the learner really did not start from the screen."""
    full = action_samples(Action.TURN_LEFT, 0.0)                  # neutral 0-1 s, the turn 1.2-2 s
    late = [s for s in full if s.at >= 0.95]                       # samples before 0.95 s were dropped
    assert abs(late[0].yaw_deg) <= LIVE.neutral_deg                  # she was still looking at the screen
    assert verify((Action.TURN_LEFT,), (0.0,), late).passed, verify((Action.TURN_LEFT,), (0.0,), late).reason
    # by count, the first fifth of what is left reaches into the turn
    assert any(abs(s.yaw_deg) > LIVE.neutral_deg for s in late[: max(1, len(late) // 5)])
