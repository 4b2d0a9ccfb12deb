"""When to interrupt a learner with a presence check.

Check times are drawn on the server from a secret-seeded generator: without the
secret the client cannot predict them, and the same (session, n) always draws
the same delay, so a restart of the web process does not reshuffle them.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class BreakpointPolicy:
    mean_s: float = 300.0      # mean time between random breakpoints
    min_s: float = 60.0        # never sooner than this after the last one
    max_s: float = 900.0       # never later than this
    answer_within_s: float = 60.0  # time the learner has to confirm


def uniform(secret: bytes, *parts: object) -> float:
    """A number in (0, 1) from HMAC-SHA256 of the parts."""
    msg = "\x1f".join(str(p) for p in parts).encode()
    digest = hmac.new(secret, msg, hashlib.sha256).digest()
    (n,) = struct.unpack(">Q", digest[:8])
    return (n + 0.5) / 2**64


def clamped_exponential(secret: bytes, kind: str, session_key: str, index: int,
                        mean_s: float, min_s: float, max_s: float) -> float:
    """The index-th delay of a `kind` of check: exponential (memoryless, so waiting tells
    the client nothing), clamped to [min_s, max_s]."""
    return min(max_s, max(min_s, -mean_s * math.log(uniform(secret, kind, session_key, index))))


def breakpoint_delay(secret: bytes, session_key: str, index: int, policy: BreakpointPolicy) -> float:
    """Delay before the index-th breakpoint of a session."""
    return clamped_exponential(secret, "breakpoint", session_key, index, policy.mean_s, policy.min_s, policy.max_s)


@dataclass(frozen=True)
class IdentityPolicy:
    mean_s: float = 180.0          # identity checks form a Poisson process with this mean gap
    min_s: float = 20.0            # ... but never closer than this
    max_s: float = 600.0           # ... nor further apart than this
    liveness_share: float = 0.5    # share of identity checks that also carry a liveness challenge


def identity_check_delay(secret: bytes, session_key: str, index: int, policy: IdentityPolicy) -> float:
    """Delay before the index-th identity check of a sitting."""
    return clamped_exponential(secret, "identity", session_key, index, policy.mean_s, policy.min_s, policy.max_s)


def with_liveness(secret: bytes, session_key: str, index: int, policy: IdentityPolicy) -> bool:
    """Whether the index-th identity check also asks for a liveness challenge."""
    return uniform(secret, "liveness-share", session_key, index) < policy.liveness_share


def breakpoint_due(now: float, due_at: float, prompt_open: bool, attested_ok: bool, playing: bool) -> bool:
    """A breakpoint prompt opens on a heartbeat while the video plays, once its drawn time has
    come, when no prompt is open and the sitting is not held by a failed attestation."""
    return playing and attested_ok and not prompt_open and now >= due_at


def prompt_expired(now: float, deadline: float | None) -> bool:
    """An open prompt not answered by its deadline is a failed attestation at the deadline."""
    return deadline is not None and now > deadline
