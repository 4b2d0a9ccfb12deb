"""The sample-course builder end to end: real Chinese slides rendered to H.264, manifests
whose questions ask about the slide on screen, and an import of a sample into HLS."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import content.build_samples as build_samples
from content.sample_courses import COURSES
from streaming.ingest import import_course, load_manifest, validate_course

MINUTES = 0.15  # 9 s per course: five slides of 1.8 s
SECONDS = MINUTES * 60
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    assert build_samples.main(["--out", str(out), "--minutes", str(MINUTES)]) == 0
    return out


@pytest.fixture(scope="module")
def imported(samples, tmp_path_factory):
    media_root = tmp_path_factory.mktemp("media")
    seen: list[float] = []
    course = import_course(samples / "law-basics.json", media_root, progress=seen.append)
    return course, seen, media_root


def frame_at(path: Path, seconds: float) -> np.ndarray:
    """The decoded frame on screen at `seconds` (RGB)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            if frame.time > seconds + 1e-6:
                break
            last = frame
        return (last or frame).to_ndarray(format="rgb24")


def test_every_course_is_built_with_a_valid_manifest(samples):
    assert sorted(p.name for p in samples.iterdir()) == sorted(
        f"{c['slug']}.{ext}" for c in COURSES for ext in ("json", "mp4"))  # no temporary files left
    assert {c["category"] for c in COURSES} >= {"law", "ethics", "psychology"}
    for course in COURSES:
        manifest, media = validate_course(samples / f"{course['slug']}.json")
        assert manifest.title == course["title"] and manifest.category == course["category"]
        assert manifest.media_path == (samples / f"{course['slug']}.mp4").resolve()
        assert (media.container, media.video_codec, media.width, media.height) == ("mp4", "h264", 640, 360)
        assert media.fps == 15
        assert media.duration == pytest.approx(SECONDS, abs=0.1)
        assert len(manifest.questions) >= len(course["slides"])
        assert all(0 <= q.at <= media.duration for q in manifest.questions)
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in q.prompt) for q in manifest.questions)


def test_video_is_browser_friendly_h264(samples):
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=codec_name,profile,pix_fmt,width,height,r_frame_rate", "-of", "default=nw=1",
                            str(samples / "ethics-integrity.mp4")], capture_output=True, text=True, check=True)
    assert probe.stdout.split() == ["codec_name=h264", "profile=Main", "width=640", "height=360",
                                    "pix_fmt=yuv420p", "r_frame_rate=15/1"]
    boxes = top_level_boxes(samples / "ethics-integrity.mp4")
    assert boxes[0] == "ftyp" and "moov" in boxes and "mdat" in boxes, boxes
    assert boxes.index("moov") < boxes.index("mdat"), boxes  # +faststart: the index before the media


def top_level_boxes(path: Path) -> list[str]:
    """The types of an MP4's top-level boxes, in file order (ISO/IEC 14496-12: a 32-bit size and a
    4-character type; size 1: a 64-bit size follows; size 0: the box runs to the end of the file)."""
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset < len(data):
        assert offset + 8 <= len(data), f"truncated box header at {offset}"
        size, kind = int.from_bytes(data[offset:offset + 4], "big"), data[offset + 4:offset + 8].decode("latin-1")
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[offset + 8:offset + 16], "big"), 16
        elif size == 0:
            size = len(data) - offset
        assert size >= header and offset + size <= len(data), f"bad {kind!r} box at {offset}: size {size}"
        boxes.append(kind)
        offset += size
    return boxes


def test_questions_ask_about_the_slide_on_screen(samples):
    """At each question's time the frame shows that question's slide: its heading area matches
    the slide's own rendering better than any other slide's, and every slide has a question."""
    fonts = build_samples.load_fonts(build_samples.find_font())
    for course in COURSES[:2]:
        n = len(course["slides"])
        headings = [build_samples.slide_image(course, i, n, fonts)[48:110, :440].astype(int) for i in range(n)]
        slide_of = {q["prompt"]: i for i, s in enumerate(course["slides"]) for q in s["questions"]}
        asked = set()
        for q in load_manifest(samples / f"{course['slug']}.json").questions:
            area = frame_at(samples / f"{course['slug']}.mp4", q.at)[48:110, :440].astype(int)
            shown = int(np.argmin([np.abs(area - h).mean() for h in headings]))
            assert shown == slide_of[q.prompt], (course["slug"], q.at, q.prompt)
            asked.add(shown)
        assert asked == set(range(n))


def test_picture_and_timecode_change_over_time(samples):
    video = samples / "psychology-emotions.mp4"
    first, later = frame_at(video, 0.5), frame_at(video, 1.5)  # same slide, a second apart
    assert np.abs(first.astype(int) - later.astype(int)).mean() > 0.5
    timecode = (slice(320, 344), slice(560, 624))
    assert not np.array_equal(first[timecode], later[timecode])  # 00:00 -> 00:01
    across = frame_at(video, 8.0)  # the last slide
    assert np.abs(first[48:110].astype(int) - across[48:110].astype(int)).mean() > 5


def test_import_of_a_sample_gives_playable_two_bitrate_hls(imported):
    course, _, media_root = imported
    folder = media_root / "law-basics"
    assert course.folder == folder and sorted(p.name for p in media_root.iterdir()) == ["law-basics"]
    assert course.media.duration == pytest.approx(SECONDS, abs=0.5)
    master = (folder / course.master_playlist).read_text()
    inf = [line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF:")]
    bandwidths = [int(line.split("BANDWIDTH=")[1].split(",")[0]) for line in inf]
    assert len(inf) >= 2 and len(set(bandwidths)) == len(bandwidths)
    assert bandwidths == sorted(bandwidths, reverse=True) == [r.bandwidth for r in course.renditions]
    for r, line in zip(course.renditions, inf):
        assert f"RESOLUTION={r.width}x{r.height}" in line and f'CODECS="{r.codecs}"' in line
        playlist = folder / r.playlist
        text = playlist.read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
        durations = [float(x.split(":")[1].rstrip(",")) for x in text.splitlines() if x.startswith("#EXTINF:")]
        files = [playlist.parent / x for x in text.splitlines() if x and not x.startswith("#")]
        assert all(f.is_file() and f.stat().st_size > 0 for f in files) and len(files) == len(durations)
        assert max(durations) <= 4.1 and sum(durations) == pytest.approx(SECONDS, abs=0.5)
        with av.open(str(files[-1])) as seg:
            frame = next(seg.decode(video=0))
            assert (frame.width, frame.height) == (r.width, r.height)
    source = folder / course.source_file
    assert source.name == "source.mp4" and source.stat().st_size == course.manifest.media_path.stat().st_size


def test_import_reports_progress_up_to_one(imported):
    _, seen, _ = imported
    assert len(seen) >= 3 and seen[0] == 0.0 and seen[-1] == 1.0
    assert all(a < b for a, b in zip(seen, seen[1:]))


def test_cli_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "content.build_samples", "--out", str(tmp_path),
                             "--minutes", "0.05", "--only", "ethics-integrity"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "built ethics-integrity" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ethics-integrity.json", "ethics-integrity.mp4"]


def test_missing_cjk_font_names_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(build_samples, "FONT_PATHS", (str(tmp_path / "no-font.ttc"),))
    assert build_samples.main(["--out", str(tmp_path / "out"), "--minutes", "0.05"]) == 2
    assert "fonts-noto-cjk" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [["--minutes", "0"], ["--minutes", "61"], ["--only", "no-such-course"]])
def test_bad_arguments_are_refused(tmp_path, args):
    with pytest.raises(SystemExit) as exc:
        build_samples.main(["--out", str(tmp_path / "out"), *args])
    assert exc.value.code == 2


def test_question_times_fall_inside_their_slide():
    times = build_samples.question_times([1, 2, 1], 30.0)
    assert len(times) == 3 and [len(t) for t in times] == [1, 2, 1]
    for i, slide_times in enumerate(times):
        assert all(10 * i + 5 <= at < 10 * (i + 1) for at in slide_times)
        assert slide_times == sorted(set(slide_times))
    assert all(math.isclose(at * 10, round(at * 10)) for t in times for at in t)
