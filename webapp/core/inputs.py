"""Bounds on what a client may send, in one place (issue 12).

* Integers: an id is 1 .. 2^31-1, what the INTEGER columns of every table hold on PostgreSQL (a
  larger one raised "integer out of range" there, a 500, and OverflowError in SQLite's driver from
  2^63; tests/fuzz found the PostgreSQL case). `BoundedIntConverter` replaces Flask's "int" URL
  converter, so an `<int:...>` of 2^31 or more answers 404; `bounded_int` / `parse_int` bound ids
  from JSON bodies, query strings and form fields.
* Numbers: `to_float` turns any JSON number into a float without OverflowError (a 400-digit
  integer becomes ±inf, which the rules refuse as not finite); `finite_number` accepts only a
  finite number in a range.
* JSON nesting: `too_deep` pre-scans a text for more than `limit` levels of [ and {; Python's
  parser raised RecursionError (a 500) at about 1,000. `BoundedJSONProvider` (request bodies,
  `request.get_json`) and `SocketJSON` (Socket.IO packets) use it.
"""
from __future__ import annotations

import json
import math
import re

from flask.json.provider import DefaultJSONProvider
from socketio.packet import BINARY_EVENT, EVENT, Packet
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1          # INTEGER (PostgreSQL: 4 bytes); no table has a BIGINT id
MAX_JSON_DEPTH = 32


def bounded_int(value: object, minimum: int = 1, maximum: int = MAX_ID) -> int | None:
    """`value` if it is an int (not a bool) within [minimum, maximum], else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        return None
    return value


def parse_int(text: object, minimum: int = 1, maximum: int = MAX_ID) -> int | None:
    """A decimal integer in a query string or form field, within bounds; None otherwise."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if not text or len(text) > 20 or not text.isascii() or not text.lstrip("-").isdigit():
        return None
    return bounded_int(int(text), minimum, maximum)


def to_float(value: float) -> float:
    """A JSON number as a float: an integer too large for a float becomes ±inf (never OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def finite_number(value: object, minimum: float = -1e15, maximum: float = 1e15) -> float | None:
    """`value` as a float if it is a finite int or float (not a bool) in [minimum, maximum], else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = to_float(value)
    if not math.isfinite(number) or not minimum <= number <= maximum:
        return None
    return number


def _regex_at_most(digits: str) -> str:
    """A regular expression for the decimal numbers 0 .. int(digits), without leading zeros
    beyond its length: shorter numbers, or as long and below it digit by digit, or it."""
    n = len(digits)
    alternatives = [rf"\d{{1,{n - 1}}}"] if n > 1 else []
    for i, digit in enumerate(digits):
        if digit != "0":
            rest = n - i - 1
            alternatives.append(digits[:i] + ("0" if digit == "1" else f"[0-{int(digit) - 1}]") +
                                (rf"\d{{{rest}}}" if rest else ""))
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


class BoundedIntConverter(IntegerConverter):
    """Flask's `int` converter, capped at MAX_ID. The cap is in the regular expression, so a
    larger path segment matches no rule at all: 404 (a check after matching made werkzeug
    answer 405 where another rule of the same path takes another method)."""

    regex = _regex_at_most(str(MAX_ID))

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = None,
                 signed: bool = False) -> None:
        if max is None or max > MAX_ID:
            max = MAX_ID
        if min is None and signed:
            min = -MAX_ID - 1
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
        if signed:
            self.regex = r"-?" + _regex_at_most(str(MAX_ID + 1))   # to_python checks the bounds exactly


# --- JSON nesting ------------------------------------------------------------------------------

_TOKENS_STR = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_TOKENS_BYTES = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class JSONTooDeep(ValueError):
    """A JSON text nested deeper than allowed (a ValueError: parsers' callers treat it as bad JSON)."""


def too_deep(text: str | bytes | bytearray, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `text` opens more than `limit` arrays/objects inside each other (brackets inside
    strings do not count). Linear; a text with no more than `limit` brackets is not scanned."""
    if isinstance(text, (bytes, bytearray)):
        if text.count(b"[") + text.count(b"{") <= limit:
            return False
        tokens, opening, closing = _TOKENS_BYTES, (b"[", b"{"), (b"]", b"}")
    else:
        if text.count("[") + text.count("{") <= limit:
            return False
        tokens, opening, closing = _TOKENS_STR, ("[", "{"), ("]", "}")
    depth = 0
    for match in tokens.finditer(text):
        token = match.group()
        if token in opening:
            depth += 1
            if depth > limit:
                return True
        elif token in closing:
            depth -= 1
    return False


# --- text no column can store ------------------------------------------------------------------
# JSON may spell a NUL character (\u0000) and an unpaired UTF-16 surrogate (\ud800); Python's parser
# also turns UTF-8-encoded surrogates in bytes into them. PostgreSQL refuses NUL in any text value
# and UTF-8 (every driver) has no surrogates: such a string reaching a query or a row was a 500.
_MAYBE_UNSTORABLE_STR = re.compile(r"\\u(?:0000|[dD][89a-fA-F])|[\x00\ud800-\udfff]")
_MAYBE_UNSTORABLE_BYTES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


class UnstorableText(ValueError):
    """A JSON text holding a NUL character or an unpaired surrogate (refused like bad JSON)."""


def maybe_unstorable(text: str | bytes | bytearray) -> bool:
    """A cheap pre-scan of a JSON text: False when no string of it can hold NUL or a surrogate."""
    pattern = _MAYBE_UNSTORABLE_STR if isinstance(text, str) else _MAYBE_UNSTORABLE_BYTES
    return pattern.search(text) is not None


def unstorable(value: object) -> bool:
    """Whether a decoded JSON value holds a string (or key) with NUL or an unpaired surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                return True
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return False


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, refusing texts nested deeper than `max_depth` before parsing them,
    and texts whose strings hold NUL or unpaired surrogates (request.get_json: silent=True gives
    None, otherwise a 400)."""

    max_depth = MAX_JSON_DEPTH

    def loads(self, s: str | bytes, **kwargs):
        if too_deep(s, self.max_depth):
            raise JSONTooDeep(f"JSON nested deeper than {self.max_depth} levels")
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:     # a limit above the interpreter's: still a bad request
            raise JSONTooDeep("JSON nested too deeply") from None
        if maybe_unstorable(s) and unstorable(value):
            raise UnstorableText("JSON text with a NUL character or an unpaired surrogate")
        return value


_EVENT_NAME = re.compile(r'\[\s*("(?:[^"\\]|\\.){0,100}")')


class SocketJSON:
    """The JSON module of Socket.IO packets (python-socketio's `json=` / Packet.json). A packet
    nested deeper than MAX_JSON_DEPTH, or holding a string with NUL or an unpaired surrogate, keeps
    its event name and loses its payload (None), so the event's handler answers its own
    "bad_field" error instead of the packet being dropped (or the string reaching the database)."""

    max_depth = MAX_JSON_DEPTH

    @staticmethod
    def dumps(*args, **kwargs) -> str:
        return json.dumps(*args, **kwargs)

    @classmethod
    def loads(cls, s, *args, **kwargs):
        if too_deep(s, cls.max_depth):
            match = _EVENT_NAME.match(s if isinstance(s, str) else s.decode("utf-8", "replace"))
            if match is None:
                raise JSONTooDeep("Socket.IO payload nested too deeply")
            return [json.loads(match.group(1)), None]
        value = json.loads(s, *args, **kwargs)
        if maybe_unstorable(s) and unstorable(value):
            return [value[0], None] if isinstance(value, list) and value and isinstance(value[0], str) else None
        return value


class BoundedPacket(Packet):
    """Socket.IO packets decoded with SocketJSON (python-socketio's `serializer=`).

    Every event of ours takes exactly one argument (its payload): an event packet that carries none
    gets None and one that carries more loses the extra ones, so each handler sees one payload and
    answers it. (An `emit("heartbeat")` with no data raised TypeError in the raw heartbeat handler
    and was never answered; an extra argument made every Flask-SocketIO handler fail with
    TypeError, answered "internal" with a traceback in the log. tests/fuzz found both.)"""

    json = SocketJSON

    def decode(self, encoded_packet):
        attachments = super().decode(encoded_packet)
        data = self.data
        if self.packet_type in (EVENT, BINARY_EVENT) and isinstance(data, list) and data and \
                isinstance(data[0], str) and len(data) != 2:
            self.data = [data[0], data[1] if len(data) > 1 else None]
        return attachments
