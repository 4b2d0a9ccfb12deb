"""A small client of the Janus HTTP API (one session, its plugin handles, the event long-poll).

:class:`JanusSession` creates a Janus session, attaches ``janus.plugin.videoroom`` handles and
sends them messages. Synchronous plugin requests (create, moderate, rtp forwarding...) come back
in the POST's response; asynchronous ones (join, configure, start...) are acknowledged and their
result arrives on the session's long-poll, matched by transaction. Every other event (webrtcup,
media, hangup, detached, VideoRoom events without a transaction) goes to ``on_event(handle_id,
event)``, called on the long-poll thread (keep it short). Every request carries the API secret.

A Janus that restarts forgets its sessions: once it answers "no such session" (458) to the
long-poll, the keepalive or a request, the session is *lost* (``lost`` is set, its threads
stop, ``on_lost()`` is called once, on the thread that noticed); nothing of it can be used again.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

logger = logging.getLogger(__name__)

VIDEOROOM = "janus.plugin.videoroom"
NO_SUCH_SESSION = 458


@dataclass(frozen=True)
class JanusEndpoint:
    """Where a Janus is and how the portal talks to it. ``rtp_host``: the address at which this
    Janus's remote publishers receive forwarded RTP (default: the API URL's host)."""
    url: str
    api_secret: str
    admin_key: str
    rtp_host: str | None = None

    def remote_host(self) -> str:
        if self.rtp_host:
            return self.rtp_host
        from urllib.parse import urlsplit
        return urlsplit(self.url).hostname or "127.0.0.1"


class JanusApiError(Exception):
    """A Janus or VideoRoom error: ``code`` is Janus's number, ``reason`` its text."""

    def __init__(self, code: int, reason: str):
        super().__init__(f"janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class _Pending:
    def __init__(self):
        self.done = threading.Event()
        self.event: dict | None = None


class JanusSession:
    def __init__(self, endpoint: JanusEndpoint, on_event: Callable[[int, dict], None] | None = None,
                 timeout: float = 15.0, on_lost: Callable[[], None] | None = None):
        self.endpoint = endpoint
        self.on_event = on_event
        self.on_lost = on_lost
        self.lost = threading.Event()
        self.timeout = timeout
        self.http = requests.Session()
        self._poll_http = requests.Session()    # the long-poll holds its connection for up to 30 s
        self.id: int | None = None
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._keepalive: threading.Thread | None = None

    # ----- plumbing
    def _post(self, path: str, body: dict, timeout: float | None = None) -> dict:
        body = {**body, "apisecret": self.endpoint.api_secret}
        body.setdefault("transaction", secrets.token_hex(8))
        response = self.http.post(f"{self.endpoint.url}{path}", json=body, timeout=timeout or self.timeout)
        response.raise_for_status()
        reply = response.json()
        if reply.get("janus") == "error":
            error = reply.get("error", {})
            if error.get("code") == NO_SUCH_SESSION and self.id is not None and path.startswith(f"/{self.id}"):
                self._lose()
            raise JanusApiError(error.get("code", 0), error.get("reason", "unknown"))
        return reply

    def _lose(self) -> None:
        """Janus does not know this session any more (it restarted): stop, tell the owner once."""
        with self._lock:
            if self.lost.is_set():
                return
            self.lost.set()
            pending = list(self._pending.values())
        logger.warning("janus session %s: gone (janus restarted?)", self.id)
        self._stop.set()
        for waiting in pending:
            waiting.done.set()
        if self.on_lost is not None:
            try:
                self.on_lost()
            except Exception:
                logger.exception("janus session %s: on_lost failed", self.id)

    def start(self) -> JanusSession:
        self.id = self._post("", {"janus": "create"})["data"]["id"]
        self._poller = threading.Thread(target=self._poll, name=f"janus-poll-{self.id}"[:15], daemon=True)
        self._poller.start()
        self._keepalive = threading.Thread(target=self._keep_alive, name="janus-keepalive", daemon=True)
        self._keepalive.start()
        return self

    def close(self) -> None:
        if self.id is None or (self._stop.is_set() and not self.lost.is_set()):
            return
        self._stop.set()
        if not self.lost.is_set():
            try:
                self._post(f"/{self.id}", {"janus": "destroy"}, timeout=5)
            except (requests.RequestException, JanusApiError):
                pass
        # Not joined: Janus does not answer a pending long-poll when its session is destroyed, so
        # the poller would hold close() for up to its 40 s timeout (5 s per room with the old
        # join). It is a daemon thread that stops at its next answer and dispatches nothing more.
        self.http.close()
        self._poll_http.close()
        with self._lock:
            for pending in self._pending.values():
                pending.done.set()

    def _keep_alive(self) -> None:
        while not self._stop.wait(20):
            try:
                self._post(f"/{self.id}", {"janus": "keepalive"}, timeout=5)
            except (requests.RequestException, JanusApiError):
                if not self.lost.is_set():
                    logger.warning("janus session %s: keepalive failed", self.id)

    def _poll(self) -> None:
        url = f"{self.endpoint.url}/{self.id}"
        pause = 0.5
        while not self._stop.is_set():
            try:
                response = self._poll_http.get(url, params={"maxev": 10, "rid": int(time.time() * 1000),
                                                      "apisecret": self.endpoint.api_secret}, timeout=40)
                if response.status_code == 404:     # Janus's answer to a poll of a session it does not know
                    self._post(f"/{self.id}", {"janus": "keepalive"}, timeout=5)   # 458 -> lost
                events = response.json()
            except (requests.RequestException, ValueError, JanusApiError):
                if self.lost.is_set():
                    return
                if not self._stop.wait(pause):    # Janus away: ask again, a little less often
                    logger.warning("janus session %s: long-poll failed", self.id)
                pause = min(pause * 2, 2.0)
                continue
            pause = 0.5
            if isinstance(events, dict) and events.get("janus") == "error":
                if events.get("error", {}).get("code") == NO_SUCH_SESSION:
                    self._lose()
                    return
                self._stop.wait(0.5)
                continue
            for event in events if isinstance(events, list) else [events]:
                if self._stop.is_set():     # closed while this poll was out
                    return
                self._dispatch(event)

    def _dispatch(self, event: dict) -> None:
        kind = event.get("janus")
        if kind == "keepalive":
            return
        transaction = event.get("transaction")
        if transaction and kind in ("event", "error", "success"):
            with self._lock:
                pending = self._pending.get(transaction)
            if pending is not None:
                pending.event = event
                pending.done.set()
                return
        if self.on_event is not None:
            try:
                self.on_event(event.get("sender", 0), event)
            except Exception:
                logger.exception("janus session %s: event handler failed on %s", self.id, kind)

    # ----- handles
    def attach(self) -> int:
        return self._post(f"/{self.id}", {"janus": "attach", "plugin": VIDEOROOM})["data"]["id"]

    def detach(self, handle_id: int) -> None:
        if self.lost.is_set():
            return
        try:
            self._post(f"/{self.id}/{handle_id}", {"janus": "detach"}, timeout=5)
        except JanusApiError as exc:
            if exc.code != 459 and exc.code != 458:   # no such session / handle: already gone
                raise

    def hangup(self, handle_id: int) -> None:
        if self.lost.is_set():
            return
        try:
            self._post(f"/{self.id}/{handle_id}", {"janus": "hangup"}, timeout=5)
        except (JanusApiError, requests.RequestException):
            pass      # gone already, or Janus away (then its peer connection went with it)

    def request(self, handle_id: int, body: dict) -> dict:
        """A synchronous VideoRoom request: its plugin data (raises JanusApiError on error)."""
        reply = self._post(f"/{self.id}/{handle_id}", {"janus": "message", "body": body})
        return _plugin_result(reply)

    def message(self, handle_id: int, body: dict, jsep: dict | None = None,
                timeout: float | None = None) -> tuple[dict, dict | None]:
        """An asynchronous VideoRoom request: (plugin data of its event, its JSEP or None)."""
        transaction = secrets.token_hex(8)
        pending = _Pending()
        with self._lock:
            self._pending[transaction] = pending
        try:
            message = {"janus": "message", "body": body, "transaction": transaction}
            if jsep is not None:
                message["jsep"] = jsep
            reply = self._post(f"/{self.id}/{handle_id}", message)
            if reply.get("janus") == "success":      # answered at once
                return _plugin_result(reply), reply.get("jsep")
            if not pending.done.wait(timeout or self.timeout):
                raise TimeoutError(f"janus did not answer {body.get('request')!r} in time")
            event = pending.event
            if event is None:
                if self.lost.is_set():
                    raise JanusApiError(NO_SUCH_SESSION, "session lost (janus restarted)")
                raise JanusApiError(0, "session closed")
            if event.get("janus") == "error":
                error = event.get("error", {})
                raise JanusApiError(error.get("code", 0), error.get("reason", "unknown"))
            return _plugin_result(event), event.get("jsep")
        finally:
            with self._lock:
                self._pending.pop(transaction, None)


def _plugin_result(reply: dict) -> dict:
    data = reply.get("plugindata", {}).get("data", {})
    if "error_code" in data or data.get("videoroom") == "error" or "error" in data:
        raise JanusApiError(data.get("error_code", 0), data.get("error", "unknown"))
    return data
