"""The web tier's calls into the media process, over Redis (README "Production mode", "Media RPC").

Protocol (one JSON object per call, all keys required):

    request  LPUSH media:rpc  {"id": hex, "service": "proctor" | "conference", "method": name,
                               "args": [...], "kwargs": {...}, "reply": "media:rpc:reply:<id>",
                               "deadline": unix time}
    answer   RPUSH <reply>    {"ok": result} | {"error": {"type": name, "code": str, "message": str}}
             (the reply key expires after REPLY_TTL_S)

The caller waits (BLPOP on its reply key) until the deadline and then gives up with
`MediaUnavailable`; the media process drops requests whose deadline has passed, so a media
process that comes back after a crash does not replay stale offers. Only the methods listed in
`webapp.media.services` are callable. Known errors travel by type name and are raised again on
the caller's side as the same class (`ERROR_TYPES`), anything else as `MediaError`. Why Redis:
it is already the Socket.IO message queue and the limiter's storage in production, a list gives
at-most-once delivery to whichever media thread is free, and no new engine is needed.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

log = logging.getLogger(__name__)

QUEUE = "media:rpc"
REPLY_PREFIX = "media:rpc:reply:"
REPLY_TTL_S = 60
MAX_REQUEST_BYTES = 256 * 1024
MAX_CALL_S = 60.0


class MediaError(Exception):
    """The media process failed the call for a reason it did not name."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code


class MediaUnavailable(MediaError):
    """No answer in time: the media process is down, restarting or overloaded."""

    def __init__(self, message: str = "the media process did not answer"):
        super().__init__("media_unavailable", message)


def _error_types() -> dict[str, Callable[[str, str], Exception]]:
    from proctoring.rollcall import SelectionError
    from streaming.rtc import SignallingError
    from webapp.conferences.live import LiveError

    return {"SignallingError": SignallingError, "LiveError": LiveError,
            "SelectionError": SelectionError,
            "MediaError": MediaError, "MediaUnavailable": lambda code, message: MediaUnavailable(message)}


def _plain(value):
    """json.dumps' default: numpy arrays and scalars as plain lists and numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-serialisable over media RPC: {type(value).__name__}")


def encode(value) -> str:
    return json.dumps(value, default=_plain, separators=(",", ":"))


class RpcClient:
    """One per web process; thread-safe (each call borrows a connection from the pool)."""

    def __init__(self, redis_url: str, timeout_s: float = 10.0):
        import redis

        # redis-py's default socket timeout (5 s) would cut a longer BLPOP short: the socket waits
        # longer than any call may (MAX_CALL_S), and a dead server still fails at once (reset).
        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2.0, socket_timeout=MAX_CALL_S + 10,
                                          health_check_interval=30)
        self.timeout_s = min(timeout_s, MAX_CALL_S)

    def call(self, service: str, method: str, *args, timeout_s: float | None = None, **kwargs):
        import redis

        timeout = self.timeout_s if timeout_s is None else min(timeout_s, MAX_CALL_S)
        call_id = uuid.uuid4().hex
        reply = REPLY_PREFIX + call_id
        body = encode({"id": call_id, "service": service, "method": method, "args": list(args), "kwargs": kwargs,
                       "reply": reply, "deadline": time.time() + timeout})
        try:
            self.redis.lpush(QUEUE, body)
            # BLPOP's timeout is whole seconds in old servers; Redis 6+ takes a float.
            found = self.redis.blpop([reply], timeout=max(0.01, timeout))
        except redis.RedisError as exc:
            raise MediaUnavailable(f"redis: {exc}") from None
        if found is None:
            raise MediaUnavailable(f"no answer to {service}.{method} within {timeout:g} s")
        answer = json.loads(found[1])
        if "error" in answer:
            error = answer["error"]
            make = _error_types().get(error.get("type"), MediaError)
            raise make(str(error.get("code", "media_error")), str(error.get("message", "")))
        return answer["ok"]

    def service(self, name: str, methods: frozenset[str], timeouts: dict[str, float] | None = None) -> "RemoteService":
        return RemoteService(self, name, methods, timeouts)


class RemoteService:
    """A stand-in for a media-process object: attribute access gives a function that calls the
    method of the same name over RPC (only names in `methods`)."""

    def __init__(self, client: RpcClient, service: str, methods: frozenset[str],
                 timeouts: dict[str, float] | None = None):
        self._client = client
        self._service = service
        self._methods = methods
        self._timeouts = timeouts or {}

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self._methods:
            raise AttributeError(name)
        timeout = self._timeouts.get(name)

        def call(*args, **kwargs):
            return self._client.call(self._service, name, *args, timeout_s=timeout, **kwargs)
        call.__name__ = name
        return call


class RpcServer:
    """The media process's side: `threads` workers take requests from the queue and answer them.

    `handlers` maps a service name to (object, allowed method names); each call runs through
    `wrap` (the app context, the database session's clean-up)."""

    def __init__(self, redis_url: str, handlers: dict[str, tuple[object, frozenset[str]]], *,
                 threads: int = 16, wrap: Callable[[Callable[[], object]], object] | None = None):
        import redis

        self.redis_url = redis_url
        self.handlers = handlers
        self.wrap = wrap or (lambda step: step())
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="media-rpc")
        self.slots = threading.BoundedSemaphore(threads)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2.0, health_check_interval=30)
        self.served = 0

    def start(self) -> "RpcServer":
        self._thread = threading.Thread(target=self._take_loop, name="media-rpc-take", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _take_loop(self) -> None:
        import redis

        while not self._stop.is_set():
            # Take a request only when a worker is free: what is not taken stays in Redis for the
            # next free worker (or the next media process), never lost in a local queue.
            if not self.slots.acquire(timeout=0.5):
                continue
            try:
                found = self.redis.brpop([QUEUE], timeout=1)
            except redis.RedisError as exc:
                self.slots.release()
                log.warning("media RPC: redis unavailable (%s); retrying", exc)
                self._stop.wait(1.0)
                continue
            if found is None:
                self.slots.release()
                continue
            self.pool.submit(self._serve, found[1])

    def _serve(self, raw: bytes) -> None:
        try:
            self._answer(raw)
        except Exception:   # noqa: BLE001 - a worker must survive any request
            log.exception("media RPC: request failed")
        finally:
            self.slots.release()

    def _answer(self, raw: bytes) -> None:
        if len(raw) > MAX_REQUEST_BYTES:
            log.warning("media RPC: request of %d bytes dropped", len(raw))
            return
        request = json.loads(raw)
        reply = request.get("reply")
        if not isinstance(reply, str) or not reply.startswith(REPLY_PREFIX):
            return
        if time.time() > float(request.get("deadline", 0)):
            return      # the caller has given up: doing it now would act on a stale request
        service, method = request.get("service"), request.get("method")
        target, allowed = self.handlers.get(service, (None, frozenset()))
        if target is None or method not in allowed:
            answer = {"error": {"type": "MediaError", "code": "unknown_method", "message": f"{service}.{method}"}}
        else:
            try:
                result = self.wrap(lambda: getattr(target, method)(*request.get("args", []),
                                                                   **request.get("kwargs", {})))
                answer = {"ok": result}
            except Exception as exc:   # noqa: BLE001 - every error goes back to the caller
                code = getattr(exc, "code", None)
                if code is None:
                    log.exception("media RPC: %s.%s failed", service, method)
                answer = {"error": {"type": type(exc).__name__, "code": str(code or "media_error"),
                                    "message": str(getattr(exc, "message", "") or exc)[:500]}}
        self.served += 1
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(reply, encode(answer))
            pipe.expire(reply, REPLY_TTL_S)
            pipe.execute()
