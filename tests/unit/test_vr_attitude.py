"""The attitude questionnaire (issue 15): the station's items and scoring (vr_scenes.attitude) and the
portal's checks and scores (streaming.vr_attitude), with every expected number worked out by hand
from the raw answers."""
import pytest

from streaming import vr_attitude as portal
from vr_scenes import attitude

# drunk: drunk_risk, drunk_little_ok (reverse), drunk_refuse, drunk_intention
BEFORE = {"drunk_risk": 3, "drunk_little_ok": 4, "drunk_refuse": 2, "drunk_intention": 3}   # 3, 6-4=2, 2, 3 -> 10/4
AFTER = {"drunk_risk": 5, "drunk_little_ok": 1, "drunk_refuse": 4, "drunk_intention": 5}    # 5, 6-1=5, 4, 5 -> 19/4


def test_station_and_portal_items_agree():
    assert set(attitude.ITEMS) == set(portal.ITEMS)
    for scene, items in attitude.ITEMS.items():
        assert [(i.key, i.reverse) for i in items] == list(portal.ITEMS[scene])
        assert 3 <= len(items) <= 4
        assert any(i.reverse for i in items)
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in i.text) for i in items)
        assert all(i.key.isascii() and i.key.startswith(scene) for i in items)
    assert attitude.items_for("casino") == attitude.GENERIC


def test_reverse_scoring_and_change_by_hand():
    items = attitude.items_for("drunk")
    assert attitude.score(items, BEFORE) == 2.5
    assert attitude.score(items, AFTER) == 4.75
    assert attitude.change(items, BEFORE, AFTER) == 2.25
    assert portal.score("drunk", BEFORE) == 2.5
    checked = portal.validate("drunk", {"before": BEFORE, "after": AFTER}, after_required=True)
    assert (checked.before_score, checked.after_score, checked.change) == (2.5, 4.75, 2.25)
    # one reverse item alone: answering 2 scores 4
    prison = {"prison_consequence": 4, "prison_unnoticed": 2, "prison_freedom": 5, "prison_intention": 5}
    assert portal.score("prison", prison) == (4 + 4 + 5 + 5) / 4 == 4.5


@pytest.mark.parametrize("answers, reason, item", [
    ({**BEFORE, "drunk_risk": 0}, "out_of_range", "drunk_risk"),
    ({**BEFORE, "drunk_risk": 6}, "out_of_range", "drunk_risk"),
    ({**BEFORE, "drunk_risk": 2.5}, "out_of_range", "drunk_risk"),
    ({**BEFORE, "drunk_risk": True}, "out_of_range", "drunk_risk"),
    ({**BEFORE, "drunk_risk": "4"}, "out_of_range", "drunk_risk"),
    ({**BEFORE, "casino_fun": 3}, "unknown_item", "casino_fun"),
    ({k: v for k, v in BEFORE.items() if k != "drunk_refuse"}, "missing_item", "drunk_refuse"),
])
def test_invalid_answers_name_the_item(answers, reason, item):
    with pytest.raises(attitude.AnswerError) as station_err:
        attitude.validate(attitude.items_for("drunk"), answers, "after")
    assert (station_err.value.reason, station_err.value.item, station_err.value.half) == (reason, item, "after")
    with pytest.raises(portal.Invalid) as portal_err:
        portal.validate("drunk", {"before": BEFORE, "after": answers}, after_required=True)
    assert (portal_err.value.reason, portal_err.value.item, portal_err.value.half) == (reason, item, "after")


def test_halves_required():
    with pytest.raises(portal.Invalid) as err:
        portal.validate("drunk", {"after": AFTER}, after_required=False)
    assert (err.value.reason, err.value.half) == ("missing_half", "before")
    with pytest.raises(portal.Invalid) as err:
        portal.validate("drunk", {"before": BEFORE, "after": None}, after_required=True)
    assert (err.value.reason, err.value.half) == ("missing_half", "after")
    stopped = portal.validate("drunk", {"before": BEFORE, "after": None}, after_required=False)
    assert (stopped.before_score, stopped.after_score, stopped.change) == (2.5, None, None)
    for value in (None, [], "x"):
        with pytest.raises(portal.Invalid, match="not_object"):
            portal.validate("drunk", value, after_required=False)
    with pytest.raises(portal.Invalid, match="not_object"):
        portal.validate("drunk", {"before": [3, 4]}, after_required=False)


def test_unit_effect_by_hand():
    rows = [("drunk", 2.5, 4.75), ("drunk", 3.0, 3.5), ("prison", 4.0, None), ("rehab", 2.0, 2.5)]
    drunk, rehab = portal.effects(rows)
    # drunk: before (2.5 + 3.0) / 2 = 2.75, after (4.75 + 3.5) / 2 = 4.125, change 1.375; prison has no after half
    assert (drunk.scene, drunk.n, drunk.mean_before, drunk.mean_after, drunk.mean_change) == \
        ("drunk", 2, 2.75, 4.125, 1.375)
    assert (rehab.scene, rehab.n, rehab.mean_change) == ("rehab", 1, 0.5)
    assert portal.effects([("prison", 4.0, None)]) == []


def test_parse_scripted_and_asker():
    items = attitude.items_for("drunk")
    assert attitude.parse_answers("3423", items) == BEFORE
    assert attitude.parse_answers("drunk_risk=5,drunk_little_ok=1,drunk_refuse=4,drunk_intention=5", items) == AFTER
    with pytest.raises(attitude.AnswerError, match="4 answers needed"):
        attitude.parse_answers("342", items)
    with pytest.raises(attitude.AnswerError) as err:
        attitude.parse_answers("3923", items)
    assert err.value.reason == "out_of_range"
    assert attitude.score(items, attitude.scripted(items, 4)) == 4.0
    asker = attitude.Asker(items, "before")
    assert "体验前问卷 1/4：酒后驾车很可能导致事故" == asker.prompt()
    assert not asker.answer(0) and not asker.answer(True) and asker.index == 0
    for value in (3, 4, 2, 3):
        assert asker.answer(value)
    assert asker.done and asker.answers == BEFORE and not asker.answer(3)


def test_terminal_questionnaire_repeats_until_a_digit():
    import io
    typed = iter(["", "7", "3", "4", "x", "2", "3"])
    out = io.StringIO()
    assert attitude.ask(attitude.items_for("drunk"), "before", lambda: next(typed), out) == BEFORE
    assert out.getvalue().count("请输入 1 到 5 之间的数字") == 3
