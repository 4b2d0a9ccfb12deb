"""The roll call of a conference (proctoring.rollcall), driven by hand."""
from __future__ import annotations

import pytest

from proctoring.liveness import Action, LivenessPolicy
from proctoring.rollcall import (Call, Challenge, Done, Flag, Outcome, Override, Participant, Record, RollCallPolicy,
                                 RollCallRun, records)
from proctoring.sitting import IdentitySample, Need

SECRET = b"unit-secret"
NO_LIVENESS = RollCallPolicy(answer_within_s=20.0, liveness=False)
WITH_LIVENESS = RollCallPolicy(answer_within_s=20.0, liveness=True, liveness_policy=LivenessPolicy(window_s=4.0),
                               challenge_lead_s=1.0)


def people(*names, offline=()):
    return [Participant(i + 1, name, connected=(i + 1) not in offline) for i, name in enumerate(names)]


def good(at, distance=0.3):
    return IdentitySample(at, faces=1, detector_score=0.9, distance=distance, passed=distance <= 0.5, threshold=0.5)


def kinds(actions, cls):
    return [a for a in actions if isinstance(a, cls)]


def perform(run, person, challenge, moving=True):
    """Pose samples at 6 fps through every window of a challenge; the move in the middle."""
    out = []
    for step, action in enumerate(challenge.actions):
        start = challenge.starts_at + step * challenge.window_s
        for i in range(24):
            at = start + i / 6
            assert run.need(person, at) is Need.POSE
            eye, yaw, pitch = 1.0, 0.0, 0.0
            if moving and 8 <= i <= 12:
                eye = 0.1 if action is Action.BLINK else 1.0
                yaw = {Action.TURN_LEFT: 30.0, Action.TURN_RIGHT: -30.0}.get(action, 0.0)
                pitch = {Action.LOOK_UP: 20.0, Action.LOOK_DOWN: -20.0}.get(action, 0.0)
            out += run.on_pose(person, at, 1, eye, yaw, pitch)
    return out


def test_people_are_called_one_at_a_time_in_order_and_recorded_as_each_answers():
    run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo", "Cy"), NO_LIVENESS)
    out = run.start(100.0)
    assert out == [Call(1, "Ann", 100.0, 120.0)]
    assert run.need(1, 100.5) is Need.IDENTITY and run.need(2, 100.5) is None
    out = run.on_identity(1, good(103.0))
    # Ann's row comes out now, before anyone else is decided; then Bo is called.
    assert out == [Record(1, Outcome.PRESENT_VERIFIED, {"distance": 0.3, "threshold": 0.5, "detector_score": 0.9},
                          103.0), Call(2, "Bo", 103.0, 123.0)]
    out = run.on_identity(2, good(104.0, 0.2))
    assert [(type(a).__name__, a.person) for a in out] == [("Record", 2), ("Call", 3)]
    assert not run.done
    out = run.on_identity(3, good(105.0))
    assert [type(a) for a in out] == [Record, Done]
    assert out[-1] == Done(105.0, {"present_verified": 3, "present_unverified": 0, "absent": 0, "left_early": 0})
    assert run.done and run.on_identity(3, good(106.0)) == [] and run.tick(500.0) == []


def test_parallel_calls_fill_a_slot_as_soon_as_one_is_decided():
    policy = RollCallPolicy(answer_within_s=20.0, liveness=False, parallel=2)
    run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo", "Cy", "Di"), policy)
    out = run.start(0.0)
    assert [a.person for a in kinds(out, Call)] == [1, 2]
    out = run.on_identity(2, good(3.0))          # Bo answers first: recorded first, Cy takes his slot
    assert [(type(a).__name__, a.person) for a in out] == [("Record", 2), ("Call", 3)]
    out = run.on_identity(3, good(4.0))
    assert [(type(a).__name__, a.person) for a in out] == [("Record", 3), ("Call", 4)]
    assert set(run.active) == {1, 4}


def test_no_face_within_the_time_limit_is_absent_and_a_frame_at_the_deadline_still_counts():
    run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo"), NO_LIVENESS)
    run.start(0.0)
    assert not kinds(run.on_identity(1, IdentitySample(5.0, faces=0)), Record)
    assert run.tick(20.0) == []                  # the deadline itself: still open
    out = run.tick(20.5)
    assert out[0] == Record(1, Outcome.ABSENT, {"reason": "no face", "called_at": 0.0, "deadline": 20.0}, 20.0)
    assert not kinds(out, Flag) and out[1] == Call(2, "Bo", 20.5, 40.5)
    out = run.on_identity(2, good(40.5))         # exactly at Bo's deadline
    assert kinds(out, Record)[0].outcome is Outcome.PRESENT_VERIFIED


def test_a_late_frame_does_not_count():
    run = RollCallRun(SECRET, "rc-1", people("Ann"), NO_LIVENESS)
    run.start(0.0)
    out = run.on_identity(1, good(21.0))
    assert [r.outcome for r in records(out)] == [Outcome.ABSENT] and kinds(out, Done)


def test_not_connected_when_called_is_absent_at_once_or_waited_for():
    run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo", offline={1}), NO_LIVENESS)
    out = run.start(0.0)
    assert out == [Record(1, Outcome.ABSENT, {"reason": "not connected"}, 0.0), Call(2, "Bo", 0.0, 20.0)]
    # An office may instead give late joiners the full time limit.
    policy = RollCallPolicy(answer_within_s=20.0, liveness=False, wait_for_unconnected=True)
    run = RollCallRun(SECRET, "rc-1", people("Ann", offline={1}), policy)
    assert kinds(run.start(0.0), Call)
    assert run.on_identity(1, good(2.0)) == []      # no frames count from someone not connected
    run.connect(1, 5.0)
    assert records(run.on_identity(1, good(6.0)))[0].outcome is Outcome.PRESENT_VERIFIED


def test_identity_mismatch_is_present_unverified_with_scores_and_a_flag():
    run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo"), NO_LIVENESS)
    run.start(0.0)
    assert run.on_identity(1, good(1.0, 0.7)) == []      # one bad frame does not decide
    assert run.on_identity(1, good(2.0, 0.62)) == []
    out = run.on_identity(1, good(3.0, 0.8))
    flag, record = out[0], out[1]
    assert flag == Flag(1, "identity_mismatch", flag.scores, 3.0)
    assert flag.scores["distance"] == 0.62 and flag.scores["attempts"] == 3 and flag.scores["threshold"] == 0.5
    assert record == Record(1, Outcome.PRESENT_UNVERIFIED, flag.scores, 3.0)
    assert out[2] == Call(2, "Bo", 3.0, 23.0)


def test_a_mismatch_then_a_match_within_the_limit_is_verified():
    run = RollCallRun(SECRET, "rc-1", people("Ann"), NO_LIVENESS)
    run.start(0.0)
    run.on_identity(1, good(1.0, 0.7))          # a blurred first frame
    assert records(run.on_identity(1, good(2.0, 0.35)))[0].outcome is Outcome.PRESENT_VERIFIED


def test_a_face_that_never_matches_before_the_deadline_is_unverified_not_absent():
    run = RollCallRun(SECRET, "rc-1", people("Ann"), NO_LIVENESS)
    run.start(0.0)
    run.on_identity(1, good(1.0, 0.9))
    out = run.tick(25.0)
    assert kinds(out, Flag)[0].kind == "identity_mismatch"
    assert records(out)[0].outcome is Outcome.PRESENT_UNVERIFIED and records(out)[0].at == 20.0


def test_several_faces_only_is_unverified_and_flagged():
    run = RollCallRun(SECRET, "rc-1", people("Ann"), NO_LIVENESS)
    run.start(0.0)
    run.on_identity(1, IdentitySample(2.0, faces=2, detector_score=0.9))
    out = run.tick(21.0)
    assert kinds(out, Flag) == [Flag(1, "multiple_faces", {"faces": 2, "reason": "several faces"}, 20.0)]
    assert records(out)[0].outcome is Outcome.PRESENT_UNVERIFIED


def test_liveness_passes_with_the_right_moves_and_fails_for_a_still_photo():
    def run_once(moving):
        run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo"), WITH_LIVENESS)
        run.start(0.0)
        out = run.on_identity(1, good(2.0))
        assert not records(out)                  # identity alone is not enough
        challenge = kinds(out, Challenge)[0]
        assert challenge.person == 1 and len(challenge.actions) == 2 and challenge.starts_at == 3.0
        assert run.need(1, 2.5) is Need.PRESENCE
        out = perform(run, 1, challenge, moving)
        out += run.tick(challenge.starts_at + 2 * challenge.window_s)
        return run, challenge, out

    _, challenge, out = run_once(moving=True)
    record = records(out)[0]
    assert record.outcome is Outcome.PRESENT_VERIFIED and record.at == 11.0
    assert record.scores["challenge"] == [a.value for a in challenge.actions]
    assert all(step["passed"] for step in record.scores["steps"]) and not kinds(out, Flag)
    assert kinds(out, Call) == [Call(2, "Bo", 11.0, 31.0)]
    # The challenge is drawn from the secret: the same roll call and person, the same challenge.
    assert run_once(moving=True)[1] == challenge
    _, _, out = run_once(moving=False)
    assert kinds(out, Flag)[0].kind == "liveness_failed" and "not performed" in kinds(out, Flag)[0].scores["reason"]
    assert records(out)[0].outcome is Outcome.PRESENT_UNVERIFIED and "steps" in records(out)[0].scores


def test_challenges_differ_between_people_and_roll_calls():
    drawn = set()
    for key in ("rc-1", "rc-2", "rc-3", "rc-4"):
        run = RollCallRun(SECRET, key, people(*"ABCDEFGH"), RollCallPolicy(liveness=True, parallel=8))
        run.start(0.0)
        for person in range(1, 9):
            drawn.add(kinds(run.on_identity(person, good(1.0)), Challenge)[0].actions)
    assert len(drawn) > 3


def test_disconnecting_mid_call_and_not_coming_back_is_absent():
    run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo"), NO_LIVENESS)
    run.start(0.0)
    run.on_identity(1, IdentitySample(1.0, faces=0))
    assert run.disconnect(1, 2.0) == []
    assert run.on_identity(1, good(3.0)) == []      # frames from a dropped connection do not count
    out = run.tick(20.1)
    assert records(out)[0] == Record(1, Outcome.ABSENT, {"reason": "disconnected", "called_at": 0.0,
                                                         "deadline": 20.0}, 20.0)


def test_disconnecting_mid_call_and_coming_back_in_time_is_verified():
    run = RollCallRun(SECRET, "rc-1", people("Ann"), NO_LIVENESS)
    run.start(0.0)
    run.disconnect(1, 2.0)
    run.connect(1, 8.0)
    assert records(run.on_identity(1, good(9.0)))[0].outcome is Outcome.PRESENT_VERIFIED


def test_disconnecting_during_the_challenge_voids_it():
    run = RollCallRun(SECRET, "rc-1", people("Ann"), WITH_LIVENESS)
    run.start(0.0)
    assert kinds(run.on_identity(1, good(1.0)), Challenge)
    run.on_pose(1, 2.5, 1, 1.0, 0.0)
    assert run.disconnect(1, 3.0) == []
    assert run.need(1, 4.0) is Need.IDENTITY
    # Back in time: identity again, and a new challenge (the next draw).
    run.connect(1, 5.0)
    second = kinds(run.on_identity(1, good(5.5)), Challenge)[0]
    assert second.starts_at == 6.5
    out = perform(run, 1, second) + run.tick(second.starts_at + 8.0)
    assert records(out)[0].outcome is Outcome.PRESENT_VERIFIED
    # Not back in time: a face was there and identified, but liveness was never shown.
    run = RollCallRun(SECRET, "rc-1", people("Ann"), WITH_LIVENESS)
    run.start(0.0)
    run.on_identity(1, good(1.0))
    run.disconnect(1, 3.0)
    out = run.tick(21.0)
    assert kinds(out, Flag)[0].kind == "liveness_incomplete"
    assert records(out)[0].outcome is Outcome.PRESENT_UNVERIFIED


def test_verified_then_disconnected_before_the_end_is_left_early():
    run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo"), NO_LIVENESS)
    run.start(0.0)
    run.on_identity(1, good(1.0))
    out = run.disconnect(1, 5.0)
    assert out == [Record(1, Outcome.LEFT_EARLY, {"distance": 0.3, "threshold": 0.5, "detector_score": 0.9,
                                                  "left_at": 5.0}, 5.0)]
    assert run.outcome(1) is Outcome.LEFT_EARLY
    out = run.on_identity(2, good(6.0))
    assert out[-1].counts["left_early"] == 1 and out[-1].counts["present_verified"] == 1
    # After the end, leaving changes nothing.
    assert run.disconnect(2, 7.0) == [] and run.outcome(2) is Outcome.PRESENT_VERIFIED


def test_unverified_or_absent_people_leaving_stay_as_recorded():
    run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo", "Cy"), NO_LIVENESS)
    run.start(0.0)
    run.tick(21.0)                                     # Ann absent
    assert run.disconnect(1, 22.0) == [] and run.outcome(1) is Outcome.ABSENT


def test_the_host_ending_early_records_everyone_left():
    run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo", "Cy"), NO_LIVENESS)
    run.start(0.0)
    run.on_identity(1, good(1.0))
    out = run.end(2.0)
    assert [(r.person, r.outcome, r.scores["reason"]) for r in records(out)] == [
        (2, Outcome.ABSENT, "roll call ended before an answer"),
        (3, Outcome.ABSENT, "roll call ended before the call")]
    assert not kinds(out, Call) and isinstance(out[-1], Done) and run.ended_at == 2.0
    assert run.end(3.0) == []


def test_an_override_needs_a_reason_and_returns_an_audit_record():
    run = RollCallRun(SECRET, "rc-1", people("Ann", "Bo"), NO_LIVENESS)
    run.start(0.0)
    run.tick(21.0)                                     # Ann absent (camera broken, she was there)
    for reason in ("", "   "):
        with pytest.raises(ValueError):
            run.override(1, Outcome.PRESENT_VERIFIED, reason, by=99, at=30.0)
    assert run.outcome(1) is Outcome.ABSENT
    with pytest.raises(ValueError):
        run.override(2, "present_verified", "seen", by=99, at=30.0)     # not decided yet
    with pytest.raises(ValueError):
        run.override(1, "here", "seen", by=99, at=30.0)                 # no such outcome
    record = run.override(1, "present_verified", " camera broken, seen in person ", by=99, at=30.0)
    assert record == Override(1, Outcome.ABSENT, Outcome.PRESENT_VERIFIED, "camera broken, seen in person", 99, 30.0)
    assert run.outcome(1) is Outcome.PRESENT_VERIFIED and run.outcomes[1] is Outcome.ABSENT


def test_an_empty_roll_call_is_done_at_once_and_duplicates_are_refused():
    assert RollCallRun(SECRET, "rc-1", [], NO_LIVENESS).start(0.0) == [
        Done(0.0, {"present_verified": 0, "present_unverified": 0, "absent": 0, "left_early": 0})]
    with pytest.raises(ValueError):
        RollCallRun(SECRET, "rc-1", [Participant(1, "A"), Participant(1, "B")])
    with pytest.raises(ValueError):
        RollCallPolicy(parallel=0)


def test_override_outcome_needs_a_reason_and_a_known_outcome():
    from proctoring.rollcall import Outcome, override_outcome

    record = override_outcome(7, "absent", "present_verified", "  到场，摄像头故障  ", by=1, at=10.0, max_reason=20)
    assert (record.previous, record.outcome, record.reason) == (Outcome.ABSENT, Outcome.PRESENT_VERIFIED,
                                                                "到场，摄像头故障")
    for reason in ("", "   ", None):
        with pytest.raises(ValueError):
            override_outcome(7, "absent", "present_verified", reason, by=1, at=10.0)
    with pytest.raises(ValueError):
        override_outcome(7, "absent", "present", "reason", by=1, at=10.0)
    with pytest.raises(ValueError):
        override_outcome(7, "absent", "left_early", "x" * 21, by=1, at=10.0, max_reason=20)


def test_who_is_called():
    from proctoring.rollcall import SelectionError, who_is_called

    present, members, host = [1, 5, 3, 9], {1, 3, 5, 9, 11}, 1
    assert who_is_called(present, members, host, None) == [5, 3, 9]           # everyone present but the host
    assert who_is_called(present, members, host, [11, 3, 11]) == [11, 3]      # ticked, absent ones too, once each
    for ticked, code in (([3, 1], "bad_field"), ([3, 42], "bad_field"), ([], "no_participants")):
        with pytest.raises(SelectionError) as err:
            who_is_called(present, members, host, ticked)
        assert err.value.code == code
    with pytest.raises(SelectionError):
        who_is_called([1], members, host, None)
