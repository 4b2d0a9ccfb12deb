"""The web tier's calls into the media workers, over Redis (README "Production mode", "The media
workers and their RPC").

Protocol (one JSON object per call, all keys required):

    request  LPUSH media:rpc:<worker>  {"id": hex, "service": "proctor" | "conference", "method": name,
                                        "args": [...], "kwargs": {...}, "reply": "media:rpc:reply:<id>",
                                        "deadline": unix time}
    answer   RPUSH <reply>    {"ok": result} | {"error": {"type": name, "code": str, "message": str}}
             (the reply key expires after REPLY_TTL_S)

Each media worker (`python -m webapp.media --worker ID`) takes requests from its own queue and
keeps a heartbeat key alive (webapp.media.workers). The caller picks the worker: a call's first
argument is its key (the sitting id of every proctor method, the conference id of every
conference method) and goes to the worker that key is assigned to (`Registry.assign`: sticky,
re-assigned when that worker's heartbeat is gone); a call without arguments goes to any live
worker; the methods a `RemoteService` names in `fanout` (proctor `sittings`) go to every live
worker, and the answers are merged. No live worker, or no answer by the deadline, is
`MediaUnavailable`.

The caller waits (BLPOP on its reply key) until the deadline and then gives up with
`MediaUnavailable`; a worker drops requests whose deadline has passed, so a worker that comes
back after a crash does not replay stale offers. Only the methods listed in
`webapp.media.services` are callable. Known errors travel by type name and are raised again on
the caller's side as the same class (`ERROR_TYPES`), anything else as `MediaError`. Why Redis:
it is already the Socket.IO message queue and the limiter's storage in production, a list gives
at-most-once delivery to whichever thread of the worker is free, and no new engine is needed.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from webapp.media.workers import Heartbeat, Registry, check_worker_id

log = logging.getLogger(__name__)

QUEUE_PREFIX = "media:rpc:"          # + worker id: that worker's requests
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


def queue(worker: str) -> str:
    return QUEUE_PREFIX + worker


class RpcClient:
    """One per web process; thread-safe (each call borrows a connection from the pool)."""

    def __init__(self, redis_url: str, timeout_s: float = 10.0):
        import redis

        # redis-py's default socket timeout (5 s) would cut a longer BLPOP short: the socket waits
        # longer than any call may (MAX_CALL_S), and a dead server still fails at once (reset).
        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2.0, socket_timeout=MAX_CALL_S + 10,
                                          health_check_interval=30)
        self.registry = Registry(self.redis)
        self.timeout_s = min(timeout_s, MAX_CALL_S)

    def _timeout(self, timeout_s: float | None) -> float:
        return self.timeout_s if timeout_s is None else min(timeout_s, MAX_CALL_S)

    def call(self, service: str, method: str, *args, timeout_s: float | None = None, **kwargs):
        """On the worker of the call's key (its first argument), or on any live worker."""
        import redis

        try:
            if args:
                worker = self.registry.assign(service, args[0])
            else:
                live = self.registry.live()
                worker = random.choice(live) if live else None
        except redis.RedisError as exc:
            raise MediaUnavailable(f"redis: {exc}") from None
        if worker is None:
            raise MediaUnavailable("no media worker is running")
        return self._ask([worker], service, method, args, kwargs, self._timeout(timeout_s))[0]

    def call_all(self, service: str, method: str, *args, timeout_s: float | None = None, **kwargs) -> list:
        """On every live worker at once: their answers (MediaUnavailable unless all answer)."""
        import redis

        try:
            live = self.registry.live()
        except redis.RedisError as exc:
            raise MediaUnavailable(f"redis: {exc}") from None
        if not live:
            raise MediaUnavailable("no media worker is running")
        return self._ask(live, service, method, args, kwargs, self._timeout(timeout_s))

    def _ask(self, workers: list[str], service: str, method: str, args, kwargs, timeout: float) -> list:
        import redis

        call_id = uuid.uuid4().hex
        reply = REPLY_PREFIX + call_id
        body = encode({"id": call_id, "service": service, "method": method, "args": list(args), "kwargs": kwargs,
                       "reply": reply, "deadline": time.time() + timeout})
        answers = []
        until = time.monotonic() + timeout
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for worker in workers:
                    pipe.lpush(queue(worker), body)
                pipe.execute()
            while len(answers) < len(workers):
                # BLPOP's timeout is whole seconds in old servers; Redis 6+ takes a float.
                found = self.redis.blpop([reply], timeout=max(0.01, until - time.monotonic()))
                if found is None:
                    raise MediaUnavailable(f"no answer to {service}.{method} within {timeout:g} s"
                                           + (f" ({len(answers)} of {len(workers)} workers answered)"
                                              if len(workers) > 1 else ""))
                answers.append(json.loads(found[1]))
        except redis.RedisError as exc:
            raise MediaUnavailable(f"redis: {exc}") from None
        for answer in answers:
            if "error" in answer:
                error = answer["error"]
                make = _error_types().get(error.get("type"), MediaError)
                raise make(str(error.get("code", "media_error")), str(error.get("message", "")))
        return [answer["ok"] for answer in answers]

    def service(self, name: str, methods: frozenset[str], timeouts: dict[str, float] | None = None,
                fanout: dict[str, Callable[[list], object]] | None = None) -> "RemoteService":
        return RemoteService(self, name, methods, timeouts, fanout)


class RemoteService:
    """A stand-in for a media-worker object: attribute access gives a function that calls the
    method of the same name over RPC (only names in `methods`): on the worker of its first
    argument, or, for a name in `fanout`, on every live worker, the answers merged by
    `fanout[name]` (e.g. `sum`)."""

    def __init__(self, client: RpcClient, service: str, methods: frozenset[str],
                 timeouts: dict[str, float] | None = None, fanout: dict[str, Callable[[list], object]] | None = None):
        self._client = client
        self._service = service
        self._methods = methods
        self._timeouts = timeouts or {}
        self._fanout = fanout or {}

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self._methods:
            raise AttributeError(name)
        timeout = self._timeouts.get(name)
        merge = self._fanout.get(name)

        def call(*args, **kwargs):
            if merge is not None:
                return merge(self._client.call_all(self._service, name, *args, timeout_s=timeout, **kwargs))
            return self._client.call(self._service, name, *args, timeout_s=timeout, **kwargs)
        call.__name__ = name
        return call


class RpcServer:
    """A media worker's side: `threads` threads take requests from the worker's queue and answer
    them; its heartbeat (webapp.media.workers) runs from `start()` to `stop()`.

    `handlers` maps a service name to (object, allowed method names); each call runs through
    `wrap` (the app context, the database session's clean-up)."""

    def __init__(self, redis_url: str, handlers: dict[str, tuple[object, frozenset[str]]], *,
                 worker: str = "0", threads: int = 16, wrap: Callable[[Callable[[], object]], object] | None = None):
        import redis

        self.redis_url = redis_url
        self.worker = check_worker_id(worker)
        self.queue = queue(worker)
        self.handlers = handlers
        self.wrap = wrap or (lambda step: step())
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="media-rpc")
        self.slots = threading.BoundedSemaphore(threads)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2.0, health_check_interval=30)
        self.heartbeat = Heartbeat(self.redis, worker)
        self.served = 0

    def start(self) -> "RpcServer":
        self._thread = threading.Thread(target=self._take_loop, name="media-rpc-take", daemon=True)
        self._thread.start()
        self.heartbeat.start()
        return self

    def stop(self) -> None:
        self.heartbeat.stop()       # the web tier routes around this worker from now on
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _take_loop(self) -> None:
        import redis

        while not self._stop.is_set():
            # Take a request only when a thread is free: what is not taken stays in Redis for the
            # next free thread (or this worker's next process), never lost in a local queue.
            if not self.slots.acquire(timeout=0.5):
                continue
            try:
                found = self.redis.brpop([self.queue], timeout=1)
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
        except Exception:   # noqa: BLE001 - a thread must survive any request
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
