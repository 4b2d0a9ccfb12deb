"""FilePlayback (streaming/conference/playback.py) on a local asyncio loop, no network: a marker
course (content/marker_video.py: every frame carries its media time, the tone changes pitch every
second) is played and the tracks' frames are read back. Expected times are worked out from the
file's own numbers (15 fps, frame k at k/15 s, drawn in centiseconds), never read from the code
under test."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from content.marker_video import build, read_marker
from streaming.conference.playback import FilePlayback

FPS = 15
SECONDS = 6.0


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return str(build(tmp_path_factory.mktemp("course") / "marker.mp4", SECONDS, 640, 360, FPS))


class ThreadLoop:
    """An asyncio loop on a thread of its own, as the rooms' loops are. Not the test's thread: in a
    whole run, Playwright's sync API (the browser tests' session fixture) leaves that thread
    counted as running a loop, and `run_until_complete` there would refuse."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="playback-test-loop", daemon=True)
        self.thread.start()

    def run_until_complete(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def loop():
    loop = ThreadLoop()
    yield loop
    loop.close()


@pytest.fixture
def playing(course):
    made = []

    def make(**kwargs):
        playback = FilePlayback(course, **kwargs)
        made.append(playback)
        return playback
    yield make
    for playback in made:
        playback.close()


class Got(tuple):
    """(arrival, marker, frame) with the frame's pts and size when it came (a still that is sent
    again is the same frame object with a new pts)."""
    def __new__(cls, at, marker, frame):
        got = super().__new__(cls, (at, marker, frame))
        got.pts, got.size = frame.pts, (frame.width, frame.height)
        return got


def frames(loop, track, count: int) -> list[Got]:
    """(arrival, marker, frame) of the next ``count`` frames of a video track."""
    async def read():
        out = []
        for _ in range(count):
            frame = await track.recv()
            out.append(Got(time.monotonic(), read_marker(frame.to_ndarray(format="rgb24")), frame))
        return out
    return loop.run_until_complete(asyncio.wait_for(read(), 30))


def frames_for(loop, track, seconds: float) -> list[Got]:
    async def read():
        out, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            frame = await track.recv()
            out.append(Got(time.monotonic(), read_marker(frame.to_ndarray(format="rgb24")), frame))
        return out
    return loop.run_until_complete(asyncio.wait_for(read(), seconds + 10))


def frame_at(t: float) -> float:
    """The marker of the frame on screen at media time t: frame floor(t * 15), in centiseconds."""
    return round(int(t * FPS + 1e-9) / FPS, 2)


def test_opens_the_file_and_refuses_bad_arguments(course, tmp_path, playing):
    playback = playing(paused=True)
    assert playback.duration == pytest.approx(SECONDS)
    assert playback.has_audio and playback.audio_track is not None
    assert playback.size == (640, 360) and playback.fps == FPS
    assert playing(paused=True, max_width=320).size == (320, 180)
    for bad in (-0.1, SECONDS + 0.1, "later", None):
        with pytest.raises(ValueError):
            playback.seek(bad)
    with pytest.raises(ValueError):
        FilePlayback(course, start_at=SECONDS + 1)
    with pytest.raises(ValueError):
        FilePlayback(str(tmp_path / "missing.mp4"))
    (tmp_path / "not-video.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(ValueError):
        FilePlayback(str(tmp_path / "not-video.mp4"))
    with pytest.raises(ValueError):
        FilePlayback(course, fps_cap=0)


def test_frames_carry_their_time_and_the_clock_runs_at_real_rate(loop, playing):
    playback = playing(max_width=320)
    began = playback.position()
    got = frames(loop, playback.video_track, 30)          # two seconds of video
    markers = [m for _, m, _ in got]
    assert None not in markers
    # consecutive frames of the file, 1/15 s apart (a frame may be skipped while the decoder starts)
    steps = [round((b - a) * FPS) for a, b in zip(markers, markers[1:])]
    assert all(s >= 1 for s in steps) and steps.count(1) >= 25, steps
    # each frame is sent when the clock reaches it: its marker is the frame on screen at that moment
    for (at, marker, frame), _ in zip(got[1:], range(29)):
        assert got[0][1] <= marker <= frame_at(began + (at - got[0][0]) + got[0][1] + 0.05) + 0.01
    elapsed = got[-1][0] - got[0][0]
    assert (markers[-1] - markers[0]) == pytest.approx(elapsed, abs=0.1)   # real rate
    assert abs(playback.position() - markers[-1]) < 0.1
    assert {g.size for g in got} == {(320, 180)}
    pts = [g.pts for g in got]
    assert all(b > a for a, b in zip(pts, pts[1:]))
    assert (pts[-1] - pts[0]) / 90_000 == pytest.approx(elapsed, abs=0.05)   # a 90 kHz wall clock


def test_pause_freezes_the_picture_and_seek_jumps(loop, playing):
    playback = playing(start_at=1.0)
    frames(loop, playback.video_track, 5)
    playback.pause()
    assert not playback.playing
    frozen = playback.position()
    got = frames_for(loop, playback.video_track, 1.6)
    assert playback.position() == frozen
    # the still, repeated about twice a second (the frames queued before the pause are not shown)
    assert {m for _, m, _ in got[1:]} == {frame_at(frozen)}, [m for _, m, _ in got]
    assert 2 <= len(got) <= 5, len(got)
    # seek while paused: the picture of the target, still paused (frame 37 = 2.4667 s shows at 2.5)
    playback.seek(2.5)
    assert playback.position() == 2.5 and not playback.playing
    got += frames(loop, playback.video_track, 2)
    assert got[-1][1] == 2.47
    # resume: on from there
    playback.resume()
    later = frames(loop, playback.video_track, 10)
    assert 2.47 < later[0][1] < 2.7 and later[-1][1] > 2.9
    # seek while playing: the next frames are the target's (4.0 s is frame 60)
    playback.seek(4.0)
    after = frames(loop, playback.video_track, 3)
    assert after[0][1] in (4.0, 4.07), [m for _, m, _ in after]
    assert after[0][0] - later[-1][0] < 0.4
    assert playback.info()["seeks"] == 2
    # timestamps stayed monotonic through pause and seeks
    pts = [g.pts for g in got + later + after]
    assert all(b > a for a, b in zip(pts, pts[1:]))


def test_the_end_keeps_the_last_frame(loop, playing):
    playback = playing(start_at=SECONDS - 0.4)
    got = frames_for(loop, playback.video_track, 1.4)
    assert playback.ended and not playback.playing and playback.position() == SECONDS
    last = round((SECONDS * FPS - 1) / FPS, 2)          # frame 89 = 5.93 s
    assert got[-1][1] == last and got[-2][1] == last
    assert playback.info()["ended"] is True
    # silence once ended
    audio = loop.run_until_complete(playback.audio_track.recv())
    assert not audio.to_ndarray().any()
    # a seek back plays again
    playback.seek(1.0)
    assert playback.playing and not playback.ended
    assert frames(loop, playback.video_track, 1)[0][1] in (1.0, 1.07)
    # seeking to the very end shows the last frame
    playback.seek(SECONDS)
    assert frames(loop, playback.video_track, 1)[0][1] == last


def _pitch(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * 48_000 / len(samples))


def test_audio_is_the_files_tone_in_opus_sized_frames(loop, playing):
    playback = playing(start_at=0.5)

    async def listen(count):
        return [(playback.position(), await playback.audio_track.recv()) for _ in range(count)]
    began = time.monotonic()
    got = loop.run_until_complete(asyncio.wait_for(listen(100), 10))     # 2 s
    took = time.monotonic() - began
    assert took == pytest.approx(2.0, abs=0.15)       # paced in real time
    for n, (_, frame) in enumerate(got):
        assert (frame.samples, frame.format.name, frame.layout.name, frame.sample_rate) == (960, "s16", "stereo", 48000)
        assert frame.pts == n * 960 and frame.time_base == pytest.approx(1 / 48000)
    # the tone: 400 Hz in second 0, 500 Hz in second 1, 600 Hz in second 2 (content/marker_video.py);
    # 0.1 s windows (10 Hz bins) away from the changes must show the pitch of their second
    checked = 0
    for i in range(0, 100, 5):
        position = got[i][0]
        if abs(position - round(position)) < 0.15 or abs(position + 0.1 - round(position + 0.1)) < 0.15:
            continue
        window = np.concatenate([f.to_ndarray().reshape(-1, 2)[:, 0] for _, f in got[i:i + 5]]).astype(float)
        assert _pitch(window) == pytest.approx(400 + 100 * int(position), abs=15), (position, _pitch(window))
        checked += 1
    assert checked >= 8
    playback.pause()
    quiet = loop.run_until_complete(listen(5))
    assert not any(f.to_ndarray().any() for _, f in quiet)


def test_close_ends_the_tracks_and_webm_plays_too(loop, tmp_path, playing):
    from aiortc.mediastreams import MediaStreamError

    webm = str(build(tmp_path / "marker.webm", 2.0, 320, 180, FPS))
    playback = FilePlayback(webm, start_at=1.0, paused=True)
    try:
        assert frames(loop, playback.video_track, 1)[0][1] == 1.0   # frame 15
        assert playback.has_audio
    finally:
        playback.close()
    assert playback.closed
    with pytest.raises(MediaStreamError):
        loop.run_until_complete(playback.video_track.recv())
    with pytest.raises(MediaStreamError):
        loop.run_until_complete(playback.audio_track.recv())
    playback.close()   # idempotent


def test_the_marker_reader_rejects_what_is_not_a_marker():
    from content.marker_video import draw_marker
    blank = np.full((180, 320, 3), 128, np.uint8)
    assert read_marker(blank) is None
    marked = draw_marker(blank.copy(), 12.34)
    assert read_marker(marked) == 12.34
    broken = marked.copy()
    broken[18:36, 16 * 7:16 * 8] = 255 - broken[18:36, 16 * 7:16 * 8]   # a cell of row 1 flipped: rows disagree
    assert read_marker(broken) is None
    smeared = marked.copy()
    smeared[0:18, 16 * 5:16 * 6] = 128                                  # a grey cell
    assert read_marker(smeared) is None


def test_a_reader_that_comes_late_gets_the_frame_of_now(loop, playing):
    playback = playing(start_at=0.5)
    time.sleep(1.5)                      # nobody reads meanwhile (a room still negotiating)
    position = playback.position()
    got = frames(loop, playback.video_track, 2)
    assert position == pytest.approx(2.0, abs=0.1)
    assert position - 0.1 <= got[0][1] <= position + 0.1, (got[0][1], position)
