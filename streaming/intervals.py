"""A small set of half-open real intervals [start, end), kept merged and sorted.

The watch ledger uses it twice: for the media seconds a learner has covered
(unique coverage), and for the wall-clock spans in which presence was verified.
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Iterable, Iterator

Interval = tuple[float, float]


class IntervalSet:
    __slots__ = ("_spans",)

    def __init__(self, spans: Iterable[Interval] = ()):
        self._spans: list[Interval] = []
        for start, end in spans:
            self.add(start, end)

    def __iter__(self) -> Iterator[Interval]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)

    def __repr__(self) -> str:
        return f"IntervalSet({self._spans!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntervalSet) and self._spans == other._spans

    def copy(self) -> "IntervalSet":
        clone = IntervalSet()
        clone._spans = list(self._spans)
        return clone

    def add(self, start: float, end: float) -> None:
        """Add [start, end); empty or inverted spans are ignored."""
        if not end > start:
            return
        spans = self._spans
        # First span whose end reaches start (touching spans merge).
        i = bisect_left([e for _, e in spans], start)
        j = i
        while j < len(spans) and spans[j][0] <= end:
            start = min(start, spans[j][0])
            end = max(end, spans[j][1])
            j += 1
        spans[i:j] = [(start, end)]

    def measure(self) -> float:
        return sum(e - s for s, e in self._spans)

    def overlap(self, start: float, end: float) -> float:
        """Length of [start, end) already inside the set."""
        return sum(e - s for s, e in self.clip(start, end))

    def clip(self, start: float, end: float) -> list[Interval]:
        """The parts of the set that fall inside [start, end)."""
        if not end > start:  # an empty or inverted query holds nothing (not a negative length)
            return []
        out = []
        for s, e in self._spans:
            if e <= start:
                continue
            if s >= end:
                break
            out.append((max(s, start), min(e, end)))
        return out

    def gaps(self, start: float, end: float) -> list[Interval]:
        """The parts of [start, end) not in the set."""
        out, cursor = [], start
        for s, e in self.clip(start, end):
            if s > cursor:
                out.append((cursor, s))
            cursor = max(cursor, e)
        if cursor < end:
            out.append((cursor, end))
        return out

    def contains(self, point: float) -> bool:
        return any(s <= point < e for s, e in self._spans)

    def end_of_run(self, point: float) -> float:
        """End of the span holding `point`, or `point` itself when outside."""
        for s, e in self._spans:
            if s <= point <= e:
                return e
        return point

    def as_list(self) -> list[list[float]]:
        return [[s, e] for s, e in self._spans]
