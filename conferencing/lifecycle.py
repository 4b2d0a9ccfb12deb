"""A conference's lifecycle, and a person's participation in it: the allowed transitions.

    scheduled --host_enters--> live --end / overrun--> ended
        |                        |
        +--------cancel----------+-----> cancelled

Entering a live conference again changes nothing. Ended and cancelled are final. The web side
(webapp/conferences/lifecycle.py) performs every status and participation write through these.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


class Status(str, enum.Enum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Event(str, enum.Enum):
    HOST_ENTERS = "host_enters"
    END = "end"                  # the host presses 结束会议
    OVERRUN = "overrun"          # the scheduler: live well past the scheduled end
    CANCEL = "cancel"            # an officer cancels it from its page


TRANSITIONS: dict[tuple[Status, Event], Status] = {
    (Status.SCHEDULED, Event.HOST_ENTERS): Status.LIVE,
    (Status.LIVE, Event.HOST_ENTERS): Status.LIVE,
    (Status.LIVE, Event.END): Status.ENDED,
    (Status.LIVE, Event.OVERRUN): Status.ENDED,
    (Status.SCHEDULED, Event.CANCEL): Status.CANCELLED,
    (Status.LIVE, Event.CANCEL): Status.CANCELLED,
}
FINAL = frozenset({Status.ENDED, Status.CANCELLED})
OVERRUN_GRACE_S = 30 * 60


class TransitionRefused(ValueError):
    def __init__(self, status: Status, event: Event):
        super().__init__(f"{event.value} is not allowed when the conference is {status.value}")
        self.status, self.event = status, event


def next_status(status: Status | str, event: Event | str) -> Status:
    status, event = Status(status), Event(event)
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise TransitionRefused(status, event) from None


def allows(status: Status | str, event: Event | str) -> bool:
    return (Status(status), Event(event)) in TRANSITIONS


def open_for_joining(status: Status | str) -> bool:
    return Status(status) in (Status.SCHEDULED, Status.LIVE)


def is_overdue(status: Status | str, starts_at: datetime, duration_min: int, now: datetime,
               grace_s: float = OVERRUN_GRACE_S) -> bool:
    return Status(status) == Status.LIVE and starts_at + timedelta(minutes=duration_min, seconds=grace_s) < now


@dataclass(frozen=True)
class Participation:
    joined_at: datetime | None = None
    left_at: datetime | None = None

    @property
    def present(self) -> bool:
        return self.joined_at is not None and self.left_at is None


def join(current: Participation | None, now: datetime) -> Participation:
    """Idempotent: joining while in changes nothing; joining again after leaving clears left_at
    (the first joined_at is kept)."""
    if current is None or current.joined_at is None:
        return Participation(joined_at=now, left_at=None)
    return replace(current, left_at=None)


def leave(current: Participation | None, now: datetime) -> Participation | None:
    """Leaving when not in changes nothing."""
    if current is None or not current.present:
        return current
    return replace(current, left_at=now)
