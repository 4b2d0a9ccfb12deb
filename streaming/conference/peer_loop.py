"""One asyncio loop (one thread) holding aiortc peers of the portal itself, keyed by a string:
what :class:`.janus_tap.FrameTapper` (receive-only peers that tap Janus's streams) and
:class:`.janus_publisher.PlaybackPublisher` (send-only peers that publish course files into Janus)
share. Subclasses fill ``_peers`` and close one in ``_close``."""
from __future__ import annotations

import abc
import asyncio

from streaming.loop_thread import LoopOwner
from streaming.rtc import SignallingError


class PeerLoop(LoopOwner, abc.ABC):
    label = "peers"            # "tapper", "playback publisher": in errors
    thread_prefix = "peer"     # the loop thread's name: "<prefix>-<name>", at most 15 characters

    def __init__(self, name: str, ice_servers: list, call_timeout_s: float = 15.0):
        LoopOwner.__init__(self)
        self._label = f"{self.label} {name}"
        self._name = name
        self._ice_servers = ice_servers
        self.call_timeout_s = call_timeout_s
        self._peers: dict[str, object] = {}

    @property
    def config(self):   # LoopOwner reads config.call_timeout_s
        return self

    def start(self):
        self._start_loop(f"{self.thread_prefix}-{self._name}"[:15])
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        self._stop_loop(self._close_all(), timeout)

    @abc.abstractmethod
    async def _close(self, key: str) -> None:
        """Close the peer of `key` (each subclass knows what it keeps with it)."""

    async def _close_all(self) -> None:
        """On the loop, before it stops: every peer, then whatever tasks are left."""
        for key in list(self._peers):
            await self._close(key)
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        if rest:
            await asyncio.wait(rest, timeout=2.0)

    def _not_running(self) -> Exception:
        return SignallingError("not_running", f"{self._label} is not running")

    def _timed_out(self) -> Exception:
        return SignallingError("timeout", f"{self._label} did not answer in time")
