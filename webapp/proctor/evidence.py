"""Proctoring flags and their evidence snapshots (persistence only, no request needed).

`record_flag` is what the proctoring hub calls when a check raises a `proctoring.sitting.Flag`;
`purge_expired_evidence` runs hourly (webapp.scheduler) and from `flask proctor purge-evidence`.
A flag and its scores are kept for the record; only the image expires.
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import numpy as np
from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from webapp.core.face_crypto import encrypt_blob, jpeg_bytes
from webapp.models import Evidence, FlagStatus, ProctorFlag, utcnow


def plain_scores(value):
    """Scores as JSON-safe plain values (numpy scalars and NaN included)."""
    if isinstance(value, dict):
        return {str(k): plain_scores(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_scores(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


MAX_REPEATS = 20


def record_flag(session: Session, *, learner_id: int, session_id: str | None, check_id: int | None, kind: str,
                at: float, scores: dict, frame_rgb: np.ndarray | None = None) -> ProctorFlag:
    """An open flag (and, with a frame, its encrypted small JPEG). Does not commit.

    One open flag per learner, kind and sitting: a repeated failure adds its scores (the last
    `MAX_REPEATS`) and its snapshot to the open flag instead of raising another, so an officer
    reviews one story, not a pile. `flag.is_new` says whether this call raised it (alert once)."""
    plain = plain_scores(scores or {})
    flag = None
    if session_id is not None:
        flag = session.scalar(select(ProctorFlag).where(
            ProctorFlag.learner_id == learner_id, ProctorFlag.session_id == session_id,
            ProctorFlag.kind == kind[:32], ProctorFlag.status == FlagStatus.OPEN).order_by(ProctorFlag.id))
    if flag is not None:
        join_flag(flag, at, plain)
    else:
        flag = ProctorFlag(learner_id=learner_id, session_id=session_id, check_id=check_id, kind=kind[:32],
                           raised_at=float(at), scores_json=json.dumps(plain, ensure_ascii=False))
        session.add(flag)
        flag.is_new = True
    session.flush()
    if frame_rgb is not None:
        data, width, height = jpeg_bytes(frame_rgb)
        days = float(current_app.config["EVIDENCE_RETENTION_DAYS"])
        now = utcnow()
        session.add(Evidence(flag_id=flag.id, image_enc=encrypt_blob(data), width=width, height=height,
                             created_at=now, expires_at=now + timedelta(days=days)))
        session.flush()
    return flag


def join_flag(flag: ProctorFlag, at: float, scores: dict) -> ProctorFlag:
    """Add a repeat (its time and scores; the last `MAX_REPEATS` kept) to an open flag's story.
    Does not flush. `flag.is_new` is False: the officer was alerted when it was raised."""
    story = json.loads(flag.scores_json or "{}")
    if not isinstance(story, dict):
        story = {"value": story}
    repeats = story.get("repeats", [])[-(MAX_REPEATS - 1):] + [{"at": float(at), **plain_scores(scores or {})}]
    story.update(repeats=repeats, occurrences=int(story.get("occurrences", 1)) + 1)
    flag.scores_json = json.dumps(story, ensure_ascii=False)
    flag.is_new = False
    return flag


def purge_expired_evidence(session: Session, now: datetime | None = None) -> int:
    """Delete evidence images past their `expires_at`; returns how many. Commits."""
    now = utcnow() if now is None else now
    result = session.execute(delete(Evidence).where(Evidence.expires_at <= now))
    session.commit()
    return result.rowcount or 0
