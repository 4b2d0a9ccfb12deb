"""A course file played into a conference as a source of its own: :class:`FilePlayback`.

The host of a group education session picks an imported course and plays it into the conference
(issue 16). The file (the portal's course media: MP4 or WebM with H.264/VP8 video and usually
AAC/Opus audio, see streaming.media_files) is demuxed and decoded with PyAV on one thread of its
own, a little ahead of the play position, and paced in real time by two aiortc tracks:

- :attr:`FilePlayback.video_track` returns each decoded frame (yuv420p, at most ``max_width`` wide,
  at most ``fps_cap`` frames a second) when the media clock reaches its time. The frames are
  encoded by whoever reads the track: :class:`.aiortc_room.AiortcRoom` feeds them to the source's
  one shared VP8 encoder (encoded once, packets to every subscriber and relay);
  :class:`.janus_room.JanusRoom` sends them from one aiortc publisher peer into the Janus room
  (aiortc's sender encodes once; Janus forwards).
- :attr:`FilePlayback.audio_track` (None when the file has no audio) returns 20 ms frames, 960
  samples of s16 stereo at 48 kHz (what aiortc's Opus encoder takes), paced by their own clock,
  filled from the file's audio at the play position (silence while paused, after the end, or
  while the decoder catches up after a seek).

The media clock: ``position()`` runs at wall-clock rate from the last seek/resume while playing,
stands still while paused, and stops at ``duration`` (``ended``: the last frame stays, silence).
The tracks' timestamps are their own wall clocks since their first frame, so they stay monotonic
across pause and seek (an RTP receiver sees a live source that sometimes shows a still).
While not playing, the video track repeats its frame every ``REPEAT_S`` (2 frames a second): late
joiners and keyframe requests still get a picture, and receivers do not think the source dead.
A seek asks the decoder thread to seek the demuxer to the nearest keyframe before the target
(PyAV ``container.seek(backward=True)``) and drops the frames and samples before it; until the
first frame at the target is decoded the track keeps showing the last one. If the decoder falls
more than ``CATCH_UP_S`` behind the clock (nobody read the track for a while), it seeks itself.

Every control method is thread-safe (one lock; the host's request thread calls them). A playback
has one reader: it is published into one room at a time. The owner closes it (:meth:`close`); a
room never does.
"""
from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import threading
import time

import numpy as np

logger = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_SAMPLES = 960                 # 20 ms
REPEAT_S = 0.5                      # the still frame's period while paused/ended/starved
AHEAD_S = 0.6                       # decode this far ahead of the clock
MAX_FRAMES = 30                     # decoded video frames held at most
AUDIO_SLACK_S = 0.04                # audio this far off the clock is left as it is
CATCH_UP_S = 2.0                    # the decoder this far behind the clock seeks itself
_EPS = 1e-3


class FilePlayback:
    """One course file played in real time. ``start_at`` (seconds) and ``paused`` set the
    initial state; ``fps_cap`` limits the video frame rate (frames closer than 1/fps_cap in media
    time are skipped at the decoder); ``max_width`` scales wider pictures down (aspect kept).
    Raises ValueError for a bad argument or a file without a video stream (or that PyAV
    cannot open)."""

    def __init__(self, path: str, *, start_at: float = 0.0, paused: bool = False, fps_cap: float = 15.0,
                 max_width: int = 1280):
        import av

        if not (fps_cap > 0):
            raise ValueError("fps_cap must be positive")
        if max_width < 16:
            raise ValueError("max_width must be at least 16")
        self.path = str(path)
        try:
            container = av.open(self.path)
        except (av.error.FFmpegError, OSError) as exc:
            raise ValueError(f"cannot open {self.path}: {exc}") from None
        try:
            if not container.streams.video:
                raise ValueError(f"{self.path} has no video stream")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            rate = video.average_rate or video.guessed_rate or 25
            self.source_fps = float(rate)
            self.frame_s = 1.0 / self.source_fps
            if video.duration is not None and video.time_base is not None:
                duration = float(video.duration * video.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            else:
                raise ValueError(f"{self.path}: unknown duration")
            if duration <= 0:
                raise ValueError(f"{self.path}: empty")
            width, height = video.codec_context.width, video.codec_context.height
            if not width or not height:
                raise ValueError(f"{self.path}: unknown picture size")
        except ValueError:
            container.close()
            raise
        self.duration = duration
        self.has_audio = audio is not None
        scale = min(1.0, max_width / width)
        self.size = (max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2))
        self.fps = min(self.source_fps, float(fps_cap))
        self._min_gap = 1.0 / fps_cap
        if not 0 <= start_at <= duration:
            container.close()
            raise ValueError(f"start_at must be within [0, {duration:.3f}]")
        self._cond = threading.Condition()
        self._anchor_pos = float(start_at)
        self._anchor_wall = time.monotonic()
        self._paused = bool(paused)
        self._closed = False
        self._seek_gen = 0
        self._seek_target = float(start_at)
        self._video: collections.deque = collections.deque()      # (media time, frame)
        self._audio: collections.deque = collections.deque()      # [start time, int16 array (n, 2), offset]
        self._audio_end = float(start_at)
        self._decoded_t = float(start_at)                            # the newest video time decoded
        self._eof = False
        self._owner = None
        self.seeks = 0
        self.catch_ups = 0
        self.decode_errors = 0
        self.video_track = _make_video_track(self)
        self.audio_track = _make_audio_track(self) if self.has_audio else None
        self._anchor_wall = time.monotonic()     # the clock starts now that everything is ready
        self._thread = threading.Thread(target=self._run, args=(container,), daemon=True, name="playback-decode")
        self._thread.start()

    # ----- the clock and the controls (any thread)
    def _position_locked(self, now: float | None = None) -> float:
        pos = self._anchor_pos
        if not self._paused:
            pos += (time.monotonic() if now is None else now) - self._anchor_wall
        return min(max(pos, 0.0), self.duration)

    def position(self) -> float:
        """The media time now, in seconds (0..duration)."""
        with self._cond:
            return self._position_locked()

    @property
    def playing(self) -> bool:
        with self._cond:
            return not self._closed and not self._paused and self._position_locked() < self.duration

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def ended(self) -> bool:
        """The clock reached the end (the last frame stays, silence) until a seek back."""
        with self._cond:
            return self._position_locked() >= self.duration

    @property
    def closed(self) -> bool:
        return self._closed

    def pause(self) -> None:
        with self._cond:
            if not self._paused:
                self._anchor_pos = self._position_locked()
                self._paused = True

    def resume(self) -> None:
        with self._cond:
            if self._paused:
                self._anchor_wall = time.monotonic()
                self._paused = False

    def seek(self, position_s: float) -> None:
        """Go to ``position_s`` (playing or paused as before); ValueError outside [0, duration]."""
        try:
            target = float(position_s)
        except (TypeError, ValueError):
            raise ValueError("position must be a number") from None
        if not 0 <= target <= self.duration:
            raise ValueError(f"position must be within [0, {self.duration:.3f}]")
        with self._cond:
            self._anchor_pos = target
            self._anchor_wall = time.monotonic()
            self._request_seek_locked(target)
            self.seeks += 1

    def _request_seek_locked(self, target: float) -> None:
        self._seek_gen += 1
        self._seek_target = target
        self._video.clear()
        self._audio.clear()
        self._audio_end = target
        self._decoded_t = target
        self._eof = False
        self._cond.notify_all()

    def close(self) -> None:
        """Stop decoding; the tracks end (their readers get MediaStreamError). Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._video.clear()
            self._audio.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(5)

    def info(self) -> dict:
        with self._cond:
            return {"path": self.path, "position": round(self._position_locked(), 3), "duration": self.duration,
                    "paused": self._paused, "ended": self._position_locked() >= self.duration,
                    "size": f"{self.size[0]}x{self.size[1]}", "fps": self.fps, "audio": self.has_audio,
                    "queued_frames": len(self._video), "seeks": self.seeks, "catch_ups": self.catch_ups,
                    "decode_errors": self.decode_errors}

    # ----- one reader at a time (a room)
    def _claim(self, owner) -> bool:
        with self._cond:
            if self._owner is not None and self._owner is not owner:
                return False
            self._owner = owner
            return True

    def _release(self, owner) -> None:
        with self._cond:
            if self._owner is owner:
                self._owner = None

    # ----- for the tracks (their loop; short, under the lock)
    def _due_video(self, now: float):
        """(the newest decoded frame whose time has come, or None; seconds until the next one is due)."""
        with self._cond:
            pos = self._position_locked(now)
            frame = None
            while self._video and self._video[0][0] <= pos + _EPS:
                frame = self._video.popleft()[1]
            wait = None
            if self._video and not self._paused:
                wait = self._video[0][0] - pos
            if frame is not None:
                self._cond.notify_all()
            return frame, wait

    def _take_audio(self, now: float) -> np.ndarray | None:
        """960 stereo samples at the clock's position (None: silence)."""
        with self._cond:
            if self._paused or self._closed:
                return None
            pos = self._position_locked(now)
            if pos >= self.duration:
                return None
            # drop what is late
            while self._audio:
                start, data, offset = self._audio[0]
                head = start + offset / AUDIO_RATE
                late = int((pos - head) * AUDIO_RATE)
                if late <= AUDIO_SLACK_S * AUDIO_RATE:
                    break
                left = len(data) - offset
                if late >= left:
                    self._audio.popleft()
                else:
                    self._audio[0][2] = offset + late
            if not self._audio:
                return None
            start, data, offset = self._audio[0]
            if start + offset / AUDIO_RATE > pos + AUDIO_SLACK_S:
                return None              # a gap (after a seek): silence until the clock gets there
            out = np.zeros((AUDIO_SAMPLES, 2), dtype=np.int16)
            filled = 0
            while filled < AUDIO_SAMPLES and self._audio:
                start, data, offset = self._audio[0]
                count = min(AUDIO_SAMPLES - filled, len(data) - offset)
                out[filled:filled + count] = data[offset:offset + count]
                filled += count
                if offset + count >= len(data):
                    self._audio.popleft()
                else:
                    self._audio[0][2] = offset + count
            self._cond.notify_all()
            return out

    # ----- the decoder thread
    def _wants_more_locked(self, pos: float) -> bool:
        if self._eof:
            return False
        if len(self._video) >= MAX_FRAMES:
            return False
        video_ahead = (self._video[-1][0] if self._video else self._decoded_t) - pos
        audio_ahead = (self._audio_end - pos) if self.has_audio else float("inf")
        return video_ahead < AHEAD_S or audio_ahead < AHEAD_S

    def _prune_locked(self, pos: float) -> None:
        """Drop what nobody took in time (no reader): all but the newest due frame, stale audio."""
        while len(self._video) > 1 and self._video[1][0] <= pos + _EPS:
            self._video.popleft()
        while self._audio and self._audio[0][0] + len(self._audio[0][1]) / AUDIO_RATE < pos - 0.2:
            self._audio.popleft()

    def _run(self, container) -> None:
        try:
            self._decode(container)
        except Exception:
            logger.exception("playback of %s: the decoder failed", self.path)
        finally:
            container.close()

    def _decode(self, container) -> None:
        import av

        video = container.streams.video[0]
        audio = container.streams.audio[0] if self.has_audio else None
        streams = [video] + ([audio] if audio is not None else [])
        resampler = None
        demux = None
        gen = -1
        target: float | None = None
        held = None                       # the last frame before a seek target
        last_kept = None
        audio_t: float | None = None      # the time of the next resampled sample
        audio_from = 0.0                  # samples before the seek target are dropped
        width, height = self.size
        while True:
            with self._cond:
                while not self._closed and gen == self._seek_gen:
                    pos = self._position_locked()
                    # (not while decoding its way to a seek target: that is catching up already)
                    if target is None and not self._eof and self._decoded_t < pos - CATCH_UP_S:
                        self.catch_ups += 1
                        self._request_seek_locked(pos)
                        break
                    if self._wants_more_locked(pos):
                        break
                    self._prune_locked(pos)
                    self._cond.wait(0.1)
                if self._closed:
                    return
                if gen != self._seek_gen:
                    gen, target = self._seek_gen, self._seek_target
                    seek_to = target
                else:
                    seek_to = None
            if seek_to is not None:
                stamp = int(seek_to / video.time_base) + (video.start_time or 0)
                try:
                    container.seek(stamp, stream=video, backward=True, any_frame=False)
                except av.error.FFmpegError:
                    container.seek(0, stream=video, backward=True)
                for codec in (video.codec_context, audio.codec_context if audio is not None else None):
                    if codec is not None:
                        codec.flush_buffers()
                demux = container.demux(*streams)
                held, last_kept, audio_t, audio_from = None, None, None, seek_to
                resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE) if audio else None
            try:
                packet = next(demux)
            except StopIteration:
                packet = None
            except av.error.FFmpegError:
                self.decode_errors += 1
                packet = None
            if packet is None:
                with self._cond:
                    if gen == self._seek_gen:
                        if held is not None:
                            self._video.append((self._frame_time(held), self._scaled(held, width, height)))
                            held = None
                        self._eof = True
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                self.decode_errors += 1
                continue
            for frame in frames:
                if packet.stream.type == "video":
                    t = self._frame_time(frame)
                    if target is not None:
                        if t + self.frame_s <= target + _EPS:
                            held = frame
                            continue
                        target, held = None, None
                    if last_kept is not None and last_kept < t < last_kept + self._min_gap - 2 * _EPS:
                        continue                      # over the frame-rate cap
                    with self._cond:
                        if gen != self._seek_gen:
                            break
                        self._decoded_t = t
                        if t + self.frame_s < self._position_locked() - 0.1:
                            continue                  # late: not worth scaling
                    last_kept = t
                    scaled = self._scaled(frame, width, height)
                    with self._cond:
                        if gen == self._seek_gen:
                            self._video.append((t, scaled))
                else:
                    if frame.time is None:
                        continue
                    if audio_t is None:
                        audio_t = float(frame.time)
                    for chunk in resampler.resample(frame):
                        data = chunk.to_ndarray().reshape(-1, 2)
                        start = audio_t
                        audio_t += len(data) / AUDIO_RATE
                        if start < audio_from:
                            cut = int((audio_from - start) * AUDIO_RATE)
                            if cut >= len(data):
                                continue
                            data, start = data[cut:], start + cut / AUDIO_RATE
                        with self._cond:
                            if gen != self._seek_gen:
                                break
                            self._audio.append([start, data, 0])
                            self._audio_end = start + len(data) / AUDIO_RATE

    def _frame_time(self, frame) -> float:
        return float(frame.time) if frame.time is not None else self._decoded_t + self.frame_s

    @staticmethod
    def _scaled(frame, width: int, height: int):
        if frame.width == width and frame.height == height and frame.format.name == "yuv420p":
            return frame
        return frame.reformat(width=width, height=height, format="yuv420p")


def _make_video_track(playback: FilePlayback):
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class PlaybackVideoTrack(MediaStreamTrack):
        """The playback's frames when the clock reaches them; the still every REPEAT_S otherwise.
        Timestamps: 90 kHz from the track's first frame, wall clock, strictly increasing."""
        kind = "video"

        def __init__(self):
            super().__init__()
            self.frames_out = 0
            self.repeats = 0
            self._current = None
            self._t0: float | None = None
            self._last_pts = -1
            self._last_out = -1e9

        async def recv(self):
            while True:
                if playback.closed or self.readyState != "live":
                    self.stop()
                    raise MediaStreamError
                now = time.monotonic()
                fresh, wait = playback._due_video(now)
                if fresh is not None:
                    self._current = fresh
                if self._current is not None and (fresh is not None or now - self._last_out >= REPEAT_S):
                    if fresh is None:
                        self.repeats += 1
                    return self._out(now)
                delay = REPEAT_S - (now - self._last_out) if self._current is not None else 0.01
                if wait is not None:
                    delay = min(delay, wait)
                await asyncio.sleep(min(max(delay, 0.002), 0.02))

        def _out(self, now: float):
            if self._t0 is None:
                self._t0 = now
            pts = max(int((now - self._t0) * VIDEO_CLOCK), self._last_pts + 1)
            self._last_pts = pts
            self._last_out = now
            frame = self._current
            frame.pts = pts
            frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
            self.frames_out += 1
            return frame

    return PlaybackVideoTrack()


def _make_audio_track(playback: FilePlayback):
    import av
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class PlaybackAudioTrack(MediaStreamTrack):
        """20 ms of s16 stereo 48 kHz per frame, paced by its own clock; the file's samples at the
        playback's position, silence when there are none."""
        kind = "audio"

        def __init__(self):
            super().__init__()
            self.frames_out = 0
            self.silent_frames = 0
            self._start: float | None = None

        async def recv(self):
            if playback.closed or self.readyState != "live":
                self.stop()
                raise MediaStreamError
            now = time.monotonic()
            if self._start is None:
                self._start = now
            else:
                due = self._start + self.frames_out * AUDIO_SAMPLES / AUDIO_RATE
                if due > now:
                    await asyncio.sleep(due - now)
                    now = time.monotonic()
                elif now - due > 0.2:     # the reader stalled: go on from now, timestamps continuous
                    self._start = now - self.frames_out * AUDIO_SAMPLES / AUDIO_RATE
            samples = playback._take_audio(now)
            if samples is None:
                self.silent_frames += 1
                samples = np.zeros((AUDIO_SAMPLES, 2), dtype=np.int16)
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.frames_out * AUDIO_SAMPLES
            frame.time_base = fractions.Fraction(1, AUDIO_RATE)
            self.frames_out += 1
            return frame

    return PlaybackAudioTrack()
