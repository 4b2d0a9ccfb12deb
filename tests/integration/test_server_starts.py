"""The users' way, as the README tells it: migrate, import a course, load the demo, `python -m webapp`,
log in, see one's home page; for both documented modes (PROCTORING_REQUIRED=1, the default, and
PROCTORING_REQUIRED=0). The commands of scripts/run.sh, in a temporary instance folder, the server
a real subprocess on a real port.

(`python -m webapp` once served only with proctoring on: with PROCTORING_REQUIRED=0 it exited 0
after a second and served nothing; every other test builds the app in-process and never saw it.)
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Demo-Pass-2026"
COURSE_TITLE = "冒烟测试课程·社区矫正须知"
START_TIMEOUT_S = 90.0     # the first start imports mediapipe, Flask-SocketIO, aiortc (seconds on a busy machine)


def host() -> str:
    """127.0.0.2 inside scripts/in-netns.sh (and on Linux's whole 127/8 loopback), else 127.0.0.1."""
    for candidate in ("127.0.0.2", "127.0.0.1"):
        try:
            with socket.socket() as s:
                s.bind((candidate, 0))
            return candidate
        except OSError:
            continue
    raise RuntimeError("no loopback address")


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def course_files(tmp_path_factory):
    """A real two-second H.264 video and its manifest, for `flask content import`."""
    folder = tmp_path_factory.mktemp("course")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                    str(folder / "smoke.mp4")], check=True, timeout=60)
    manifest = folder / "smoke.json"
    manifest.write_text(json.dumps({"slug": "smoke", "title": COURSE_TITLE, "category": "law",
                                    "description": "smoke test", "media": "smoke.mp4", "questions": []},
                                   ensure_ascii=False), encoding="utf-8")
    return manifest


def env_for(instance: Path, proctoring: str, database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "MEDIA_ROOT")}
    env.update({"INSTANCE_DIR": str(instance), "DATABASE_URL": database_url,
                "SECRET_KEY": "smoke-test-secret", "MEDIA_ROOT": str(instance / "media"),
                "FLASK_APP": "webapp", "PROCTORING_REQUIRED": proctoring, "PYTHONUNBUFFERED": "1"})
    return env


def flask(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180, check=False)
    assert done.returncode == 0, f"flask {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the login page"
    return match.group(1)


def log_in(base: str, username: str) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=30)
    assert page.status_code == 200 and 'name="password"' in page.text
    answer = browser.post(f"{base}/login", data={"username": username, "password": PASSWORD,
                                                 "csrf_token": csrf(page.text)}, timeout=30)
    assert answer.status_code == 200, answer.text[-500:]
    return browser, answer


def wait_until_served(proc: subprocess.Popen, base: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            pytest.fail(f"`python -m webapp` exited ({code}) before serving anything:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{base}/login", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    pytest.fail(f"nothing answered on {base} within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# Each documented mode, stopped one of the two ways a server is stopped: SIGTERM (systemd,
# `docker stop`, Popen.terminate) and Ctrl-C (SIGINT: scripts/run.sh in a terminal execs the server).
@pytest.mark.parametrize("proctoring,stop", [("1", signal.SIGTERM), ("0", signal.SIGINT)], ids=["proctoring", "no-camera"])
def test_python_m_webapp_serves_the_demo(tmp_path, course_files, proctoring, stop, database_factory):
    instance = tmp_path / "instance"
    env = env_for(instance, proctoring, database_factory.new("platform", empty=True))
    flask(env, "db", "upgrade")                                  # as scripts/run.sh, in that order
    assert "imported smoke" in flask(env, "content", "import", str(course_files), "--overwrite")
    assert "1 course(s) assigned to every supervisee" in flask(env, "demo", "load")

    address = host()
    port = free_port(address)
    base = f"http://{address}:{port}"
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "webapp", "--host", address, "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_served(proc, base, log)

        # the learner: home page with the course the demo assigned, then its player page in this mode
        learner, home = log_in(base, "zhangsan")
        assert home.url.endswith("/learn/")
        assert "张三" in home.text and COURSE_TITLE in home.text
        link = re.search(r'href="(/learn/course/\d+)"', home.text)
        assert link, home.text[-2000:]
        player = learner.get(base + link.group(1), timeout=30)
        assert player.status_code == 200 and COURSE_TITLE in player.text
        assert f'data-proctored="{proctoring}"' in player.text
        media = re.search(r'data-mp4-url="([^"]+)"', player.text).group(1)
        video = learner.get(base + media, headers={"Range": "bytes=0-99"}, timeout=30)
        assert video.status_code == 206 and len(video.content) == 100 and video.content[4:8] == b"ftyp"

        # the officer of 北山: the compliance table of his office
        _officer, dashboard = log_in(base, "officer_bs")
        assert dashboard.url.endswith("/officer/")
        table = dashboard.text.split('id="compliance"', 1)[1]
        assert "张三" in table and "李四" in table and "王五" not in table and "赵六" not in table
    finally:
        if proc.poll() is None:
            proc.send_signal(stop)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"the server did not stop within 30 s of {stop.name}:\n{log.read_text()[-3000:]}")
        deadline = time.monotonic() + 15
        while group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        leftover = group_alive(proc.pid)
        if leftover:
            os.killpg(proc.pid, signal.SIGKILL)
    output = log.read_text(errors="replace")
    assert code == 0, f"exit status {code} after {stop.name}:\n{output[-3000:]}"
    assert not leftover, "processes of the server (the identity worker) outlived it"
    assert "Traceback" not in output, output[-3000:]   # nor "Exception ignored in ... __del__" at exit
