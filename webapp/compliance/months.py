"""Months as the unit pages name them ("2026-11"): validation, the 12-month window of the trend,
and a month's bounds in the platform's time zone. Plain Python, no Flask or database."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")   # ASCII digits only
FIRST_YEAR = 2000


class BadMonth(ValueError):
    """A month selector that is not a month the pages can show; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason       # "format" | "future" | "too_old"


def parse_month(text: str | None, current: str) -> str:
    """`text` if it is a month from 2000-01 to `current`; `current` when empty; else BadMonth."""
    if text is None or not text.strip():
        return current
    match = MONTH_RE.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise BadMonth("format")
    month = f"{match.group(1)}-{match.group(2)}"
    if int(match.group(1)) < FIRST_YEAR:
        raise BadMonth("too_old")
    if month > current:
        raise BadMonth("future")
    return month


def shift(month: str, months: int) -> str:
    """The month `months` after `month` (negative: before)."""
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + (mon - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def window(month: str, length: int = 12) -> list[str]:
    """The `length` months ending with `month`, oldest first (the trend's x axis)."""
    return [shift(month, -i) for i in range(length - 1, -1, -1)]


def bounds(month: str, tz_name: str) -> tuple[float, float]:
    """[start, end) of the month in the time zone `tz_name`, as epoch seconds."""
    tz = ZoneInfo(tz_name)
    start = datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=tz)
    nxt = shift(month, 1)
    end = datetime(int(nxt[:4]), int(nxt[5:7]), 1, tzinfo=tz)
    return start.timestamp(), end.timestamp()


def naive_utc(epoch: float) -> datetime:
    """An epoch as the naive UTC datetime the DateTime columns hold (models.utcnow)."""
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def percent(part: int, whole: int) -> float | None:
    """part/whole in percent, one decimal; None when there is no one to count."""
    return round(100.0 * part / whole, 1) if whole else None

