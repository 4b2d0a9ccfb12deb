"""Camera checks of live sittings: the WebRTC engine's sampled frames, analysed, into each
sitting's check state machine, and the resulting actions out to a sink.

No Flask here (the benchmark drives it directly): `webapp.proctor.hub` gives it a sink that
persists the actions and tells the browser. Threads: frames arrive on the engine's worker pool
(never its event loop); a ticker thread advances the clocks of all sittings (absence without
frames, challenge windows, scheduled checks). Each sitting has a lock, so its actions reach the
sink in order.

Identity embeddings run in a separate worker process (`identity_processes`): dlib holds the GIL
for ~130 ms per face, which in this process would stall the WebRTC loop (bench.proctoring saw
every other thread frozen for 133-458 ms per check). The cheap detector (~2 ms) and the
landmarker (~4 ms) stay on the worker threads.
"""
from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from proctoring.camera_rate import CameraRate
from proctoring.feed import FeedMonitor, FeedPolicy
from proctoring.sitting import Burst, CheckPolicy, IdentitySample, Need, ResetFeed, SittingChecks
from proctoring.track import appearance
from proctoring.vision import IDENTITY_THRESHOLD, identify_timed, thread_analyzer, warm_up
from streaming.rtc import MediaEngine, RtcConfig, SignallingError, validate_offer

log = logging.getLogger(__name__)


@dataclass
class Sitting:
    id: str
    learner_id: int
    references: Sequence[np.ndarray]
    checks: SittingChecks
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_frame: np.ndarray | None = None
    feed: FeedMonitor | None = None          # frozen/looped feed detector (None: FEED_CHECK off)
    camera: CameraRate | None = None         # the frame rate the browser was last asked for


# A sitting whose camera sent nothing for this long is dropped from memory (the learner
# reconnecting opens a new stream anyway).
FORGET_SILENT_AFTER_S = 600.0

Sink = Callable[[Sitting, list, "np.ndarray | None"], None]


class CheckRunner:
    def __init__(self, rtc: RtcConfig, policy: CheckPolicy, secret: bytes, sink: Sink,
                 threshold: float = IDENTITY_THRESHOLD, tick_s: float = 0.5, identity_processes: int = 1,
                 feed: FeedPolicy | None = None):
        self.policy, self.secret, self.sink, self.threshold, self.tick_s = policy, secret, sink, threshold, tick_s
        self.feed_policy = feed
        self.identity_processes = identity_processes
        self._identity_pool: ProcessPoolExecutor | None = None
        self.engine = MediaEngine(rtc, self._on_sample)
        self._sittings: dict[str, Sitting] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        # CPU seconds per analysis kind (thread CPU time, so other threads' load does not count)
        self.cpu_ms: dict[str, deque] = {need.value: deque(maxlen=2000) for need in Need}

    def start(self) -> "CheckRunner":
        if self.identity_processes > 0:
            self._identity_pool = self._new_identity_pool()
        self.engine.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="proctor-ticker", daemon=True)
        self._ticker.start()
        return self

    def shutdown(self) -> None:
        self._stop.set()
        if self._ticker:
            self._ticker.join(5)
        self.engine.shutdown()
        if self._identity_pool is not None:
            # wait: the pool's manager thread is done before the interpreter's exit, whose wake-up
            # of it raced with its own closing (CPython 3.11: "OSError: Bad file descriptor" and a
            # traceback in the log at exit; tests/fuzz's exit check found it)
            self._identity_pool.shutdown(wait=True, cancel_futures=True)

    def warm(self, timeout: float = 180.0) -> None:
        """Load the models everywhere they run (seconds each) before the first stream."""
        futures = [self.engine.submit_work(warm_up) for _ in range(self.engine.config.workers)]
        if self._identity_pool is not None:
            futures.append(self._identity_pool.submit(warm_up))
        for future in futures:
            future.result(timeout)

    def _new_identity_pool(self) -> ProcessPoolExecutor:
        # spawn: a fork of this multi-threaded process (mediapipe, aiortc, Flask) is unsafe
        return ProcessPoolExecutor(self.identity_processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=warm_up)

    def identify(self, rgb, references):
        """(IdentityResult, cpu_ms) of one frame against references, in the identity process:
        also what a conference roll call uses, so the app keeps one identity worker."""
        return self._identity(rgb, references)

    def _identity(self, rgb, references):
        if self._identity_pool is None:
            started = time.thread_time()
            result = thread_analyzer().identity(rgb, references, self.threshold)
            return result, (time.thread_time() - started) * 1000
        try:
            return self._identity_pool.submit(identify_timed, rgb, list(references), self.threshold).result(60)
        except BrokenProcessPool:
            # The worker died (out of memory, killed): start another; this sample is lost, the
            # check waits for the next one (and fails on its timeout if none comes).
            log.error("identity worker process died; starting a new one")
            self._identity_pool = self._new_identity_pool()
            raise

    # --- facade for the signalling handlers -----------------------------------------------

    def open(self, sitting_id: str, learner_id: int, references: Sequence[np.ndarray], offer_sdp: str,
             failures: int = 0, not_before: float = 0.0) -> str:
        """Accept a learner's camera for a sitting: a new stream replaces an earlier one.
        `failures` and `not_before` are the learner's standing (failed checks in a row, and no
        check before then), carried over from earlier sittings."""
        if not references:
            raise SignallingError("not_enrolled", "no reference face enrolled")
        validate_offer(offer_sdp)   # a bad offer must not end the stream that is running
        self.close(sitting_id)
        checks = SittingChecks(self.secret, sitting_id, time.time(), self.policy, failures=failures,
                               recheck_not_before=not_before)
        feed = FeedMonitor(self.feed_policy) if self.feed_policy is not None else None
        # The browser starts at the rate the offer's answer tells it (webapp.proctor.sockets: the
        # same rule, the baseline); a change is sent as a CameraRate action (`_emit`).
        camera = checks.camera(time.time())
        with self._lock:
            self._sittings[sitting_id] = Sitting(sitting_id, learner_id, list(references), checks, feed=feed,
                                                 camera=camera)
        try:
            return self.engine.open_ingest(sitting_id, offer_sdp)
        except Exception:
            with self._lock:
                self._sittings.pop(sitting_id, None)
            raise

    def owner(self, sitting_id: str) -> int | None:
        sitting = self._sittings.get(sitting_id)
        return sitting.learner_id if sitting else None

    def add_candidate(self, sitting_id: str, candidate: dict) -> None:
        self.engine.add_ice_candidate(sitting_id, candidate)

    def close(self, sitting_id: str) -> None:
        with self._lock:
            existed = self._sittings.pop(sitting_id, None)
        if existed is not None:
            try:
                self.engine.close(sitting_id)
            except SignallingError:
                pass

    def finish(self, sitting_id: str, now: float | None = None) -> bool:
        """The learner clicked finish: run the final check (False: no camera for this sitting)."""
        return self._drive(sitting_id, lambda c, t: c.finish(t), now)

    def recheck(self, sitting_id: str, now: float | None = None) -> bool:
        return self._drive(sitting_id, lambda c, t: c.request_recheck(t), now)

    def external_failure(self, sitting_id: str, reason: str, now: float | None = None) -> bool:
        return self._drive(sitting_id, lambda c, t: c.external_failure(t, reason), now)

    def recheck_wait(self, sitting_id: str, now: float | None = None) -> float:
        """Seconds before a re-check may be asked for (failed re-checks back off); 0 when none."""
        sitting = self._sittings.get(sitting_id)
        return sitting.checks.recheck_wait(time.time() if now is None else now) if sitting else 0.0

    def blocked(self, sitting_id: str) -> bool:
        """Held for an officer's review (too many failed checks in a row)."""
        sitting = self._sittings.get(sitting_id)
        return bool(sitting and sitting.checks.blocked)

    def hold(self, sitting_id: str) -> str | None:
        sitting = self._sittings.get(sitting_id)
        return sitting.checks.hold if sitting else "no_camera"

    def sittings(self) -> int:
        return len(self._sittings)

    # --- internals ---------------------------------------------------------------------------

    def _drive(self, sitting_id, step, now) -> bool:
        sitting = self._sittings.get(sitting_id)
        if sitting is None:
            return False
        with sitting.lock:
            actions = step(sitting.checks, time.time() if now is None else now)
            self._emit(sitting, actions, sitting.last_frame)
        return True

    def _on_sample(self, stream_id: str, at: float, rgb: np.ndarray) -> None:
        sitting = self._sittings.get(stream_id)
        if sitting is None:
            return
        with sitting.lock:
            feed_verdict = sitting.feed.observe(at, rgb) if sitting.feed is not None else None
            need = sitting.checks.need(at)
            analyzer = thread_analyzer()
            started = time.thread_time()
            if need is Need.IDENTITY:
                try:
                    result, cpu_ms = self._identity(rgb, sitting.references)
                except BrokenProcessPool:
                    return
                self.cpu_ms[need.value].append(cpu_ms)
                verdict = result.verdict
                box = _box(result.box)
                sample = IdentitySample(at, result.faces, result.detector_score,
                                        verdict.distance if verdict else None, verdict.passed if verdict else None,
                                        self.threshold, box, appearance(rgb, box) if box else None)
                actions = sitting.checks.on_identity(sample)
            elif need is Need.POSE:
                faces = analyzer.pose(rgb)
                if len(faces) == 1:
                    face = faces[0]
                    score = face.score if face.score == face.score else 1.0   # NaN: no detector match
                    actions = sitting.checks.on_pose(at, 1, face.eye_openness, face.yaw_deg, score, face.pitch_deg,
                                                     face.mouth_open)
                else:
                    actions = sitting.checks.on_pose(at, len(faces))
            else:
                detections = analyzer.detector.detect(rgb)
                box = _box(detections[0].box) if len(detections) == 1 else None
                actions = sitting.checks.on_presence(at, tuple(d.score for d in detections), box,
                                                     appearance(rgb, box) if box else None)
            if need is not Need.IDENTITY:
                self.cpu_ms[need.value].append((time.thread_time() - started) * 1000)
            if feed_verdict is not None:     # after the analysis: it knows whether a face is in view
                actions = actions + sitting.checks.on_feed(feed_verdict)
            sitting.last_frame = rgb
            self._emit(sitting, actions, rgb)

    def _emit(self, sitting: Sitting, actions: list, frame) -> None:
        # The camera's frame rate follows the check state (proctoring.camera_rate): raised when a
        # challenge starts (with its Burst), back to the baseline when it ends (a tick).
        rate = sitting.checks.camera(time.time())
        if rate != sitting.camera:
            sitting.camera = rate
            actions = actions + [rate]
        if not actions:
            return
        for action in actions:
            if isinstance(action, Burst):
                try:
                    self.engine.set_burst(sitting.id, max(0.0, action.until - time.time()))
                except SignallingError:
                    pass
            elif isinstance(action, ResetFeed) and sitting.feed is not None:
                sitting.feed.reset_evidence()
        try:
            self.sink(sitting, actions, frame)
        except Exception:   # a failing sink must not stop the checks of other sittings
            log.exception("proctoring sink failed for sitting %s", sitting.id)
        if sitting.checks.done:
            # Finished and settled: the stream ends (not under the sitting's lock).
            threading.Thread(target=self.close, args=(sitting.id,), daemon=True).start()

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            now = time.time()
            for sitting in list(self._sittings.values()):
                with sitting.lock:
                    self._emit(sitting, sitting.checks.tick(now), sitting.last_frame)
                last = sitting.checks.tracker.last_sample_at or sitting.checks.started_at
                if now - last > max(FORGET_SILENT_AFTER_S, 2 * self.policy.presence.grace_s):
                    # A camera gone for good (its absence was attested long ago): free the slot.
                    self.close(sitting.id)


def _box(box) -> tuple | None:
    return (box.x, box.y, box.w, box.h) if box is not None else None
