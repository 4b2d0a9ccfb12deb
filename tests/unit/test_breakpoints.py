"""Random breakpoint times: bounded, reproducible with the secret, unpredictable without it."""
from __future__ import annotations

import statistics

from proctoring.policy import BreakpointPolicy, breakpoint_delay

POLICY = BreakpointPolicy(mean_s=300, min_s=60, max_s=900)


def delays(secret=b"k", sessions=400, per_session=5):
    return [[breakpoint_delay(secret, f"s{s}", i, POLICY) for i in range(per_session)] for s in range(sessions)]


def test_delays_stay_within_bounds_and_are_reproducible():
    table = delays()
    assert all(POLICY.min_s <= d <= POLICY.max_s for row in table for d in row)
    assert delays() == table


def test_another_secret_gives_other_times():
    a, b = delays(b"one", 50), delays(b"two", 50)
    inside = lambda d: POLICY.min_s < d < POLICY.max_s  # noqa: E731  (clamped values coincide by design)
    same = sum(x == y for ra, rb in zip(a, b) for x, y in zip(ra, rb) if inside(x) and inside(y))
    differ = sum(x != y for ra, rb in zip(a, b) for x, y in zip(ra, rb))
    assert same == 0 and differ > 150


def test_distribution_is_the_clamped_exponential_and_successive_delays_are_uncorrelated():
    flat = [d for row in delays(sessions=800) for d in row]
    # Mean of an exponential(300) clamped to [60, 900]: 60 + 300(e^-0.2 - e^-3) = 290.7 s.
    assert 275 < statistics.mean(flat) < 306
    firsts = [row[0] for row in delays(sessions=800)]
    seconds = [row[1] for row in delays(sessions=800)]
    assert abs(statistics.correlation(firsts, seconds)) < 0.1
    # Not a fixed rhythm: many distinct values, spread over the range.
    assert len({round(d) for d in flat}) > 300
    assert statistics.pstdev(flat) > 150
