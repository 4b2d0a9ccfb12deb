"""The media-room interface every conference media backend implements, its configuration and
the media constants the rooms share.

A :class:`MediaRoom` is the media side of one level's conference (province, city,
county, township, village). Participants *publish* their camera (and microphone)
into the room and *subscribe* to any stream published in it; a room can *relay*
one stream of another room (the level above's host stream downwards, a promoted
speaker upwards), so a five-level conference is five rooms chained by relays and
no room carries the whole tree: each room has its own participants plus its relays.

Two backends implement it, chosen by configuration (``CONFERENCE_MEDIA_BACKEND``):
:class:`streaming.conference.aiortc_room.AiortcRoom` (aiortc in this process: decodes once,
encodes once per source, fans packets out; the default) and
:class:`streaming.conference.janus_room.JanusRoom` (a Janus VideoRoom room driven over the
Janus HTTP API; Janus forwards RTP and never decodes).

Subscribing (the one place where the backends differ in who offers). Janus's VideoRoom makes
the *offer* to a subscriber and the subscriber answers; aiortc can do either. The contract
therefore has one flow every backend implements, the **server offer**:
:meth:`MediaRoom.subscribe_offer` (``participant, source -> offer SDP``) then
:meth:`MediaRoom.subscribe_answer` (``participant, source, answer SDP``). The older
**client offer** :meth:`MediaRoom.subscribe` (``participant, source, offer -> answer``) stays for
backends that can answer a subscriber's offer (aiortc); the others refuse it with
``unsupported``. ``subscribe_modes`` says which a backend has. Chosen because it is the
smallest change that lets one set of tests (tests/integration/test_media_room_contract.py)
drive both backends the same way, keeps every existing aiortc caller working, and matches what
a browser does with janus.js anyway (setRemoteDescription(offer), createAnswer).

=====================  =========================================  ===========================================
MediaRoom              AiortcRoom (aiortc)                        JanusRoom (Janus VideoRoom 1.1.x)
=====================  =========================================  ===========================================
publish                aiortc answers; decode once                publisher handle ``joinandconfigure``
subscribe_offer/answer aiortc offers sendonly; shared packets     subscriber handle ``join`` -> Janus offer,
                                                                  ``start`` with the answer
subscribe (client      yes                                        no (``unsupported``)
offer)
request_keyframe       forces the shared encoder                  ``configure keyframe`` on the (origin)
                                                                  publisher handle: a PLI to the browser
set_muted              audio packets dropped at the source        ``moderate`` (stops subscribers and
                                                                  forwarders)
tap                    the decoded frames it has anyway           one extra recvonly aiortc subscription
                                                                  per tapped source (Janus never decodes)
publish_playback       the playback's frames into the source's    one aiortc publisher peer
(a course file)        one shared VP8 (+ Opus) encoder, like a    (:mod:`.janus_publisher`) ``joinandconfigure``
                       camera's decoded frames                    s the file: aiortc's sender encodes once,
                                                                  Janus forwards it like any publisher
relay_from             in-process packets or a WebRTC             ``add_remote_publisher`` in the child +
                       subscription (``relay_transport``)         ``publish_remotely`` of the origin
                                                                  publisher (plain RTP, PLIs over RTCP)
stop_relay             yes                                        ``unpublish_remotely`` +
                                                                  ``remove_remote_publisher``
events                 peer connection state, first frame         handle ``webrtcup`` / ``hangup`` /
                                                                  ``detached``; relays when set up
stats                  encoders, encodes, queues, drops...        sources, subscribers, states, taps (no
                                                                  packet counters: the Admin API is off)
authority              in process                                 room created with the VideoRoom
                                                                  ``admin_key``, random secret and pin
                                                                  that never leave the portal; destroyed
                                                                  on shutdown
=====================  =========================================  ===========================================

Course playback (issue 16): :meth:`MediaRoom.publish_playback` makes a
:class:`.playback.FilePlayback` (a course file decoded with PyAV, paced in real time; the host
plays, pauses and seeks it) a source of the room. On Janus the file is a VideoRoom *publisher*
(an aiortc peer of the portal sending the playback's tracks), not a Streaming-plugin mountpoint:
a publisher is what the rest of the contract already handles (``publish_remotely`` cascades it
down the levels, ``configure keyframe`` and the subscribers' PLIs reach its encoder, ``moderate``
mutes it, taps subscribe to it, webrtcup/hangup events announce it), while a mountpoint is a
different kind of feed that VideoRoom subscribers, relays and moderation cannot use, and would need
an RTP/ffmpeg feeder process of its own.

Janus notes: the VideoRoom only remotizes *local* publishers, so a relay of a relay (a third
level) is fed by the origin publisher's forwarder directly, while the rooms keep their chain
(stopping a middle relay, or the origin ending, ends every relay below it). Janus itself is
started by :class:`deploy.janus_server.JanusServer` (own config folder, secrets, ports).
"""
from __future__ import annotations

import abc
import fractions
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streaming.rtc import SignallingError

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
AUDIO_RATE = 48_000
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_RATE)
AUDIO_SAMPLES_PER_PACKET = 960     # 20 ms, what aiortc and browsers send

SourceListener = Callable[[str, str], None]     # (event, source_id)
TapCallback = Callable[[str, float, Any], None]  # (source_id, at, rgb HxWx3 uint8)

RELAY_TRANSPORTS = ("inprocess", "webrtc")


class MediaRoom(abc.ABC):
    """The media side of one level's conference room. Plain data in and out (SDP
    strings, ids, dicts, arrays); every method is synchronous and thread-safe.

    Ids: a participant publishes at most one camera (with or without audio), whose
    ``source_id`` is the participant's id; a relayed source gets the id given to
    :meth:`relay_from`. Errors are :class:`streaming.rtc.SignallingError` with
    stable codes: bad_sdp, no_video, bad_stream_id, exists, unknown_stream,
    unknown_source, too_many_streams, too_many_relays, relay_failed,
    not_running, timeout, unsupported (a flow the backend does not have, e.g. a client
    offer to Janus).

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

    def publish_playback(self, source_id: str, playback) -> None:
        """Play a course file into the room as source ``source_id`` (``playback``: a
        :class:`streaming.conference.playback.FilePlayback`; its video, and audio when the file
        has it). The source is like a camera: encoded once, subscribed with
        :meth:`subscribe_offer`/:meth:`subscribe_answer`, relayed with :meth:`relay_from`, tapped,
        muted; it counts against ``max_publishers``; ``source_connected`` when its first frame is
        out, ``source_ended`` when :meth:`unpublish`/:meth:`close` of ``source_id`` (or the room's
        shutdown, or the playback's close) ends it. Play, pause and seek are the playback's own
        methods: they reach every subscriber and relay. The caller owns the playback (the room
        never closes it); a playback is published in one room at a time (exists). Codes:
        bad_stream_id, exists, too_many_streams, not_running. Backends without it answer
        unsupported (this default)."""
        raise SignallingError("unsupported", f"{type(self).__name__} cannot play files")

    @abc.abstractmethod
    def subscribe(self, participant_id: str, source_id: str, offer_sdp: str) -> str:
        """Client-offer subscription (only where ``"client_offer" in subscribe_modes``;
        otherwise unsupported). The participant receives one source (an offer with one receiving video
        m-line offering VP8, optionally one receiving audio m-line offering Opus:
        one peer connection then carries both media of the source; if the source
        has no audio the audio m-line is answered inactive); returns the answer SDP.
        At most ``max_subscriptions_per_participant`` per participant (too_many_streams)."""

    subscribe_modes: tuple[str, ...] = ("server_offer", "client_offer")

    @abc.abstractmethod
    def subscribe_offer(self, participant_id: str, source_id: str, audio: bool = True) -> str:
        """Server-offer subscription, step 1: the room offers the source to the participant
        (one sending video m-line, VP8; one sending audio m-line, Opus, when ``audio`` and the
        source has audio) and returns the offer SDP. Same checks and codes as :meth:`subscribe`
        (unknown_source, exists, too_many_streams)."""

    @abc.abstractmethod
    def subscribe_answer(self, participant_id: str, source_id: str, answer_sdp: str) -> None:
        """Server-offer subscription, step 2: the participant's answer. unknown_stream if no
        offer is pending for that pair; bad_sdp (the subscription is then dropped) if it does
        not fit the offer."""

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
    def stop_relay(self, as_source_id: str) -> None:
        """End a relay made by :meth:`relay_from` (and the relays below it);
        unknown_source if there is none."""

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

    def healthy(self) -> bool:
        """False once the media server lost the room under it (a Janus restarted: its
        sessions and rooms are gone; every source has ended). Such a room answers
        not_running; its owner shuts it down and makes a new one. In-process rooms
        (aiortc) live and die with their process: always True while they run."""
        return True


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
    frame on as soon as it is complete (see :class:`_CompleteFrameJitterBuffer` in :mod:`.codecs`)."""
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
