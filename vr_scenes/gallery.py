"""The gallery: key frames of every stage of every scene as small PNGs, for a person to look at.

    python -m vr_scenes.gallery [--out docs/vr_gallery]

Writes one 640x360 PNG per stage (mono), the impaired stages again without their vision effect, a
stereo side-by-side frame of each scene, and ``README.md`` there with the stages and their narration.
Rendered twice: with the software renderer (p3tinydisplay, the lean look without shaders), and with
OpenGL and PBR (``p3headlessgl``: Mesa's llvmpipe here, a station's GPU there) in a second process,
since Panda3D opens one display backend per process (``<scene>-<stage>-pbr.png``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from . import registry, view
from .keyframes import render_scene

STEREO_STAGES = {"prison": ("cell",), "drunk": ("briefing",), "rehab": ("family",)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join("docs", "vr_gallery"))
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):                 # frames of stages that no longer exist go
        if name.endswith(".png"):
            os.remove(os.path.join(args.out, name))
    view.configure((640, 360))
    lines = ["# VR scenes: key frames", "",
             ("Made by `python -m vr_scenes.gallery` (640x360; the scripted learner plays each scene and one "
              "frame is taken in every stage). Each stage is shown in the software renderer's look first "
              "(p3tinydisplay, no shaders: what a station without a GPU shows) and then with OpenGL and "
              "physically based light and shadows (`vr_scenes/look.py`, rendered here by Mesa's llvmpipe "
              "under p3headlessgl). Rooms, props and textures are built in code (`vr_scenes/procgen.py`, "
              "`vr_scenes/props.py`); the people and the first-person hands are panda3d-assetcoop's rigged "
              "characters, dressed and posed in code (`vr_scenes/people.py`, `vr_scenes/hands.py`). "
              "Where everything comes from: [CREDITS.md](CREDITS.md)."), ""]
    pbr = _render_pbr(args.out)
    for key, cls in registry.scenes().items():
        result = render_scene(key, args.out, palette=True)
        stereo_stages = STEREO_STAGES.get(key, (cls.stages[0].key,))
        stereo = render_scene(key, args.out, stereo=True, stages=stereo_stages, suffix="-stereo",
                              reference=False, palette=True)
        lines += [f"## {cls.title} (`{key}`)", "", (cls.__doc__ or sys.modules[cls.__module__].__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
                  "", "| stage | key frame | narration at that moment |", "| --- | --- | --- |"]
        for frame, stage in zip(result["frames"], cls.stages, strict=True):
            image = os.path.basename(frame["path"])
            cell = f"![{stage.title}]({image})"
            if frame.get("reference"):
                cell += f"<br>without the vision effect: ![{stage.title}]({os.path.basename(frame['reference'])})"
            pbr_image = f"{key}-{stage.key}-pbr.png"
            cell += f"<br>OpenGL + PBR: ![{stage.title}, PBR]({pbr_image})" if pbr_image in pbr else ""
            lines.append(f"| **{stage.title}** `{stage.key}` ({stage.duration_s:.0f} s max) | {cell} | "
                         f"{frame['subtitle']} |")
        for frame in stereo["frames"]:
            lines += ["", f"Stereo side-by-side (left eye, right eye), stage `{frame['stage']}`:", "",
                      f"![stereo]({os.path.basename(frame['path'])})"]
        t = result["telemetry"]
        lines += ["", (f"Scripted run: {t['seconds_total'] / 60:.1f} min, {t['stages_completed']} of "
                       f"{len(cls.stages)} stages completed by the learner's action (the rest run their time)."), ""]
        print(f"{key}: {len(result['frames'])} key frames")
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return 0


def _render_pbr(out: str) -> set[str]:
    """Every stage's key frame with OpenGL and per-pixel PBR (the look of a station's GPU, forced here
    where Mesa's llvmpipe would choose the per-vertex tier), from a child process (another display backend);
    the names of the PNGs it wrote (none, with a line saying why, where no GL pipeline opens)."""
    proc = subprocess.run([sys.executable, "-m", "vr_scenes.keyframes", "--out", out, "--size", "640x360",
                           "--backend", "headlessgl", "--suffix=-pbr", "--palette", "--no-reference"],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "VR_LOOK": "pbr"})   # a GPU station's look, per pixel
    if proc.returncode != 0:
        print(f"no PBR frames: the GL pipeline failed ({proc.stderr.strip().splitlines()[-1:]})")
        return set()
    os.remove(os.path.join(out, "manifest.json"))
    return {name for name in os.listdir(out) if name.endswith("-pbr.png")}


if __name__ == "__main__":
    raise SystemExit(main())
