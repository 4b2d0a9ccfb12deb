"""VR credit rules (streaming.vr_credit), with the expected seconds worked out by hand."""
import pytest

from streaming.vr_credit import (
    CheckIn,
    Claim,
    Rules,
    SceneSpec,
    day_bounds,
    decide,
    is_verified,
    too_old,
    verifying_checkin,
)

SPEC = SceneSpec(stages=frozenset({"a", "b", "c"}), max_s=300.0)
T0 = 1_800_000_000.0          # 2027-01-15 08:00:00 UTC = 16:00 in Asia/Shanghai


def claim(started=T0, ended=T0 + 200, stages=("a", "b", "c"), questions=3, answers=3, checkin="face", station=7):
    return Claim(station_id=station, checkin=checkin, started=started, ended=ended,
                 stages_reached=frozenset(stages), quiz_questions=questions, quiz_answers=answers)


def live(at=T0 - 60, station=7, id=1):
    """A face check-in whose liveness challenge passed."""
    return CheckIn(station_id=station, method="face", at=at, liveness=True, id=id)


def officer(at=T0 - 60, station=7, id=2):
    return CheckIn(station_id=station, method="officer", at=at, id=id)


# --- verified -------------------------------------------------------------------------------

def test_no_checkin_earns_nothing_but_is_decided():
    verdict = decide(SPEC, claim(), [], [])
    assert (verdict.credited_s, verdict.reason, verdict.verified, verdict.checkin) == (0.0, "unverified", False, None)


def test_the_measured_attack_three_50_minute_sessions_without_checkin():
    """Issue 11: a station token with no check-in posted three complete 50-minute sessions of the
    drunk scene (550 s long) and got 3 x (550 + 60) = 1,830 s. Now: 0 s each."""
    drunk = SceneSpec(stages=frozenset({"a", "b", "c"}), max_s=550.0)
    starts = [T0, T0 + 3000, T0 + 6000]
    verdicts = [decide(drunk, claim(started=s, ended=s + 3000), [], []) for s in starts]
    assert [(v.credited_s, v.reason) for v in verdicts] == [(0.0, "unverified")] * 3
    # one liveness check-in at T0 - 60 covers only the session starting within 30 min of it
    verdicts = [decide(drunk, claim(started=s, ended=s + 3000), [live()], []) for s in starts]
    assert [(v.credited_s, v.reason) for v in verdicts] == [(610.0, "credited"), (0.0, "unverified"),
                                                            (0.0, "unverified")]


def test_a_face_checkin_verifies_only_with_liveness_passed():
    assert is_verified(claim(), [live()])
    assert not is_verified(claim(), [CheckIn(station_id=7, method="face", at=T0 - 60, liveness=False)])
    assert not is_verified(claim(), [CheckIn(station_id=7, method="face", at=T0 - 60)])   # before liveness existed


def test_an_assignment_checkin_verifies_nothing_an_officers_confirmation_does():
    assert not is_verified(claim(checkin="assignment"), [CheckIn(station_id=7, method="assignment", at=T0 - 60)])
    verdict = decide(SPEC, claim(checkin="assignment"), [CheckIn(station_id=7, method="assignment", at=T0 - 60),
                                                         officer()], [])
    assert (verdict.credited_s, verdict.reason, verdict.checkin.method) == (200.0, "credited", "officer")
    # how the station named the learner does not matter: a face session verified by an officer too
    assert decide(SPEC, claim(), [officer()], []).credited_s == 200.0


def test_verification_window_and_station():
    # window: [started - 1800, ended + 300] = [T0 - 1800, T0 + 500]
    assert is_verified(claim(), [live(at=T0 - 1800)])
    assert not is_verified(claim(), [live(at=T0 - 1800.5)])
    assert is_verified(claim(), [live(at=T0 + 500)])
    assert not is_verified(claim(), [live(at=T0 + 500.5)])
    assert not is_verified(claim(), [live(station=8)])
    assert not is_verified(claim(), [officer(station=8)])
    rules = Rules(checkin_window_s=600.0, clock_slack_s=10.0)
    assert is_verified(claim(), [live(at=T0 - 600)], rules) and not is_verified(claim(), [live(at=T0 - 601)], rules)
    assert is_verified(claim(), [live(at=T0 + 210)], rules) and not is_verified(claim(), [live(at=T0 + 211)], rules)


def test_the_verifying_checkin_is_the_one_nearest_the_start():
    found = verifying_checkin(claim(), [live(at=T0 - 1500, id=1), officer(at=T0 - 30, id=2), live(at=T0 + 400, id=3)])
    assert found.id == 2
    assert decide(SPEC, claim(), [live(at=T0 - 1500, id=1), live(at=T0 - 100, id=5)], []).checkin.id == 5


# --- complete, capped, no overlap (with a verified check-in) ----------------------------------

def test_complete_session_earns_its_duration():
    verdict = decide(SPEC, claim(), [live()], [])
    assert (verdict.credited_s, verdict.reason, verdict.verified) == (200.0, "credited", True)


def test_long_session_is_capped_at_the_longest_run_plus_slack():
    verdict = decide(SPEC, claim(ended=T0 + 3000), [live()], [])
    assert (verdict.credited_s, verdict.reason) == (360.0, "credited")     # 300 + 60


def test_a_missing_stage_or_an_unanswered_question_earns_nothing():
    assert decide(SPEC, claim(stages=("a", "b")), [live()], []).reason == "incomplete"
    assert decide(SPEC, claim(answers=2), [live()], []).credited_s == 0.0
    assert decide(SPEC, claim(questions=0, answers=0), [live()], []).credited_s == 0.0
    # unverified comes first: an incomplete session without a check-in reads "unverified"
    assert decide(SPEC, claim(stages=("a",)), [], []).reason == "unverified"


def test_overlap_with_credited_session_earns_nothing_but_touching_does_not_overlap():
    assert decide(SPEC, claim(), [live()], [(T0 + 199, T0 + 500)]).reason == "overlap"
    assert decide(SPEC, claim(), [live()], [(T0 - 100, T0)]).credited_s == 200.0
    assert decide(SPEC, claim(), [live()], [(T0 + 200, T0 + 400)]).credited_s == 200.0


# --- daily cap --------------------------------------------------------------------------------

def test_daily_cap_credits_up_to_what_is_left_of_the_day():
    rules = Rules(daily_cap_s=3600.0)
    # 3,400 s already today + 200 s = 3,600 s: exactly the cap, all of it
    assert (lambda v: (v.credited_s, v.reason))(decide(SPEC, claim(), [live()], [], 3400.0, rules)) == \
        (200.0, "credited")
    # 3,500 s already: 100 s left of the 200 s
    verdict = decide(SPEC, claim(), [live()], [], 3500.0, rules)
    assert (verdict.credited_s, verdict.reason, verdict.verified) == (100.0, "daily_cap", True)
    # the cap reached: nothing
    assert (lambda v: (v.credited_s, v.reason))(decide(SPEC, claim(), [live()], [], 3600.0, rules)) == \
        (0.0, "daily_cap")
    # the scene's own cap first (3,000 s -> 360 s), then the day's: 3,300 s today leaves 300 s
    assert decide(SPEC, claim(ended=T0 + 3000), [live()], [], 3300.0, rules).credited_s == 300.0
    # a smaller cap: 900 s a day, 800 s used
    assert decide(SPEC, claim(), [live()], [], 800.0, Rules(daily_cap_s=900.0)).credited_s == 100.0


def test_day_bounds_are_local_days():
    # T0 is 16:00 in Shanghai (UTC+8): the day runs from 00:00 CST = 16:00 UTC the day before
    assert day_bounds(T0, "Asia/Shanghai") == (T0 - 16 * 3600, T0 + 8 * 3600)
    assert day_bounds(T0 + 8 * 3600 - 1, "Asia/Shanghai") == (T0 - 16 * 3600, T0 + 8 * 3600)
    assert day_bounds(T0 + 8 * 3600, "Asia/Shanghai") == (T0 + 8 * 3600, T0 + 32 * 3600)
    assert day_bounds(T0, "UTC") == (T0 - 8 * 3600, T0 + 16 * 3600)


# --- age --------------------------------------------------------------------------------------

def test_sessions_older_than_max_age_are_too_old():
    now = T0 + 86400
    assert not too_old(T0, now)                      # exactly 24 h: still accepted
    assert too_old(T0 - 1, now)
    assert too_old(T0 + 86400 - 3601, now, Rules(max_age_s=3600.0))
    assert not too_old(T0 + 86400 - 3600, now, Rules(max_age_s=3600.0))


@pytest.mark.parametrize("method,liveness,verified", [("face", True, True), ("face", False, False),
                                                      ("officer", False, True), ("assignment", False, False),
                                                      ("assignment", True, False)])
def test_what_verifies(method, liveness, verified):
    assert is_verified(claim(), [CheckIn(station_id=7, method=method, at=T0, liveness=liveness)]) is verified


# --- the emergency stop (issue 15) ---------------------------------------------------------------

def test_an_emergency_stop_earns_nothing_even_verified_and_complete():
    stopped = Claim(station_id=7, checkin="face", started=T0, ended=T0 + 200, stages_reached=frozenset("abc"),
                    quiz_questions=3, quiz_answers=3, outcome="stopped")
    verdict = decide(SPEC, stopped, [live()], [])
    assert (verdict.credited_s, verdict.reason, verdict.verified, verdict.checkin) == (0.0, "stopped", True, live())
    verdict = decide(SPEC, stopped, [], [])
    assert (verdict.credited_s, verdict.reason, verdict.verified) == (0.0, "stopped", False)
    # a version-1 post (no outcome): judged as before, 200 s
    assert decide(SPEC, claim(), [live()], []).credited_s == 200.0
    unfinished = Claim(station_id=7, checkin="face", started=T0, ended=T0 + 200, stages_reached=frozenset("abc"),
                       quiz_questions=3, quiz_answers=3, outcome="unfinished")
    assert decide(SPEC, unfinished, [live()], []).reason == "incomplete"
