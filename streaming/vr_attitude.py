"""The VR attitude questionnaire on the portal's side: plain rules beside the VR credit (vr_credit.py).

A station (session payload version 2) posts the raw answers of a short questionnaire asked before
and after the scene: ``{"before": {item: 1..5}, "after": {item: 1..5} | null}``. The portal checks
them here against the scene's items and scores them itself; nothing the station computed is trusted.

* an item scores its answer; a *reverse* item (a statement the scene works against) scores 6 - answer;
* a half scores the mean of its items (1..5); the change is after - before;
* the before half is required; the after half is required when the scene was completed, and may be
  null otherwise (an emergency stop or a closed window leaves no time to ask it);
* a unit's effect per scene: over the sessions with both halves, mean before, mean after, mean change
  (= mean after - mean before over the same sessions), n.

The item keys and reverse flags are those of ``vr_scenes/attitude.py`` (the texts live there, at
the station); tests/unit/test_vr_attitude.py checks that both agree. Nothing here knows Flask or SQL.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

LOW, HIGH = 1, 5

# scene -> ((item key, reverse), ...), in the order the station asks them
ITEMS: dict[str, tuple[tuple[str, bool], ...]] = {
    "drunk": (("drunk_risk", False), ("drunk_little_ok", True), ("drunk_refuse", False),
              ("drunk_intention", False)),
    "prison": (("prison_consequence", False), ("prison_unnoticed", True), ("prison_freedom", False),
               ("prison_intention", False)),
    "rehab": (("rehab_refuse", False), ("rehab_once", True), ("rehab_help", False), ("rehab_intention", False)),
}


class Invalid(ValueError):
    """reason: not_object | missing_half | unknown_item | missing_item | out_of_range | no_items;
    half: before | after (when known); item: the key concerned (when known)."""

    def __init__(self, reason: str, half: str | None = None, item: str | None = None):
        super().__init__(f"{reason} half={half} item={item}")
        self.reason, self.half, self.item = reason, half, item


@dataclass(frozen=True)
class Answers:
    before: dict[str, int]
    after: dict[str, int] | None
    before_score: float
    after_score: float | None

    @property
    def change(self) -> float | None:
        return None if self.after_score is None else self.after_score - self.before_score


def _half(items: tuple[tuple[str, bool], ...], value, half: str) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise Invalid("not_object", half)
    keys = [k for k, _ in items]
    for key in value:
        if key not in keys:
            raise Invalid("unknown_item", half, str(key)[:64])
    out = {}
    for key in keys:
        if key not in value:
            raise Invalid("missing_item", half, key)
        answer = value[key]
        if isinstance(answer, bool) or not isinstance(answer, int) or not LOW <= answer <= HIGH:
            raise Invalid("out_of_range", half, key)
        out[key] = answer
    return out


def score(scene: str, answers: Mapping[str, int]) -> float:
    items = ITEMS[scene]
    return sum((LOW + HIGH - answers[k]) if reverse else answers[k] for k, reverse in items) / len(items)


def validate(scene: str, value, after_required: bool) -> Answers:
    """The posted questionnaire of a session of ``scene``, checked and scored; raises ``Invalid``."""
    items = ITEMS.get(scene)
    if not items:
        raise Invalid("no_items")
    if not isinstance(value, Mapping):
        raise Invalid("not_object")
    if value.get("before") is None:
        raise Invalid("missing_half", "before")
    before = _half(items, value["before"], "before")
    after = None
    if value.get("after") is not None:
        after = _half(items, value["after"], "after")
    elif after_required:
        raise Invalid("missing_half", "after")
    return Answers(before, after, score(scene, before), None if after is None else score(scene, after))


@dataclass(frozen=True)
class Effect:
    """One scene's measured effect over ``n`` sessions with both halves."""
    scene: str
    n: int
    mean_before: float
    mean_after: float

    @property
    def mean_change(self) -> float:
        return self.mean_after - self.mean_before


def effects(rows: Iterable[tuple[str, float | None, float | None]]) -> list[Effect]:
    """(scene, before score, after score) of sessions -> per scene, in ITEMS order then by key; a
    session without both scores is left out."""
    sums: dict[str, list[float]] = {}
    for scene, before, after in rows:
        if before is None or after is None:
            continue
        acc = sums.setdefault(scene, [0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += before
        acc[2] += after
    return effects_from_sums((scene, int(n), b, a) for scene, (n, b, a) in sums.items())


def effects_from_sums(rows: Iterable[tuple[str, int, float, float]]) -> list[Effect]:
    """(scene, n, sum of before scores, sum of after scores), e.g. grouped in SQL -> per scene."""
    order = list(ITEMS)
    out = [Effect(scene, n, b / n, a / n) for scene, n, b, a in rows if n]
    return sorted(out, key=lambda e: (order.index(e.scene) if e.scene in order else len(order), e.scene))
