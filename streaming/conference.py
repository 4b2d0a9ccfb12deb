"""Conference media: one room per level of a cascaded conference.

A :class:`MediaRoom` is the media side of one level's conference (province, city,
county, township, village). Participants *publish* their camera (and microphone)
into the room and *subscribe* to any stream published in it; a room can *relay*
one stream of another room (the level above's host stream downwards, a promoted
speaker upwards), so a five-level conference is five rooms chained by relays and
no room carries the whole tree: each room has its own participants plus its relays.

:class:`AiortcRoom` implements the interface on aiortc, on one asyncio loop in
one dedicated thread (like :mod:`streaming.rtc`), with **encode once, fan out
packets**: a published stream is decoded once and re-encoded once by one VP8
encoder (and one Opus encoder for its audio) per source; every subscriber's
RTCRtpSender gets a track whose ``recv()`` returns the very same ``av.Packet``
objects, which aiortc only packetizes (``encoder.pack``: VP8 payload splitting,
or for Opus the packet bytes as they are). Each subscriber has its own bounded
queues: a slow subscriber loses packets (and then waits for the next keyframe)
instead of holding up the others. A keyframe request (PLI/FIR) from any
subscriber, and every new subscriber, forces a keyframe out of the one encoder of
that source. A source nobody receives is not encoded at all (aiortc still
decodes it, so frame taps keep working).

Relays come in two transports (``RoomConfig.relay_transport``):

- ``"inprocess"``: both rooms live in this process; the parent's packets are
  handed straight into the child room (no decode, no encode); keyframe requests
  travel back up.
- ``"webrtc"``: the child room subscribes to the parent like any participant,
  over a real RTCPeerConnection (:meth:`AiortcRoom.relay_over_webrtc`; the
  parent may be another process or machine), decodes what it receives once,
  re-encodes it once and fans it out; keyframe requests of the child's
  subscribers go upstream as a PLI on that connection.

Doing the same with an SFU (Janus; Debian package ``janus``) is a configuration
change behind this interface, not a rewrite:

- one room = one Janus *VideoRoom* room (``janus.plugin.videoroom``, ``create``
  with ``videocodec=vp8``, ``audiocodec=opus``, ``publishers`` = room size);
- :meth:`publish` = a *publisher* handle: ``joinandconfigure`` with the
  participant's offer; Janus answers (JSEP) -> the answer SDP;
- :meth:`subscribe` = a *subscriber* handle: ``join`` ``ptype=subscriber`` with
  ``feed`` = the source's Janus feed id. Janus is the offerer there, so the
  adapter either lets the browser answer Janus's offer (the facade then returns
  Janus's offer and takes the answer in a second call) or uses Janus's
  ``offer``-less "update"; an adapter keeps the ``source_id -> feed id`` map;
- :meth:`request_keyframe` = Janus forwards PLI/FIR to the publisher itself
  (``fir_freq`` for periodic ones); the adapter sends a ``configure`` with
  ``keyframe: true`` to the publisher handle;
- :meth:`set_muted` = the VideoRoom ``moderate`` request (``mute: true`` on the
  publisher's audio ``mid``): Janus stops relaying that stream;
- :meth:`tap` = Janus never decodes: the adapter opens one extra recvonly
  subscription per tapped source (an aiortc peer of its own) and samples its
  decoded frames;
- the listener = the VideoRoom's ``publishers`` / ``unpublished`` events (or an
  event handler plugin);
- :meth:`relay_from` = Janus ``rtp_forward`` from the parent room's publisher
  to the child node's room (or the child subscribes over WebRTC like here);
  Janus never transcodes, so the source's publisher encodes once;
- :meth:`close` = ``leave``/``unpublish`` and detaching the handles.

Nothing here imports Flask, the models or anything of ours outside streaming.
"""
from __future__ import annotations

import abc
import asyncio
import concurrent.futures
import fractions
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streaming.loop_thread import LoopOwner
from streaming.rtc import (
    SignallingError,
    _check_stream_id,
    _ice_servers,
    parse_offer,
)

logger = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
AUDIO_RATE = 48_000
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)
AUDIO_SAMPLES_PER_PACKET = 960     # 20 ms, what aiortc and browsers send

SourceListener = Callable[[str, str], None]     # (event, source_id)
TapCallback = Callable[[str, float, Any], None]  # (source_id, at, rgb HxWx3 uint8)

RELAY_TRANSPORTS = ("inprocess", "webrtc")


# ---------------------------------------------------------------- the interface
class MediaRoom(abc.ABC):
    """The media side of one level's conference room. Plain data in and out (SDP
    strings, ids, dicts, arrays); every method is synchronous and thread-safe.

    Ids: a participant publishes at most one camera (with or without audio), whose
    ``source_id`` is the participant's id; a relayed source gets the id given to
    :meth:`relay_from`. Errors are :class:`streaming.rtc.SignallingError` with
    stable codes: bad_sdp, no_video, bad_stream_id, exists, unknown_stream,
    unknown_source, too_many_streams, too_many_relays, relay_failed,
    not_running, timeout.

    Events: a room may be given a *listener* ``listener(event, source_id)``. It is
    called from a worker thread (never the room's loop; exceptions are logged and
    swallowed), in order, with:

    - ``"source_connected"``: once per source, when a published camera's (or a
      relay's) connection is up or its first frame/packet arrived;
    - ``"source_ended"``: once per source that was accepted (publish answered,
      relay set up), when it ends for any reason (closed, failed, timed out,
      relay stopped, parent source ended, room shut down).
    """

    name: str

    @abc.abstractmethod
    def publish(self, participant_id: str, offer_sdp: str) -> str:
        """The participant sends their camera (an offer with one sending video
        m-line offering VP8 or H264, optionally one sending audio m-line offering
        Opus); returns the answer SDP. The stream becomes source ``participant_id``."""

    @abc.abstractmethod
    def subscribe(self, participant_id: str, source_id: str, offer_sdp: str) -> str:
        """The participant receives one source (an offer with one receiving video
        m-line offering VP8, optionally one receiving audio m-line offering Opus:
        one peer connection then carries both media of the source; if the source
        has no audio the audio m-line is answered inactive); returns the answer SDP.
        At most ``max_subscriptions_per_participant`` per participant (too_many_streams)."""

    @abc.abstractmethod
    def request_keyframe(self, source_id: str) -> None:
        """Make the source's next picture a keyframe (as a PLI/FIR does)."""

    @abc.abstractmethod
    def set_muted(self, source_id: str, muted: bool) -> None:
        """Server-enforced mute: while muted no audio packet of the source reaches
        its subscribers or relays (its video goes on). unknown_source if none."""

    @abc.abstractmethod
    def tap(self, source_id: str, callback: TapCallback, fps: float) -> None:
        """Sample the source's decoded frames: ``callback(source_id, at, rgb)`` with
        ``at`` = time.time() of the frame's arrival and ``rgb`` an HxWx3 uint8 array,
        at most ``fps`` times a second, on a small worker pool (never the room's
        loop). One tap per source; calling again replaces callback and rate (2 fps
        -> 6 fps during a liveness challenge). If the previous callback of that
        source is still running, the frame is dropped and counted. An SFU does not
        decode: a Janus adapter takes the frames from one extra recvonly
        subscription of its own. unknown_source if none."""

    @abc.abstractmethod
    def untap(self, source_id: str) -> None:
        """Stop sampling the source. No-op if it is not tapped or already gone."""

    @abc.abstractmethod
    def close(self, participant_id: str) -> None:
        """End everything of one participant: their published source (its
        subscribers' connections close) and their subscriptions."""

    @abc.abstractmethod
    def close_subscription(self, participant_id: str, source_id: str) -> None:
        """End one subscription (a viewer leaving a page of tiles); unknown_stream
        if there is none. (Janus: detach that subscriber handle.)"""

    @abc.abstractmethod
    def unpublish(self, participant_id: str) -> None:
        """End the participant's published camera only (a new camera replaces it);
        their subscriptions go on. (Janus: ``unpublish`` on the publisher handle.)"""

    @abc.abstractmethod
    def relay_from(self, parent: MediaRoom, source_id: str, as_source_id: str) -> str:
        """Make ``parent``'s source available here as ``as_source_id`` (one
        subscription to the parent, re-published here); returns the new id."""

    @abc.abstractmethod
    def sources(self) -> list[str]:
        """The ids that can be subscribed to."""

    @abc.abstractmethod
    def stats(self) -> dict:
        """Counters: per source (encoders, encodes, keyframes, subscribers, audio,
        muted, tap...) and per subscription (packets sent, dropped...)."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Close everything. Idempotent."""


@dataclass(frozen=True)
class RoomConfig:
    """``ice_servers`` as in :class:`streaming.rtc.RtcConfig` (empty: host candidates
    only). ``queue_packets``: per-subscriber video queue; when full the subscriber
    drops packets until the next keyframe (``audio_queue_packets``: audio, drops the
    oldest). ``bitrate``/``audio_bitrate``: the shared encoders' targets.
    ``keyframe_interval_s``: periodic keyframes (0: only on request).
    ``relay_transport``: how :meth:`AiortcRoom.relay_from` reaches its parent,
    "inprocess" (both rooms in this process, packets handed over) or "webrtc" (a
    real peer connection to the parent's room). ``tap_workers``: threads shared by
    every tap of the room. ``low_latency_receive``: the room's receivers hand a
    frame on as soon as it is complete (see :class:`_CompleteFrameJitterBuffer`)."""
    ice_servers: list[dict] = field(default_factory=list)
    max_publishers: int = 50
    max_subscriptions: int = 500
    max_subscriptions_per_participant: int = 12
    max_relays: int = 2          # one from the level above, one promoted speaker
    queue_packets: int = 30
    audio_queue_packets: int = 25   # 0.5 s of 20 ms packets
    bitrate: int = 500_000
    audio_bitrate: int = 48_000
    keyframe_interval_s: float = 0.0
    keyframe_min_gap_s: float = 0.25   # requests closer together than this share a keyframe
    relay_transport: str = "inprocess"
    tap_workers: int = 2
    low_latency_receive: bool = True
    call_timeout_s: float = 15.0
    connect_timeout_s: float = 30.0

    def __post_init__(self):
        if (self.max_publishers < 1 or self.max_subscriptions < 1 or self.max_relays < 0
                or self.max_subscriptions_per_participant < 1):
            raise ValueError("limits must be positive")
        if self.queue_packets < 2 or self.audio_queue_packets < 2:
            raise ValueError("queue_packets and audio_queue_packets must be at least 2")
        if self.relay_transport not in RELAY_TRANSPORTS:
            raise ValueError(f"relay_transport must be one of {', '.join(RELAY_TRANSPORTS)}")
        if self.tap_workers < 1:
            raise ValueError("tap_workers must be at least 1")


# ---------------------------------------------------------------- offer checks
def _check_m_line(media, directions: tuple, codecs: set[str], what: str) -> None:
    if media.direction not in directions:
        raise SignallingError("bad_sdp", f"the {media.kind} m-line does not {what} ({media.direction})")
    if not media.ice or not media.ice.usernameFragment or not media.ice.password:
        raise SignallingError("bad_sdp", "missing ICE credentials")
    # JSEP: an offer always says setup:actpass; active/passive mark an answer.
    if not media.dtls or not media.dtls.fingerprints or media.dtls.role != "auto":
        raise SignallingError("bad_sdp", "missing DTLS fingerprint or not an offer (a=setup must be actpass)")
    if not {codec.mimeType.lower() for codec in media.rtp.codecs} & codecs:
        raise SignallingError("bad_sdp", f"the {media.kind} m-line offers none of {', '.join(sorted(codecs))}")


def _check_offer(sdp: str, sdp_type: str, directions: tuple, video_codecs: set[str], what: str) -> tuple[str, ...]:
    parsed = parse_offer(sdp, sdp_type)
    kinds = [media.kind for media in parsed.media]
    if "video" not in kinds:
        raise SignallingError("no_video", "the offer has no video m-line" + (f" (only {', '.join(kinds)})" if kinds else ""))
    if kinds.count("video") != 1 or kinds.count("audio") > 1 or len(kinds) != kinds.count("video") + kinds.count("audio"):
        raise SignallingError("bad_sdp", f"one video and at most one audio m-line expected, got {', '.join(kinds)}")
    for media in parsed.media:
        _check_m_line(media, directions, video_codecs if media.kind == "video" else {"audio/opus"}, what)
    return tuple(kinds)


def validate_publish_offer(sdp: str, sdp_type: str = "offer") -> tuple[str, ...]:
    """An offer with exactly one sending video m-line (VP8 or H264) and at most one
    sending audio m-line (Opus). Returns the kinds in m-line order."""
    return _check_offer(sdp, sdp_type, (None, "sendonly", "sendrecv"), {"video/vp8", "video/h264"}, "send")


def validate_subscribe_offer(sdp: str, sdp_type: str = "offer") -> tuple[str, ...]:
    """An offer with exactly one receiving video m-line offering VP8 and at most one
    receiving audio m-line offering Opus. Returns the kinds in m-line order."""
    return _check_offer(sdp, sdp_type, (None, "recvonly", "sendrecv"), {"video/vp8"}, "receive")


# ---------------------------------------------------------------- the shared encoders
class SharedVp8Encoder:
    """One libvpx encoder (aiortc's realtime settings) that returns ``av.Packet``s
    with a 90 kHz time base. Not thread-safe: one caller at a time."""

    def __init__(self, bitrate: int):
        self.bitrate = bitrate
        self.codec = None
        self.created = 0

    def encode(self, frame, force_keyframe: bool) -> list:
        import av

        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        if self.codec is not None and (frame.width, frame.height) != (self.codec.width, self.codec.height):
            self.codec = None
        if self.codec is None:
            codec = av.CodecContext.create("libvpx", "w")
            codec.width, codec.height = frame.width, frame.height
            codec.bit_rate = self.bitrate
            codec.pix_fmt = "yuv420p"
            codec.gop_size = 3000
            codec.qmin, codec.qmax = 2, 56
            codec.time_base = VIDEO_TIME_BASE
            codec.options = {"bufsize": str(self.bitrate), "cpu-used": "-6", "deadline": "realtime",
                             "lag-in-frames": "0", "minrate": str(self.bitrate), "maxrate": str(self.bitrate),
                             "noise-sensitivity": "4", "overshoot-pct": "15", "partitions": "0",
                             "static-thresh": "1", "undershoot-pct": "100"}
            codec.thread_count = 1
            self.codec = codec
            self.created += 1
            force_keyframe = True
        pts = frame.pts
        if frame.time_base is not None and frame.time_base != VIDEO_TIME_BASE and pts is not None:
            pts = int(pts * frame.time_base / VIDEO_TIME_BASE)
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        frame.pict_type = av.video.frame.PictureType.I if force_keyframe else av.video.frame.PictureType.NONE
        packets = list(self.codec.encode(frame))
        for packet in packets:
            packet.pts = pts
            packet.time_base = VIDEO_TIME_BASE
        return packets


class SharedOpusEncoder:
    """One libopus encoder (48 kHz stereo, 20 ms packets, as aiortc's own) that
    returns ``av.Packet``s with a 1/48000 time base, starting at 0. aiortc's sender
    packs such a packet as it is (``OpusEncoder.pack``: its bytes, the pts as RTP
    timestamp). Not thread-safe: one caller at a time."""

    def __init__(self, bitrate: int):
        self.bitrate = bitrate
        self.codec = None
        self.resampler = None
        self.created = 0
        self._first_pts: int | None = None

    def encode(self, frame) -> list:
        import av

        if self.codec is None:
            codec = av.CodecContext.create("libopus", "w")
            codec.bit_rate = self.bitrate
            codec.format = "s16"
            codec.layout = "stereo"
            codec.sample_rate = AUDIO_RATE
            codec.time_base = AUDIO_TIME_BASE
            codec.options = {"application": "voip"}
            self.codec = codec
            self.resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE,
                                               frame_size=AUDIO_SAMPLES_PER_PACKET)
            self.created += 1
        packets = []
        for chunk in self.resampler.resample(frame):
            packets += self.codec.encode(chunk)
        for packet in packets:
            # libopus starts at a negative pts (its pre-skip): count from the first packet.
            if self._first_pts is None:
                self._first_pts = packet.pts
            packet.pts = packet.pts - self._first_pts
            packet.time_base = AUDIO_TIME_BASE
        return packets


class _Vp8Decoder:
    """Decodes a relayed packet stream for a tap (in-process relays carry packets
    only). Starts at a keyframe, and again after an error. One caller at a time."""

    def __init__(self):
        self.codec = None
        self.waiting_keyframe = True

    def decode(self, packet) -> list:
        import av

        if self.waiting_keyframe:
            if not packet.is_keyframe:
                return []
            self.codec = av.CodecContext.create("vp8", "r")
            self.waiting_keyframe = False
        try:
            return list(self.codec.decode(packet))
        except av.error.FFmpegError:
            self.waiting_keyframe = True
            return []


def _make_jitter_buffer_class():
    from aiortc.jitterbuffer import JitterBuffer, JitterFrame

    class _CompleteFrameJitterBuffer(JitterBuffer):
        """aiortc's jitter buffer hands a frame on only when a packet of the *next*
        frame arrives (video), or four frames later (audio): every aiortc receiver
        adds one frame interval (67 ms at 15 fps) or 80 ms. A room is no playout
        point (the viewer's own jitter buffer absorbs jitter), so its receivers hand
        a frame on as soon as it is complete and in order: a video frame at its RTP
        marker bit (RFC 7741: the last packet of a frame), an Opus packet at once
        (one packet is one frame). Reordering and NACK waits stay as in aiortc."""

        def add(self, packet):
            pli_flag, frame = super().add(packet)
            if frame is None and self._origin is not None:
                frame = self._remove_first_if_complete()
            return pli_flag, frame

        def _remove_first_if_complete(self):
            """The oldest frame, if all its packets are here in order up to its marker."""
            packets = []
            for count in range(self.capacity):
                packet = self._packets[(self._origin + count) % self.capacity]
                if packet is None or (packets and packet.timestamp != packets[0].timestamp):
                    return None     # a gap, or the next frame before a marker: wait (aiortc's way)
                packets.append(packet)
                if packet.marker or not self._is_video:
                    break
            else:
                return None
            self.remove(len(packets))
            return JitterFrame(data=b"".join(p._data for p in packets), timestamp=packets[0].timestamp)

    return _CompleteFrameJitterBuffer


_jitter_buffer_class = None


def _receive_low_latency(transceiver) -> None:
    """Give a receiver of ours the complete-frame jitter buffer (before any packet
    arrives). aiortc has no public hook for it; if its internals change, the
    receiver keeps aiortc's buffer (one frame interval slower) and we say so."""
    global _jitter_buffer_class
    receiver = transceiver.receiver
    attribute = "_RTCRtpReceiver__jitter_buffer"
    current = getattr(receiver, attribute, None)
    if current is None or not hasattr(current, "_is_video"):
        logger.warning("aiortc internals changed: room receivers keep aiortc's jitter buffer")
        return
    if _jitter_buffer_class is None:
        _jitter_buffer_class = _make_jitter_buffer_class()
    setattr(receiver, attribute, _jitter_buffer_class(capacity=current.capacity, is_video=current._is_video))


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
    encoded once here), a relay over WebRTC (the same), or an in-process relay
    (packets from another room)."""

    def __init__(self, room: AiortcRoom, source_id: str, kind: str, transport: str | None = None):
        self.room = room
        self.id = source_id
        self.kind = kind            # "camera" | "relay"
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
                "tap": self.tap.info() if self.tap is not None else None}


class RelayLink:
    """The child side of an in-process relay: packets of a parent room's source
    delivered into a child room's source; keyframe requests go back up. Across
    processes the same role is one WebRTC subscription to the parent
    (:meth:`AiortcRoom.relay_over_webrtc`; the parent cannot tell it from a viewer)."""

    def __init__(self, parent: AiortcRoom, parent_source_id: str, child: AiortcRoom, child_source_id: str):
        self.parent = parent
        self.parent_source_id = parent_source_id
        self.child = child
        self.child_source_id = child_source_id
        self.key = f"relay:{child.name}:{child_source_id}"

    def deliver(self, kind: str, packet) -> None:   # on the parent's loop
        self.child._loop.call_soon_threadsafe(self.child._relay_packet, self.child_source_id, kind, packet)

    def ended(self) -> None:                     # on the parent's loop
        if self.child.running:
            self.child._loop.call_soon_threadsafe(self.child._relay_ended, self.child_source_id)

    def request_keyframe(self) -> None:          # on the child's loop
        if self.parent.running:
            self.parent._loop.call_soon_threadsafe(self.parent._keyframe_now, self.parent_source_id, "relay")

    def detach(self) -> None:
        if self.parent.running:
            self.parent._loop.call_soon_threadsafe(self.parent._detach_relay, self.parent_source_id, self.key)


class _RelaySub(_Subscription):
    """The parent's side of an in-process relay: forwards every packet (the child
    room does its own per-subscriber queueing and dropping)."""

    def __init__(self, link: RelayLink, source: _Source):
        super().__init__(link.key, source, queue_packets=2)
        self.link = link
        self.participant_id = link.key
        self.state = "connected"
        self.wants_audio = source.has_audio

    def offer(self, packet) -> None:
        self.packets_offered += 1
        if self.waiting_keyframe:
            if not packet.is_keyframe:
                self.dropped += 1
                return
            self.waiting_keyframe = False
        self.packets_sent += 1
        self.link.deliver("video", packet)

    def offer_audio(self, packet) -> None:
        self.audio_packets_sent += 1
        self.link.deliver("audio", packet)

    def end(self) -> None:
        self.link.ended()


class _WebRtcUpstream:
    """The child side of a WebRTC relay: its keyframe requests become PLIs to the
    parent on the relay's peer connection (at most one per keyframe_min_gap_s)."""

    def __init__(self, room: AiortcRoom, source: _Source):
        self.room = room
        self.source = source
        self.receiver = None        # the video RTCRtpReceiver
        self.last_pli_at = -1e9
        self.plis = 0

    def request_keyframe(self) -> None:      # on the child's loop
        loop = asyncio.get_running_loop()
        if self.receiver is None or loop.time() - self.last_pli_at < self.room.config.keyframe_min_gap_s:
            return
        ssrcs = [s.source for s in self.receiver.getSynchronizationSources()]
        if not ssrcs:
            return
        self.last_pli_at = loop.time()
        self.plis += 1
        # aiortc has no public call for this; its receiver sends PLIs the same way itself.
        asyncio.ensure_future(self._send(ssrcs[0]))

    async def _send(self, ssrc: int) -> None:
        try:
            await self.receiver._send_rtcp_pli(ssrc)
        except Exception:
            logger.debug("room %s: PLI upstream for %s failed", self.room.name, self.source.id, exc_info=True)

    def detach(self) -> None:
        pass   # the source's peer connection is closed with the source; the parent sees it close


# ---------------------------------------------------------------- the room
_room_names = itertools.count(1)


class AiortcRoom(MediaRoom, LoopOwner):
    """A room on its own aiortc event loop (one thread). Thread-safe facade.

    ``listener(event, source_id)``: see :class:`MediaRoom` (events "source_connected",
    "source_ended"), called on one worker thread of this room, in order."""

    def __init__(self, name: str | None = None, config: RoomConfig | None = None,
                 listener: SourceListener | None = None):
        self.name = name or f"room{next(_room_names)}"
        self.config = config or RoomConfig()
        LoopOwner.__init__(self)
        self._label = f"room {self.name}"
        self._listener = listener
        self._sources: dict[str, _Source] = {}
        self._subs: dict[tuple[str, str], _Subscription] = {}    # (participant, source) -> sub
        self._relays: dict[str, RelayLink | _WebRtcUpstream] = {}  # child source id -> link
        self._ice_servers = _ice_servers(self.config)  # type: ignore[arg-type]
        self._track_class = None
        self._periodic: asyncio.Task | None = None
        self._events: concurrent.futures.ThreadPoolExecutor | None = None
        self._tap_pool: concurrent.futures.ThreadPoolExecutor | None = None

    # ----- lifecycle
    def start(self) -> AiortcRoom:
        self._events = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"ev-{self.name}"[:15])
        self._tap_pool = concurrent.futures.ThreadPoolExecutor(self.config.tap_workers,
                                                               thread_name_prefix=f"tap-{self.name}"[:15])
        self._start_loop(f"room-{self.name}")
        self._call(self._init())
        return self

    async def _init(self) -> None:
        self._track_class = _make_track_class()
        if self.config.keyframe_interval_s > 0:
            self._periodic = asyncio.ensure_future(self._periodic_keyframes())

    def shutdown(self, timeout: float = 10.0) -> None:
        if self._stop_loop(self._shutdown(), timeout):
            self._tap_pool.shutdown(wait=True, cancel_futures=True)
            self._events.shutdown(wait=True)   # the last source_ended events still go out

    def _not_running(self) -> Exception:
        return SignallingError("not_running", f"room {self.name} is not running")

    def _timed_out(self) -> Exception:
        return SignallingError("timeout", "the room did not answer in time")

    # ----- facade
    def publish(self, participant_id: str, offer_sdp: str) -> str:
        _check_stream_id(participant_id)
        kinds = validate_publish_offer(offer_sdp)
        return self._call(self._publish(participant_id, offer_sdp, "audio" in kinds))

    def subscribe(self, participant_id: str, source_id: str, offer_sdp: str) -> str:
        _check_stream_id(participant_id)
        _check_stream_id(source_id)
        validate_subscribe_offer(offer_sdp)
        return self._call(self._subscribe(participant_id, source_id, offer_sdp))

    def request_keyframe(self, source_id: str) -> None:
        self._call(self._request_keyframe(source_id))

    def set_muted(self, source_id: str, muted: bool) -> None:
        self._call(self._set_muted(source_id, bool(muted)))

    def tap(self, source_id: str, callback: TapCallback, fps: float) -> None:
        if not callable(callback):
            raise TypeError("callback must be callable")
        if not (0 < fps <= 60):
            raise ValueError("fps must be in (0, 60]")
        self._call(self._tap(source_id, callback, float(fps)))

    def untap(self, source_id: str) -> None:
        self._call(self._untap(source_id))

    def close(self, participant_id: str) -> None:
        self._call(self._close_participant(participant_id, strict=True))

    def close_subscription(self, participant_id: str, source_id: str) -> None:
        self._call(self._close_subscription(participant_id, source_id))

    def unpublish(self, participant_id: str) -> None:
        self._call(self._unpublish(participant_id))

    async def _close_subscription(self, participant_id: str, source_id: str) -> None:
        if (participant_id, source_id) not in self._subs:
            raise SignallingError("unknown_stream", f"{participant_id!r} does not receive {source_id!r}")
        await self._end_sub((participant_id, source_id))

    async def _unpublish(self, participant_id: str) -> None:
        source = self._sources.get(participant_id)
        if source is None or source.kind != "camera":
            raise SignallingError("unknown_stream", f"{participant_id!r} publishes nothing here")
        await self._end_source(participant_id)

    def relay_from(self, parent: MediaRoom, source_id: str, as_source_id: str) -> str:
        """With ``relay_transport="webrtc"`` this subscribes to ``parent`` over a
        real peer connection (see :meth:`relay_over_webrtc`); with "inprocess"
        (default) ``parent`` must be an AiortcRoom of this process."""
        _check_stream_id(as_source_id)
        if parent is self:
            raise SignallingError("bad_stream_id", "a room cannot relay from itself")
        if self.config.relay_transport == "webrtc":
            key = f"relay:{self.name}:{as_source_id}"
            return self.relay_over_webrtc(lambda offer: parent.subscribe(key, source_id, offer), as_source_id)
        if not isinstance(parent, AiortcRoom):
            raise TypeError("in-process relays need an AiortcRoom parent; use relay_transport='webrtc'")
        link = RelayLink(parent, source_id, self, as_source_id)
        self._call(self._add_relay_source(link))
        try:
            has_audio = parent._call(parent._attach_relay(link))
        except SignallingError:
            self._call(self._drop_relay_source(as_source_id))
            raise
        self._call(self._relay_attached(as_source_id, has_audio))
        return as_source_id

    def relay_over_webrtc(self, subscribe: Callable[[str], str], as_source_id: str) -> str:
        """Relay a source of another room, wherever it runs, over one WebRTC peer
        connection. ``subscribe(offer_sdp) -> answer_sdp`` reaches the parent room
        (e.g. its ``subscribe(f"relay:{child}:{id}", source_id, offer)``, or a
        network call to the parent's node); it is called off the loop, in an
        executor thread, and may raise SignallingError. The offer asks for video
        and audio; the parent answers audio inactive if its source has none.
        The received track is re-published here as ``as_source_id``: decoded once,
        encoded once, fanned out; taps work; keyframe requests go upstream as PLIs.
        The source ends when the connection closes (the parent source ended) or
        on :meth:`stop_relay`. Returns ``as_source_id``."""
        _check_stream_id(as_source_id)
        return self._call(self._relay_over_webrtc(subscribe, as_source_id),
                          timeout=2 * self.config.call_timeout_s + 5)

    def stop_relay(self, as_source_id: str) -> None:
        self._call(self._drop_relay_source(as_source_id, strict=True))

    def sources(self) -> list[str]:
        return self._call(self._sources_list())

    def stats(self) -> dict:
        return self._call(self._stats())

    # ----- on the loop: common
    def _new_pc(self):
        from aiortc import RTCConfiguration, RTCPeerConnection
        return RTCPeerConnection(RTCConfiguration(iceServers=list(self._ice_servers)))

    def _source(self, source_id: str) -> _Source:
        source = self._sources.get(source_id)
        if source is None:
            raise SignallingError("unknown_source", f"no source {source_id!r}")
        return source

    async def _sources_list(self) -> list[str]:
        return list(self._sources)

    async def _stats(self) -> dict:
        sources = {sid: s.info() for sid, s in self._sources.items()}
        subs = {f"{p}->{s}": sub.info() for (p, s), sub in self._subs.items()}
        return {"room": self.name, "encoders": sum(s["encoders"] for s in sources.values()),
                "audio_encoders": sum(s["audio_encoders"] for s in sources.values()),
                "sources": sources, "subscriptions": subs, "relays": sorted(self._relays)}

    def _emit(self, event: str, source_id: str) -> None:
        if self._listener is not None:
            try:
                self._events.submit(self._notify, event, source_id)
            except RuntimeError:   # shut down
                pass

    def _notify(self, event: str, source_id: str) -> None:
        try:
            self._listener(event, source_id)
        except Exception:
            logger.exception("room %s: listener failed on %s %s", self.name, event, source_id)

    def _mark_connected(self, source: _Source) -> None:
        if not source.announced and source.accepted and self._sources.get(source.id) is source:
            source.announced = True
            self._emit("source_connected", source.id)

    def _watch_pc(self, pc, source: _Source) -> None:
        @pc.on("connectionstatechange")
        async def on_change():
            if self._sources.get(source.id) is not source:
                return
            source.state = pc.connectionState
            if source.state == "connected":
                self._mark_connected(source)
            elif source.state in ("failed", "closed"):
                await self._end_source(source.id)

    def _tune_receivers(self, transceivers) -> None:
        if self.config.low_latency_receive:
            for transceiver in transceivers:
                _receive_low_latency(transceiver)

    def _start_media(self, source: _Source, track) -> None:
        if track.kind == "video":
            source.tasks.append(asyncio.ensure_future(self._video_loop(source, track)))
        elif track.kind == "audio" and source.has_audio:
            source.tasks.append(asyncio.ensure_future(self._audio_loop(source, track)))

    async def _watchdog(self, state, end, *args) -> None:
        await asyncio.sleep(self.config.connect_timeout_s)
        if state() != "connected":
            await end(*args)

    # ----- publishing
    async def _publish(self, participant_id: str, offer_sdp: str, with_audio: bool) -> str:
        from aiortc import RTCSessionDescription

        if participant_id in self._sources:
            raise SignallingError("exists", f"{participant_id!r} already publishes here")
        if sum(1 for s in self._sources.values() if s.kind == "camera") >= self.config.max_publishers:
            raise SignallingError("too_many_streams", f"at most {self.config.max_publishers} publishers")
        source = _Source(self, participant_id, "camera")
        source.encoder = SharedVp8Encoder(self.config.bitrate)
        source.has_audio = with_audio
        if with_audio:
            source.audio_encoder = SharedOpusEncoder(self.config.audio_bitrate)
        source.ensure_executor()
        pc = self._new_pc()
        source.pc = pc
        self._sources[participant_id] = source
        pc.on("track", lambda track: self._start_media(source, track))
        self._watch_pc(pc, source)
        try:
            receiving = [pc.addTransceiver("video", direction="recvonly")]
            if with_audio:
                receiving.append(pc.addTransceiver("audio", direction="recvonly"))
            self._tune_receivers(receiving)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # noqa: BLE001 - any negotiation error refuses the offer
            await self._end_source(participant_id)
            raise SignallingError("bad_sdp", f"negotiation failed: {exc}") from None
        if source.state == "new":
            source.state = "connecting"
        source.accepted = True
        if source.state == "connected":
            self._mark_connected(source)
        source.watchdog = asyncio.ensure_future(self._watchdog(lambda: source.state, self._end_source, participant_id))
        return pc.localDescription.sdp

    async def _video_loop(self, source: _Source, track) -> None:
        """Decoded frames in (aiortc decodes): taps sample them; one shared encode
        per frame, only while someone receives the source."""
        from aiortc.mediastreams import MediaStreamError

        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                source.frames_in += 1
                self._mark_connected(source)
                if source.tap is not None:
                    self._offer_tap(source, frame)
                if not source.subs:
                    source.encodes_skipped += 1   # lazy: nobody to send it to
                    continue
                # Requests that come closer together than keyframe_min_gap_s share one
                # keyframe (a burst of joins or PLIs must not turn every frame into one).
                force = source.force_keyframe and (
                    loop.time() - source.last_keyframe_at >= self.config.keyframe_min_gap_s)
                if force:
                    source.force_keyframe = False
                packets = await loop.run_in_executor(source.executor, source.encoder.encode, frame, force)
                source.encodes += 1
                for packet in packets:
                    if packet.is_keyframe:
                        source.last_keyframe_at = loop.time()
                    source.fan_out(packet)
        except MediaStreamError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("room %s: source %s video failed", self.name, source.id)

    async def _audio_loop(self, source: _Source, track) -> None:
        """Decoded audio in; one shared Opus encode per frame while someone listens
        and the source is not muted."""
        from aiortc.mediastreams import MediaStreamError

        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                source.audio_frames_in += 1
                if not source.wants_audio():
                    continue
                packets = await loop.run_in_executor(source.executor, source.audio_encoder.encode, frame)
                source.audio_encodes += 1
                for packet in packets:
                    source.fan_out_audio(packet)
        except MediaStreamError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("room %s: source %s audio failed", self.name, source.id)

    # ----- keyframes, mute, taps
    async def _request_keyframe(self, source_id: str) -> None:
        self._keyframe_now(source_id, "api", strict=True)

    def _keyframe_now(self, source_id: str, reason: str, strict: bool = False) -> None:
        source = self._sources.get(source_id)
        if source is None:
            if strict:
                raise SignallingError("unknown_source", f"no source {source_id!r}")
            return
        source.request_keyframe(reason)

    async def _periodic_keyframes(self) -> None:
        while True:
            await asyncio.sleep(self.config.keyframe_interval_s)
            for source in list(self._sources.values()):
                if source.encoder is not None:
                    source.request_keyframe("periodic")

    async def _set_muted(self, source_id: str, muted: bool) -> None:
        self._source(source_id).muted = muted

    async def _tap(self, source_id: str, callback: TapCallback, fps: float) -> None:
        source = self._source(source_id)
        if source.tap is not None:
            source.tap.callback, source.tap.fps = callback, fps
            source.tap.next_due = 0.0   # the new rate starts with the next frame
            return
        source.tap = _Tap(callback, fps)
        if source.transport == "inprocess":
            # Only packets reach an in-process relay: decode them while tapped.
            source.decoder = _Vp8Decoder()
            source.ensure_executor()
            source.request_keyframe("tap")

    async def _untap(self, source_id: str) -> None:
        source = self._sources.get(source_id)
        if source is not None:
            source.tap = None
            source.decoder = None

    def _offer_tap(self, source: _Source, frame) -> None:
        """On the loop: sample at the tap's rate; at most one callback in flight per source."""
        tap = source.tap
        if tap is None or not tap.due(asyncio.get_running_loop().time()):
            return
        tap.sampled += 1
        if not tap.busy.acquire(blocking=False):
            tap.dropped += 1
            return
        try:
            self._tap_pool.submit(self._deliver_tap, source.id, tap, time.time(), frame)
        except RuntimeError:   # pool shut down
            tap.busy.release()

    def _deliver_tap(self, source_id: str, tap: _Tap, at: float, frame) -> None:
        """In a tap worker: convert and hand over."""
        try:
            rgb = frame.to_ndarray(format="rgb24")
            tap.callback(source_id, at, rgb)
            tap.delivered += 1
        except Exception:
            tap.errors += 1
            logger.exception("room %s: tap of %s failed", self.name, source_id)
        finally:
            tap.busy.release()

    def _decode_for_tap(self, source: _Source, packet) -> None:
        decoder = source.decoder
        future = asyncio.get_running_loop().run_in_executor(source.executor, decoder.decode, packet)

        def done(fut):
            if fut.cancelled() or fut.exception() is not None or source.decoder is not decoder:
                return
            for frame in fut.result():
                self._offer_tap(source, frame)
        future.add_done_callback(done)

    # ----- subscribing
    async def _subscribe(self, participant_id: str, source_id: str, offer_sdp: str) -> str:
        from aiortc import RTCSessionDescription
        from aiortc.rtcrtpsender import RTCRtpSender

        source = self._source(source_id)
        key = (participant_id, source_id)
        if key in self._subs:
            raise SignallingError("exists", f"{participant_id!r} already receives {source_id!r}")
        if len(self._subs) >= self.config.max_subscriptions:
            raise SignallingError("too_many_streams", f"at most {self.config.max_subscriptions} subscriptions")
        if sum(1 for p, _ in self._subs if p == participant_id) >= self.config.max_subscriptions_per_participant:
            raise SignallingError("too_many_streams", f"at most {self.config.max_subscriptions_per_participant} "
                                                      "subscriptions per participant")
        sub = _Subscription(f"{participant_id}->{source_id}", source, self.config.queue_packets,
                            self.config.audio_queue_packets)
        sub.participant_id = participant_id
        sub.room_key = key
        pc = self._new_pc()
        sub.pc = pc
        self._subs[key] = sub

        @pc.on("connectionstatechange")
        async def on_change():
            if self._subs.get(key) is not sub:
                return
            sub.state = pc.connectionState
            if sub.state in ("failed", "closed"):
                await self._end_sub(key)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "video":
                    self._send_video(sub, transceiver, RTCRtpSender)
                elif source.has_audio:
                    self._send_audio(sub, transceiver, RTCRtpSender)
                else:
                    transceiver.direction = "inactive"   # the source has no audio
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # noqa: BLE001
            await self._end_sub(key)
            raise SignallingError("bad_sdp", f"negotiation failed: {exc}") from None
        if sub.state == "new":
            sub.state = "connecting"
        source.subs[sub.key] = sub
        source.request_keyframe("new_subscriber")
        sub.watchdog = asyncio.ensure_future(self._watchdog(lambda: sub.state, self._end_sub, key))
        return pc.localDescription.sdp

    def _send_video(self, sub: _Subscription, transceiver, sender_class) -> None:
        transceiver.direction = "sendonly"
        transceiver.setCodecPreferences([c for c in sender_class.getCapabilities("video").codecs
                                         if c.mimeType in ("video/VP8", "video/rtx")])
        transceiver.sender.replaceTrack(self._track_class(sub, "video"))
        sender = transceiver.sender
        original = sender._send_keyframe

        def on_pli(sub=sub, original=original):   # PLI/FIR from this subscriber
            original()
            sub.keyframe_requests += 1
            sub.waiting_keyframe = True
            sub.source.request_keyframe("pli")
        sender._send_keyframe = on_pli

    def _send_audio(self, sub: _Subscription, transceiver, sender_class) -> None:
        transceiver.direction = "sendonly"
        transceiver.setCodecPreferences([c for c in sender_class.getCapabilities("audio").codecs
                                         if c.mimeType == "audio/opus"])
        transceiver.sender.replaceTrack(self._track_class(sub, "audio"))
        sub.wants_audio = True

    async def _end_sub(self, key) -> None:
        sub = self._subs.pop(key, None)
        if sub is None:
            return
        sub.source.subs.pop(sub.key, None)
        sub.end()
        if sub.watchdog is not None and sub.watchdog is not asyncio.current_task():
            sub.watchdog.cancel()
        if sub.pc is not None:
            try:
                await sub.pc.close()
            except Exception:
                logger.exception("room %s: closing subscription %s", self.name, sub.key)

    # ----- ending
    async def _end_source(self, source_id: str) -> None:
        source = self._sources.pop(source_id, None)
        if source is None:
            return
        source.state = "closed" if source.state != "failed" else "failed"
        source.tap = None
        source.decoder = None
        for task in (*source.tasks, source.watchdog):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        # Its subscribers' connections close (so do WebRTC relays below: their
        # sources end in turn); in-process relays are told.
        for sub in list(source.subs.values()):
            if sub.room_key is not None:
                await self._end_sub(sub.room_key)
            else:
                sub.end()
        source.subs.clear()
        if source.pc is not None:
            try:
                await source.pc.close()
            except Exception:
                logger.exception("room %s: closing source %s", self.name, source_id)
        if source.executor is not None:
            source.executor.shutdown(wait=False)
        if source.upstream is not None:
            source.upstream.detach()
        if source.kind == "relay":
            self._relays.pop(source_id, None)
        if source.accepted:
            self._emit("source_ended", source_id)

    async def _close_participant(self, participant_id: str, strict: bool) -> None:
        keys = [k for k in self._subs if k[0] == participant_id]
        found = bool(keys) or participant_id in self._sources
        if strict and not found:
            raise SignallingError("unknown_stream", f"no participant {participant_id!r}")
        for key in keys:
            await self._end_sub(key)
        if participant_id in self._sources and self._sources[participant_id].kind == "camera":
            await self._end_source(participant_id)

    # ----- relays: child side
    def _check_new_relay(self, source_id: str) -> None:
        if source_id in self._sources:
            raise SignallingError("exists", f"source {source_id!r} exists")
        if len(self._relays) >= self.config.max_relays:
            raise SignallingError("too_many_relays", f"at most {self.config.max_relays} relays per room")

    async def _add_relay_source(self, link: RelayLink) -> None:
        self._check_new_relay(link.child_source_id)
        source = _Source(self, link.child_source_id, "relay", "inprocess")
        source.upstream = link
        source.state = "connected"
        self._sources[link.child_source_id] = source
        self._relays[link.child_source_id] = link

    async def _relay_attached(self, source_id: str, has_audio: bool) -> None:
        source = self._sources.get(source_id)
        if source is not None:
            source.has_audio = has_audio
            source.accepted = True

    async def _drop_relay_source(self, source_id: str, strict: bool = False) -> None:
        if source_id not in self._relays:
            if strict:
                raise SignallingError("unknown_source", f"no relay {source_id!r}")
            return
        await self._end_source(source_id)

    def _relay_packet(self, source_id: str, kind: str, packet) -> None:
        source = self._sources.get(source_id)
        if source is None:
            return
        self._mark_connected(source)
        if kind == "audio":
            source.fan_out_audio(packet)
            return
        source.frames_in += 1
        source.fan_out(packet)
        if source.decoder is not None:
            self._decode_for_tap(source, packet)

    def _relay_ended(self, source_id: str) -> None:
        source = self._sources.get(source_id)
        if source is not None and source.kind == "relay":
            source.upstream = None   # the parent is gone: nothing to detach
            asyncio.ensure_future(self._end_source(source_id))

    async def _relay_over_webrtc(self, subscribe: Callable[[str], str], as_source_id: str) -> str:
        from aiortc import RTCSessionDescription
        from aiortc.rtcrtpsender import RTCRtpSender

        self._check_new_relay(as_source_id)
        source = _Source(self, as_source_id, "relay", "webrtc")
        source.encoder = SharedVp8Encoder(self.config.bitrate)
        source.ensure_executor()
        upstream = _WebRtcUpstream(self, source)
        source.upstream = upstream
        pc = self._new_pc()
        source.pc = pc
        self._sources[as_source_id] = source
        self._relays[as_source_id] = upstream
        pc.on("track", lambda track: self._start_media(source, track))
        self._watch_pc(pc, source)
        try:
            video = pc.addTransceiver("video", direction="recvonly")
            video.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs
                                       if c.mimeType in ("video/VP8", "video/rtx")])
            audio = pc.addTransceiver("audio", direction="recvonly")
            audio.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs
                                       if c.mimeType == "audio/opus"])
            self._tune_receivers([video, audio])
            await pc.setLocalDescription(await pc.createOffer())
            # The parent may be far away: its answer is awaited off the loop.
            answer = await asyncio.get_running_loop().run_in_executor(None, subscribe, pc.localDescription.sdp)
            if self._sources.get(as_source_id) is not source:
                raise SignallingError("not_running", f"relay {as_source_id!r} was stopped while connecting")
            # Known before the tracks arrive (they are announced by setRemoteDescription).
            source.has_audio = "a=sendonly" in _m_section(answer, "audio") or "a=sendrecv" in _m_section(answer, "audio")
            if source.has_audio:
                source.audio_encoder = SharedOpusEncoder(self.config.audio_bitrate)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except BaseException as exc:
            await self._end_source(as_source_id)
            if isinstance(exc, (SignallingError, asyncio.CancelledError)):
                raise
            if not isinstance(exc, Exception):
                raise
            raise SignallingError("relay_failed", f"relay negotiation failed: {exc}") from None
        upstream.receiver = video.receiver
        if source.state == "new":
            source.state = "connecting"
        source.accepted = True
        if source.state == "connected":
            self._mark_connected(source)
        source.watchdog = asyncio.ensure_future(self._watchdog(lambda: source.state, self._end_source, as_source_id))
        return as_source_id

    # ----- relays: parent side (in-process)
    async def _attach_relay(self, link: RelayLink) -> bool:
        source = self._sources.get(link.parent_source_id)
        if source is None:
            raise SignallingError("unknown_source", f"no source {link.parent_source_id!r} in {self.name}")
        sub = _RelaySub(link, source)
        source.subs[sub.key] = sub
        source.request_keyframe("new_subscriber")
        return source.has_audio

    def _detach_relay(self, source_id: str, key: str) -> None:
        source = self._sources.get(source_id)
        if source is not None:
            source.subs.pop(key, None)

    async def _shutdown(self) -> None:
        for key in list(self._subs):
            await self._end_sub(key)
        for source_id in list(self._sources):
            await self._end_source(source_id)
        if self._periodic is not None:
            self._periodic.cancel()
        # Stragglers (connection-state handlers, aiortc's own tasks of closed peer
        # connections) end here rather than being destroyed pending with the loop.
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        if rest:
            await asyncio.wait(rest, timeout=2.0)


def _m_section(sdp: str, kind: str) -> str:
    """The text of the first m-section of ``kind`` in an SDP ('' if none)."""
    sections = sdp.replace("\r\n", "\n").split("\nm=")
    return next(("m=" + s for s in sections[1:] if s.startswith(kind + " ")), "")


__all__ = ["AiortcRoom", "MediaRoom", "RelayLink", "RoomConfig", "SharedOpusEncoder", "SharedVp8Encoder",
           "SignallingError", "SourceListener", "TapCallback", "validate_publish_offer", "validate_subscribe_offer"]
