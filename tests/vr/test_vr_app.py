"""The interactive entry point (python -m vr_scenes) runs its real-time loop: offscreen here, once with
the desktop controls (no keys pressed: the learner stands still) and once with the scripted learner."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "vr_scenes", "--offscreen", "--size", "320x180", *args],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_desktop_controls_loop_runs_and_reports_telemetry():
    summary = run("--scene", "prison", "--max-frames", "120", "--stereo", "--comfort")
    assert summary["scene"] == "prison" and summary["frames"] == 120
    assert summary["stages_ended"] == 0                 # two seconds of standing still end no stage
    assert summary["attention"]["guard"] > 0.9          # looking straight ahead faces the guard


def test_autopilot_plays_a_scene_to_the_end():
    summary = run("--scene", "rehab", "--autopilot", "--speed", "20")
    assert summary["stages_ended"] == 7 and summary["choices"] == {"temptation": "refuse"}
