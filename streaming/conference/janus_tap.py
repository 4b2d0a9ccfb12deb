"""Decoded frames of sources an SFU forwards without decoding: receive-only aiortc peers.

:class:`FrameTapper` owns one asyncio loop (one thread) and, per tapped source, one aiortc peer
connection that *answers* an SFU subscriber's offer (Janus offers to subscribers). Every
decoded video frame is handed to ``on_frame(frame)`` on that loop; the caller samples it (a
:class:`.fanout._Tap`) and converts it off the loop. Used by :class:`.janus_room.JanusRoom`.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from streaming.conference.peer_loop import PeerLoop
from streaming.rtc import SignallingError

logger = logging.getLogger(__name__)


class FrameTapper(PeerLoop):
    label = "tapper"            # _peers: key -> (pc, reader task or None)
    thread_prefix = "tap"

    def answer(self, key: str, offer_sdp: str, on_frame: Callable) -> str:
        """Answer ``offer_sdp`` receive-only; returns the answer SDP."""
        return self._call(self._answer(key, offer_sdp, on_frame))

    def close(self, key: str) -> None:
        if self.running:
            self._call(self._close(key))

    async def _answer(self, key: str, offer_sdp: str, on_frame: Callable) -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        await self._close(key)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self._ice_servers)))
        self._peers[key] = (pc, None)

        @pc.on("track")
        def on_track(track):
            if track.kind == "video":
                task = asyncio.ensure_future(self._read(track, on_frame))
                self._peers[key] = (pc, task)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            for transceiver in pc.getTransceivers():
                transceiver.direction = "recvonly" if transceiver.kind == "video" else "inactive"
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # noqa: BLE001
            await self._close(key)
            raise SignallingError("bad_sdp", f"tap negotiation failed: {exc}") from None
        return pc.localDescription.sdp

    @staticmethod
    async def _read(track, on_frame: Callable) -> None:
        from aiortc.mediastreams import MediaStreamError
        try:
            while True:
                on_frame(await track.recv())
        except MediaStreamError:
            pass

    async def _close(self, key: str) -> None:
        pc, task = self._peers.pop(key, (None, None))
        if task is not None:
            task.cancel()
        if pc is not None:
            try:
                await pc.close()
            except Exception:
                logger.exception("%s: closing %s", self._label, key)
