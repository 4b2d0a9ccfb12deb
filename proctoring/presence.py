"""Presence from camera samples: frames in (as face counts), presence events out.

Pure code: the frame analysis (mediapipe) turns a sampled frame into a `FaceSample`;
this state machine turns the stream of samples into the events the ledger needs:

* `present` attestations while the enrolled learner's face keeps being seen,
* `absent` once no face was seen for longer than the grace period (playback pauses,
  credit stops: the window since the last good sample is not credited),
* `multiple_faces` flags when more than one face is in view,
* `gap`: samples stopped arriving (camera covered, stream dropped) for longer than the
  grace period, which counts like absence: no credit without continuous samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class PresencePolicy:
    grace_s: float = 10.0          # no face this long -> absent
    attest_every_s: float = 30.0   # a present attestation at most this often while all is well
    min_score: float = 0.6         # detector scores below this are noise (STACK.md: short-range fires on noise)


@dataclass(frozen=True)
class FaceSample:
    at: float                      # server clock
    scores: tuple[float, ...]      # detector scores of the faces found in the frame


class Kind(str, Enum):
    PRESENT = "present"
    ABSENT = "absent"
    MULTIPLE_FACES = "multiple_faces"
    GAP = "gap"


@dataclass(frozen=True)
class PresenceEvent:
    kind: Kind
    at: float
    detail: str = ""


@dataclass
class PresenceTracker:
    """Feed it samples in time order; it returns attestations for the ledger.

    Events are in time order and never earlier than the last one returned, so the
    ledger can settle watched time up to each of them.
    """
    policy: PresencePolicy = field(default_factory=PresencePolicy)
    last_sample_at: float | None = None
    last_face_at: float | None = None      # last sample with exactly one face
    last_any_face_at: float | None = None  # last sample with any face at all
    empty_since: float | None = None       # start of the current run without a face
    last_event_at: float | None = None
    absent: bool = False
    crowded: bool = False

    def feed(self, sample: FaceSample) -> list[PresenceEvent]:
        p = self.policy
        events: list[PresenceEvent] = []
        if self.last_sample_at is not None and sample.at - self.last_sample_at > p.grace_s:
            events += self._lose(Kind.GAP, self.last_sample_at, f"no sample for {sample.at - self.last_sample_at:.1f} s")
        self.last_sample_at = sample.at
        faces = sum(1 for score in sample.scores if score >= p.min_score)
        if faces == 0:
            if self.empty_since is None:
                # The face was last seen at the previous face sample, not at this empty one.
                self.empty_since = self.last_any_face_at if self.last_any_face_at is not None else sample.at
            if sample.at - self.empty_since > p.grace_s:
                events += self._lose(Kind.ABSENT, self.empty_since, "no face")
            return events
        self.empty_since = None
        self.last_any_face_at = sample.at
        if faces > 1:
            if not self.crowded:
                # Somebody else is in view: the window up to here is not the learner's alone.
                events += self._lose(Kind.MULTIPLE_FACES, sample.at, f"{faces} faces", grace=False)
            self.crowded = True
            return events
        self.crowded = False
        due = self.last_event_at is None or sample.at - self.last_event_at >= p.attest_every_s
        if self.absent or due:
            events.append(self._event(Kind.PRESENT, sample.at, "back" if self.absent else ""))
            self.absent = False
        self.last_face_at = sample.at
        return events

    def check_silence(self, now: float) -> list[PresenceEvent]:
        """Called on a timer: samples that stop arriving are absence too."""
        if self.last_sample_at is None or now - self.last_sample_at <= self.policy.grace_s:
            return []
        return self._lose(Kind.GAP, self.last_sample_at, "samples stopped")

    def _lose(self, kind: Kind, since: float, detail: str, grace: bool = True) -> list[PresenceEvent]:
        """Presence ended at `since`: attest what was good up to the last single face, then fail."""
        if self.absent:
            return []
        events = []
        if self.last_face_at is not None and (self.last_event_at is None or self.last_face_at > self.last_event_at):
            events.append(self._event(Kind.PRESENT, self.last_face_at, ""))
        at = since + self.policy.grace_s if grace else since
        events.append(self._event(kind, max(at, self.last_event_at or at), detail))
        self.absent = True
        return events

    def _event(self, kind: Kind, at: float, detail: str) -> PresenceEvent:
        self.last_event_at = at
        return PresenceEvent(kind, at, detail)
