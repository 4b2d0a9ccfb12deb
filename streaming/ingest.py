"""Validate a course manifest and its media, and import it as HLS renditions.

Pure Python + PyAV (probing) + the ffmpeg CLI (transcoding); no Flask. Output is built
in a staging folder inside the media root and renamed into place only on success, so
a failure leaves nothing half-imported.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CATEGORIES = ("law", "ethics", "psychology", "vocational")
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,62})[a-z0-9]$")
CONTAINERS = {"mov,mp4,m4a,3gp,3g2,mj2": "mp4", "matroska,webm": "webm"}
VIDEO_CODECS = ("h264", "vp8", "vp9")
MIN_DURATION_S, MAX_DURATION_S = 1.0, 4 * 3600.0
FFMPEG = "ffmpeg"

# Renditions for weak home connections: (name, height, video kbit/s). Widths keep 16:9, even.
LADDER = (("360p", 360, 800), ("240p", 240, 300))
SEGMENT_S = 4


class IngestError(Exception):
    def __init__(self, file: str | os.PathLike, field: str, message: str):
        super().__init__(f"{file}: {field}: {message}")
        self.file, self.field, self.message = str(file), field, message


@dataclass(frozen=True)
class Question:
    at: float
    prompt: str
    choices: tuple[str, ...]
    answer: int


@dataclass(frozen=True)
class Manifest:
    slug: str
    title: str
    category: str
    description: str
    media_path: Path
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class MediaInfo:
    container: str
    video_codec: str
    width: int
    height: int
    duration: float
    fps: float
    has_audio: bool = False


@dataclass(frozen=True)
class Rendition:
    name: str
    bandwidth: int
    width: int
    height: int
    playlist: str


@dataclass(frozen=True)
class ImportedCourse:
    manifest: Manifest
    media: MediaInfo
    renditions: tuple[Rendition, ...]
    master_playlist: str
    source_file: str   # the original video, kept for progressive (byte-range) playback
    folder: Path


# --- manifest -------------------------------------------------------------------

def _text(data: dict, key: str, path: Path, limit: int, required: bool = True) -> str:
    value = data.get(key, None if required else "")
    if value is None and required:
        raise IngestError(path, key, "missing")
    if not isinstance(value, str) or (required and not value.strip()):
        raise IngestError(path, key, "must be a non-empty text")
    if len(value) > limit:
        raise IngestError(path, key, f"longer than {limit} characters")
    return value.strip()


def _number(value, path: Path, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise IngestError(path, field, "must be a number")
    return float(value)


def load_manifest(path: str | os.PathLike) -> Manifest:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IngestError(path, "file", "not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(path, "json", f"not valid UTF-8 JSON ({exc})") from None
    if not isinstance(data, dict):
        raise IngestError(path, "json", "must be an object")
    slug = data.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise IngestError(path, "slug", "must be 3-64 characters of a-z, 0-9 and '-'")
    title = _text(data, "title", path, 200)
    category = data.get("category")
    if category not in CATEGORIES:
        raise IngestError(path, "category", f"must be one of {', '.join(CATEGORIES)}")
    description = _text(data, "description", path, 2000, required=False)
    media = data.get("media")
    if not isinstance(media, str) or not media:
        raise IngestError(path, "media", "missing")
    folder = path.parent.resolve()
    media_path = (folder / media).resolve()
    if folder not in media_path.parents:
        raise IngestError(path, "media", "must stay inside the manifest's folder")
    if not media_path.is_file():
        raise IngestError(path, "media", f"file {media} not found")
    raw_questions = data.get("questions", [])
    if not isinstance(raw_questions, list):
        raise IngestError(path, "questions", "must be a list")
    questions = []
    for i, q in enumerate(raw_questions):
        where = f"questions[{i}]"
        if not isinstance(q, dict):
            raise IngestError(path, where, "must be an object")
        at = _number(q.get("at"), path, f"{where}.at")
        if at < 0:
            raise IngestError(path, f"{where}.at", "must not be negative")
        prompt = q.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > 500:
            raise IngestError(path, f"{where}.prompt", "must be a text of 1-500 characters")
        choices = q.get("choices")
        if (not isinstance(choices, list) or not 2 <= len(choices) <= 6
                or not all(isinstance(c, str) and c.strip() and len(c) <= 200 for c in choices)):
            raise IngestError(path, f"{where}.choices", "must be a list of 2-6 texts")
        answer = q.get("answer")
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise IngestError(path, f"{where}.answer", "must be the index of one of the choices")
        questions.append(Question(at, prompt.strip(), tuple(c.strip() for c in choices), answer))
    return Manifest(slug, title, category, description, media_path, tuple(questions))


# --- media ----------------------------------------------------------------------

def probe_media(path: str | os.PathLike) -> MediaInfo:
    import av  # PyAV, only needed when importing

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        raise IngestError(path, "media", "empty or missing file")
    try:
        with av.open(str(path)) as container:
            fmt = container.format.name
            video = next((s for s in container.streams if s.type == "video"), None)
            has_audio = any(s.type == "audio" for s in container.streams)
            if video is None:
                raise IngestError(path, "media.video", "no video stream")
            codec = video.codec_context.name
            width, height = video.codec_context.width, video.codec_context.height
            if container.duration:
                duration = container.duration / 1_000_000
            elif video.duration and video.time_base:
                duration = float(video.duration * video.time_base)
            else:
                duration = 0.0
            rate = video.average_rate or video.guessed_rate
            fps = float(rate) if rate else 0.0
            # A header is not enough: make sure a frame decodes.
            if next(container.decode(video=0), None) is None:
                raise IngestError(path, "media.video", "no decodable frame")
    except IngestError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise IngestError(path, "media", f"not a readable video ({exc.__class__.__name__})") from None
    container_name = CONTAINERS.get(fmt)
    if container_name is None:
        raise IngestError(path, "media.container", f"{fmt} is not accepted (MP4 or WebM)")
    if codec not in VIDEO_CODECS:
        raise IngestError(path, "media.codec", f"{codec} is not accepted ({', '.join(VIDEO_CODECS)})")
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise IngestError(path, "media.duration", f"{duration:.1f} s is outside 1 s .. 4 h")
    if width < 160 or height < 120:
        raise IngestError(path, "media.resolution", f"{width}x{height} is too small")
    return MediaInfo(container_name, codec, width, height, duration, fps, has_audio)


def validate_course(manifest_path: str | os.PathLike) -> tuple[Manifest, MediaInfo]:
    manifest = load_manifest(manifest_path)
    media = probe_media(manifest.media_path)
    for i, q in enumerate(manifest.questions):
        if q.at > media.duration:
            raise IngestError(manifest_path, f"questions[{i}].at",
                              f"{q.at:.1f} s is past the end of the video ({media.duration:.1f} s)")
    return manifest, media


# --- HLS ------------------------------------------------------------------------

def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def _ladder(media: MediaInfo) -> list[Rendition]:
    out = []
    for name, height, kbps in LADDER:
        h = min(height, _even(media.height))
        w = _even(media.width * h / media.height)
        out.append(Rendition(name, (kbps + (64 if media.has_audio else 0)) * 1000, w, h, f"v{name}/index.m3u8"))
    return out


def _ffmpeg_command(media_path: Path, media: MediaInfo, renditions: list[Rendition], out: Path) -> list[str]:
    n = len(renditions)
    split = f"[0:v]split={n}" + "".join(f"[s{i}]" for i in range(n)) + ";"
    scales = ";".join(f"[s{i}]scale={r.width}:{r.height}[v{i}]" for i, r in enumerate(renditions))
    gop = max(1, int(round((media.fps or 25) * SEGMENT_S / 2)))  # a keyframe every half segment
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(media_path),
           "-filter_complex", split + scales, "-progress", "pipe:1", "-nostats"]
    stream_map = []
    for i, (r, (_name, _h, kbps)) in enumerate(zip(renditions, LADDER)):
        cmd += ["-map", f"[v{i}]", f"-c:v:{i}", "libx264", f"-b:v:{i}", f"{kbps}k",
                f"-maxrate:v:{i}", f"{int(kbps * 1.2)}k", f"-bufsize:v:{i}", f"{kbps * 2}k"]
        if media.has_audio:
            cmd += ["-map", "0:a:0", f"-c:a:{i}", "aac", f"-b:a:{i}", "64k"]
            stream_map.append(f"v:{i},a:{i},name:v{r.name}")
        else:
            stream_map.append(f"v:{i},name:v{r.name}")
    cmd += ["-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p", "-g", str(gop),
            "-keyint_min", str(gop), "-sc_threshold", "0",
            "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
            "-hls_segment_filename", str(out / "%v" / "seg%05d.ts"),
            "-var_stream_map", " ".join(stream_map), str(out / "%v" / "index.m3u8")]
    return cmd


def _run_ffmpeg(cmd: list[str], duration: float, progress: Callable[[float], None] | None, where: Path) -> None:
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise IngestError(where, "ffmpeg", "ffmpeg is not installed (Debian package ffmpeg)") from None
    try:
        for line in proc.stdout:
            if progress and line.startswith("out_time_us=") and line.strip() != "out_time_us=N/A":
                progress(min(0.999, int(line.split("=", 1)[1]) / 1e6 / duration))
        stderr = proc.stderr.read()
        if proc.wait() != 0:
            raise IngestError(where, "media", "transcoding failed: " + stderr.strip()[-400:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _master(renditions: list[Rendition], has_audio: bool) -> str:
    codecs = "avc1.4d401e" + (",mp4a.40.2" if has_audio else "")
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for r in renditions:
        lines.append(f'#EXT-X-STREAM-INF:BANDWIDTH={r.bandwidth},RESOLUTION={r.width}x{r.height},CODECS="{codecs}"')
        lines.append(r.playlist)
    return "\n".join(lines) + "\n"


def import_course(manifest_path: str | os.PathLike, media_root: str | os.PathLike, *,
                  progress: Callable[[float], None] | None = None, overwrite: bool = False) -> ImportedCourse:
    manifest, media = validate_course(manifest_path)
    media_root = Path(media_root)
    media_root.mkdir(parents=True, exist_ok=True)
    final = media_root / manifest.slug
    if final.exists() and not overwrite:
        raise IngestError(manifest_path, "slug", f"{manifest.slug} is already imported")
    staging = media_root / f".staging-{manifest.slug}-{uuid.uuid4().hex[:8]}"
    renditions = _ladder(media)
    try:
        for r in renditions:
            (staging / f"v{r.name}").mkdir(parents=True)
        _run_ffmpeg(_ffmpeg_command(manifest.media_path, media, renditions, staging), media.duration,
                    progress, Path(manifest_path))
        for r in renditions:
            if not (staging / r.playlist).is_file():
                raise IngestError(manifest_path, "media", f"transcoding produced no {r.playlist}")
        (staging / "master.m3u8").write_text(_master(renditions, media.has_audio))
        source_file = "source." + ("webm" if media.container == "webm" else "mp4")
        shutil.copyfile(manifest.media_path, staging / source_file)
        old = None
        if final.exists():
            old = media_root / f".old-{manifest.slug}-{uuid.uuid4().hex[:8]}"
            final.rename(old)
        staging.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if progress:
        progress(1.0)
    return ImportedCourse(manifest, media, tuple(renditions), "master.m3u8", source_file, final)
