"""One asyncio event loop in one daemon thread, and the synchronous way in.

The WebRTC engine and the conference rooms both own every aiortc object on a loop of their own
(DESIGN.md: Concurrency); Flask and Socket.IO handlers reach it only through `_call`.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading

logger = logging.getLogger(__name__)


class LoopOwner:
    """Base for an object whose state lives on its own event loop thread.

    Subclasses set `_label` (for messages) and have `config.call_timeout_s`; they raise their
    own error type through `_not_running` / `_timed_out`.
    """
    _label = "the media engine"

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _start_loop(self, thread_name: str) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self._label} already started")
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run_loop, args=(ready,), name=thread_name, daemon=True)
        self._thread.start()
        ready.wait()

    def _run_loop(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(ready.set)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def _stop_loop(self, closing, timeout: float) -> bool:
        """Run the `closing` coroutine on the loop, then stop the loop and join its thread.
        False when there was nothing to stop (idempotent)."""
        if self._thread is None or self._loop is None or self._loop.is_closed():
            closing.close()
            return False
        try:
            asyncio.run_coroutine_threadsafe(closing, self._loop).result(timeout)
        except Exception:
            logger.exception("%s: unclean shutdown", self._label)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        return True

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.shutdown()

    @property
    def running(self) -> bool:
        return self._loop is not None and self._loop.is_running()

    def _call(self, coro, timeout: float | None = None):
        """Run `coro` on the loop and wait for its result (from any other thread)."""
        if not self.running:
            coro.close()
            raise self._not_running()
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout if timeout is not None else self.config.call_timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise self._timed_out() from None

    def _not_running(self) -> Exception:
        return RuntimeError(f"{self._label} is not running")

    def _timed_out(self) -> Exception:
        return TimeoutError(f"{self._label} did not answer in time")
