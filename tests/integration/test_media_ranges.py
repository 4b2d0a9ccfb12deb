"""Byte ranges to RFC 9110 on the course media route, and paths that try to escape."""
from __future__ import annotations

import getpass
import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from werkzeug.http import http_date, parse_date, parse_options_header

from streaming import signed_urls
from tests.conftest import make_course, user

BODY = bytes(range(256)) * 400
SIZE = len(BODY)


@pytest.fixture
def media(app, db, client_for):
    course = make_course(app, db)
    return client_for("zhangsan"), f"/media/{course.id}/source.mp4", course


def test_whole_file_has_etag_and_accept_ranges(media):
    client, url, _ = media
    response = client.c.get(url)
    assert response.status_code == 200
    assert response.data == BODY
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"]
    assert response.headers["Content-Type"] == "video/mp4"


@pytest.mark.parametrize("header,start,end", [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, SIZE - 1),
    ("bytes=-500", SIZE - 500, SIZE - 1),
    ("bytes=1000-999999999", 1000, SIZE - 1),
    ("bytes=0-0", 0, 0),
])
def test_satisfiable_ranges_get_206(media, header, start, end):
    client, url, _ = media
    response = client.c.get(url, headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response.data == BODY[start:end + 1]
    assert int(response.headers["Content-Length"]) == end - start + 1


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}"])
def test_unsatisfiable_range_gets_416_with_size(media, header):
    client, url, _ = media
    response = client.c.get(url, headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("header", ["bytes=abc", "bytes=5-1", "items=0-5", "bytes=--1", "bytes=", "bytes=0-5,,",
                                    "bytes=" + "1" * 5000 + "-", "\x00bytes=0-1"])
def test_malformed_ranges_are_ignored_or_refused_never_crash(media, header):
    """RFC 9110 §14.2: a server may ignore a Range it cannot parse and send the whole file."""
    client, url, _ = media
    response = client.c.get(url, headers={"Range": header})
    assert response.status_code in (200, 416)
    if response.status_code == 200:
        assert response.data == BODY


def test_if_range_with_current_etag_gives_range_and_stale_etag_gives_whole(media):
    client, url, _ = media
    etag = client.c.get(url).headers["ETag"]
    fresh = client.c.get(url, headers={"Range": "bytes=10-19", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.data == BODY[10:20]
    stale = client.c.get(url, headers={"Range": "bytes=10-19", "If-Range": '"not-the-etag"'})
    assert stale.status_code == 200 and stale.data == BODY


def test_if_none_match_gives_304(media):
    client, url, _ = media
    etag = client.c.get(url).headers["ETag"]
    assert client.c.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_playlist_content_type(media):
    client, _, course = media
    response = client.c.get(f"/media/{course.id}/master.m3u8")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/vnd.apple.mpegurl")


@pytest.mark.parametrize("relpath", ["../test-course/source.mp4", "..%2Fsecret_key", "%2e%2e/%2e%2e/secret_key",
                                     "v360/../../../instance/secret_key", ".hidden.mp4", "source.mp4%00.m3u8",
                                     "nothing.mp4", "master.exe", "/etc/passwd", "v360//index.m3u8"])
def test_paths_never_escape_the_course_folder(media, relpath):
    client, _, course = media
    response = client.c.get(f"/media/{course.id}/{relpath}", follow_redirects=True)
    assert response.status_code == 404  # (Werkzeug first merges "//" with a 308 to a path inside /media/<id>/)


def test_unit_resolver_refuses_symlink_escape(app, media, tmp_path):
    from streaming.media_files import MediaPathError, resolve
    _, _, course = media
    secret = tmp_path / "outside.mp4"
    secret.write_bytes(b"secret")
    link = tmp_path / "media" / course.slug / "link.mp4"
    link.symlink_to(secret)
    with pytest.raises(MediaPathError):
        resolve(app.config["MEDIA_ROOT"], course.slug, "link.mp4")


# --- Conformance with nginx on the same file ----------------------------------------------------
# The production path serves these files with nginx (deploy/nginx.conf.template); the embedded
# route must give the same answers. Each request goes to both; what is compared is what a client
# relies on: status, Content-Range, Content-Length and the bytes (for multipart/byteranges: each
# part's Content-Type, Content-Range and bytes, not the boundary). The bodies of 416 pages and
# ETag values are the servers' own and are not compared.

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LAST = SIZE - 1

# (case id, method, file, request headers); {etag}, {weak_etag}, {last_modified}, {earlier} and
# {later} stand for the answering server's own validators of the file.
CONFORMANCE = [
    ("no-range", "GET", "source.mp4", {}),
    ("first-100", "GET", "source.mp4", {"Range": "bytes=0-99"}),
    ("first-byte", "GET", "source.mp4", {"Range": "bytes=0-0"}),
    ("last-byte", "GET", "source.mp4", {"Range": f"bytes={LAST}-{LAST}"}),
    ("open-ended", "GET", "source.mp4", {"Range": "bytes=100-"}),
    ("suffix", "GET", "source.mp4", {"Range": "bytes=-500"}),
    ("suffix-longer-than-file", "GET", "source.mp4", {"Range": f"bytes=-{SIZE * 2}"}),
    ("end-beyond-eof", "GET", "source.mp4", {"Range": "bytes=1000-999999999"}),
    ("uppercase-unit", "GET", "source.mp4", {"Range": "BYTES=0-1"}),
    ("start-at-eof", "GET", "source.mp4", {"Range": f"bytes={SIZE}-"}),
    ("beyond-eof", "GET", "source.mp4", {"Range": f"bytes={SIZE + 10}-{SIZE + 20}"}),
    ("zero-suffix", "GET", "source.mp4", {"Range": "bytes=-0"}),
    ("zero-length-file", "GET", "empty.mp4", {"Range": "bytes=0-"}),
    ("zero-length-file-suffix", "GET", "empty.mp4", {"Range": "bytes=-10"}),
    ("zero-length-file-start-1", "GET", "empty.mp4", {"Range": "bytes=1-"}),
    ("malformed-letters", "GET", "source.mp4", {"Range": "bytes=abc"}),
    ("malformed-reversed", "GET", "source.mp4", {"Range": "bytes=5-1"}),
    ("malformed-empty-element", "GET", "source.mp4", {"Range": "bytes=0-5,,"}),
    ("empty-range-set", "GET", "source.mp4", {"Range": "bytes="}),
    ("unit-without-set", "GET", "source.mp4", {"Range": "bytes"}),
    ("unknown-unit", "GET", "source.mp4", {"Range": "items=0-10"}),
    ("multi-range", "GET", "source.mp4", {"Range": "bytes=0-1,5-9"}),
    ("multi-range-overlapping", "GET", "source.mp4", {"Range": "bytes=0-9,5-14"}),
    ("multi-range-descending", "GET", "source.mp4", {"Range": "bytes=500-599,0-1"}),
    ("multi-range-suffix-and-open", "GET", "source.mp4", {"Range": "bytes=-3, 100-101, 102000-"}),
    ("multi-range-more-than-the-file", "GET", "source.mp4", {"Range": f"bytes=0-{LAST},0-{LAST}"}),
    ("multi-range-one-satisfiable", "GET", "source.mp4", {"Range": f"bytes=0-1,{SIZE + 5}-"}),
    ("multi-range-none-satisfiable", "GET", "source.mp4", {"Range": f"bytes={SIZE}-,{SIZE + 5}-"}),
    ("if-range-current-etag", "GET", "source.mp4", {"Range": "bytes=10-19", "If-Range": "{etag}"}),
    ("if-range-stale-etag", "GET", "source.mp4", {"Range": "bytes=10-19", "If-Range": '"not-the-etag"'}),
    ("if-range-weak-etag", "GET", "source.mp4", {"Range": "bytes=10-19", "If-Range": "{weak_etag}"}),
    ("if-range-last-modified", "GET", "source.mp4", {"Range": "bytes=10-19", "If-Range": "{last_modified}"}),
    ("if-range-earlier-date", "GET", "source.mp4", {"Range": "bytes=10-19", "If-Range": "{earlier}"}),
    ("if-range-later-date", "GET", "source.mp4", {"Range": "bytes=10-19", "If-Range": "{later}"}),
    ("if-range-etag-multi-range", "GET", "source.mp4", {"Range": "bytes=0-1,5-9", "If-Range": "{etag}"}),
    ("if-range-stale-multi-range", "GET", "source.mp4", {"Range": "bytes=0-1,5-9", "If-Range": '"x"'}),
    ("range-and-if-none-match", "GET", "source.mp4", {"Range": "bytes=0-1", "If-None-Match": "{etag}"}),
    ("head-no-range", "HEAD", "source.mp4", {}),
    ("head-range", "HEAD", "source.mp4", {"Range": "bytes=0-99"}),
    ("head-multi-range", "HEAD", "source.mp4", {"Range": "bytes=0-1,5-9"}),
    ("head-unsatisfiable", "HEAD", "source.mp4", {"Range": f"bytes={SIZE}-"}),
]


def _digest(data: bytes) -> str:
    return f"{len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()[:12]}"


def _parts(content_type: str, body: bytes) -> list[tuple[str | None, str | None, str]]:
    """(Content-Type, Content-Range, bytes) of each part of a multipart/byteranges body."""
    boundary = parse_options_header(content_type)[1]["boundary"].encode()
    delimiter = b"\r\n--" + boundary
    if body.startswith(b"--" + boundary):
        body = b"\r\n" + body  # no preamble CRLF
    chunks = body.split(delimiter)
    assert chunks[0] == b"", "no preamble expected"
    assert chunks[-1] in (b"--", b"--\r\n"), "a multipart body ends with the close delimiter"
    parts = []
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n")
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        fields = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n"))
        parts.append((fields.get("Content-Type"), fields.get("Content-Range"), _digest(data)))
    return parts


def _semantics(ask, method: str, file: str, headers: dict) -> dict:
    """What a client relies on in one server's answer; `ask(method, file, headers)` gives
    (status, headers, body)."""
    status, got, body = ask(method, file, headers)
    out = {"status": status, "Content-Range": got.get("Content-Range")}
    if status not in (200, 206):
        return out
    length = int(got["Content-Length"])
    if got.get("Content-Type", "").startswith("multipart/byteranges"):
        if method == "HEAD":  # no body: the length is the one of the same GET's body
            g_status, g_headers, g_body = ask("GET", file, headers)
            out["parts"] = _parts(g_headers["Content-Type"], g_body)
            out["Content-Length is the body's"] = (g_status, len(g_body)) == (status, length)
        else:
            out["parts"] = _parts(got["Content-Type"], body)
            out["Content-Length is the body's"] = length == len(body)
    else:
        out["Content-Length"] = length
        out["body"] = _digest(body) if method != "HEAD" else None
    return out


def _validators(ask, file: str) -> dict:
    _, got, _ = ask("HEAD", file, {})
    modified = parse_date(got["Last-Modified"])
    return {"etag": got["ETag"], "weak_etag": "W/" + got["ETag"], "last_modified": got["Last-Modified"],
            "earlier": http_date(modified - timedelta(days=1)), "later": http_date(modified + timedelta(days=1))}


def conformance(ask_ours, ask_nginx, cases=CONFORMANCE) -> tuple[int, list[str]]:
    """(number of cases that agree, a line for each that does not)."""
    validators = {"ours": {}, "nginx": {}}
    differences = []
    for name, method, file, headers in cases:
        answers = {}
        for server, ask in (("ours", ask_ours), ("nginx", ask_nginx)):
            if file not in validators[server]:
                validators[server][file] = _validators(ask, file)
            filled = {k: v.format(**validators[server][file]) for k, v in headers.items()}
            answers[server] = _semantics(ask, method, file, filled)
        if answers["ours"] != answers["nginx"]:
            differences.append(f"{name} {method} {headers}: ours {answers['ours']} nginx {answers['nginx']}")
    return len(cases) - len(differences), differences


@pytest.fixture
def nginx_media(app, db, media, tmp_path):
    """nginx as deployed (`flask deploy nginx-conf`) serving the course folder that the embedded
    route serves, with the zero-length file added: an `ask` for each server."""
    client, _, course = media
    (Path(app.config["MEDIA_ROOT"]) / course.slug / "empty.mp4").write_bytes(b"")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = tmp_path / "nginx.conf"
    result = app.test_cli_runner().invoke(args=["deploy", "nginx-conf", "--listen", f"127.0.0.1:{port}",
                                                "--run-dir", str(tmp_path / "nginx-run"), "-o", str(conf)])
    assert result.exit_code == 0, result.output
    workers = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-g", f"daemon off; {workers}"], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    signed = signed_urls.prefix(base + "/smedia", app.config["MEDIA_SIGNING_KEY"], user(db, "zhangsan").id,
                                course.slug, int(time.time()) + 600)
    session = requests.Session()
    for _ in range(100):
        try:
            session.get(base + "/smedia/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)

    def ask_nginx(method, file, headers):
        r = session.request(method, signed + file, headers={"Accept-Encoding": "identity", **headers})
        return r.status_code, r.headers, r.content

    def ask_ours(method, file, headers):
        r = client.c.open(f"/media/{course.id}/{file}", method=method, headers=headers)
        return r.status_code, r.headers, r.get_data()

    yield ask_ours, ask_nginx
    session.close()
    proc.terminate()
    proc.wait(5)


def test_conformance_with_nginx_on_the_same_file(nginx_media):
    """Issue 12: unknown units are ignored, several ranges come as multipart/byteranges (as nginx
    sends them: in the order asked, overlaps kept, the whole file when they add up to more than it),
    If-Range needs the exact ETag or Last-Modified, preconditions come before ranges."""
    agree, differences = conformance(*nginx_media)
    assert not differences, f"{agree}/{len(CONFORMANCE)} agree with nginx:\n" + "\n".join(differences)


# --- Any Range header: never a 500, and what is sent is what the headers say ---------------------

# Pieces of range headers (so that most strings come near the grammar), and any text a client can
# put in a header value.
range_pieces = st.lists(st.sampled_from(["bytes", "BYTES", "items", "=", "-", ",", " ", "0", "1", "5", "9", "99",
                                         str(LAST), str(SIZE), str(SIZE * 2), "a", ";", '"']),
                        max_size=14).map("".join)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                      max_size=40)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check_consistent(response, method: str) -> None:
    """A 200 is the file, a 206 the bytes its Content-Range (or its parts' ones) names, a 416 names the size."""
    assert response.status_code in (200, 206, 416), response.status_code
    body = response.get_data()
    if response.status_code == 416:
        assert response.headers["Content-Range"] == f"bytes */{SIZE}"
        return
    if method == "HEAD":
        assert body == b""
        return
    assert int(response.headers["Content-Length"]) == len(body)
    if response.status_code == 200:
        assert body == BODY
        return
    content_type = response.headers["Content-Type"]
    if content_type.startswith("multipart/byteranges"):
        boundary = parse_options_header(content_type)[1]["boundary"].encode()
        chunks = body.split(b"\r\n--" + boundary)[1:-1]
        assert len(chunks) >= 2   # never a multipart answer with one part (RFC 9110 §14.6)
        parts = [chunk[2:].partition(b"\r\n\r\n") for chunk in chunks]
        ranges = [(head.decode().split("Content-Range: ")[1].split("\r\n")[0], data) for head, _, data in parts]
    else:
        ranges = [(response.headers["Content-Range"], body)]
    for content_range, data in ranges:
        start, end = map(int, content_range.removeprefix("bytes ").split("/")[0].split("-"))
        assert content_range.endswith(f"/{SIZE}") and data == BODY[start:end + 1], content_range


@FUZZ
@given(header=st.one_of(range_pieces, header_text), if_range=st.none() | header_text,
       method=st.sampled_from(["GET", "HEAD"]))
def test_any_range_header_is_answered_consistently_never_500(media, header, if_range, method):
    client, url, _ = media
    headers = {"Range": header} | ({"If-Range": if_range} if if_range is not None else {})
    _check_consistent(client.c.open(url, method=method, headers=headers), method)


@FUZZ
@given(header=range_pieces)
def test_random_range_headers_get_the_answers_nginx_gives(nginx_media, header):
    """Differential: random near-grammar headers, same semantics as nginx. Leading spaces are left
    out (requests refuses them), and so are positions of more than 18 digits (where nginx answers
    416 for an overflow, we read them as past the end: streaming.byte_ranges)."""
    header = header.lstrip(" ")
    assume(not re.search(r"\d{19}", header))
    _, differences = conformance(*nginx_media, cases=[("fuzz", "GET", "source.mp4", {"Range": header})])
    assert not differences, differences
