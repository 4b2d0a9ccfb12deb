"""The operator's console (issue 15): real HTTP requests against the console of a running station
(``main([... "--console"])`` in a thread, the scene fast-forwarded and paced so that there is time to
press the buttons), against a fake portal over HTTP: start, pause, resume, the emergency stop (posted
as stopped, with the questionnaire's before half only), a completed run (both halves), and requests
without the per-launch secret refused."""
from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar

import pytest

from tests.vr.test_station_client import _FakeHTTPPortal
from vr_scenes.station import main
from vr_scenes.station.console import Console
from vr_scenes.station.control import SceneControl

REHAB_BEFORE = "3,2,4,3"     # rehab_refuse, rehab_once (reverse), rehab_help, rehab_intention
REHAB_AFTER = "5,1,5,5"


def request(url, method="GET", body=None, token=None, opener=None, host=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token is not None:
        headers["X-Console-Token"] = token
    if host is not None:
        headers["Host"] = host
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers=headers)
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=10) as res:
            return res.status, res.read(), res.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


class Running:
    """``python -m vr_scenes.station ... --console`` in a thread; the console's address from its output."""

    def __init__(self, tmp_path, portal, *extra):
        self.out = io.StringIO()
        self.code = None
        argv = ["--portal", portal.url, "--token", "tok", "--queue-dir", str(tmp_path / "q"), "--assignment", "4",
                "--fast", "--answers", "cab", "--attitude-before", REHAB_BEFORE, "--attitude-after", REHAB_AFTER,
                "--console", *extra]
        self.thread = threading.Thread(target=self._main, args=(argv,), daemon=True)
        self.thread.start()
        self.url = self._wait(lambda: next((line.split("：", 1)[1] for line in self.out.getvalue().splitlines()
                                            if line.startswith("操作员控制台：")), None))
        self.base, _, self.token = self.url.partition("/?t=")

    def _main(self, argv):
        self.code = main(argv, out=self.out, read=lambda: "")

    def _wait(self, probe, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            assert value or self.thread.is_alive(), "the station ended: " + self.out.getvalue()[-2000:]
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError("timed out")

    def state(self):
        status, body, _ = request(self.base + "/state", token=self.token)
        assert status == 200
        return json.loads(body)

    def wait_state(self, test):
        return self._wait(lambda: (lambda s: s if test(s) else None)(self.state()))

    def command(self, command, value=None, token=None):
        status, body, _ = request(self.base + "/command", "POST", {"command": command, "value": value},
                                  token=self.token if token is None else token)
        return status, json.loads(body)


@pytest.fixture
def portal():
    portal = _FakeHTTPPortal()
    yield portal
    portal.close()


def test_start_pause_resume_and_emergency_stop_over_http(tmp_path, portal):
    run = Running(tmp_path, portal, "--fast-speed", "60")      # the rehab scene (435 s) in about 7 s
    # the page: in Chinese, sets the secret as a cookie that then opens /state without the header
    jar = CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, page, headers = request(run.url, opener=browser)
    assert status == 200 and "紧急停止" in page.decode() and "HttpOnly" in headers["Set-Cookie"]
    assert request(run.base + "/state", opener=browser)[0] == 200
    ready = run.wait_state(lambda s: s["phase"] == "ready")
    assert ready["learner"] == "张三" and ready["scene_title"] == "戒毒警示" and ready["phase_label"] == "等待开始"
    assert ready["allowed"] == ["start", "stop"]
    # a command the phase does not take, and one without the secret, change nothing
    assert run.command("pause")[0] == 409
    assert run.command("start", token="wrong-" + run.token)[0] == 403
    assert request(run.base + "/command", "POST", {"command": "start"}, opener=browser)[0] == 403   # cookie only
    assert run.state()["phase"] == "ready"
    assert run.command("start")[0] == 200
    run.wait_state(lambda s: s["phase"] == "running" and s["progress"] > 0)
    assert run.command("pause")[0] == 200
    paused = run.wait_state(lambda s: s["phase"] == "paused")
    time.sleep(0.4)
    assert run.state()["progress"] == paused["progress"]            # the scene does not move while paused
    assert run.command("resume")[0] == 200
    run.wait_state(lambda s: s["phase"] == "running" and s["progress"] > paused["progress"])
    stopped_at = time.monotonic()
    status, answer = run.command("stop")
    assert status == 200
    run.thread.join(10)
    assert not run.thread.is_alive() and run.code == 0 and time.monotonic() - stopped_at < 3
    [posted] = portal.posted
    assert posted["api_version"] == 2 and posted["outcome"] == "stopped"
    assert 0 < posted["progress"] < 1 and len(posted["stages"]) < 7
    assert posted["quiz"]["answers"] == []
    assert posted["questionnaire"] == {"before": {"rehab_refuse": 3, "rehab_once": 2, "rehab_help": 4,
                                                  "rehab_intention": 3}, "after": None}
    assert "已紧急停止" in run.out.getvalue()
    assert json.loads(run.out.getvalue().strip().splitlines()[-1])["outcome"] == "stopped"


def test_started_from_the_console_and_completed(tmp_path, portal):
    run = Running(tmp_path, portal, "--fast-speed", "5000")
    run.wait_state(lambda s: s["phase"] == "ready")
    assert run.command("start")[0] == 200
    run.thread.join(20)
    assert run.code == 0
    [posted] = portal.posted
    assert (posted["outcome"], posted["progress"], len(posted["stages"])) == ("completed", 1.0, 7)
    assert posted["questionnaire"]["after"] == {"rehab_refuse": 5, "rehab_once": 1, "rehab_help": 5,
                                                "rehab_intention": 5}
    assert len(posted["quiz"]["answers"]) == 3


def test_stop_before_the_scene_cancels_and_posts_nothing(tmp_path, portal):
    run = Running(tmp_path, portal)
    run.wait_state(lambda s: s["phase"] == "ready")
    assert run.command("stop")[0] == 200
    run.thread.join(10)
    assert run.code == 0 and portal.posted == []
    assert "已取消" in run.out.getvalue()


def test_the_console_refuses_requests_without_the_secret():
    control = SceneControl()
    control.publish(phase="running")
    console = Console(control).start()
    base = f"http://127.0.0.1:{console.port}"
    try:
        assert request(base + "/")[0] == 403
        assert request(base + "/?t=nope")[0] == 403
        assert request(base + "/state")[0] == 403
        assert request(base + "/state", token="nope")[0] == 403
        assert request(base + "/view.jpg")[0] == 403
        assert request(base + "/command", "POST", {"command": "stop"})[0] == 403
        assert request(base + "/command", "POST", {"command": "stop"}, token="nope")[0] == 403
        # the right secret through another host name (DNS rebinding) is refused too
        assert request(base + "/state", token=console.token, host="evil.example:80")[0] == 403
        assert not control.stop_requested.is_set() and control.poll() == []
        assert request(base + "/state", token=console.token)[0] == 200
        assert request(base + "/command", "POST", {"command": "answer", "value": 9}, token=console.token)[0] == 400
        assert request(base + "/command", "POST", {"command": "stop"}, token=console.token)[0] == 200
        assert control.stop_requested.is_set() and control.poll() == [("stop", None)]
        assert console.server.server_address[0] == "127.0.0.1"
    finally:
        console.close()


def test_rendered_run_questionnaire_from_the_console_view_and_stop(tmp_path, portal):
    """The rendered run (offscreen, software renderer) with a console: the questionnaire before the scene
    is in the headset's overlay and answered here from the console (the fallback), the operator sees
    the learner's view (a JPEG of the window), starts the scene and stops it at once."""

    proc, base, token, state, wait = _station_with_console(
        portal, tmp_path, ["--offscreen", "--size", "320x180"])
    try:
        first = wait(lambda s: s["phase"] == "before" and s["question"])
        assert first["question"] == "体验前问卷 1/4：我能拒绝朋友递来的毒品"
        for value in (2, 4, 3, 3):
            index = state()["question_index"]
            assert request(base + "/command", "POST", {"command": "answer", "value": value}, token=token)[0] == 200
            wait(lambda s, i=index: s.get("question_index", 0) > i or s["phase"] != "before")
        wait(lambda s: s["phase"] == "ready")
        assert request(base + "/command", "POST", {"command": "start"}, token=token)[0] == 200
        wait(lambda s: s["phase"] == "running")
        status, jpeg, headers = request(base + "/view.jpg", token=token)
        deadline = time.monotonic() + 10
        while status != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            status, jpeg, headers = request(base + "/view.jpg", token=token)
        assert status == 200 and jpeg[:3] == b"\xff\xd8\xff" and headers["Content-Type"] == "image/jpeg"
        assert request(base + "/command", "POST", {"command": "stop"}, token=token)[0] == 200
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    [posted] = portal.posted
    assert posted["outcome"] == "stopped" and posted["quiz"]["answers"] == []
    assert posted["questionnaire"] == {"before": {"rehab_refuse": 2, "rehab_once": 4, "rehab_help": 3,
                                                  "rehab_intention": 3}, "after": None}


def test_in_a_window_keys_answer_the_questionnaire_and_esc_stops(tmp_path, portal, display):
    """The station's own rendered mode in a real OpenGL window (Xvfb): the questionnaire before the scene
    is answered with keys 1-5 in the window (real key events, xdotool), the operator starts the scene
    from the console, and Esc in the window is the emergency stop."""
    import os
    import shutil

    from tests.vr.test_vr_window import xdo

    if not shutil.which("xdotool"):
        pytest.fail("needs xdotool: scripts/install-system-deps.sh --test installs it")
    env = {**os.environ, "DISPLAY": display}
    proc, base, token, state, wait = _station_with_console(portal, tmp_path, ["--size", "640x360", "--no-sound"], env)
    try:
        wait(lambda s: s["phase"] == "before" and s["question"])
        window = ""
        deadline = time.monotonic() + 30
        while not window and time.monotonic() < deadline:
            window = xdo(env, "search", "--onlyvisible", "--name", ".").strip().split("\n")[-1]
            time.sleep(0.2)
        assert window, "no window appeared"
        xdo(env, "mousemove", "--window", window, "320", "180")
        time.sleep(0.3)
        for key in "2433":
            index = state()["question_index"]
            xdo(env, "key", key)
            wait(lambda s, i=index: s.get("question_index", 0) > i or s["phase"] != "before", timeout=10)
        wait(lambda s: s["phase"] == "ready")
        assert request(base + "/command", "POST", {"command": "start"}, token=token)[0] == 200
        wait(lambda s: s["phase"] == "running" and s["progress"] > 0)
        xdo(env, "key", "Escape")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    [posted] = portal.posted
    assert posted["outcome"] == "stopped" and 0 < posted["progress"] < 1
    assert posted["questionnaire"] == {"before": {"rehab_refuse": 2, "rehab_once": 4, "rehab_help": 3,
                                                  "rehab_intention": 3}, "after": None}


def _station_with_console(portal, tmp_path, options, env=None):
    """The station program with its console, checked in by assignment 4: (process, console address,
    its secret, ``state()``, ``wait(test)``) once the console's address is printed."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [sys.executable, "-m", "vr_scenes.station", "--portal", portal.url, "--token", "tok",
         "--queue-dir", str(tmp_path / "q"), "--assignment", "4", *options, "--answers", "cab", "--console"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = ""
    while not line.startswith("操作员控制台："):
        line = proc.stdout.readline()
        assert line, proc.stderr.read()[-2000:]
    base, _, token = line.strip().split("：", 1)[1].partition("/?t=")

    def state():
        return json.loads(request(base + "/state", token=token)[1])

    def wait(test, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = state()
            if test(s):
                return s
            time.sleep(0.05)
        raise AssertionError(state())

    return proc, base, token, state, wait
