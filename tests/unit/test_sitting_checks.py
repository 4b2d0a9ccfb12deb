"""The verdict-to-ledger rules of a proctored sitting (proctoring.sitting), driven by hand.

Expected actions are written from the rules (README "Camera proctoring"): credit only between
passed identity checks; liveness on the first check and after any hold; a gap is not a failure."""
from __future__ import annotations

from proctoring.liveness import SIGNAL, Action, LivenessPolicy
from proctoring.policy import IdentityPolicy
from proctoring.presence import PresencePolicy
from proctoring.feed import FeedVerdict
from proctoring.sitting import (Attest, Burst, Challenge, CheckPolicy, Finished, Flag, Hold, IdentitySample, Need,
                                Release, ResetFeed, SittingChecks, Standing, Verdict)

SECRET = b"unit-secret"
POLICY = CheckPolicy(presence=PresencePolicy(grace_s=10.0, attest_every_s=30.0),
                     identity=IdentityPolicy(mean_s=120.0, min_s=20.0, max_s=300.0, liveness_share=0.0),
                     liveness=LivenessPolicy(window_s=4.0), check_timeout_s=15.0)
MOVE = {Action.BLINK: (0.1, 0.0, 0.0, 0.0), Action.TURN_LEFT: (1.0, 30.0, 0.0, 0.0),
        Action.TURN_RIGHT: (1.0, -30.0, 0.0, 0.0), Action.LOOK_UP: (1.0, 0.0, 20.0, 0.0),
        Action.LOOK_DOWN: (1.0, 0.0, -20.0, 0.0), Action.OPEN_MOUTH: (1.0, 0.0, 0.0, 0.5)}


def good(at, distance=0.3):
    return IdentitySample(at, faces=1, detector_score=0.9, distance=distance, passed=distance <= 0.5, threshold=0.5)


def kinds(actions, cls):
    return [a for a in actions if isinstance(a, cls)]


def perform(s, challenge: Challenge, moving: bool = True) -> float:
    """Six pose samples a second through each step's window; `moving`: the drawn action is done
    in the middle of its window. Returns the time just after the last window."""
    for step, action in enumerate(challenge.actions):
        start = challenge.step_starts[step]
        for i in range(24):
            at = start + i / 6
            assert s.need(at) is Need.POSE
            eye, yaw, pitch, mouth = MOVE[action] if moving and 8 <= i <= 12 else (1.0, 0.0, 0.0, 0.0)
            s.on_pose(at, 1, eye, yaw, 0.9, pitch, mouth)
    return challenge.step_starts[-1] + challenge.window_s + 0.1


def identify_and_perform(s, at, moving=True):
    """An identity sample that passes, then the challenge it draws: the actions out."""
    out = s.on_identity(good(at))
    [challenge] = kinds(out, Challenge)
    return out + s.tick(perform(s, challenge, moving))


def verified(t0=1000.0, policy=POLICY):
    s = SittingChecks(SECRET, "sitting-1", t0, policy)
    assert s.need(t0) is Need.IDENTITY
    out = identify_and_perform(s, t0 + 1)
    assert [a.ok for a in kinds(out, Attest)] == [True] and kinds(out, Release)
    assert s.hold is None and s.next_check_at > t0 + 1
    return s


def watch_until(s, start, end):
    """A face seen once a second: continuous presence."""
    t, out = start, []
    while t < end:
        out += s.on_presence(t, [0.9])
        t += 1.0
    return out


def test_the_first_check_carries_a_liveness_challenge_and_nothing_counts_before_it_passes():
    s = SittingChecks(SECRET, "sitting-1", 0.0, POLICY)
    assert s.hold == "unverified"
    assert not kinds(s.on_presence(0.5, [0.9]), Attest)       # a face, but not yet identified
    assert not kinds(s.on_identity(IdentitySample(1.0, faces=0)), Attest)   # no face yet: wait
    out = s.on_identity(good(2.0))
    assert not kinds(out, Attest) and kinds(out, Challenge) and kinds(out, Burst)   # identity alone is not enough
    [challenge] = kinds(out, Challenge)
    out = s.tick(perform(s, challenge))
    assert [(a.ok, a.source) for a in kinds(out, Attest)] == [(True, "liveness")] and s.hold is None


def test_a_still_photo_never_passes_the_first_check():
    s = SittingChecks(SECRET, "sitting-1", 0.0, POLICY)
    out = identify_and_perform(s, 2.0, moving=False)
    assert [a.ok for a in kinds(out, Attest)] == []            # nothing was pending, nothing to drop yet
    assert kinds(out, Flag)[0].kind == "liveness_failed" and s.hold == "liveness"
    # a re-check carries a challenge again: the photo fails again
    s.request_recheck(30.0)
    out = identify_and_perform(s, 31.0, moving=False)
    assert not [a for a in kinds(out, Attest) if a.ok] and s.hold == "liveness"


def test_challenges_mix_signals_in_random_order_and_timing():
    policy = LivenessPolicy(window_s=4.0, max_lead_s=1.0)
    drawn, leads = set(), set()
    for n in range(60):
        s = SittingChecks(SECRET, f"sitting-{n}", 0.0, CheckPolicy(liveness=policy))
        [c] = kinds(s.on_identity(good(1.0)), Challenge)
        assert len(c.actions) == 2 and SIGNAL[c.actions[0]] != SIGNAL[c.actions[1]]
        gaps = [b - a for a, b in zip(c.step_starts, c.step_starts[1:])]
        assert all(4.0 <= g <= 5.0 for g in gaps)
        drawn.add(c.actions)
        leads.add(round(gaps[0], 3))
    assert len({SIGNAL[a] for pair in drawn for a in pair}) == 3 and len(drawn) >= 10 and len(leads) > 30


def test_first_check_times_out_without_a_face_holds_without_a_failure_and_reruns_with_liveness():
    s = SittingChecks(SECRET, "sitting-1", 0.0, POLICY)
    s.on_identity(IdentitySample(1.0, faces=0))
    out = s.tick(16.0)
    verdicts = kinds(out, Verdict)
    assert verdicts and not verdicts[-1].passed and verdicts[-1].reason == "no face"
    assert Hold("no_face") in out and not kinds(out, Flag) and not kinds(out, Attest)
    s.on_presence(30.0, [])
    s.on_presence(31.0, [0.9])
    assert s.need(31.5) is Need.IDENTITY and s.check.liveness
    out = identify_and_perform(s, 32.0)
    assert [a.ok for a in kinds(out, Attest)] == [True] and kinds(out, Release) and s.hold is None


def test_presence_alone_attests_nothing_and_a_gap_waits_for_the_check_after_it():
    s = verified()
    assert not kinds(watch_until(s, 1002.0, 1040.0), Attest)     # presence keeps watched time pending
    out = []
    for t in range(1040, 1060):
        out += s.on_presence(float(t), [])                      # empty room
    assert Hold("absent") in out and s.hold == "absent"
    assert not kinds(out, Attest)                               # a gap, not a failure
    out = s.on_presence(1060.0, [0.93])                         # a face is back: who is it?
    assert not kinds(out, Attest) and not kinds(out, Release) and s.need(1060.5) is Need.IDENTITY
    out = identify_and_perform(s, 1061.0)
    assert [a.ok for a in kinds(out, Attest)] == [True] and kinds(out, Release) and s.hold is None


def test_someone_else_after_the_gap_drops_the_time_before_it():
    s = verified()
    for t in range(1002, 1030):
        s.on_presence(float(t), [])
    s.on_presence(1030.0, [0.9])
    out = s.on_identity(good(1031.0, distance=0.8))
    assert Attest(1031.0, False, "identity", "distance above threshold") in out
    assert kinds(out, Flag)[0].kind == "identity_mismatch" and s.hold == "identity"


def test_samples_that_stop_are_a_gap_even_without_frames():
    s = verified()
    s.on_presence(1002.0, [0.9])
    out = s.tick(1013.5)
    assert Hold("absent") in out and not kinds(out, Attest) and s.hold == "absent"


def test_identity_mismatch_fails_flags_and_holds_until_a_live_recheck_passes():
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
    assert not kinds(s.on_presence(due + 40, [0.9]), Attest)
    assert not kinds(s.tick(due + 1000), Attest) and s.check is None
    s.request_recheck(due + 1050)
    assert s.check.liveness
    out = identify_and_perform(s, due + 1051)
    assert [a.ok for a in kinds(out, Attest)] == [True] and kinds(out, Release) and s.hold is None


def test_scheduled_liveness_passes_with_the_right_moves_and_fails_for_a_still_photo():
    policy = CheckPolicy(presence=POLICY.presence, identity=IdentityPolicy(mean_s=60, min_s=20, max_s=100,
                                                                           liveness_share=1.0),
                         liveness=LivenessPolicy(window_s=4.0), check_timeout_s=15.0)

    def run(moving: bool):
        s = verified(policy=policy)
        due = s.next_check_at
        watch_until(s, 1002.0, due)
        s.tick(due)
        return s, identify_and_perform(s, due + 0.2, moving)

    s, out = run(moving=True)
    assert [v.kind for v in kinds(out, Verdict) if v.passed] == ["identity", "liveness"]
    assert kinds(out, Attest)[0].ok and s.hold is None
    s, out = run(moving=False)
    verdict = [v for v in kinds(out, Verdict) if v.kind == "liveness"][0]
    assert not verdict.passed and "not performed" in verdict.reason
    assert not kinds(out, Attest)[0].ok
    assert kinds(out, Flag)[0].kind == "liveness_failed" and s.hold == "liveness"


def test_leaving_the_picture_during_a_challenge_fails_it():
    policy = CheckPolicy(presence=PresencePolicy(grace_s=2.0), liveness=LivenessPolicy(window_s=4.0))
    s = SittingChecks(SECRET, "sitting-1", 0.0, policy)
    [challenge] = kinds(s.on_identity(good(1.0)), Challenge)
    t = challenge.step_starts[0]
    for k in range(1, int((t - 1.0) * 2)):
        s.on_presence(1.0 + k / 2, [0.9])
    for i in range(12):
        s.on_pose(t + i / 6, 1, 1.0, 0.0)
    out = []
    for k in range(8):
        out += s.on_presence(t + 2 + k / 2, [])
    verdict = [v for v in kinds(out, Verdict) if v.kind == "liveness"][0]
    assert not verdict.passed and "during the challenge" in verdict.reason
    assert kinds(out, Flag)[0].kind == "liveness_failed"


def test_several_faces_flag_and_the_return_to_one_face_is_identified_with_liveness():
    s = verified()
    out = s.on_presence(1005.0, [0.9, 0.85])
    assert kinds(out, Flag)[0].kind == "multiple_faces"
    assert not kinds(out, Attest) and s.hold == "absent"
    out = s.on_presence(1007.0, [0.9])
    assert not kinds(out, Release) and s.need(1007.5) is Need.IDENTITY and s.check.liveness


def test_finish_runs_a_final_identity_check_and_credits_the_tail_only_if_it_passes():
    s = verified()
    watch_until(s, 1002.0, 1050.0)
    assert s.finish(1050.0) == [] and s.finishing and s.need(1050.1) is Need.IDENTITY
    out = s.on_identity(good(1051.0))
    assert Attest(1051.0, True, "identity") in out and Finished(1051.0, True) in out and s.done
    # another person at the final check: the tail is dropped
    s = verified()
    s.finish(1050.0)
    out = s.on_identity(good(1051.0, distance=0.9))
    assert [a.ok for a in kinds(out, Attest)] == [False] and Finished(1051.0, False) in out
    # nobody in front of the camera: nothing credited, nothing dropped
    s = verified()
    s.finish(1050.0)
    out = s.tick(1066.0)
    assert not kinds(out, Attest) and Finished(1066.0, False) in out and s.done


def test_finishing_during_a_challenge_fails_it():
    s = verified()
    s.request_recheck(1002.0)      # nothing held: ignored
    due = s.next_check_at
    s.external_failure(due, "question")
    s.request_recheck(due + 1)
    [challenge] = kinds(s.on_identity(good(due + 2)), Challenge)
    out = s.finish(challenge.step_starts[0] + 1)
    verdict = [v for v in kinds(out, Verdict) if v.kind == "liveness"][0]
    assert not verdict.passed and verdict.reason == "finished during the challenge"
    assert Finished(challenge.step_starts[0] + 1, False) in out and s.done


def test_check_times_are_unpredictable_per_sitting_and_stay_within_bounds():
    gaps = []
    for n in range(3):
        s = verified()
        gaps.append(s.next_check_at)
    assert len(set(round(g, 6) for g in gaps)) == 1          # same sitting key: same draw (server-side secret)
    gaps = []
    for n in range(300):
        s = SittingChecks(SECRET, f"sitting-{n}", 0.0, POLICY)
        out = identify_and_perform(s, 1.0)
        passed_at = kinds(out, Attest)[0].at
        gaps.append(s.next_check_at - passed_at)
    assert all(20.0 - 1e-9 <= g <= 300.0 + 1e-9 for g in gaps)
    assert len(set(round(g, 3) for g in gaps)) > 200   # apart from the clamped ends
    assert 90 < sum(gaps) / len(gaps) < 150


def test_an_external_failure_holds_until_a_live_recheck():
    s = verified()
    assert s.external_failure(1010.0, "question") == [Hold("question")]
    assert not kinds(s.on_presence(1050.0, [0.9]), Attest)
    s.request_recheck(1051.0)
    out = identify_and_perform(s, 1052.0)
    assert kinds(out, Release) and s.hold is None


def test_a_broken_face_track_runs_an_identity_check_at_once():
    import numpy as np

    a, b = np.zeros(96, np.float32), np.zeros(96, np.float32)
    a[:48], b[48:] = 1 / 48, 1 / 48
    s = SittingChecks(SECRET, "sitting-1", 1000.0, POLICY)
    s.on_presence(1000.5, [0.9], (100, 100, 60, 60), a)
    identify_and_perform(s, 1001.0)
    assert s.hold is None and s.check is None
    s.on_presence(1020.0, [0.9], (102, 100, 60, 60), a)
    assert s.check is None                                      # the same face: nothing to do
    s.on_presence(1021.0, [0.9], (102, 100, 60, 60), b)        # someone else, in the same place
    assert s.check is not None and s.check.trigger == "appearance_changed" and s.need(1021.5) is Need.IDENTITY
    out = s.on_identity(IdentitySample(1022.0, 1, 0.9, 0.8, False, 0.5, (102, 100, 60, 60), b))
    assert Attest(1022.0, False, "identity", "distance above threshold") in out
    assert kinds(out, Flag)[0].scores["trigger"] == "appearance_changed"


def test_failed_rechecks_back_off_doubling_and_reset_on_a_pass():
    s = SittingChecks(SECRET, "sitting-1", 0.0, POLICY)
    identify_and_perform(s, 1.0, moving=False)          # the first check fails: held
    t = 30.0
    waits = []
    for _ in range(4):
        s.request_recheck(t)
        assert s.check is not None and s.check.recheck
        out = identify_and_perform(s, t + 1, moving=False)
        failed_at = kinds(out, Verdict)[-1].at
        waits.append(round(s.recheck_wait(failed_at), 6))
        s.request_recheck(failed_at + 1)                # too soon: refused
        assert s.check is None
        t = failed_at + waits[-1]
    assert waits == [10.0, 20.0, 40.0, 80.0]
    s.request_recheck(t)
    identify_and_perform(s, t + 1)                      # a live pass: released, back-off forgotten
    assert s.hold is None and s.failures == 0 and s.recheck_wait(t + 100) == 0.0


# --- the learner's standing across sittings, and frozen or looped feeds -------------------------

def fail_first_check(s, at):
    """The first check's challenge is not met (a still picture): one failure."""
    return identify_and_perform(s, at, moving=False)


def test_failures_belong_to_the_learner_a_new_sitting_starts_with_the_back_off():
    s = SittingChecks(SECRET, "sitting-1", 0.0, POLICY)
    out = fail_first_check(s, 1.0)
    [standing] = kinds(out, Standing)
    assert (standing.failures, standing.blocked) == (1, False) and standing.not_before == kinds(out, Verdict)[-1].at
    s.request_recheck(20.0)
    out = identify_and_perform(s, 21.0, moving=False)
    [standing] = kinds(out, Standing)
    failed_at = kinds(out, Verdict)[-1].at
    assert standing.failures == 2 and standing.not_before == failed_at + 10.0
    # The learner closes the tab and starts again at once: the new sitting is held, its first
    # check waits for the back-off, and then it carries a challenge.
    again = SittingChecks(SECRET, "sitting-2", failed_at + 1.0, POLICY, failures=standing.failures,
                          recheck_not_before=standing.not_before)
    assert again.hold == "unverified" and again.check is None
    assert not kinds(watch_until(again, failed_at + 1.0, failed_at + 9.0), Attest)
    assert again.check is None and again.need(failed_at + 9.0) is Need.PRESENCE
    again.tick(failed_at + 10.5)
    assert again.check is not None and again.check.liveness and again.need(failed_at + 10.6) is Need.IDENTITY
    out = identify_and_perform(again, failed_at + 11.0)
    assert kinds(out, Standing) == [Standing(0, 0.0, False)] and again.hold is None


def test_a_gap_is_not_a_failure_of_the_learner():
    s = SittingChecks(SECRET, "sitting-1", 0.0, POLICY)
    out = s.tick(16.0)                                        # nobody came: the check times out
    assert [v.reason for v in kinds(out, Verdict)] == ["no face"] and not kinds(out, Standing)
    assert s.failures == 0 and s.hold == "no_face"


def test_after_block_after_failures_in_a_row_the_learner_waits_for_an_officer():
    policy = CheckPolicy(presence=POLICY.presence, identity=POLICY.identity, liveness=POLICY.liveness,
                         check_timeout_s=15.0, block_after=3)
    s = SittingChecks(SECRET, "sitting-1", 0.0, policy)
    fail_first_check(s, 1.0)
    t = 40.0
    for expected in (2, 3):
        s.recheck_not_before = 0.0
        s.request_recheck(t)
        out = identify_and_perform(s, t + 1, moving=False)
        t += 40.0
    [standing] = kinds(out, Standing)
    assert standing == Standing(3, standing.not_before, True)
    assert s.hold == "review" and Hold("review") in out
    s.recheck_not_before = 0.0
    assert s.request_recheck(t) == [] and s.check is None        # no more checks: an officer decides
    blocked = SittingChecks(SECRET, "sitting-2", t, policy, failures=3)
    assert blocked.hold == "review" and blocked.check is None
    assert not kinds(watch_until(blocked, t, t + 400.0), Attest) and blocked.check is None
    assert blocked.finish(t + 401.0) == [Finished(t + 401.0, False)]
    # the officer cleared it: the web layer starts the next sitting with no failures
    cleared = SittingChecks(SECRET, "sitting-3", t, policy, failures=0)
    assert cleared.hold == "unverified" and cleared.check is not None and cleared.check.liveness


def test_a_frozen_feed_with_a_face_in_view_fails_presence_and_drops_pending_time():
    s = verified()
    watch_until(s, 1010.0, 1030.0)
    out = s.on_feed(FeedVerdict("frozen_feed", 1030.5, 1010.0, {"median_diff": 0.0}))
    assert [(v.kind, v.passed, v.reason) for v in kinds(out, Verdict)] == [("presence", False, "frozen_feed")]
    assert [f.kind for f in kinds(out, Flag)] == ["frozen_feed"]
    assert Attest(1030.5, False, "feed", "frozen_feed") in out and Hold("feed") in out
    assert kinds(out, Standing)[0].failures == 1
    # a live re-check lifts it, and the feed's evidence starts anew
    s.request_recheck(1040.0)
    out = identify_and_perform(s, 1041.0)
    assert kinds(out, ResetFeed) and kinds(out, Release) and s.hold is None


def test_a_frozen_picture_of_an_empty_room_is_absence_not_a_feed_attack():
    s = verified()
    watch_until(s, 1010.0, 1015.0)
    for t in range(1015, 1035):
        s.on_presence(float(t), [])
    assert s.on_feed(FeedVerdict("frozen_feed", 1035.0, 1016.0, {})) == []
    assert s.hold == "absent"


def test_a_looped_feed_during_a_challenge_fails_it():
    s = SittingChecks(SECRET, "sitting-1", 0.0, POLICY)
    out = s.on_identity(good(1.0))
    [challenge] = kinds(out, Challenge)
    out = s.on_feed(FeedVerdict("looped_feed", challenge.starts_at + 1.0, 0.0, {"period_s": 6.0}))
    [flag] = kinds(out, Flag)
    assert flag.kind == "looped_feed" and flag.scores["challenge"] == [a.value for a in challenge.actions]
    assert s.check is None and s.hold == "feed" and not kinds(out, Attest)   # nothing was pending
    late = s.tick(challenge.step_starts[-1] + 10.0)
    assert not [v for v in kinds(late, Verdict) if v.kind != "presence"]   # the challenge is over
