"""A short test course whose every frame says its own media time, with a tone that changes pitch
every second.

    python -m content.marker_video OUT --seconds N [--width 640 --height 360 --fps 15 --format mp4]

For the tests and benches of course playback into conferences (streaming.conference.playback) and
for browser tests that play it: a machine reads the time back from a decoded frame with
:func:`read_marker`, after VP8 at a few hundred kbit/s and after downscaling to 320x180.

The file: MP4 with H.264 (x264, constrained baseline, yuv420p, a keyframe every second, no
B-frames) and AAC-LC, 48 kHz stereo, ``+faststart`` (what a browser's ``<video>`` plays from its
first bytes); ``--format webm`` writes VP8 + Opus instead (for a browser without H.264). Both are
encoded with PyAV (this environment's PyAV has libx264, aac, libvpx and libopus), single-threaded,
so a build is deterministic: the same arguments give the same bytes. 640x360 at 15 fps costs about
a second per 10 s of video on one core.

The marker (the top fifth of the frame, everything proportional to the frame's size): two rows of
``CELLS`` equal cells. Row 0: a white then a black guard cell, then ``BITS`` bits of the media time in
centiseconds, least significant first, white = 1. Row 1 is row 0 inverted (guards included). A
reader takes the mean of the middle half of each cell; a cell counts only when it is clearly dark
(< 90) or clearly light (> 165), and every cell of row 1 must be the opposite of the one above it:
a frame halfway through a change, or a marker smeared by the encoder, reads None rather than a wrong
time. At 320x180 a cell is 16x18 pixels, two VP8 macroblocks wide.

The tone: a sine at ``tone_hz(t)`` (400, 500, ... 900 Hz, then again, one step per whole second),
at 0.3 of full scale on both channels.
"""
from __future__ import annotations

import argparse
import fractions
import math
import sys
from pathlib import Path

import numpy as np

CELLS = 20                 # cells per marker row
BITS = CELLS - 2           # two guard cells
BAND = 0.2                 # the marker's share of the frame's height (two rows)
UNIT = 100                 # the marker counts centiseconds
DARK, LIGHT = 90, 165
AUDIO_RATE = 48_000
TONE_LEVEL = 0.3


def tone_hz(t: float) -> float:
    """The tone's pitch at media time ``t``: it changes every whole second."""
    return 400.0 + 100.0 * (int(t) % 6)


def _cell_box(width: int, height: int, row: int, col: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of a marker cell in a frame of that size."""
    row_h = height * BAND / 2
    cell_w = width / CELLS
    return round(row * row_h), round((row + 1) * row_h), round(col * cell_w), round((col + 1) * cell_w)


def marker_bits(t: float) -> list[int]:
    """Row 0 of the marker for media time ``t`` (guards first); row 1 is its inverse."""
    value = int(round(t * UNIT))
    if not 0 <= value < 1 << BITS:
        raise ValueError(f"media time {t} s is outside the marker's range")
    return [1, 0] + [(value >> i) & 1 for i in range(BITS)]


def draw_marker(rgb: np.ndarray, t: float) -> np.ndarray:
    """``rgb`` (HxWx3 uint8) with the marker of media time ``t`` drawn in, in place; returns it."""
    height, width = rgb.shape[:2]
    for col, bit in enumerate(marker_bits(t)):
        for row, value in ((0, bit), (1, 1 - bit)):
            y0, y1, x0, x1 = _cell_box(width, height, row, col)
            rgb[y0:y1, x0:x1] = 255 if value else 0
    return rgb


def read_marker(rgb: np.ndarray) -> float | None:
    """The media time (seconds) drawn into a decoded frame (HxWx3, any size), or None when the
    frame carries no valid marker (none drawn, or a cell neither dark nor light, or a row that is
    not the inverse of the other)."""
    if rgb is None or rgb.ndim != 3 or rgb.shape[0] < 20 or rgb.shape[1] < 2 * CELLS:
        return None
    height, width = rgb.shape[:2]
    rows = []
    for row in (0, 1):
        bits = []
        for col in range(CELLS):
            y0, y1, x0, x1 = _cell_box(width, height, row, col)
            dy, dx = (y1 - y0) // 4, (x1 - x0) // 4
            level = float(rgb[y0 + dy:y1 - dy, x0 + dx:x1 - dx].mean())
            if level < DARK:
                bits.append(0)
            elif level > LIGHT:
                bits.append(1)
            else:
                return None
        rows.append(bits)
    if rows[0][:2] != [1, 0] or any(a == b for a, b in zip(*rows)):
        return None
    value = sum(bit << i for i, bit in enumerate(rows[0][2:]))
    return value / UNIT


def picture(width: int, height: int, n: int, fps: float) -> np.ndarray:
    """Frame ``n``: moving colour bars, a square crossing the picture, the marker on top."""
    t = n / fps
    x = np.arange(width, dtype=np.float32)
    y = np.arange(height, dtype=np.float32)[:, None]
    phase = 2 * np.pi * (x / width * 2 - t * 0.25)
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = (110 + 70 * np.sin(phase)).astype(np.uint8)
    rgb[..., 1] = (110 + 70 * np.sin(phase + 2.1) * (0.6 + 0.4 * y / height)).astype(np.uint8)
    rgb[..., 2] = (110 + 70 * np.sin(phase + 4.2)).astype(np.uint8)
    side = height // 5
    top = int(height * BAND) + 4
    span_x, span_y = width - side, height - side - top
    cx = int(abs((t * 0.3 % 2) - 1) * span_x)
    cy = top + int(abs((t * 0.45 % 2) - 1) * span_y)
    rgb[cy:cy + side, cx:cx + side] = (240, 230, 40)
    return draw_marker(rgb, t)


def tone(first_sample: int, count: int) -> np.ndarray:
    """Mono samples (float32, -1..1) of the tone from sample ``first_sample`` on (48 kHz)."""
    index = first_sample + np.arange(count)
    t = index / AUDIO_RATE
    hz = 400.0 + 100.0 * (np.floor(t) % 6)
    # the phase of each second starts at 0: a click-free join is not needed for a test tone
    return (np.sin(2 * np.pi * hz * (t - np.floor(t))) * TONE_LEVEL).astype(np.float32)


def build(out: str | Path, seconds: float, width: int = 640, height: int = 360, fps: int = 15,
          fmt: str | None = None) -> Path:
    """Write the test course to ``out`` (format from ``fmt`` or the suffix: mp4 or webm)."""
    import av

    out = Path(out)
    fmt = fmt or (out.suffix.lstrip(".").lower() or "mp4")
    if fmt not in ("mp4", "webm"):
        raise ValueError("format must be mp4 or webm")
    if seconds <= 0 or seconds * UNIT >= 1 << BITS:
        raise ValueError("seconds out of range")
    if width % 2 or height % 2 or width < 2 * CELLS or height < 40:
        raise ValueError("width and height must be even and at least 40x40")
    frames = int(round(seconds * fps))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    options = {"movflags": "+faststart"} if fmt == "mp4" else {}
    with av.open(str(partial), "w", format=fmt, options=options) as container:
        if fmt == "mp4":
            video = container.add_stream("libx264", rate=fps)
            video.codec_context.options = {"preset": "veryfast", "profile": "baseline", "threads": "1",
                                           "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0"}
            video.bit_rate = 800_000
            audio = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            audio.bit_rate = 96_000
        else:
            video = container.add_stream("libvpx", rate=fps)
            video.codec_context.options = {"deadline": "good", "cpu-used": "4", "threads": "1", "g": str(fps),
                                           "auto-alt-ref": "0", "lag-in-frames": "0"}
            video.bit_rate = 800_000
            audio = container.add_stream("libopus", rate=AUDIO_RATE, layout="stereo")
            audio.bit_rate = 96_000
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio_fmt = "fltp" if fmt == "mp4" else "flt"
        chunk = audio.codec_context.frame_size or 960
        total_samples = int(round(frames / fps * AUDIO_RATE))
        sample = 0

        def write_audio(until: int) -> None:
            nonlocal sample
            while sample < until:
                count = min(chunk, total_samples - sample)
                if count <= 0:
                    return
                mono = tone(sample, chunk)
                if count < chunk:
                    mono[count:] = 0
                if audio_fmt == "fltp":
                    data = np.stack([mono, mono])
                else:
                    data = np.repeat(mono, 2).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(data, format=audio_fmt, layout="stereo")
                frame.sample_rate = AUDIO_RATE
                frame.pts = sample
                frame.time_base = fractions.Fraction(1, AUDIO_RATE)
                container.mux(audio.encode(frame))
                sample += chunk

        for n in range(frames):
            frame = av.VideoFrame.from_ndarray(picture(width, height, n, fps), format="rgb24")
            frame.pts = n
            frame.time_base = fractions.Fraction(1, fps)
            container.mux(video.encode(frame))
            write_audio(int(math.ceil((n + 1) / fps * AUDIO_RATE)))
        write_audio(total_samples)
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build a test course with a time marker in every frame")
    parser.add_argument("out", help="the file to write (.mp4 or .webm)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--format", choices=("mp4", "webm"), default=None, help="default: from the file's suffix")
    args = parser.parse_args(argv)
    try:
        path = build(args.out, args.seconds, args.width, args.height, args.fps, args.format)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
