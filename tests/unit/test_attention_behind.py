"""webapp.attention.behind: who is behind this month, with cases worked out by hand."""
from datetime import date

import pytest

from webapp.attention.behind import Severity, is_behind, month_days, pace, severity, shortfall_s

H = 3600.0


def test_month_days_in_the_platforms_calendar():
    assert month_days(date(2026, 11, 1)) == (0, 30)       # the first: nothing gone, 30 days to use
    assert month_days(date(2026, 11, 16)) == (15, 15)
    assert month_days(date(2026, 11, 30)) == (29, 1)      # the last day still counts
    assert month_days(date(2026, 2, 10)) == (9, 19)       # February 2026: 28 days
    assert month_days(date(2024, 2, 29)) == (28, 1)       # a leap year
    assert month_days(date(2026, 12, 31)) == (30, 1)


def test_mid_month_8_hours_required():
    # the 16th of a 30-day month: half gone, the pace is 4 h; one hour of slack: behind below 3 h;
    # far behind below half the pace (2 h); 15 days x 4 h = 60 h could still be studied
    p = pace(15, 15, tolerance_s=1 * H, max_hours_per_day=4)
    assert p.share == 0.5 and p.capacity_s == 60 * H and p.days_left == 15
    assert severity(8 * H, 4 * H, p) is Severity.ON_TRACK
    assert severity(8 * H, 3 * H, p) is Severity.ON_TRACK          # exactly pace - slack
    assert severity(8 * H, 3 * H - 1, p) is Severity.BEHIND
    assert severity(8 * H, 2 * H, p) is Severity.BEHIND            # exactly half the pace
    assert severity(8 * H, 2 * H - 1, p) is Severity.FAR_BEHIND
    assert severity(8 * H, 0, p) is Severity.FAR_BEHIND
    assert severity(8 * H, 8 * H, p) is Severity.ON_TRACK          # met
    assert severity(8 * H, 9 * H, p) is Severity.ON_TRACK
    assert shortfall_s(8 * H, 1 * H, p) == 3 * H and shortfall_s(8 * H, 5 * H, p) == 0


def test_last_day_the_rest_no_longer_fits():
    # the 30th of 30: one day left, at most 4 h; the pace is 8 h x 29/30 = 7.733 h
    p = pace(29, 1, tolerance_s=1 * H, max_hours_per_day=4)
    assert severity(8 * H, 10000, p) is Severity.CANNOT_MEET      # 5.22 h missing > 4 h
    assert severity(8 * H, 4 * H, p) is Severity.BEHIND            # 4 h missing: fits; 4 < 6.73, not < 3.87
    assert severity(8 * H, 3.8 * H, p) is Severity.CANNOT_MEET
    assert severity(8 * H, 7 * H, p) is Severity.ON_TRACK          # 7 >= 7.733 - 1
    # a small requirement: 2 h, nothing done, the last day of a 31-day month: 2 h still fit
    q = pace(30, 1, tolerance_s=1 * H, max_hours_per_day=4)
    assert severity(2 * H, 0, q) is Severity.FAR_BEHIND


def test_the_first_days_remind_no_one_unless_it_cannot_fit():
    p = pace(0, 30, tolerance_s=1 * H, max_hours_per_day=4)
    assert severity(8 * H, 0, p) is Severity.ON_TRACK
    two = pace(2, 28, tolerance_s=1 * H, max_hours_per_day=4)      # pace 0.533 h: within the slack
    assert not is_behind(8 * H, 0, two)
    # 200 h required in a month with 30 days x 4 h = 120 h: cannot be met from the start
    assert severity(200 * H, 0, p) is Severity.CANNOT_MEET


def test_no_requirement_is_never_behind():
    p = pace(29, 1)
    assert severity(0, 0, p) is Severity.ON_TRACK


@pytest.mark.parametrize("args", [(-1, 10), (10, -1), (0, 0)])
def test_pace_refuses_impossible_months(args):
    with pytest.raises(ValueError):
        pace(*args)
