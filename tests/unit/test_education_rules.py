"""Group education sessions (conferencing.education): the stage, the playback, check sampling and
attendance, with the expected values worked out by hand."""
from __future__ import annotations

import math
from itertools import pairwise

import pytest

from conferencing.education import (FACE, OFFICER, PERSON, ROOM, TERMINAL, CheckResult, EducationError, Playback,
                                    Present, SamplingPolicy, Share, Stage, attended_seconds, attended_spans, capacity,
                                    grant, leave, pause, plan_checks, play, refusal, resume, revoke, room_results,
                                    seek, start_share, stop_playback, stop_share, targets)

HOST, OFFICER_SAME_UNIT, SPEAKER, SUPERVISEE, REVOKED = 1, 2, 3, 4, 5


def stage_with_grants():
    stage = Stage(HOST)
    stage = grant(stage, HOST, SPEAKER)
    stage = grant(stage, HOST, REVOKED)
    return revoke(stage, HOST, REVOKED)


def refused(code, fn, *args):
    with pytest.raises(EducationError) as err:
        fn(*args)
    assert err.value.code == code


# --- who may play or share ------------------------------------------------------------------------

def test_who_may_control_the_playback():
    stage = play(stage_with_grants(), HOST, "lesson-1", 600.0, 0.0)
    table = {
        # actor:               play        pause        seek         stop_playback
        HOST:               (None,       None,        None,        None),
        OFFICER_SAME_UNIT:  ("not_host", "not_host",  "not_host",  "not_host"),   # the floor has no co-host
        SPEAKER:            ("not_host", "not_host",  "not_host",  "not_host"),   # a grant is for sharing only
        SUPERVISEE:         ("not_host", "not_host",  "not_host",  "not_host"),
        REVOKED:            ("not_host", "not_host",  "not_host",  "not_host"),
    }
    for actor, expected in table.items():
        got = tuple(refusal(stage, actor, a) for a in ("play", "pause", "seek", "stop_playback"))
        assert got == expected, actor
    refused("not_host", play, stage, SUPERVISEE, "lesson-2", 60.0, 1.0)
    refused("not_host", seek, stage, OFFICER_SAME_UNIT, 10.0, 1.0)
    refused("not_host", pause, stage, SPEAKER, 1.0)


def test_who_may_share_a_screen_on_a_free_stage():
    stage = stage_with_grants()
    table = {HOST: None, OFFICER_SAME_UNIT: "not_allowed", SPEAKER: None, SUPERVISEE: "not_allowed",
             REVOKED: "not_allowed"}
    assert {actor: refusal(stage, actor, "share") for actor in table} == table
    assert start_share(stage, SPEAKER, 5.0).main == Share(SPEAKER, 5.0)
    refused("not_allowed", start_share, stage, REVOKED, 5.0)
    refused("not_allowed", start_share, stage, SUPERVISEE, 5.0)


def test_a_granted_supervisee_may_share_but_never_play():
    stage = grant(Stage(HOST), HOST, SUPERVISEE)
    assert start_share(stage, SUPERVISEE, 1.0).share.user_id == SUPERVISEE
    refused("not_host", play, stage, SUPERVISEE, "x", 10.0, 1.0)


def test_grants_are_the_hosts():
    stage = Stage(HOST)
    refused("not_host", grant, stage, OFFICER_SAME_UNIT, SUPERVISEE)
    refused("not_host", revoke, grant(stage, HOST, SPEAKER), SPEAKER, SPEAKER)
    refused("bad_field", grant, stage, HOST, HOST)
    assert refusal(stage, HOST, "dance") == "bad_field"


def test_one_main_stream_the_host_replaces_a_participant_waits():
    stage = start_share(stage_with_grants(), SPEAKER, 10.0)
    # the host's playback replaces the participant's share
    stage = play(stage, HOST, "lesson-1", 600.0, 20.0)
    assert stage.share is None and stage.playback.media_id == "lesson-1"
    # a participant may not push the host's playback off the stage
    refused("busy", start_share, stage, SPEAKER, 30.0)
    # the host's share replaces the playback (its position is not kept)
    stage = start_share(stage, HOST, 40.0)
    assert stage.main == Share(HOST, 40.0) and stage.playback is None
    refused("busy", start_share, stage, SPEAKER, 50.0)
    refused("not_host", stop_share, stage, SPEAKER)
    stage = stop_share(stage, HOST)
    assert stage.main is None
    stage = start_share(stage, SPEAKER, 60.0)
    assert start_share(stage, SPEAKER, 70.0) is stage            # sharing again changes nothing
    assert stop_share(stage, SPEAKER).main is None               # the sharer stops
    refused("not_sharing", stop_share, Stage(HOST), HOST)


def test_revoking_or_leaving_ends_the_share():
    stage = start_share(stage_with_grants(), SPEAKER, 10.0)
    after = revoke(stage, HOST, SPEAKER)
    assert after.main is None and SPEAKER not in after.grants
    assert refusal(after, SPEAKER, "share") == "not_allowed"
    gone = leave(stage, SPEAKER)
    assert gone.main is None and SPEAKER in gone.grants         # the grant waits for the return
    assert leave(stage, SUPERVISEE) is stage
    # revoking someone else leaves the share alone
    assert revoke(grant(stage, HOST, SUPERVISEE), HOST, SUPERVISEE).share == Share(SPEAKER, 10.0)


# --- playback -------------------------------------------------------------------------------------

def test_playback_position_after_play_pause_seek():
    stage = play(Stage(HOST), HOST, "lesson-1", 600.0, 1000.0)
    assert stage.playback == Playback("lesson-1", 600.0, True, 0.0, 1000.0)
    assert [stage.playback.position_at(t) for t in (1000.0, 1030.0, 999.0)] == [0.0, 30.0, 0.0]
    stage = pause(stage, HOST, 1100.0)                            # 100 s in
    assert stage.playback.position_at(1500.0) == 100.0 and not stage.playback.playing
    assert pause(stage, HOST, 1200.0) is stage                    # already paused
    stage = seek(stage, HOST, 250.0, 1600.0)                      # a seek keeps it paused
    assert stage.playback.position_at(1700.0) == 250.0
    stage = resume(stage, HOST, 1800.0)
    assert stage.playback.position_at(1850.0) == 300.0
    assert resume(stage, HOST, 1900.0) is stage                   # already playing
    stage = seek(stage, HOST, 590.0, 1900.0)                      # a seek keeps it playing
    assert stage.playback.position_at(1905.0) == 595.0
    assert stage.playback.position_at(2000.0) == 600.0 and stage.playback.ended_at(2000.0)
    assert not stage.playback.ended_at(1905.0)


def test_a_late_joiner_computes_the_position_from_the_state():
    stage = play(Stage(HOST), HOST, "lesson-1", 1800.0, 0.0, position=120.0)
    snapshot = stage.playback                                      # what the shell sends a newcomer
    assert snapshot.position_at(45.5) == 165.5


def test_bad_seeks_and_media_are_refused():
    stage = play(Stage(HOST), HOST, "lesson-1", 600.0, 0.0)
    for position in (-1.0, -1e-9, 600.5, math.nan, math.inf, "10", True, None):
        refused("bad_position", seek, stage, HOST, position, 5.0)
    assert seek(stage, HOST, 600.0, 5.0).playback.position == 600.0   # the very end is allowed
    assert seek(stage, HOST, 0, 5.0).playback.position == 0.0
    refused("bad_position", play, Stage(HOST), HOST, "x", 60.0, 0.0, 61.0)
    for media, duration in (("", 60.0), (None, 60.0), ("x", 0.0), ("x", -5.0), ("x", math.nan)):
        refused("bad_field", play, Stage(HOST), HOST, media, duration, 0.0)
    for fn, args in ((pause, (0.0,)), (resume, (0.0,)), (seek, (1.0, 0.0)), (stop_playback, ())):
        refused("no_playback", fn, Stage(HOST), HOST, *args)
    assert stop_playback(stage, HOST).main is None


# --- check sampling -------------------------------------------------------------------------------

SEED = b"unit-seed"
POLICY = SamplingPolicy(max_parallel=2, max_gap_s=600.0, min_gap_s=120.0, first_within_s=60.0, reserve_s=120.0)


def test_a_shared_room_is_one_target():
    present = [Present("anna", 0.0), Present("bo", 5.0, room="t1"), Present("chen", 8.0, room="t1"),
               Present("du", 3.0, room="t1")]
    got = targets(present)
    assert [(t.kind, t.id, t.people, t.since) for t in got] == [
        (PERSON, "anna", frozenset({"anna"}), 0.0), (ROOM, "t1", frozenset({"bo", "chen", "du"}), 8.0)]


def test_never_more_than_k_at_once():
    present = [Present(i, 0.0) for i in range(10)]
    plan = plan_checks(SEED, "s1", present, [], busy=set(), now=1000.0, policy=POLICY)
    assert len(plan.start) == 2                                  # all ten are overdue: two at a time
    busy = {t.key for t in plan.start}
    again = plan_checks(SEED, "s1", present, [(k, 1000.0) for k in busy], busy=busy, now=1000.0, policy=POLICY)
    assert again.start == [] and again.next_at == 1000.0         # the rest wait for a free slot
    one_busy = plan_checks(SEED, "s1", present, [], busy={(PERSON, 0)}, now=1000.0, policy=POLICY)
    assert len(one_busy.start) == 1 and one_busy.start[0].key != (PERSON, 0)


def simulate(seed, present_at, end=3600.0, check_s=30.0, tick=5.0, policy=POLICY):
    """Drive plan_checks every `tick` seconds; each check holds its slot `check_s`."""
    checks, busy, most = [], {}, 0
    t = 0.0
    while t <= end:
        busy = {k: done for k, done in busy.items() if done > t}
        plan = plan_checks(seed, "session-7", present_at(t), checks, set(busy), t, policy)
        for target in plan.start:
            checks.append((target.key, t))
            busy[target.key] = t + check_s
        most = max(most, len(busy))
        t += tick
    return checks, most


def test_an_hour_every_gap_at_most_g_and_never_more_than_k():
    home = [Present(f"p{i}", 0.0) for i in range(5)]
    room = [Present("r-a", 0.0, room="t1"), Present("r-b", 0.0, room="t1")]
    late = Present("r-c", 900.0, room="t1")                       # arrives in the room later
    rejoin_before, rejoin_after = Present("q", 0.0), Present("q", 2000.0)   # away 1700..2000

    def present_at(t):
        out = home + room + ([late] if t >= 900.0 else [])
        if t < 1700.0:
            out.append(rejoin_before)
        elif t >= 2000.0:
            out.append(rejoin_after)
        return out

    assert len(targets(present_at(2000.0))) <= capacity(POLICY, 30.0)
    # a first check may wait behind everyone else's: 7 targets, 2 at a time, 30 s each
    first_by = POLICY.first_within_s + math.ceil(7 / POLICY.max_parallel) * 30.0
    checks, most = simulate(SEED, present_at)
    assert most <= POLICY.max_parallel
    keys = {k for k, _ in checks}
    assert (ROOM, "t1") in keys and not any(k[1].startswith("r-") for k in keys)   # the room is one unit
    spans = {(PERSON, f"p{i}"): (0.0, 3600.0) for i in range(5)}
    spans[(ROOM, "t1")] = (0.0, 3600.0)
    for key, (since, until) in spans.items():
        times = [at for k, at in checks if k == key]
        marks = [since, *times, until]
        gaps = [b - a for a, b in pairwise(marks)]
        assert max(gaps) <= POLICY.max_gap_s, (key, gaps)
        assert all(b - a >= POLICY.min_gap_s for a, b in pairwise(times)), (key, times)
        assert times[0] - since <= first_by
    # the newcomer makes the room due soon after 900
    room_times = [at for k, at in checks if k == (ROOM, "t1")]
    assert any(900.0 <= at <= 900.0 + first_by for at in room_times)
    # the returning person is checked soon after coming back, and within G while present
    q = [at for k, at in checks if k == (PERSON, "q")]
    assert any(2000.0 <= at <= 2000.0 + first_by for at in q)
    for since, until in ((0.0, 1700.0), (2000.0, 3600.0)):
        marks = [since, *[at for at in q if since <= at < until], until]
        assert max(b - a for a, b in pairwise(marks)) <= POLICY.max_gap_s


def test_an_arrival_after_the_last_check_is_checked_soon():
    """A newcomer in a room (or a person back after leaving): the next check comes within
    first_within_s of the arrival, not min_gap_s after the last check."""
    for n in range(20):
        seed = f"seed-{n}".encode()
        room = [Present("a", 0.0, room="t1"), Present("b", 0.0, room="t1")]
        alone = plan_checks(seed, "s", room, [((ROOM, "t1"), 850.0)], set(), 900.0, POLICY)
        assert alone.planned[(ROOM, "t1")] >= 850.0 + POLICY.min_gap_s
        joined = plan_checks(seed, "s", room + [Present("c", 900.0, room="t1")], [((ROOM, "t1"), 850.0)], set(),
                             900.0, POLICY)
        assert 900.0 <= joined.planned[(ROOM, "t1")] <= 900.0 + POLICY.first_within_s
        back = plan_checks(seed, "s", [Present("q", 900.0)], [((PERSON, "q"), 850.0)], set(), 961.0, POLICY)
        assert [t.key for t in back.start] == [(PERSON, "q")]


def test_sampling_is_deterministic_with_a_seed_and_differs_without_it():
    def present_at(t):
        return [Present(i, 0.0) for i in range(4)]
    first, _ = simulate(SEED, present_at, end=1800.0)
    assert simulate(SEED, present_at, end=1800.0)[0] == first
    assert simulate(b"another-seed", present_at, end=1800.0)[0] != first


def test_bad_policies_are_refused():
    for kwargs in ({"max_parallel": 0}, {"min_gap_s": 500.0}, {"first_within_s": 0.0}, {"reserve_s": 700.0}):
        with pytest.raises(ValueError):
            SamplingPolicy(**kwargs)


# --- attendance -----------------------------------------------------------------------------------

SESSION = (0.0, 3600.0)
WHOLE = [(0.0, 3600.0)]


def passed(*times, kind=FACE):
    return [CheckResult(t, True, kind) for t in times]


def failed(*times, kind=FACE):
    return [CheckResult(t, False, kind) for t in times]


def test_verified_for_the_whole_session():
    checks = passed(30, 600, 1200, 1800, 2400, 3000, 3590)
    spans = attended_spans(WHOLE, checks, SESSION)
    assert spans == [(30.0, 3590.0)] and attended_seconds(spans) == 3560.0   # before 30 and after 3590: unbracketed


def test_absent_or_unverified_attends_nothing():
    assert attended_spans([], [], SESSION) == []                              # absent
    assert attended_spans([], passed(100, 700), SESSION) == []                # results without presence
    assert attended_spans(WHOLE, [], SESSION) == []                           # present, never checked
    assert attended_spans(WHOLE, failed(30, 600, 1200), SESSION) == []        # every check failed
    assert attended_spans(WHOLE, passed(30), SESSION) == []                   # nothing closes the first


def test_first_check_lateness_is_not_attended():
    assert attended_spans(WHOLE, passed(400, 1000), SESSION) == [(400.0, 1000.0)]


def test_a_failed_check_in_the_middle():
    checks = passed(30, 600) + failed(1200) + passed(1800, 2400)
    spans = attended_spans(WHOLE, checks, SESSION)
    assert spans == [(30.0, 600.0), (1800.0, 2400.0)] and attended_seconds(spans) == 1170.0


def test_leaving_and_rejoining():
    presence = [(0.0, 1000.0), (1300.0, 3600.0)]
    spans = attended_spans(presence, passed(30, 600, 1400, 2000), SESSION)
    assert spans == [(30.0, 600.0), (1400.0, 2000.0)]                         # 600..1400 holds the absence
    # a check at the very moment of leaving still closes the window before it
    assert attended_spans(presence, passed(30, 600, 1000), SESSION) == [(30.0, 1000.0)]
    # presence records that touch are one stay
    assert attended_spans([(0.0, 500.0), (500.0, 900.0)], passed(100, 800), SESSION) == [(100.0, 800.0)]


def test_officer_confirmation_in_a_room():
    members = ("anna", "bo", "chen")
    rounds = [room_results(60, OFFICER, {"anna", "bo", "chen"}, members),
              room_results(700, OFFICER, {"anna", "chen"}, members),        # bo stepped out
              room_results(1300, TERMINAL, {"anna", "bo", "chen"}, members),
              room_results(1900, OFFICER, {"anna", "bo", "chen"}, members)]
    per = {p: [r[p] for r in rounds] for p in members}
    assert per["bo"][1] == CheckResult(700, False, OFFICER)
    assert attended_spans(WHOLE, per["anna"], SESSION) == [(60.0, 1900.0)]
    assert attended_spans(WHOLE, per["bo"], SESSION) == [(1300.0, 1900.0)]
    with pytest.raises(ValueError):
        room_results(60, FACE, {"anna"}, members)
    with pytest.raises(ValueError):
        CheckResult(1.0, True, "guess")


def test_a_failed_and_a_passed_check_at_the_same_moment():
    checks = passed(0, 600) + failed(600) + passed(1200)
    assert attended_spans(WHOLE, checks, SESSION) == [(600.0, 1200.0)]


def test_spans_are_clipped_to_the_session():
    presence = [(-100.0, 4000.0)]
    assert attended_spans(presence, passed(-50, 300, 3500, 3900), SESSION) == [(0.0, 3600.0)]
    assert attended_spans(presence, passed(-50, 300), None) == [(-50.0, 300.0)]
