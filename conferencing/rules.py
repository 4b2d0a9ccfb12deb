"""Who may see and join a conference, and when its reminders go out.

Pure code on plain values: the web layer passes units as materialised paths ("/1/4/9/",
see webapp.models.OrgUnit) and levels (1 ministry .. 5 township).

A conference belongs to a host unit. It includes:
* the officers of the host unit itself;
* the officers of units in the host's subtree at the chosen levels (a subset of 2..5, each
  deeper than the host's level);
* optionally the supervisees of township units (level 5) in the host's subtree.

So a participant sees only conferences of their own chain of units (hosted by their unit or one
above it): an officer of another branch, or of a unit above the host, never sees it.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

MIN_LEVEL, MAX_LEVEL = 1, 5
TOWNSHIP = 5
DEFAULT_REMINDERS = (timedelta(hours=24), timedelta(hours=1), timedelta(minutes=10))


def normalise_path(path: str) -> str:
    """"/1/4/9" or "1/4/9/" -> "/1/4/9/"; a prefix test on normalised paths is a subtree test."""
    parts = [p for p in (path or "").split("/") if p]
    if not parts:
        raise ValueError(f"not a unit path: {path!r}")
    return "/" + "/".join(parts) + "/"


def in_subtree(path: str, root: str) -> bool:
    """Whether the unit at `path` is `root` or below it ("/1/45/" is not under "/1/4/")."""
    return normalise_path(path).startswith(normalise_path(root))


@dataclass(frozen=True)
class ConferenceScope:
    host_unit_path: str
    host_level: int
    levels: frozenset[int] = frozenset()
    include_supervisees: bool = False

    def __post_init__(self):
        object.__setattr__(self, "host_unit_path", normalise_path(self.host_unit_path))
        object.__setattr__(self, "levels", frozenset(int(level) for level in self.levels))
        if not MIN_LEVEL <= self.host_level <= MAX_LEVEL:
            raise ValueError(f"host level {self.host_level} is not 1..5")
        allowed = set(range(max(2, self.host_level + 1), MAX_LEVEL + 1))
        wrong = sorted(self.levels - allowed)
        if wrong:
            raise ValueError(f"levels {wrong} are not below the host's level {self.host_level}")


def levels_to_text(levels: Iterable[int]) -> str:
    """The stored form of the included levels: "3,4,5" ("" for none)."""
    return ",".join(str(level) for level in sorted({int(x) for x in levels}))


def levels_from_text(text: str | None) -> frozenset[int]:
    return frozenset(int(part) for part in (text or "").split(",") if part.strip())


def may_join(conference: ConferenceScope, user_unit_path: str, user_level: int, is_supervisee: bool) -> bool:
    """Whether a user (by the unit they belong to) may see and join the conference."""
    try:
        path = normalise_path(user_unit_path)
    except ValueError:
        return False
    if not path.startswith(conference.host_unit_path):
        return False                                   # another branch, or above the host
    if is_supervisee:
        return conference.include_supervisees and user_level == TOWNSHIP
    if path == conference.host_unit_path:
        return user_level == conference.host_level
    return user_level in conference.levels and user_level > conference.host_level


@dataclass(frozen=True)
class ParticipantUnit:
    unit: Any              # whatever was passed in (an OrgUnit row, a test value)
    officers: bool         # the unit's officers take part
    supervisees: bool      # the unit's supervisees take part


def participant_units(conference: ConferenceScope, units: Iterable[Any]) -> list[ParticipantUnit]:
    """The units taking part, among `units` (anything with `.path` and `.level`), by path."""
    out = []
    for unit in units:
        try:
            path = normalise_path(unit.path)
        except ValueError:
            continue
        if not path.startswith(conference.host_unit_path):
            continue
        officers = may_join(conference, path, unit.level, is_supervisee=False)
        supervisees = may_join(conference, path, unit.level, is_supervisee=True)
        if officers or supervisees:
            out.append(ParticipantUnit(unit, officers, supervisees))
    return sorted(out, key=lambda p: normalise_path(p.unit.path))


def visible_conferences(conferences: Iterable[tuple[Any, ConferenceScope]], user_unit_path: str, user_level: int,
                        is_supervisee: bool) -> list[Any]:
    """The conferences (given as (conference, scope) pairs) a user may see."""
    return [conf for conf, scope in conferences if may_join(scope, user_unit_path, user_level, is_supervisee)]


@dataclass(frozen=True)
class Reminder:
    before: timedelta      # how long before the start
    at: datetime


def reminder_times(starts_at: datetime, now: datetime,
                   before: Sequence[timedelta] = DEFAULT_REMINDERS) -> list[Reminder]:
    """The reminders still to send (strictly after `now`, before the start), earliest first.
    A conference scheduled 30 minutes ahead gets only its 10-minute reminder."""
    out = {Reminder(b, starts_at - b) for b in before if b > timedelta(0) and now < starts_at - b}
    return sorted(out, key=lambda r: r.at)


def room_chain(conference: ConferenceScope, user_ancestors: Sequence[tuple[str, int]]) -> list[str]:
    """The media rooms from the host's down to the user's own: the host unit's room, then one room
    per unit on the user's chain at an included level (levels left out are skipped, so a township
    room of a province conference with levels {5} relays straight from the province room).

    `user_ancestors` are (path, level) of the user's unit and every unit above it, in any order.
    The last path is the room the user joins; a user outside the conference gets ValueError."""
    chain = [conference.host_unit_path]
    for path, level in sorted(user_ancestors, key=lambda pair: len(normalise_path(pair[0]))):
        path = normalise_path(path)
        if path != conference.host_unit_path and path.startswith(conference.host_unit_path) \
                and level in conference.levels:
            chain.append(path)
    if not any(normalise_path(p) == conference.host_unit_path or
               normalise_path(p).startswith(conference.host_unit_path) for p, _ in user_ancestors):
        raise ValueError("the user is outside the conference's subtree")
    return chain
