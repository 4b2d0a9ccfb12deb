"""The server's WebRTC engine: camera streams in, sampled RGB frames out.

One asyncio event loop in one dedicated daemon thread owns every aiortc object.
Callers (Flask and Socket.IO handlers, tests) use the synchronous facade of
:class:`MediaEngine`, which hands each call to that loop with
``asyncio.run_coroutine_threadsafe(...).result(timeout)``.

A check needs a few frames, not the whole stream: the engine *samples* each
incoming video track at ``sample_fps`` (``burst_fps`` while a burst is active,
for liveness challenges) and hands the sampled frames to a bounded worker pool,
which converts them to RGB arrays and calls ``on_sample``. Frames that are not
sampled are dropped on the loop. aiortc still decodes every frame (its
receiver decodes in its own thread before the track sees it), so decoding is
the fixed cost of a stream (which is why the proctoring server asks the browser for no more
frames than it samples: proctoring.camera_rate); the RGB conversion is paid only for samples. When
the pool is full a sample is dropped and counted, the loop never waits.

Plain data in and out: SDP strings, candidate dicts, numpy arrays, dicts.
Nothing here imports Flask, the models or proctoring.

aiortc does not trickle its own candidates: it gathers them all before
``setLocalDescription`` returns, so the answer carries them. Remote candidates
may trickle in through :meth:`MediaEngine.add_ice_candidate`.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .loop_thread import LoopOwner

logger = logging.getLogger(__name__)

MAX_SDP_BYTES = 20_000
MAX_CANDIDATE_CHARS = 1_000
MAX_STREAM_ID_CHARS = 128
DEFAULT_TIMEOUT_S = 15.0
SAMPLE_EARLY_SHARE = 0.25   # a frame this share of the sample interval early is due (see _consume)

STATES = ("new", "connecting", "connected", "failed", "closed")

SampleCallback = Callable[[str, float, Any], None]   # (stream_id, at, rgb HxWx3 uint8)
StateCallback = Callable[[str, str], None]           # (stream_id, state)


class SignallingError(Exception):
    """A signalling request was refused. ``code`` is stable and meant for clients:
    bad_sdp, no_video, too_many_streams, unknown_stream, bad_candidate, exists,
    bad_stream_id, not_running, timeout."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RtcConfig:
    """``ice_servers``: RTCIceServer-like dicts (``urls``, optional ``username`` and
    ``credential``) for STUN/TURN. An empty list means host candidates only; note
    that aiortc itself falls back to a public Google STUN server when given
    *no* list, which this engine never does."""
    ice_servers: list[dict] = field(default_factory=list)
    max_streams: int = 50
    sample_fps: float = 1.0
    burst_fps: float = 5.0
    workers: int = 2
    queue_limit: int = 16
    call_timeout_s: float = DEFAULT_TIMEOUT_S
    connect_timeout_s: float = 30.0   # a stream not connected by then fails and frees its slot

    def __post_init__(self):
        if self.max_streams < 1:
            raise ValueError("max_streams must be at least 1")
        if not (0 < self.sample_fps <= 60 and 0 < self.burst_fps <= 60):
            raise ValueError("sample_fps and burst_fps must be in (0, 60]")
        if self.workers < 1 or self.queue_limit < 0:
            raise ValueError("workers must be >= 1 and queue_limit >= 0")


# ---------------------------------------------------------------- validation
_LINE = re.compile(r"^[a-z]=.*$")


def parse_offer(sdp: str, sdp_type: str = "offer"):
    """The checks every offer gets (an offer, size, well-formed lines), then aiortc's parse.
    aiortc's parser alone accepts nonsense (zero m-lines), hence the line checks.
    Raises SignallingError(bad_sdp)."""
    from aiortc.sdp import SessionDescription

    if sdp_type != "offer":
        raise SignallingError("bad_sdp", f"expected an offer, got {sdp_type!r}")
    if not isinstance(sdp, str) or not sdp.strip():
        raise SignallingError("bad_sdp", "empty SDP")
    if len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise SignallingError("bad_sdp", f"SDP longer than {MAX_SDP_BYTES} bytes")
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    if not lines or lines[0] != "v=0":
        raise SignallingError("bad_sdp", "SDP must start with v=0")
    bad = next((line for line in lines if not _LINE.match(line)), None)
    if bad is not None:
        raise SignallingError("bad_sdp", f"malformed SDP line: {bad[:60]!r}")
    if not any(line.startswith("o=") for line in lines) or not any(line.startswith("s=") for line in lines):
        raise SignallingError("bad_sdp", "SDP lacks o= or s=")
    try:
        return SessionDescription.parse(sdp)
    except Exception as exc:  # noqa: BLE001 - aiortc's parser raises whatever int()/split() raise
        raise SignallingError("bad_sdp", f"SDP does not parse: {exc}") from None


def validate_offer(sdp: str, sdp_type: str = "offer") -> None:
    """Refuse anything but a plausible WebRTC offer with exactly one video m-line
    that sends. Raises SignallingError(bad_sdp / no_video)."""
    parsed = parse_offer(sdp, sdp_type)
    kinds = [media.kind for media in parsed.media]
    if "video" not in kinds:
        raise SignallingError("no_video", "the offer has no video m-line" + (f" (only {', '.join(kinds)})" if kinds else ""))
    if len(kinds) != 1:
        raise SignallingError("bad_sdp", f"exactly one video m-line expected, got {', '.join(kinds)}")
    media = parsed.media[0]
    if media.direction not in (None, "sendonly", "sendrecv"):
        raise SignallingError("bad_sdp", f"the video m-line does not send ({media.direction})")
    if not media.ice or not media.ice.usernameFragment or not media.ice.password:
        raise SignallingError("bad_sdp", "missing ICE credentials")
    if not media.dtls or not media.dtls.fingerprints:
        raise SignallingError("bad_sdp", "missing DTLS fingerprint")
    # JSEP: an offer always says setup:actpass; active/passive mark an answer.
    if media.dtls.role != "auto":
        raise SignallingError("bad_sdp", "this is not an offer (a=setup must be actpass)")
    codecs = {codec.mimeType.lower() for codec in media.rtp.codecs}
    if not codecs & {"video/vp8", "video/h264"}:
        raise SignallingError("bad_sdp", "the offer has no VP8 or H264 codec")


def parse_candidate(candidate: dict):
    """A browser's RTCIceCandidateInit dict -> aiortc RTCIceCandidate, or None for
    end-of-candidates. Raises SignallingError(bad_candidate)."""
    from aiortc.sdp import candidate_from_sdp

    if not isinstance(candidate, dict):
        raise SignallingError("bad_candidate", "candidate must be an object")
    text = candidate.get("candidate")
    mid = candidate.get("sdpMid")
    index = candidate.get("sdpMLineIndex")
    if not isinstance(text, str) or len(text) > MAX_CANDIDATE_CHARS:
        raise SignallingError("bad_candidate", "candidate must be a string of reasonable length")
    if mid is not None and not isinstance(mid, str):
        raise SignallingError("bad_candidate", "sdpMid must be a string")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
        raise SignallingError("bad_candidate", "sdpMLineIndex must be a non-negative integer")
    text = text.strip()
    text = text.removeprefix("a=")
    text = text.removeprefix("candidate:")
    if not text:
        return None
    try:
        parsed = candidate_from_sdp(text)
    except Exception:  # noqa: BLE001 - candidate_from_sdp asserts, indexes and int()s
        raise SignallingError("bad_candidate", f"candidate does not parse: {text[:60]!r}") from None
    if parsed.protocol.lower() not in ("udp", "tcp") or parsed.type not in ("host", "srflx", "prflx", "relay"):
        raise SignallingError("bad_candidate", "unknown protocol or candidate type")
    if not (0 < parsed.port < 65536) or not (1 <= parsed.component <= 2):
        raise SignallingError("bad_candidate", "port or component out of range")
    if not parsed.ip.endswith(".local"):  # browsers hide host addresses behind mDNS names
        try:
            ipaddress.ip_address(parsed.ip)
        except ValueError:
            raise SignallingError("bad_candidate", f"bad address {parsed.ip[:60]!r}") from None
    if mid is None and index is None:
        index = 0
    parsed.sdpMid = mid
    parsed.sdpMLineIndex = index
    return parsed


def _ice_servers(config: RtcConfig):
    from aiortc import RTCIceServer
    servers = []
    for entry in config.ice_servers:
        urls = entry.get("urls")
        if not urls:
            raise ValueError(f"ICE server without urls: {entry!r}")
        servers.append(RTCIceServer(urls=urls, username=entry.get("username"), credential=entry.get("credential")))
    return servers


# ---------------------------------------------------------------- the engine
class _Stream:
    def __init__(self, stream_id: str, pc):
        self.id = stream_id
        self.pc = pc
        self.state = "new"
        self.task: asyncio.Task | None = None
        self.watchdog: asyncio.Task | None = None
        self.frames = 0
        self.samples = 0
        self.dropped = 0
        self.last_frame_at: float | None = None
        self.next_due = 0.0          # loop clock
        self.burst_until = 0.0       # loop clock
        self.size: tuple[int, int] | None = None  # (width, height) of the last frame
        self.opened_at = time.time()

    def info(self) -> dict:
        return {"stream_id": self.id, "state": self.state, "frames": self.frames, "samples": self.samples,
                "dropped": self.dropped, "last_frame_at": self.last_frame_at, "opened_at": self.opened_at,
                "size": self.size}


class MediaEngine(LoopOwner):
    """Synchronous facade over the engine's event loop. Thread-safe."""

    def __init__(self, config: RtcConfig, on_sample: SampleCallback, on_state: StateCallback | None = None):
        self.config = config
        self.on_sample = on_sample
        self.on_state = on_state
        LoopOwner.__init__(self)
        self._streams: dict[str, _Stream] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._notify: concurrent.futures.ThreadPoolExecutor | None = None
        self._slots: threading.BoundedSemaphore | None = None
        self._lock = threading.Lock()   # guards the counters below, which workers also touch
        self._frames = 0
        self._samples_taken = 0
        self._samples_delivered = 0
        self._samples_dropped = 0
        self._sample_errors = 0
        self._lag_last = 0.0
        self._lag_max = 0.0
        self._lag_task: asyncio.Task | None = None
        self._ice_servers = _ice_servers(config)

    # ----- lifecycle
    def start(self) -> MediaEngine:
        if self._thread is not None:
            raise RuntimeError("engine already started")
        self._pool = concurrent.futures.ThreadPoolExecutor(self.config.workers, thread_name_prefix="rtc-sample")
        self._notify = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rtc-state")
        self._slots = threading.BoundedSemaphore(self.config.workers + self.config.queue_limit)
        self._start_loop("rtc-loop")
        self._call(self._start_lag_probe())
        return self

    def shutdown(self, timeout: float = 10.0) -> None:
        """Close every stream, stop the loop and the pools. Idempotent."""
        if self._stop_loop(self._shutdown(), timeout):
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._notify.shutdown(wait=True)

    def _not_running(self) -> Exception:
        return SignallingError("not_running", "the media engine is not running")

    def _timed_out(self) -> Exception:
        return SignallingError("timeout", "the media engine did not answer in time")

    # ----- facade
    def open_ingest(self, stream_id: str, offer_sdp: str, sdp_type: str = "offer") -> str:
        """Accept a client's offer for one camera stream; return the answer SDP
        (with all of the server's candidates in it)."""
        _check_stream_id(stream_id)
        validate_offer(offer_sdp, sdp_type)
        return self._call(self._open(stream_id, offer_sdp))

    def add_ice_candidate(self, stream_id: str, candidate: dict) -> None:
        """A trickled remote candidate (RTCIceCandidateInit dict); an empty
        ``candidate`` string means end-of-candidates."""
        _check_stream_id(stream_id)
        parsed = parse_candidate(candidate)
        self._call(self._add_candidate(stream_id, parsed))

    def submit_work(self, fn, *args) -> concurrent.futures.Future:
        """Run `fn(*args)` on the sample worker pool (e.g. to load models on every worker
        thread before streams arrive). Not counted against the sample queue."""
        if self._pool is None:
            raise SignallingError("not_running", "the engine is not running")
        return self._pool.submit(fn, *args)

    def set_burst(self, stream_id: str, seconds: float) -> None:
        """Sample at burst_fps for the next ``seconds`` (liveness challenges)."""
        if not (0 <= seconds <= 600):
            raise ValueError("burst seconds must be within [0, 600]")
        self._call(self._set_burst(stream_id, float(seconds)))

    def close(self, stream_id: str) -> None:
        self._call(self._close(stream_id, "closed"))

    def streams(self) -> list[dict]:
        return self._call(self._streams_info())

    def state(self, stream_id: str) -> str:
        return self._call(self._state(stream_id))

    def stats(self) -> dict:
        per_stream = self._call(self._streams_info()) if self.running else []
        with self._lock:
            return {
                "streams": len(per_stream),
                "connected": sum(1 for s in per_stream if s["state"] == "connected"),
                "frames_received": self._frames,
                "samples_taken": self._samples_taken,
                "samples_delivered": self._samples_delivered,
                "samples_dropped": self._samples_dropped,
                "sample_errors": self._sample_errors,
                "loop_lag_s": self._lag_last,
                "loop_lag_max_s": self._lag_max,
                "per_stream": per_stream,
            }

    # ----- on the loop
    async def _start_lag_probe(self) -> None:
        self._lag_task = asyncio.ensure_future(self._lag_probe())

    async def _lag_probe(self, period: float = 0.1) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(period)
            lag = max(0.0, loop.time() - before - period)
            self._lag_last = lag
            self._lag_max = max(self._lag_max, lag)

    def _get(self, stream_id: str) -> _Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise SignallingError("unknown_stream", f"no stream {stream_id!r}")
        return stream

    async def _open(self, stream_id: str, offer_sdp: str) -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        if stream_id in self._streams:
            raise SignallingError("exists", f"stream {stream_id!r} is already open")
        if len(self._streams) >= self.config.max_streams:
            raise SignallingError("too_many_streams", f"at most {self.config.max_streams} streams")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self._ice_servers)))
        stream = _Stream(stream_id, pc)
        self._streams[stream_id] = stream  # reserve the slot while we negotiate

        @pc.on("track")
        def on_track(track):
            if track.kind == "video" and stream.task is None:
                stream.task = asyncio.ensure_future(self._consume(stream, track))

        @pc.on("connectionstatechange")
        async def on_change():
            state = pc.connectionState
            if self._streams.get(stream_id) is not stream:
                return
            self._set_state(stream, state)
            if state in ("failed", "closed"):
                await self._close(stream_id, state)

        try:
            pc.addTransceiver("video", direction="recvonly")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)  # gathers every candidate before returning
        except Exception as exc:  # noqa: BLE001 - any negotiation error refuses the offer
            self._streams.pop(stream_id, None)
            await pc.close()
            raise SignallingError("bad_sdp", f"negotiation failed: {exc}") from None
        if stream.state == "new":
            self._set_state(stream, "connecting")
        stream.watchdog = asyncio.ensure_future(self._connect_watchdog(stream))
        return pc.localDescription.sdp

    async def _connect_watchdog(self, stream: _Stream) -> None:
        """aioice waits for remote candidates without end: a client that never
        completes ICE must not hold a slot forever."""
        await asyncio.sleep(self.config.connect_timeout_s)
        if self._streams.get(stream.id) is stream and stream.state != "connected":
            self._set_state(stream, "failed")
            await self._close(stream.id, "failed")

    async def _consume(self, stream: _Stream, track) -> None:
        from aiortc.mediastreams import MediaStreamError

        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                now = loop.time()
                stream.frames += 1
                stream.last_frame_at = time.time()
                self._frames += 1
                fps = self.config.burst_fps if now < stream.burst_until else self.config.sample_fps
                interval = 1.0 / fps
                # A frame up to a quarter interval early is taken: a camera sending at the sample
                # rate itself (the browser's baseline) jitters around the due times, and a strict
                # cut would skip every other frame. The cadence below still keeps the samples'
                # average at or under the rate.
                if now + SAMPLE_EARLY_SHARE * interval < stream.next_due:
                    continue  # not sampled: the decoded frame is just dropped
                # Keep a steady cadence; after a gap, restart from now.
                stream.next_due = stream.next_due + interval if now - stream.next_due < interval else now + interval
                stream.size = (frame.width, frame.height)
                self._submit(stream, stream.last_frame_at, frame)
        except MediaStreamError:
            pass  # the remote track ended
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("rtc engine: stream %s consumer failed", stream.id)

    def _submit(self, stream: _Stream, at: float, frame) -> None:
        self._samples_taken += 1
        if not self._slots.acquire(blocking=False):
            stream.dropped += 1
            with self._lock:
                self._samples_dropped += 1
            return
        stream.samples += 1
        try:
            self._pool.submit(self._deliver, stream.id, at, frame)
        except RuntimeError:  # pool shut down
            self._slots.release()

    def _deliver(self, stream_id: str, at: float, frame) -> None:
        """In a worker thread: convert and hand over."""
        try:
            rgb = frame.to_ndarray(format="rgb24")
            self.on_sample(stream_id, at, rgb)
            with self._lock:
                self._samples_delivered += 1
        except Exception:
            with self._lock:
                self._sample_errors += 1
            logger.exception("rtc engine: on_sample failed for %s", stream_id)
        finally:
            self._slots.release()

    def _set_state(self, stream: _Stream, state: str) -> None:
        if state == stream.state:
            return
        stream.state = state
        if self.on_state is not None:
            self._notify.submit(self._notify_state, stream.id, state)

    def _notify_state(self, stream_id: str, state: str) -> None:
        try:
            self.on_state(stream_id, state)
        except Exception:
            logger.exception("rtc engine: on_state failed for %s", stream_id)

    async def _add_candidate(self, stream_id: str, candidate) -> None:
        stream = self._get(stream_id)
        if candidate is not None and candidate.sdpMid is not None:
            mids = {t.mid for t in stream.pc.getTransceivers()}
            if candidate.sdpMid not in mids:
                raise SignallingError("bad_candidate", f"unknown sdpMid {candidate.sdpMid!r}")
        try:
            await stream.pc.addIceCandidate(candidate)
        except Exception as exc:  # noqa: BLE001 - aiortc raises ValueError or asserts
            raise SignallingError("bad_candidate", f"candidate refused: {exc}") from None

    async def _set_burst(self, stream_id: str, seconds: float) -> None:
        stream = self._get(stream_id)
        now = asyncio.get_running_loop().time()
        stream.burst_until = now + seconds
        stream.next_due = min(stream.next_due, now)  # the first burst sample is the next frame

    async def _close(self, stream_id: str, final_state: str) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            if final_state == "closed":
                raise SignallingError("unknown_stream", f"no stream {stream_id!r}")
            return
        for task in (stream.task, stream.watchdog):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        try:
            await stream.pc.close()
        except Exception:
            logger.exception("rtc engine: closing %s", stream_id)
        self._set_state(stream, final_state)

    async def _streams_info(self) -> list[dict]:
        return [stream.info() for stream in self._streams.values()]

    async def _state(self, stream_id: str) -> str:
        return self._get(stream_id).state

    async def _shutdown(self) -> None:
        for stream_id in list(self._streams):
            await self._close(stream_id, "closed")
        if self._lag_task is not None:
            self._lag_task.cancel()


def _check_stream_id(stream_id: str) -> None:
    if not isinstance(stream_id, str) or not stream_id or len(stream_id) > MAX_STREAM_ID_CHARS:
        raise SignallingError("bad_stream_id", "stream id must be a non-empty string of at most 128 characters")
