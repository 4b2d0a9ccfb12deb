"""The camera checks of one study sitting: analysed samples and clock ticks in, actions out.

Pure code, one object per sitting, driven by the web layer (webapp.proctor.hub), which runs
the frame analysis the object asks for (`need`) and carries out the actions it returns:

* `Attest(at, ok, source)` goes to the watch ledger (`watched ∩ present`): an ok attestation
  credits the watched time since the previous one only when that one was ok too, so credit
  between two passed checks needs continuous presence (the presence tracker fails on gaps).
* `Hold(reason)` pauses playback until `Release`; `Flag` asks an officer to review (with the
  frame as evidence); `Challenge` shows a liveness challenge; `Burst` raises the sampling rate;
  `Verdict` is the record of a check (kept with its scores whether passed or not). `camera(now)`
  says what frame rate the browser should send (proctoring.camera_rate: raised while a challenge
  runs); the web layer tells the browser when it changes.

Rules:
* Credit is bracketed by identity: only a passed identity check (with its liveness challenge
  where one was drawn) attests "present"; presence alone keeps watched time pending. A failed
  identity or liveness check attests a failure, which drops everything since the last pass.
* Liveness first: the first check of a sitting carries a liveness challenge, and so does every
  check after a failure or a hold of any kind (a re-check, a face coming back). Nothing counts
  before the first one passes (hold "unverified").
* A gap is not a failure: no face beyond the grace period, or samples that stop, hold playback
  ("absent") without attesting; the time before the gap stays pending and the check run when a
  face is back settles it (credited if the enrolled, live person passes, dropped if not).
* Identity checks come at server-drawn random times (proctoring.policy): a distance beyond the
  threshold fails, flags "identity_mismatch" and holds until a re-check passes. A share of the
  scheduled checks carries a liveness challenge too; failing one flags "liveness_failed".
* A challenge that is pending when the face leaves, several faces appear or the learner
  finishes counts as failed.
* Several faces in view for a whole check fail it and flag "multiple_faces".
* Finishing runs a final identity check (`finish`): the tail is credited only if it passes.
* A failure from outside (a wrong or missed surprise question) holds until a re-check passes.
* A frozen or looped feed (proctoring.feed, `on_feed`) fails presence with its own flag kind
  ("frozen_feed", "looped_feed") and holds ("feed") until a re-check with liveness passes. A
  frozen picture counts only while a face is in view: an empty room seen by a clean camera is
  still too, and that is absence.
* Failures belong to the learner, not the sitting (`Standing`, kept by the web layer): failed
  checks in a row make the next check wait (`recheck_backoff_s`, doubling), a new sitting starts
  with the learner's count and wait, and after `block_after` failures in a row the learner is
  held for an officer's review ("review": no more checks until an officer clears the hold or
  re-enrols the face). Gaps (nobody there) are not failures. A passed check clears the count.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Sequence

from .camera_rate import CameraRate, CameraRatePolicy, camera_rate
from .liveness import Action, LivenessPolicy, PoseSample, draw_challenge, draw_leads, verify
from .policy import IdentityPolicy, identity_check_delay, with_liveness
from .presence import FaceSample, Kind, PresencePolicy, PresenceTracker
from .track import FaceTrack, TrackPolicy


@dataclass(frozen=True)
class CheckPolicy:
    presence: PresencePolicy = field(default_factory=PresencePolicy)
    identity: IdentityPolicy = field(default_factory=IdentityPolicy)
    liveness: LivenessPolicy = field(default_factory=LivenessPolicy)
    track: TrackPolicy = field(default_factory=TrackPolicy)
    check_timeout_s: float = 15.0      # no single face this long after a check starts: it fails
    recheck_backoff_s: float = 10.0    # after a failed re-check, the next waits this long, doubling ...
    recheck_backoff_max_s: float = 300.0   # ... up to this
    challenge_lead_s: float = 1.5      # from sending a challenge to its first window (display latency)
    block_after: int = 6               # failed checks in a row (across sittings): held for an officer
    camera: CameraRatePolicy = field(default_factory=CameraRatePolicy)   # what the browser sends, when

    def backoff(self, failures: int) -> float:
        """The wait before the next check after `failures` failed checks in a row: none after
        the first (a re-check at once), then recheck_backoff_s doubling up to the maximum."""
        if failures <= 1:
            return 0.0
        return min(self.recheck_backoff_s * 2 ** (failures - 2), self.recheck_backoff_max_s)


class Need(str, Enum):
    """What the next sampled frame must be analysed for."""
    PRESENCE = "presence"   # face detector only (cheap)
    IDENTITY = "identity"   # detector + embedding
    POSE = "pose"           # landmarks + blendshapes (liveness)


@dataclass(frozen=True)
class Attest:
    at: float
    ok: bool
    source: str
    detail: str = ""


@dataclass(frozen=True)
class Hold:
    reason: str


@dataclass(frozen=True)
class Release:
    at: float


@dataclass(frozen=True)
class Flag:
    kind: str
    at: float
    scores: dict


@dataclass(frozen=True)
class Verdict:
    kind: str            # presence | identity | liveness
    triggered_at: float
    at: float
    passed: bool
    reason: str
    scores: dict


@dataclass(frozen=True)
class Challenge:
    actions: tuple[Action, ...]
    starts_at: float
    window_s: float
    step_starts: tuple[float, ...] = ()   # each step's window start (random leads between them)


@dataclass(frozen=True)
class Finished:
    """The final check after finish is decided (or there was nothing to check): the tail is
    credited when `passed`."""
    at: float
    passed: bool


@dataclass(frozen=True)
class Burst:
    until: float


@dataclass(frozen=True)
class Standing:
    """The learner's failures in a row changed: the web layer keeps them for the next sitting."""
    failures: int
    not_before: float       # no check before this time (epoch s; 0: none)
    blocked: bool           # held for an officer's review


@dataclass(frozen=True)
class ResetFeed:
    """A hold for a frozen or looped feed was released by a live check: its evidence starts anew."""
    at: float


@dataclass(frozen=True)
class IdentitySample:
    """What the analysis found in one frame for an identity check."""
    at: float
    faces: int
    detector_score: float = 0.0
    distance: float | None = None     # to the nearest reference, when exactly one face
    passed: bool | None = None        # distance within the threshold
    threshold: float | None = None
    box: tuple | None = None          # (x, y, w, h) of the one face, for the face track
    signature: object = None          # its appearance (proctoring.track.appearance)


@dataclass
class _Check:
    index: int
    triggered_at: float
    liveness: bool
    recheck: bool
    trigger: str = ""                 # why it runs now, when not scheduled (a broken face track)
    phase: str = "identity"           # identity -> challenge
    last: IdentitySample | None = None
    identity_scores: dict = field(default_factory=dict)
    actions: tuple[Action, ...] = ()
    shown_at: tuple[float, ...] = ()
    poses: list[PoseSample] = field(default_factory=list)


@dataclass
class SittingChecks:
    secret: bytes
    sitting_key: str
    started_at: float
    policy: CheckPolicy = field(default_factory=CheckPolicy)
    hold: str | None = "unverified"
    next_index: int = 0
    next_check_at: float | None = None
    check: _Check | None = None
    crowded: bool = False
    finishing: bool = False     # the learner clicked finish: the final check is running
    failures: int = 0           # failed checks in a row, this sitting's and earlier ones' (Standing)
    recheck_not_before: float = 0.0
    done: bool = False          # finished: nothing more will be attested
    tracker: PresenceTracker = field(init=False)
    track: FaceTrack = field(init=False)

    def __post_init__(self):
        self.tracker = PresenceTracker(self.policy.presence)
        self.track = FaceTrack(self.policy.track)
        if self.blocked:
            self.hold = "review"
        elif self.started_at >= self.recheck_not_before:
            # The first identity check runs at once, with a liveness challenge: nothing counts
            # before it passes. (After earlier failures it waits for the back-off: `_due`.)
            self.check = self._new_check(self.started_at, recheck=False, liveness=True)

    @property
    def blocked(self) -> bool:
        return self.failures >= self.policy.block_after

    # --- what to analyse ---------------------------------------------------------------

    def need(self, at: float) -> Need:
        if self.check is None:
            return Need.PRESENCE
        if self.check.phase == "challenge" and at >= self.check.shown_at[0]:
            return Need.POSE
        return Need.IDENTITY if self.check.phase == "identity" else Need.PRESENCE

    def camera(self, now: float) -> CameraRate:
        """The frame rate and height the browser should send now (proctoring.camera_rate): raised
        from a challenge's identity pass to the end of its last window, else the baseline."""
        check = self.check
        running = check is not None and check.phase == "challenge" and bool(check.shown_at)
        until = check.shown_at[-1] + self.policy.liveness.window_s if running else None
        return camera_rate(self.policy.camera, now, until, running)

    # --- inputs ----------------------------------------------------------------------------

    def on_presence(self, at: float, scores: Sequence[float], box: tuple | None = None,
                    signature=None) -> list:
        broke = self.track.observe(len(scores), box, signature)
        out = self._presence(FaceSample(at, tuple(scores)))
        return out + self._track_break(at, broke) + self._due(at)

    def on_identity(self, sample: IdentitySample) -> list:
        broke = self.track.observe(sample.faces, sample.box, sample.signature)
        out = self._presence(FaceSample(sample.at, (sample.detector_score,) * sample.faces))
        out += self._track_break(sample.at, broke)
        check = self.check
        if check is None or check.phase != "identity":
            return out + self._due(sample.at)
        check.last = sample
        if sample.faces != 1 or sample.distance is None:
            return out + self._due(sample.at)   # wait for a usable frame until the timeout
        check.identity_scores = {"distance": round(sample.distance, 4), "threshold": sample.threshold,
                                 "detector_score": round(sample.detector_score, 3)}
        if check.trigger:
            check.identity_scores["trigger"] = check.trigger
        if not sample.passed:
            return out + self._fail(sample.at, "identity", "identity_mismatch", "distance above threshold",
                                    check.identity_scores)
        if not check.liveness:
            return out + self._pass(sample.at, "identity", check.identity_scores)
        out.append(Verdict("identity", check.triggered_at, sample.at, True, "ok", check.identity_scores))
        check.actions = draw_challenge(self.secret, self.sitting_key, check.index,
                                       pool=self.policy.liveness.actions)
        window = self.policy.liveness.window_s
        leads = draw_leads(self.secret, self.sitting_key, check.index, len(check.actions), self.policy.liveness)
        starts, at = [], sample.at + self.policy.challenge_lead_s
        for lead in leads:
            at += lead
            starts.append(at)
            at += window
        check.shown_at = tuple(starts)
        check.phase = "challenge"
        end = check.shown_at[-1] + window
        return out + [Challenge(check.actions, check.shown_at[0], window, check.shown_at), Burst(until=end)]

    def on_pose(self, at: float, faces: int, eye_openness: float | None = None, yaw_deg: float | None = None,
                detector_score: float = 1.0, pitch_deg: float = 0.0, mouth_open: float = 0.0) -> list:
        out = self._presence(FaceSample(at, (detector_score,) * faces))
        if self.check is not None and self.check.phase == "challenge" and faces == 1:
            self.check.poses.append(PoseSample(at, eye_openness, yaw_deg, pitch_deg, mouth_open))
        return out + self._due(at)

    def tick(self, now: float) -> list:
        out = []
        for event in self.tracker.check_silence(now):
            out += self._presence_event(event)
        return out + self._due(now)

    def request_recheck(self, now: float) -> list:
        """The learner asks to be verified again after a failure."""
        if self.hold in (None, "absent", "no_face", "review", "unverified") or (
                self.check is not None and self.check.recheck):
            return []
        if now < self.recheck_not_before:
            return []      # backing off: recheck_wait says how long
        self.check = self._new_check(now, recheck=True, liveness=True)
        return []

    def recheck_wait(self, now: float) -> float:
        """Seconds until a re-check may be asked for (0: now)."""
        return max(0.0, self.recheck_not_before - now)

    def finish(self, now: float) -> list:
        """The learner clicked finish. A pending challenge fails; otherwise a final identity
        check runs and its verdict settles the tail (`done` once it has)."""
        if self.done or self.finishing:
            return []
        check = self.check
        if check is not None and check.phase == "challenge":
            self.finishing = True
            return self._fail(now, "liveness", "liveness_failed", "finished during the challenge",
                              {**check.identity_scores, "challenge": [a.value for a in check.actions]})
        if self.hold is not None:
            self.finishing = self.done = True     # held: nothing pending can be credited now
            return [Finished(now, False)]
        self.finishing = True
        if check is None:
            self.check = self._new_check(now, recheck=False, liveness=False, final=True)
        return []

    def on_feed(self, verdict) -> list:
        """A frozen or looped feed was found (a proctoring.feed.FeedVerdict)."""
        if self.done:
            return []
        at = verdict.at
        seen = self.tracker.last_any_face_at
        if verdict.kind == "frozen_feed" and (seen is None or at - seen > 3.0):
            return []      # an empty room is still too: that is absence, handled by presence
        check, self.check = self.check, None
        scores = {**verdict.scores, "since": round(verdict.since, 3)}
        if check is not None and check.phase == "challenge":
            scores["challenge"] = [a.value for a in check.actions]
        self._schedule_next(at)
        held_before = self.hold
        out = [Verdict("presence", verdict.since, at, False, verdict.kind, scores),
               Flag(verdict.kind, at, {**scores, "reason": verdict.kind})]
        out += self._count_failure(at)
        if self.hold != "review":
            self.hold = "feed"
        if held_before in (None, "absent", "no_face"):
            out.append(Attest(at, False, "feed", verdict.kind))
        if self.finishing:
            self.done = True
            out.append(Finished(at, False))
        elif held_before != self.hold:
            out.append(Hold(self.hold))
        return out

    def external_failure(self, at: float, reason: str) -> list:
        """A failure the web layer found (a surprise question), already attested by it."""
        if self.hold is None:
            self.hold = reason
            return [Hold(reason)]
        return []

    # --- internals ---------------------------------------------------------------------

    def _track_break(self, at: float, reason: str | None) -> list:
        """The face track broke while all was well: an identity check at once."""
        if reason is None or self.hold is not None or self.check is not None or self.finishing:
            return []
        self.check = self._new_check(at, recheck=False, liveness=False)
        self.check.trigger = reason
        return []

    def _new_check(self, now: float, recheck: bool, liveness: bool, final: bool = False) -> _Check:
        index = self.next_index
        self.next_index += 1
        if not recheck and not liveness and not final and index > 0:
            liveness = with_liveness(self.secret, self.sitting_key, index, self.policy.identity)
        return _Check(index=index, triggered_at=now, liveness=liveness, recheck=recheck)

    def _schedule_next(self, now: float) -> None:
        self.next_check_at = now + identity_check_delay(self.secret, self.sitting_key, self.next_index,
                                                        self.policy.identity)

    def _due(self, now: float) -> list:
        check = self.check
        if check is None:
            if self.finishing:
                return []
            if self.hold == "unverified" and now >= self.recheck_not_before:
                # the first check of a sitting that started during the learner's back-off
                self.check = self._new_check(now, recheck=False, liveness=True)
                return []
            if self.hold is None and self.next_check_at is not None and now >= self.next_check_at:
                self.check = self._new_check(now, recheck=False, liveness=False)
            return []
        if check.phase == "identity" and now - check.triggered_at > self.policy.check_timeout_s:
            last = check.last
            several = last is not None and last.faces > 1
            reason = "several faces" if several else "no face"
            scores = {"faces": last.faces if last else 0}
            # Nobody there is absence, not a suspected proxy: no flag, and the check repeats by
            # itself once a face is back (hold "no_face"). Several faces are flagged.
            return self._fail(now, "identity", "multiple_faces" if several else None, reason, scores,
                              hold=None if several else "no_face", attest=several)
        if check.phase == "challenge" and now >= check.shown_at[-1] + self.policy.liveness.window_s:
            result = verify(check.actions, check.shown_at, check.poses, self.policy.liveness)
            scores = {**check.identity_scores, "challenge": [a.value for a in check.actions],
                      "steps": [{"action": s.action.value, "passed": s.passed, "reason": s.reason}
                                for s in result.steps], "samples": len(check.poses)}
            if result.passed:
                return self._pass(now, "liveness", scores)
            return self._fail(now, "liveness", "liveness_failed", result.reason, scores)
        return []

    def _pass(self, at: float, kind: str, scores: dict) -> list:
        check = self.check
        self.check = None
        self._schedule_next(at)
        self.track.verified()
        out = [Verdict(kind, check.triggered_at, at, True, "ok", scores)]
        if self.failures or self.recheck_not_before:
            self.failures, self.recheck_not_before = 0, 0.0
            out.append(Standing(0, 0.0, False))
        if self.hold == "feed":
            out.append(ResetFeed(at))
        if self.finishing:
            self.done = True
            if self.hold is not None:
                return out + [Finished(at, False)]
            return out + [Attest(at, True, kind), Finished(at, True)]
        if self.hold in (None, "unverified") or check.recheck:
            if self.tracker.absent:
                # Verified, but the presence run is broken: the face coming back resumes.
                if self.hold != "absent":
                    self.hold = "absent"
                    out.append(Hold("absent"))
                return out
            was_held = self.hold is not None
            self.hold = None
            out.append(Attest(at, True, kind))
            if was_held:
                out.append(Release(at))
        return out

    def _fail(self, at: float, kind: str, flag: str | None, reason: str, scores: dict,
              hold: str | None = None, attest: bool = True) -> list:
        """`attest=False`: nobody was there (a gap, not a failure): the pending time waits for
        the check run when a face is back."""
        check = self.check
        self.check = None
        self._schedule_next(at)
        out: list = [Verdict(kind, check.triggered_at, at, False, reason, scores)]
        if flag:
            out.append(Flag(flag, at, {**scores, "reason": reason}))
        if self.finishing:
            self.done = True
        held_before = self.hold
        if flag:
            out += self._count_failure(at)     # a gap (nobody there) is not a failure
        if self.hold == "review":
            pass
        elif held_before in (None, "absent", "unverified", "no_face") or check.recheck:
            self.hold = hold or kind
        if attest and held_before in (None, "absent", "no_face"):
            out.append(Attest(at, False, kind, reason))
        if held_before != self.hold and not self.finishing:
            out.append(Hold(self.hold))
        if self.finishing:
            out.append(Finished(at, False))
        return out

    def _count_failure(self, at: float) -> list:
        self.failures += 1
        self.recheck_not_before = at + self.policy.backoff(self.failures)
        if self.blocked:
            self.hold = "review"
        return [Standing(self.failures, self.recheck_not_before, self.blocked)]

    def _presence(self, sample: FaceSample) -> list:
        out = []
        for event in self.tracker.feed(sample):
            out += self._presence_event(event)
        return out

    def _presence_event(self, event) -> list:
        scores = {"detail": event.detail}
        if event.kind is Kind.PRESENT:
            # Presence alone attests nothing: only an identity check settles pending time.
            out = [Verdict("presence", event.at, event.at, True, event.detail or "ok", scores)]
            if self.finishing:
                return out
            if self.hold in ("no_face", "absent") and (self.check is None or not self.check.recheck):
                # A face is back after a gap (or after several faces): is it the enrolled, live
                # learner? Playback stays held until this check passes.
                self.check = self._new_check(event.at, recheck=True, liveness=True)
                self.crowded = False
            return out
        reason = event.kind.value
        out = [Verdict("presence", event.at, event.at, False, reason, scores)]
        if event.kind is Kind.MULTIPLE_FACES:
            self.crowded = True
            out.append(Flag("multiple_faces", event.at, scores))
        if self.check is not None and self.check.phase == "challenge":
            # Leaving the picture (or letting someone in) does not dodge a challenge.
            out += self._fail(event.at, "liveness", "liveness_failed", f"{reason} during the challenge",
                              {**self.check.identity_scores,
                               "challenge": [a.value for a in self.check.actions]})
        if self.hold is None:
            self.hold = "absent"
            out.append(Hold("absent"))
        return out
