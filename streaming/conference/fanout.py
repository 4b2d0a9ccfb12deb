"""Encode once, fan out packets: a room's sources (a published camera or a relay), the
subscriptions that consume their shared packets through bounded per-subscriber queues (a slow
subscriber drops packets and restarts at a keyframe, the others go on), the subscriber's track,
and frame taps."""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # types only: these modules import this one
    from .aiortc_room import AiortcRoom
    from .codecs import SharedOpusEncoder, SharedVp8Encoder, _Vp8Decoder
    from .interface import TapCallback
    from .relays import RelayLink, _WebRtcUpstream


# ---------------------------------------------------------------- taps
class _Tap:
    """A frame tap of one source: cadence on the loop, at most one callback in flight."""

    def __init__(self, callback: TapCallback, fps: float):
        self.callback = callback
        self.fps = fps
        self.next_due = 0.0                 # loop clock
        self.busy = threading.Lock()        # held while a callback runs
        self.sampled = 0
        self.delivered = 0
        self.dropped = 0
        self.errors = 0

    def due(self, now: float) -> bool:
        if now + 1e-3 < self.next_due:
            return False
        interval = 1.0 / self.fps
        # Keep a steady cadence; after a gap (or a rate change), restart from now.
        self.next_due = self.next_due + interval if now - self.next_due < interval else now + interval
        return True

    def info(self) -> dict:
        return {"fps": self.fps, "sampled": self.sampled, "delivered": self.delivered,
                "dropped": self.dropped, "errors": self.errors}


# ---------------------------------------------------------------- sources and subscribers
def _make_track_class():
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class FanoutTrack(MediaStreamTrack):
        """One subscriber's view of one medium of a source: a bounded queue of shared packets."""

        def __init__(self, sub: _Subscription, kind: str):
            super().__init__()
            self.kind = kind
            self.sub = sub
            self.queue = sub.queue if kind == "video" else sub.audio_queue

        async def recv(self):
            packet = await self.queue.get()
            if packet is None:
                self.stop()
                raise MediaStreamError
            if self.kind == "video":
                self.sub.packets_sent += 1
            else:
                self.sub.audio_packets_sent += 1
            return packet

    return FanoutTrack


def _drain_put(queue: asyncio.Queue, item) -> int:
    """Put, dropping the oldest items if full; returns how many were dropped."""
    dropped = 0
    while True:
        try:
            queue.put_nowait(item)
            return dropped
        except asyncio.QueueFull:
            queue.get_nowait()
            dropped += 1


class _Subscription:
    """A consumer of one source's packets, fed on the room's loop: a subscriber's
    tracks, or a relay into another room."""

    def __init__(self, key: str, source: _Source, queue_packets: int, audio_queue_packets: int = 2):
        self.key = key
        self.room_key: tuple[str, str] | None = None
        self.source = source
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=queue_packets)
        self.audio_queue: asyncio.Queue = asyncio.Queue(maxsize=audio_queue_packets)
        self.wants_audio = False
        self.waiting_keyframe = True
        self.packets_offered = 0
        self.packets_sent = 0
        self.dropped = 0
        self.audio_packets_sent = 0
        self.audio_dropped = 0
        self.keyframe_requests = 0
        self.pc = None
        self.state = "new"
        self.watchdog: asyncio.Task | None = None
        self.participant_id: str | None = None
        self.offered = False      # the room made the offer (MediaRoom.subscribe_offer)

    def offer(self, packet) -> None:
        self.packets_offered += 1
        if self.waiting_keyframe:
            if not packet.is_keyframe:
                self.dropped += 1
                return
            self.waiting_keyframe = False
        try:
            self.queue.put_nowait(packet)
        except asyncio.QueueFull:
            # Too slow: drop what is queued (it is stale) and restart at a keyframe.
            self.dropped += 1 + self.queue.qsize()
            while not self.queue.empty():
                self.queue.get_nowait()
            self.waiting_keyframe = True
            self.source.request_keyframe("slow_subscriber")

    def offer_audio(self, packet) -> None:
        if self.wants_audio:
            self.audio_dropped += _drain_put(self.audio_queue, packet)

    def end(self) -> None:
        _drain_put(self.queue, None)
        _drain_put(self.audio_queue, None)

    def info(self) -> dict:
        return {"source_id": self.source.id, "participant_id": self.participant_id, "state": self.state,
                "packets_offered": self.packets_offered, "packets_sent": self.packets_sent,
                "dropped": self.dropped, "keyframe_requests": self.keyframe_requests,
                "queued": self.queue.qsize(), "audio": self.wants_audio,
                "audio_packets_sent": self.audio_packets_sent, "audio_dropped": self.audio_dropped}


class _Source:
    """One stream that can be subscribed to: a participant's camera (decoded once,
    encoded once here), a course file played by the host (its frames encoded once here), a
    relay over WebRTC (decoded once, encoded once), or an in-process relay (packets from
    another room)."""

    def __init__(self, room: AiortcRoom, source_id: str, kind: str, transport: str | None = None):
        self.room = room
        self.id = source_id
        self.kind = kind            # "camera" | "playback" (a course file) | "relay"
        self.transport = transport  # relays: "inprocess" | "webrtc"
        self.subs: dict[str, _Subscription] = {}
        self.encoder: SharedVp8Encoder | None = None
        self.audio_encoder: SharedOpusEncoder | None = None
        self.decoder: _Vp8Decoder | None = None       # in-process relays, while tapped
        self.executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.has_audio = False
        self.muted = False
        self.tap: _Tap | None = None
        self.force_keyframe = True
        self.last_keyframe_at = -1e9
        self.encodes = 0
        self.encodes_skipped = 0    # frames not encoded: nobody to send them to
        self.frames_in = 0
        self.packets_out = 0
        self.keyframes = 0
        self.keyframe_requests: dict[str, int] = {}
        self.audio_frames_in = 0
        self.audio_encodes = 0
        self.audio_packets_out = 0
        self.audio_packets_muted = 0
        self.pc = None
        self.state = "new"
        self.accepted = False       # publish answered / relay set up: its end is announced
        self.announced = False      # source_connected sent
        self.tasks: list[asyncio.Task] = []
        self.watchdog: asyncio.Task | None = None
        self.upstream: RelayLink | _WebRtcUpstream | None = None   # relays: asks the parent for keyframes
        self.playback = None        # "playback": the FilePlayback read (owned by the caller)

    def ensure_executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self.executor is None:
            self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"enc-{self.id}"[:15])
        return self.executor

    def request_keyframe(self, reason: str) -> None:
        self.keyframe_requests[reason] = self.keyframe_requests.get(reason, 0) + 1
        if self.encoder is not None:
            self.force_keyframe = True
        if self.upstream is not None:
            self.upstream.request_keyframe()

    def wants_audio(self) -> bool:
        return not self.muted and any(sub.wants_audio for sub in self.subs.values())

    def fan_out(self, packet) -> None:
        self.packets_out += 1
        if packet.is_keyframe:
            self.keyframes += 1
        for sub in list(self.subs.values()):
            sub.offer(packet)

    def fan_out_audio(self, packet) -> None:
        if self.muted:   # server-enforced: nothing of a muted source leaves the room
            self.audio_packets_muted += 1
            return
        self.audio_packets_out += 1
        for sub in list(self.subs.values()):
            sub.offer_audio(packet)

    def info(self) -> dict:
        return {"source_id": self.id, "kind": self.kind, "transport": self.transport, "state": self.state,
                "encoders": 1 if self.encoder is not None and self.encoder.codec is not None else 0,
                "encoders_created": self.encoder.created if self.encoder else 0,
                "frames_in": self.frames_in, "encodes": self.encodes, "encodes_skipped": self.encodes_skipped,
                "packets_out": self.packets_out, "keyframes": self.keyframes,
                "keyframe_requests": dict(self.keyframe_requests), "subscribers": len(self.subs),
                "audio": self.has_audio, "muted": self.muted,
                "audio_encoders": 1 if self.audio_encoder is not None and self.audio_encoder.codec is not None else 0,
                "audio_encoders_created": self.audio_encoder.created if self.audio_encoder else 0,
                "audio_frames_in": self.audio_frames_in, "audio_encodes": self.audio_encodes,
                "audio_packets_out": self.audio_packets_out, "audio_packets_muted": self.audio_packets_muted,
                "tap": self.tap.info() if self.tap is not None else None,
                "playback": self.playback.info() if self.playback is not None else None}
