"""Byte ranges to RFC 9110 on the course media route, and paths that try to escape."""
from __future__ import annotations

import pytest

from tests.conftest import make_course

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
    client, url, course = media
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
