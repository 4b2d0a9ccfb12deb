"""Course ingest on real media: sample building, validation errors that name file and field,
two-bitrate HLS, and nothing half-imported after a failure."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from content.build_samples import main as build_samples
from streaming.ingest import IngestError, import_course, load_manifest, probe_media, validate_course


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    assert build_samples(["--out", str(out), "--minutes", "0.25", "--only", "law-basics"]) == 0
    return out


def copy_sample(sample: Path, tmp_path: Path, **changes) -> Path:
    folder = tmp_path / "course"
    folder.mkdir()
    shutil.copy(sample / "law-basics.mp4", folder)
    data = json.loads((sample / "law-basics.json").read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    manifest = folder / "law-basics.json"
    manifest.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return manifest


def test_sample_has_chinese_manifest_and_a_changing_picture(sample):
    manifest = load_manifest(sample / "law-basics.json")
    assert manifest.title == "社区矫正法基础" and manifest.category == "law"
    assert len(manifest.questions) >= 5  # at least one per slide
    with av.open(str(sample / "law-basics.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i in (0, 60)]
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).mean() > 1.0


def test_import_produces_two_renditions_and_reports_progress(sample, tmp_path):
    seen = []
    imported = import_course(sample / "law-basics.json", tmp_path / "media", progress=seen.append)
    folder = tmp_path / "media" / "law-basics"
    assert imported.folder == folder
    master = (folder / "master.m3u8").read_text()
    bandwidths = [int(line.split("BANDWIDTH=")[1].split(",")[0]) for line in master.splitlines()
                  if line.startswith("#EXT-X-STREAM-INF")]
    assert len(set(bandwidths)) >= 2
    for rendition in imported.renditions:
        playlist = (folder / rendition.playlist).read_text()
        segments = [line for line in playlist.splitlines() if line.endswith(".ts")]
        assert segments and all((folder / rendition.playlist).parent.joinpath(s).is_file() for s in segments)
        with av.open(str((folder / rendition.playlist).parent / segments[0])) as seg:
            frame = next(seg.decode(video=0))
            assert frame.height == rendition.height
    assert imported.media.duration == pytest.approx(15.0, abs=0.5)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 2
    assert [p.name for p in (tmp_path / "media").iterdir()] == ["law-basics"]


def test_second_import_needs_overwrite(sample, tmp_path):
    import_course(sample / "law-basics.json", tmp_path / "media")
    with pytest.raises(IngestError) as err:
        import_course(sample / "law-basics.json", tmp_path / "media")
    assert err.value.field == "slug"
    import_course(sample / "law-basics.json", tmp_path / "media", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == ["law-basics"]


@pytest.mark.parametrize("changes,field", [
    ({"title": None}, "title"),
    ({"title": ""}, "title"),
    ({"category": "sports"}, "category"),
    ({"slug": "../etc"}, "slug"),
    ({"slug": "Law-Basics"}, "slug"),
    ({"media": "../law-basics.mp4"}, "media"),
    ({"media": "missing.mp4"}, "media"),
    ({"questions": {"at": 1}}, "questions"),
    ({"questions": [{"at": 999.0, "prompt": "?", "choices": ["a", "b"], "answer": 0}]}, "questions[0].at"),
    ({"questions": [{"at": 1.0, "prompt": "?", "choices": ["a", "b"], "answer": 2}]}, "questions[0].answer"),
    ({"questions": [{"at": 1.0, "prompt": "?", "choices": "ab", "answer": 0}]}, "questions[0].choices"),
    ({"questions": [{"at": "x", "prompt": "?", "choices": ["a", "b"], "answer": 0}]}, "questions[0].at"),
])
def test_bad_manifest_names_file_and_field_and_leaves_nothing(sample, tmp_path, changes, field):
    manifest = copy_sample(sample, tmp_path, **changes)
    media_root = tmp_path / "media"
    with pytest.raises(IngestError) as err:
        import_course(manifest, media_root)
    assert err.value.field == field
    assert str(manifest) in str(err.value) and field in str(err.value)
    assert not media_root.exists() or list(media_root.iterdir()) == []


def test_manifest_that_is_not_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json", encoding="utf-8")
    with pytest.raises(IngestError) as err:
        load_manifest(bad)
    assert err.value.field == "json" and "bad.json" in str(err.value)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.mark.parametrize("kind,field", [
    ("text", "media"), ("empty", "media"), ("audio_only", "media.video"), ("mjpeg", "media.codec"),
])
def test_bad_media_is_refused_with_its_field(sample, tmp_path, kind, field):
    manifest = copy_sample(sample, tmp_path)
    media = manifest.parent / "law-basics.mp4"
    if kind == "text":
        media.write_text("这不是视频文件")
    elif kind == "empty":
        media.write_bytes(b"")
    elif kind == "audio_only":
        ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-f", "mp4", str(media))
    elif kind == "mjpeg":
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=3", "-c:v", "mjpeg", "-f", "mp4",
               str(media))
    with pytest.raises(IngestError) as err:
        import_course(manifest, tmp_path / "media")
    assert err.value.field == field
    assert "law-basics" in str(err.value)
    assert not (tmp_path / "media").exists() or list((tmp_path / "media").iterdir()) == []


def test_ffmpeg_failure_midway_leaves_no_staging_folder(sample, tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    # Writes a partial segment into the staging folder, then fails like a crashed encoder.
    fake.write_text("#!/bin/sh\nfor a; do last=$a; done\n"
                    'dir=$(dirname "$(echo "$last" | sed "s/%v/v360p/")")\n'
                    'echo partial > "$dir/seg00000.ts"\necho "boom: encoder died" >&2\nexit 1\n')
    fake.chmod(0o755)
    import streaming.ingest as ingest
    monkeypatch.setattr(ingest, "FFMPEG", str(fake))
    with pytest.raises(IngestError) as err:
        import_course(sample / "law-basics.json", tmp_path / "media")
    assert "boom" in str(err.value)
    assert list((tmp_path / "media").iterdir()) == []


def test_validate_course_is_a_dry_run(sample, tmp_path):
    manifest, media = validate_course(sample / "law-basics.json")
    assert media.video_codec == "h264" and media.container == "mp4" and media.width == 640
    assert manifest.slug == "law-basics"
    assert probe_media(sample / "law-basics.mp4") == media
