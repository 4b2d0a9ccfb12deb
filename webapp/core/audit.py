"""Audit trail of security-relevant actions.

Each row carries the unit whose subtree may read it (issue 14, the audit viewer): the unit given
with `unit=`, else the unit of the person the action is about (a target "user:<id>"), else the
actor's unit; NULL when none is known (an unknown username at login, a VR station's refusal, a
scheduled job about no one), which only a top-level administrator sees.
"""
from __future__ import annotations

from flask import has_request_context, request
from flask_login import current_user

from webapp.core import db
from webapp.core.inputs import parse_int
from webapp.models import AuditLog, OrgUnit, User


def _unit_id(target: str, unit, actor) -> int | None:
    if unit is not None:
        return unit.id if isinstance(unit, OrgUnit) else int(unit)
    if target.startswith("user:"):
        user_id = parse_int(target[5:])
        person = db.session().get(User, user_id) if user_id is not None else None
        if person is not None:
            return person.unit_id
    return actor.unit_id if actor is not None else None


def audit(action: str, target: str = "", detail: str = "", commit: bool = True, unit=None) -> None:
    """Write an audit row (`unit`: an OrgUnit or its id, when the subject is no user)."""
    actor = current_user if current_user and current_user.is_authenticated else None
    ip = (request.remote_addr or "") if has_request_context() else ""
    db.session().add(AuditLog(actor_id=actor.id if actor is not None else None, action=action, target=target,
                              detail=detail[:2000], ip=ip, unit_id=_unit_id(target, unit, actor)))
    if commit:
        db.session().commit()
