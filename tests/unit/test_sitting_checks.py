"""The verdict-to-ledger rules of a proctored sitting (proctoring.sitting), driven by hand."""
from __future__ import annotations

from proctoring.liveness import Action, LivenessPolicy
from proctoring.policy import IdentityPolicy
from proctoring.presence import PresencePolicy
from proctoring.sitting import (Attest, Burst, Challenge, CheckPolicy, Flag, Hold, IdentitySample, Need, Release,
                                SittingChecks, Verdict)

SECRET = b"unit-secret"
POLICY = CheckPolicy(presence=PresencePolicy(grace_s=10.0, attest_every_s=30.0),
                     identity=IdentityPolicy(mean_s=120.0, min_s=20.0, max_s=300.0, liveness_share=0.0),
                     liveness=LivenessPolicy(window_s=4.0), check_timeout_s=15.0)


def good(at, distance=0.3):
    return IdentitySample(at, faces=1, detector_score=0.9, distance=distance, passed=distance <= 0.5, threshold=0.5)


def kinds(actions, cls):
    return [a for a in actions if isinstance(a, cls)]


def watch_until(s, start, end):
    """A face seen once a second: continuous presence."""
    t = start
    while t < end:
        s.on_presence(t, [0.9])
        t += 1.0


def verified(t0=1000.0, policy=POLICY):
    s = SittingChecks(SECRET, "sitting-1", t0, policy)
    assert s.need(t0) is Need.IDENTITY
    out = s.on_identity(good(t0 + 1))
    assert Attest(t0 + 1, True, "identity") in out and any(isinstance(a, Release) for a in out)
    assert s.hold is None and s.next_check_at > t0 + 1
    return s


def test_nothing_counts_before_the_first_identity_check_passes():
    s = SittingChecks(SECRET, "sitting-1", 0.0, POLICY)
    assert s.hold == "unverified"
    out = s.on_presence(0.5, [0.9])          # a face, but not yet identified
    assert not kinds(out, Attest)
    assert not kinds(s.on_identity(IdentitySample(1.0, faces=0)), Attest)   # no face yet: wait
    out = s.on_identity(good(2.0))
    assert kinds(out, Attest) == [Attest(2.0, True, "identity")]


def test_first_check_times_out_without_a_face_and_holds():
    s = SittingChecks(SECRET, "sitting-1", 0.0, POLICY)
    s.on_identity(IdentitySample(1.0, faces=0))
    out = s.tick(16.0)
    verdicts = kinds(out, Verdict)
    assert verdicts and not verdicts[-1].passed and verdicts[-1].reason == "no face"
    assert Hold("no_face") in out and not kinds(out, Flag)
    assert s.hold == "no_face"
    # Nobody needs to click anything: the check repeats once a face is seen again.
    s.tick(17.0)
    assert s.check is None
    s.on_presence(30.0, [])
    s.on_presence(31.0, [0.9])
    assert s.need(31.5) is Need.IDENTITY
    out = s.on_identity(good(32.0))
    assert Attest(32.0, True, "identity") in out and Release(32.0) in out and s.hold is None


def test_presence_attests_while_the_face_stays_and_absence_fails_after_grace():
    s = verified()
    out = []
    for t in range(1002, 1040):
        out += s.on_presence(float(t), [0.9])
    # The identity pass at 1001 attested; presence attests again every 30 s of continuous samples.
    assert [a.at for a in kinds(out, Attest)] == [1031.0]
    out = []
    for t in range(1040, 1060):
        out += s.on_presence(float(t), [])       # empty room
    fails = [a for a in kinds(out, Attest) if not a.ok]
    assert fails and fails[0].source == "camera" and fails[0].at <= 1039 + 10 + 1
    assert Hold("absent") in out and s.hold == "absent"
    out = s.on_presence(1060.0, [0.93])          # back
    assert Attest(1060.0, True, "camera", "returned") in out and Release(1060.0) in out
    assert s.hold is None


def test_samples_that_stop_are_a_gap_even_without_frames():
    s = verified()
    s.on_presence(1002.0, [0.9])
    out = s.tick(1013.5)
    assert any(isinstance(a, Attest) and not a.ok and a.detail == "gap" for a in out)
    assert s.hold == "absent"


def test_identity_mismatch_fails_flags_and_holds_until_a_recheck_passes():
    s = verified()
    due = s.next_check_at
    watch_until(s, 1002.0, due)
    s.tick(due)
    assert s.need(due + 0.1) is Need.IDENTITY
    out = s.on_identity(good(due + 0.5, distance=0.8))
    assert Attest(due + 0.5, False, "identity", "distance above threshold") in out
    flag = kinds(out, Flag)[0]
    assert flag.kind == "identity_mismatch" and flag.scores["distance"] == 0.8
    assert Hold("identity") in out
    # Presence alone does not lift it, nor do scheduled checks start while held.
    assert not kinds(s.on_presence(due + 40, [0.9]), Attest)
    assert not kinds(s.tick(due + 1000), Attest) and s.check is None
    s.request_recheck(due + 50)
    out = s.on_identity(good(due + 51))
    assert Attest(due + 51, True, "identity") in out and Release(due + 51) in out and s.hold is None


def test_liveness_challenge_passes_with_the_right_moves_and_fails_for_a_still_photo():
    policy = CheckPolicy(presence=POLICY.presence, identity=IdentityPolicy(mean_s=60, min_s=20, max_s=100,
                                                                           liveness_share=1.0),
                         liveness=LivenessPolicy(window_s=4.0), check_timeout_s=15.0)

    def run(moving: bool):
        s = verified(policy=policy)
        due = s.next_check_at
        watch_until(s, 1002.0, due)
        s.tick(due)
        out = s.on_identity(good(due + 0.2))
        challenge = kinds(out, Challenge)[0]
        assert kinds(out, Burst) and len(challenge.actions) == 2
        t = challenge.starts_at
        for step, action in enumerate(challenge.actions):
            start = challenge.starts_at + step * challenge.window_s
            for i in range(24):
                at = start + i / 6
                assert s.need(at) is Need.POSE
                eye, yaw = 1.0, 0.0
                if moving and 8 <= i <= 12:
                    eye = 0.1 if action is Action.BLINK else 1.0
                    yaw = {Action.TURN_LEFT: 30.0, Action.TURN_RIGHT: -30.0}.get(action, 0.0)
                s.on_pose(at, 1, eye, yaw)
                t = at
        return s, s.tick(challenge.starts_at + 2 * challenge.window_s + 0.1)

    s, out = run(moving=True)
    assert [v.kind for v in kinds(out, Verdict) if v.passed] == ["liveness"]
    assert kinds(out, Attest)[0].ok and s.hold is None
    s, out = run(moving=False)
    verdict = [v for v in kinds(out, Verdict) if v.kind == "liveness"][0]
    assert not verdict.passed and "not performed" in verdict.reason
    assert kinds(out, Flag)[0].kind == "liveness_failed" and s.hold == "liveness"


def test_several_faces_flag_and_the_return_to_one_face_is_identified_again():
    s = verified()
    out = s.on_presence(1005.0, [0.9, 0.85])
    assert kinds(out, Flag)[0].kind == "multiple_faces"
    assert any(isinstance(a, Attest) and not a.ok for a in out) and s.hold == "absent"
    out = s.on_presence(1007.0, [0.9])
    assert Release(1007.0) in out and s.need(1007.5) is Need.IDENTITY


def test_check_times_are_unpredictable_per_sitting_and_stay_within_bounds():
    gaps = []
    for n in range(200):
        s = verified()
        gaps.append(s.next_check_at - 1001.0)
    assert len(set(round(g, 6) for g in gaps)) == 1          # same sitting key: same draw (server-side secret)
    gaps = []
    for n in range(300):
        s = SittingChecks(SECRET, f"sitting-{n}", 0.0, POLICY)
        s.on_identity(good(1.0))
        gaps.append(s.next_check_at - 1.0)
    assert all(20.0 <= g <= 300.0 for g in gaps)
    assert len(set(round(g, 3) for g in gaps)) > 200   # apart from the clamped ends
    assert 90 < sum(gaps) / len(gaps) < 150


def test_an_external_failure_holds_until_a_recheck():
    s = verified()
    assert s.external_failure(1010.0, "question") == [Hold("question")]
    assert not kinds(s.on_presence(1050.0, [0.9]), Attest)
    s.request_recheck(1051.0)
    out = s.on_identity(good(1052.0))
    assert Release(1052.0) in out and s.hold is None
