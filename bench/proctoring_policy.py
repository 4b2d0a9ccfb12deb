"""The camera rate policy for `python -m bench.proctoring` (mode `policy`, the default).

The browser sends what the server asks for (proctoring.camera_rate): 1 frame a second at 240
lines as a baseline, 6 frames a second from a liveness challenge's start to the end of its last
window. `PolicyTrack` does that with pre-encoded footage: a neutral stream at each rate (both as
long as the run, so no picture repeats) and the action clips at the challenge rate. It switches
rate when its stream's challenge is told (over the client process's pipe, as the page gets it
over Socket.IO) and back after the last window; each switch goes on from the next keyframe of the
other stream at the same footage time, as a browser's encoder sends a keyframe when its rate or
size changes.

Also the pinning used by that mode: the server on the first core, the load generators (clients,
the orchestrator) on the others.
"""
from __future__ import annotations

import contextlib
import math
import os
import time

WINDOW_MARGIN_S = 0.5      # the page keeps the challenge rate a little past the last window


def split_cores() -> tuple[set[int], set[int]]:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return set(cores), set(cores)
    return {cores[0]}, set(cores[1:])


def pin_self(cores) -> None:
    """Pin the calling thread; called first thing in a process, before it starts threads."""
    if cores:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, set(cores))


def add_base_footage(footage: dict, base: dict) -> dict:
    """The challenge-rate footage of make_footage with the baseline's neutral stream added."""
    return {**footage, "neutral_base": base["neutral"], "base_keyframe_every": base["keyframe_every"],
            "base_fps": base["fps"], "base_kbps": base["kbps"]}


def policy_track_class():
    from bench.proctoring_procs import SHOW_AFTER_S, challenge_track_class

    challenge_track = challenge_track_class()

    class PolicyTrack(challenge_track):
        def __init__(self, footage: dict, fps: float, seed: int, window_s: float = 4.0):
            super().__init__(footage, fps, seed)
            self.fast_fps, self.base_fps = fps, footage["base_fps"]
            self.base_packets = footage["neutral_base"]
            self.base_kf = footage["base_keyframe_every"]
            self.base_pos = 0
            self.window_s = window_s
            self.fast_until = 0.0
            self.switches = 0
            self.pacer.set_fps(self.base_fps)

        def perform(self, action: str, start: float, end: float) -> None:
            super().perform(action, start, end)
            # start = the step's start + SHOW_AFTER_S; its window ends window_s after the step's start
            with self.plan_lock:
                self.fast_until = max(self.fast_until, start - SHOW_AFTER_S + self.window_s + WINDOW_MARGIN_S)

        async def recv(self):
            want = self.fast_fps if time.time() < self.fast_until else self.base_fps
            if want != self.pacer.fps:
                self._switch(want)
            return await super().recv()

        def _switch(self, fps: float) -> None:
            self.switches += 1
            if fps == self.fast_fps:     # footage time of the baseline stream -> next challenge-rate keyframe
                at = self.base_pos / self.base_fps
                self.pos = math.ceil(at * self.fast_fps / self.keyframe_every) * self.keyframe_every
            else:
                self.showing = None
                at = self.pos / self.fast_fps
                self.base_pos = math.ceil(at * self.base_fps / self.base_kf) * self.base_kf
            self.pacer.set_fps(fps)

        def _next(self, now: float) -> bytes:
            if self.pacer.fps == self.fast_fps:
                return super()._next(now)
            if self.keyframe_asked:
                self.keyframe_asked = False
                self.keyframes_sent += 1
                self.base_pos = -(-self.base_pos // self.base_kf) * self.base_kf
            data = self.base_packets[self.base_pos % len(self.base_packets)]
            self.base_pos += 1
            return data

    return PolicyTrack
