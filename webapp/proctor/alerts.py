"""Real-time notice of a new proctoring flag to the officer responsible for the learner.

Only that officer's private Socket.IO room (`user:<id>`, joined on connect in webapp.core.sockets)
receives it. The alert carries just enough to find the flag: no image, location or scores.
"""
from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, has_request_context, url_for

from webapp.extensions import socketio
from webapp.models import ProctorFlag, User


def _flag_path(flag_id: int) -> str:
    if has_request_context():
        return url_for("proctor.flag", flag_id=flag_id)
    # From a worker thread with only an app context: a path relative to the site.
    adapter = current_app.url_map.bind(current_app.config.get("SERVER_NAME") or "localhost",
                                       script_name=current_app.config.get("APPLICATION_ROOT") or "/")
    return adapter.build("proctor.flag", {"flag_id": flag_id})


def alert_payload(flag: ProctorFlag, learner: User) -> dict:
    return {
        "flag_id": flag.id,
        "kind": flag.kind,
        "learner": learner.display_name,
        "at": datetime.fromtimestamp(flag.raised_at, UTC).isoformat(timespec="seconds"),
        "url": _flag_path(flag.id),
    }


def notify_flag(flag: ProctorFlag, learner: User) -> bool:
    """Emit "proctor_alert" to the learner's responsible officer. Needs an app context (a request
    context is not required; the URL is a site-relative path).
    Returns False when the learner has no responsible officer (nobody is told)."""
    if learner.officer_id is None or flag.learner_id != learner.id:
        return False
    socketio.emit("proctor_alert", alert_payload(flag, learner), to=f"user:{learner.officer_id}")
    return True
