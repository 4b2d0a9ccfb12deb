"""The desktop mode in a real window: Panda3D's OpenGL pipe on a virtual X screen (Xvfb, Mesa), driven
by real key and mouse events (xdotool). Debian's xvfb and xdotool come with
``scripts/install-system-deps.sh --test``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def xdo(env, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=20,
                          check=False).stdout


def test_keyboard_and_mouse_drive_the_scene_in_a_window(display):
    if not shutil.which("xdotool"):
        pytest.fail("needs xdotool: scripts/install-system-deps.sh --test installs it")
    env = {**os.environ, "DISPLAY": display}
    app = subprocess.Popen([sys.executable, "-m", "vr_scenes", "--scene", "drunk", "--size", "640x360",
                            "--speed", "3", "--max-seconds", "8.5"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        window = ""
        deadline = time.monotonic() + 30
        while not window and time.monotonic() < deadline and app.poll() is None:
            window = xdo(env, "search", "--onlyvisible", "--name", ".").strip().split("\n")[-1]
            time.sleep(0.2)
        assert window, "no window appeared"
        xdo(env, "mousemove", "--window", window, "320", "180")
        time.sleep(0.5)
        xdo(env, "key", "e")                        # start the engine (a short tap)
        time.sleep(3.0)                             # the briefing needs 6 s of scene time (speed 3)
        xdo(env, "keydown", "w")                    # throttle
        time.sleep(2.0)
        xdo(env, "keyup", "w")
        xdo(env, "mousemove_relative", "--", "150", "0")   # look to the right
        time.sleep(1.0)
        output, _ = app.communicate(timeout=60)
    finally:
        if app.poll() is None:
            app.kill()
    assert app.returncode == 0, output[-2000:]
    summary = json.loads(output.strip().splitlines()[-1])
    assert summary["stages"] and summary["stages"][0] == {"key": "briefing", "seconds": pytest.approx(6.0, abs=0.5),
                                                          "completed": True}
    assert summary["counters"]["max_speed_sober"] > 3.0          # the car moved under the throttle key
    assert summary["frames"] > 20
