"""Build real sample courses offline: Chinese slides, a moving picture, a timecode.

    python -m content.build_samples [--out content/samples] [--minutes 3] [--only SLUG ...]

Each course is an H.264 MP4 (640x360, 15 fps) and a JSON manifest with a question bank
keyed to the slide on screen. Slides are drawn with Pillow in Noto Sans CJK (Debian
fonts-noto-cjk); frames are piped to the ffmpeg CLI. Slide backgrounds are drawn once;
per frame only the moving parts are composited with numpy, so a 3-minute course takes
seconds on two cores.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .sample_courses import COURSES

W, H, FPS = 640, 360, 15
FONT_PATHS = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
              "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
              "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
PALETTE = {"law": (20, 54, 95), "ethics": (88, 40, 20), "psychology": (24, 80, 62), "vocational": (70, 44, 96)}


class BuildError(Exception):
    pass


def find_font() -> str:
    for path in FONT_PATHS:
        if Path(path).is_file():
            return path
    raise BuildError("no CJK font found: install the Debian package fonts-noto-cjk "
                     f"(looked for {', '.join(FONT_PATHS)})")


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Wrap Chinese text by character (it has no spaces), keeping lines within width."""
    lines, line = [], ""
    for ch in text:
        if font.getlength(line + ch) > width and line:
            lines.append(line)
            line = ""
        line += ch
    return lines + [line] if line else lines


def slide_image(course: dict, index: int, total: int, fonts: dict) -> np.ndarray:
    slide = course["slides"][index]
    base = PALETTE[course["category"]]
    img = Image.new("RGB", (W, H), base)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, W, 44], fill=tuple(min(255, c + 40) for c in base))
    draw.text((16, 8), course["title"], font=fonts["small"], fill=(255, 255, 255))
    draw.text((W - 90, 10), f"{index + 1} / {total}", font=fonts["small"], fill=(230, 230, 230))
    draw.text((24, 62), slide["heading"], font=fonts["big"], fill=(255, 230, 140))
    y = 112
    for paragraph in slide["lines"]:
        for line in wrap(paragraph, fonts["body"], W - 200):
            draw.text((32, y), line, font=fonts["body"], fill=(255, 255, 255))
            y += 30
        y += 6
    return np.asarray(img, dtype=np.uint8).copy()


def disc_sprite(radius: int, colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    mask = (xx * xx + yy * yy) <= radius * radius
    sprite = np.zeros(mask.shape + (3,), np.uint8)
    sprite[mask] = colour
    return sprite, mask


def render_course(course: dict, seconds: float, out: Path, fonts: dict, font_path: str) -> dict:
    slides = course["slides"]
    n = len(slides)
    per_slide = seconds / n
    backgrounds = [slide_image(course, i, n, fonts) for i in range(n)]
    sprite, mask = disc_sprite(22, (255, 196, 0))
    frames = int(round(seconds * FPS))
    video = out / f"{course['slug']}.mp4"
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{W}x{H}", "-r", str(FPS), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
           "-profile:v", "main", "-pix_fmt", "yuv420p", "-g", str(2 * FPS), "-movflags", "+faststart", str(video)]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise BuildError("ffmpeg is missing: install the Debian package ffmpeg") from None
    clock_cache: dict[int, np.ndarray] = {}
    try:
        for f in range(frames):
            t = f / FPS
            slide = min(n - 1, int(t / per_slide))
            frame = backgrounds[slide].copy()
            # A disc orbiting in the right-hand panel: the picture changes every frame.
            angle = 2 * math.pi * t / 6.0
            cx, cy = int(W - 90 + 50 * math.cos(angle)), int(205 + 50 * math.sin(angle))
            r = sprite.shape[0] // 2
            region = frame[cy - r:cy + r + 1, cx - r:cx + r + 1]
            region[mask] = sprite[mask]
            # Progress bar across the bottom.
            frame[H - 8:H, : int(W * t / seconds)] = (255, 196, 0)
            second = int(t)
            if second not in clock_cache:
                clock_cache[second] = timecode_image(second, fonts["small"])
            tc = clock_cache[second]
            frame[H - 40:H - 40 + tc.shape[0], W - 16 - tc.shape[1]:W - 16] = tc
            proc.stdin.write(frame.tobytes())
        proc.stdin.close()
        if proc.wait() != 0:
            raise BuildError(f"ffmpeg failed on {video}: {proc.stderr.read().decode()[-400:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    questions = []
    for i, slide in enumerate(slides):
        for j, q in enumerate(slide["questions"]):
            at = round(per_slide * i + per_slide * (0.6 + 0.2 * j), 1)
            questions.append({"at": min(at, round(seconds - 0.5, 1)), **q})
    manifest = {"slug": course["slug"], "title": course["title"], "category": course["category"],
                "description": course["description"], "media": video.name, "questions": questions}
    (out / f"{course['slug']}.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                                encoding="utf-8")
    return manifest


def timecode_image(second: int, font: ImageFont.FreeTypeFont) -> np.ndarray:
    img = Image.new("RGB", (64, 24), (0, 0, 0))
    ImageDraw.Draw(img).text((4, 0), f"{second // 60:02d}:{second % 60:02d}", font=font, fill=(255, 255, 255))
    return np.asarray(img, dtype=np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "samples")
    parser.add_argument("--minutes", type=float, default=3.0, help="length of each course")
    parser.add_argument("--only", nargs="*", help="slugs to build (default: all)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.minutes > 60:
        parser.error("--minutes must be in (0, 60]")
    try:
        font_path = find_font()
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fonts = {"big": ImageFont.truetype(font_path, 30), "body": ImageFont.truetype(font_path, 20),
             "small": ImageFont.truetype(font_path, 18)}
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = [c for c in COURSES if not args.only or c["slug"] in args.only]
    if not chosen:
        parser.error(f"no such course; choose from {', '.join(c['slug'] for c in COURSES)}")
    for course in chosen:
        started = time.monotonic()
        try:
            render_course(course, args.minutes * 60, args.out, fonts, font_path)
        except BuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"built {course['slug']} ({args.minutes * 60:.0f} s) in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
