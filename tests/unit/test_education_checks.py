"""EducationChecks (webapp.conferences.education_checks): the logic around the pure rules with a
fake clock, a stand-in live conference exposing only what the checks use (`member_room`, `rooms`
whose `tap`/`untap` are recorded, `host_id`), a stand-in shell (people, writes, messages) and an
identity stub answering given distances. The real `RollCallRun`/`RollCallDriver` run inside.
tests/integration/test_education_checks_live.py runs the real models on real faces over real rooms.

Expected values come from the scenario (who shows which face, who was named), and the check
times from `conferencing.education.planned_at`, the rule being carried out."""
from __future__ import annotations

import numpy as np
import pytest

from conferencing.education import PERSON, ROOM, SamplingPolicy, Target, planned_at
from proctoring.rollcall import RollCallPolicy
from proctoring.vision import IdentityResult, IdentityVerdict
from webapp.conferences.education_checks import EducationChecks, Person
from webapp.conferences.live import LiveError

SEED = b"edu-seed"
SESSION = 7
T0 = 10_000.0
TOWN, OTHER_TOWN = "/1/2/3/4/5/", "/1/2/3/4/6/"
HOST, OFFICER, OTHER_OFFICER = 1, 2, 3
S1, S2, S3, FAR = 11, 12, 13, 21          # S1..S3 supervisees of TOWN, FAR of OTHER_TOWN


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


class Room:
    def __init__(self):
        self.taps: dict[str, tuple] = {}          # source -> (callback, fps)
        self.log: list[tuple] = []

    def tap(self, source, callback, fps):
        self.taps[source] = (callback, fps)
        self.log.append(("tap", source, fps))

    def untap(self, source):
        self.taps.pop(source, None)
        self.log.append(("untap", source))


class Live:
    def __init__(self):
        self.id = 99
        self.host_id = HOST
        self.rooms = {TOWN: Room(), OTHER_TOWN: Room()}
        self.member_room: dict[int, str] = {}
        self.tap_rates: dict[int, float] = {}     # the roll call's taps


class Shell:
    def __init__(self):
        ref = (np.zeros(128),)
        self.people = {HOST: Person(HOST, "host", False, "/1/2/3/"),
                       OFFICER: Person(OFFICER, "officer", False, TOWN),
                       OTHER_OFFICER: Person(OTHER_OFFICER, "other officer", False, OTHER_TOWN),
                       S1: Person(S1, "s1", True, TOWN, ref), S2: Person(S2, "s2", True, TOWN, ref),
                       S3: Person(S3, "s3", True, TOWN, ref), FAR: Person(FAR, "far", True, OTHER_TOWN, ref)}
        self.records: list[dict] = []
        self.presence: list[tuple] = []
        self.told: list[tuple] = []

    def person(self, user_id):
        return self.people.get(user_id)

    def unit_supervisees(self, path):
        return [p for p in self.people.values() if p.supervisee and p.unit_path == path]

    def record(self, user_id, at, kind, passed, room_path, scores, flag=None, confirmed_by=None):
        self.records.append({"user": user_id, "at": at, "kind": kind, "passed": passed, "room": room_path,
                             "scores": scores, "flag": flag, "by": confirmed_by})
        return len(self.records)

    def open_presence(self, user_id, room_path, at, shared_room):
        self.presence.append(("open", user_id, room_path, at, shared_room))

    def close_presence(self, user_id, at):
        self.presence.append(("close", user_id, at))

    def tell(self, user_id, kind, payload):
        self.told.append((user_id, kind, payload))


DISTANCE = {1: 0.30, 2: 0.80}          # frame marker -> identity distance (threshold 0.5)


def identify(rgb, references):
    d = DISTANCE[int(rgb[0, 0, 0])]
    return IdentityResult(1, IdentityVerdict(d <= 0.5, d, 0.5), 0.9, None), 1.0


def frame(marker: int) -> np.ndarray:
    out = np.zeros((48, 64, 3), np.uint8)
    out[0, 0, 0] = marker
    return out


def harness(policy: SamplingPolicy, answer_s: float = 10.0):
    clock, live, shell = Clock(), Live(), Shell()
    checks = EducationChecks(live, SESSION, policy, SEED, identify=identify, clock=clock, shell=shell,
                             check_policy=RollCallPolicy(answer_within_s=answer_s, parallel=1, liveness=False,
                                                         wait_for_unconnected=True),
                             threshold=0.5, executor=None, confirm_within_s=30.0, tick_s=3600)
    return clock, live, shell, checks


def enter(live, checks, user_id, path=TOWN):
    live.member_room[user_id] = path
    checks.on_enter(user_id)


def tapped(live) -> set[int]:
    return {int(s[1:]) for room in live.rooms.values() for s in room.taps}


def show(live, user_id, marker):
    """A frame of `user_id`'s camera reaches the tap (as the room's worker would deliver it)."""
    callback, _fps = live.rooms[live.member_room[user_id]].taps[f"u{user_id}"]
    callback(f"u{user_id}", 0.0, frame(marker))


def test_checks_follow_the_plan_k_at_once_first_within_and_gaps_within_g():
    policy = SamplingPolicy(max_parallel=2, max_gap_s=200.0, min_gap_s=60.0, first_within_s=30.0, reserve_s=60.0)
    clock, live, shell, checks = harness(policy)
    for uid in (S1, S2, S3):
        enter(live, checks, uid)
    starts: dict[int, list[float]] = {S1: [], S2: [], S3: []}
    running: dict[int, float] = {}
    peak = 0
    while clock.now < T0 + 700:
        checks.tick(clock.now)
        for uid in tapped(live) - set(running):
            starts[uid].append(clock.now)
            running[uid] = clock.now
        peak = max(peak, len(tapped(live)))
        for uid, since in list(running.items()):
            if clock.now - since >= 4:          # each person answers 4 s after being called
                show(live, uid, 1)
                running.pop(uid)
        clock.now += 1.0
    checks.stop()
    # every check was a real call of the person, and at most K were tapped at once
    assert peak == 2 and checks.peak_tapped == 2 and checks.peak_parallel == 2
    for uid, times in starts.items():
        target = Target(PERSON, uid, frozenset({uid}), T0)
        # the first: when planned (within first_within_s of the arrival), or as soon as a slot
        # frees (three came at once, K is 2: one waits for a 4 s check)
        first = planned_at(SEED, f"edu:{SESSION}", target, [], policy)
        assert T0 < first <= T0 + 30 and first <= times[0] <= first + 5, (uid, first, times)
        for n in range(1, len(times)):
            planned = planned_at(SEED, f"edu:{SESSION}", target, times[:n], policy)
            assert planned <= times[n] <= planned + 5, (uid, n, planned, times)
            assert 60 <= times[n] - times[n - 1] <= 200
        assert len(times) >= 4                  # 700 s at gaps of 60..140 s
    # every check was written as it was decided: passed, kind face, in the person's room
    assert len(shell.records) == sum(len(t) for t in starts.values())
    assert all(r["passed"] and r["kind"] == "face" and r["room"] == TOWN and r["flag"] is None
               for r in shell.records)
    assert sorted(r["at"] for r in shell.records if r["user"] == S1) == [t + 4 for t in starts[S1]]
    assert tapped(live) == set()


def test_at_most_k_at_once_the_rest_wait_their_turn():
    """Four people due within 5 s, K = 2, each answering 15 s after the call: two checks run,
    the other two start the tick a slot frees, in the order of their planned times (equal
    deadlines: all arrived together)."""
    policy = SamplingPolicy(max_parallel=2, max_gap_s=200.0, min_gap_s=60.0, first_within_s=5.0, reserve_s=60.0)
    clock, live, shell, checks = harness(policy, answer_s=30.0)
    people = (S1, S2, S3, FAR)
    for uid in people:
        enter(live, checks, uid, OTHER_TOWN if uid == FAR else TOWN)
    planned = {uid: planned_at(SEED, f"edu:{SESSION}", Target(PERSON, uid, frozenset({uid}), T0), [], policy)
               for uid in people}
    order = sorted(people, key=planned.get)
    first_start: dict[int, float] = {}
    running: dict[int, float] = {}
    while clock.now < T0 + 40:
        checks.tick(clock.now)
        now_tapped = tapped(live)
        assert len(now_tapped) <= 2, (clock.now, now_tapped)
        for uid in now_tapped - set(running):
            if uid not in first_start:
                first_start[uid] = clock.now
                running[uid] = clock.now
        for uid, since in list(running.items()):
            if clock.now - since >= 15:
                show(live, uid, 1)
                running.pop(uid)
        clock.now += 1.0
    checks.stop()
    assert sorted(first_start, key=first_start.get) == order
    a, b, c, d = order
    assert first_start[a] == _ceil(planned[a]) and first_start[b] == _ceil(planned[b])
    # a answers 15 s after its call, after that second's tick: c starts at the next tick
    assert first_start[c] == max(_ceil(planned[c]), first_start[a] + 16)   # a's slot
    assert first_start[d] == max(_ceil(planned[d]), first_start[b] + 16)   # b's slot
    assert checks.peak_tapped == 2 and checks.peak_parallel == 2


def _ceil(t: float) -> float:
    """The first tick (whole seconds after T0) at or after t."""
    import math
    return T0 + math.ceil(t - T0)


def test_outcomes_passed_failed_with_flag_absent_and_a_leaver():
    policy = SamplingPolicy(max_parallel=4, max_gap_s=200.0, min_gap_s=60.0, first_within_s=5.0, reserve_s=60.0)
    clock, live, shell, checks = harness(policy, answer_s=10.0)
    for uid in (S1, S2, S3, FAR):
        enter(live, checks, uid, OTHER_TOWN if uid == FAR else TOWN)
    clock.now = T0 + 5.0
    checks.tick(clock.now)                        # all four are due within 5 s
    assert tapped(live) == {S1, S2, S3, FAR}
    assert {e for e in live.rooms[TOWN].log if e[0] == "tap"} == {("tap", f"u{u}", 3.0) for u in (S1, S2, S3)}
    show(live, S1, 1)                             # the enrolled face
    for _ in range(3):                            # someone else, three usable frames
        show(live, S2, 2)
    checks.on_leave(FAR)                          # leaves during the check: no result
    assert tapped(live) == {S3}
    clock.now = T0 + 16.0                         # S3's camera shows nobody past the answer window
    checks.tick(clock.now)
    assert tapped(live) == set()
    by_user = {r["user"]: r for r in shell.records}
    assert set(by_user) == {S1, S2, S3}
    assert by_user[S1]["passed"] and by_user[S1]["scores"]["outcome"] == "present_verified"
    assert by_user[S1]["scores"]["distance"] == 0.3
    assert not by_user[S2]["passed"] and by_user[S2]["scores"]["outcome"] == "present_unverified"
    kind, flag_scores, evidence = by_user[S2]["flag"]
    assert kind == "identity_mismatch" and flag_scores["distance"] == 0.8 and int(evidence[0, 0, 0]) == 2
    assert not by_user[S3]["passed"] and by_user[S3]["scores"]["outcome"] == "absent"
    assert by_user[S3]["flag"] is None
    results = [(u, p["passed"]) for u, k, p in shell.told if k == "edu_check_result"]
    assert results == [(S1, True), (S2, False), (S3, False)]
    calls = [u for u, k, p in shell.told if k == "edu_check_call"]
    assert sorted(calls) == [S1, S2, S3, FAR]
    last = {item["user_id"]: item["passed"] for item in checks.view()["last"]}
    assert last == {S1: True, S2: False, S3: False}
    checks.stop()


def test_shared_room_confirmed_by_its_officer_and_refusals():
    policy = SamplingPolicy(max_parallel=1, max_gap_s=200.0, min_gap_s=60.0, first_within_s=5.0, reserve_s=60.0)
    clock, live, shell, checks = harness(policy)
    enter(live, checks, HOST, "/1/2/3/")
    enter(live, checks, OFFICER, TOWN)
    enter(live, checks, OTHER_OFFICER, OTHER_TOWN)
    panel = [p for u, k, p in shell.told if k == "edu_room" and u == OFFICER]
    assert [x["user_id"] for x in panel[-1]["people"]] == [S1, S2, S3] and panel[-1]["due_in_s"] is None
    refusals = [(OTHER_OFFICER, TOWN, [S1], "forbidden"),     # an officer of another room
                (S1, TOWN, [S1], "forbidden"),                # a supervisee is no confirmer
                (HOST, TOWN, [S1], "forbidden"),              # the host is not in that room
                (OFFICER, TOWN, [FAR], "bad_field"),          # not a supervisee of that unit
                (OFFICER, TOWN, [OFFICER], "bad_field"),      # not a supervisee at all
                (OFFICER, TOWN, [999], "bad_field"),          # nobody
                (OFFICER, TOWN, "11", "bad_field"), (OFFICER, TOWN, [True], "bad_field"),
                (OFFICER, "", [S1], "bad_field")]
    for officer, room, named, code in refusals:
        with pytest.raises(LiveError) as refused:
            checks.confirm_room(officer, room, named)
        assert refused.value.code == code, (officer, room, named)
    assert shell.records == [] and shell.presence == []

    clock.now = T0 + 2.0
    checks.confirm_room(OFFICER, TOWN, [S1, S2, S1])
    assert shell.presence == [("open", S1, TOWN, T0 + 2, True), ("open", S2, TOWN, T0 + 2, True)]
    assert [(r["user"], r["kind"], r["passed"], r["by"], r["at"]) for r in shell.records] == [
        (S1, "officer", True, OFFICER, T0 + 2), (S2, "officer", True, OFFICER, T0 + 2)]
    # two faces at the room's camera are no failure: its people are never face-checked there
    room_target = Target(ROOM, TOWN, frozenset({S1, S2}), T0 + 2)
    due = planned_at(SEED, f"edu:{SESSION}", room_target, [T0 + 2], policy)
    assert T0 + 62 <= due <= T0 + 142
    while clock.now < due - 1:
        clock.now += 1.0
        checks.tick(clock.now)
    assert tapped(live) == set() and not any(k == "edu_check_call" for _u, k, _p in shell.told)
    assert checks.view()["checks"] == []
    clock.now += 1.0
    checks.tick(clock.now)                                  # the room's check falls due: the officer is asked
    asked = [p for u, k, p in shell.told if k == "edu_room" and u == OFFICER][-1]
    assert asked["due_in_s"] == 30.0 and {x["user_id"] for x in asked["people"] if x["in_room"]} == {S1, S2}
    assert checks.view()["checks"][0]["room"] == TOWN
    # the officer names S1 and S3: S2 fails and leaves the room's presence, S3 joins it
    clock.now += 3.0
    checks.confirm_room(OFFICER, TOWN, [S1, S3])
    latest = {r["user"]: r["passed"] for r in shell.records[2:]}
    assert latest == {S1: True, S2: False, S3: True}
    assert shell.presence[2:] == [("open", S3, TOWN, clock.now, True), ("close", S2, clock.now)]
    assert checks.view()["checks"] == []
    # the next request is not answered within confirm_within_s: everyone in the room fails
    second = planned_at(SEED, f"edu:{SESSION}", Target(ROOM, TOWN, frozenset({S1, S3}), T0 + 2),
                        [T0 + 2, due, clock.now], policy)
    while clock.now < second + 30:
        clock.now += 1.0
        checks.tick(clock.now)
    timed_out = shell.records[5:]
    assert [(r["user"], r["passed"], r["scores"]["reason"]) for r in timed_out] == [
        (S1, False, "not confirmed in time"), (S3, False, "not confirmed in time")]
    assert second + 30 <= timed_out[0]["at"] <= second + 32
    # the room's only officer leaves: its people's presence ends with it
    checks.on_leave(OFFICER)
    assert sorted(shell.presence[-2:]) == [("close", S1, clock.now), ("close", S3, clock.now)]
    with pytest.raises(LiveError):
        checks.confirm_room(OFFICER, TOWN, [S1])
    checks.stop()


def test_a_supervisee_on_their_own_camera_cannot_be_named_in_a_room():
    policy = SamplingPolicy(max_parallel=1, max_gap_s=200.0, min_gap_s=60.0, first_within_s=5.0, reserve_s=60.0)
    clock, live, shell, checks = harness(policy)
    enter(live, checks, OFFICER, TOWN)
    enter(live, checks, S1, TOWN)
    panel = [p for u, k, p in shell.told if k == "edu_room" and u == OFFICER][-1]
    assert {x["user_id"]: x["own_camera"] for x in panel["people"]} == {S1: True, S2: False, S3: False}
    with pytest.raises(LiveError) as refused:
        checks.confirm_room(OFFICER, TOWN, [S1, S2])
    assert refused.value.code == "bad_field" and shell.records == []
    checks.on_leave(S1)                           # gone: the panel offers them again
    panel = [p for u, k, p in shell.told if k == "edu_room" and u == OFFICER][-1]
    assert {x["user_id"]: x["own_camera"] for x in panel["people"]} == {S1: False, S2: False, S3: False}
    checks.stop()


def test_a_roll_call_takes_the_camera_the_check_starts_again_after_it():
    policy = SamplingPolicy(max_parallel=1, max_gap_s=200.0, min_gap_s=60.0, first_within_s=5.0, reserve_s=60.0)
    clock, live, shell, checks = harness(policy)
    enter(live, checks, S1)
    clock.now = T0 + 5.0
    checks.tick(clock.now)
    assert tapped(live) == {S1}
    mine = live.rooms[TOWN].taps["u11"][0]
    # the host's roll call calls S1: its tap replaces ours (one tap per source)
    live.tap_rates[S1] = 3.0
    live.rooms[TOWN].tap("u11", lambda *a: None, 3.0)
    clock.now += 2.0
    checks.tick(clock.now)
    assert live.rooms[TOWN].taps["u11"][0] is not mine           # not taken back
    assert checks.view()["checks"] == [] and shell.records == []
    mine(f"u{S1}", 0.0, frame(1))                                # a late frame of the dropped check
    assert shell.records == []
    # the roll call decided S1 and untapped: the check starts again at the next tick
    live.tap_rates[S1] = 0.0
    live.rooms[TOWN].untap("u11")
    clock.now += 2.0
    checks.tick(clock.now)
    assert tapped(live) == {S1}
    show(live, S1, 1)
    assert [(r["user"], r["passed"], r["at"]) for r in shell.records] == [(S1, True, clock.now)]
    checks.stop()
