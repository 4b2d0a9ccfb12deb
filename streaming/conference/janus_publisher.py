"""Course files published into a Janus VideoRoom: send-only aiortc peers of the portal.

:class:`PlaybackPublisher` owns one asyncio loop (one thread) and, per playback source, one aiortc
peer connection that *offers* the playback's tracks (VP8 video; Opus audio when the file has it)
to a VideoRoom publisher handle (``joinandconfigure``, see :meth:`.janus_room.JanusRoom.publish_playback`).
aiortc's RTCRtpSender encodes each track once; Janus forwards the packets to the room's
subscribers and cascades them like a camera's. A PLI or FIR from Janus (a subscriber's, or the
room's ``configure keyframe``) reaches aiortc's sender, which forces a keyframe out of its encoder
(``RTCRtpSender._handle_rtcp_packet``): counted here in ``keyframe_requests``.
"""
from __future__ import annotations

import logging

from streaming.conference.peer_loop import PeerLoop
from streaming.rtc import SignallingError

logger = logging.getLogger(__name__)


def _proxy(track, on_end=None):
    """A track that reads ``track``: aiortc's sender stops the track it sends when its peer
    connection closes, and the playback's own tracks must outlive one publication (unpublish,
    then publish the same playback again). ``on_end()`` when ``track`` itself ends (the playback
    was closed)."""
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class ProxyTrack(MediaStreamTrack):
        kind = track.kind

        async def recv(self):
            if self.readyState != "live":
                raise MediaStreamError
            try:
                return await track.recv()
            except MediaStreamError:
                if on_end is not None:
                    on_end()
                raise

    return ProxyTrack()


class PlaybackPublisher(PeerLoop):
    label = "playback publisher"
    thread_prefix = "pub"

    def __init__(self, name: str, ice_servers: list, call_timeout_s: float = 15.0):
        super().__init__(name, ice_servers, call_timeout_s)   # _peers: key -> RTCPeerConnection
        self.keyframe_requests: dict[str, int] = {}

    def offer(self, key: str, playback, on_end=None) -> str:
        """A send-only offer of the playback's tracks (ICE candidates gathered: no trickle).
        ``on_end()`` (on this loop: keep it short) when the playback is closed under it."""
        return self._call(self._offer(key, playback, on_end))

    def accept(self, key: str, answer_sdp: str) -> None:
        self._call(self._accept(key, answer_sdp))

    def state(self, key: str) -> str:
        pc = self._peers.get(key)
        return pc.connectionState if pc is not None else "closed"

    def close(self, key: str) -> None:
        if self.running:
            self._call(self._close(key))

    async def _offer(self, key: str, playback, on_end) -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection
        from aiortc.rtcrtpsender import RTCRtpSender

        await self._close(key)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self._ice_servers)))
        self._peers[key] = pc
        try:
            video = pc.addTransceiver(_proxy(playback.video_track, on_end), direction="sendonly")
            video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                       if c.mimeType in ("video/VP8", "video/rtx")])
            self._count_keyframe_requests(key, video.sender)
            if playback.audio_track is not None:
                audio = pc.addTransceiver(_proxy(playback.audio_track), direction="sendonly")
                audio.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                           if c.mimeType == "audio/opus"])
            await pc.setLocalDescription(await pc.createOffer())
        except Exception as exc:  # noqa: BLE001
            await self._close(key)
            raise SignallingError("bad_sdp", f"playback offer failed: {exc}") from None
        return pc.localDescription.sdp

    def _count_keyframe_requests(self, key: str, sender) -> None:
        self.keyframe_requests[key] = 0
        original = sender._send_keyframe

        def on_pli():     # aiortc's own handling: its encoder's next frame is a keyframe
            self.keyframe_requests[key] = self.keyframe_requests.get(key, 0) + 1
            original()
        sender._send_keyframe = on_pli

    async def _accept(self, key: str, answer_sdp: str) -> None:
        from aiortc import RTCSessionDescription

        pc = self._peers.get(key)
        if pc is None:
            raise SignallingError("unknown_stream", f"no playback offer {key!r}")
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        except Exception as exc:  # noqa: BLE001
            await self._close(key)
            raise SignallingError("bad_sdp", f"janus's answer to the playback failed: {exc}") from None

    async def _close(self, key: str) -> None:
        pc = self._peers.pop(key, None)
        if pc is not None:
            try:
                await pc.close()
            except Exception:
                logger.exception("%s: closing %s", self._label, key)
