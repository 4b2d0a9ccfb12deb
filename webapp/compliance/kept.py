"""Figures this process keeps for a while, so that the pages of large subtrees do not group the
same rows on every view: past months' trend points (their rows change only when a past month is
refreshed) and, for the ministry, province and city pages, the current month's unit and flag
figures for LIVE_TTL_S. District and township pages are always live. Keys start with
(database URL, unit id, month); a refresh of a month in this process forgets that month."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable

LIVE_TTL_S = 60.0          # the current month, levels 1-3
PAST_TTL_S = 600.0         # a past month (the scheduled job runs every 10 minutes)
ENTRIES = 20_000

_store: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()
_lock = threading.Lock()


def get(key: tuple) -> Any | None:
    with _lock:
        kept = _store.get(key)
        return kept[1] if kept and kept[0] > time.monotonic() else None


def put(key: tuple, value: Any, ttl: float) -> None:
    with _lock:
        _store[key] = (time.monotonic() + ttl, value)
        _store.move_to_end(key)
        while len(_store) > ENTRIES:
            _store.popitem(last=False)


def kept(key: tuple, ttl: float, compute: Callable[[], Any]) -> Any:
    """The value kept under `key`, or `compute()` kept for `ttl` seconds (0: not kept)."""
    if ttl <= 0:
        return compute()
    value = get(key)
    if value is None:
        value = compute()
        put(key, value, ttl)
    return value


def forget(month: str | None = None) -> None:
    """Drops what is kept of `month` (or everything)."""
    with _lock:
        for key in [k for k in _store if month is None or k[2] == month]:
            del _store[key]
