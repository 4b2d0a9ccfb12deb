"""Production media path: the portal signs URLs, real nginx (Debian) checks them and serves ranges."""
from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests

from streaming import signed_urls
from tests.conftest import make_course, user

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nginx(app, tmp_path):
    run = tmp_path / "nginx-run"
    port = free_port()
    conf = tmp_path / "nginx.conf"
    result = app.test_cli_runner().invoke(args=["deploy", "nginx-conf", "--listen", f"127.0.0.1:{port}",
                                                "--run-dir", str(run), "-o", str(conf)])
    assert result.exit_code == 0, result.output
    # pytest's folders are private to us: run nginx's workers as the same user.
    workers = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-g", f"daemon off; {workers}"], stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(base + "/smedia/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    yield base
    proc.terminate()
    proc.wait(5)


def test_player_gets_signed_urls_that_nginx_serves_with_ranges(app, db, nginx, client_for):
    app.config["MEDIA_URL_BASE"] = nginx + "/smedia"
    course = make_course(app, db)
    page = client_for("zhangsan").c.get(f"/learn/course/{course.id}").get_data(as_text=True)
    mp4 = re.search(r'data-mp4-url="([^"]+)"', page).group(1)
    hls = re.search(r'data-hls-url="([^"]+)"', page).group(1)
    assert mp4.startswith(nginx + f"/smedia/{user(db, 'zhangsan').id}/")
    whole = requests.get(hls)
    assert whole.status_code == 200 and whole.text.startswith("#EXTM3U")
    relative = hls.rsplit("/", 1)[0] + "/v360/index.m3u8"  # what hls.js resolves from the master
    assert requests.get(relative).status_code == 200
    part = requests.get(mp4, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == bytes(range(10, 20))
    assert part.headers["Content-Range"] == "bytes 10-19/102400"
    assert requests.get(mp4, headers={"Range": "bytes=999999-"}).status_code == 416


def test_forged_expired_and_foreign_links_are_refused(app, db, nginx):
    course = make_course(app, db)
    key = app.config["MEDIA_SIGNING_KEY"]
    later = int(time.time()) + 600
    good = signed_urls.prefix(nginx + "/smedia", key, 7, course.slug, later)
    assert requests.get(good + "source.mp4").status_code == 200
    forged = signed_urls.prefix(nginx + "/smedia", "wrong-key", 7, course.slug, later)
    assert requests.get(forged + "source.mp4").status_code == 403
    other_user = good.replace("/smedia/7/", "/smedia/8/")
    assert requests.get(other_user + "source.mp4").status_code == 403
    other_course = good.replace(f"/{course.slug}/", "/another-course/")
    assert requests.get(other_course + "source.mp4").status_code == 403
    expired = signed_urls.prefix(nginx + "/smedia", key, 7, course.slug, int(time.time()) - 5)
    assert requests.get(expired + "source.mp4").status_code == 410
    for escape in ("../secret_key", "v360/../../x.mp4", ".hidden.mp4", "source.exe"):
        assert requests.get(good + escape).status_code in (403, 404)


def test_signing_matches_the_python_check():
    t = signed_urls.token("k", 3, "law-basics", 2_000_000_000)
    assert len(t) == 22 and re.fullmatch(r"[A-Za-z0-9_-]+", t)
    assert signed_urls.verify("k", 3, "law-basics", 2_000_000_000, t, now=1_900_000_000)
    assert not signed_urls.verify("k", 3, "law-basics", 2_000_000_000, t, now=2_100_000_000)
    assert not signed_urls.verify("k", 4, "law-basics", 2_000_000_000, t, now=1_900_000_000)
