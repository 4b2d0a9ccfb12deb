"""One live roll call: frames of the called people, analysed, into proctoring.rollcall's state
machine, and its actions out to a sink that writes each attendance row at once.

No Flask here (bench.conference drives it directly). Threads: frames arrive from the conference
room's taps on the room's worker pool; a ticker thread advances the clock (deadlines, challenge
windows) even when no frame comes. The run is not thread-safe, so every input and its actions
go through one lock; the slow part (the identity embedding, ~130 ms in the identity process)
runs outside it, and its sample is fed afterwards (the run ignores a sample that arrives after
the person was decided).

Analysis runs on `executor` (the app's warmed analysis threads: a tap worker thread would load
the landmarker on its first challenge frame, seconds in which the challenge window passes), at
most one frame per person in flight; frames that come while one is analysed are dropped.

Frame rates: nobody is sampled until called; a called person at `call_fps`; during a liveness
challenge `challenge_fps` (the challenge verifies head turns and blinks over a few frames);
nothing once decided. `set_rate(person, fps)` (0: stop) is how the shell tells the room's tap.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from proctoring.rollcall import Call, Challenge, Done, Record, RollCallRun
from proctoring.sitting import IdentitySample, Need
from proctoring.vision import thread_analyzer

log = logging.getLogger(__name__)

# identify(rgb, references) -> (proctoring.vision.IdentityResult, cpu_ms)
Identify = Callable[[np.ndarray, Sequence[np.ndarray]], tuple]
# sink(actions, last frames by person): persist and tell; called in order, under the run's lock
Sink = Callable[[list, dict], None]


class RollCallDriver:
    def __init__(self, run: RollCallRun, references: dict[Hashable, Sequence[np.ndarray]], identify: Identify,
                 sink: Sink, set_rate: Callable[[Hashable, float], None], threshold: float,
                 call_fps: float = 3.0, challenge_fps: float = 6.0, tick_s: float = 0.25,
                 clock: Callable[[], float] = time.time, executor=None):
        self.run, self.references, self.identify, self.sink = run, references, identify, sink
        self.set_rate, self.threshold = set_rate, threshold
        self.call_fps, self.challenge_fps, self.tick_s, self.clock = call_fps, challenge_fps, tick_s, clock
        self.executor = executor
        self._busy: set = set()
        self.dropped = 0
        self.frames: dict[Hashable, np.ndarray] = {}
        self.cpu_ms: list[float] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- the shell's calls -------------------------------------------------------------
    def start(self) -> RollCallDriver:
        with self._lock:
            self._emit(self.run.start(self.clock()))
        if not self.run.done:
            self._ticker = threading.Thread(target=self._tick_loop, name="rollcall-ticker", daemon=True)
            self._ticker.start()
        return self

    def end(self) -> None:
        with self._lock:
            self._emit(self.run.end(self.clock()))
        self._stop.set()

    def stop(self) -> None:
        """Stop the ticker without deciding anything (the app is shutting down)."""
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(5)

    def connect(self, person: Hashable) -> None:
        with self._lock:
            self._emit(self.run.connect(person, self.clock()))

    def disconnect(self, person: Hashable) -> None:
        with self._lock:
            self._emit(self.run.disconnect(person, self.clock()))

    @property
    def done(self) -> bool:
        return self.run.done

    def on_frame(self, person: Hashable, at: float, rgb: np.ndarray) -> None:
        """A sampled frame of `person` (on a tap worker thread)."""
        if self.executor is None:
            self._analyse(person, at, rgb)
            return
        with self._lock:
            if person in self._busy or self.run.need(person, at) is None:
                self.dropped += person in self._busy
                return
            self._busy.add(person)
        try:
            future = self.executor.submit(self._analyse, person, at, rgb)
        except RuntimeError:      # the pool is shut down: the app is stopping
            self._busy.discard(person)
            return
        future.add_done_callback(lambda _f, p=person: self._busy.discard(p))

    def _analyse(self, person: Hashable, at: float, rgb: np.ndarray) -> None:
        with self._lock:
            need = self.run.need(person, at)
            if need is None:
                return
            self.frames[person] = rgb
        analyzer = thread_analyzer()
        started = time.thread_time()
        if need is Need.IDENTITY:
            sample = self._identity_sample(person, at, rgb, analyzer)
            if sample is None:
                return
            with self._lock:
                self._emit(self.run.on_identity(person, sample))
        elif need is Need.POSE:
            faces = analyzer.pose(rgb)
            self.cpu_ms.append((time.thread_time() - started) * 1000)
            with self._lock:
                if len(faces) == 1:
                    self._emit(self.run.on_pose(person, at, 1, faces[0].eye_openness, faces[0].yaw_deg,
                                                faces[0].pitch_deg, faces[0].mouth_open))
                else:
                    self._emit(self.run.on_pose(person, at, len(faces)))
        else:   # PRESENCE: waiting for a challenge's first window; the clock is what matters
            with self._lock:
                self._emit(self.run.tick(at))

    # --- internals -----------------------------------------------------------------------
    def _identity_sample(self, person, at, rgb, analyzer) -> IdentitySample | None:
        references = self.references.get(person) or []
        if not references:
            # Nobody to compare with (no enrolment): count faces only; the run decides
            # "present, unverified" at the deadline if a face was there.
            started = time.thread_time()
            scores = analyzer.presence_scores(rgb)
            self.cpu_ms.append((time.thread_time() - started) * 1000)
            return IdentitySample(at, len(scores), scores[0] if scores else 0.0, None, None, self.threshold)
        try:
            result, cpu_ms = self.identify(rgb, references)
        except Exception:   # a dead identity worker: this frame is lost, the next one is tried
            log.exception("roll call identity check failed")
            return None
        self.cpu_ms.append(cpu_ms)
        verdict = result.verdict
        # Dated when the verdict is known, not when the frame was taken: a liveness challenge
        # starts `challenge_lead_s` after this, and the person must still get that lead to
        # read it (the embedding alone takes ~130 ms, more under load).
        at = max(at, self.clock())
        return IdentitySample(at, result.faces, result.detector_score, verdict.distance if verdict else None,
                              verdict.passed if verdict else None, self.threshold)

    def _emit(self, actions: list) -> None:
        if not actions:
            return
        for action in actions:
            try:
                if isinstance(action, Call):
                    self.set_rate(action.person, self.call_fps)
                elif isinstance(action, Challenge):
                    self.set_rate(action.person, self.challenge_fps)
                elif isinstance(action, Record):
                    self.set_rate(action.person, 0.0)
            except Exception:   # a participant without a camera: the run decides on its deadline
                log.debug("roll call: no tap for %s", getattr(action, "person", None), exc_info=True)
        try:
            self.sink(actions, self.frames)
        except Exception:
            log.exception("roll call sink failed")
        if any(isinstance(a, Done) for a in actions):
            self._stop.set()

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            with self._lock:
                self._emit(self.run.tick(self.clock()))
