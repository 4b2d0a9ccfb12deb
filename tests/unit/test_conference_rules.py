"""Who may see and join a conference, and its reminder times (conferencing.rules)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from conferencing.rules import (ConferenceScope, ParticipantUnit, Reminder, in_subtree, levels_from_text,
                                levels_to_text, may_join, normalise_path, participant_units,
                                reminder_times, visible_conferences)


@dataclass(frozen=True)
class Unit:
    path: str
    level: int


# /1/ ministry; /1/2/ and /1/3/ provinces; /1/2/4/ city; /1/2/4/9/ district; /1/2/4/9/20/, /1/2/4/9/21/ townships;
# /1/3/5/ a city of the other province; /1/2/45/ a city whose id starts like 4.
UNITS = [Unit("/1/", 1), Unit("/1/2/", 2), Unit("/1/3/", 2), Unit("/1/2/4/", 3), Unit("/1/2/45/", 3),
         Unit("/1/2/4/9/", 4), Unit("/1/2/4/9/20/", 5), Unit("/1/2/4/9/21/", 5), Unit("/1/3/5/", 3),
         Unit("/1/3/5/7/", 4), Unit("/1/3/5/7/8/", 5)]


def city_conference(levels=(4, 5), supervisees=False):
    return ConferenceScope("/1/2/4/", 3, frozenset(levels), supervisees)


def test_the_host_unit_and_the_chosen_levels_below_it_may_join():
    conf = city_conference(levels=(5,))
    assert may_join(conf, "/1/2/4/", 3, False)               # the host unit's officers
    assert may_join(conf, "/1/2/4/9/20/", 5, False)          # a township below, level chosen
    assert not may_join(conf, "/1/2/4/9/", 4, False)         # the district between: level not chosen
    assert may_join(city_conference(levels=(4, 5)), "/1/2/4/9/", 4, False)


def test_another_branch_or_a_unit_above_never_sees_it():
    conf = city_conference(levels=(4, 5), supervisees=True)
    assert not may_join(conf, "/1/3/5/7/", 4, False)         # a district of the other province
    assert not may_join(conf, "/1/3/5/7/8/", 5, True)        # ... and its supervisees
    assert not may_join(conf, "/1/2/45/", 3, False)          # a sibling city whose id starts with 4
    assert not may_join(conf, "/1/2/", 2, False)             # the province above
    assert not may_join(conf, "/1/", 1, False)
    assert not may_join(conf, "", 5, False) and not may_join(conf, "/", 5, False)


def test_supervisees_only_when_included_and_only_of_townships_in_the_subtree():
    assert not may_join(city_conference(supervisees=False), "/1/2/4/9/20/", 5, True)
    conf = city_conference(levels=(), supervisees=True)
    assert may_join(conf, "/1/2/4/9/20/", 5, True)
    assert not may_join(conf, "/1/2/4/9/20/", 5, False)      # officers of that township: level not chosen
    assert not may_join(conf, "/1/2/4/", 3, True)            # supervisees belong to townships
    # A township hosting its own conference with its supervisees.
    township = ConferenceScope("/1/2/4/9/20/", 5, frozenset(), True)
    assert may_join(township, "/1/2/4/9/20/", 5, True) and may_join(township, "/1/2/4/9/20/", 5, False)
    assert not may_join(township, "/1/2/4/9/21/", 5, True)


def test_levels_must_be_below_the_host():
    with pytest.raises(ValueError):
        ConferenceScope("/1/2/4/", 3, frozenset({3}))
    with pytest.raises(ValueError):
        ConferenceScope("/1/2/4/", 3, frozenset({2, 5}))
    with pytest.raises(ValueError):
        ConferenceScope("/1/2/4/", 6)
    with pytest.raises(ValueError):
        ConferenceScope("", 3)
    ministry = ConferenceScope("/1/", 1, frozenset({2, 3, 4, 5}))
    assert all(may_join(ministry, u.path, u.level, False) for u in UNITS)


def test_participant_units_of_a_conference():
    conf = city_conference(levels=(4,), supervisees=True)
    assert participant_units(conf, reversed(UNITS)) == [
        ParticipantUnit(Unit("/1/2/4/", 3), True, False),
        ParticipantUnit(Unit("/1/2/4/9/", 4), True, False),
        ParticipantUnit(Unit("/1/2/4/9/20/", 5), False, True),
        ParticipantUnit(Unit("/1/2/4/9/21/", 5), False, True)]


def test_a_participant_sees_only_conferences_of_their_own_chain():
    confs = [("ministry", ConferenceScope("/1/", 1, frozenset({5}))),
             ("province-2", ConferenceScope("/1/2/", 2, frozenset({4, 5}))),
             ("province-3", ConferenceScope("/1/3/", 2, frozenset({3, 4, 5}), True)),
             ("city-4", city_conference(levels=(5,), supervisees=True))]
    assert visible_conferences(confs, "/1/2/4/9/20/", 5, False) == ["ministry", "province-2", "city-4"]
    assert visible_conferences(confs, "/1/2/4/9/20/", 5, True) == ["city-4"]
    assert visible_conferences(confs, "/1/3/5/7/", 4, False) == ["province-3"]


def test_paths_and_levels_round_trip():
    assert normalise_path("1/2/4") == "/1/2/4/"
    assert in_subtree("/1/2/4/9", "/1/2/4") and not in_subtree("/1/2/45/", "/1/2/4/")
    assert levels_to_text([5, 4, 4]) == "4,5" and levels_from_text("4,5") == {4, 5}
    assert levels_from_text("") == frozenset() and levels_to_text([]) == ""


def test_reminders_24h_1h_and_10min_before_only_future_ones():
    start = datetime(2026, 12, 1, 9, 0)
    assert [r.at for r in reminder_times(start, datetime(2026, 11, 29, 9, 0))] == [
        datetime(2026, 11, 30, 9, 0), datetime(2026, 12, 1, 8, 0), datetime(2026, 12, 1, 8, 50)]
    assert reminder_times(start, start - timedelta(minutes=30)) == [Reminder(timedelta(minutes=10),
                                                                             datetime(2026, 12, 1, 8, 50))]
    assert reminder_times(start, start - timedelta(minutes=10)) == []     # that moment has come
    assert reminder_times(start, start + timedelta(minutes=1)) == []
    assert [r.before for r in reminder_times(start, start - timedelta(days=3), [timedelta(minutes=5)])] == [
        timedelta(minutes=5)]


# --- room_chain: the media rooms from the host's down to a participant's ---------------------
from conferencing.rules import room_chain  # noqa: E402


def test_room_chain_includes_only_the_included_levels():
    scope = ConferenceScope("/1/2/", 2, frozenset({3, 5}), include_supervisees=True)
    township = [("/1/", 1), ("/1/2/", 2), ("/1/2/3/", 3), ("/1/2/3/4/", 4), ("/1/2/3/4/5/", 5)]
    assert room_chain(scope, township) == ["/1/2/", "/1/2/3/", "/1/2/3/4/5/"]
    assert room_chain(scope, list(reversed(township))) == ["/1/2/", "/1/2/3/", "/1/2/3/4/5/"]
    assert room_chain(scope, township[:2]) == ["/1/2/"]          # the host unit's own officer


def test_room_chain_of_a_township_conference_is_one_room():
    scope = ConferenceScope("/1/2/3/4/5/", 5, frozenset(), include_supervisees=True)
    assert room_chain(scope, [("/1/", 1), ("/1/2/3/4/5/", 5)]) == ["/1/2/3/4/5/"]


def test_room_chain_refuses_other_branches():
    scope = ConferenceScope("/1/2/", 2, frozenset({3}))
    with pytest.raises(ValueError):
        room_chain(scope, [("/1/", 1), ("/1/7/", 2), ("/1/7/8/", 3)])
