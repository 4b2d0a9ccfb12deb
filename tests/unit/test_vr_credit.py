"""VR credit rules (streaming.vr_credit), with the expected seconds worked out by hand."""
from streaming.vr_credit import Claim, CheckIn, SceneSpec, decide, is_verified

SPEC = SceneSpec(stages=frozenset({"a", "b", "c"}), max_s=300.0)
T0 = 1_800_000_000.0


def claim(started=T0, ended=T0 + 200, stages=("a", "b", "c"), questions=3, answers=3, checkin="face", station=7):
    return Claim(station_id=station, checkin=checkin, started=started, ended=ended,
                 stages_reached=frozenset(stages), quiz_questions=questions, quiz_answers=answers)


def test_complete_session_earns_its_duration():
    assert decide(SPEC, claim(), [], []).credited_s == 200.0


def test_long_session_is_capped_at_the_longest_run_plus_slack():
    verdict = decide(SPEC, claim(ended=T0 + 3000), [], [])
    assert (verdict.credited_s, verdict.reason) == (360.0, "credited")     # 300 + 60


def test_a_missing_stage_or_an_unanswered_question_earns_nothing():
    assert decide(SPEC, claim(stages=("a", "b")), [], []).reason == "incomplete"
    assert decide(SPEC, claim(answers=2), [], []).credited_s == 0.0
    assert decide(SPEC, claim(questions=0, answers=0), [], []).credited_s == 0.0


def test_overlap_with_credited_session_earns_nothing_but_touching_does_not_overlap():
    assert decide(SPEC, claim(), [], [(T0 + 199, T0 + 500)]).reason == "overlap"
    assert decide(SPEC, claim(), [], [(T0 - 100, T0)]).credited_s == 200.0
    assert decide(SPEC, claim(), [], [(T0 + 200, T0 + 400)]).credited_s == 200.0


def test_verified_needs_a_face_checkin_of_this_station_in_the_window():
    c = claim()
    assert is_verified(c, [CheckIn(station_id=7, method="face", at=T0 - 3600)])
    assert is_verified(c, [CheckIn(station_id=7, method="face", at=T0 + 200 + 299)])
    assert not is_verified(c, [CheckIn(station_id=7, method="face", at=T0 + 200 + 301)])
    assert not is_verified(c, [CheckIn(station_id=7, method="face", at=T0 - 86401)])
    assert not is_verified(c, [CheckIn(station_id=8, method="face", at=T0)])
    assert not is_verified(c, [CheckIn(station_id=7, method="assignment", at=T0)])
    assert not is_verified(claim(checkin="assignment"), [CheckIn(station_id=7, method="face", at=T0)])


def test_verification_does_not_change_credit():
    unverified = decide(SPEC, claim(), [], [])
    verified = decide(SPEC, claim(), [CheckIn(station_id=7, method="face", at=T0)], [])
    assert (unverified.verified, verified.verified) == (False, True)
    assert unverified.credited_s == verified.credited_s == 200.0
