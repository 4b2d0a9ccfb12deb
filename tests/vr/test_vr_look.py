"""Light and material (vr_scenes.look): the mood table, the choice of look and PBR tier per renderer, and
the PBR path rendered under p3headlessgl (EGL, Mesa llvmpipe here: the pbr-vertex tier, and the per-pixel
tier forced with VR_LOOK=pbr) against the software look of the same key frames and against the same
frames without shadows.

The test process's Panda3D (if any) is p3tinydisplay and a process opens one display backend, so the
frames are rendered by ``python -m vr_scenes.look`` in subprocesses (started together, once for the
module) and read back as PNGs."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vr_scenes import look, registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOTS = "prison:arrival@40,drunk:sober_lap,rehab:intake,drunk:drunk_lap"     # the drunk lap: vision effects
SHADOW_SHOTS = "prison:arrival@40,drunk:sober_lap"
RUNS = {
    "gl": ["--backend", "headlessgl", "--size", "480x270", "--shots", SHOTS],     # the renderer's tier
    "software": ["--backend", "tiny", "--size", "480x270", "--shots", SHOTS],
    "gl_stereo": ["--backend", "headlessgl", "--size", "640x360", "--stereo", "--shots",   # VR_LOOK=pbr
                  "prison:arrival@40,rehab:intake"],
    "gl_forced": ["--backend", "headlessgl", "--size", "320x180", "--shots", "rehab:intake"],   # VR_LOOK=software
    "gl_noshadow": ["--backend", "headlessgl", "--size", "480x270", "--no-shadows", "--shots", SHADOW_SHOTS],
}
ENV = {"gl_forced": "software", "gl_stereo": "pbr"}


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    base = tmp_path_factory.mktemp("vr-look")
    procs = {}
    for name, args in RUNS.items():
        out = base / name
        env = {k: v for k, v in os.environ.items() if k != "VR_LOOK"}
        if name in ENV:
            env["VR_LOOK"] = ENV[name]
        procs[name] = (out, subprocess.Popen([sys.executable, "-m", "vr_scenes.look", "--out", str(out), *args],
                                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                             text=True))
    results = {}
    for name, (out, proc) in procs.items():
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"vr_scenes.look {name} failed:\n{output[-3000:]}"
        with open(out / "manifest.json", encoding="utf-8") as fh:
            results[name] = {"manifest": json.load(fh), "output": output}
    return results


def load(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)


def shot(run: dict, scene: str, stage: str) -> dict:
    return next(s for s in run["manifest"]["shots"] if (s["scene"], s["stage"]) == (scene, stage))


# --- pure ----------------------------------------------------------------------------------------------
def test_every_stage_of_every_scene_has_a_mood():
    for key in registry.scenes():
        for stage in registry.get(key).stages:
            assert (key, stage.key) in look.STAGE_MOODS, (key, stage.key)
    assert set(name for name, _ in look.STAGE_MOODS.values()) <= set(look.MOODS)


def test_moods_follow_the_story():
    assert look.mood_name("prison", "cell") == ("fluorescent", True)
    assert look.mood_name("prison", "regime", lights=1.0)[0] == "fluorescent"
    assert look.mood_name("prison", "regime", lights=0.25)[0] == "night"      # lights out at 21:00
    assert look.mood_name("drunk", "sober_lap") == ("night_road", False)
    assert look.MOODS["night_road"].headlights
    assert look.mood_name("rehab", "intake")[0] == "fluorescent"
    assert look.mood_name("rehab", "family") == ("home_dusk", True)
    assert look.mood_name("rehab", "temptation") == ("dusk", False)
    assert look.mood_name("rehab", "withdrawal")[0] == "night"
    # night is darker than fluorescent, dusk is warm (red over blue)
    assert sum(look.MOODS["night"].main) < 0.5 * sum(look.MOODS["fluorescent"].main)
    assert look.MOODS["dusk"].main[0] > 2 * look.MOODS["dusk"].main[2]


def test_the_ambient_spherical_harmonics_give_the_sky_and_ground_light():
    up, down = (0.5, 0.4, 0.3), (0.1, 0.2, 0.05)
    sh = look.ambient_sh(up, down)

    def irradiance(nz):
        return [sh[0][i] * 0.282095 + sh[2][i] * 0.488603 * nz for i in range(3)]
    assert np.allclose(np.array(irradiance(1.0)) / math.pi, up)
    assert np.allclose(np.array(irradiance(-1.0)) / math.pi, down)


def test_the_look_follows_the_renderer():
    assert look.choose_look(False, "tiny") == ("software", look.SOFTWARE_REASON)
    assert look.choose_look(False, "headlessgl")[0] == "software"
    assert look.choose_look(True, "headlessgl")[0] == "pbr"


def test_the_pbr_tier_follows_the_renderer_string():
    tier, why = look.choose_tier("llvmpipe (LLVM 15.0.6, 256 bits)")
    assert tier == "pbr-vertex" and "llvmpipe" in why
    assert look.choose_tier("Gallium 0.4 on softpipe")[0] == "pbr-vertex"
    assert look.choose_tier("NVIDIA GeForce RTX 4090/PCIe/SSE2")[0] == "pbr"
    assert look.choose_tier("AMD Radeon RX 7900 XTX (radeonsi, navi31, LLVM 15.0.6, DRM 3.54)")[0] == "pbr"
    assert look.choose_tier("")[0] == "pbr"
    # VR_LOOK forces either tier
    assert look.choose_tier("llvmpipe (LLVM 15.0.6, 256 bits)", "pbr") == ("pbr", "pbr requested (VR_LOOK)")
    assert look.choose_tier("NVIDIA GeForce RTX 4090/PCIe/SSE2", "pbr-vertex")[0] == "pbr-vertex"
    assert look.choose_tier("llvmpipe", "software")[0] == "pbr-vertex"     # software is decided before


def _cpu_rasterizer(output: str) -> bool:
    line = next(line for line in output.splitlines() if line.startswith("look: "))
    return any(name in line for name in look.SOFTWARE_RASTERIZERS)


# --- rendered ------------------------------------------------------------------------------------------
def test_the_software_backend_chooses_the_software_look_and_says_why(renders):
    run = renders["software"]
    assert {s["look"] for s in run["manifest"]["shots"]} == {"software"}
    assert f"look: {look.SOFTWARE_REASON}" in run["output"].splitlines()
    # the GL renderer's tier: per vertex on Mesa's CPU rasterizers (llvmpipe here), per pixel on a GPU
    gl = renders["gl"]
    tier = "pbr-vertex" if _cpu_rasterizer(gl["output"]) else "pbr"
    assert {s["look"] for s in gl["manifest"]["shots"]} == {tier}
    line = next(line for line in gl["output"].splitlines() if line.startswith("look: "))
    assert line.startswith(f"look: {tier}: ") and "PBR on" in line, line
    if tier == "pbr-vertex":
        assert "rasterizes on the CPU: lighting per vertex" in line, line
    # VR_LOOK=pbr forces the per-pixel tier (what a GPU gets)
    assert {s["look"] for s in renders["gl_stereo"]["manifest"]["shots"]} == {"pbr"}
    assert "pbr requested (VR_LOOK)" in renders["gl_stereo"]["output"]
    # a station without a GPU asks for the software look on its GL pipeline (VR_LOOK=software)
    assert {s["look"] for s in renders["gl_forced"]["manifest"]["shots"]} == {"software"}
    assert "software look requested, PBR off" in renders["gl_forced"]["output"]


def test_the_pbr_path_renders_and_differs_from_the_software_look(renders):
    for s in renders["gl"]["manifest"]["shots"]:
        pbr = load(s["path"])
        soft = load(shot(renders["software"], s["scene"], s["stage"])["path"])
        view3d = pbr[: int(pbr.shape[0] * 0.6)].mean(axis=2)          # above the subtitles
        assert view3d.std() > 12, f"{s['path']}: nearly uniform (std {view3d.std():.1f})"
        assert len(np.unique(view3d.astype(int))) > 40, f"{s['path']}: too few grey levels"
        assert 15 < view3d.mean() < 240, f"{s['path']}: black or white ({view3d.mean():.0f})"
        diff = np.abs(pbr - soft).mean()
        assert diff > 6, f"{s['scene']}/{s['stage']}: the PBR look is the software look ({diff:.1f})"
    # the night road: a dark sky (the software look keeps the scene's day sky)
    road = load(shot(renders["gl"], "drunk", "sober_lap")["path"])
    road_soft = load(shot(renders["software"], "drunk", "sober_lap")["path"])
    sky = (slice(50, 80), slice(200, 280))
    assert road[sky].mean() < 60 < road_soft[sky].mean()


def test_the_main_light_casts_shadows(renders):
    """Where the main light is blocked the frame is darker than the same frame without shadows: the
    prison's arrival hall, the wall left of the officer (shadowed by the side wall), and the night road's
    lower left (the car); nothing gets lighter."""
    regions = {("prison", "arrival"): (slice(60, 200), slice(30, 90)),
               ("drunk", "sober_lap"): (slice(165, 200), slice(0, 80))}
    for s in renders["gl_noshadow"]["manifest"]["shots"]:
        lit = load(shot(renders["gl"], s["scene"], s["stage"])["path"]).mean(axis=2)
        unshadowed = load(s["path"]).mean(axis=2)
        darker = unshadowed - lit
        region = regions[(s["scene"], s["stage"])]
        assert darker[region].mean() > 12, f"{s['scene']}/{s['stage']}: no shadow ({darker[region].mean():.1f})"
        assert (darker > 10).mean() > 0.05, f"{s['scene']}/{s['stage']}: shadows cover {(darker > 10).mean():.3f}"
        assert (darker < -10).mean() < 0.01, f"{s['scene']}/{s['stage']}: shadows made it lighter"


def _best_horizontal(left: np.ndarray, right: np.ndarray, dy: int = 0, search: int = 24):
    """Per row: the horizontal shift dx (left(x) ~ right(x - dx), right's row moved by dy) with the
    smallest mean absolute difference; returns (residuals, shifts)."""
    h, w = left.shape
    residuals, shifts = [], []
    for r in range(search, h - search):
        a = left[r, search: w - search]
        errs = [np.abs(a - right[r + dy, search - dx: w - search - dx]).mean() for dx in range(-search, search + 1)]
        best = int(np.argmin(errs))
        residuals.append(errs[best])
        shifts.append(best - search)
    return np.array(residuals), np.array(shifts)


def test_stereo_halves_differ_only_horizontally(renders):
    for s in renders["gl_stereo"]["manifest"]["shots"]:
        img = load(s["path"]).mean(axis=2)
        h, w = img.shape
        rows = slice(int(h * 0.12), int(h * 0.68))          # below the title, above the subtitles
        left, right = img[rows, : w // 2], img[rows, w // 2:]
        unshifted = np.abs(left - right).mean()
        assert unshifted > 1.0, f"{s['path']}: the two eyes see the same image"
        residual, shifts = _best_horizontal(left, right)
        assert np.median(residual) < min(6.0, 0.5 * unshifted), (s["path"], np.median(residual), unshifted)
        for dy in (-3, -2, -1, 1, 2, 3):
            moved, _ = _best_horizontal(left, right, dy=dy)
            assert residual.mean() < moved.mean(), f"{s['path']}: a vertical shift of {dy} px matches better"
        if s["scene"] == "prison":       # the raised hands, 0.5 m from the eyes: a large disparity
            assert shifts.max() >= 8, f"{s['path']}: no near disparity ({sorted(set(shifts))})"
            assert np.median(shifts) >= 0
