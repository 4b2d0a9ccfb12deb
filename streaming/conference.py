"""Conference media: one room per level of a cascaded conference.

A :class:`MediaRoom` is the media side of one level's conference (province, city,
county, township, village). Participants *publish* their camera into the room and
*subscribe* to any stream published in it; a room can *relay* one stream of another
room (the level above's host stream downwards, a promoted speaker upwards), so a
five-level conference is five rooms chained by relays and no room carries the
whole tree: each room has its own participants plus its relays.

:class:`AiortcRoom` implements the interface on aiortc, on one asyncio loop in
one dedicated thread (like :mod:`streaming.rtc`), with **encode once, fan out
packets**: a published stream is decoded once and re-encoded once by one VP8
encoder per source; every subscriber's RTCRtpSender gets a track whose ``recv()``
returns the very same ``av.Packet`` objects, which aiortc only packetizes. Each
subscriber has its own bounded queue: a slow subscriber loses packets (and then
waits for the next keyframe) instead of holding up the others. A keyframe request
(PLI/FIR) from any subscriber, and every new subscriber, forces a keyframe out of
the one encoder of that source.

Relays within one process pass the parent's packets straight into the child
room (no decode, no encode); keyframe requests travel back up. Across processes
the same link is one WebRTC subscription: the child room's node calls the parent
room's :meth:`MediaRoom.subscribe` like any participant and publishes what it
receives into its own room; :class:`RelayLink` is the seam for that.

Doing the same with an SFU (Janus; Debian package ``janus``) is a configuration
change behind this interface, not a rewrite:

- one room = one Janus *VideoRoom* room (``janus.plugin.videoroom``, ``create``
  with ``videocodec=vp8``, ``publishers`` = room size);
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
from dataclasses import dataclass, field

from streaming.loop_thread import LoopOwner
from streaming.rtc import (
    parse_offer,
    SignallingError,
    _check_stream_id,
    _ice_servers,
    validate_offer,
)

logger = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)


# ---------------------------------------------------------------- the interface
class MediaRoom(abc.ABC):
    """The media side of one level's conference room. Plain data in and out (SDP
    strings, ids, dicts); every method is synchronous and thread-safe.

    Ids: a participant publishes at most one camera, whose ``source_id`` is the
    participant's id; a relayed source gets the id given to :meth:`relay_from`.
    Errors are :class:`streaming.rtc.SignallingError` with stable codes: bad_sdp,
    no_video, bad_stream_id, exists, unknown_stream, unknown_source,
    too_many_streams, too_many_relays, not_running, timeout.
    """

    name: str

    @abc.abstractmethod
    def publish(self, participant_id: str, offer_sdp: str) -> str:
        """The participant sends their camera (an offer with one sending video
        m-line); returns the answer SDP. The stream becomes source ``participant_id``."""

    @abc.abstractmethod
    def subscribe(self, participant_id: str, source_id: str, offer_sdp: str) -> str:
        """The participant receives one source (an offer with one receiving video
        m-line offering VP8); returns the answer SDP."""

    @abc.abstractmethod
    def request_keyframe(self, source_id: str) -> None:
        """Make the source's next picture a keyframe (as a PLI/FIR does)."""

    @abc.abstractmethod
    def close(self, participant_id: str) -> None:
        """End everything of one participant: their published source (its
        subscribers' tracks end) and their subscriptions."""

    @abc.abstractmethod
    def relay_from(self, parent: MediaRoom, source_id: str, as_source_id: str) -> str:
        """Make ``parent``'s source available here as ``as_source_id`` (one
        subscription to the parent, re-published here); returns the new id."""

    @abc.abstractmethod
    def sources(self) -> list[str]:
        """The ids that can be subscribed to."""

    @abc.abstractmethod
    def stats(self) -> dict:
        """Counters: per source (encoders, encodes, keyframes, subscribers...) and
        per subscription (packets sent, dropped...)."""

    @abc.abstractmethod
    def shutdown(self) -> None:
        """Close everything. Idempotent."""


@dataclass(frozen=True)
class RoomConfig:
    """``ice_servers`` as in :class:`streaming.rtc.RtcConfig` (empty: host candidates
    only). ``queue_packets``: per-subscriber queue; when full the subscriber drops
    packets until the next keyframe. ``bitrate``: the shared encoder's target.
    ``keyframe_interval_s``: periodic keyframes (0: only on request)."""
    ice_servers: list[dict] = field(default_factory=list)
    max_publishers: int = 50
    max_subscriptions: int = 500
    max_relays: int = 2          # one from the level above, one promoted speaker
    queue_packets: int = 30
    bitrate: int = 500_000
    keyframe_interval_s: float = 0.0
    keyframe_min_gap_s: float = 0.25   # requests closer together than this share a keyframe
    call_timeout_s: float = 15.0
    connect_timeout_s: float = 30.0

    def __post_init__(self):
        if self.max_publishers < 1 or self.max_subscriptions < 1 or self.max_relays < 0:
            raise ValueError("limits must be positive")
        if self.queue_packets < 2:
            raise ValueError("queue_packets must be at least 2")


def validate_subscribe_offer(sdp: str, sdp_type: str = "offer") -> None:
    """An offer with exactly one video m-line that receives and offers VP8."""
    parsed = parse_offer(sdp, sdp_type)
    kinds = [media.kind for media in parsed.media]
    if "video" not in kinds:
        raise SignallingError("no_video", "the offer has no video m-line")
    if len(kinds) != 1:
        raise SignallingError("bad_sdp", f"exactly one video m-line expected, got {', '.join(kinds)}")
    media = parsed.media[0]
    if media.direction not in (None, "recvonly", "sendrecv"):
        raise SignallingError("bad_sdp", f"the video m-line does not receive ({media.direction})")
    if not media.ice or not media.ice.usernameFragment or not media.ice.password:
        raise SignallingError("bad_sdp", "missing ICE credentials")
    if not media.dtls or not media.dtls.fingerprints or media.dtls.role != "auto":
        raise SignallingError("bad_sdp", "missing DTLS fingerprint or not an offer")
    if "video/vp8" not in {codec.mimeType.lower() for codec in media.rtp.codecs}:
        raise SignallingError("bad_sdp", "the offer has no VP8 codec (the room sends VP8)")


# ---------------------------------------------------------------- the shared encoder
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


# ---------------------------------------------------------------- sources and subscribers
def _make_track_class():
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class FanoutTrack(MediaStreamTrack):
        """One subscriber's view of a source: a bounded queue of shared packets."""
        kind = "video"

        def __init__(self, sub: _Subscription):
            super().__init__()
            self.sub = sub

        async def recv(self):
            packet = await self.sub.queue.get()
            if packet is None:
                self.stop()
                raise MediaStreamError
            self.sub.packets_sent += 1
            return packet

    return FanoutTrack


class _Subscription:
    """A consumer of one source's packets, fed on the room's loop: a subscriber's
    track, or a relay into another room."""

    def __init__(self, key: str, source: _Source, queue_packets: int):
        self.key = key
        self.source = source
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=queue_packets)
        self.waiting_keyframe = True
        self.packets_offered = 0
        self.packets_sent = 0
        self.dropped = 0
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

    def end(self) -> None:
        while True:
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()

    def info(self) -> dict:
        return {"source_id": self.source.id, "participant_id": self.participant_id, "state": self.state,
                "packets_offered": self.packets_offered, "packets_sent": self.packets_sent,
                "dropped": self.dropped, "keyframe_requests": self.keyframe_requests,
                "queued": self.queue.qsize()}


class _Source:
    """One stream that can be subscribed to: a participant's camera (decoded once,
    encoded once here) or a relay (packets from another room)."""

    def __init__(self, room: AiortcRoom, source_id: str, kind: str):
        self.room = room
        self.id = source_id
        self.kind = kind            # "camera" | "relay"
        self.subs: dict[str, _Subscription] = {}
        self.encoder: SharedVp8Encoder | None = None
        self.executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.force_keyframe = True
        self.last_keyframe_at = -1e9
        self.encodes = 0
        self.frames_in = 0
        self.packets_out = 0
        self.keyframes = 0
        self.keyframe_requests: dict[str, int] = {}
        self.pc = None
        self.state = "new"
        self.task: asyncio.Task | None = None
        self.watchdog: asyncio.Task | None = None
        self.upstream: RelayLink | None = None   # for relays: asks the parent for keyframes

    def request_keyframe(self, reason: str) -> None:
        self.keyframe_requests[reason] = self.keyframe_requests.get(reason, 0) + 1
        if self.upstream is not None:
            self.upstream.request_keyframe()
            return
        self.force_keyframe = True

    def fan_out(self, packet) -> None:
        self.packets_out += 1
        if packet.is_keyframe:
            self.keyframes += 1
        for sub in list(self.subs.values()):
            sub.offer(packet)

    def info(self) -> dict:
        return {"source_id": self.id, "kind": self.kind, "state": self.state,
                "encoders": 1 if self.encoder is not None and self.encoder.codec is not None else 0,
                "encoders_created": self.encoder.created if self.encoder else 0,
                "frames_in": self.frames_in, "encodes": self.encodes, "packets_out": self.packets_out,
                "keyframes": self.keyframes, "keyframe_requests": dict(self.keyframe_requests),
                "subscribers": len(self.subs)}


class RelayLink:
    """The child side of a relay: packets of a parent room's source delivered into
    a child room's source; keyframe requests go back up. In one process this hands
    packets between the two rooms' loops; across processes the same role is one
    WebRTC subscription to the parent (the parent cannot tell it from a viewer)."""

    def __init__(self, parent: AiortcRoom, parent_source_id: str, child: AiortcRoom, child_source_id: str):
        self.parent = parent
        self.parent_source_id = parent_source_id
        self.child = child
        self.child_source_id = child_source_id
        self.key = f"relay:{child.name}:{child_source_id}"

    def deliver(self, packet) -> None:          # on the parent's loop
        self.child._loop.call_soon_threadsafe(self.child._relay_packet, self.child_source_id, packet)

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
    """The parent's side of a relay: forwards every packet (the child room does its
    own per-subscriber queueing and dropping)."""

    def __init__(self, link: RelayLink, source: _Source):
        super().__init__(link.key, source, queue_packets=2)
        self.link = link
        self.participant_id = link.key
        self.state = "connected"

    def offer(self, packet) -> None:
        self.packets_offered += 1
        if self.waiting_keyframe:
            if not packet.is_keyframe:
                self.dropped += 1
                return
            self.waiting_keyframe = False
        self.packets_sent += 1
        self.link.deliver(packet)

    def end(self) -> None:
        self.link.ended()


# ---------------------------------------------------------------- the room
_room_names = itertools.count(1)


class AiortcRoom(MediaRoom, LoopOwner):
    """A room on its own aiortc event loop (one thread). Thread-safe facade."""

    def __init__(self, name: str | None = None, config: RoomConfig | None = None):
        self.name = name or f"room{next(_room_names)}"
        self.config = config or RoomConfig()
        LoopOwner.__init__(self)
        self._label = f"room {self.name}"
        self._sources: dict[str, _Source] = {}
        self._subs: dict[tuple[str, str], _Subscription] = {}    # (participant, source) -> sub
        self._relays: dict[str, RelayLink] = {}                  # child source id -> link
        self._ice_servers = _ice_servers(self.config)  # type: ignore[arg-type]
        self._track_class = None
        self._periodic: asyncio.Task | None = None

    # ----- lifecycle
    def start(self) -> AiortcRoom:
        self._start_loop(f"room-{self.name}")
        self._call(self._init())
        return self

    async def _init(self) -> None:
        self._track_class = _make_track_class()
        if self.config.keyframe_interval_s > 0:
            self._periodic = asyncio.ensure_future(self._periodic_keyframes())

    def shutdown(self, timeout: float = 10.0) -> None:
        self._stop_loop(self._shutdown(), timeout)

    def _not_running(self) -> Exception:
        return SignallingError("not_running", f"room {self.name} is not running")

    def _timed_out(self) -> Exception:
        return SignallingError("timeout", "the room did not answer in time")

    # ----- facade
    def publish(self, participant_id: str, offer_sdp: str) -> str:
        _check_stream_id(participant_id)
        validate_offer(offer_sdp)
        return self._call(self._publish(participant_id, offer_sdp))

    def subscribe(self, participant_id: str, source_id: str, offer_sdp: str) -> str:
        _check_stream_id(participant_id)
        _check_stream_id(source_id)
        validate_subscribe_offer(offer_sdp)
        return self._call(self._subscribe(participant_id, source_id, offer_sdp))

    def request_keyframe(self, source_id: str) -> None:
        self._call(self._request_keyframe(source_id))

    def close(self, participant_id: str) -> None:
        self._call(self._close_participant(participant_id, strict=True))

    def relay_from(self, parent: MediaRoom, source_id: str, as_source_id: str) -> str:
        _check_stream_id(as_source_id)
        if not isinstance(parent, AiortcRoom):
            raise TypeError("in-process relays need an AiortcRoom parent; across processes subscribe over WebRTC")
        if parent is self:
            raise SignallingError("bad_stream_id", "a room cannot relay from itself")
        link = RelayLink(parent, source_id, self, as_source_id)
        self._call(self._add_relay_source(link))
        try:
            parent._call(parent._attach_relay(link))
        except SignallingError:
            self._call(self._drop_relay_source(as_source_id))
            raise
        return as_source_id

    def stop_relay(self, as_source_id: str) -> None:
        self._call(self._drop_relay_source(as_source_id, strict=True))

    def sources(self) -> list[str]:
        return self._call(self._sources_list())

    def stats(self) -> dict:
        return self._call(self._stats())

    # ----- on the loop
    def _new_pc(self):
        from aiortc import RTCConfiguration, RTCPeerConnection
        return RTCPeerConnection(RTCConfiguration(iceServers=list(self._ice_servers)))

    async def _sources_list(self) -> list[str]:
        return list(self._sources)

    async def _stats(self) -> dict:
        sources = {sid: s.info() for sid, s in self._sources.items()}
        subs = {f"{p}->{s}": sub.info() for (p, s), sub in self._subs.items()}
        return {"room": self.name, "encoders": sum(s["encoders"] for s in sources.values()),
                "sources": sources, "subscriptions": subs, "relays": sorted(self._relays)}

    async def _publish(self, participant_id: str, offer_sdp: str) -> str:
        from aiortc import RTCSessionDescription

        if participant_id in self._sources:
            raise SignallingError("exists", f"{participant_id!r} already publishes here")
        if sum(1 for s in self._sources.values() if s.kind == "camera") >= self.config.max_publishers:
            raise SignallingError("too_many_streams", f"at most {self.config.max_publishers} publishers")
        source = _Source(self, participant_id, "camera")
        source.encoder = SharedVp8Encoder(self.config.bitrate)
        source.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"enc-{participant_id}"[:15])
        pc = self._new_pc()
        source.pc = pc
        self._sources[participant_id] = source

        @pc.on("track")
        def on_track(track):
            if track.kind == "video" and source.task is None:
                source.task = asyncio.ensure_future(self._encode_loop(source, track))

        @pc.on("connectionstatechange")
        async def on_change():
            if self._sources.get(participant_id) is not source:
                return
            source.state = pc.connectionState
            if source.state in ("failed", "closed"):
                await self._end_source(participant_id)

        try:
            pc.addTransceiver("video", direction="recvonly")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # noqa: BLE001 - any negotiation error refuses the offer
            await self._end_source(participant_id)
            raise SignallingError("bad_sdp", f"negotiation failed: {exc}") from None
        if source.state == "new":
            source.state = "connecting"
        source.watchdog = asyncio.ensure_future(self._watchdog(lambda: source.state, self._end_source, participant_id))
        return pc.localDescription.sdp

    async def _watchdog(self, state, end, *args) -> None:
        await asyncio.sleep(self.config.connect_timeout_s)
        if state() != "connected":
            await end(*args)

    async def _encode_loop(self, source: _Source, track) -> None:
        from aiortc.mediastreams import MediaStreamError

        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                source.frames_in += 1
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
            logger.exception("room %s: source %s encoder failed", self.name, source.id)

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
                if source.kind == "camera":
                    source.request_keyframe("periodic")

    async def _subscribe(self, participant_id: str, source_id: str, offer_sdp: str) -> str:
        from aiortc import RTCSessionDescription
        from aiortc.rtcrtpsender import RTCRtpSender

        source = self._sources.get(source_id)
        if source is None:
            raise SignallingError("unknown_source", f"no source {source_id!r}")
        if (participant_id, source_id) in self._subs:
            raise SignallingError("exists", f"{participant_id!r} already receives {source_id!r}")
        if len(self._subs) >= self.config.max_subscriptions:
            raise SignallingError("too_many_streams", f"at most {self.config.max_subscriptions} subscriptions")
        key = (participant_id, source_id)
        sub = _Subscription(f"{participant_id}->{source_id}", source, self.config.queue_packets)
        sub.participant_id = participant_id
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
            transceiver = next(t for t in pc.getTransceivers() if t.kind == "video")
            transceiver.direction = "sendonly"
            vp8 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")]
            transceiver.setCodecPreferences(vp8)
            track = self._track_class(sub)
            transceiver.sender.replaceTrack(track)
            sender = transceiver.sender
            original = sender._send_keyframe

            def on_pli(sub=sub, original=original):   # PLI/FIR from this subscriber
                original()
                sub.keyframe_requests += 1
                sub.waiting_keyframe = True
                sub.source.request_keyframe("pli")
            sender._send_keyframe = on_pli
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

    async def _end_source(self, source_id: str) -> None:
        source = self._sources.pop(source_id, None)
        if source is None:
            return
        source.state = "closed" if source.state != "failed" else "failed"
        for sub in list(source.subs.values()):
            sub.end()
        for task in (source.task, source.watchdog):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        if source.pc is not None:
            try:
                await source.pc.close()
            except Exception:
                logger.exception("room %s: closing source %s", self.name, source_id)
        if source.executor is not None:
            source.executor.shutdown(wait=False)
        if source.upstream is not None:
            source.upstream.detach()
            self._relays.pop(source_id, None)

    async def _close_participant(self, participant_id: str, strict: bool) -> None:
        keys = [k for k in self._subs if k[0] == participant_id]
        found = bool(keys) or participant_id in self._sources
        if strict and not found:
            raise SignallingError("unknown_stream", f"no participant {participant_id!r}")
        for key in keys:
            await self._end_sub(key)
        if participant_id in self._sources and self._sources[participant_id].kind == "camera":
            await self._end_source(participant_id)

    # relays: child side
    async def _add_relay_source(self, link: RelayLink) -> None:
        if link.child_source_id in self._sources:
            raise SignallingError("exists", f"source {link.child_source_id!r} exists")
        if len(self._relays) >= self.config.max_relays:
            raise SignallingError("too_many_relays", f"at most {self.config.max_relays} relays per room")
        source = _Source(self, link.child_source_id, "relay")
        source.upstream = link
        source.state = "connected"
        self._sources[link.child_source_id] = source
        self._relays[link.child_source_id] = link

    async def _drop_relay_source(self, source_id: str, strict: bool = False) -> None:
        if source_id not in self._relays:
            if strict:
                raise SignallingError("unknown_source", f"no relay {source_id!r}")
            return
        await self._end_source(source_id)

    def _relay_packet(self, source_id: str, packet) -> None:
        source = self._sources.get(source_id)
        if source is not None:
            source.fan_out(packet)

    def _relay_ended(self, source_id: str) -> None:
        source = self._sources.get(source_id)
        if source is not None and source.kind == "relay":
            source.upstream = None   # the parent is gone: nothing to detach
            asyncio.ensure_future(self._end_source(source_id))

    # relays: parent side
    async def _attach_relay(self, link: RelayLink) -> None:
        source = self._sources.get(link.parent_source_id)
        if source is None:
            raise SignallingError("unknown_source", f"no source {link.parent_source_id!r} in {self.name}")
        sub = _RelaySub(link, source)
        source.subs[sub.key] = sub
        source.request_keyframe("new_subscriber")

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


__all__ = ["AiortcRoom", "MediaRoom", "RelayLink", "RoomConfig", "SharedVp8Encoder", "SignallingError",
           "validate_subscribe_offer"]
