"""The conference media rooms on aiortc.

:class:`AiortcRoom` implements :class:`.interface.MediaRoom` on aiortc, on one asyncio loop in
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
decodes it, so frame taps keep working). A course file the host plays
(:meth:`AiortcRoom.publish_playback`, :mod:`.playback`) is a source of the same kind: its
decoded frames take the camera's path (taps, one shared encoder, packets fanned out).

Its parts live beside it: the encoders and the receivers' jitter buffer in
:mod:`.codecs`, sources, subscriptions and taps in :mod:`.fanout`, relays between
rooms in :mod:`.relays`, offer checks in :mod:`.sdp`.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import time
from collections.abc import Callable

from streaming.loop_thread import LoopOwner
from streaming.rtc import SignallingError, _check_stream_id, _ice_servers

from .codecs import SharedOpusEncoder, SharedVp8Encoder, _receive_low_latency, _Vp8Decoder
from .fanout import _make_track_class, _Source, _Subscription, _Tap
from .interface import MediaRoom, RoomConfig, SourceListener, TapCallback
from .relays import RelayLink, _RelaySub, _WebRtcUpstream
from .sdp import _m_section, validate_publish_offer, validate_subscribe_offer

logger = logging.getLogger(__name__)

_room_names = itertools.count(1)
_PUBLISHED = ("camera", "playback")    # sources a participant publishes (not relays)


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

    def publish_playback(self, source_id: str, playback) -> None:
        """A course file as a source (:meth:`MediaRoom.publish_playback`): the playback's frames go
        into the same path as a camera's decoded frames (taps, one shared VP8 encoder, one shared
        Opus encoder, packets fanned out to every subscriber and relay)."""
        from .playback import FilePlayback

        _check_stream_id(source_id)
        if not isinstance(playback, FilePlayback):
            raise TypeError("publish_playback needs a FilePlayback")
        self._call(self._publish_playback(source_id, playback))

    def subscribe(self, participant_id: str, source_id: str, offer_sdp: str) -> str:
        _check_stream_id(participant_id)
        _check_stream_id(source_id)
        validate_subscribe_offer(offer_sdp)
        return self._call(self._subscribe(participant_id, source_id, offer_sdp))

    def subscribe_offer(self, participant_id: str, source_id: str, audio: bool = True) -> str:
        _check_stream_id(participant_id)
        _check_stream_id(source_id)
        return self._call(self._subscribe_offer(participant_id, source_id, bool(audio)))

    def subscribe_answer(self, participant_id: str, source_id: str, answer_sdp: str) -> None:
        if not isinstance(answer_sdp, str) or not answer_sdp.strip():
            raise SignallingError("bad_sdp", "empty SDP")
        self._call(self._subscribe_answer(participant_id, source_id, answer_sdp))

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
        if source is None or source.kind not in _PUBLISHED:
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
        self._check_publisher_room()
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

    def _check_publisher_room(self) -> None:
        if sum(1 for s in self._sources.values() if s.kind in _PUBLISHED) >= self.config.max_publishers:
            raise SignallingError("too_many_streams", f"at most {self.config.max_publishers} publishers")

    async def _publish_playback(self, source_id: str, playback) -> None:
        if source_id in self._sources:
            raise SignallingError("exists", f"{source_id!r} already publishes here")
        self._check_publisher_room()
        if playback.closed:
            raise SignallingError("bad_stream_id", "the playback is closed")
        if not playback._claim(self):
            raise SignallingError("exists", "the playback is published elsewhere")
        source = _Source(self, source_id, "playback")
        source.playback = playback
        source.encoder = SharedVp8Encoder(self.config.bitrate)
        source.has_audio = playback.has_audio
        if source.has_audio:
            source.audio_encoder = SharedOpusEncoder(self.config.audio_bitrate)
        source.ensure_executor()
        source.state = "connected"
        source.accepted = True          # source_connected with its first frame (_video_loop)
        self._sources[source_id] = source
        self._start_media(source, playback.video_track)
        if playback.audio_track is not None:
            self._start_media(source, playback.audio_track)

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
            if source.kind == "playback":     # the playback was closed under the room
                await self._end_source(source.id)
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
    def _new_subscription(self, participant_id: str, source_id: str) -> _Subscription:
        """Checks, then a subscription with its peer connection, registered (not yet fed)."""
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
        return sub

    def _feed(self, sub: _Subscription) -> None:
        """Negotiated: the subscription gets the source's packets from its next keyframe on."""
        if sub.state == "new":
            sub.state = "connecting"
        sub.source.subs[sub.key] = sub
        sub.source.request_keyframe("new_subscriber")

    async def _subscribe(self, participant_id: str, source_id: str, offer_sdp: str) -> str:
        from aiortc import RTCSessionDescription
        from aiortc.rtcrtpsender import RTCRtpSender

        sub = self._new_subscription(participant_id, source_id)
        source, key, pc = sub.source, sub.room_key, sub.pc
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
        self._feed(sub)
        sub.watchdog = asyncio.ensure_future(self._watchdog(lambda: sub.state, self._end_sub, key))
        return pc.localDescription.sdp

    async def _subscribe_offer(self, participant_id: str, source_id: str, audio: bool) -> str:
        """The server-offer flow: this room offers (sendonly video, and audio when the source
        has it and the participant wants it); :meth:`_subscribe_answer` completes it."""
        from aiortc.rtcrtpsender import RTCRtpSender

        sub = self._new_subscription(participant_id, source_id)
        sub.offered = True
        try:
            self._send_video(sub, sub.pc.addTransceiver("video", direction="sendonly"), RTCRtpSender)
            if audio and sub.source.has_audio:
                self._send_audio(sub, sub.pc.addTransceiver("audio", direction="sendonly"), RTCRtpSender)
            await sub.pc.setLocalDescription(await sub.pc.createOffer())
        except Exception as exc:  # noqa: BLE001
            await self._end_sub(sub.room_key)
            raise SignallingError("bad_sdp", f"offer failed: {exc}") from None
        sub.watchdog = asyncio.ensure_future(self._watchdog(lambda: sub.state, self._end_sub, sub.room_key))
        return sub.pc.localDescription.sdp

    async def _subscribe_answer(self, participant_id: str, source_id: str, answer_sdp: str) -> None:
        from aiortc import RTCSessionDescription

        key = (participant_id, source_id)
        sub = self._subs.get(key)
        if sub is None or not sub.offered or sub.key in sub.source.subs:
            raise SignallingError("unknown_stream", f"no offer to {participant_id!r} for {source_id!r}")
        try:
            await sub.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        except Exception as exc:  # noqa: BLE001
            await self._end_sub(key)
            raise SignallingError("bad_sdp", f"negotiation failed: {exc}") from None
        if self._subs.get(key) is sub:
            self._feed(sub)

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
        for key in [k for k, sub in self._subs.items() if sub.source is source]:
            await self._end_sub(key)   # offers made to it and not answered yet
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
        if source.playback is not None:
            source.playback._release(self)
        if source.accepted:
            self._emit("source_ended", source_id)

    async def _close_participant(self, participant_id: str, strict: bool) -> None:
        keys = [k for k in self._subs if k[0] == participant_id]
        found = bool(keys) or participant_id in self._sources
        if strict and not found:
            raise SignallingError("unknown_stream", f"no participant {participant_id!r}")
        for key in keys:
            await self._end_sub(key)
        if participant_id in self._sources and self._sources[participant_id].kind in _PUBLISHED:
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
