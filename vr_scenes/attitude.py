"""The short attitude questionnaire asked before and after each scene (issue 15), to measure what a
scene changes: 3-4 statements per scene in Simplified Chinese, each answered on a 5-point agreement
scale (1 = 非常不同意 ... 5 = 非常同意). Item keys are English.

Scoring: an item scores its answer, a *reverse* item (a statement a changed attitude disagrees with,
e.g. "喝一点酒开车没关系") scores ``6 - answer``; a half's score is the mean of its item scores (1..5,
higher is the attitude the scene aims at); the change is ``after - before``.

What is posted (session payload version 2) is the raw answers, ``{"before": {key: 1..5}, "after":
{key: 1..5} | null}``; the portal checks and scores them itself (``streaming/vr_attitude.py`` holds
the same keys and reverse flags; tests/unit/test_vr_attitude.py checks that both agree).

Pure: no Panda3D here (the headset overlay is ``vr_scenes.station.overlay``).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

LOW, HIGH = 1, 5
SCALE = {1: "非常不同意", 2: "不同意", 3: "说不清", 4: "同意", 5: "非常同意"}
HALVES = ("before", "after")


@dataclass(frozen=True)
class Item:
    key: str
    text: str
    reverse: bool = False      # agreeing is the attitude the scene works against


ITEMS: dict[str, tuple[Item, ...]] = {
    "drunk": (
        Item("drunk_risk", "酒后驾车很可能导致事故"),
        Item("drunk_little_ok", "喝一点酒开车没关系", reverse=True),
        Item("drunk_refuse", "别人劝我酒后开车时，我能坚决拒绝"),
        Item("drunk_intention", "以后我不会酒后驾车"),
    ),
    "prison": (
        Item("prison_consequence", "违反矫正规定的后果很严重"),
        Item("prison_unnoticed", "偶尔违反规定不会被发现，没关系", reverse=True),
        Item("prison_freedom", "我很珍惜现在的自由"),
        Item("prison_intention", "我会按时报到，遵守各项矫正规定"),
    ),
    "rehab": (
        Item("rehab_refuse", "我能拒绝朋友递来的毒品"),
        Item("rehab_once", "只吸一次不会上瘾", reverse=True),
        Item("rehab_help", "出现戒断反应或受到诱惑时，我会主动求助"),
        Item("rehab_intention", "以后我不会再碰毒品"),
    ),
}

GENERIC: tuple[Item, ...] = (
    Item("generic_consequence", "违法行为会给自己和家人带来严重后果"),
    Item("generic_unnoticed", "只要不被发现，违法也没关系", reverse=True),
    Item("generic_intention", "我会遵守矫正规定，不再违法"),
)


class AnswerError(ValueError):
    """Answers that cannot be scored: ``reason`` is unknown_item | missing_item | out_of_range |
    not_answers; ``item`` the key concerned (if any), ``half`` before/after (if known)."""

    def __init__(self, reason: str, message: str, item: str | None = None, half: str | None = None):
        super().__init__(message)
        self.reason, self.item, self.half = reason, item, half


def items_for(scene: str) -> tuple[Item, ...]:
    return ITEMS.get(scene, GENERIC)


def validate(items: Sequence[Item], answers: Mapping, half: str | None = None) -> dict[str, int]:
    """Every item answered with a whole number 1..5, nothing else: {key: answer} in item order."""
    if not isinstance(answers, Mapping):
        raise AnswerError("not_answers", "answers must be a mapping of item key to 1..5", half=half)
    keys = {i.key for i in items}
    for key in answers:
        if key not in keys:
            raise AnswerError("unknown_item", f"unknown item {key!r}", item=str(key), half=half)
    out = {}
    for item in items:
        if item.key not in answers:
            raise AnswerError("missing_item", f"item {item.key} is not answered", item=item.key, half=half)
        value = answers[item.key]
        if isinstance(value, bool) or not isinstance(value, int) or not LOW <= value <= HIGH:
            raise AnswerError("out_of_range", f"item {item.key}: {value!r} is not a whole number from 1 to 5",
                              item=item.key, half=half)
        out[item.key] = value
    return out


def item_score(item: Item, answer: int) -> int:
    return LOW + HIGH - answer if item.reverse else answer


def score(items: Sequence[Item], answers: Mapping) -> float:
    """The mean item score (reverse items flipped) of one complete half, 1..5."""
    valid = validate(items, answers)
    return sum(item_score(i, valid[i.key]) for i in items) / len(items)


def change(items: Sequence[Item], before: Mapping, after: Mapping) -> float:
    """after - before, in scale points (positive: the attitude moved the way the scene aims)."""
    return score(items, after) - score(items, before)


def payload(items: Sequence[Item], before: Mapping, after: Mapping | None) -> dict:
    """The session payload's ``questionnaire``: the before half always; the after half, or None when
    the scene did not end normally (emergency stop, window closed)."""
    return {"before": validate(items, before, "before"),
            "after": None if after is None else validate(items, after, "after")}


def parse_answers(text: str, items: Sequence[Item]) -> dict[str, int]:
    """Scripted answers (``--attitude-before``/``--attitude-after``): digits in item order (``"4254"``
    or ``"4,2,5,4"``) or ``key=digit`` pairs. Validated."""
    text = text.strip()
    if "=" in text:
        pairs = {}
        for part in text.split(","):
            key, _, value = part.partition("=")
            pairs[key.strip()] = _digit(value.strip(), key.strip())
        return validate(items, pairs)
    digits = [p.strip() for p in text.split(",")] if "," in text else list(text)
    if len(digits) != len(items):
        raise AnswerError("missing_item", f"{len(items)} answers needed, got {len(digits)}")
    return validate(items, {i.key: _digit(d, i.key) for i, d in zip(items, digits, strict=True)})


def _digit(text: str, key: str):
    return int(text) if text.isdigit() else text


def scripted(items: Sequence[Item], agree: int) -> dict[str, int]:
    """A scripted learner's answers (``--fast``/``--autopilot`` without given answers): ``agree`` on
    every keyed item, its mirror on reverse ones (so every item scores ``agree``)."""
    return {i.key: (LOW + HIGH - agree if i.reverse else agree) for i in items}


SCRIPTED_BEFORE, SCRIPTED_AFTER = 3, 4


class Asker:
    """One half asked item by item, fed answers from wherever they come (the headset's keys 1-5, the
    operator's console): ``current`` is the item to show, ``answer(n)`` records it and moves on."""

    def __init__(self, items: Sequence[Item], half: str):
        self.items, self.half = tuple(items), half
        self.answers: dict[str, int] = {}

    @property
    def index(self) -> int:
        return len(self.answers)

    @property
    def done(self) -> bool:
        return self.index >= len(self.items)

    @property
    def current(self) -> Item | None:
        return None if self.done else self.items[self.index]

    def answer(self, value) -> bool:
        """Record an answer to the current item; False (nothing recorded) unless a whole number 1..5."""
        if self.done or isinstance(value, bool) or not isinstance(value, int) or not LOW <= value <= HIGH:
            return False
        self.answers[self.items[self.index].key] = value
        return True

    def prompt(self) -> str:
        item = self.current
        if item is None:
            return ""
        title = "体验前" if self.half == "before" else "体验后"
        return f"{title}问卷 {self.index + 1}/{len(self.items)}：{item.text}"


def scale_line() -> str:
    return "  ".join(f"{n} {label}" for n, label in SCALE.items())


def ask(items: Sequence[Item], half: str, read: Callable[[], str] | None = None, out: TextIO | None = None) -> dict:
    """On a terminal: each statement, repeated until a digit 1-5 is typed."""
    out = out or sys.stdout
    read = read or (lambda: input())
    asker = Asker(items, half)
    print("\n请根据您现在的真实想法作答（输入 1-5 后回车）：" + scale_line(), file=out)
    while not asker.done:
        print(asker.prompt(), file=out)
        print("> ", end="", file=out, flush=True)
        try:
            text = read().strip()
        except EOFError:
            raise AnswerError("missing_item", "the questionnaire was not finished (end of input)",
                              item=asker.current.key, half=half) from None
        if not (text.isdigit() and asker.answer(int(text))):
            print("请输入 1 到 5 之间的数字", file=out)
    return dict(asker.answers)
