"""Validate a course manifest and its media, and import the course as HLS renditions.

Pure Python + PyAV (probing) + the ffmpeg CLI (transcoding); no Flask, no models: the
results are frozen dataclasses that the webapp persists.

    manifest, media = validate_course("content/samples/law-basics.json")     # dry run
    course = import_course("content/samples/law-basics.json", "media", progress=print)

An import writes everything into a staging folder inside the media root
(`.staging-<slug>-<random>`) and renames it to `<slug>` only when every step has
succeeded, so a failure (bad input, an ffmpeg error, Ctrl-C) leaves nothing
half-imported. Folders starting with a dot are never served (streaming.media_files).

Every refusal is an IngestError naming the file and the field at fault, e.g.
`.../law-basics.json: questions[2].at: 190.0 s is past the end of the video (180.0 s)`.
"""
from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CATEGORIES = ("law", "ethics", "psychology", "vocational")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
VIDEO_CODECS = ("h264", "vp8", "vp9")
MIN_DURATION_S, MAX_DURATION_S = 1.0, 4 * 3600.0
MIN_WIDTH, MIN_HEIGHT = 160, 120
MAX_MANIFEST_BYTES = 1 << 20
MAX_QUESTIONS = 1000
FFMPEG = "ffmpeg"  # the binary; tests point it at a stand-in

# Renditions for weak home connections: (target height, peak video kbit/s). Encoded at
# constant quality (CRF) under that cap, so slides cost far less than the cap and
# motion never more. Heights are capped at the source's; widths keep its aspect ratio.
LADDER = ((360, 800), (240, 300))
CRF = 23
AUDIO_KBPS = 64
SEGMENT_S = 4
STALE_STAGING_S = 24 * 3600  # a staging folder this old was left by a killed import


class IngestError(Exception):
    """A manifest or media file refused. `file` is the path at fault, `field` the part of
    it (`category`, `questions[2].at`, `media.codec`, ...), `message` what is wrong."""

    def __init__(self, file: str | os.PathLike, field: str, message: str):
        super().__init__(str(file), field, message)  # args as given: picklable across processes
        self.file, self.field, self.message = str(file), field, message

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


@dataclass(frozen=True)
class Question:
    at: float               # seconds into the video
    prompt: str
    choices: tuple[str, ...]
    answer: int             # index into choices


@dataclass(frozen=True)
class Manifest:
    slug: str
    title: str
    category: str
    description: str
    media_path: Path        # absolute, inside the manifest's folder
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class MediaInfo:
    container: str          # "mp4" (also MOV) or "webm" (also Matroska)
    video_codec: str        # "h264", "vp8" or "vp9"
    width: int
    height: int
    duration: float         # seconds
    fps: float              # 0.0 when the file does not say
    has_audio: bool = False


@dataclass(frozen=True)
class Rendition:
    name: str               # "360p", "240p"
    bandwidth: int          # bits/s: the peak segment bitrate, as HLS's BANDWIDTH means it
    width: int
    height: int
    playlist: str           # relative to the course folder, e.g. "v360/index.m3u8"
    codecs: str = ""        # RFC 6381, e.g. 'avc1.4d401e,mp4a.40.2'
    average_bandwidth: int = 0


@dataclass(frozen=True)
class ImportedCourse:
    manifest: Manifest
    media: MediaInfo
    renditions: tuple[Rendition, ...]   # highest first
    master_playlist: str                # "master.m3u8", relative to folder
    folder: Path                        # media_root/<slug>, absolute
    source_file: str = "source.mp4"     # the original video for progressive (byte-range) playback


# --- manifest -------------------------------------------------------------------

def _text(data: dict, key: str, path: Path, limit: int, required: bool = True) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise IngestError(path, key, "missing")
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise IngestError(path, key, "must be a non-empty text" if required else "must be a text")
    if len(value.strip()) > limit:
        raise IngestError(path, key, f"longer than {limit} characters")
    return value.strip()


def _seconds(value, path: Path, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise IngestError(path, field, "must be a number of seconds")
    if not 0 <= value <= MAX_DURATION_S:
        raise IngestError(path, field, f"{value} s is outside 0 .. {MAX_DURATION_S:.0f} s")
    return float(value)


def _question(q, i: int, path: Path) -> Question:
    where = f"questions[{i}]"
    if not isinstance(q, dict):
        raise IngestError(path, where, "must be an object")
    at = _seconds(q.get("at"), path, f"{where}.at")
    prompt = q.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt.strip()) > 500:
        raise IngestError(path, f"{where}.prompt", "must be a text of 1-500 characters")
    choices = q.get("choices")
    if not isinstance(choices, list) or not 2 <= len(choices) <= 6:
        raise IngestError(path, f"{where}.choices", "must be a list of 2-6 texts")
    for j, choice in enumerate(choices):
        if not isinstance(choice, str) or not choice.strip() or len(choice.strip()) > 200:
            raise IngestError(path, f"{where}.choices[{j}]", "must be a text of 1-200 characters")
    answer = q.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
        raise IngestError(path, f"{where}.answer", f"must be the index of one of the choices (0..{len(choices) - 1})")
    return Question(at, prompt.strip(), tuple(c.strip() for c in choices), answer)


def load_manifest(path: str | os.PathLike) -> Manifest:
    """Read and validate a manifest; the media file must exist inside the manifest's folder."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise IngestError(path, "file", f"larger than {MAX_MANIFEST_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # tolerate a BOM from Windows editors
    except FileNotFoundError:
        raise IngestError(path, "file", "not found") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise IngestError(path, "file", f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise IngestError(path, "json", "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise IngestError(path, "json", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:      # e.g. an integer of more than 4300 digits
        raise IngestError(path, "json", f"invalid JSON: {str(exc)[:100]}") from None
    except RecursionError:
        raise IngestError(path, "json", "nested too deeply") from None
    if not isinstance(data, dict):
        raise IngestError(path, "json", "must be an object")

    slug = data.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise IngestError(path, "slug", "must be 3-64 characters of a-z, 0-9 and '-', not starting or ending with '-'")
    title = _text(data, "title", path, 200)
    category = data.get("category")
    if category not in CATEGORIES:
        raise IngestError(path, "category", f"must be one of {', '.join(CATEGORIES)}")
    description = _text(data, "description", path, 2000, required=False)

    media = data.get("media")
    if not isinstance(media, str) or not media.strip():
        raise IngestError(path, "media", "missing")
    folder = path.parent.resolve()
    media_path = (folder / media).resolve()  # follows symlinks: a link leading out is refused too
    if folder not in media_path.parents:
        raise IngestError(path, "media", f"{media} must be inside the manifest's folder")
    if not media_path.is_file():
        raise IngestError(path, "media", f"file {media} not found")

    raw = data.get("questions", [])
    if not isinstance(raw, list):
        raise IngestError(path, "questions", "must be a list")
    if len(raw) > MAX_QUESTIONS:
        raise IngestError(path, "questions", f"more than {MAX_QUESTIONS}")
    questions = tuple(_question(q, i, path) for i, q in enumerate(raw))
    return Manifest(slug, title, category, description, media_path, questions)


# --- media ----------------------------------------------------------------------

def _sniff_container(path: Path) -> str | None:
    """'mp4' or 'webm' from the file's first bytes, else None. The demuxer is then forced
    rather than guessed, so an upload cannot steer ffmpeg into e.g. its playlist demuxers
    (which can read other local files)."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"):
        return "mp4"
    return None


DEMUXER = {"mp4": "mov", "webm": "matroska"}


def probe_media(path: str | os.PathLike) -> MediaInfo:
    """What the video is, or IngestError(media path, 'media.<what>') if it cannot be a course."""
    import av  # PyAV: loaded only when media is actually probed

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError:
        raise IngestError(path, "media.file", "not found") from None
    if not path.is_file():
        raise IngestError(path, "media.file", "not a file")
    if size == 0:
        raise IngestError(path, "media.file", "empty file")
    try:
        kind = _sniff_container(path)
    except OSError as exc:
        raise IngestError(path, "media.file", f"cannot be read ({exc.strerror})") from None
    if kind is None:
        raise IngestError(path, "media.container", "not an MP4/MOV or WebM/Matroska file")
    try:
        with av.open(str(path), format=DEMUXER[kind]) as container:
            if not container.streams.video:
                raise IngestError(path, "media.video", "no video stream")
            video = container.streams.video[0]
            has_audio = bool(container.streams.audio)
            codec = video.codec_context.name
            width, height = video.codec_context.width, video.codec_context.height
            rate = video.average_rate or video.guessed_rate
            fps = float(rate) if rate else 0.0
            if video.duration and video.time_base:
                duration = float(video.duration * video.time_base)
            elif container.duration:
                duration = container.duration / 1_000_000
            else:  # e.g. WebM from MediaRecorder: no duration in the header, read the packets
                end = 0.0
                for packet in container.demux(video):
                    if packet.pts is not None and packet.time_base:
                        end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                duration = end
                container.seek(0)
            if codec in VIDEO_CODECS:
                # A header is not enough: a frame must decode.
                if next(container.decode(video), None) is None:
                    raise IngestError(path, "media.video", "no decodable frame")
    except IngestError:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise IngestError(path, "media.data", f"damaged or unreadable {kind} file ({exc.__class__.__name__})") from None
    if codec not in VIDEO_CODECS:
        raise IngestError(path, "media.codec", f"{codec} is not accepted (use {', '.join(VIDEO_CODECS)})")
    if not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise IngestError(path, "media.duration", f"{duration:.2f} s is outside 1 s .. 4 h")
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        raise IngestError(path, "media.resolution", f"{width}x{height} is smaller than {MIN_WIDTH}x{MIN_HEIGHT}")
    return MediaInfo(kind, codec, width, height, duration, fps, has_audio)


def validate_course(manifest_path: str | os.PathLike) -> tuple[Manifest, MediaInfo]:
    """Everything import_course checks, without writing anything (a dry run)."""
    manifest = load_manifest(manifest_path)
    media = probe_media(manifest.media_path)
    for i, q in enumerate(manifest.questions):
        if q.at > media.duration:
            raise IngestError(manifest_path, f"questions[{i}].at",
                              f"{q.at:.1f} s is past the end of the video ({media.duration:.1f} s)")
    return manifest, media


# --- transcoding ----------------------------------------------------------------

def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def _plan(media: MediaInfo) -> list[tuple[int, int, int]]:
    """(width, height, kbit/s) for each rendition, highest first. Heights are capped at the
    source's and each is at most 2/3 of the one above, so no two are alike."""
    plan = []
    for target, kbps in LADDER:
        h = min(_even(target), _even(media.height) if not plan else _even(plan[-1][1] * 2 / 3))
        plan.append((_even(media.width * h / media.height), h, kbps))
    return plan


def _ffmpeg_command(media_path: Path, media: MediaInfo, plan: list[tuple[int, int, int]], out: Path) -> list[str]:
    """One ffmpeg run: decode once, split, scale and encode every rendition, write HLS."""
    n = len(plan)
    graph = f"[0:v:0]split={n}" + "".join(f"[s{i}]" for i in range(n)) + ";" + ";".join(
        f"[s{i}]scale={w}:{h}:flags=bicubic,setsar=1[v{i}]" for i, (w, h, _) in enumerate(plan))
    gop = max(1, int(round((media.fps or 25.0) * 2)))  # a keyframe every 2 s: segments cut cleanly at 4 s
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", DEMUXER[media.container], "-i", f"file:{media_path}",
           "-filter_complex", graph, "-progress", "pipe:1", "-nostats"]
    stream_map = []
    for i, (_, h, kbps) in enumerate(plan):
        cmd += ["-map", f"[v{i}]", f"-c:v:{i}", "libx264", f"-crf:v:{i}", str(CRF),
                f"-maxrate:v:{i}", f"{kbps}k", f"-bufsize:v:{i}", f"{kbps * 2}k"]
        if media.has_audio:
            cmd += ["-map", "0:a:0", f"-c:a:{i}", "aac", f"-b:a:{i}", f"{AUDIO_KBPS}k", f"-ac:a:{i}", "2"]
            stream_map.append(f"v:{i},a:{i},name:v{h}")
        else:
            stream_map.append(f"v:{i},name:v{h}")
    cmd += ["-preset", "veryfast", "-profile:v", "main", "-pix_fmt", "yuv420p",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
            "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
            "-hls_flags", "independent_segments", "-hls_segment_type", "mpegts",
            "-hls_segment_filename", str(out / "%v" / "seg%05d.ts"),
            "-var_stream_map", " ".join(stream_map), str(out / "%v" / "index.m3u8")]
    return cmd


def _run_ffmpeg(cmd: list[str], duration: float, progress: Callable[[float], None] | None,
                where: Path, field: str = "media.transcode") -> None:
    """Run ffmpeg, feeding progress(fraction) from `-progress pipe:1`. stderr goes to a
    temporary file, not a pipe: a flood of decoder warnings cannot block ffmpeg then."""
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
                                    text=True)
        except FileNotFoundError:
            raise IngestError(where, "ffmpeg", f"{cmd[0]} is not installed (Debian package ffmpeg)") from None
        try:
            last = 0.0
            for line in proc.stdout:
                if progress and line.startswith("out_time_us="):
                    try:
                        fraction = min(0.99, max(0.0, int(line[12:]) / 1e6 / duration))
                    except ValueError:  # "N/A" before the first frame
                        continue
                    if fraction > last:
                        last = fraction
                        progress(fraction)
            code = proc.wait()
        finally:
            if proc.poll() is None:  # an exception (e.g. KeyboardInterrupt) while ffmpeg runs
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if code != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip()[-600:]
            raise IngestError(where, field, f"ffmpeg exited with status {code}: {tail or '(no message)'}")


def _segments(playlist: Path) -> list[tuple[float, Path]]:
    """(duration, file) of each segment of a media playlist."""
    out, pending = [], None
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            pending = float(line[8:].split(",")[0])
        elif line and not line.startswith("#") and pending is not None:
            out.append((pending, playlist.parent / line))
            pending = None
    return out


def _avc_codec(segment: Path) -> str:
    """'avc1.PPCCLL' from the SPS of the first video packet (Annex B in MPEG-TS)."""
    import av
    with av.open(str(segment), format="mpegts") as container:
        for packet in container.demux(container.streams.video[0]):
            data = bytes(packet)
            at = data.find(b"\x00\x00\x01")
            while 0 <= at < len(data) - 6:
                if data[at + 3] & 0x1F == 7:  # nal_unit_type 7: sequence parameter set
                    return "avc1." + data[at + 4:at + 7].hex()  # profile, constraint flags, level
                at = data.find(b"\x00\x00\x01", at + 3)
            break
    return "avc1.4d401e"  # Main profile, level 3.0: what libx264 writes for 360p here


def _rendition(staging: Path, width: int, height: int, media: MediaInfo, manifest_path: Path) -> Rendition:
    playlist = staging / f"v{height}" / "index.m3u8"
    if not playlist.is_file():
        raise IngestError(manifest_path, "media.transcode", f"ffmpeg wrote no {playlist.relative_to(staging)}")
    text = playlist.read_text()
    segments = _segments(playlist)
    if "#EXT-X-ENDLIST" not in text or not segments or not all(p.is_file() for _, p in segments):
        raise IngestError(manifest_path, "media.transcode", f"{playlist.relative_to(staging)} is incomplete")
    # BANDWIDTH is the peak bitrate of any segment (what a player must sustain);
    # a short last segment is measured over at least 1 s so it does not inflate the peak.
    rates = [p.stat().st_size * 8 / max(d, 1.0) for d, p in segments]
    total = sum(d for d, _ in segments)
    average = sum(p.stat().st_size for _, p in segments) * 8 / max(total, 0.001)
    codecs = _avc_codec(segments[0][1]) + (",mp4a.40.2" if media.has_audio else "")
    return Rendition(f"{height}p", int(math.ceil(max(rates))), width, height,
                     f"v{height}/index.m3u8", codecs, int(math.ceil(average)))


def master_playlist(renditions: list[Rendition] | tuple[Rendition, ...]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in renditions:
        lines.append(f"#EXT-X-STREAM-INF:BANDWIDTH={r.bandwidth},AVERAGE-BANDWIDTH={r.average_bandwidth},"
                     f'RESOLUTION={r.width}x{r.height},CODECS="{r.codecs}"')
        lines.append(r.playlist)
    return "\n".join(lines) + "\n"


def _is_faststart(path: Path) -> bool:
    """Whether an MP4's index (moov) comes before its media data, as progressive playback wants."""
    with open(path, "rb") as fh:
        while True:
            header = fh.read(8)
            if len(header) < 8:
                return False
            size, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                size = int.from_bytes(fh.read(8), "big") - 8
            elif size == 0:
                return False
            if size < 8:
                return False
            fh.seek(size - 8, os.SEEK_CUR)


def _copy_source(media: MediaInfo, src: Path, staging: Path, manifest_path: Path) -> str:
    """The source for progressive playback: copied as is, or remuxed (no re-encoding) with
    the index first when an MP4 has it at the end."""
    name = "source.webm" if media.container == "webm" else "source.mp4"
    if media.container == "mp4" and not _is_faststart(src):
        _run_ffmpeg([FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "mov",
                     "-i", f"file:{src}", "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
                     "-movflags", "+faststart", "-f", "mp4", str(staging / name)],
                    media.duration, None, manifest_path, "media.source")
    else:
        shutil.copyfile(src, staging / name)
    return name


# --- import ---------------------------------------------------------------------

def _remove_stale(media_root: Path) -> None:
    """Staging and replaced folders older than a day are leftovers of a killed process."""
    cutoff = time.time() - STALE_STAGING_S
    for entry in media_root.iterdir():
        if entry.name.startswith((".staging-", ".old-")) and entry.is_dir():
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                pass


def _swap_in(staging: Path, final: Path, overwrite: bool, manifest_path: Path, slug: str) -> None:
    """Rename staging to final. With overwrite, the old folder is renamed away first and
    put back if the rename fails, then deleted."""
    old = None
    if final.exists() or final.is_symlink():
        if not overwrite:
            raise IngestError(manifest_path, "slug", f"{slug} is already imported")
        old = final.with_name(f".old-{slug}-{secrets.token_hex(4)}")
        final.rename(old)
    try:
        staging.rename(final)
    except BaseException as exc:
        if old is not None:
            old.rename(final)
        elif isinstance(exc, OSError) and final.exists():  # another import of this slug finished first
            raise IngestError(manifest_path, "slug", f"{slug} is already imported") from None
        raise
    if old is not None:
        if old.is_symlink():
            old.unlink()
        else:
            shutil.rmtree(old, ignore_errors=True)


def import_course(manifest_path: str | os.PathLike, media_root: str | os.PathLike, *,
                  progress: Callable[[float], None] | None = None, overwrite: bool = False) -> ImportedCourse:
    """Validate, transcode to two-bitrate HLS, keep the source, and move the result to
    media_root/<slug> in one rename. progress(fraction) gets increasing values, ending
    with 1.0 once the course is in place. Raises IngestError; leaves nothing behind."""
    manifest_path = Path(manifest_path)
    manifest, media = validate_course(manifest_path)
    media_root = Path(media_root)
    final = media_root / manifest.slug
    if (final.exists() or final.is_symlink()) and not overwrite:  # fail before the long part
        raise IngestError(manifest_path, "slug", f"{manifest.slug} is already imported")
    media_root.mkdir(parents=True, exist_ok=True)
    _remove_stale(media_root)
    staging = media_root / f".staging-{manifest.slug}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        plan = _plan(media)
        for _, h, _ in plan:
            (staging / f"v{h}").mkdir()
        if progress:
            progress(0.0)
        _run_ffmpeg(_ffmpeg_command(manifest.media_path, media, plan, staging), media.duration, progress,
                    manifest_path)
        renditions = [_rendition(staging, w, h, media, manifest_path) for w, h, _ in plan]
        # A player switches up when it can sustain the higher BANDWIDTH: keep them strictly ordered.
        for i in range(1, len(renditions)):
            if renditions[i].bandwidth >= renditions[i - 1].bandwidth:
                r = renditions[i]
                renditions[i] = Rendition(r.name, renditions[i - 1].bandwidth - 1, r.width, r.height, r.playlist,
                                          r.codecs, min(r.average_bandwidth, renditions[i - 1].bandwidth - 1))
        (staging / "master.m3u8").write_text(master_playlist(renditions))
        source_file = _copy_source(media, manifest.media_path, staging, manifest_path)
        _swap_in(staging, final, overwrite, manifest_path, manifest.slug)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if progress:
        progress(1.0)
    return ImportedCourse(manifest, media, tuple(renditions), "master.m3u8", Path(os.path.abspath(final)), source_file)
