"""Byte ranges (RFC 9110 §14) for the embedded media route, decided as nginx decides them.

In production nginx sends course media; the embedded route (webapp/courses/media_views.py) must
answer the same Range requests the same way. Werkzeug's own range support covers one range only:
it answers 416 to an unknown unit (which RFC 9110 §14.2 says to ignore), to several ranges and to
a suffix longer than the file, and it takes a weak ETag or a later date as a match for If-Range.
So the decision is made here, and the route lets Werkzeug send a whole file or a single range.

`evaluate(range_header, size)` reads the header the way nginx's range filter does:

* not `bytes=<something>` (another unit, no `=`, nothing after it): no range request: IGNORE,
  the whole representation with 200;
* a range-spec that is not `first-last`, `first-` or `-suffix` (letters, `5-1`, an empty list
  element): UNSATISFIABLE (416, `Content-Range: bytes */size`), as nginx and Werkzeug do;
* each range is clipped to the file, a suffix longer than the file is the whole file; ranges
  that start at or past the end are dropped; none left: UNSATISFIABLE;
* on a zero-length file a range starting at 0 (or a suffix) is IGNOREd (200, empty), as nginx;
* several ranges are kept in the order asked, overlaps included (RFC 9110 §14.6 lets a server
  coalesce; nginx does not, and neither do we), and sent as multipart/byteranges; if together
  they ask for more bytes than the file has, or for more than MAX_RANGES parts, the Range is
  IGNOREd (the whole file once, §14.2: a guard against overlapping or many small ranges).

Three choices differ from nginx, on input no player sends: a position of more than 18 digits is
not refused as an overflow but read as "past any file" (so `bytes=0-99999999999999999999` is
the whole file, as RFC 9110 reads it), a tab counts as whitespace like a space (OWS), and more
than MAX_RANGES ranges get the whole file (nginx's default sends any number of parts).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from werkzeug.http import parse_date

MAX_RANGES = 200        # Apache's MaxRanges default; nginx's max_ranges is unlimited by default
_HUGE = 10 ** 18        # stands for any position of more than 18 digits: past the end of any file
_SPEC = re.compile(r"[ \t]*(?:(\d+)[ \t]*-[ \t]*(\d*)|-(\d+))[ \t]*", re.ASCII)
CHUNK = 64 * 1024


@dataclass(frozen=True)
class RangePlan:
    kind: str                                   # "ignore" | "unsatisfiable" | "ranges"
    ranges: tuple[tuple[int, int], ...] = ()    # (start, stop), stop exclusive, for "ranges"


IGNORE = RangePlan("ignore")
UNSATISFIABLE = RangePlan("unsatisfiable")


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else _HUGE


def evaluate(header: str | None, size: int) -> RangePlan:
    """What to send for the Range header `header` of a `size`-byte representation."""
    header = (header or "").strip(" \t")     # a field value has no outer whitespace (§5.5)
    if len(header) < 7 or header[:6].lower() != "bytes=":
        return IGNORE
    ranges: list[tuple[int, int]] = []
    total = 0
    for element in header[6:].split(","):
        match = _SPEC.fullmatch(element)
        if match is None:
            return UNSATISFIABLE
        first, last, suffix = match.groups()
        if suffix is not None:
            start, stop = max(0, size - _number(suffix)), size
        else:
            start = _number(first)
            stop = min(_number(last) + 1, size) if last else size
        if start < stop:
            ranges.append((start, stop))
            total += stop - start
            if len(ranges) > MAX_RANGES:
                return IGNORE
        elif start == 0:
            return IGNORE   # only on a zero-length file: nothing to cut, send it (nginx)
    if not ranges:
        return UNSATISFIABLE
    return IGNORE if total > size else RangePlan("ranges", tuple(ranges))


def if_range_holds(if_range: str, etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110 §13.1.5: an entity-tag matches only by strong comparison with the current ETag
    (a weak tag never does), a date only if it is exactly Last-Modified."""
    value = if_range.strip(" \t")
    if value.endswith('"'):
        return bool(etag) and not etag.startswith("W/") and value == etag
    date = parse_date(value)
    return date is not None and last_modified is not None and date == parse_date(last_modified)


def multipart(path: str | Path, ranges: tuple[tuple[int, int], ...], size: int, content_type: str,
              boundary: str) -> tuple[int, Iterator[bytes]]:
    """(Content-Length, body) of a multipart/byteranges answer (RFC 9110 §14.6) with one part per
    range, in the order given. The file is opened when the body is first read (never for HEAD)."""
    heads = [(f"\r\n--{boundary}\r\nContent-Type: {content_type}\r\n"
              f"Content-Range: bytes {start}-{stop - 1}/{size}\r\n\r\n").encode("latin-1")
             for start, stop in ranges]
    tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
    length = sum(len(head) + stop - start for head, (start, stop) in zip(heads, ranges)) + len(tail)

    def body() -> Iterator[bytes]:
        with open(path, "rb") as fh:
            for head, (start, stop) in zip(heads, ranges):
                yield head
                fh.seek(start)
                left = stop - start
                while left > 0:
                    chunk = fh.read(min(CHUNK, left))
                    if not chunk:
                        raise OSError(f"{path} shrank while being sent")
                    left -= len(chunk)
                    yield chunk
            yield tail

    return length, body()
