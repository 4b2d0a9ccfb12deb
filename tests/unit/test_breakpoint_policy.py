"""proctoring.policy: secret-seeded random breakpoint (and identity check) delays.

Bounded, reproducible from (secret, session, index), different under another secret, and
statistically what they claim: an exponential with the configured mean, clamped to
[min_s, max_s], with successive delays uncorrelated.
"""
from __future__ import annotations

import hashlib
import math
import statistics

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import proctoring.policy as policy_module
from proctoring.policy import (BreakpointPolicy, IdentityPolicy, breakpoint_delay, identity_check_delay, uniform,
                               with_liveness)

DEFAULT = BreakpointPolicy()                              # mean 300, clamped to [60, 900]
WIDE = BreakpointPolicy(mean_s=300, min_s=0.0, max_s=1e12)  # practically unclamped
SECRETS = [b"secret-one", b"another secret", bytes(range(32))]
SESSIONS = 2000
PER_SESSION = 5


def clamped_exponential_mean(mean: float, lo: float, hi: float) -> float:
    """E[min(hi, max(lo, X))] for X ~ Exp(mean): lo + integral of P(X > x) over [lo, hi]."""
    return lo + mean * (math.exp(-lo / mean) - math.exp(-hi / mean))


def table(secret: bytes, policy: BreakpointPolicy = DEFAULT, sessions: int = SESSIONS,
          per_session: int = PER_SESSION) -> list[list[float]]:
    return [[breakpoint_delay(secret, f"session-{s:05d}", i, policy) for i in range(per_session)]
            for s in range(sessions)]


# --- bounds and determinism (any secret, session, index, policy) --------------------------

policies = st.builds(
    lambda mean, lo, span: BreakpointPolicy(mean_s=mean, min_s=lo, max_s=lo + span),
    st.floats(1.0, 5000.0), st.floats(0.0, 1000.0), st.floats(0.0, 5000.0))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64), st.text(max_size=40), st.integers(0, 10**12), policies)
def test_delays_stay_within_bounds_and_are_deterministic(secret, session, index, policy):
    delay = breakpoint_delay(secret, session, index, policy)
    assert math.isfinite(delay)
    assert policy.min_s <= delay <= policy.max_s
    assert breakpoint_delay(secret, session, index, policy) == delay
    # a fresh policy object with the same numbers gives the same delay (no hidden state)
    same = BreakpointPolicy(mean_s=policy.mean_s, min_s=policy.min_s, max_s=policy.max_s)
    assert breakpoint_delay(bytes(secret), str(session), int(index), same) == delay


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64), st.lists(st.text(max_size=10) | st.integers(), max_size=5))
def test_uniform_is_in_the_unit_interval_and_deterministic(secret, parts):
    u = uniform(secret, *parts)
    assert 0.0 < u <= 1.0  # 1.0 itself only for the top 2**-54 of digests (float rounding), see below
    assert uniform(secret, *parts) == u


def test_degenerate_policy_min_equals_max_gives_a_fixed_delay():
    fixed = BreakpointPolicy(mean_s=300, min_s=120, max_s=120)
    assert {breakpoint_delay(b"k", f"s{s}", i, fixed) for s in range(50) for i in range(3)} == {120}


@pytest.mark.parametrize("byte, expected", [(0x00, "max_s"), (0xFF, "min_s")])
def test_the_extremes_of_the_hash_still_give_bounded_delays(monkeypatch, byte, expected):
    """The smallest digest maps to u ~ 2.7e-20 (delay far above max_s), the largest rounds to
    u == 1.0 (delay -0.0): both clamp, neither raises (no log(0), no negative delay)."""
    class FakeMac:
        def digest(self):
            return bytes([byte]) * 32

    monkeypatch.setattr(policy_module.hmac, "new", lambda *a, **k: FakeMac())
    u = uniform(b"k", "breakpoint", "s", 0)
    assert 0.0 < u <= 1.0
    delay = breakpoint_delay(b"k", "s", 0, DEFAULT)
    assert delay == getattr(DEFAULT, expected)
    assert identity_check_delay(b"k", "s", 0, IdentityPolicy()) == getattr(IdentityPolicy(), expected)


def test_the_delay_is_the_clamped_exponential_of_the_keyed_uniform():
    for i in range(20):
        u = uniform(b"k", "breakpoint", "abc", i)
        assert breakpoint_delay(b"k", "abc", i, WIDE) == pytest.approx(-WIDE.mean_s * math.log(u))


def test_same_inputs_same_delays_across_calls_and_orders():
    forward = table(b"k", sessions=50)
    backward = [[breakpoint_delay(b"k", f"session-{s:05d}", i, DEFAULT) for i in reversed(range(PER_SESSION))][::-1]
                for s in reversed(range(50))][::-1]
    assert forward == backward


# --- secrets, sessions and indices all matter --------------------------------------------

def test_a_different_secret_gives_a_different_sequence():
    a, b = table(SECRETS[0], WIDE, sessions=300), table(SECRETS[1], WIDE, sessions=300)
    pairs = [(x, y) for ra, rb in zip(a, b) for x, y in zip(ra, rb)]
    assert all(x != y for x, y in pairs)
    # and not a shifted copy: the other secret's sequence does not reappear at another index/session
    assert not set(x for x, _ in pairs) & set(y for _, y in pairs)


def test_with_the_default_clamp_other_secrets_differ_wherever_either_is_unclamped():
    a, b = table(SECRETS[0], sessions=300), table(SECRETS[1], sessions=300)
    inside = lambda d: DEFAULT.min_s < d < DEFAULT.max_s  # noqa: E731  (clamped values coincide by design)
    for ra, rb in zip(a, b):
        for x, y in zip(ra, rb):
            if inside(x) or inside(y):
                assert x != y


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=32), st.binary(max_size=32), st.text(max_size=20), st.integers(0, 10**6))
def test_the_next_delay_depends_on_the_secret(secret, other, session, n):
    """Knowing delay n (and everything but the secret) does not give delay n+1: under another
    secret, the same session and index draw another delay."""
    # HMAC zero-pads keys shorter than its block, so b"k" and b"k\x00" are the same key: a
    # property of HMAC, harmless for a real secret; such pairs are not "different secrets".
    assume(secret.rstrip(b"\x00") != other.rstrip(b"\x00"))
    assert breakpoint_delay(secret, session, n, DEFAULT) == breakpoint_delay(secret, session, n, DEFAULT)
    assert breakpoint_delay(secret, session, n + 1, WIDE) != breakpoint_delay(other, session, n + 1, WIDE)


def test_sessions_and_indices_draw_distinct_values():
    values = [d for row in table(b"k", WIDE, sessions=500) for d in row]
    assert len(set(values)) == len(values)


def test_hmac_key_padding_makes_trailing_zero_bytes_irrelevant():
    """Documented HMAC behaviour (RFC 2104): b"" and b"\x00" are the same key. Real secrets are
    long random strings, so this only matters to tests that make up secrets."""
    assert breakpoint_delay(b"", "s", 1, WIDE) == breakpoint_delay(b"\x00", "s", 1, WIDE)
    assert breakpoint_delay(b"k", "s", 1, WIDE) != breakpoint_delay(b"\x00k", "s", 1, WIDE)


def test_breakpoint_identity_and_liveness_draws_are_domain_separated():
    for i in range(50):
        b = uniform(b"k", "breakpoint", "s", i)
        assert b != uniform(b"k", "identity", "s", i) and b != uniform(b"k", "liveness-share", "s", i)


# --- statistics ---------------------------------------------------------------------------

@pytest.mark.parametrize("secret", SECRETS, ids=["text", "text2", "bytes"])
def test_mean_is_the_configured_mean_once_clamping_is_considered(secret):
    flat = [d for row in table(secret) for d in row]
    n = len(flat)
    expected = clamped_exponential_mean(DEFAULT.mean_s, DEFAULT.min_s, DEFAULT.max_s)  # ~290.7 s
    assert abs(expected - DEFAULT.mean_s) < 0.05 * DEFAULT.mean_s  # the clamp shifts the mean only a little
    se = statistics.stdev(flat) / math.sqrt(n)
    assert abs(statistics.mean(flat) - expected) < 4.5 * se
    # the clamps take the share of the exponential beyond them
    at_min = sum(d == DEFAULT.min_s for d in flat) / n
    at_max = sum(d == DEFAULT.max_s for d in flat) / n
    p_min, p_max = 1 - math.exp(-DEFAULT.min_s / DEFAULT.mean_s), math.exp(-DEFAULT.max_s / DEFAULT.mean_s)
    assert abs(at_min - p_min) < 4.5 * math.sqrt(p_min * (1 - p_min) / n)
    assert abs(at_max - p_max) < 4.5 * math.sqrt(p_max * (1 - p_max) / n)


@pytest.mark.parametrize("secret", SECRETS, ids=["text", "text2", "bytes"])
def test_unclamped_delays_are_exponential_with_the_configured_mean(secret):
    flat = [d for row in table(secret, WIDE) for d in row]
    n = len(flat)
    assert abs(statistics.mean(flat) - WIDE.mean_s) < 4.5 * WIDE.mean_s / math.sqrt(n)
    # Kolmogorov-Smirnov distance to Exp(mean): well under the 0.1 % critical value 1.95 / sqrt(n)
    flat.sort()
    ks = max(max(abs((i + 1) / n - cdf), abs(i / n - cdf))
             for i, cdf in enumerate(1 - math.exp(-d / WIDE.mean_s) for d in flat))
    assert ks < 1.95 / math.sqrt(n)


@pytest.mark.parametrize("secret", SECRETS, ids=["text", "text2", "bytes"])
def test_successive_delays_are_uncorrelated(secret):
    rows = table(secret)
    pairs = [(row[i], row[i + 1]) for row in rows for i in range(PER_SESSION - 1)]
    bound = 4.5 / math.sqrt(len(pairs))  # ~0.05
    assert abs(statistics.correlation([a for a, _ in pairs], [b for _, b in pairs])) < bound
    # lag 2, and across neighbouring sessions at the same index
    lag2 = [(row[i], row[i + 2]) for row in rows for i in range(PER_SESSION - 2)]
    assert abs(statistics.correlation([a for a, _ in lag2], [b for _, b in lag2])) < 4.5 / math.sqrt(len(lag2))
    firsts = [row[0] for row in rows]
    assert abs(statistics.correlation(firsts[:-1], firsts[1:])) < 4.5 / math.sqrt(len(firsts) - 1)


def test_knowing_a_delay_tells_nothing_about_the_next():
    """Conditional means: after a short delay and after a long one, the next delay has the same mean."""
    rows = table(SECRETS[0])
    after_short = [row[i + 1] for row in rows for i in range(PER_SESSION - 1) if row[i] <= 150]
    after_long = [row[i + 1] for row in rows for i in range(PER_SESSION - 1) if row[i] >= 400]
    se = math.sqrt(statistics.variance(after_short) / len(after_short) + statistics.variance(after_long) / len(after_long))
    assert abs(statistics.mean(after_short) - statistics.mean(after_long)) < 4.5 * se


# --- identity checks share the machinery ------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=32), st.text(max_size=20), st.integers(0, 10**6))
def test_identity_delays_are_bounded_and_deterministic(secret, session, index):
    p = IdentityPolicy()
    d = identity_check_delay(secret, session, index, p)
    assert p.min_s <= d <= p.max_s and d == identity_check_delay(secret, session, index, p)
    assert with_liveness(secret, session, index, p) == with_liveness(secret, session, index, p)


def test_liveness_share_extremes_and_middle():
    never, always = IdentityPolicy(liveness_share=0.0), IdentityPolicy(liveness_share=1.0)
    assert not any(with_liveness(b"k", f"s{s}", 0, never) for s in range(500))
    assert all(with_liveness(b"k", f"s{s}", 0, always) for s in range(500))
    quarter = IdentityPolicy(liveness_share=0.25)
    n = 4000
    share = sum(with_liveness(b"k", f"s{s}", s % 3, quarter) for s in range(n)) / n
    assert abs(share - 0.25) < 4.5 * math.sqrt(0.25 * 0.75 / n)


def test_the_secret_is_used_as_an_hmac_key_not_as_a_plain_prefix():
    """uniform() is HMAC-SHA256(secret, parts): a plain hash of secret + message would differ."""
    msg = "\x1f".join(["breakpoint", "s", "0"]).encode()
    plain = int.from_bytes(hashlib.sha256(b"k" + msg).digest()[:8], "big")
    assert uniform(b"k", "breakpoint", "s", 0) != (plain + 0.5) / 2**64


def test_breakpoint_due_only_while_playing_unheld_and_without_an_open_prompt():
    from proctoring.policy import breakpoint_due, prompt_expired

    assert breakpoint_due(now=100.0, due_at=100.0, prompt_open=False, attested_ok=True, playing=True)
    assert not breakpoint_due(now=99.9, due_at=100.0, prompt_open=False, attested_ok=True, playing=True)
    assert not breakpoint_due(now=200.0, due_at=100.0, prompt_open=True, attested_ok=True, playing=True)
    assert not breakpoint_due(now=200.0, due_at=100.0, prompt_open=False, attested_ok=False, playing=True)
    assert not breakpoint_due(now=200.0, due_at=100.0, prompt_open=False, attested_ok=True, playing=False)
    assert prompt_expired(60.1, 60.0) and not prompt_expired(60.0, 60.0) and not prompt_expired(1e9, None)
