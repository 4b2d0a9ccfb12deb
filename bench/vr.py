"""VR scenes: frame rate, slowest stage, draw calls, triangles and load time per scene and pipeline
(issues 5 and 15).

    python -m bench.vr                          # both pipelines, 1280x720, 20 frames a stage
    python -m bench.vr --pipelines gl --eye 1440x1600   # the HMD shape: stereo 2 x 1440x1600 only
    python -m bench.vr --smoke                  # the test suite's short run (2 frames a stage, 320x180)

Pipelines: ``software`` is p3tinydisplay (no shaders: the scenes' fixed-function look), ``gl`` is
p3headlessgl (EGL; Mesa llvmpipe on a machine without a GPU) with the PBR look (vr_scenes.look:
panda3d-simplepbr's shading, shadows from the main light), in the tier the renderer gets: ``pbr`` per
pixel on a GPU, ``pbr-vertex`` on llvmpipe (``VR_LOOK=pbr`` / ``pbr-vertex`` force one). Panda3D opens one display backend per
process, so each pipeline runs in its own subprocess (``--pipeline NAME``, what the parent starts).

Per scene, mono then stereo: at every stage's key frame the scripted learner keeps playing (logic stepped
at the frame time) while ``--frames`` frames are rendered; fps is frames over the wall time of the whole
loop (logic, view sync, hands, rendering; GL with glFinish every frame). Prints key=value lines:
fps_<scene>_<pipeline> and fps_stereo_<scene>_<pipeline> (mean over the stages: frames over the total
time), fps_min_<scene>_<pipeline> and slowest_stage_<scene>_<pipeline> (the slowest stage, mono),
drawcalls_ and triangles_<scene>_<pipeline> (the most in any stage, mono, per eye), load_s_<scene>_<pipeline>
(the scene's procedural geometry, the view, the hands and the first frame: shaders compile there),
look_<scene>_<pipeline> (software, pbr or pbr-vertex),
cpu_ms_per_frame_<scene>_<pipeline> (the process's CPU time per frame, all threads: llvmpipe's too; what
a loaded machine does not change),
characters_<scene> (animated characters the scene loads: Character nodes under the scene root, the
learner's own hands not counted), and the conditions (window, frames, cores, load average, renderer).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import parse_args

# --smoke: every scene and stage, mono and stereo, 2 frames each in a small window, a few seconds per
# pipeline (tests/bench/test_bench_smoke.py)
SMOKE = {"frames": 2, "size": "320x180"}
PIPELINES = {"software": "tiny", "gl": "headlessgl"}
GOALS = "llvmpipe mono 1280x720 >= 30 fps; software mean >= 60 fps, slowest stage >= 30 fps; load < 3 s"


def characters(viewer) -> int:
    """Animated characters under the scene root (Character nodes: what an Actor loads), the hands not
    counted; a scene's ``cast`` where it has one and no Character is found."""
    from panda3d.core import Character

    found = 0
    for node in viewer.root.find_all_matches("**/+Character"):
        if viewer.hands is not None and viewer.hands.anchor.is_ancestor_of(node):
            continue
        if isinstance(node.node(), Character):
            found += 1
    if not found:
        cast = getattr(viewer.scene, "cast", None)
        try:
            found = len(cast) if cast is not None else 0
        except TypeError:
            found = 0
    return found


def run_scene(key: str, stereo: bool, frames: int, dt: float = 1 / 60, hands: bool = True) -> dict:
    from vr_scenes import registry, view
    from vr_scenes.core import fast_forward

    t0 = time.perf_counter()
    scene = registry.create(key)
    viewer = view.Viewer(scene, stereo=stereo, hands=hands)
    viewer.sync()
    viewer.render()                        # first frame: textures, text glyphs and shaders are prepared here
    load_s = time.perf_counter() - t0
    per_stage, draw_calls, triangles, cpu_s = {}, 0, 0, 0.0
    cast = characters(viewer)
    try:
        for stage in scene.stages:
            fast_forward(scene, dt=1 / 30, until_stage=stage.key, until_t=stage.keyframe_s)
            if scene.stage.key != stage.key:
                continue
            viewer.update(0.0)
            viewer.render()                # warm the stage (effects buffers, text, the mood's shadow map)
            draw_calls = max(draw_calls, viewer.draw_calls() // len(viewer.eyes))
            triangles = max(triangles, viewer.triangles() // len(viewer.eyes))
            cast = max(cast, characters(viewer))
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(frames):
                viewer.update(dt, scene.autopilot())
                viewer.render()
            per_stage[stage.key] = frames / (time.perf_counter() - start)
            cpu_s += time.process_time() - cpu
        look = viewer.look.kind
    finally:
        viewer.close()
    mean_fps = len(per_stage) / sum(1 / f for f in per_stage.values())   # frames over total time
    slowest = min(per_stage, key=per_stage.get)
    return {"fps": mean_fps, "fps_min": per_stage[slowest], "slowest": slowest, "load_s": load_s,
            "draw_calls": draw_calls, "triangles": triangles, "per_stage": per_stage, "characters": cast,
            "look": look, "cpu_ms": 1000 * cpu_s / (frames * len(per_stage))}


def run_pipeline(args, name: str) -> int:
    """One pipeline in this process: every scene, mono and stereo (or stereo only with --eye)."""
    from panda3d.core import load_prc_file_data

    from vr_scenes import registry, view

    backend = PIPELINES[name]
    size = window_size(args)
    if backend != "tiny":
        # GL queues commands: without glFinish after every frame a frame "ends" before the GPU drew it
        load_prc_file_data("bench.vr", "gl-finish true")
        if args.egl_device is not None:
            load_prc_file_data("bench.vr", f"egl-device-index {args.egl_device}")
    view.configure(size, backend=backend)
    try:
        b = view.base()
    except RuntimeError as exc:
        print(f"pipeline_{name}=unavailable ({exc})")
        return 0
    gsg = b.win.get_gsg()
    print(f"renderer_{name}={gsg.get_driver_renderer() or 'software'} (pipe {b.pipe.get_type().get_name()}, "
          f"GL {gsg.get_driver_version() or '-'})")
    keys = list(registry.scenes()) if args.scenes == "all" else args.scenes.split(",")
    for key in keys:
        mono = None if args.eye else run_scene(key, False, args.frames, hands=not args.no_hands)
        stereo = run_scene(key, True, args.frames, hands=not args.no_hands)
        main = mono or stereo
        s = f"{key}_{name}"
        if mono:
            print(f"fps_{s}={mono['fps']:.1f}")
        print(f"fps_stereo_{s}={stereo['fps']:.1f}")
        print(f"fps_min_{s}={main['fps_min']:.1f}")
        print(f"slowest_stage_{s}={main['slowest']} {main['fps_min']:.1f} fps")
        print(f"drawcalls_{s}={main['draw_calls']}")
        print(f"triangles_{s}={main['triangles']}")
        print(f"load_s_{s}={main['load_s']:.2f}")
        print(f"look_{s}={main['look']}")
        print(f"cpu_ms_per_frame_{s}={main['cpu_ms']:.1f}")
        if name == "software" or args.pipelines == name:
            print(f"characters_{key}={main['characters']}")
        if args.stages:
            print(f"stages_{s}=" + " ".join(f"{k}:{v:.0f}" for k, v in main["per_stage"].items()))
        sys.stdout.flush()
    return 0


def window_size(args) -> tuple[int, int]:
    if args.eye:
        ew, eh = (int(v) for v in args.eye.split("x"))
        return (2 * ew, eh)
    w, h = (int(v) for v in args.size.split("x"))
    return (w, h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="VR scene frame rates per pipeline")
    parser.add_argument("--pipelines", default="software,gl", help="software (p3tinydisplay), gl (p3headlessgl + PBR)")
    parser.add_argument("--pipeline", default="", help=argparse.SUPPRESS)     # a child process: this one only
    parser.add_argument("--size", default="1280x720", help="window size (mono; stereo splits it in two)")
    parser.add_argument("--eye", default="", help="stereo eye size WxH: the window becomes 2W x H, stereo only "
                                                  "(e.g. 1440x1600 for the HMD goal)")
    parser.add_argument("--frames", type=int, default=20, help="frames rendered per stage")
    parser.add_argument("--scenes", default="all")
    parser.add_argument("--stages", action="store_true", help="also print each stage's fps")
    parser.add_argument("--no-hands", action="store_true", help="without the first-person hands (their cost)")
    parser.add_argument("--egl-device", type=int, default=None, help="gl: which EGL device (GPU)")
    args = parse_args(parser, argv, SMOKE)
    if args.pipeline:
        return run_pipeline(args, args.pipeline)
    if args.smoke:
        print("smoke=1")
    w, h = window_size(args)
    load1, load5, load15 = os.getloadavg()
    print(f"window={w}x{h} stereo_eye={w // 2}x{h} frames_per_stage={args.frames}")
    print(f"cores={os.cpu_count()}")
    print(f"loadavg={load1:.2f}/{load5:.2f}/{load15:.2f} before the run")
    print(f"goals={GOALS}")
    sys.stdout.flush()
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--smoke"]
    if args.smoke:
        forwarded += ["--frames", str(args.frames), "--size", args.size]
    code = 0
    began = time.perf_counter()
    for name in args.pipelines.split(","):
        if name not in PIPELINES:
            parser.error(f"unknown pipeline {name!r}")
        proc = subprocess.run([sys.executable, "-m", "bench.vr", *forwarded, "--pipeline", name],
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            print(f"pipeline_{name}=failed (exit {proc.returncode})")
            code = 1
        sys.stdout.flush()
    load1, load5, load15 = os.getloadavg()
    print(f"loadavg_after={load1:.2f}/{load5:.2f}/{load15:.2f}")
    print(f"bench_seconds={time.perf_counter() - began:.1f}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
