"""Failure throttles (issue 12): failures counted per key in a fixed window, kept in the rate-limit
storage (RATELIMIT_STORAGE_URI, so every web process shares them when it is Redis).

Unlike Flask-Limiter's route limits, only what a view calls a failure counts, and the view chooses
its own answer: a throttled login answers like any other failed login (no hint that the username
exists), a throttled password change answers 429. They apply whether or not RATELIMIT_ENABLED is on
(they replace the account lock, which did too).
"""
from __future__ import annotations

import hashlib
import math
import time

from flask import current_app
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

EXTENSION = "failure_throttle"


class FailureThrottle:
    """`limit` failures per `window_s` for each key of a namespace."""

    def __init__(self, storage_uri: str):
        self._limiter = FixedWindowRateLimiter(storage_from_string(storage_uri))

    @staticmethod
    def _item(limit: int, window_s: int) -> RateLimitItemPerSecond:
        return RateLimitItemPerSecond(max(1, limit), max(1, window_s))

    def blocked(self, namespace: str, key: tuple[str, ...], limit: int, window_s: int) -> bool:
        return not self._limiter.test(self._item(limit, window_s), namespace, *key)

    def fail(self, namespace: str, key: tuple[str, ...], limit: int, window_s: int) -> None:
        self._limiter.hit(self._item(limit, window_s), namespace, *key)

    def clear(self, namespace: str, key: tuple[str, ...], limit: int, window_s: int) -> None:
        self._limiter.clear(self._item(limit, window_s), namespace, *key)

    def retry_after(self, namespace: str, key: tuple[str, ...], limit: int, window_s: int) -> int:
        """Whole seconds until the key's window ends (at least 1)."""
        reset = self._limiter.get_window_stats(self._item(limit, window_s), namespace, *key).reset_time
        return max(1, math.ceil(reset - time.time()))


def failure_throttle() -> FailureThrottle:
    """The app's throttle, made at first use."""
    throttle = current_app.extensions.get(EXTENSION)
    if throttle is None:
        throttle = current_app.extensions.setdefault(
            EXTENSION, FailureThrottle(current_app.config["RATELIMIT_STORAGE_URI"]))
    return throttle


def opaque(text: str) -> str:
    """A storage key part for text a client typed (a username: sometimes a mistyped password):
    fixed length, no separators, nothing readable left in Redis."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
