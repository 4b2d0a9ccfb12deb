"""The roll call of a conference: analysed samples and clock ticks in, actions out.

Pure code, one object per roll call, driven by the web layer, which runs the frame analysis
the object asks for (`need`) and carries out the actions it returns. It reuses the camera checks
of a study sitting (proctoring.sitting): an identity check on `IdentitySample`s, then a liveness
challenge drawn from the server secret (`proctoring.liveness.draw_challenge`) and checked on
`PoseSample`s with `proctoring.liveness.verify`.

The host starts it over an ordered list of participants. The system calls them in that order,
`parallel` at a time; each called person has `answer_within_s` to answer on camera.

Actions:
* `Call(person, name, at, deadline)`: show "<name>, please look at the camera" to that person;
* `Challenge(person, actions, starts_at, window_s)`: show that person a liveness challenge;
* `Record(person, outcome, scores, at)`: one attendance row, emitted as soon as that person is
  decided (never batched at the end), to be written at once. A later `Record` for the same person
  (only `left_early`, replacing `present_verified`) updates that row;
* `Flag(person, kind, scores, at)`: a `present_unverified` outcome an officer must review; it
  comes right before its `Record`, so the row can point at the flag;
* `Done(at, counts)`: everyone is decided (or the host ended the roll call).

Outcomes (`Outcome`):
* `present_verified`: identity passed and, when asked, the liveness challenge too;
* `present_unverified`: a face was there but identity or liveness failed (or several faces,
  or no reference to compare with): recorded with the scores as evidence, and flagged;
* `absent`: no face before the deadline, or not connected when called;
* `left_early`: was verified, then disconnected before the roll call ended.

Rules:
* Identity passes on the first usable frame (exactly one face) within the threshold;
  `identity_attempts` usable frames beyond it decide `present_unverified` at once.
* A sample at the deadline still counts; the call is decided on the first input after it.
  A challenge started before the deadline runs to its end.
* A called person who disconnects may come back until the deadline. Disconnecting during a
  challenge voids it: on return a fresh identity check and a new challenge are needed.
* A host override needs a non-empty reason and returns an `Override` for the audit log.
"""
from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from .liveness import Action, LivenessPolicy, PoseSample, draw_challenge, verify
from .sitting import IdentitySample, Need


class Outcome(str, Enum):
    PRESENT_VERIFIED = "present_verified"
    PRESENT_UNVERIFIED = "present_unverified"
    ABSENT = "absent"
    LEFT_EARLY = "left_early"


@dataclass(frozen=True)
class RollCallPolicy:
    answer_within_s: float = 30.0     # time a called person has to answer on camera
    parallel: int = 1                 # people called at the same time
    liveness: bool = True             # ask for a liveness challenge after the identity check
    liveness_policy: LivenessPolicy = field(default_factory=LivenessPolicy)
    challenge_lead_s: float = 1.5     # from sending a challenge to its first window
    identity_attempts: int = 3        # usable frames beyond the threshold that decide "unverified"
    wait_for_unconnected: bool = False  # False: not connected when called is absent at once

    def __post_init__(self):
        if self.parallel < 1:
            raise ValueError("parallel must be at least 1")
        if self.answer_within_s <= 0:
            raise ValueError("answer_within_s must be positive")
        if self.identity_attempts < 1:
            raise ValueError("identity_attempts must be at least 1")


@dataclass(frozen=True)
class Participant:
    id: Hashable
    name: str
    connected: bool = True


@dataclass(frozen=True)
class Call:
    person: Hashable
    name: str
    at: float
    deadline: float


@dataclass(frozen=True)
class Challenge:
    person: Hashable
    actions: tuple[Action, ...]
    starts_at: float
    window_s: float


@dataclass(frozen=True)
class Record:
    person: Hashable
    outcome: Outcome
    scores: dict
    at: float


@dataclass(frozen=True)
class Flag:
    person: Hashable
    kind: str        # identity_mismatch | liveness_failed | liveness_incomplete | multiple_faces | identity_unverified
    scores: dict
    at: float


@dataclass(frozen=True)
class Done:
    at: float
    counts: dict     # outcome value -> number of people


@dataclass(frozen=True)
class Override:
    """The audit record of a host changing an outcome."""
    person: Hashable
    previous: Outcome
    outcome: Outcome
    reason: str
    by: Hashable
    at: float


class SelectionError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def who_is_called(present: Sequence[Hashable], members: Collection[Hashable], host: Hashable,
                  ticked: Sequence[Hashable] | None) -> list:
    """The people a roll call calls, in order: everyone present but the host, or the people the
    host ticked (duplicates dropped), each of whom must be a participant and not the host."""
    if ticked is None:
        chosen = [person for person in present if person != host]
    else:
        chosen = list(dict.fromkeys(ticked))
        if any(person not in members or person == host for person in chosen):
            raise SelectionError("bad_field", "the list names someone who is not a participant")
    if not chosen:
        raise SelectionError("no_participants", "nobody to call")
    return chosen


def override_outcome(person: Hashable, previous: Outcome | str, outcome: Outcome | str, reason: str | None,
                     by: Hashable, at: float, max_reason: int | None = None) -> Override:
    """A host's correction of a recorded outcome (the rule behind RollCallRun.override and the
    attendance page): a known outcome, a mandatory reason, at most `max_reason` characters."""
    outcome, previous = Outcome(outcome), Outcome(previous)
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("an override needs a reason")
    if max_reason is not None and len(reason) > max_reason:
        raise ValueError(f"the reason may be at most {max_reason} characters")
    return Override(person, previous, outcome, reason, by, at)


@dataclass
class _Call:
    called_at: float
    deadline: float
    phase: str = "identity"                # identity -> challenge
    attempt: int = 0                       # challenges drawn so far for this person
    usable: int = 0                        # single-face frames seen
    failed: int = 0                        # ... beyond the threshold
    faces_max: int = 0
    best: IdentitySample | None = None     # the closest single-face frame
    identity_scores: dict = field(default_factory=dict)
    challenge_voided: dict | None = None   # scores of a challenge voided by a disconnect
    actions: tuple[Action, ...] = ()
    shown_at: tuple[float, ...] = ()
    poses: list[PoseSample] = field(default_factory=list)
    disconnected: bool = False


@dataclass
class RollCallRun:
    secret: bytes
    key: str                               # the roll call's id: challenges are drawn from it
    participants: Sequence[Participant]
    policy: RollCallPolicy = field(default_factory=RollCallPolicy)
    started_at: float | None = None
    ended_at: float | None = None
    waiting: list = field(init=False)      # ids not yet called, in order
    active: dict = field(init=False)       # id -> _Call
    outcomes: dict = field(init=False)     # id -> Outcome (as recorded, before overrides)
    overrides: dict = field(init=False)    # id -> Override
    connected: set = field(init=False)
    verified_scores: dict = field(init=False)

    def __post_init__(self):
        ids = [p.id for p in self.participants]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate participant")
        self._names = {p.id: p.name for p in self.participants}
        self.waiting = list(ids)
        self.active = {}
        self.outcomes = {}
        self.overrides = {}
        self.connected = {p.id for p in self.participants if p.connected}
        self.verified_scores = {}

    # --- the host ------------------------------------------------------------------------

    def start(self, now: float) -> list:
        if self.started_at is not None:
            return []
        self.started_at = now
        return self._advance(now)

    def end(self, now: float) -> list:
        """The host ends the roll call: calls under way are decided on what they have shown,
        people never called are recorded absent."""
        if self.started_at is None or self.ended_at is not None:
            return []
        out = self._advance(now, refill=False)
        if self.ended_at is not None:
            return out
        for person in list(self.active):
            out += self._conclude(person, now, ended=True)
        for person in self.waiting:
            out.append(self._record(person, Outcome.ABSENT, {"reason": "roll call ended before the call"}, now))
        self.waiting = []
        return out + self._finish(now)

    def override(self, person: Hashable, outcome: Outcome | str, reason: str, by: Hashable, at: float) -> Override:
        """The host corrects a recorded outcome; the reason is mandatory (it goes to the audit log)."""
        if person not in self.outcomes:
            raise ValueError(f"{person!r} has no recorded outcome")
        record = override_outcome(person, self.outcome(person), outcome, reason, by, at)
        self.overrides[person] = record
        return record

    # --- inputs ----------------------------------------------------------------------------

    def need(self, person: Hashable, at: float) -> Need | None:
        """What the next frame of that person must be analysed for (None: nothing)."""
        call = self.active.get(person)
        if call is None:
            return None
        if call.phase == "challenge":
            return Need.POSE if at >= call.shown_at[0] else Need.PRESENCE
        return Need.IDENTITY

    def on_identity(self, person: Hashable, sample: IdentitySample) -> list:
        out = self._advance(sample.at)
        call = self.active.get(person)
        if call is None or call.phase != "identity" or person not in self.connected:
            return out
        call.faces_max = max(call.faces_max, sample.faces)
        if sample.faces != 1:
            return out + self._advance(sample.at)
        call.usable += 1
        if sample.distance is None:
            return out + self._advance(sample.at)      # no reference: decided at the deadline
        if call.best is None or call.best.distance is None or sample.distance < call.best.distance:
            call.best = sample
        scores = _identity_scores(sample)
        if not sample.passed:
            call.failed += 1
            if call.failed >= self.policy.identity_attempts:
                out += self._unverified(person, sample.at, "identity_mismatch", "distance above threshold",
                                        {**_identity_scores(call.best), "attempts": call.failed})
            return out + self._advance(sample.at)
        call.identity_scores = scores
        if not self.policy.liveness:
            out.append(self._verified(person, sample.at, scores))
            return out + self._advance(sample.at)
        call.actions = draw_challenge(self.secret, f"{self.key}/{person}", call.attempt,
                                      pool=self.policy.liveness_policy.actions)
        call.attempt += 1
        window = self.policy.liveness_policy.window_s
        first = sample.at + self.policy.challenge_lead_s
        call.shown_at = tuple(first + i * window for i in range(len(call.actions)))
        call.poses = []
        call.phase = "challenge"
        out.append(Challenge(person, call.actions, first, window))
        return out + self._advance(sample.at)

    def on_pose(self, person: Hashable, at: float, faces: int, eye_openness: float | None = None,
                yaw_deg: float | None = None, pitch_deg: float = 0.0, mouth_open: float = 0.0) -> list:
        call = self.active.get(person)
        if (call is not None and call.phase == "challenge" and faces == 1 and person in self.connected
                and eye_openness is not None and yaw_deg is not None):
            call.poses.append(PoseSample(at, eye_openness, yaw_deg, pitch_deg, mouth_open))
        return self._advance(at)

    def tick(self, now: float) -> list:
        return self._advance(now)

    def connect(self, person: Hashable, at: float) -> list:
        if person not in self._names:
            return []
        self.connected.add(person)
        return self._advance(at)

    def disconnect(self, person: Hashable, at: float) -> list:
        if person not in self._names:
            return []
        out = self._advance(at)
        self.connected.discard(person)
        if self.ended_at is not None:
            return out
        call = self.active.get(person)
        if call is not None:
            call.disconnected = True
            if call.phase == "challenge":
                call.challenge_voided = {**call.identity_scores,
                                         "challenge": [a.value for a in call.actions],
                                         "reason": "disconnected during the challenge"}
                call.phase = "identity"
                call.actions, call.shown_at, call.poses = (), (), []
            return out + self._advance(at)
        if self.outcomes.get(person) is Outcome.PRESENT_VERIFIED and person not in self.overrides:
            scores = {**self.verified_scores.get(person, {}), "left_at": at}
            out.append(self._record(person, Outcome.LEFT_EARLY, scores, at))
        return out

    # --- results ---------------------------------------------------------------------------

    def outcome(self, person: Hashable) -> Outcome | None:
        """The outcome in force: the host's override when there is one."""
        if person in self.overrides:
            return self.overrides[person].outcome
        return self.outcomes.get(person)

    @property
    def done(self) -> bool:
        return self.ended_at is not None

    # --- internals ---------------------------------------------------------------------

    def _advance(self, now: float, refill: bool = True) -> list:
        if self.started_at is None or self.ended_at is not None:
            return []
        out = []
        for person, call in list(self.active.items()):
            if call.phase == "challenge":
                end = call.shown_at[-1] + self.policy.liveness_policy.window_s
                if now >= end:
                    out += self._judge_challenge(person, end)
            elif now > call.deadline:
                out += self._conclude(person, call.deadline)
        while refill and self.waiting and len(self.active) < self.policy.parallel:
            person = self.waiting.pop(0)
            if person not in self.connected and not self.policy.wait_for_unconnected:
                out.append(self._record(person, Outcome.ABSENT, {"reason": "not connected"}, now))
                continue
            deadline = now + self.policy.answer_within_s
            self.active[person] = _Call(called_at=now, deadline=deadline)
            out.append(Call(person, self._names[person], now, deadline))
        if not self.waiting and not self.active:
            out += self._finish(now)
        return out

    def _judge_challenge(self, person: Hashable, at: float) -> list:
        call = self.active[person]
        result = verify(call.actions, call.shown_at, call.poses, self.policy.liveness_policy)
        scores = {**call.identity_scores, "challenge": [a.value for a in call.actions],
                  "steps": [{"action": s.action.value, "passed": s.passed, "reason": s.reason}
                            for s in result.steps], "samples": len(call.poses)}
        if result.passed:
            return [self._verified(person, at, scores)]
        return self._unverified(person, at, "liveness_failed", result.reason, scores)

    def _conclude(self, person: Hashable, at: float, ended: bool = False) -> list:
        """Decide a call that ran out of time (or that the host cut short)."""
        call = self.active[person]
        if call.phase == "challenge":
            # Only when the host ends the roll call mid-challenge.
            scores = {**call.identity_scores, "challenge": [a.value for a in call.actions],
                      "reason": "roll call ended during the challenge"}
            return self._unverified(person, at, "liveness_incomplete", "challenge not finished", scores)
        if call.challenge_voided is not None:
            return self._unverified(person, at, "liveness_incomplete", "disconnected during the challenge",
                                    call.challenge_voided)
        if call.best is not None:
            return self._unverified(person, at, "identity_mismatch", "distance above threshold",
                                    {**_identity_scores(call.best), "attempts": call.failed})
        if call.usable:
            return self._unverified(person, at, "identity_unverified", "no reference face to compare with",
                                    {"faces": 1, "frames": call.usable})
        if call.faces_max > 1:
            return self._unverified(person, at, "multiple_faces", "several faces", {"faces": call.faces_max})
        if ended:
            reason = "roll call ended before an answer"
        elif call.disconnected or person not in self.connected:
            reason = "disconnected"
        else:
            reason = "no face"
        self.active.pop(person)
        return [self._record(person, Outcome.ABSENT, {"reason": reason, "called_at": call.called_at,
                                                      "deadline": call.deadline}, at)]

    def _verified(self, person: Hashable, at: float, scores: dict) -> Record:
        self.active.pop(person, None)
        self.verified_scores[person] = scores
        return self._record(person, Outcome.PRESENT_VERIFIED, scores, at)

    def _unverified(self, person: Hashable, at: float, kind: str, reason: str, scores: dict) -> list:
        self.active.pop(person, None)
        scores = {**scores, "reason": reason}
        return [Flag(person, kind, scores, at), self._record(person, Outcome.PRESENT_UNVERIFIED, scores, at)]

    def _record(self, person: Hashable, outcome: Outcome, scores: dict, at: float) -> Record:
        self.outcomes[person] = outcome
        return Record(person, outcome, scores, at)

    def _finish(self, now: float) -> list:
        if self.ended_at is not None:
            return []
        self.ended_at = now
        counts = {o.value: 0 for o in Outcome}
        for person in self.outcomes:
            counts[self.outcome(person).value] += 1
        return [Done(now, counts)]


def _identity_scores(sample: IdentitySample) -> dict:
    return {"distance": round(sample.distance, 4) if sample.distance is not None else None,
            "threshold": sample.threshold, "detector_score": round(sample.detector_score, 3)}


def records(actions: Iterable) -> list[Record]:
    """The `Record`s among actions, in order."""
    return [a for a in actions if isinstance(a, Record)]
