"""Credit for a group education session (streaming.group_credit), seconds worked out by hand, and
two properties (hypothesis): credit never exceeds the attended time, and no second counts twice."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.group_credit import beside_credited, credit_attendance, wall_spans
from streaming.intervals import IntervalSet
from streaming.ledger import WatchSegment

T0 = 1_800_000_000.0


def test_overlap_with_home_study_and_another_session_is_removed():
    attended = [(T0 + 1000, T0 + 4600)]                          # one hour
    home = [(T0 + 4000, T0 + 5000)]                               # studied at home 4000..5000
    other = [(T0 + 500, T0 + 1200)]                               # another session 500..1200
    got = credit_attendance(attended, home + other)
    assert got.spans == [(T0 + 1200, T0 + 4000)]
    assert (got.credited_s, got.attended_s, got.overlap_s, got.capped_s, got.reason) == \
        (2800.0, 3600.0, 800.0, 0.0, "credited")


def test_a_hole_in_the_middle():
    got = credit_attendance([(0.0, 3000.0)], [(1000.0, 1250.0), (2000.0, 2100.0)])
    assert got.spans == [(0.0, 1000.0), (1250.0, 2000.0), (2100.0, 3000.0)]
    assert got.credited_s == 2650.0 and got.overlap_s == 350.0


def test_nothing_attended_or_everything_already_credited():
    assert (credit_attendance([], [(0.0, 10.0)]).reason, credit_attendance([], []).credited_s) == ("unattended", 0.0)
    got = credit_attendance([(100.0, 200.0)], [(0.0, 150.0), (150.0, 300.0)])
    assert (got.credited_s, got.spans, got.overlap_s, got.reason) == (0.0, [], 100.0, "overlap")


def test_overlapping_attended_spans_count_once():
    got = credit_attendance([(0.0, 100.0), (50.0, 150.0), (150.0, 160.0)], [])
    assert (got.credited_s, got.spans, got.attended_s) == (160.0, [(0.0, 160.0)], 160.0)


def test_session_cap_credits_the_earliest_seconds():
    got = credit_attendance([(0.0, 1000.0), (2000.0, 3000.0)], [], session_cap_s=1800.0)
    assert (got.spans, got.credited_s, got.capped_s, got.reason) == \
        ([(0.0, 1000.0), (2000.0, 2800.0)], 1800.0, 200.0, "cap")
    exact = credit_attendance([(0.0, 1000.0)], [], session_cap_s=1000.0)
    assert (exact.credited_s, exact.reason) == (1000.0, "credited")


def test_daily_cap_counts_what_was_credited_that_day():
    got = credit_attendance([(0.0, 1000.0)], [], daily_cap_s=3600.0, credited_today_s=3000.0)
    assert (got.spans, got.credited_s, got.capped_s, got.reason) == ([(0.0, 600.0)], 600.0, 400.0, "cap")
    full = credit_attendance([(0.0, 1000.0)], [], daily_cap_s=3600.0, credited_today_s=4000.0)
    assert (full.spans, full.credited_s, full.reason) == ([], 0.0, "cap")
    both = credit_attendance([(0.0, 1000.0)], [], session_cap_s=300.0, daily_cap_s=3600.0, credited_today_s=3000.0)
    assert both.credited_s == 300.0                               # the tighter cap
    # the overlap is removed before the cap applies
    after = credit_attendance([(0.0, 1000.0)], [(0.0, 500.0)], session_cap_s=400.0)
    assert (after.spans, after.capped_s) == ([(500.0, 900.0)], 100.0)


def test_wall_spans_of_ledger_segments():
    segments = [WatchSegment(0.0, 30.0, T0, T0 + 30), WatchSegment(30.0, 45.0, T0 + 40, T0 + 55)]
    assert wall_spans(segments) == [(T0, T0 + 30), (T0 + 40, T0 + 55)]
    got = credit_attendance([(T0, T0 + 100)], wall_spans(segments))
    assert got.credited_s == 55.0 and got.spans == [(T0 + 30, T0 + 40), (T0 + 55, T0 + 100)]


# --- properties -----------------------------------------------------------------------------------

span = st.tuples(st.integers(0, 2000), st.integers(0, 400)).map(lambda p: (float(p[0]), float(p[0] + p[1])))
spans = st.lists(span, max_size=8)
caps = st.one_of(st.none(), st.integers(0, 3000).map(float))


def _inside(inner: list, outer: IntervalSet) -> bool:
    return all(outer.overlap(s, e) == e - s for s, e in inner)


@settings(max_examples=200, deadline=None)
@given(attended=spans, already=spans, session_cap=caps, daily_cap=caps, today=st.integers(0, 3000).map(float))
def test_credit_never_exceeds_attended_time_nor_counts_a_second_twice(attended, already, session_cap, daily_cap,
                                                                       today):
    got = credit_attendance(attended, already, session_cap, daily_cap, today)
    attended_set, already_set, credited_set = IntervalSet(attended), IntervalSet(already), IntervalSet(got.spans)
    assert 0.0 <= got.credited_s <= attended_set.measure()
    assert credited_set.measure() == got.credited_s                      # the spans are disjoint: no second twice
    assert _inside(got.spans, attended_set)                               # only attended time
    assert all(already_set.overlap(s, e) == 0.0 for s, e in got.spans)    # nothing already credited
    if session_cap is not None:
        assert got.credited_s <= session_cap
    if daily_cap is not None:
        assert got.credited_s <= max(0.0, daily_cap - today)
    assert got.credited_s + got.capped_s + got.overlap_s == attended_set.measure()
    # crediting the same attendance again earns nothing but what a cap cut off, and never a second twice
    again = credit_attendance(attended, list(already) + got.spans, session_cap, daily_cap, today)
    assert again.credited_s <= got.capped_s
    assert all(credited_set.overlap(s, e) == 0.0 for s, e in again.spans)


def test_home_study_beside_credited_minutes_keeps_only_free_wall_time():
    # a 10 s segment credited 10 s at home; a session credited 4..7 of its wall span
    assert beside_credited(10.0, (0.0, 10.0), [(4.0, 7.0)]) == 7.0
    # the ledger's own credit is already below the free time: unchanged
    assert beside_credited(5.0, (0.0, 10.0), [(4.0, 7.0)]) == 5.0
    assert beside_credited(10.0, (0.0, 10.0), [(-5.0, 20.0)]) == 0.0
    assert beside_credited(10.0, (0.0, 10.0), [(10.0, 20.0), (-3.0, 0.0)]) == 10.0
    assert beside_credited(10.0, (0.0, 10.0), [(1.0, 3.0), (2.0, 4.0), (8.0, 9.0)]) == 6.0
