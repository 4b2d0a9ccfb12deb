"""``--xr`` where OpenXR cannot run: panda3d-openxr is installed (requirements.txt) but these machines
have no OpenXR runtime, so the scene must say why on one line and run on keyboard and mouse-look.
Each run is its own process (ShowBase is one per process); XR_RUNTIME_JSON points at a file that does
not exist, so the loader finds no runtime even on a machine that has one installed."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_RUNTIME = "OpenXR unavailable: no OpenXR runtime found"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, XR_RUNTIME_JSON=os.path.join(ROOT, "no-such-openxr-runtime.json"), **extra)
    env.pop("XR_LOADER_DEBUG", None)
    return env


def _run(args: list[str], env: dict[str, str]) -> tuple[dict, str]:
    out = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_panda3d_openxr_is_installed():
    for module in ("p3dopenxr", "xr", "glfw", "OpenGL"):
        assert importlib.util.find_spec(module) is not None, f"{module} missing: pip install -r requirements.txt"


def test_xr_without_runtime_falls_back_to_mouse_look(display):
    """A real OpenGL window (Xvfb, Mesa): OpenXR is tried, the loader finds no runtime, the scene
    plays its frames with mouse-look, and stderr says why in one line (the loader's own error
    chatter is silenced, p3dopenxr's debug logging does not leak)."""
    summary, err = _run([sys.executable, "-m", "vr_scenes", "--scene", "drunk", "--size", "320x180",
                         "--xr", "--max-frames", "10"], _env(DISPLAY=display))
    assert summary["frames"] == 10
    assert summary["controls"] == "mouse-look"
    assert summary["xr_fallback"] == "no-runtime"
    lines = [line for line in err.splitlines() if "OpenXR" in line]
    assert len(lines) == 1 and lines[0].startswith(NO_RUNTIME), err
    assert lines[0].endswith("using keyboard and mouse-look instead")
    assert "Traceback" not in err and "DEBUG:" not in err


def test_xr_offscreen_and_without_package():
    """Offscreen (software renderer, no mouse): the same reason, keyboard controls. And where
    panda3d-openxr cannot be imported, the reason names the package."""
    summary, err = _run([sys.executable, "-m", "vr_scenes", "--scene", "drunk", "--offscreen",
                         "--size", "160x90", "--xr", "--max-frames", "3"], _env())
    assert (summary["controls"], summary["xr_fallback"]) == ("keyboard", "no-runtime")
    assert NO_RUNTIME in err

    code = ("import sys; sys.modules['p3dopenxr'] = None; from vr_scenes.__main__ import main; "
            "raise SystemExit(main(['--scene', 'drunk', '--offscreen', '--size', '160x90', '--xr', "
            "'--max-frames', '3']))")
    summary, err = _run([sys.executable, "-c", code], _env())
    assert (summary["controls"], summary["xr_fallback"]) == ("keyboard", "no-package")
    assert "OpenXR unavailable: panda3d-openxr==0.1.2 is not installed" in err
