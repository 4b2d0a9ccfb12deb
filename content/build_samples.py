"""Build real sample courses offline: Chinese slides, a moving picture, a timecode.

    python -m content.build_samples [--out content/samples] [--minutes 3] [--only SLUG ...]

Each course is an H.264 MP4 (640x360, 15 fps) and a JSON manifest with a question bank
keyed to the slide on screen. Slides are drawn with Pillow in Noto Sans CJK (Debian
fonts-noto-cjk); frames are piped to the ffmpeg CLI. Slide backgrounds are drawn once;
per frame only the moving parts are composited with numpy (under a second of Python per
3-minute course); x264 takes the rest, about 10-15 s per 3-minute course on two cores.
Questions are placed in the second half of the slide they ask about.
"""
from __future__ import annotations

import argparse
import json
import math
import os
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
MIN_MINUTES = 0.05  # 3 s: every slide still gets over half a second
PALETTE = {"law": (20, 54, 95), "ethics": (88, 40, 20), "psychology": (24, 80, 62), "vocational": (70, 44, 96)}


class BuildError(Exception):
    pass


def find_font() -> str:
    for path in FONT_PATHS:
        if Path(path).is_file():
            return path
    raise BuildError("no CJK font found: install the Debian package fonts-noto-cjk "
                     f"(looked for {', '.join(FONT_PATHS)})")


def simplified_chinese_index(path: str) -> int:
    """The face of a font collection drawn for Simplified Chinese. Noto's .ttc starts with
    the Japanese face, whose glyphs differ from mainland forms for some characters."""
    for index in range(16):
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0]
        except OSError:
            break
        if family.endswith(" SC") and "Mono" not in family:
            return index
    return 0


def load_fonts(path: str) -> dict[str, ImageFont.FreeTypeFont]:
    index = simplified_chinese_index(path)
    bold = path.replace("-Regular.", "-Bold.")
    heading = ImageFont.truetype(bold, 30, index=simplified_chinese_index(bold)) if bold != path and \
        Path(bold).is_file() else ImageFont.truetype(path, 30, index=index)
    return {"big": heading, "body": ImageFont.truetype(path, 20, index=index),
            "small": ImageFont.truetype(path, 18, index=index)}


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


def question_times(counts: list[int], seconds: float) -> list[list[float]]:
    """When to ask each question: counts[i] questions for slide i, spread over the second
    half of that slide (rounded down to 0.1 s, so never past its end)."""
    per_slide = seconds / len(counts)
    return [[math.floor((per_slide * (i + 0.55 + 0.35 * j / count)) * 10) / 10 for j in range(count)]
            for i, count in enumerate(counts)]


def render_course(course: dict, seconds: float, out: Path, fonts: dict) -> dict:
    """Encode <slug>.mp4 and write <slug>.json in `out`; returns the manifest. Both files
    are written under temporary names and renamed at the end, so an interrupted build
    never leaves a truncated video beside a manifest."""
    slides = course["slides"]
    n = len(slides)
    per_slide = seconds / n
    backgrounds = [slide_image(course, i, n, fonts) for i in range(n)]
    sprite, mask = disc_sprite(22, (255, 196, 0))
    r = sprite.shape[0] // 2
    frames = int(round(seconds * FPS))
    video = out / f"{course['slug']}.mp4"
    partial = out / f".{course['slug']}.mp4.part"
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "pipe:0",
           "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
           "-g", str(2 * FPS), "-movflags", "+faststart", "-f", "mp4", str(partial)]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise BuildError("ffmpeg is missing: install the Debian package ffmpeg") from None
    clock_cache: dict[int, np.ndarray] = {}
    try:
        try:
            for f in range(frames):
                t = f / FPS
                frame = backgrounds[min(n - 1, int(t / per_slide))].copy()
                # A disc orbiting in the right-hand panel: the picture changes every frame.
                angle = 2 * math.pi * t / 6.0
                cx, cy = int(W - 90 + 50 * math.cos(angle)), int(205 + 50 * math.sin(angle))
                region = frame[cy - r:cy + r + 1, cx - r:cx + r + 1]
                region[mask] = sprite[mask]
                # Progress bar across the bottom, and the running timecode above its right end.
                frame[H - 8:H, : int(W * t / seconds)] = (255, 196, 0)
                second = int(t)
                if second not in clock_cache:
                    clock_cache[second] = timecode_image(second, fonts["small"])
                tc = clock_cache[second]
                frame[H - 40:H - 40 + tc.shape[0], W - 16 - tc.shape[1]:W - 16] = tc
                proc.stdin.write(frame.data)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg died: its exit status and message follow
        if proc.wait() != 0:
            raise BuildError(f"ffmpeg failed on {video}: {proc.stderr.read().decode(errors='replace')[-400:]}")
        os.replace(partial, video)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        partial.unlink(missing_ok=True)
    questions = []
    times = question_times([len(s["questions"]) for s in slides], frames / FPS)
    for slide, slide_times in zip(slides, times):
        questions += [{"at": at, **q} for at, q in zip(slide_times, slide["questions"])]
    manifest = {"slug": course["slug"], "title": course["title"], "category": course["category"],
                "description": course["description"], "media": video.name, "questions": questions}
    target = out / f"{course['slug']}.json"
    tmp = out / f".{course['slug']}.json.part"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
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
    if not MIN_MINUTES <= args.minutes <= 60:
        parser.error(f"--minutes must be in [{MIN_MINUTES}, 60]")
    try:
        font_path = find_font()
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fonts = load_fonts(font_path)
    args.out.mkdir(parents=True, exist_ok=True)
    known = [c["slug"] for c in COURSES]
    unknown = [slug for slug in args.only or () if slug not in known]
    if unknown:
        parser.error(f"no course {', '.join(unknown)}; choose from {', '.join(known)}")
    chosen = [c for c in COURSES if not args.only or c["slug"] in args.only]
    for course in chosen:
        started = time.monotonic()
        try:
            render_course(course, args.minutes * 60, args.out, fonts)
        except BuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"built {course['slug']} ({args.minutes * 60:.0f} s) in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
