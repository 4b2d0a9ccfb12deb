"""streaming.intervals.IntervalSet: half-open [start, end) spans kept merged and sorted.

Examples for the edge cases (touching, nested, empty, inverted, unbounded), then a
hypothesis model check against a brute-force boolean grid and against a sort-and-merge
reference on arbitrary floats.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.intervals import IntervalSet


def spans(s: IntervalSet) -> list[tuple[float, float]]:
    return list(s)


def assert_canonical(s: IntervalSet) -> None:
    """Every span non-empty; spans sorted and separated by a real gap (touching ones merge)."""
    out = spans(s)
    assert all(a < b for a, b in out)
    assert all(e1 < s2 for (_, e1), (s2, _) in zip(out, out[1:]))
    assert len(s) == len(out)


# --- empty set ----------------------------------------------------------------------

def test_empty_set():
    s = IntervalSet()
    assert spans(s) == [] and len(s) == 0 and s.measure() == 0
    assert s.overlap(0, 10) == 0 and s.clip(0, 10) == []
    assert s.gaps(0, 10) == [(0, 10)]
    assert not s.contains(0)
    assert s.end_of_run(3.5) == 3.5
    assert s.as_list() == []
    assert s == IntervalSet() and repr(s) == "IntervalSet([])"


# --- add: empty, inverted, touching, nested, bridging -------------------------------

@pytest.mark.parametrize("start, end", [(5, 5), (5, 4), (0, -1), (math.nan, 1), (0, math.nan),
                                        (math.nan, math.nan), (math.inf, math.inf), (3, -math.inf)])
def test_empty_inverted_and_nan_spans_are_ignored(start, end):
    s = IntervalSet([(1, 2)])
    s.add(start, end)
    assert spans(s) == [(1, 2)]
    assert IntervalSet([(start, end)]) == IntervalSet()


@pytest.mark.parametrize("first, second", [((0, 1), (1, 2)), ((1, 2), (0, 1))])
def test_touching_spans_merge_in_either_order(first, second):
    s = IntervalSet([first, second])
    assert spans(s) == [(0, 2)] and s.measure() == 2


def test_a_span_touching_two_neighbours_bridges_them():
    s = IntervalSet([(0, 1), (2, 3)])
    s.add(1, 2)
    assert spans(s) == [(0, 3)]


@pytest.mark.parametrize("order", [[(0, 10), (2, 3)], [(2, 3), (0, 10)], [(0, 10), (0, 10)],
                                   [(2, 3), (5, 6), (0, 10)], [(0, 10), (0, 3), (7, 10)]])
def test_nested_and_identical_spans_collapse(order):
    assert spans(IntervalSet(order)) == [(0, 10)]


def test_a_wide_span_swallows_several_and_extends_both_ends():
    s = IntervalSet([(1, 2), (3, 4), (5, 6), (10, 11)])
    s.add(0.5, 5.5)
    assert spans(s) == [(0.5, 6), (10, 11)]


def test_partial_overlaps_extend_on_the_left_and_on_the_right():
    s = IntervalSet([(2, 4)])
    s.add(1, 3)
    assert spans(s) == [(1, 4)]
    s.add(3.5, 6)
    assert spans(s) == [(1, 6)]


def test_disjoint_spans_are_kept_sorted_whatever_the_insertion_order():
    s = IntervalSet([(8, 9), (0, 1), (4, 5), (2, 3), (6, 7)])
    assert spans(s) == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert_canonical(s)
    assert s.measure() == 5


def test_a_tiny_gap_keeps_spans_apart():
    s = IntervalSet([(0, 1), (1 + 1e-9, 2)])
    assert len(s) == 2
    assert s.gaps(0, 2) == [(1, 1 + 1e-9)]


def test_unbounded_spans():
    s = IntervalSet([(0, math.inf)])
    s.add(5, 10)
    assert spans(s) == [(0, math.inf)]
    assert s.measure() == math.inf and s.contains(1e300)
    assert s.overlap(3, 7) == 4 and s.gaps(-2, 7) == [(-2, 0)]


# --- queries ----------------------------------------------------------------------------

def test_contains_is_half_open():
    s = IntervalSet([(1, 2), (3, 4)])
    assert s.contains(1) and s.contains(1.999) and not s.contains(2)
    assert not s.contains(0.999) and not s.contains(2.5) and s.contains(3) and not s.contains(4)


def test_end_of_run():
    s = IntervalSet([(1, 2), (3, 4)])
    assert s.end_of_run(1) == 2 and s.end_of_run(1.5) == 2
    assert s.end_of_run(2) == 2  # the end point itself belongs to the run it closes
    assert s.end_of_run(2.5) == 2.5 and s.end_of_run(0) == 0 and s.end_of_run(9) == 9
    assert s.end_of_run(3) == 4


def test_clip_is_half_open_at_both_boundaries():
    s = IntervalSet([(1, 2), (3, 4)])
    assert s.clip(2, 3) == []            # only the touching end points: nothing inside
    assert s.clip(0, 1) == []
    assert s.clip(4, 9) == []
    assert s.clip(1.5, 3.5) == [(1.5, 2), (3, 3.5)]
    assert s.clip(0, 10) == [(1, 2), (3, 4)]
    assert s.clip(1.2, 1.8) == [(1.2, 1.8)]  # inside one span


def test_overlap_and_gaps_partition_the_query():
    s = IntervalSet([(1, 2), (3, 4)])
    assert s.overlap(0, 5) == 2 and s.gaps(0, 5) == [(0, 1), (2, 3), (4, 5)]
    assert s.overlap(1.5, 3.5) == 1 and s.gaps(1.5, 3.5) == [(2, 3)]
    assert s.overlap(1, 2) == 1 and s.gaps(1, 2) == []
    assert s.overlap(2, 3) == 0 and s.gaps(2, 3) == [(2, 3)]
    assert s.gaps(1, 4) == [(2, 3)]


@pytest.mark.parametrize("start, end", [(5, 5), (1.5, 1.5), (3.5, 1.5), (10, 0), (4, 1)])
def test_empty_and_inverted_queries_are_empty(start, end):
    """An empty or inverted query [start, end) holds nothing: no clip, no overlap, no gaps."""
    s = IntervalSet([(1, 2), (3, 4), (0.5, 6)])
    assert s.clip(start, end) == []
    assert s.overlap(start, end) == 0
    assert s.gaps(start, end) == []


def test_copy_is_independent_and_equality_is_by_spans():
    s = IntervalSet([(0, 1)])
    clone = s.copy()
    assert clone == s and clone is not s
    clone.add(5, 6)
    assert spans(s) == [(0, 1)] and spans(clone) == [(0, 1), (5, 6)]
    assert s != clone and s != [(0, 1)]


def test_as_list_is_json_friendly():
    s = IntervalSet([(3, 4), (0, 1.5)])
    assert s.as_list() == [[0, 1.5], [3, 4]]
    assert IntervalSet(tuple(x) for x in s.as_list()) == s


# --- model check: a brute-force boolean grid -----------------------------------------

CELLS = 80          # half-unit cells over [0, 40)
UNIT = 0.5

coords = st.integers(min_value=0, max_value=CELLS)            # grid coordinates (exact floats)
grid_spans = st.tuples(coords, coords)                         # may be empty or inverted


def grid_runs(grid: list[bool]) -> list[tuple[float, float]]:
    runs, i = [], 0
    while i < len(grid):
        if grid[i]:
            j = i
            while j < len(grid) and grid[j]:
                j += 1
            runs.append((i * UNIT, j * UNIT))
            i = j
        else:
            i += 1
    return runs


@settings(max_examples=150, deadline=None)
@given(st.lists(grid_spans, max_size=25), st.lists(grid_spans, min_size=1, max_size=6))
def test_interval_set_matches_a_boolean_grid(added, queries):
    s, grid = IntervalSet(), [False] * CELLS
    for a, b in added:
        s.add(a * UNIT, b * UNIT)
        for cell in range(a, b):       # empty when b <= a, like the set
            grid[cell] = True
        assert_canonical(s)
    assert spans(s) == grid_runs(grid)  # exact: every coordinate is a multiple of 0.5
    assert s.measure() == sum(grid) * UNIT
    for cell in range(-1, CELLS + 1):
        inside = 0 <= cell < CELLS and grid[cell]
        assert s.contains(cell * UNIT + UNIT / 2) == inside
        assert s.contains(cell * UNIT) == inside
    for a, b in queries:
        lo, hi = a * UNIT, b * UNIT
        cells = range(a, b)
        assert s.overlap(lo, hi) == sum(grid[c] for c in cells) * UNIT
        clip, gaps = s.clip(lo, hi), s.gaps(lo, hi)
        sub = [False] * CELLS
        for c in cells:
            sub[c] = grid[c]
        assert clip == grid_runs(sub)
        holes = [False] * CELLS
        for c in cells:
            holes[c] = not grid[c]
        assert gaps == grid_runs(holes)
        if b > a:
            # clip and gaps tile the query exactly, in order, without overlaps
            tiles = sorted(clip + gaps)
            assert tiles[0][0] == lo and tiles[-1][1] == hi
            assert all(e1 == s2 for (_, e1), (s2, _) in zip(tiles, tiles[1:]))
        else:
            assert clip == [] and gaps == []


# --- model check on arbitrary floats: sort and merge ------------------------------------

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def reference_union(raw: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted((a, b) for a, b in raw if b > a):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(finite, finite), max_size=30), st.randoms(use_true_random=False))
def test_add_matches_a_sort_and_merge_reference_in_any_order(raw, rnd):
    expected = reference_union(raw)
    s = IntervalSet(raw)
    assert spans(s) == expected
    assert_canonical(s)
    shuffled = list(raw)
    rnd.shuffle(shuffled)
    assert IntervalSet(shuffled) == s  # order of insertion does not matter
    s.add(*raw[0]) if raw else None
    assert spans(s) == expected         # adding again is idempotent


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(finite, finite), max_size=20), finite, finite)
def test_overlap_plus_gaps_is_the_query_length(raw, a, b):
    s = IntervalSet(raw)
    lo, hi = min(a, b), max(a, b)
    overlap = s.overlap(lo, hi)
    gap = sum(e - g for g, e in s.gaps(lo, hi))
    assert 0 <= overlap <= hi - lo + 1e-6 * max(1.0, abs(lo), abs(hi))
    assert overlap + gap == pytest.approx(hi - lo, rel=1e-9, abs=1e-6)
    assert all(lo <= x <= y <= hi for x, y in s.clip(lo, hi) + s.gaps(lo, hi))
    # inverted queries are empty
    if hi > lo:
        assert s.overlap(hi, lo) == 0 and s.clip(hi, lo) == [] and s.gaps(hi, lo) == []
