"""Offscreen rendering with Panda3D's software renderer (p3tinydisplay, window-type offscreen): key
frames of every stage of every scene, mono, stereo side-by-side and in comfort mode.

Panda3D allows one ShowBase per process, so the frames are rendered by ``python -m vr_scenes.keyframes``
in subprocesses (started together, once for the module) and the tests read the PNGs back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import combinations

import numpy as np
import pytest
from PIL import Image

from vr_scenes import registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNS = {
    "mono": ["--size", "480x270"],
    "stereo": ["--size", "640x360", "--stereo"],
    "comfort": ["--size", "480x270", "--comfort", "--scenes", "drunk"],
}


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    base = tmp_path_factory.mktemp("vr-keyframes")
    procs = {}
    for name, args in RUNS.items():
        out = base / name
        procs[name] = (out, subprocess.Popen(
            [sys.executable, "-m", "vr_scenes.keyframes", "--out", str(out), *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    manifests = {}
    for name, (out, proc) in procs.items():
        output, _ = proc.communicate(timeout=240)
        assert proc.returncode == 0, f"keyframes {name} failed:\n{output[-3000:]}"
        with open(out / "manifest.json", encoding="utf-8") as fh:
            manifests[name] = json.load(fh)
    return manifests


def load(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def frame_of(manifest: dict, scene: str, stage: str) -> dict:
    for s in manifest["scenes"]:
        if s["scene"] == scene:
            for f in s["frames"]:
                if f["stage"] == stage:
                    return f
    raise KeyError((scene, stage))


def test_every_stage_of_every_scene_has_a_key_frame_that_is_not_blank(frames):
    for run in ("mono", "stereo"):
        manifest = frames[run]
        assert [s["scene"] for s in manifest["scenes"]] == list(registry.scenes())
        for s in manifest["scenes"]:
            cls = registry.get(s["scene"])
            assert [f["stage"] for f in s["frames"]] == [st.key for st in cls.stages], s["scene"]
            for f in s["frames"]:
                img = load(f["path"])
                assert img.shape == ((270, 480, 3) if run == "mono" else (360, 640, 3))
                view3d = img[: int(img.shape[0] * 0.6)]          # above the subtitles
                grey = view3d.mean(axis=2)
                assert grey.std() > 12, f"{f['path']}: nearly uniform (std {grey.std():.1f})"
                levels = len(np.unique(grey.astype(int)))
                assert levels > 12, f"{f['path']}: only {levels} grey levels"
                assert 15 < grey.mean() < 245, f"{f['path']}: black or white ({grey.mean():.0f})"
                assert f["subtitle"], f"{f['path']}: no narration at the key frame"


def test_subtitles_are_drawn(frames):
    """The subtitle band differs from the same frame... drawn as light text: the bottom band of every
    frame has near-white pixels (the CJK glyphs) on the dark subtitle card."""
    for s in frames["mono"]["scenes"]:
        for f in s["frames"]:
            band = load(f["path"])[int(270 * 0.78): int(270 * 0.9)]
            white = (band.min(axis=2) > 215).sum()
            assert white > 60, f"{f['path']}: no subtitle text found ({white} white pixels)"


def test_scenes_differ_from_each_other_and_stages_within_a_scene(frames):
    scenes = frames["mono"]["scenes"]
    firsts = {s["scene"]: load(s["frames"][0]["path"]) for s in scenes}
    for a, b in combinations(firsts, 2):
        diff = np.abs(firsts[a] - firsts[b]).mean()
        assert diff > 20, f"{a} and {b} look alike ({diff:.1f})"
    for s in scenes:
        imgs = [load(f["path"])[:160] for f in s["frames"]]
        for (i, x), y in zip(enumerate(imgs), imgs[1:]):
            diff = np.abs(x - y).mean()
            assert diff > 8, f"{s['scene']}: stages {i} and {i + 1} look alike ({diff:.1f})"


def test_drunk_vision_changes_the_image_against_sober(frames):
    manifest = frames["mono"]
    drunk = frame_of(manifest, "drunk", "drunk_lap")
    assert drunk["effects"] and "reference" in drunk
    impaired, clear = load(drunk["path"]), load(drunk["reference"])
    diff = np.abs(impaired - clear).mean(axis=2)
    assert diff.mean() > 20, f"drunk vision barely changes the image ({diff.mean():.1f})"
    # the tunnel darkens the edges, and the centre stays visible (it is still the road, blurred)
    h, w = diff.shape
    edge = impaired[: h // 5, : w // 5].mean()
    centre = impaired[h // 3: h // 2, w * 2 // 5: w * 3 // 5].mean()
    assert edge < clear[: h // 5, : w // 5].mean() - 30 and centre > 40
    # blur: less fine detail (mean absolute horizontal gradient) in the middle of the view
    def detail(img):
        mid = img[h // 4: h // 2, w // 3: 2 * w // 3].mean(axis=2)
        return np.abs(np.diff(mid, axis=1)).mean()
    assert detail(impaired) < 0.85 * detail(clear)
    # the sober lap has no effect drawn at all
    assert not frame_of(manifest, "drunk", "sober_lap")["effects"]


def test_withdrawal_vision_is_drawn_in_rehab(frames):
    f = frame_of(frames["mono"], "rehab", "withdrawal")
    assert f["effects"]
    assert np.abs(load(f["path"]) - load(f["reference"])).mean() > 15


def _block_disparities(left: np.ndarray, right: np.ndarray, block: int = 40, search: int = 24):
    """For each textured block of the left image: the horizontal shift (dx, 0) that best matches it in the
    right image (left(x, y) = right(x - dx, y)), with its error and the error at (0, 0)."""
    h, w = left.shape
    found = []
    for y0 in range(search + 2, h - block - search - 2, block * 2 // 3):
        for x0 in range(search + 2, w - block - search - 2, block * 2 // 3):
            patch = left[y0: y0 + block, x0: x0 + block]
            if patch.std() < 10:
                continue
            errors = {}
            for dy in (0,):
                for dx in range(-search, search + 1):
                    other = right[y0 - dy: y0 - dy + block, x0 - dx: x0 - dx + block]
                    errors[(dx, dy)] = float(np.abs(patch - other).mean())
            best = min(errors, key=lambda d: (round(errors[d], 3), abs(d[0]) + abs(d[1])))   # ties: the smallest shift
            found.append((best, errors[best], errors[(0, 0)]))
    return found


def test_stereo_halves_differ_by_a_small_horizontal_disparity(frames):
    """Near things sit a few pixels further right in the left eye than in the right eye, far things
    match, and nothing is shifted vertically: the two regions are one lens with an interocular distance."""
    frames_with_depth = checked = 0
    for s in frames["stereo"]["scenes"]:
        for f in s["frames"]:
            if f["effects"]:
                continue
            checked += 1
            img = load(f["path"])
            h, w = img.shape[:2]
            rows = slice(int(h * 0.12), int(h * 0.68))          # below the title, above the subtitles
            left, right = img[rows, : w // 2].mean(axis=2), img[rows, w // 2:].mean(axis=2)
            assert np.abs(left - right).mean() > 0.3, f"{f['path']}: the two eyes see the same image"
            blocks = _block_disparities(left, right)
            assert blocks, f"{f['path']}: no textured block to match"
            # blocks the zero shift does not explain, whose best match is clearly better
            clear = [d for d, e, e0 in blocks if d != (0, 0) and e < 0.6 * e0 and e0 - e > 1.0]
            if not clear:
                continue
            good = [d for d in clear if d[0] >= 1]
            assert len(good) >= 0.7 * len(clear), f"{f['path']}: disparities {clear}"
            assert max(d[0] for d in good) <= 24
            frames_with_depth += 1
            # no vertical disparity: the rows' mean brightness profiles line up best unshifted
            pl, pr = left.mean(axis=1), right.mean(axis=1)
            shifts = {dy: np.abs(pl[4:-4] - pr[4 - dy: len(pr) - 4 - dy]).mean() for dy in range(-4, 5)}
            assert min(shifts, key=shifts.get) == 0, f"{f['path']}: vertical offset between the eyes"
    # most stages have something near enough to show a disparity at 320 px per eye
    assert checked >= 5 and frames_with_depth >= 0.7 * checked, (frames_with_depth, checked)


def test_comfort_mode_vignettes_while_moving_and_keeps_the_horizon(frames):
    normal = frame_of(frames["mono"], "drunk", "sober_lap")
    comfort = frame_of(frames["comfort"], "drunk", "sober_lap")
    a, b = load(normal["path"]), load(comfort["path"])
    h, w = a.shape[:2]
    corner = (slice(0, h // 6), slice(0, w // 6))
    assert b[corner].mean() < a[corner].mean() - 25          # the vignette darkens the periphery
    centre = (slice(h // 3, h // 2), slice(2 * w // 5, 3 * w // 5))
    assert abs(b[centre].mean() - a[centre].mean()) < 12     # and leaves the centre
    crash_normal = frame_of(frames["mono"], "drunk", "crash")
    crash_comfort = frame_of(frames["comfort"], "drunk", "crash")
    assert np.abs(load(crash_normal["path"]) - load(crash_comfort["path"])).mean() > 3   # no camera roll
