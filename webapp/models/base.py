"""Helpers shared by the model modules."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _values(enum_cls) -> list[str]:
    return [member.value for member in enum_cls]


def new_id() -> str:
    return uuid.uuid4().hex
