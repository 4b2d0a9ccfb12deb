"""streaming.byte_ranges: the Range decisions of the embedded media route (nginx's, RFC 9110 §14).

tests/integration/test_media_ranges.py compares the route with real nginx on the same file; these
pin the decisions themselves, the two deliberate differences from nginx and the multipart framing.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.byte_ranges import IGNORE, MAX_RANGES, UNSATISFIABLE, RangePlan, evaluate, if_range_holds, multipart

SIZE = 1000


def ranges(*pairs):
    return RangePlan("ranges", tuple(pairs))


@pytest.mark.parametrize("header,size,plan", [
    (None, SIZE, IGNORE),
    ("bytes=0-99", SIZE, ranges((0, 100))),
    ("bytes=0-0", SIZE, ranges((0, 1))),
    ("bytes=100-", SIZE, ranges((100, SIZE))),
    ("bytes=-100", SIZE, ranges((900, SIZE))),
    ("bytes=-5000", SIZE, ranges((0, SIZE))),                 # suffix longer than the file: all of it
    ("bytes=990-5000", SIZE, ranges((990, SIZE))),            # last-pos past the end: clipped
    ("Bytes=1-2", SIZE, ranges((1, 3))),                       # the unit is case-insensitive
    (" bytes= 1 - 2 , 4-5 ", SIZE, ranges((1, 3), (4, 6))),   # whitespace as nginx allows it
    ("bytes=1000-", SIZE, UNSATISFIABLE),
    ("bytes=2000-3000", SIZE, UNSATISFIABLE),
    ("bytes=-0", SIZE, UNSATISFIABLE),
    ("bytes=5-1", SIZE, UNSATISFIABLE),
    ("bytes=abc", SIZE, UNSATISFIABLE),
    ("bytes=--1", SIZE, UNSATISFIABLE),
    ("bytes=- 1", SIZE, UNSATISFIABLE),
    ("bytes=0-5,,", SIZE, UNSATISFIABLE),
    ("bytes=0-1,x", SIZE, UNSATISFIABLE),                     # one bad range-spec spoils the set
    ("bytes=+1-2", SIZE, UNSATISFIABLE),
    ("bytes=１-2", SIZE, UNSATISFIABLE),                       # only ASCII digits
    ("items=0-10", SIZE, IGNORE),                              # unknown unit: no range request
    ("bytes", SIZE, IGNORE),
    ("bytes=", SIZE, IGNORE),
    ("bytes =0-1", SIZE, IGNORE),
    ("\x00bytes=0-1", SIZE, IGNORE),
    ("", SIZE, IGNORE),
    ("bytes=0-1,5-9", SIZE, ranges((0, 2), (5, 10))),
    ("bytes=0-9,5-14", SIZE, ranges((0, 10), (5, 15))),      # overlaps kept, as asked
    ("bytes=500-599,0-1", SIZE, ranges((500, 600), (0, 2))), # order kept
    ("bytes=0-1,5000-", SIZE, ranges((0, 2))),                # unsatisfiable ones dropped
    ("bytes=5000-,6000-", SIZE, UNSATISFIABLE),
    ("bytes=0-999,0-999", SIZE, IGNORE),                      # more than the file: the file once
    ("bytes=0-,0-", SIZE, IGNORE),
    ("bytes=0-,0-,x", SIZE, UNSATISFIABLE),                   # as nginx: the syntax first
    ("bytes=0-", 0, IGNORE),                                  # zero-length file: 200, empty
    ("bytes=0-10", 0, IGNORE),
    ("bytes=-10", 0, IGNORE),
    ("bytes=1-", 0, UNSATISFIABLE),
])
def test_evaluate(header, size, plan):
    assert evaluate(header, size) == plan


def test_deliberate_differences_from_nginx():
    # nginx refuses a position past 2**63-1 as an overflow (416); RFC 9110 reads it as past the end.
    assert evaluate("bytes=0-" + "9" * 30, SIZE) == ranges((0, SIZE))
    assert evaluate("bytes=-" + "9" * 5000, SIZE) == ranges((0, SIZE))
    assert evaluate("bytes=" + "1" * 5000 + "-", SIZE) == UNSATISFIABLE
    # A tab is whitespace (OWS) like a space; nginx knows only the space.
    assert evaluate("bytes=0-1,\t5-9", SIZE) == ranges((0, 2), (5, 10))
    # nginx sends any number of parts; more than MAX_RANGES get the whole file.
    many = ",".join(f"{i}-{i}" for i in range(0, 2 * (MAX_RANGES + 1), 2))
    assert evaluate("bytes=" + many, SIZE) == IGNORE
    assert len(evaluate("bytes=" + many.rsplit(",", 1)[0], SIZE).ranges) == MAX_RANGES


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.lists(st.sampled_from(["bytes=", "-", ",", " ", "0", "7", "999", "1000"]),
                                       max_size=12).map("".join),
       st.integers(0, 2000))
def test_evaluate_never_raises_and_stays_inside_the_file(header, size):
    plan = evaluate(header, size)
    assert plan in (IGNORE, UNSATISFIABLE) or plan.kind == "ranges"
    if plan.kind == "ranges":
        assert 1 <= len(plan.ranges) <= MAX_RANGES
        assert all(0 <= start < stop <= size for start, stop in plan.ranges)
        assert sum(stop - start for start, stop in plan.ranges) <= size


ETAG, LAST_MODIFIED = '"1700000000.0-1000-123"', "Tue, 14 Nov 2023 22:13:20 GMT"


@pytest.mark.parametrize("if_range,holds", [
    (ETAG, True),
    ('"other"', False),
    ("W/" + ETAG, False),                          # If-Range compares strongly: a weak tag never matches
    (LAST_MODIFIED, True),
    ("Tuesday, 14-Nov-23 22:13:20 GMT", True),     # the same date in RFC 850 form
    ("Tue, 14 Nov 2023 22:13:21 GMT", False),      # later than Last-Modified: not a match either
    ("Tue, 14 Nov 2023 22:13:19 GMT", False),
    ("not a date", False),
    ("", False),
])
def test_if_range(if_range, holds):
    assert if_range_holds(if_range, ETAG, LAST_MODIFIED) is holds


def test_if_range_never_matches_a_weak_or_missing_etag():
    assert not if_range_holds('W/"x"', 'W/"x"', LAST_MODIFIED)
    assert not if_range_holds('"x"', None, None)
    assert not if_range_holds(LAST_MODIFIED, ETAG, None)


def test_multipart_body_and_length(tmp_path):
    path = tmp_path / "f.mp4"
    data = bytes(range(256)) * 4
    path.write_bytes(data)
    length, body = multipart(path, ((0, 2), (1000, 1024), (5, 10)), len(data), "video/mp4", "BOUNDARY")
    out = b"".join(body)
    assert length == len(out)
    assert out == (b"\r\n--BOUNDARY\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-1/1024\r\n\r\n" + data[0:2]
                   + b"\r\n--BOUNDARY\r\nContent-Type: video/mp4\r\nContent-Range: bytes 1000-1023/1024\r\n\r\n"
                   + data[1000:] + b"\r\n--BOUNDARY\r\nContent-Type: video/mp4\r\nContent-Range: bytes 5-9/1024\r\n\r\n"
                   + data[5:10] + b"\r\n--BOUNDARY--\r\n")


def test_multipart_opens_the_file_only_when_read(tmp_path):
    length, body = multipart(tmp_path / "absent.mp4", ((0, 1), (3, 4)), 10, "video/mp4", "b")
    assert length > 0   # a HEAD answer never reads the body
    with pytest.raises(FileNotFoundError):
        next(body)


def test_multipart_refuses_to_send_short_parts_of_a_file_that_shrank(tmp_path):
    path = tmp_path / "f.mp4"
    path.write_bytes(b"0123")
    _, body = multipart(path, ((0, 1), (2, 10)), 10, "video/mp4", "b")
    with pytest.raises(OSError, match="shrank"):
        b"".join(body)
