"""Credit for a group education session (issue 16): attended wall time into study seconds.

Plain rules beside the study ledger (ledger.py) and VR credit (vr_credit.py). The attended spans
come from `conferencing.education.attended_spans` (time bracketed by passed checks with continuous
presence); the shell passes them here as plain (start, end) pairs with the wall-clock spans already
credited to the same person in the period: home study (the credited `WatchSegment`s' wall spans,
`wall_spans`), other sessions, VR sessions. In the order they apply:

* no double counting: a second already credited earns nothing again; the attended spans minus
  everything already credited is what can be credited (`IntervalSet.gaps`);
* caps, optional: at most `session_cap_s` for this session, and at most what is left of
  `daily_cap_s` after `credited_today_s` (as vr_credit's daily cap); the earliest seconds are
  credited first and the span that reaches the cap is cut there.

The result says why it is what it is: `credited`, `unattended` (no attended time), `overlap`
(everything attended was already credited), `cap` (cut by a cap).

The other order: home study settled *after* a session was credited (its pending segments are
settled at the learner's next check, possibly after the conference ended) is cut by
`beside_credited` to the wall seconds no session or VR visit has credited yet.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .intervals import IntervalSet

Span = tuple[float, float]


@dataclass(frozen=True)
class GroupCredit:
    credited_s: float
    spans: list[Span]          # the wall-clock spans credited now (sorted, disjoint)
    attended_s: float          # attended seconds (merged)
    overlap_s: float           # attended seconds already credited before
    capped_s: float            # creditable seconds cut by a cap
    reason: str                # credited | unattended | overlap | cap


def wall_spans(segments: Iterable) -> list[Span]:
    """The wall-clock spans of anything with `wall_start`/`wall_end` (ledger.WatchSegment)."""
    return [(s.wall_start, s.wall_end) for s in segments]


def credit_attendance(attended: Iterable[Span], already: Iterable[Span], session_cap_s: float | None = None,
                      daily_cap_s: float | None = None, credited_today_s: float = 0.0) -> GroupCredit:
    attended_set = IntervalSet(attended)
    already_set = IntervalSet(already)
    new: list[Span] = []
    for start, end in attended_set:
        new.extend(already_set.gaps(start, end))
    attended_s = attended_set.measure()
    creditable = sum(e - s for s, e in new)
    limit = float("inf")
    if session_cap_s is not None:
        limit = min(limit, max(0.0, session_cap_s))
    if daily_cap_s is not None:
        limit = min(limit, max(0.0, daily_cap_s - credited_today_s))
    spans, total = [], 0.0
    for start, end in new:
        room = limit - total
        if room <= 0:
            break
        end = min(end, start + room)
        spans.append((start, end))
        total += end - start
    capped = creditable - total
    if attended_s <= 0:
        reason = "unattended"
    elif creditable <= 0:
        reason = "overlap"
    elif capped > 0:
        reason = "cap"
    else:
        reason = "credited"
    return GroupCredit(total, spans, attended_s, attended_s - creditable, capped, reason)


def beside_credited(credited_s: float, wall: Span, taken: Iterable[Span]) -> float:
    """The credit of one settled home-study segment (wall span `wall`, `credited_s` from the
    ledger) beside wall time already credited elsewhere (`taken`: group sessions, VR): at most the
    segment's wall seconds that nothing has credited yet, so a minute never counts twice whichever
    is credited first."""
    start, end = wall
    free = sum(e - s for s, e in IntervalSet(taken).gaps(start, end))
    return max(0.0, min(credited_s, free))
