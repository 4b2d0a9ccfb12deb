"""Who is behind this month's study requirement: a pure rule (no Flask, no SQLAlchemy).

A month has `elapsed` whole days behind it (days before today, in the platform's time zone) and
`left` days still to use (today included). With `share = elapsed / (elapsed + left)` of the month
gone, a supervisee who must study `required` seconds and has `credited` seconds is

* ON_TRACK when the requirement is met (or there is none), or when credited is at least
  `required * share - tolerance` (a little slack, so the first days of a month remind no one);
* CANNOT_MEET when what is missing, `required - credited`, is more than anyone can study in the
  days left at `max_hours_per_day` (it no longer fits, whatever the pace);
* else FAR_BEHIND when credited is below `far_share` (half) of the pace, `required * share`;
* else BEHIND.

`Pace` holds the month's numbers once, so the SQL filter (webapp.attention.queries) and this
function use the very same thresholds: a row is "behind" in SQL exactly when `severity` is not
ON_TRACK.
"""
from __future__ import annotations

import calendar
import enum
from dataclasses import dataclass
from datetime import date

DEFAULT_TOLERANCE_S = 3600.0       # one hour of slack below the pace
DEFAULT_MAX_HOURS_PER_DAY = 4.0    # what a person can plausibly study in one day
FAR_SHARE = 0.5                    # below half the pace: far behind


class Severity(enum.IntEnum):
    ON_TRACK = 0
    BEHIND = 1
    FAR_BEHIND = 2
    CANNOT_MEET = 3


@dataclass(frozen=True)
class Pace:
    """The month's thresholds, the same for every supervisee (only `required` differs)."""
    share: float            # of the month gone, 0..1
    tolerance_s: float      # slack below the pace
    capacity_s: float       # the most anyone can still study this month
    days_left: int
    far_share: float = FAR_SHARE


def month_days(today: date) -> tuple[int, int]:
    """(whole days elapsed before `today`, days left including `today`) in `today`'s month."""
    days = calendar.monthrange(today.year, today.month)[1]
    return today.day - 1, days - today.day + 1


def pace(elapsed_days: int, days_left: int, tolerance_s: float = DEFAULT_TOLERANCE_S,
         max_hours_per_day: float = DEFAULT_MAX_HOURS_PER_DAY) -> Pace:
    if elapsed_days < 0 or days_left < 0 or elapsed_days + days_left <= 0:
        raise ValueError(f"not a month: {elapsed_days} days elapsed, {days_left} left")
    if tolerance_s < 0 or max_hours_per_day <= 0:
        raise ValueError("the tolerance cannot be negative and the daily maximum must be positive")
    return Pace(share=elapsed_days / (elapsed_days + days_left), tolerance_s=float(tolerance_s),
                capacity_s=days_left * max_hours_per_day * 3600.0, days_left=days_left)


def severity(required_s: float, credited_s: float, p: Pace) -> Severity:
    if required_s <= 0 or credited_s >= required_s:
        return Severity.ON_TRACK
    if required_s - credited_s > p.capacity_s:
        return Severity.CANNOT_MEET
    expected = required_s * p.share
    if credited_s >= expected - p.tolerance_s:
        return Severity.ON_TRACK
    if credited_s < expected * p.far_share:
        return Severity.FAR_BEHIND
    return Severity.BEHIND


def is_behind(required_s: float, credited_s: float, p: Pace) -> bool:
    return severity(required_s, credited_s, p) is not Severity.ON_TRACK


def shortfall_s(required_s: float, credited_s: float, p: Pace) -> float:
    """How far below the pace (seconds; 0 when at or above it)."""
    return max(0.0, required_s * p.share - credited_s)
