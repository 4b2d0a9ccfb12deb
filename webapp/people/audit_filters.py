"""The audit viewer's filters, parsed from a query string: plain values in, plain values out.

Every field is optional; a bad one is a message (a Babel msgid) for the page, never an exception.
Dates are local calendar days (the platform's time zone); `to` includes its whole day.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from webapp.people.national_id import N_

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
ACTION = re.compile(r"^[a-z0-9_]{1,64}$")
MAX_PAGE = 10_000
MAX_SPAN_DAYS = 3660


@dataclass
class AuditFilter:
    officer: str = ""          # the actor's username
    supervisee: str = ""       # the username (or id) of the person the row is about
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1
    errors: list[tuple[str, str]] = field(default_factory=list)    # (field, msgid)

    def query_args(self) -> dict[str, str]:
        """The filters as query-string arguments (for paging and export links)."""
        args = {"officer": self.officer, "supervisee": self.supervisee, "action": self.action,
                "from": self.date_from.isoformat() if self.date_from else "",
                "to": self.date_to.isoformat() if self.date_to else ""}
        return {k: v for k, v in args.items() if v}

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.query_args().items())[:500]

    def utc_range(self, zone: str) -> tuple[datetime | None, datetime | None]:
        """[start, end) in naive UTC, as AuditLog.at is stored."""
        tz = ZoneInfo(zone)

        def utc(day: date) -> datetime:
            return datetime.combine(day, time(), tz).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        return (utc(self.date_from) if self.date_from else None,
                utc(self.date_to + timedelta(days=1)) if self.date_to else None)


def _day(text: str) -> date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ValueError(text)
    day = date.fromisoformat(text)
    if not 2000 <= day.year <= 2100:
        raise ValueError(text)
    return day


def parse(args) -> AuditFilter:
    """An AuditFilter from a mapping of query arguments (request.args)."""
    result = AuditFilter()

    def text(name: str) -> str:
        return (args.get(name) or "").strip()[:200]

    officer, supervisee, action = text("officer"), text("supervisee"), text("action")
    if officer and not NAME.match(officer):
        result.errors.append(("officer", N_("An officer is given by their username.")))
    else:
        result.officer = officer
    if supervisee and not NAME.match(supervisee):
        result.errors.append(("supervisee", N_("A supervisee is given by their username.")))
    else:
        result.supervisee = supervisee
    if action and not ACTION.match(action):
        result.errors.append(("action", N_("An action is lower-case letters, digits and underscores.")))
    else:
        result.action = action
    for name, attr in (("from", "date_from"), ("to", "date_to")):
        value = text(name)
        if value:
            try:
                setattr(result, attr, _day(value))
            except ValueError:
                result.errors.append((name, N_("Dates are written YYYY-MM-DD.")))
    if result.date_from and result.date_to:
        if result.date_from > result.date_to:
            result.errors.append(("to", N_("The end date is before the start date.")))
        elif (result.date_to - result.date_from).days > MAX_SPAN_DAYS:
            result.errors.append(("to", N_("Choose at most ten years.")))
    page = text("page")
    if page:
        if page.isascii() and page.isdigit() and 1 <= int(page) <= MAX_PAGE:
            result.page = int(page)
        else:
            result.errors.append(("page", N_("No such page.")))
    return result
