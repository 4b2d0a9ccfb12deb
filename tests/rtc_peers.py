"""Client-side WebRTC peers for tests and benchmarks: real aiortc peers that
publish video to a :class:`streaming.rtc.MediaEngine`.

- :class:`FrameTrack` plays a list of RGB frames at a given fps (looping); every
  peer encodes for itself (aiortc encodes per sender).
- :class:`PacketTrack` plays VP8 packets encoded once by :func:`encode_vp8`:
  aiortc's sender only packetizes an ``av.Packet`` returned by ``recv()``, so many
  peers in one process cost almost no encoding. Keyframe requests (PLI) from the
  server do not reach these packets; the clip is encoded with a keyframe every
  ``keyframe_every`` frames instead.
- :class:`ClientLoop` runs the clients' own asyncio loop in a thread, so the
  engine's blocking facade can be called from the test thread.

Every peer is created with an explicit empty ICE server list: with none, aiortc
would ask a public STUN server.
"""
from __future__ import annotations

import asyncio
import fractions
import threading
import time
from collections.abc import Sequence

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack, VideoStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender

VIDEO_CLOCK = 90_000
TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)


class ClientLoop:
    """An asyncio loop in a daemon thread, for the client side."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="rtc-client-loop", daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 20.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop.is_closed():
            return

        async def cancel_rest():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.run(cancel_rest(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class _Pacer:
    def __init__(self, fps: float):
        self.fps = fps
        self.start: float | None = None
        self.count = 0
        self.base_pts = 0        # the timestamp of the slot at `start` (set_fps moves it)

    def set_fps(self, fps: float) -> None:
        """Go on at another rate from the latest slot (as a browser does when its sender's
        maxFramerate changes); the timestamps stay monotonic."""
        if fps <= 0:
            raise ValueError("fps must be positive")
        if self.start is not None:
            self.base_pts += int(self.count * VIDEO_CLOCK / self.fps)
            self.start += self.count / self.fps
            self.count = 0
        self.fps = fps

    async def next(self) -> int:
        """Wait for the next frame slot; return its 90 kHz timestamp."""
        if self.start is None:
            self.start = time.monotonic()
        else:
            self.count += 1
            wait = self.start + self.count / self.fps - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        return self.base_pts + int(self.count * VIDEO_CLOCK / self.fps)


class FrameTrack(VideoStreamTrack):
    """Plays RGB frames (HxWx3 uint8) at ``fps``, looping."""

    def __init__(self, frames: Sequence[np.ndarray], fps: float = 15.0):
        super().__init__()
        if not frames:
            raise ValueError("no frames")
        self.frames = [np.ascontiguousarray(f, dtype=np.uint8) for f in frames]
        self.pacer = _Pacer(fps)
        self.sent = 0

    def set_fps(self, fps: float) -> None:
        """Change the frame rate (thread-safe enough: the client loop reads it per frame)."""
        self.pacer.set_fps(fps)

    async def recv(self):
        pts = await self.pacer.next()
        frame = av.VideoFrame.from_ndarray(self.frames[self.sent % len(self.frames)], format="rgb24")
        frame.pts = pts
        frame.time_base = TIME_BASE
        self.sent += 1
        return frame


def encode_vp8(frames: Sequence[np.ndarray], fps: float = 15.0, bitrate: int = 500_000,
               keyframe_every: int = 15) -> list[bytes]:
    """Encode RGB frames to VP8 once; the first frame is a keyframe, and so is every
    ``keyframe_every``-th one, so a looping clip restarts cleanly."""
    height, width = frames[0].shape[:2]
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.bit_rate = bitrate
    codec.time_base = fractions.Fraction(1, round(fps))
    codec.options = {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0"}
    out = []
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, dtype=np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        if i % keyframe_every == 0:
            frame.pict_type = av.video.frame.PictureType.I
        data = b"".join(bytes(p) for p in codec.encode(frame))
        out.append(data)
    for _ in codec.encode(None):  # flush (lag-in-frames 0: nothing left)
        pass
    if any(not d for d in out):
        raise RuntimeError("the encoder held frames back")
    return out


class PacketTrack(MediaStreamTrack):
    """Replays pre-encoded VP8 packets at ``fps``, looping; no encoding per peer."""
    kind = "video"

    def __init__(self, packets: Sequence[bytes], fps: float = 15.0):
        super().__init__()
        self.packets = list(packets)
        self.pacer = _Pacer(fps)
        self.sent = 0

    async def recv(self):
        pts = await self.pacer.next()
        packet = av.Packet(self.packets[self.sent % len(self.packets)])
        packet.pts = pts
        packet.time_base = TIME_BASE
        self.sent += 1
        return packet


class Publisher:
    """One client peer connection that sends one video track to the engine."""

    def __init__(self, client_loop: ClientLoop, track: MediaStreamTrack):
        self.client_loop = client_loop
        self.track = track
        self.pc: RTCPeerConnection | None = None
        self.answer_sdp: str | None = None

    def offer(self) -> str:
        return self.client_loop.run(self._offer())

    async def _offer(self) -> str:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = self.pc.addTransceiver(self.track, direction="sendonly")
        if isinstance(self.track, PacketTrack):  # the packets are VP8
            vp8 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")]
            transceiver.setCodecPreferences(vp8)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    def accept(self, answer_sdp: str) -> None:
        self.answer_sdp = answer_sdp
        self.client_loop.run(self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer")))

    def connection_state(self) -> str:
        return self.pc.connectionState if self.pc else "new"

    def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.connection_state() != "connected":
            if time.monotonic() > deadline:
                raise TimeoutError(f"client peer still {self.connection_state()} after {timeout} s")
            time.sleep(0.02)

    def close(self) -> None:
        if self.pc is not None:
            self.client_loop.run(self.pc.close())


def publish(engine, stream_id: str, track: MediaStreamTrack, client_loop: ClientLoop,
            wait: bool = True) -> Publisher:
    """Offer -> engine.open_ingest -> answer; optionally wait until connected."""
    publisher = Publisher(client_loop, track)
    answer = engine.open_ingest(stream_id, publisher.offer())
    publisher.accept(answer)
    if wait:
        publisher.wait_connected()
    return publisher


def photo_frames(width: int = 320, height: int = 240, count: int = 1, photo: str = "astronaut") -> list[np.ndarray]:
    """Real photos (scikit-image sample data) resized to width x height, with a
    small pan from frame to frame so the encoder sees motion."""
    from skimage import data
    from skimage.transform import resize

    image = getattr(data, photo)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    base = (resize(image, (height + 8, width + 8), anti_aliasing=True) * 255).astype(np.uint8)
    return [np.ascontiguousarray(base[(i % 8):(i % 8) + height, (i % 8):(i % 8) + width]) for i in range(count)]


AUDIO_RATE = 48_000
AUDIO_SAMPLES = 960   # 20 ms
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)


class ToneTrack(MediaStreamTrack):
    """A microphone playing a sine tone: 20 ms frames of s16 stereo at 48 kHz, paced
    in real time (aiortc's sender encodes them to Opus per peer)."""
    kind = "audio"

    def __init__(self, hz: float = 440.0, level: float = 0.3):
        super().__init__()
        self.hz = hz
        self.level = level
        self.pacer = _Pacer(AUDIO_RATE / AUDIO_SAMPLES)
        self.sent = 0

    async def recv(self):
        await self.pacer.next()
        t = (self.sent * AUDIO_SAMPLES + np.arange(AUDIO_SAMPLES)) / AUDIO_RATE
        mono = (np.sin(2 * np.pi * self.hz * t) * self.level * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self.sent * AUDIO_SAMPLES
        frame.time_base = AUDIO_TIME_BASE
        self.sent += 1
        return frame


class AvPublisher(Publisher):
    """A Publisher that sends a microphone track besides its video track (one peer
    connection, two m-lines: video first, then audio)."""

    def __init__(self, client_loop: ClientLoop, track: MediaStreamTrack, audio_track: MediaStreamTrack):
        super().__init__(client_loop, track)
        self.audio_track = audio_track

    async def _offer(self) -> str:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver(self.track, direction="sendonly")
        self.pc.addTransceiver(self.audio_track, direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp
