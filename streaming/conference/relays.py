"""Relays between rooms: one stream of a parent room made available in a child room.

Relays come in two transports (``RoomConfig.relay_transport``):

- ``"inprocess"``: both rooms live in this process; the parent's packets are
  handed straight into the child room (no decode, no encode); keyframe requests
  travel back up.
- ``"webrtc"``: the child room subscribes to the parent like any participant,
  over a real RTCPeerConnection (:meth:`AiortcRoom.relay_over_webrtc`; the
  parent may be another process or machine), decodes what it receives once,
  re-encodes it once and fans it out; keyframe requests of the child's
  subscribers go upstream as a PLI on that connection.

This module holds the links between the two rooms; the rooms' own sides of a relay are methods of
:class:`streaming.conference.aiortc_room.AiortcRoom` (``relay_from``, ``relay_over_webrtc``).
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .fanout import _Source, _Subscription

if TYPE_CHECKING:   # types only: that module imports this one
    from .aiortc_room import AiortcRoom

logger = logging.getLogger(__name__)


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
