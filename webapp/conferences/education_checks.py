"""The attendance checks of a group education session (issue 16), carried out live: who
`conferencing.education.plan_checks` says to check now, checked the way a roll call checks, each
outcome written at once.

One `EducationChecks` per live conference held as an education session (the live conference
creates it and calls `on_enter` / `on_leave`, `tick(now)` every few seconds, `confirm_room` for the
socket event `conf:edu_confirm`, and `stop()` at shutdown). No Flask request here: it runs on the
live conference's threads, like `rollcall_driver`.

Targets (the pure rules' `Present` / `Target`):
* a supervisee on their own camera is one target. Their check is a one-person roll call: a
  `proctoring.rollcall.RollCallRun` with that one participant driven by a `RollCallDriver`, so the
  same identity threshold, the same liveness challenge (drawn from the seed) and the same answer
  window apply, and the participant's page gets the same prompt (events `edu_check_call`,
  `edu_check_challenge`, `edu_check_result`; conference_education.js shows them with the roll
  call's overlay). Only the checked people are tapped, at the roll call's rates (a called person
  at `call_fps`, `challenge_fps` during the challenge), and untapped when decided. Passed:
  `present_verified`; failed: `present_unverified` (written with a flag and its evidence frame,
  as `_RollCallSink` does: identity mismatch, liveness failed, several faces...) or `absent` (no
  face within the answer window; no flag, as in a roll call);
* a shared township room (several supervisees in front of one camera, with an on-site officer)
  is one target. Its people are named by the officer (`confirm_room`, "在场确认" on the
  officer's page); they are never face-checked one by one on that camera, so two or more faces
  there are not a failure. When the room's check falls due, its officers are asked to confirm
  (`edu_room` with `due_in_s`); each confirmation is a check of kind "officer" for every member
  (`room_results`: named passes, a member left out fails and their shared presence closes). A
  room not confirmed within `confirm_within_s` of the request fails for all its members.
  The room's people have their presence written here (shared_room=True): they do not enter the
  conference themselves. When the room's last officer leaves, their presence closes.
  A supervisee named in a shared room who then also joins on a device of their own stays
  counted through the room (not face-checked) until the officer leaves them out.
  Not built: check-in by face at a room's terminal (kind "terminal").

At most K (`policy.max_parallel`) checks run at once (face and room checks together), so the
server never decodes everyone at once. Officers are not checked (they earn no study credit).
A check of someone who leaves is dropped without a result: leaving already breaks the
attendance window, and the first check after the return settles it. So is a check of someone
the host's roll call calls meanwhile (the roll call takes their camera's one tap): it starts
again once the roll call has decided them.

Writes (through `_Shell`, `webapp.conferences.education_store`): one `EducationCheck` row per
result as it comes, so a crash loses nothing decided; presence rows of own-camera participants are
the live conference's (open/close on enter/leave), those of shared rooms are written here.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable

from conferencing.education import (FACE, OFFICER, PERSON, ROOM, Present, SamplingPolicy, plan_checks,
                                    room_results)
from conferencing.rules import normalise_path
from proctoring.rollcall import Call, Challenge, Done, Flag, Outcome, Participant, Record, RollCallPolicy, RollCallRun
from streaming.rtc import SignallingError

from webapp.conferences.rollcall_driver import RollCallDriver

log = logging.getLogger(__name__)

MAX_NAMED = 500            # people one confirmation may name


@dataclasses.dataclass(frozen=True)
class Person:
    id: int
    name: str
    supervisee: bool
    unit_path: str
    references: tuple = ()     # enrolled face embeddings (supervisees)


class ConfirmError(Exception):
    """A refused room confirmation (code: forbidden | bad_field); `confirm_room` raises it as
    the live conference's LiveError when that is importable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclasses.dataclass
class _FaceCheck:
    person: int
    started_at: float
    driver: RollCallDriver
    room_path: str
    cancelled: bool = False
    phase: str = "call"


@dataclasses.dataclass
class _RoomCheck:
    room: str
    started_at: float
    deadline: float


class EducationChecks:
    def __init__(self, live, session_id: int, policy: SamplingPolicy, seed: bytes, *, identify=None,
                 clock: Callable[[], float] = time.time, shell=None, check_policy: RollCallPolicy | None = None,
                 threshold: float | None = None, executor=None, confirm_within_s: float = 120.0,
                 call_fps: float = 3.0, challenge_fps: float = 6.0, tick_s: float = 0.25):
        """`identify(rgb, references) -> (IdentityResult, cpu_ms)`: default the app's identity
        process (webapp.proctor.runner). `check_policy`, `threshold`, `executor`: default the
        roll call's (app config ROLLCALL_*, LIVENESS_*, IDENTITY_THRESHOLD; the warmed analysis
        pool). `shell`: the writes, look-ups and messages (default `_Shell`, the database and
        Socket.IO)."""
        self.live = live
        self.session_id = session_id
        self.policy = policy
        self.seed = seed
        self.clock = clock
        self.shell = shell if shell is not None else _Shell(live, session_id)
        self._identify = identify
        self.check_policy = check_policy
        self.threshold = threshold
        self.executor = executor
        self.confirm_within_s = float(confirm_within_s)
        self.call_fps, self.challenge_fps, self.tick_s = call_fps, challenge_fps, tick_s
        self.key = f"edu:{session_id}"
        self._lock = threading.RLock()
        self._people: dict[int, Person] = {}
        self._own: dict[int, float] = {}                  # supervisee on their own camera -> since
        self._rooms: dict[str, dict[int, float]] = {}     # shared room -> {member -> since}
        self._officers: dict[int, str] = {}               # officer present -> their room
        self._history: list[tuple[tuple, float]] = []     # (target key, start) of every check
        self._face: dict[int, _FaceCheck] = {}
        self._room_checks: dict[str, _RoomCheck] = {}
        self._rates: dict[int, float] = {}
        self._last: dict[int, dict] = {}
        self._count: dict[int, int] = {}
        self.peak_parallel = 0
        self.peak_tapped = 0
        self.started = 0
        self._stopped = False
        self._roll: dict[str, list[Person]] = {}          # unit path -> the conference's supervisees there
        self._names: dict[int, str] = {}                  # names from the rolls (no face references)

    # --- the live conference's calls ----------------------------------------------------------
    def on_enter(self, user_id: int) -> None:
        person = self._person(user_id)
        if person is None:
            return
        path = self._room_path(user_id)
        tell_room, officers = None, None
        with self._lock:
            if self._stopped:
                return
            if person.supervisee:
                if not any(user_id in members for members in self._rooms.values()):
                    self._own.setdefault(user_id, self.clock())
                if path is not None and path in self._officers.values():
                    tell_room = path          # their officer's panel: now on their own camera
            elif path is not None:
                self._officers[user_id] = path
                tell_room, officers = path, [user_id]
        if tell_room is not None:
            self._tell_room(tell_room, officers=officers)
        self._tell_host()

    def on_leave(self, user_id: int) -> None:
        now = self.clock()
        path_of_own = self._room_path(user_id)
        with self._lock:
            was_own = self._own.pop(user_id, None) is not None
            check = self._face.pop(user_id, None)
            if check is not None:
                check.cancelled = True
            closing: list[int] = []
            path = self._officers.pop(user_id, None)
            if path is not None and path in self._rooms and path not in self._officers.values():
                closing = list(self._rooms.pop(path))
                self._room_checks.pop(path, None)
        if check is not None:
            self._untap(user_id)
            check.driver.stop()
        for person in closing:
            self._safe(self.shell.close_presence, person, now)
        if was_own and path_of_own is not None and path_of_own in self._officers.values():
            self._tell_room(path_of_own)
        self._tell_host()

    def tick(self, now: float) -> None:
        expired: list[tuple[str, list[int]]] = []
        overdue: list[_FaceCheck] = []
        starting: list[_FaceCheck] = []
        asking: list[str] = []
        with self._lock:
            if self._stopped:
                return
            for path, check in list(self._room_checks.items()):
                if now >= check.deadline:
                    self._room_checks.pop(path)
                    expired.append((path, list(self._rooms.get(path, {}))))
            roll_call_taps = getattr(self.live, "tap_rates", {}) or {}
            yielded = self._yield_to_roll_call(roll_call_taps)
            limit = self._max_check_s()
            running = list(self._face.values())
            overdue = [c for c in running if now - c.started_at > limit]
            present = [Present(p, since) for p, since in self._own.items()]
            for path, members in self._rooms.items():
                present += [Present(p, since, path) for p, since in members.items()]
            busy = {(PERSON, p) for p in self._face} | {(ROOM, path) for path in self._room_checks}
            plan = plan_checks(self.seed, self.key, present, self._history, busy, now, self.policy)
            for target in plan.start:
                if target.kind == PERSON:
                    person = target.id
                    if roll_call_taps.get(person, 0) > 0:
                        continue      # a roll call is checking them right now: next tick
                    check = self._new_face_check(person, now)
                    self._face[person] = check
                    starting.append(check)
                else:
                    self._room_checks[target.id] = _RoomCheck(target.id, now, now + self.confirm_within_s)
                    asking.append(target.id)
                self._history.append((target.key, now))
                self.started += 1
            self.peak_parallel = max(self.peak_parallel, len(self._face) + len(self._room_checks))
        for check in yielded:
            check.driver.stop()          # the roll call's tap stays: it is theirs now
        for path, members in expired:
            self._room_timed_out(path, members, now)
        for check in running:
            if check in overdue:
                check.driver.end()
            else:
                _advance(check.driver)       # its own ticker does this too, every tick_s
        for check in starting:
            check.driver.start()
        for path in asking:
            self._tell_room(path)
        self._retap()
        if expired or starting or asking or overdue:
            self._tell_host()

    def _yield_to_roll_call(self, roll_call_taps: dict) -> list[_FaceCheck]:
        """A roll call that calls someone during their check takes their camera's tap (one tap per
        source): the check is dropped without a result, and forgotten, so it starts again as soon
        as the roll call has decided them. Under the lock."""
        out = []
        for person, check in list(self._face.items()):
            if roll_call_taps.get(person, 0) > 0:
                check.cancelled = True
                self._face.pop(person)
                self._rates.pop(person, None)
                entry = ((PERSON, person), check.started_at)
                if entry in self._history:
                    self._history.remove(entry)
                out.append(check)
        return out

    def confirm_room(self, officer_id: int, room_path: str, named_user_ids: list[int]) -> None:
        """The on-site officer of a shared township room names who is in front of its camera."""
        try:
            self._confirm(officer_id, room_path, named_user_ids)
        except ConfirmError as exc:
            raise _live_error(exc) from None

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            checks = list(self._face.values())
            self._face.clear()
            self._room_checks.clear()
            for check in checks:
                check.cancelled = True
        for check in checks:
            self._untap(check.person)
            check.driver.stop()

    def view(self) -> dict:
        now = self.clock()
        with self._lock:
            checks = [{"kind": FACE, "user_id": c.person, "name": self._name(c.person), "phase": c.phase,
                       "since_s": round(now - c.started_at, 1)} for c in self._face.values()]
            checks += [{"kind": OFFICER, "room": c.room, "due_in_s": round(max(0.0, c.deadline - now), 1),
                        "people": sorted(self._rooms.get(c.room, {}))} for c in self._room_checks.values()]
            last = [{"user_id": uid, "name": self._name(uid), **result} for uid, result in sorted(self._last.items())]
            rooms = [{"room": path, "people": sorted(members)} for path, members in sorted(self._rooms.items())]
            return {"session_id": self.session_id, "checks": checks, "last": last, "rooms": rooms,
                    "own_camera": sorted(self._own), "max_parallel": self.policy.max_parallel,
                    "peak_parallel": self.peak_parallel, "peak_tapped": self.peak_tapped,
                    "started": self.started}

    # --- face checks ---------------------------------------------------------------------------
    def _new_face_check(self, person_id: int, now: float) -> _FaceCheck:
        person = self._people.get(person_id)
        n = self._count.get(person_id, 0)
        self._count[person_id] = n + 1
        name = person.name if person else str(person_id)
        run = RollCallRun(self.seed, f"{self.key}:{person_id}:{n}", [Participant(person_id, name, connected=True)],
                          self._check_policy())
        references = {person_id: list(person.references)} if person and person.references else {}
        holder: list[_FaceCheck] = []
        driver = RollCallDriver(run, references, self._identity(), lambda actions, frames: self._face_sink(
            holder[0], actions, frames), self._set_rate, self._threshold(), call_fps=self.call_fps,
            challenge_fps=self.challenge_fps, tick_s=self.tick_s, clock=self.clock, executor=self._executor())
        check = _FaceCheck(person_id, now, driver, self._room_path(person_id) or "")
        holder.append(check)
        return check

    def _face_sink(self, check: _FaceCheck, actions: list, frames: dict) -> None:
        """The driver's actions for one check (called in order, under the driver's lock)."""
        if check.cancelled:
            return
        person = check.person
        flag: Flag | None = None
        for action in actions:
            if isinstance(action, Call):
                self._safe(self.shell.tell, person, "edu_check_call", {
                    "name": action.name, "answer_within_s": round(max(0.0, action.deadline - self.clock()), 1)})
            elif isinstance(action, Challenge):
                check.phase = "challenge"
                self._safe(self.shell.tell, person, "edu_check_challenge", {
                    "actions": [a.value for a in action.actions],
                    "starts_in_s": round(max(0.0, action.starts_at - self.clock()), 2), "window_s": action.window_s})
            elif isinstance(action, Flag):
                flag = action
            elif isinstance(action, Record):
                passed = action.outcome is Outcome.PRESENT_VERIFIED
                scores = {**action.scores, "outcome": action.outcome.value}
                evidence = None
                if flag is not None and flag.person == person:
                    evidence = (flag.kind, {**flag.scores, "education_session_id": self.session_id},
                                frames.get(person))
                try:
                    self.shell.record(person, action.at, FACE, passed, check.room_path, scores, flag=evidence)
                except Exception:
                    log.exception("education session %s: the check of %s was not written", self.session_id, person)
                    if evidence is not None:    # the result matters more than its flag: without it, once more
                        self._safe(self.shell.record, person, action.at, FACE, passed, check.room_path,
                                   {**scores, "flag": evidence[0], "flag_not_written": True})
                with self._lock:
                    self._last[person] = {"at": round(action.at, 3), "kind": FACE, "passed": passed,
                                          "outcome": action.outcome.value, "flag": flag.kind if flag else None}
                self._safe(self.shell.tell, person, "edu_check_result",
                           {"passed": passed, "outcome": action.outcome.value})
            elif isinstance(action, Done):
                with self._lock:
                    if self._face.get(person) is check:
                        self._face.pop(person)
                self._untap(person)
                self._tell_host()

    def _set_rate(self, person: int, fps: float) -> None:
        """The driver's rate for `person` (0: stop): the room's tap of that person's camera."""
        with self._lock:
            check = self._face.get(person)
            if fps > 0 and (check is None or check.cancelled):
                return
            if fps > 0:
                self._rates[person] = fps
            else:
                self._rates.pop(person, None)
            self.peak_tapped = max(self.peak_tapped, len(self._rates))
        if fps > 0:
            self._tap(person, fps)
        else:
            self._untap(person)

    def _tap(self, person: int, fps: float) -> None:
        room = self._media_room(person)
        if room is None:
            raise SignallingError("unknown_source", "not in a room")
        room.tap(_source(person), self._frame_callback(person), fps)

    def _untap(self, person: int) -> None:
        with self._lock:
            self._rates.pop(person, None)
        room = self._media_room(person)
        if room is None:
            return
        try:
            room.untap(_source(person))
        except SignallingError:
            pass

    def _retap(self) -> None:
        """Keep the checked people's taps (a camera that reconnected mid-check is a new source)."""
        roll_call_taps = getattr(self.live, "tap_rates", {}) or {}
        with self._lock:
            wanted = [(p, fps) for p, fps in self._rates.items() if p in self._face and not roll_call_taps.get(p)]
        for person, fps in wanted:
            try:
                self._tap(person, fps)
            except (SignallingError, ValueError):
                pass

    def _frame_callback(self, person: int):
        def on_frame(source_id: str, at: float, rgb) -> None:
            check = self._face.get(person)
            if check is not None and not check.cancelled and not check.driver.done:
                check.driver.on_frame(person, at, rgb)
        return on_frame

    def _media_room(self, person: int):
        path = self._room_path(person)
        rooms = getattr(self.live, "rooms", {})
        return rooms.get(path) if path else None

    def _room_path(self, user_id: int) -> str | None:
        return getattr(self.live, "member_room", {}).get(user_id)

    def _max_check_s(self) -> float:
        policy = self._check_policy()
        live = policy.liveness_policy
        actions = max(2, len(live.actions)) if policy.liveness else 0
        return policy.answer_within_s + (policy.challenge_lead_s + actions * live.window_s if policy.liveness else 0) + 10.0

    # --- shared rooms ----------------------------------------------------------------------------
    def _confirm(self, officer_id: int, room_path: str, named_user_ids) -> None:
        if not isinstance(room_path, str):
            raise ConfirmError("bad_field", "bad room")
        try:
            path = normalise_path(room_path)
        except ValueError:
            raise ConfirmError("bad_field", "bad room") from None
        if (not isinstance(named_user_ids, (list, tuple)) or len(named_user_ids) > MAX_NAMED
                or any(not isinstance(u, int) or isinstance(u, bool) for u in named_user_ids)):
            raise ConfirmError("bad_field", "present must be a list of user ids")
        named = list(dict.fromkeys(named_user_ids))
        with self._lock:
            in_room = self._officers.get(officer_id) == path and self._room_path(officer_id) == path
        if not in_room:
            raise ConfirmError("forbidden", "only an officer present in that room confirms it")
        roll = {p.id for p in self._roll_of(path)}
        if any(uid not in roll for uid in named):
            raise ConfirmError("bad_field", "someone named is not a supervisee of this session at that unit")
        now = self.clock()
        with self._lock:
            own = [uid for uid in named if uid in self._own]
            if own:
                raise ConfirmError("bad_field", "someone named attends on their own camera")
            members = dict(self._rooms.get(path, {}))
            others = {uid for uid in named if any(uid in m for p, m in self._rooms.items() if p != path)}
            if others:
                raise ConfirmError("bad_field", "someone named is confirmed in another room")
            everyone = list(members) + [uid for uid in named if uid not in members]
            results = room_results(now, OFFICER, set(named), everyone)
            # presence first, so each passed check lies within a presence span
            for uid in named:
                if uid not in members:
                    self.shell.open_presence(uid, path, now, True)
            for uid, result in results.items():
                self.shell.record(uid, result.at, OFFICER, result.passed, path,
                                  {"named": result.passed, "by": officer_id}, confirmed_by=officer_id)
                self._last[uid] = {"at": round(now, 3), "kind": OFFICER, "passed": result.passed, "outcome": None,
                                   "flag": None}
            for uid in everyone:
                if uid not in named:
                    self.shell.close_presence(uid, now)
            room = {uid: members.get(uid, now) for uid in named}
            if room:
                self._rooms[path] = room
            else:
                self._rooms.pop(path, None)
            self._room_checks.pop(path, None)
            self._history.append(((ROOM, path), now))
        self._tell_room(path)
        self._tell_host()

    def _room_timed_out(self, path: str, members: list[int], now: float) -> None:
        for uid in members:
            self._safe(self.shell.record, uid, now, OFFICER, False, path,
                       {"named": False, "reason": "not confirmed in time"})
            with self._lock:
                self._last[uid] = {"at": round(now, 3), "kind": OFFICER, "passed": False, "outcome": "not_confirmed",
                                   "flag": None}
        self._tell_room(path)

    def _roll_of(self, path: str) -> list[Person]:
        found = self._roll.get(path)
        if found is None:
            found = self._roll[path] = list(self.shell.unit_supervisees(path))
            for person in found:
                self._names.setdefault(person.id, person.name)
        return found

    def _tell_room(self, path: str, officers: Iterable[int] | None = None) -> None:
        """The "在场确认" panel of a room's officers: the unit's supervisees of this session."""
        now = self.clock()
        try:
            roll = self._roll_of(path)
        except Exception:
            log.exception("education session %s: the roll of %s", self.session_id, path)
            return
        if not roll:
            return
        with self._lock:
            to = list(officers) if officers is not None else [o for o, p in self._officers.items() if p == path]
            members = self._rooms.get(path, {})
            check = self._room_checks.get(path)
            people = [{"user_id": p.id, "name": p.name, "in_room": p.id in members, "own_camera": p.id in self._own}
                      for p in roll]
            payload = {"room": path, "people": people,
                       "due_in_s": round(max(0.0, check.deadline - now), 1) if check else None}
        for officer in to:
            self._safe(self.shell.tell, officer, "edu_room", payload)

    # --- the rest ------------------------------------------------------------------------------
    def _tell_host(self) -> None:
        host = getattr(self.live, "host_id", None)
        if host is not None:
            self._safe(self.shell.tell, host, "edu_checks", self.view())

    def _person(self, user_id: int) -> Person | None:
        found = self._people.get(user_id)
        if found is None:
            try:
                found = self.shell.person(user_id)
            except Exception:
                log.exception("education session %s: who is %s", self.session_id, user_id)
                return None
            if found is not None:
                self._people[user_id] = found
        return found

    def _name(self, user_id: int) -> str:
        person = self._people.get(user_id)
        return person.name if person else self._names.get(user_id, "")

    def _check_policy(self) -> RollCallPolicy:
        if self.check_policy is None:
            from proctoring.liveness import LivenessPolicy
            from webapp.proctor import liveness_actions

            cfg = self.live.app.config
            self.check_policy = RollCallPolicy(
                answer_within_s=cfg["ROLLCALL_ANSWER_S"], parallel=1, liveness=cfg["ROLLCALL_LIVENESS"],
                liveness_policy=LivenessPolicy(window_s=cfg["LIVENESS_WINDOW_S"],
                                               actions=liveness_actions(cfg["LIVENESS_ACTIONS"])),
                wait_for_unconnected=True)
        return self.check_policy

    def _threshold(self) -> float:
        if self.threshold is None:
            from proctoring.vision import IDENTITY_THRESHOLD
            self.threshold = self.live.app.config["IDENTITY_THRESHOLD"] or IDENTITY_THRESHOLD
        return self.threshold

    def _identity(self):
        if self._identify is None:
            from webapp.proctor import runner
            self._identify = runner(self.live.app).identify
        return self._identify

    def _executor(self):
        if self.executor is None and hasattr(self.live, "app"):
            from webapp.conferences.live import analysis_pool
            self.executor = analysis_pool(self.live.app)
        return self.executor

    def _safe(self, step, *args, **kwargs):
        try:
            return step(*args, **kwargs)
        except Exception:
            log.exception("education session %s: %s failed", self.session_id, getattr(step, "__name__", step))
            return None


def _advance(driver: RollCallDriver) -> None:
    with driver._lock:
        driver._emit(driver.run.tick(driver.clock()))


def _source(user_id: int) -> str:
    return f"u{user_id}"


def _live_error(exc: ConfirmError) -> Exception:
    try:
        from webapp.conferences.live import LiveError
    except ImportError:        # pragma: no cover - the app always has it
        return exc
    return LiveError(exc.code, exc.message)


class _Shell:
    """What the checks need of the app: people, writes (each in its own transaction, committed
    at once) and messages to people's pages."""

    def __init__(self, live, session_id: int):
        self.live = live
        self.session_id = session_id

    def person(self, user_id: int) -> Person | None:
        from webapp.core import db
        from webapp.models import Role, User

        with self.live.app.app_context():
            session = db.session()
            try:
                user = session.get(User, user_id)
                if user is None:
                    return None
                supervisee = user.role == Role.SUPERVISEE
                return Person(user.id, user.display_name, supervisee, user.unit.path,
                              tuple(self._references(session, user.id)) if supervisee else ())
            finally:
                session.rollback()

    def unit_supervisees(self, path: str) -> list[Person]:
        """The supervisees of this session's conference at the unit `path` (active accounts;
        none where the conference does not include supervisees there)."""
        from sqlalchemy import select

        from conferencing.rules import may_join
        from webapp.conferences.views import scope_of
        from webapp.core import db
        from webapp.models import Conference, OrgUnit, Role, User

        with self.live.app.app_context():
            session = db.session()
            try:
                conference = session.get(Conference, self.live.id)
                unit = session.scalar(select(OrgUnit).where(OrgUnit.path == path))
                if conference is None or unit is None or not may_join(scope_of(conference), unit.path, unit.level,
                                                                      is_supervisee=True):
                    return []
                users = session.scalars(select(User).where(User.unit_id == unit.id, User.role == Role.SUPERVISEE,
                                                           User.active.is_(True)).order_by(User.id)).all()
                return [Person(u.id, u.display_name, True, unit.path) for u in users]
            finally:
                session.rollback()

    @staticmethod
    def _references(session, user_id: int) -> list:
        from sqlalchemy import select

        from webapp.core.face_crypto import decrypt_embedding
        from webapp.models import FaceEnrolment

        rows = session.scalars(select(FaceEnrolment).where(FaceEnrolment.user_id == user_id,
                                                           FaceEnrolment.active.is_(True)))
        return [decrypt_embedding(row.embedding_enc) for row in rows]

    def record(self, user_id: int, at: float, kind: str, passed: bool, room_path: str, scores: dict,
               flag=None, confirmed_by: int | None = None) -> int:
        """One check result, committed at once; `flag`: (kind, scores, frame) of a failed face
        check, written first with its evidence frame (webapp.proctor.record_flag)."""
        from webapp.conferences import education_store
        from webapp.core import db
        from webapp.models import Role, User
        from webapp.proctor import notify_flag, plain_scores, record_flag

        raised = None
        with self.live.app.app_context():
            with db.write_transaction() as session:
                flag_id = None
                if flag is not None:
                    kind_, flag_scores, frame = flag
                    # no study sitting (ProctorFlag.session_id is one): the session is in the scores
                    raised = record_flag(session, learner_id=user_id, session_id=None, check_id=None, kind=kind_,
                                         at=at, scores=flag_scores, frame_rgb=frame)
                    session.flush()
                    flag_id = raised.id
                check_id = education_store.record_check(session, self.session_id, user_id, at, kind, passed,
                                                        room_path, scores=plain_scores(scores), flag_id=flag_id,
                                                        confirmed_by_id=confirmed_by)
                session.commit()
                learner = session.get(User, user_id) if raised is not None and getattr(raised, "is_new", False) else None
            if learner is not None and learner.role == Role.SUPERVISEE:
                notify_flag(raised, learner)
        return check_id

    def open_presence(self, user_id: int, room_path: str, at: float, shared_room: bool) -> None:
        from webapp.conferences import education_store
        from webapp.core import db

        with self.live.app.app_context():
            with db.write_transaction() as session:
                education_store.open_presence(session, self.session_id, user_id, room_path, at,
                                              shared_room=shared_room)
                session.commit()

    def close_presence(self, user_id: int, at: float) -> None:
        from webapp.conferences import education_store
        from webapp.core import db

        with self.live.app.app_context():
            with db.write_transaction() as session:
                education_store.close_presence(session, self.session_id, user_id, at)
                session.commit()

    def tell(self, user_id: int, kind: str, payload: dict) -> None:
        from webapp.extensions import socketio

        socketio.emit("conf", {"conference_id": self.live.id, "type": kind, **payload}, to=f"user:{user_id}")
