"""Conference media: one room per level of a cascaded conference.

One module a seam:

- :mod:`.interface`: :class:`MediaRoom`, the interface every media backend implements
  (and how it maps onto Janus), :class:`RoomConfig`, the media constants;
- :mod:`.sdp`: checks of the offers a room accepts;
- :mod:`.codecs`: the shared VP8 and Opus encoders, the tap decoder of in-process
  relays, the receivers' complete-frame jitter buffer;
- :mod:`.fanout`: sources, subscriptions and their bounded packet queues, frame taps;
- :mod:`.relays`: relays between rooms, in-process or over WebRTC;
- :mod:`.playback`: :class:`FilePlayback`, a course file played into a room as a source of its own
  (issue 16: the host plays, pauses, seeks);
- :mod:`.aiortc_room`: :class:`AiortcRoom`, the rooms on aiortc;
- :mod:`.janus_api`, :mod:`.janus_tap`, :mod:`.janus_publisher`, :mod:`.janus_room`:
  :class:`JanusRoom`, the rooms on a Janus VideoRoom (its HTTP API client, the frame taps' aiortc
  peers, the course files' aiortc publisher peers, the room).

The public names are importable from here (``from streaming.conference import AiortcRoom``).
Nothing here imports Flask, the models or anything of ours outside streaming.
"""
from __future__ import annotations

from streaming.rtc import SignallingError

from .aiortc_room import AiortcRoom
from .codecs import SharedOpusEncoder, SharedVp8Encoder
from .janus_api import JanusEndpoint
from .janus_room import JanusRoom
from .interface import (
    AUDIO_RATE,
    AUDIO_SAMPLES_PER_PACKET,
    AUDIO_TIME_BASE,
    RELAY_TRANSPORTS,
    VIDEO_CLOCK,
    VIDEO_TIME_BASE,
    MediaRoom,
    RoomConfig,
    SourceListener,
    TapCallback,
)
from .playback import FilePlayback
from .relays import RelayLink
from .sdp import validate_publish_offer, validate_subscribe_offer

__all__ = ["AUDIO_RATE", "AUDIO_SAMPLES_PER_PACKET", "AUDIO_TIME_BASE", "RELAY_TRANSPORTS", "VIDEO_CLOCK",
           "VIDEO_TIME_BASE", "AiortcRoom", "FilePlayback", "JanusEndpoint", "JanusRoom", "MediaRoom", "RelayLink", "RoomConfig", "SharedOpusEncoder",
           "SharedVp8Encoder", "SignallingError", "SourceListener", "TapCallback", "validate_publish_offer",
           "validate_subscribe_offer"]
