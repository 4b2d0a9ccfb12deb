"""The floor of a live conference (conferencing.floor): plain rules, no media."""
import pytest

from conferencing.floor import CHAT_KEEP, CHAT_MAX_CHARS, Floor, FloorError

HOST, ANNA, BO = 1, 2, 3


@pytest.fixture
def floor():
    f = Floor(HOST)
    f.enter(HOST, "主持人", "某司法所")
    f.enter(ANNA, "安娜", "某司法所")
    f.enter(BO, "波", "某司法所")
    return f


def test_host_first_then_raised_hands(floor):
    floor.raise_hand(BO, True)
    names = [p["user_id"] for p in floor.snapshot()["participants"]]
    assert names == [HOST, BO, ANNA]
    assert floor.snapshot()["participants"][0]["host"] is True


def test_participants_cannot_use_host_commands(floor):
    for action in ("mute", "unmute", "spotlight", "remove", "lower_hand", "unspotlight"):
        with pytest.raises(FloorError) as err:
            floor.command(ANNA, action, BO)
        assert err.value.code == "forbidden"
    assert floor.spotlight is None and BO not in floor.removed


def test_bad_host_commands_are_refused(floor):
    for action, target, code in (("explode", ANNA, "bad_field"), ("mute", 99, "not_found"),
                                 ("mute", "2", "not_found"), ("mute", True, "not_found"),
                                 ("remove", HOST, "bad_field")):
        with pytest.raises(FloorError) as err:
            floor.command(HOST, action, target)
        assert err.value.code == code


def test_mute_spotlight_lower_hand(floor):
    assert floor.command(HOST, "mute", ANNA).changed
    assert not floor.command(HOST, "mute", ANNA).changed
    assert floor.members[ANNA].muted
    assert floor.command(HOST, "unmute", ANNA).changed and not floor.members[ANNA].muted
    floor.command(HOST, "spotlight", BO)
    assert floor.snapshot()["spotlight"] == BO
    floor.raise_hand(ANNA, True)
    assert floor.command(HOST, "lower_hand", ANNA).changed and not floor.members[ANNA].hand
    assert floor.command(HOST, "unspotlight", BO).changed and floor.spotlight is None


def test_removed_people_cannot_come_back(floor):
    floor.command(HOST, "spotlight", ANNA)
    floor.command(HOST, "remove", ANNA)
    assert ANNA not in floor.present_ids() and floor.spotlight is None
    with pytest.raises(FloorError) as err:
        floor.enter(ANNA, "安娜", "某司法所")
    assert err.value.code == "removed"


def test_leaving_clears_hand_and_publishing(floor):
    floor.raise_hand(ANNA, True)
    floor.set_publishing(ANNA, True)
    assert floor.leave(ANNA)
    assert not floor.leave(ANNA)
    assert not floor.members[ANNA].hand and not floor.members[ANNA].publishing
    with pytest.raises(FloorError):
        floor.raise_hand(ANNA, True)
    assert not floor.set_publishing(ANNA, True)      # gone: a late camera event changes nothing


def test_chat_validates_and_keeps_the_last_messages(floor):
    for bad in ("", "   ", None, 5, "x" * (CHAT_MAX_CHARS + 1)):
        with pytest.raises(FloorError) as err:
            floor.say(ANNA, bad, 0.0)
        assert err.value.code == "bad_field"
    message = floor.say(ANNA, "  你好 <b>  ", 1.0)
    assert message == {"user_id": ANNA, "name": "安娜", "text": "你好 <b>", "at": 1.0}
    for i in range(CHAT_KEEP + 5):
        floor.say(BO, f"m{i}", float(i))
    chat = floor.snapshot()["chat"]
    assert len(chat) == CHAT_KEEP and chat[-1]["text"] == f"m{CHAT_KEEP + 4}"
    floor.leave(BO)
    with pytest.raises(FloorError) as err:
        floor.say(BO, "still here?", 2.0)
    assert err.value.code == "not_found"
