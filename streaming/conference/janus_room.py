"""The conference media rooms on Janus (Debian package ``janus``, its VideoRoom plugin).

:class:`JanusRoom` implements :class:`.interface.MediaRoom` by driving one VideoRoom room over
the Janus HTTP API (:mod:`.janus_api`). The portal is the only authority: the room is created
with the VideoRoom ``admin_key`` and a random room ``secret`` and ``pin`` that never leave this
process, every participant's peer connection is negotiated by a handle of the portal's own
session, and the room is destroyed on :meth:`shutdown`. Janus forwards RTP and never decodes.

- publish: a publisher handle, ``joinandconfigure`` (``id`` = the source id) with the
  participant's offer; Janus's JSEP answer comes back;
- publish_playback: a course file (:class:`.playback.FilePlayback`) is a publisher too: an aiortc
  peer of this process (:mod:`.janus_publisher`) offers its tracks to a publisher handle
  (``joinandconfigure``); aiortc's sender encodes once, Janus forwards and cascades it like a
  camera; PLIs reach aiortc's encoder (the interface module says why not the Streaming plugin);
- subscribe: server offer (:meth:`subscribe_offer` / :meth:`subscribe_answer`): a subscriber
  handle ``join`` s the source's streams, Janus offers, the participant answers, ``start``;
  the client-offer :meth:`subscribe` is refused with ``unsupported``;
- set_muted: ``moderate`` of the source's audio ``mid`` (Janus then stops relaying it to
  subscribers and to RTP forwarders, i.e. relays);
- request_keyframe: ``configure`` with ``keyframe: true`` on the publisher handle (for a relay,
  on the origin publisher's);
- relay_from: the child room gets a *remote publisher* (``add_remote_publisher``: Janus opens a
  plain RTP port), the parent's publisher is forwarded to it (``publish_remotely``: Janus's RTP
  forwarders with the SSRCs the remote publisher expects; PLIs travel back over RTCP). Janus
  only remotizes local publishers, so a relay of a relay is fed by the origin publisher
  directly; each room still receives the level above's source under its own id, and stopping a
  relay (or the origin ending) ends the relays below it;
- tap: one extra receive-only subscription of our own (:class:`.janus_tap.FrameTapper`, an
  aiortc peer in this process) whose decoded frames are sampled at the tap's rate;
- events: ``webrtcup`` of a publisher handle -> source_connected; its ``hangup``/``detached``
  (or close/unpublish/shutdown/relay end) -> source_ended;
- Janus restarted (its sessions and rooms are gone; :class:`.janus_api.JanusSession` notices
  "no such session"): every source ends (source_ended), :meth:`healthy` turns False and every
  call answers not_running; the owner (webapp.conferences.live) makes a new room.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

import requests

from streaming.rtc import SignallingError, _check_stream_id

from .fanout import _Tap
from .interface import MediaRoom, RoomConfig, SourceListener, TapCallback
from .janus_api import JanusApiError, JanusEndpoint, JanusSession
from .janus_publisher import PlaybackPublisher
from .janus_tap import FrameTapper
from .sdp import validate_publish_offer

logger = logging.getLogger(__name__)

_room_names = itertools.count(1)
_CODEC = {"video": "vp8", "audio": "opus"}
_ID_EXISTS = 436      # JANUS_VIDEOROOM_ERROR_ID_EXISTS
_LEAVING_S = 3.0      # how long an id that just left may still be taken
_PUBLISHED = ("camera", "playback")    # sources published into this room (not relays)


def _m_lines(sdp: str) -> list[tuple[str, str]]:
    """(kind, mid) of each m-section of an SDP, in order (mid = the index if none is given)."""
    out = []
    for index, section in enumerate(sdp.replace("\r\n", "\n").split("\nm=")[1:]):
        mid = re.search(r"^a=mid:(\S+)", section, re.M)
        out.append((section.split(" ", 1)[0], mid.group(1) if mid else str(index)))
    return out


@dataclass
class _Source:
    id: str
    kind: str                               # "camera" | "playback" (a course file) | "relay"
    streams: list[tuple[str, str]]          # (kind, mid) in m-line order
    handle: int | None = None               # the publisher handle (camera)
    origin: tuple | None = None             # (JanusRoom, source id) whose publisher feeds a relay
    remote_id: str | None = None            # the origin's remotization of this relay
    parent: tuple | None = None             # (JanusRoom, source id) a relay was made from
    dependents: set = field(default_factory=set)   # {(child room, child source id)}
    state: str = "new"
    muted: bool = False
    announced: bool = False
    accepted: bool = False
    tap: _Tap | None = None
    tap_handle: int | None = None
    watchdog: threading.Timer | None = None
    up: threading.Event = field(default_factory=threading.Event)   # connected (or ended)
    playback: object = None                 # "playback": the FilePlayback sent (owned by the caller)

    @property
    def has_audio(self) -> bool:
        return any(k == "audio" for k, _ in self.streams)

    def mid(self, kind: str) -> str | None:
        return next((m for k, m in self.streams if k == kind), None)


@dataclass
class _Subscription:
    participant_id: str
    source_id: str
    handle: int
    audio: bool
    state: str = "offered"       # offered -> started -> ended
    watchdog: threading.Timer | None = None


class JanusRoom(MediaRoom):
    """A VideoRoom room on a Janus instance. Thread-safe facade; ``listener`` as in MediaRoom."""

    subscribe_modes = ("server_offer",)

    def __init__(self, name: str | None = None, config: RoomConfig | None = None,
                 listener: SourceListener | None = None, *, janus: JanusEndpoint):
        self.name = name or f"room{next(_room_names)}"
        self.config = config or RoomConfig()
        self.janus = janus
        self._listener = listener
        self.room_id = f"{self.name}-{secrets.token_hex(6)}"
        self._secret = secrets.token_urlsafe(18)
        self._pin = secrets.token_urlsafe(18)
        self._lock = threading.RLock()
        self._sources: dict[str, _Source] = {}
        self._subs: dict[tuple[str, str], _Subscription] = {}
        self._handles: dict[int, tuple[str, object]] = {}   # handle -> ("pub", source id) | ("sub", key)
        self._session: JanusSession | None = None
        self._control: int | None = None      # a handle for synchronous room requests
        self._events: concurrent.futures.ThreadPoolExecutor | None = None
        self._work: concurrent.futures.ThreadPoolExecutor | None = None
        self._tap_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._tapper: FrameTapper | None = None
        self._publisher: PlaybackPublisher | None = None    # course files' peers, made on first use
        self._running = False
        self._lost = False

    # ----- lifecycle
    def start(self) -> JanusRoom:
        self._events = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"ev-{self.name}"[:15])
        self._work = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"jw-{self.name}"[:15])
        self._tap_pool = concurrent.futures.ThreadPoolExecutor(self.config.tap_workers,
                                                               thread_name_prefix=f"tap-{self.name}"[:15])
        try:
            self._session = JanusSession(self.janus, self._on_janus_event, self.config.call_timeout_s,
                                         on_lost=self._on_session_lost).start()
            self._control = self._session.attach()
            self._session.request(self._control, {
                "request": "create", "room": self.room_id, "admin_key": self.janus.admin_key,
                "secret": self._secret, "pin": self._pin, "is_private": True, "permanent": False,
                "description": self.name[:100], "publishers": self.config.max_publishers + self.config.max_relays,
                "videocodec": "vp8", "audiocodec": "opus", "bitrate": self.config.bitrate,
                "fir_freq": int(self.config.keyframe_interval_s) if self.config.keyframe_interval_s >= 1 else 0,
                "notify_joining": False, "require_pvtid": False})
        except (requests.RequestException, JanusApiError) as exc:
            self._teardown_threads()
            raise SignallingError("not_running", f"janus at {self.janus.url} refused room {self.name}: {exc}") from None
        from streaming.rtc import _ice_servers
        self._tapper = FrameTapper(self.name, _ice_servers(self.config), self.config.call_timeout_s).start()
        self._running = True
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            if not self._running:
                return
            self._running = False
        # The room goes first, while every handle in it is still attached: Janus 1.1.2's videoroom
        # closes the peer connections of the room's handles when it is destroyed, and a handle we
        # had just detached is freed under it (a use-after-free; Janus crashed once in the tests,
        # upstream janus-gateway#3154). Our own handles are hung up and detached after.
        if not self._lost:
            try:
                self._session.request(self._control, {"request": "destroy", "room": self.room_id,
                                                      "secret": self._secret, "permanent": False})
            except (requests.RequestException, JanusApiError) as exc:
                logger.warning("room %s: destroying the Janus room failed: %s", self.name, exc)
        for key in list(self._subs):
            self._end_sub(key)
        for source_id in list(self._sources):
            self._end_source(source_id)
        self._session.close()
        self._tapper.shutdown(timeout)
        if self._publisher is not None:
            self._publisher.shutdown(timeout)
        self._teardown_threads()

    def healthy(self) -> bool:
        return self._running and not self._lost

    def _on_session_lost(self) -> None:
        """Janus forgot our session (it restarted): its room, handles and peer connections are
        gone. End every subscription and source here (source_ended for each), then refuse."""
        with self._lock:
            if self._lost:
                return
            self._lost = True
        logger.warning("room %s: janus lost the session (restarted?); its sources end", self.name)
        try:
            self._work.submit(self._end_everything)
        except RuntimeError:
            pass      # shutting down anyway

    def _end_everything(self) -> None:
        for key in list(self._subs):
            self._end_sub(key)
        for source_id in list(self._sources):
            self._end_source(source_id)

    def _teardown_threads(self) -> None:
        if self._session is not None:
            self._session.close()
        for pool in (self._work, self._tap_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        if self._events is not None:
            self._events.shutdown(wait=True)   # the last source_ended events still go out

    def _check_running(self) -> None:
        if not self._running:
            raise SignallingError("not_running", f"room {self.name} is not running")
        if self._lost:
            raise SignallingError("not_running", f"room {self.name} is gone: janus restarted")

    def _janus(self, call, *args, code: str = "bad_sdp"):
        """Run one Janus API call; its failures become SignallingError(code)."""
        try:
            return call(*args)
        except JanusApiError as exc:
            if self._session is not None and self._session.lost.is_set():
                raise SignallingError("not_running", f"room {self.name} is gone: janus restarted") from None
            raise SignallingError(code, f"janus refused: {exc.reason}") from None
        except TimeoutError:
            raise SignallingError("timeout", "janus did not answer in time") from None
        except requests.RequestException as exc:
            raise SignallingError("not_running", f"janus unreachable: {exc}") from None

    @staticmethod
    def _while_leaving(call, *args):
        """``call`` again while Janus says the id exists: a publisher of that id that just left
        (unpublished, or a remote publisher removed) is still being cleaned up (its thread
        notices within a second)."""
        deadline = time.monotonic() + _LEAVING_S
        while True:
            try:
                return call(*args)
            except JanusApiError as exc:
                if exc.code != _ID_EXISTS or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    # ----- events (Janus long-poll thread -> our worker thread)
    def _emit(self, event: str, source_id: str) -> None:
        if self._listener is not None:
            try:
                self._events.submit(self._notify, event, source_id)
            except RuntimeError:
                pass

    def _notify(self, event: str, source_id: str) -> None:
        try:
            self._listener(event, source_id)
        except Exception:
            logger.exception("room %s: listener failed on %s %s", self.name, event, source_id)

    def _on_janus_event(self, handle_id: int, event: dict) -> None:
        kind = event.get("janus")
        if kind not in ("webrtcup", "hangup", "detached", "media"):
            return
        try:
            self._work.submit(self._handle_event, handle_id, kind, event)
        except RuntimeError:
            pass

    def _handle_event(self, handle_id: int, kind: str, event: dict) -> None:
        with self._lock:
            owner = self._handles.get(handle_id)
        if owner is None:
            return
        role, key = owner
        if role == "pub":
            if kind == "webrtcup" or (kind == "media" and event.get("receiving")):
                self._mark_connected(key)
            elif kind in ("hangup", "detached"):
                self._end_source(key)
        elif role == "sub" and kind in ("hangup", "detached"):
            self._end_sub(key)

    def _mark_connected(self, source_id: str) -> None:
        with self._lock:
            source = self._sources.get(source_id)
            if source is None or source.announced or not source.accepted:
                return
            source.state = "connected"
            source.announced = True
            source.up.set()
        self._emit("source_connected", source_id)

    def _timer(self, stale, end) -> threading.Timer:
        """After connect_timeout_s: ``end()`` if ``stale()`` (checked under the lock)."""
        def expire():
            with self._lock:
                gone = stale()
            if gone:
                end()
        timer = threading.Timer(self.config.connect_timeout_s, expire)
        timer.daemon = True
        timer.start()
        return timer

    def _arm_watchdog(self, source: _Source) -> None:
        source.watchdog = self._timer(lambda: self._sources.get(source.id) is source and source.state != "connected",
                                      lambda: self._end_source(source.id))

    # ----- publishing
    def publish(self, participant_id: str, offer_sdp: str) -> str:
        _check_stream_id(participant_id)
        validate_publish_offer(offer_sdp)
        self._check_running()
        return self._publish(participant_id, offer_sdp, "camera")

    def _check_free(self, participant_id: str) -> None:
        """Under the lock: the id is free and there is room for one more publisher."""
        if participant_id in self._sources:
            raise SignallingError("exists", f"{participant_id!r} already publishes here")
        if sum(1 for s in self._sources.values() if s.kind in _PUBLISHED) >= self.config.max_publishers:
            raise SignallingError("too_many_streams", f"at most {self.config.max_publishers} publishers")

    def publish_playback(self, source_id: str, playback) -> None:
        """A course file as a publisher of the VideoRoom (:meth:`MediaRoom.publish_playback`): an
        aiortc peer of this process (:class:`.janus_publisher.PlaybackPublisher`) offers the
        playback's tracks, a publisher handle ``joinandconfigure`` s them; from there on it is a
        publisher like a camera (subscribers, relays, keyframe requests, moderation, taps)."""
        from .playback import FilePlayback

        _check_stream_id(source_id)
        if not isinstance(playback, FilePlayback):
            raise TypeError("publish_playback needs a FilePlayback")
        self._check_running()
        with self._lock:
            self._check_free(source_id)
            if playback.closed:
                raise SignallingError("bad_stream_id", "the playback is closed")
            if not playback._claim(self):
                raise SignallingError("exists", "the playback is published elsewhere")
            if self._publisher is None:
                from streaming.rtc import _ice_servers
                self._publisher = PlaybackPublisher(self.name, _ice_servers(self.config),
                                                    self.config.call_timeout_s).start()
        try:
            offer = self._publisher.offer(source_id, playback, lambda: self._playback_closed(source_id, playback))
            answer = self._publish(source_id, offer, "playback", playback)
            self._publisher.accept(source_id, answer)
        except SignallingError:
            playback._release(self)
            self._publisher.close(source_id)
            self._end_playback(source_id, playback)
            raise

    def _end_playback(self, source_id: str, playback) -> None:
        """End the source if it is (still) this playback's."""
        with self._lock:
            source = self._sources.get(source_id)
        if source is not None and source.playback is playback:
            self._end_source(source_id)

    def _playback_closed(self, source_id: str, playback) -> None:
        """On the publisher's loop: the playback was closed under its source: end it."""
        try:
            self._work.submit(self._end_playback, source_id, playback)
        except RuntimeError:
            pass    # the room is shutting down

    def _publish(self, participant_id: str, offer_sdp: str, kind: str, playback=None) -> str:
        streams = _m_lines(offer_sdp)
        with self._lock:
            self._check_free(participant_id)
            source = _Source(participant_id, kind, streams, playback=playback)
            self._sources[participant_id] = source
        try:
            source.handle = self._janus(self._session.attach, code="not_running")
            with self._lock:
                self._handles[source.handle] = ("pub", participant_id)
            _, jsep = self._janus(self._while_leaving, self._session.message, source.handle, {
                "request": "joinandconfigure", "ptype": "publisher", "room": self.room_id, "pin": self._pin,
                "id": participant_id, "display": participant_id},
                {"type": "offer", "sdp": offer_sdp, "trickle": False})
            if not jsep or jsep.get("type") != "answer":
                raise SignallingError("bad_sdp", "janus gave no answer")
        except SignallingError:
            self._end_source(participant_id)
            raise
        with self._lock:
            source.accepted = True
            if source.state == "new":
                source.state = "connecting"
        self._arm_watchdog(source)
        return jsep["sdp"]

    def unpublish(self, participant_id: str) -> None:
        with self._lock:
            source = self._sources.get(participant_id)
            if source is None or source.kind not in _PUBLISHED:
                raise SignallingError("unknown_stream", f"{participant_id!r} publishes nothing here")
        self._end_source(participant_id)

    def request_keyframe(self, source_id: str) -> None:
        source = self._source(source_id)
        if source.origin is not None:
            origin_room, origin_id = source.origin
            origin_room.request_keyframe(origin_id)
            return
        self._janus(self._session.message, source.handle, {"request": "configure", "keyframe": True},
                    code="unknown_source")

    def set_muted(self, source_id: str, muted: bool) -> None:
        source = self._source(source_id)
        mid = source.mid("audio")
        if mid is not None:
            self._janus(self._session.request, self._control, {
                "request": "moderate", "room": self.room_id, "secret": self._secret, "id": source_id,
                "mid": mid, "mute": bool(muted)}, code="unknown_source")
        source.muted = bool(muted)

    # ----- subscribing
    def subscribe(self, participant_id: str, source_id: str, offer_sdp: str) -> str:
        raise SignallingError("unsupported", "Janus offers to subscribers: use subscribe_offer/subscribe_answer")

    def subscribe_offer(self, participant_id: str, source_id: str, audio: bool = True) -> str:
        _check_stream_id(participant_id)
        _check_stream_id(source_id)
        self._check_running()
        key = (participant_id, source_id)
        with self._lock:
            source = self._source(source_id)
            if key in self._subs:
                raise SignallingError("exists", f"{participant_id!r} already receives {source_id!r}")
            if len(self._subs) >= self.config.max_subscriptions:
                raise SignallingError("too_many_streams", f"at most {self.config.max_subscriptions} subscriptions")
            if sum(1 for p, _ in self._subs if p == participant_id) >= self.config.max_subscriptions_per_participant:
                raise SignallingError("too_many_streams", f"at most {self.config.max_subscriptions_per_participant} "
                                                          "subscriptions per participant")
            sub = _Subscription(participant_id, source_id, 0, audio and source.has_audio)
            self._subs[key] = sub
        try:
            sub.handle = self._janus(self._session.attach, code="not_running")
            with self._lock:
                self._handles[sub.handle] = ("sub", key)
            jsep = self._open_subscriber(sub.handle, source, sub.audio)
        except SignallingError:
            self._end_sub(key)
            raise
        sub.watchdog = self._timer(lambda: self._subs.get(key) is sub and sub.state == "offered",
                                   lambda: self._end_sub(key))   # an offer nobody answers
        return jsep["sdp"]

    def _open_subscriber(self, handle: int, source: _Source, audio: bool) -> dict:
        # Janus offers a feed only once its publisher's media is up (webrtcup): a subscriber
        # who comes right after the publish waits for it (as aiortc rooms queue them).
        source.up.wait(self.config.call_timeout_s)
        kinds = ("video", "audio") if audio else ("video",)
        streams = [{"feed": source.id, "mid": mid} for kind, mid in source.streams if kind in kinds]
        _, jsep = self._janus(self._session.message, handle, {
            "request": "join", "ptype": "subscriber", "room": self.room_id, "pin": self._pin,
            "streams": streams}, code="unknown_source")
        if not jsep or jsep.get("type") != "offer":
            raise SignallingError("unknown_source", f"janus offered nothing for {source.id!r}")
        return jsep

    def subscribe_answer(self, participant_id: str, source_id: str, answer_sdp: str) -> None:
        key = (participant_id, source_id)
        with self._lock:
            sub = self._subs.get(key)
            if sub is None or sub.state != "offered":
                raise SignallingError("unknown_stream", f"no offer to {participant_id!r} for {source_id!r}")
        try:
            _check_answer(answer_sdp)
            self._janus(self._session.message, sub.handle, {"request": "start"},
                        {"type": "answer", "sdp": answer_sdp, "trickle": False})
        except SignallingError:
            self._end_sub(key)
            raise
        sub.state = "started"

    def close_subscription(self, participant_id: str, source_id: str) -> None:
        if (participant_id, source_id) not in self._subs:
            raise SignallingError("unknown_stream", f"{participant_id!r} does not receive {source_id!r}")
        self._end_sub((participant_id, source_id))

    def close(self, participant_id: str) -> None:
        with self._lock:
            keys = [k for k in self._subs if k[0] == participant_id]
            source = self._sources.get(participant_id)
            if not keys and source is None:
                raise SignallingError("unknown_stream", f"no participant {participant_id!r}")
        for key in keys:
            self._end_sub(key)
        if source is not None and source.kind in _PUBLISHED:
            self._end_source(participant_id)

    # ----- taps
    def tap(self, source_id: str, callback: TapCallback, fps: float) -> None:
        if not callable(callback):
            raise TypeError("callback must be callable")
        if not (0 < fps <= 60):
            raise ValueError("fps must be in (0, 60]")
        with self._lock:
            source = self._source(source_id)
            if source.tap is not None:
                source.tap.callback, source.tap.fps = callback, float(fps)
                source.tap.next_due = 0.0
                return
            tap = source.tap = _Tap(callback, float(fps))
        try:
            source.tap_handle = self._janus(self._session.attach, code="not_running")
            offer = self._open_subscriber(source.tap_handle, source, audio=False)
            answer = self._tapper.answer(source_id, offer["sdp"], lambda frame: self._offer_tap(source, tap, frame))
            self._janus(self._session.message, source.tap_handle, {"request": "start"},
                        {"type": "answer", "sdp": answer, "trickle": False})
        except SignallingError:
            self.untap(source_id)
            raise

    def untap(self, source_id: str) -> None:
        with self._lock:
            source = self._sources.get(source_id)
            if source is None:
                return
            handle, source.tap_handle, source.tap = source.tap_handle, None, None
        self._tapper.close(source_id)
        if handle is not None:
            self._detach(handle)

    def _offer_tap(self, source: _Source, tap: _Tap, frame) -> None:
        """On the tapper's loop: sample at the tap's rate; at most one callback in flight."""
        if source.tap is not tap or not tap.due(time.monotonic()):
            return
        tap.sampled += 1
        if not tap.busy.acquire(blocking=False):
            tap.dropped += 1
            return
        try:
            self._tap_pool.submit(self._deliver_tap, source.id, tap, time.time(), frame)
        except RuntimeError:
            tap.busy.release()

    def _deliver_tap(self, source_id: str, tap: _Tap, at: float, frame) -> None:
        try:
            tap.callback(source_id, at, frame.to_ndarray(format="rgb24"))
            tap.delivered += 1
        except Exception:
            tap.errors += 1
            logger.exception("room %s: tap of %s failed", self.name, source_id)
        finally:
            tap.busy.release()

    # ----- relays (cascade by Janus's own RTP forwarding)
    def relay_from(self, parent: MediaRoom, source_id: str, as_source_id: str) -> str:
        _check_stream_id(as_source_id)
        if parent is self:
            raise SignallingError("bad_stream_id", "a room cannot relay from itself")
        if not isinstance(parent, JanusRoom):
            raise TypeError("a JanusRoom relays from another JanusRoom (Janus RTP forwarding)")
        self._check_running()
        upstream = parent._source(source_id)
        origin_room, origin_id = upstream.origin or (parent, source_id)
        streams = [(kind, str(i)) for i, (kind, _) in enumerate(upstream.streams)]
        with self._lock:
            if as_source_id in self._sources:
                raise SignallingError("exists", f"source {as_source_id!r} exists")
            if sum(1 for s in self._sources.values() if s.kind == "relay") >= self.config.max_relays:
                raise SignallingError("too_many_relays", f"at most {self.config.max_relays} relays per room")
            source = _Source(as_source_id, "relay", streams, origin=(origin_room, origin_id),
                             parent=(parent, source_id), remote_id=f"{self.room_id}/{as_source_id}")
            self._sources[as_source_id] = source
        try:
            added = self._janus(self._while_leaving, self._session.request, self._control, {
                "request": "add_remote_publisher", "room": self.room_id, "secret": self._secret,
                "id": as_source_id, "display": as_source_id,
                "streams": [{"type": kind, "mindex": i, "mid": mid, "codec": _CODEC[kind]}
                            for i, (kind, mid) in enumerate(streams)]}, code="relay_failed")
            origin_room._forward(origin_id, source.remote_id, self.janus.remote_host(),
                                 added["port"], added.get("rtcp_port"))
            with parent._lock:
                if parent._sources.get(source_id) is not upstream:
                    raise SignallingError("unknown_source", f"{source_id!r} ended while relaying")
                upstream.dependents.add((self, as_source_id))
        except SignallingError:
            self._end_source(as_source_id, parent_gone=False)
            raise
        with self._lock:
            source.accepted = True
        self._mark_connected(as_source_id)
        return as_source_id

    def _forward(self, source_id: str, remote_id: str, host: str, port: int, rtcp_port: int | None) -> None:
        """Parent side: forward the local publisher ``source_id`` to a remote publisher."""
        self._source(source_id)
        body = {"request": "publish_remotely", "room": self.room_id, "secret": self._secret,
                "admin_key": self.janus.admin_key, "publisher_id": source_id, "remote_id": remote_id,
                "host": host, "port": int(port)}
        if rtcp_port:
            body["rtcp_port"] = int(rtcp_port)
        self._janus(self._session.request, self._control, body, code="relay_failed")

    def _unforward(self, source_id: str, remote_id: str) -> None:
        if not self._running or source_id not in self._sources:
            return   # the publisher (and with it Janus's forwarders) is gone
        try:
            self._session.request(self._control, {
                "request": "unpublish_remotely", "room": self.room_id, "secret": self._secret,
                "admin_key": self.janus.admin_key, "publisher_id": source_id, "remote_id": remote_id})
        except (requests.RequestException, JanusApiError, TimeoutError) as exc:
            logger.info("room %s: unpublish_remotely %s: %s", self.name, remote_id, exc)

    def stop_relay(self, as_source_id: str) -> None:
        with self._lock:
            source = self._sources.get(as_source_id)
            if source is None or source.kind != "relay":
                raise SignallingError("unknown_source", f"no relay {as_source_id!r}")
        self._end_source(as_source_id)

    # ----- reading
    def _source(self, source_id: str) -> _Source:
        with self._lock:
            source = self._sources.get(source_id)
        if source is None:
            raise SignallingError("unknown_source", f"no source {source_id!r}")
        return source

    def sources(self) -> list[str]:
        self._check_running()
        with self._lock:
            return [sid for sid, s in self._sources.items() if s.accepted]

    def stats(self) -> dict:
        with self._lock:
            sources = {sid: {"kind": s.kind, "state": s.state, "audio": s.has_audio, "muted": s.muted,
                             "playback": s.playback.info() if s.playback is not None else None,
                             "keyframe_requests": (self._publisher.keyframe_requests.get(sid, 0)
                                                   if s.playback is not None and self._publisher else None),
                             "encoders": 0, "audio_encoders": 0,
                             "subscribers": sum(1 for (_, src) in self._subs if src == sid),
                             "relays_below": len(s.dependents),
                             "tap": s.tap.info() if s.tap is not None else None}
                       for sid, s in self._sources.items()}
            subs = {f"{p}->{s}": {"state": sub.state, "audio": sub.audio} for (p, s), sub in self._subs.items()}
            return {"room": self.name, "backend": "janus", "janus_room": self.room_id, "encoders": 0,
                    "audio_encoders": 0, "sources": sources, "subscriptions": subs,
                    "relays": sorted(sid for sid, s in self._sources.items() if s.kind == "relay")}

    # ----- ending
    def _detach(self, handle: int) -> None:
        with self._lock:
            self._handles.pop(handle, None)
        if self._session is None:
            return
        try:
            self._session.detach(handle)
        except (requests.RequestException, JanusApiError, TimeoutError) as exc:
            logger.info("room %s: detaching handle %s: %s", self.name, handle, exc)

    def _end_sub(self, key) -> None:
        with self._lock:
            sub = self._subs.pop(key, None)
        if sub is None:
            return
        sub.state = "ended"
        if sub.watchdog is not None:
            sub.watchdog.cancel()
        if sub.handle:
            self._session.hangup(sub.handle)
            self._detach(sub.handle)

    def _end_source(self, source_id: str, parent_gone: bool = False) -> None:
        with self._lock:
            source = self._sources.pop(source_id, None)
            if source is None:
                return
            source.state = "closed"
            source.up.set()   # nobody waits for it any more
            keys = [k for k in self._subs if k[1] == source_id]
            dependents = list(source.dependents)
            source.dependents.clear()
        if source.watchdog is not None:
            source.watchdog.cancel()
        for child, child_id in dependents:   # relays below end in turn
            child._end_source(child_id, parent_gone=True)
        # The source's own teardown before its subscribers': unpublishing (a hangup, or removing a
        # remote publisher) makes Janus close the subscribers' peer connections, which must still
        # be attached then (see shutdown: a freed handle crashed Janus 1.1.2).
        if source.kind in _PUBLISHED and source.handle is not None:
            self._session.hangup(source.handle)
            self._detach(source.handle)
        if source.playback is not None:
            if self._publisher is not None:
                self._publisher.close(source_id)
            source.playback._release(self)
        elif source.kind == "relay":
            origin_room, origin_id = source.origin
            origin_room._unforward(origin_id, source.remote_id)
            parent, parent_id = source.parent
            if not parent_gone:
                with parent._lock:
                    upstream = parent._sources.get(parent_id)
                    if upstream is not None:
                        upstream.dependents.discard((self, source_id))
            if self._session is not None and self._session.id is not None:
                try:
                    self._session.request(self._control, {"request": "remove_remote_publisher", "room": self.room_id,
                                                          "secret": self._secret, "id": source_id})
                except (requests.RequestException, JanusApiError, TimeoutError) as exc:
                    logger.info("room %s: remove_remote_publisher %s: %s", self.name, source_id, exc)
        for key in keys:              # its subscribers' connections close
            self._end_sub(key)
        if source.tap_handle is not None or source.tap is not None:
            source.tap = None
            self._tapper.close(source_id)
            if source.tap_handle is not None:
                self._detach(source.tap_handle)
        if source.accepted:
            self._emit("source_ended", source_id)


def _check_answer(sdp: str) -> None:
    if not isinstance(sdp, str) or "\nm=video" not in sdp.replace("\r\n", "\n") or not sdp.startswith("v=0"):
        raise SignallingError("bad_sdp", "not an SDP answer with a video m-line")
