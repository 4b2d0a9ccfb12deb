"""Key frames of every stage of every scene, rendered offscreen.

The scene runs with its scripted learner (``Scene.autopilot``) in fixed steps without rendering, and at
each stage's ``keyframe_s`` one frame is rendered and saved. Where a vision effect is on, the same
state is rendered a second time with the effects off (``<stage>-noeffects.png``), so the effect itself
can be compared. Writes ``manifest.json`` beside the PNGs.

    python -m vr_scenes.keyframes --out DIR [--scenes prison,drunk] [--size 320x180] [--stereo]
                                  [--backend headlessgl] [--suffix -pbr] [--palette]

One process renders any number of scenes (Panda3D allows one ShowBase per process); the tests and
the gallery run it as a subprocess.
"""
from __future__ import annotations

import argparse
import json
import os
import time

from . import registry, view
from .core import fast_forward


def render_scene(key: str, out_dir: str, stereo: bool = False, comfort: bool = False, dt: float = 1 / 30,
                 save_size: tuple[int, int] | None = None, reference: bool = True,
                 stages: tuple[str, ...] | None = None, suffix: str = "", palette: bool = False) -> dict:
    scene = registry.create(key, comfort=comfort)
    t0 = time.perf_counter()
    viewer = view.Viewer(scene, stereo=stereo)
    load_s = time.perf_counter() - t0
    frames = []
    try:
        for stage in scene.stages:
            if scene.finished:
                break
            fast_forward(scene, dt=dt, until_stage=stage.key, until_t=stage.keyframe_s)
            if stages is not None and stage.key not in stages:
                continue
            if scene.stage.key != stage.key:
                raise RuntimeError(f"{key}: the scripted learner left stage {stage.key} before its key frame "
                                   f"at {stage.keyframe_s} s")
            viewer.sync()
            viewer.render()
            path = os.path.join(out_dir, f"{key}-{stage.key}{suffix}.png")
            viewer.save(path, save_size, palette)
            entry = {"scene": key, "stage": stage.key, "title": stage.title, "path": path,
                     "t_scene": round(scene.clock.now(), 2), "effects": scene.vision.any,
                     "subtitle": scene.subtitle()}
            if reference and scene.vision.any:
                viewer.effects = False
                viewer.sync()
                viewer.render()
                ref = os.path.join(out_dir, f"{key}-{stage.key}{suffix}-noeffects.png")
                viewer.save(ref, save_size, palette)
                entry["reference"] = ref
                viewer.effects = True
                viewer.sync()
            frames.append(entry)
    finally:
        viewer.close()
    return {"scene": key, "title": scene.title, "load_s": round(load_s, 3), "frames": frames,
            "telemetry": scene.telemetry.summary()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--scenes", default="all")
    parser.add_argument("--size", default="640x360", help="render size WxH")
    parser.add_argument("--save-size", default="", help="resize the PNGs to WxH")
    parser.add_argument("--stereo", action="store_true")
    parser.add_argument("--comfort", action="store_true")
    parser.add_argument("--backend", default="tiny", choices=sorted(view.BACKENDS))
    parser.add_argument("--suffix", default="", help="appended to each PNG's name (the gallery's -pbr)")
    parser.add_argument("--palette", action="store_true", help="save 8-bit palette PNGs (smaller)")
    parser.add_argument("--no-reference", action="store_true", help="no second frame without the vision effect")
    args = parser.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    save = tuple(int(v) for v in args.save_size.split("x")) if args.save_size else None
    view.configure((w, h), backend=args.backend)
    keys = list(registry.scenes()) if args.scenes == "all" else args.scenes.split(",")
    os.makedirs(args.out, exist_ok=True)
    results = [render_scene(k, args.out, stereo=args.stereo, comfort=args.comfort, save_size=save,
                            reference=not args.no_reference, suffix=args.suffix, palette=args.palette)
               for k in keys]
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump({"size": [w, h], "stereo": args.stereo, "scenes": results}, fh, ensure_ascii=False, indent=1)
    for r in results:
        print(f"{r['scene']}: {len(r['frames'])} key frames, load_s={r['load_s']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
