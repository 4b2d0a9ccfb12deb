"""The media-room interface every conference media backend implements, its configuration and
the media constants the rooms share.

A :class:`MediaRoom` is the media side of one level's conference (province, city,
county, township, village). Participants *publish* their camera (and microphone)
into the room and *subscribe* to any stream published in it; a room can *relay*
one stream of another room (the level above's host stream downwards, a promoted
speaker upwards), so a five-level conference is five rooms chained by relays and
no room carries the whole tree: each room has its own participants plus its relays.

:class:`streaming.conference.aiortc_room.AiortcRoom` implements it on aiortc. Doing
the same with an SFU (Janus; Debian package ``janus``) is a configuration change
behind this interface, not a rewrite:

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
"""
from __future__ import annotations

import abc
import fractions
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
