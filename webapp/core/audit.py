"""Audit trail of security-relevant actions."""
from __future__ import annotations

from flask import request
from flask_login import current_user

from webapp.core import db
from webapp.models import AuditLog


def audit(action: str, target: str = "", detail: str = "", commit: bool = True) -> None:
    actor = current_user.id if current_user and current_user.is_authenticated else None
    ip = request.remote_addr or "" if request else ""
    db.session().add(AuditLog(actor_id=actor, action=action, target=target, detail=detail[:2000], ip=ip))
    if commit:
        db.session().commit()
