"""The conference lifecycle (conferencing.lifecycle): a hand-written table of every (status, event)
pair, participation, and a check that only webapp/conferences/lifecycle.py writes either."""
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conferencing.lifecycle import (Event, Participation, Status, TransitionRefused, is_overdue, join, leave,
                                    next_status, open_for_joining)

S, E = Status, Event
# Written by hand from the product rules (README "Conferences"), not read from TRANSITIONS.
EXPECTED = {
    (S.SCHEDULED, E.HOST_ENTERS): S.LIVE, (S.SCHEDULED, E.END): None, (S.SCHEDULED, E.OVERRUN): None,
    (S.SCHEDULED, E.CANCEL): S.CANCELLED,
    (S.LIVE, E.HOST_ENTERS): S.LIVE, (S.LIVE, E.END): S.ENDED, (S.LIVE, E.OVERRUN): S.ENDED,
    (S.LIVE, E.CANCEL): S.CANCELLED,
    (S.ENDED, E.HOST_ENTERS): None, (S.ENDED, E.END): None, (S.ENDED, E.OVERRUN): None, (S.ENDED, E.CANCEL): None,
    (S.CANCELLED, E.HOST_ENTERS): None, (S.CANCELLED, E.END): None, (S.CANCELLED, E.OVERRUN): None,
    (S.CANCELLED, E.CANCEL): None,
}


@pytest.mark.parametrize("status,event", sorted(EXPECTED, key=str))
def test_every_transition(status, event):
    expected = EXPECTED[(status, event)]
    if expected is None:
        with pytest.raises(TransitionRefused):
            next_status(status, event)
    else:
        assert next_status(status.value, event.value) == expected


def test_open_for_joining_only_before_the_end():
    assert [s for s in S if open_for_joining(s)] == [S.SCHEDULED, S.LIVE]


def test_overdue_thirty_minutes_after_the_scheduled_end():
    start = datetime(2026, 12, 1, 9, 0)
    assert not is_overdue(S.LIVE, start, 60, start + timedelta(minutes=90))
    assert is_overdue(S.LIVE, start, 60, start + timedelta(minutes=90, seconds=1))
    assert not is_overdue(S.SCHEDULED, start, 60, start + timedelta(days=1))


def test_participation_join_leave_rejoin():
    t1, t2, t3 = (datetime(2026, 12, 1, 9, m) for m in (0, 10, 20))
    first = join(None, t1)
    assert first == Participation(t1, None) and first.present
    assert join(first, t2) == first                       # joining while in changes nothing
    gone = leave(first, t2)
    assert gone == Participation(t1, t2) and not gone.present
    assert leave(gone, t3) == gone                        # leaving twice keeps the first time
    assert join(gone, t3) == Participation(t1, None)      # back in, first join kept
    assert leave(None, t1) is None
    assert join(Participation(None, None), t2) == Participation(t2, None)


def test_only_the_lifecycle_service_writes_status_or_participation():
    root = Path(__file__).resolve().parents[2] / "webapp"
    pattern = re.compile(r"\.(status\s*=\s*ConferenceStatus|joined_at\s*=|left_at\s*=)|"
                         r"ConferenceParticipant\([^)]*(joined_at|left_at)\s*=")
    writers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if pattern.search(p.read_text()))
    assert writers == ["conferences/lifecycle.py"], writers
