"""Driving a session from another thread (the operator's console, ``console.py``): a command queue
the run loop polls once per frame, and the state the run loop publishes for the console to show.

Only the run loop (the main thread: Panda3D's task loop, or the ``--fast`` loop) touches the scene;
other threads only ``send`` commands and read ``state()`` copies, so nothing is shared but a queue and
a dict behind a lock. The emergency stop also sets an event, so it is honoured wherever the loop is.

Phases (``state()["phase"]``) and the commands each takes (``ALLOWED``):

    idle -> checked_in -> before (questionnaire) -> ready (waits for start) -> running <-> paused
         -> after (questionnaire) -> quiz -> posting -> done (-> idle, the next learner)

``stop`` in ``before``/``ready`` cancels the session (no scene ran, nothing is posted); in
``running``/``paused``/``after`` it ends the scene at once and the session is posted as stopped
(never credited).
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any

START, PAUSE, RESUME, STOP, ANSWER = "start", "pause", "resume", "stop", "answer"
COMMANDS = (START, PAUSE, RESUME, STOP, ANSWER)

ALLOWED: dict[str, frozenset[str]] = {
    "idle": frozenset(),
    "checked_in": frozenset({STOP}),
    "before": frozenset({STOP, ANSWER}),
    "ready": frozenset({START, STOP}),
    "running": frozenset({PAUSE, STOP}),
    "paused": frozenset({RESUME, STOP}),
    "after": frozenset({STOP, ANSWER}),
    "quiz": frozenset(),
    "posting": frozenset(),
    "done": frozenset(),
}

PHASE_LABELS = {
    "idle": "等待签到", "checked_in": "已签到", "before": "体验前问卷", "ready": "等待开始",
    "running": "场景进行中", "paused": "已暂停", "after": "体验后问卷", "quiz": "反思小测验",
    "posting": "正在提交", "done": "已结束",
}


class SceneControl:
    def __init__(self, clock=time.time):
        self._commands: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"phase": "idle", "learner": "", "scene": "", "scene_title": "",
                                       "stage": "", "progress": 0.0, "question": "", "message": "",
                                       "result": None, "updated_at": clock()}
        self._frame: bytes | None = None
        self._clock = clock
        self.stop_requested = threading.Event()

    # --- other threads ------------------------------------------------------------------------------
    def send(self, command: str, value: Any = None) -> bool:
        """Queue a command if the current phase takes it; False (nothing queued) otherwise."""
        if command not in COMMANDS:
            return False
        with self._lock:
            if command not in ALLOWED.get(self._state["phase"], frozenset()):
                return False
            if command == STOP:
                self.stop_requested.set()
        self._commands.put((command, value))
        return True

    def state(self) -> dict[str, Any]:
        with self._lock:
            out = dict(self._state)
        out["phase_label"] = PHASE_LABELS.get(out["phase"], out["phase"])
        out["allowed"] = sorted(ALLOWED.get(out["phase"], ()))
        return out

    def frame(self) -> bytes | None:
        """The learner's view as the run loop last published it (JPEG), for the console's monitor."""
        with self._lock:
            return self._frame

    # --- the run loop -------------------------------------------------------------------------------
    def poll(self) -> list[tuple[str, Any]]:
        """Every command sent since the last poll, in order (the run loop, once per frame)."""
        out = []
        while True:
            try:
                out.append(self._commands.get_nowait())
            except queue.Empty:
                return out

    def publish(self, **fields: Any) -> None:
        with self._lock:
            if fields.get("phase") not in (None, self._state["phase"]) and fields["phase"] in ("idle", "checked_in"):
                self.stop_requested.clear()      # a new session: an old stop does not carry over
            self._state.update(fields)
            self._state["updated_at"] = self._clock()

    def set_frame(self, jpeg: bytes | None) -> None:
        with self._lock:
            self._frame = jpeg

    def wait_for_start(self, sleep=time.sleep, poll_s: float = 0.02) -> bool:
        """The ``ready`` phase outside a render loop (``--fast``): True on start, False on stop."""
        self.publish(phase="ready")
        while True:
            for command, _value in self.poll():
                if command == START:
                    return True
                if command == STOP:
                    return False
            sleep(poll_s)
