"""Client peers for conference rooms (tests and bench/conference.py): a camera
track with a number drawn into every frame, a reader for that number, and a
subscriber peer that receives one stream of a room.

The marker: 32 bits as two rows of 16 black/white blocks (20x16 px each) across
the top 32 rows of the frame; bit i is row i // 16, column i % 16, white = 1.
VP8 keeps blocks that size readable at ordinary bitrates.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, VideoStreamTrack

from tests.rtc_peers import TIME_BASE, ClientLoop, _Pacer

BITS = 32
BLOCK_W, BLOCK_H = 20, 16


def draw_marker(rgb: np.ndarray, value: int) -> np.ndarray:
    out = rgb.copy()
    for i in range(BITS):
        row, col = divmod(i, 16)
        out[row * BLOCK_H:(row + 1) * BLOCK_H, col * BLOCK_W:(col + 1) * BLOCK_W] = 255 if (value >> i) & 1 else 0
    return out


def read_marker(rgb: np.ndarray) -> int:
    value = 0
    for i in range(BITS):
        row, col = divmod(i, 16)
        block = rgb[row * BLOCK_H + 4:(row + 1) * BLOCK_H - 4, col * BLOCK_W + 5:(col + 1) * BLOCK_W - 5]
        if block.mean() > 128:
            value |= 1 << i
    return value


def now_ms() -> int:
    """CLOCK_MONOTONIC in ms, mod 2**32: the same clock in every process of the machine."""
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


class MarkerTrack(VideoStreamTrack):
    """Plays ``base`` frames (looping) with ``value(n)`` drawn into frame n."""

    def __init__(self, base: list[np.ndarray], fps: float = 15.0, value: Callable[[int], int] | None = None):
        super().__init__()
        self.base = base
        self.pacer = _Pacer(fps)
        self.value = value or (lambda n: n)
        self.sent = 0

    async def recv(self):
        pts = await self.pacer.next()
        rgb = draw_marker(self.base[self.sent % len(self.base)], self.value(self.sent) & 0xFFFFFFFF)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts
        frame.time_base = TIME_BASE
        self.sent += 1
        return frame


class Viewer:
    """A client peer that receives one source: counts decoded frames and, when
    ``read_markers``, reads the marker of each frame with its arrival time."""

    def __init__(self, client_loop: ClientLoop, read_markers: bool = False, keep: int = 2000):
        self.client_loop = client_loop
        self.read_markers = read_markers
        self.keep = keep
        self.pc: RTCPeerConnection | None = None
        self.frames = 0
        self.markers: list[tuple[float, int]] = []   # (time.monotonic(), marker)
        self.last: np.ndarray | None = None
        self.size: tuple[int, int] | None = None
        self.lock = threading.Lock()
        self.task = None

    def offer(self) -> str:
        return self.client_loop.run(self._offer())

    async def _offer(self) -> str:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver("video", direction="recvonly")

        @self.pc.on("track")
        def on_track(track):
            self.task = asyncio.ensure_future(self._read(track))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def _read(self, track) -> None:
        try:
            while True:
                frame = await track.recv()
                at = time.monotonic()
                self.frames += 1
                self.size = (frame.width, frame.height)
                if self.read_markers:
                    rgb = frame.to_ndarray(format="rgb24")
                    with self.lock:
                        self.last = rgb
                        self.markers.append((at, read_marker(rgb)))
                        del self.markers[:-self.keep]
        except MediaStreamError:
            pass

    def accept(self, answer_sdp: str) -> None:
        self.client_loop.run(self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer")))

    def connection_state(self) -> str:
        return self.pc.connectionState if self.pc else "new"

    def wait_frames(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.frames < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.frames} frames (< {count}) after {timeout} s; state {self.connection_state()}")
            time.sleep(0.02)

    def send_pli(self) -> int:
        """Send a Picture Loss Indication for the received stream; returns its SSRC."""
        async def pli():
            receiver = self.pc.getTransceivers()[0].receiver
            ssrcs = [s.source for s in receiver.getSynchronizationSources()]
            if not ssrcs:
                raise RuntimeError("no RTP received yet")
            await receiver._send_rtcp_pli(ssrcs[0])
            return ssrcs[0]
        return self.client_loop.run(pli())

    def close(self) -> None:
        if self.pc is not None:
            self.client_loop.run(self.pc.close())


def view(room, participant_id: str, source_id: str, client_loop: ClientLoop, **kwargs) -> Viewer:
    viewer = Viewer(client_loop, **kwargs)
    viewer.accept(room.subscribe(participant_id, source_id, viewer.offer()))
    return viewer
