"""streaming.ingest on small clips made with the ffmpeg CLI: every refusal names the file
and the field, a failure at any step leaves nothing in the media root, and the HLS it
writes is what a player needs (two renditions, exact CODECS, playable segments).

The sample-course builder and a full import of a sample are tested in
tests/integration/test_build_samples.py.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import time
from pathlib import Path

import av
import pytest

import streaming.ingest as ingest
from streaming.ingest import IngestError, import_course, load_manifest, probe_media, validate_course

QUESTION = {"at": 1.5, "prompt": "画面上显示的是什么？", "choices": ["测试图", "空白"], "answer": 0}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Small media files, made once: valid ones and the kinds an upload must refuse."""
    d = tmp_path_factory.mktemp("clips")
    src = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=3"]
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=3"]
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    ffmpeg(*src, *h264, "-movflags", "+faststart", str(d / "good.mp4"))
    ffmpeg(*src, *tone, *h264, "-c:a", "aac", "-shortest", str(d / "audio.mp4"))  # index at the end
    ffmpeg(*src, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k",
           str(d / "good.webm"))
    with open(d / "recorded.webm", "wb") as out:  # streamed, like MediaRecorder: no duration in the header
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", *src, "-c:v", "libvpx", "-deadline", "realtime",
                        "-cpu-used", "8", "-f", "webm", "pipe:1"], stdout=out, check=True)
    ffmpeg(*tone, "-c:a", "aac", "-f", "mp4", str(d / "audio_only.mp4"))
    ffmpeg(*src, "-c:v", "mpeg4", "-f", "mp4", str(d / "mpeg4.mp4"))
    ffmpeg(*src, "-c:v", "mjpeg", "-f", "avi", str(d / "mjpeg.avi"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=0.2", *h264, str(d / "short.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=96x64:rate=15:duration=3", *h264, str(d / "tiny.mp4"))
    (d / "text.mp4").write_text("这不是视频文件 / not a video\n", encoding="utf-8")
    (d / "empty.mp4").write_bytes(b"")
    (d / "truncated.mp4").write_bytes((d / "good.mp4").read_bytes()[:1500])
    # A playlist dressed up as a video: ffmpeg would follow it to a local file if it guessed the format.
    (d / "playlist.mp4").write_text("#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")
    return d


def make_course(tmp_path: Path, clips: Path, clip: str = "good.mp4", **changes) -> Path:
    """A course folder holding `clip` and a manifest for it, with `changes` applied
    (a value of None removes the key). Returns the manifest's path."""
    folder = tmp_path / "upload"
    folder.mkdir(exist_ok=True)
    shutil.copy(clips / clip, folder / clip)
    data = {"slug": "test-course", "title": "测试课程", "category": "law", "description": "一段测试图。",
            "media": clip, "questions": [QUESTION]}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    manifest = folder / "course.json"
    manifest.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return manifest


def leftovers(media_root: Path) -> list[str]:
    return sorted(p.name for p in media_root.iterdir()) if media_root.exists() else []


def segments(playlist: Path) -> list[Path]:
    return [playlist.parent / line for line in playlist.read_text().splitlines() if line and not line.startswith("#")]


# --- manifests ----------------------------------------------------------------------

@pytest.mark.parametrize("changes,field", [
    ({"title": None}, "title"),
    ({"title": "   "}, "title"),
    ({"title": "长" * 201}, "title"),
    ({"category": "sports"}, "category"),
    ({"category": None}, "category"),
    ({"slug": None}, "slug"),
    ({"slug": "../etc"}, "slug"),
    ({"slug": "law..basics"}, "slug"),
    ({"slug": "Law-Basics"}, "slug"),
    ({"slug": "ab"}, "slug"),
    ({"slug": "-law"}, "slug"),
    ({"description": ["not", "text"]}, "description"),
    ({"description": "说" * 2001}, "description"),
    ({"media": "../good.mp4"}, "media"),
    ({"media": "missing.mp4"}, "media"),
    ({"media": ""}, "media"),
    ({"questions": {"at": 1}}, "questions"),
    ({"questions": ["question"]}, "questions[0]"),
    ({"questions": [QUESTION, {**QUESTION, "at": 99.0}]}, "questions[1].at"),
    ({"questions": [{**QUESTION, "at": -1}]}, "questions[0].at"),
    ({"questions": [{**QUESTION, "at": "1.5"}]}, "questions[0].at"),
    ({"questions": [{**QUESTION, "at": None}]}, "questions[0].at"),
    ({"questions": [{**QUESTION, "answer": 2}]}, "questions[0].answer"),
    ({"questions": [{**QUESTION, "answer": -1}]}, "questions[0].answer"),
    ({"questions": [{**QUESTION, "answer": True}]}, "questions[0].answer"),
    ({"questions": [{**QUESTION, "choices": "测试图"}]}, "questions[0].choices"),
    ({"questions": [{**QUESTION, "choices": ["只有一个"]}]}, "questions[0].choices"),
    ({"questions": [{**QUESTION, "choices": ["测试图", 7]}]}, "questions[0].choices[1]"),
    ({"questions": [{**QUESTION, "prompt": ""}]}, "questions[0].prompt"),
])
def test_bad_manifest_names_file_and_field_and_leaves_nothing(clips, tmp_path, changes, field):
    manifest = make_course(tmp_path, clips, **changes)
    media_root = tmp_path / "media"
    with pytest.raises(IngestError) as err:
        import_course(manifest, media_root)
    assert err.value.field == field
    assert err.value.file == str(manifest)
    assert str(manifest) in str(err.value) and f": {field}: " in str(err.value)
    assert leftovers(media_root) == []


@pytest.mark.parametrize("text,field", [
    ("{ not json", "json"),
    ("", "json"),
    ('["a list"]', "json"),
    (b"\xff\xfe{}", "json"),
])
def test_manifest_that_is_not_a_json_object(tmp_path, text, field):
    bad = tmp_path / "bad.json"
    bad.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(IngestError) as err:
        import_course(bad, tmp_path / "media")
    assert err.value.field == field and str(bad) in str(err.value)
    assert leftovers(tmp_path / "media") == []


def test_missing_manifest_names_the_file(tmp_path):
    with pytest.raises(IngestError) as err:
        load_manifest(tmp_path / "nope.json")
    assert err.value.field == "file" and "nope.json" in str(err.value)


def test_media_linked_from_outside_the_folder_is_refused(clips, tmp_path):
    manifest = make_course(tmp_path, clips, media="link.mp4")
    (manifest.parent / "link.mp4").symlink_to(clips / "good.mp4")
    with pytest.raises(IngestError) as err:
        load_manifest(manifest)
    assert err.value.field == "media"


def test_absolute_media_path_is_refused(clips, tmp_path):
    manifest = make_course(tmp_path, clips, media=str(clips / "good.mp4"))
    with pytest.raises(IngestError) as err:
        load_manifest(manifest)
    assert err.value.field == "media"


def test_manifest_is_read_with_its_chinese_text_and_a_bom(clips, tmp_path):
    manifest = make_course(tmp_path, clips)
    manifest.write_bytes(b"\xef\xbb\xbf" + manifest.read_bytes())  # as Windows Notepad saves it
    m = load_manifest(manifest)
    assert (m.slug, m.title, m.category, m.description) == ("test-course", "测试课程", "law", "一段测试图。")
    assert m.media_path == (manifest.parent / "good.mp4").resolve() and m.media_path.is_absolute()
    assert m.questions == (ingest.Question(1.5, "画面上显示的是什么？", ("测试图", "空白"), 0),)


def test_description_and_questions_are_optional(clips, tmp_path):
    m = load_manifest(make_course(tmp_path, clips, description=None, questions=None))
    assert m.description == "" and m.questions == ()


def test_ingest_error_names_file_and_field_and_survives_pickling():
    err = IngestError("/x/course.json", "questions[2].at", "past the end")
    assert str(err) == "/x/course.json: questions[2].at: past the end"
    copy = pickle.loads(pickle.dumps(err))  # e.g. raised in a worker process
    assert (copy.file, copy.field, copy.message, str(copy)) == (err.file, err.field, err.message, str(err))


# --- media --------------------------------------------------------------------------

@pytest.mark.parametrize("clip,field", [
    ("text.mp4", "media.container"),
    ("playlist.mp4", "media.container"),
    ("mjpeg.avi", "media.container"),
    ("empty.mp4", "media.file"),
    ("truncated.mp4", "media.data"),
    ("audio_only.mp4", "media.video"),
    ("mpeg4.mp4", "media.codec"),
    ("short.mp4", "media.duration"),
    ("tiny.mp4", "media.resolution"),
])
def test_bad_media_is_refused_with_its_field_and_leaves_nothing(clips, tmp_path, clip, field):
    manifest = make_course(tmp_path, clips, clip, questions=[])
    media_root = tmp_path / "media"
    with pytest.raises(IngestError) as err:
        import_course(manifest, media_root)
    assert err.value.field == field
    assert err.value.file == str(manifest.parent / clip)
    assert clip in str(err.value) and f": {field}: " in str(err.value)
    assert leftovers(media_root) == []


@pytest.mark.parametrize("clip,expected", [
    ("good.mp4", ("mp4", "h264", 320, 240, False)),
    ("audio.mp4", ("mp4", "h264", 320, 240, True)),
    ("good.webm", ("webm", "vp9", 320, 240, False)),
    ("recorded.webm", ("webm", "vp8", 320, 240, False)),
])
def test_probe_media(clips, clip, expected):
    info = probe_media(clips / clip)
    assert (info.container, info.video_codec, info.width, info.height, info.has_audio) == expected
    assert info.duration == pytest.approx(3.0, abs=0.1) and info.fps == pytest.approx(15.0)


def test_validate_course_is_a_dry_run(clips, tmp_path):
    manifest = make_course(tmp_path, clips)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    m, info = validate_course(manifest)
    assert m.slug == "test-course" and info.video_codec == "h264"
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


# --- importing ----------------------------------------------------------------------

def test_import_with_audio_keeps_it_in_every_rendition(clips, tmp_path):
    course = import_course(make_course(tmp_path, clips, "audio.mp4"), tmp_path / "media")
    assert course.folder == tmp_path / "media" / "test-course"
    assert [(r.name, r.width, r.height) for r in course.renditions] == [("240p", 320, 240), ("160p", 214, 160)]
    master = (course.folder / "master.m3u8").read_text()
    for r in course.renditions:
        assert r.codecs.startswith("avc1.4d") and r.codecs.endswith(",mp4a.40.2")  # Main profile + AAC-LC
        assert f'RESOLUTION={r.width}x{r.height},CODECS="{r.codecs}"\n{r.playlist}\n' in master
        with av.open(str(segments(course.folder / r.playlist)[0])) as seg:
            assert seg.streams.audio[0].codec_context.name == "aac"
            assert next(seg.decode(video=0)).height == r.height
    # The source had its index at the end: it is remuxed (not re-encoded) with the index first.
    source = course.folder / course.source_file
    assert course.source_file == "source.mp4" and ingest._is_faststart(source)
    assert not ingest._is_faststart(clips / "audio.mp4")
    assert probe_media(source).duration == pytest.approx(course.media.duration, abs=0.1)


def test_import_of_webm_vp9(clips, tmp_path):
    course = import_course(make_course(tmp_path, clips, "good.webm"), tmp_path / "media")
    assert course.media.video_codec == "vp9" and course.source_file == "source.webm"
    assert (course.folder / "source.webm").read_bytes() == (clips / "good.webm").read_bytes()
    for r in course.renditions:
        assert r.codecs.startswith("avc1.") and "mp4a" not in r.codecs
        assert all(p.is_file() for p in segments(course.folder / r.playlist))


def test_codecs_attribute_is_read_from_the_stream(tmp_path):
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=1", "-c:v", "libx264", "-profile:v", "high",
           "-level", "4.1", "-pix_fmt", "yuv420p", "-f", "mpegts", str(tmp_path / "high.ts"))
    assert ingest._avc_codec(tmp_path / "high.ts") == "avc1.640029"


def test_second_import_needs_overwrite_which_replaces_the_course(clips, tmp_path):
    media_root = tmp_path / "media"
    import_course(make_course(tmp_path, clips), media_root)
    with pytest.raises(IngestError) as err:
        import_course(make_course(tmp_path, clips, title="第二版"), media_root)
    assert err.value.field == "slug" and "already imported" in str(err.value)
    (media_root / "test-course" / "marker").write_text("old")
    course = import_course(make_course(tmp_path, clips, title="第二版"), media_root, overwrite=True)
    assert course.manifest.title == "第二版"
    assert leftovers(media_root) == ["test-course"]
    assert not (media_root / "test-course" / "marker").exists()


def test_failure_after_transcoding_keeps_the_old_course_and_no_staging(clips, tmp_path, monkeypatch):
    media_root = tmp_path / "media"
    import_course(make_course(tmp_path, clips), media_root)
    (media_root / "test-course" / "marker").write_text("old")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ingest, "_copy_source", disk_full)
    with pytest.raises(OSError):
        import_course(make_course(tmp_path, clips), media_root, overwrite=True)
    assert leftovers(media_root) == ["test-course"]
    assert (media_root / "test-course" / "marker").read_text() == "old"


def fake_ffmpeg(tmp_path: Path, body: str) -> Path:
    """A stand-in for the ffmpeg binary: a shell script that finds the staging folder from
    its last argument (".../%v/index.m3u8") and then does `body`."""
    script = tmp_path / "bin" / "ffmpeg"
    script.parent.mkdir(exist_ok=True)
    script.write_text('#!/bin/sh\nfor a; do last=$a; done\nstaging=$(dirname "$(dirname "$last")")\n' + body)
    script.chmod(0o755)
    return script


def test_ffmpeg_failure_midway_leaves_no_staging_folder(clips, tmp_path, monkeypatch):
    script = fake_ffmpeg(tmp_path, 'echo partial > "$staging/v240/seg00000.ts"\n'
                                   'echo "out_time_us=1000000"\n'
                                   'echo "[libx264] boom: encoder died" >&2\nexit 1\n')
    monkeypatch.setattr(ingest, "FFMPEG", str(script))
    media_root = tmp_path / "media"
    seen = []
    with pytest.raises(IngestError) as err:
        import_course(make_course(tmp_path, clips), media_root, progress=seen.append)
    assert err.value.field == "media.transcode"
    assert "boom: encoder died" in str(err.value) and "status 1" in str(err.value)
    assert seen and seen[-1] < 1.0  # it had started
    assert leftovers(media_root) == []


def test_interrupt_during_transcoding_kills_ffmpeg_and_cleans_up(clips, tmp_path, monkeypatch):
    pid_file = tmp_path / "pid"
    script = fake_ffmpeg(tmp_path, f'echo $$ > {pid_file}\necho partial > "$staging/v240/seg00000.ts"\n'
                                   'echo "out_time_us=N/A"\necho "out_time_us=500000"\nexec sleep 30\n')
    monkeypatch.setattr(ingest, "FFMPEG", str(script))

    def ctrl_c(fraction):
        if fraction > 0:
            raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        import_course(make_course(tmp_path, clips), tmp_path / "media", progress=ctrl_c)
    assert time.monotonic() - started < 10
    assert leftovers(tmp_path / "media") == []
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_missing_ffmpeg_is_named(clips, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(IngestError) as err:
        import_course(make_course(tmp_path, clips), tmp_path / "media")
    assert err.value.field == "ffmpeg" and "Debian package ffmpeg" in str(err.value)
    assert leftovers(tmp_path / "media") == []


def test_stale_staging_of_a_killed_import_is_swept(clips, tmp_path):
    media_root = tmp_path / "media"
    stale, fresh = media_root / ".staging-old-course-1a2b3c4d", media_root / ".staging-other-5e6f7a8b"
    for folder in (stale, fresh):
        (folder / "v360").mkdir(parents=True)
    day_ago = time.time() - ingest.STALE_STAGING_S - 60
    os.utime(stale, (day_ago, day_ago))
    import_course(make_course(tmp_path, clips), media_root)
    assert leftovers(media_root) == [fresh.name, "test-course"]  # a fresh one may be another import's


def test_master_playlist_format():
    renditions = [ingest.Rendition("360p", 900_000, 640, 360, "v360/index.m3u8", "avc1.4d401e,mp4a.40.2", 700_000),
                  ingest.Rendition("240p", 400_000, 426, 240, "v240/index.m3u8", "avc1.4d4015,mp4a.40.2", 300_000)]
    assert ingest.master_playlist(renditions) == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=700000,RESOLUTION=640x360,'
        'CODECS="avc1.4d401e,mp4a.40.2"\nv360/index.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=400000,AVERAGE-BANDWIDTH=300000,RESOLUTION=426x240,'
        'CODECS="avc1.4d4015,mp4a.40.2"\nv240/index.m3u8\n')


@pytest.mark.parametrize("size,expected", [
    ((640, 360), [(640, 360), (426, 240)]),
    ((1920, 1080), [(640, 360), (426, 240)]),
    ((320, 240), [(320, 240), (214, 160)]),
    ((360, 640), [(202, 360), (136, 240)]),  # portrait phone video
])
def test_rendition_sizes_follow_the_source(size, expected):
    plan = ingest._plan(ingest.MediaInfo("mp4", "h264", *size, 10.0, 25.0))
    assert [(w, h) for w, h, _ in plan] == expected
