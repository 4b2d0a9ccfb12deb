"""The whole story of a flag, as an officer reads it: every check of its sitting in time order
(kind, times, verdict, distance and threshold, what triggered it, the liveness challenge's steps)
and the flag's repeats. Presentation only: labels and local times, no rule.
"""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

CHECK_KINDS = {
    "presence": _l("Presence check"),
    "identity": _l("Identity check"),
    "liveness": _l("Liveness challenge"),
    "question": _l("Surprise question"),
}

ACTIONS = {
    "blink": _l("Blink"),
    "turn_left": _l("Turn your head to the left"),
    "turn_right": _l("Turn your head to the right"),
    "look_up": _l("Look up"),
    "look_down": _l("Look down"),
    "open_mouth": _l("Open your mouth"),
}

# Why an identity check ran at once (proctoring.track): the face track broke.
TRIGGERS = {
    "face_returned": _l("A face came back into view"),
    "box_jump": _l("The face jumped across the picture"),
    "appearance_changed": _l("The face's appearance changed"),
}

CHECK_REASONS = {
    "ok": _l("passed"),
    "distance above threshold": _l("Distance above the threshold"),
    "finished during the challenge": _l("Finished during the challenge"),
}

_ONLY_SAMPLES = re.compile(r"only (\d+) samples")
_ALSO_DID = re.compile(r"also did (\w+)")


def local_time(value: datetime | float | None, seconds: bool = True) -> str:
    """An epoch (float) or a naive UTC datetime, in the site's time zone; "—" for None."""
    if value is None:
        return "—"
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    moment = value.replace(tzinfo=UTC) if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def action_label(action: str) -> str:
    label = ACTIONS.get(action)
    return str(label) if label is not None else action


def step_reason(reason: str) -> str:
    """proctoring.liveness StepResult reasons, in words."""
    if reason == "ok":
        return _("done")
    if reason == "not performed in time":
        return _("not done in time")
    if reason == "did not start from looking at the screen":
        return _("did not start by looking at the screen")
    match = _ONLY_SAMPLES.fullmatch(reason or "")
    if match:
        return _("too few camera frames (%(n)s)", n=match.group(1))
    match = _ALSO_DID.fullmatch(reason or "")
    if match:
        return _("also did: %(action)s", action=action_label(match.group(1)))
    return reason or "—"


def check_reason(reason: str) -> str:
    label = CHECK_REASONS.get(reason)
    return str(label) if label is not None else (reason or "—")


def _number(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return f"{value:.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _scores(raw: str) -> dict:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def check_rows(checks) -> list[dict]:
    """ProctorCheck rows (in time order) as table rows with every field in words."""
    rows = []
    for check in checks:
        scores = _scores(check.scores_json)
        steps = scores.get("steps") if isinstance(scores.get("steps"), list) else []
        trigger = scores.get("trigger")
        kind = CHECK_KINDS.get(check.kind)
        rows.append({
            "id": check.id,
            "kind": str(kind) if kind is not None else check.kind,
            "triggered": local_time(check.triggered_at),
            "verdict": local_time(check.verdict_at),
            "passed": bool(check.passed),
            "reason": check_reason(check.reason),
            "distance": _number(scores.get("distance")),
            "threshold": _number(scores.get("threshold")),
            "trigger": (str(TRIGGERS[trigger]) if trigger in TRIGGERS else str(trigger)) if trigger else None,
            "steps": [{"action": action_label(str(step.get("action", ""))), "passed": bool(step.get("passed")),
                       "reason": step_reason(str(step.get("reason", "")))}
                      for step in steps if isinstance(step, dict)],
        })
    return rows


def repeat_rows(scores: dict) -> tuple[int, list[dict]]:
    """(how many times the flag's finding occurred, its repeats in words) from a flag's story
    (webapp.proctor.evidence.join_flag): the first occurrence is the flag itself."""
    repeats = scores.get("repeats") if isinstance(scores.get("repeats"), list) else []
    try:
        occurrences = int(scores.get("occurrences", 1))
    except (TypeError, ValueError):
        occurrences = 1
    rows = []
    for repeat in repeats:
        if not isinstance(repeat, dict):
            continue
        at = repeat.get("at")
        details = {k: (_number(v) or v) for k, v in repeat.items() if k != "at" and not isinstance(v, (dict, list))}
        rows.append({"at": local_time(at) if isinstance(at, (int, float)) else "—", "details": details})
    return occurrences, rows
