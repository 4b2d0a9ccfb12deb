"""VR scenes: frame rate, load time and draw calls per scene (issue 5).

    python -m bench.vr                       # software renderer (p3tinydisplay), 1280x720
    python -m bench.vr --backend headlessgl --eye 1440x1600   # EGL GPU: stereo 2 x 1440x1600
    python -m bench.vr --smoke               # the test suite's short run (2 frames a stage, 320x180)

Each scene runs in this one process, mono then stereo: at every stage's key frame the scripted learner
keeps playing (logic stepped at the frame time) while ``--frames`` frames are rendered; fps is frames
over the wall time of the whole loop (logic, view sync and rendering). Prints key=value lines:
fps_<scene>, fps_<scene>_stereo (mean over the stages), fps_min_<scene>[_stereo] (slowest stage),
load_s_<scene> (building the scene's procedural geometry and textures and the view),
drawcalls_<scene> (the most in any stage, mono; stereo doubles it).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import parse_args
from vr_scenes import registry, view
from vr_scenes.core import fast_forward

# --smoke: every scene and stage, mono and stereo, 2 frames each in a small window, a few seconds
# (tests/bench/test_bench_smoke.py)
SMOKE = {"frames": 2, "size": "320x180"}


def run_scene(key: str, stereo: bool, frames: int, dt: float = 1 / 60) -> dict:
    t0 = time.perf_counter()
    scene = registry.create(key)
    viewer = view.Viewer(scene, stereo=stereo)
    viewer.sync()
    viewer.render()                        # first frame: textures and text glyphs are prepared here
    load_s = time.perf_counter() - t0
    per_stage, draw_calls = {}, 0
    try:
        for stage in scene.stages:
            fast_forward(scene, dt=1 / 30, until_stage=stage.key, until_t=stage.keyframe_s)
            if scene.stage.key != stage.key:
                continue
            viewer.update(0.0)
            viewer.render()                # warm the stage (effects buffers, text)
            draw_calls = max(draw_calls, viewer.draw_calls())
            start = time.perf_counter()
            for _ in range(frames):
                viewer.update(dt, scene.autopilot())
                viewer.render()
            per_stage[stage.key] = frames / (time.perf_counter() - start)
    finally:
        viewer.close()
    mean_fps = len(per_stage) / sum(1 / f for f in per_stage.values())   # frames over total time
    return {"fps": mean_fps, "fps_min": min(per_stage.values()), "load_s": load_s, "draw_calls": draw_calls,
            "per_stage": per_stage}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="VR scene frame rates")
    parser.add_argument("--backend", default="tiny", choices=sorted(view.BACKENDS))
    parser.add_argument("--size", default="1280x720", help="window size (mono; stereo splits it in two)")
    parser.add_argument("--eye", default="", help="stereo eye size WxH: the window becomes 2W x H "
                                                  "(e.g. 1440x1600 for the HMD goal)")
    parser.add_argument("--frames", type=int, default=20, help="frames rendered per stage")
    parser.add_argument("--scenes", default="all")
    parser.add_argument("--stages", action="store_true", help="also print each stage's fps")
    parser.add_argument("--egl-device", type=int, default=None, help="headlessgl: which EGL device (GPU)")
    args = parse_args(parser, argv, SMOKE)
    if args.smoke:
        print("smoke=1")
    if args.eye:
        ew, eh = (int(v) for v in args.eye.split("x"))
        size = (2 * ew, eh)
    else:
        size = tuple(int(v) for v in args.size.split("x"))
    if args.backend != "tiny":
        # GL queues commands: without glFinish after every frame a frame "ends" before the GPU drew it
        from panda3d.core import load_prc_file_data

        load_prc_file_data("bench.vr", "gl-finish true")
        if args.egl_device is not None:
            load_prc_file_data("bench.vr", f"egl-device-index {args.egl_device}")
    view.configure(size, backend=args.backend)
    b = view.base()
    gsg = b.win.get_gsg()
    print(f"backend={args.backend} pipe={b.pipe.get_type().get_name()} renderer={gsg.get_driver_renderer() or 'software'}")
    print(f"window={size[0]}x{size[1]} frames_per_stage={args.frames} cpus={os.cpu_count()}")
    keys = list(registry.scenes()) if args.scenes == "all" else args.scenes.split(",")
    for key in keys:
        modes = [("", False), ("_stereo", True)]
        if args.eye:
            modes = [("_stereo", True)]
        for suffix, stereo in modes:
            r = run_scene(key, stereo, args.frames)
            print(f"fps_{key}{suffix}={r['fps']:.1f}")
            print(f"fps_min_{key}{suffix}={r['fps_min']:.1f}")
            if not stereo or args.eye:
                print(f"load_s_{key}={r['load_s']:.2f}")
                print(f"drawcalls_{key}={r['draw_calls'] // (2 if stereo else 1)}")
            if args.stages:
                print(f"stages_{key}{suffix}=" + " ".join(f"{k}:{v:.0f}" for k, v in r["per_stage"].items()))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
