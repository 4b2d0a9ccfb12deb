"""Run a scene for a learner: ``python -m vr_scenes --scene drunk [--stereo] [--comfort] [--xr]``.

Opens a window (OpenGL) and plays the scene in real time with keyboard and mouse-look, or with an HMD
through OpenXR (``--xr``, needs an OpenXR runtime and an OpenGL window; without them one line on
stderr says why and the scene runs on keyboard and mouse-look). ``--autopilot`` lets the scripted learner
play (a demonstration); ``--offscreen`` renders without a window (software renderer). At the end the
session's telemetry is printed as JSON (the station client will post it to the portal).
"""
from __future__ import annotations

import argparse
import json
import sys

from . import registry, view
from .controls import DesktopControls, OpenXRHead, OpenXRUnavailable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="VR warning-education scenes")
    parser.add_argument("--scene", default="prison", choices=list(registry.scenes()))
    parser.add_argument("--stereo", action="store_true", help="side-by-side stereo for an HMD used as a display")
    parser.add_argument("--comfort", action="store_true", help="vignette while moving, no camera roll")
    parser.add_argument("--no-sound", action="store_true", help="no sound and no spoken subtitles")
    parser.add_argument("--xr", action="store_true", help="head tracking and HMD output through OpenXR")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--backend", default="gl", choices=sorted(view.BACKENDS))
    parser.add_argument("--offscreen", action="store_true")
    parser.add_argument("--autopilot", action="store_true", help="the scripted learner plays")
    parser.add_argument("--speed", type=float, default=1.0, help="scene time per real second")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: at the end)")
    parser.add_argument("--max-seconds", type=float, default=0.0, help="stop after this much real time")
    args = parser.parse_args(argv)

    w, h = (int(v) for v in args.size.split("x"))
    view.configure((w, h), backend="tiny" if args.offscreen and args.backend == "gl" else args.backend,
                   offscreen=args.offscreen, title=registry.get(args.scene).title, sound=not args.no_sound)
    scene = registry.create(args.scene, comfort=args.comfort)
    viewer = view.Viewer(scene, stereo=args.stereo)
    b = view.base()
    controls = DesktopControls(b, mouse=not args.autopilot)
    head = None
    xr_fallback = None
    if args.xr:
        try:
            head = OpenXRHead(viewer)
        except OpenXRUnavailable as exc:  # no package, no runtime, no GL window: say so, stay on the desktop
            xr_fallback = exc.kind
            print(f"OpenXR unavailable: {exc.reason}; using keyboard and "
                  f"{'mouse-look' if controls.mouse else 'keys to look'} instead", file=sys.stderr)
    if head is not None:
        control_kind = "openxr"
    elif args.autopilot:
        control_kind = "autopilot"
    else:
        control_kind = "mouse-look" if controls.mouse else "keyboard"
    frames = 0

    import time

    from direct.showbase.ShowBaseGlobal import globalClock

    started = time.monotonic()

    def tick(task):
        nonlocal frames
        dt = min(0.1, globalClock.get_dt()) if not args.offscreen else 1 / 60
        dt *= args.speed
        inputs = scene.autopilot() if args.autopilot else controls.read(dt)
        if head is not None:
            inputs = head.apply(inputs)
        viewer.update(dt, inputs)
        frames += 1
        out_of_time = args.max_seconds and time.monotonic() - started >= args.max_seconds
        if scene.finished or (args.max_frames and frames >= args.max_frames) or out_of_time:
            b.task_mgr.stop()
            return task.done
        return task.cont

    b.task_mgr.add(tick, "vr-scene")
    b.run()
    summary = scene.telemetry.summary()
    summary["frames"] = frames
    summary["controls"] = control_kind
    if args.xr:
        summary["xr_fallback"] = xr_fallback
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
