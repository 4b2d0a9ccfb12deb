"""A learner's proctoring standing: failed checks in a row and holds belong to the learner, not
the sitting (proctoring.sitting.Standing, kept in ProctorStanding).

* The runner's sink (webapp.proctor.hub) keeps every `Standing` action in its write transaction;
  the camera signalling (webapp.proctor.sockets) opens the next sitting with it, so a new sitting
  after a failure waits for the back-off, and one after PROCTOR_BLOCK_AFTER failures starts held
  for an officer's review.
* A learner with something to review asks for that review (one open "review_requested" flag,
  joined by later requests, alerting the responsible officer once).
* An officer clears the standing (with a reason), and so does re-enrolling the face; the learner's
  browser is told and starts a fresh sitting.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from proctoring.sitting import Standing

from webapp.extensions import socketio
from webapp.models import FlagStatus, ProctorFlag, ProctorStanding, StudySession, utcnow

REVIEW_KIND = "review_requested"
MAX_MESSAGE = 500


class NothingToReview(Exception):
    """The learner has no failed check in a row and no open flag."""


def standing_of(session: Session, learner_id: int) -> ProctorStanding | None:
    return session.get(ProctorStanding, learner_id)


def open_args(row: ProctorStanding | None) -> dict:
    """The keyword arguments of CheckRunner.open that carry the learner's standing over."""
    if row is None:
        return {"failures": 0, "not_before": 0.0}
    return {"failures": max(0, int(row.failures)), "not_before": float(row.not_before or 0.0)}


def _row(session: Session, learner_id: int) -> ProctorStanding:
    row = session.get(ProctorStanding, learner_id)
    if row is None:
        row = ProctorStanding(learner_id=learner_id, failures=0, not_before=0.0, review_message="",
                              updated_at=utcnow())
        session.add(row)
    return row


def keep_standing(session: Session, learner_id: int, action: Standing) -> ProctorStanding:
    """Upsert the learner's row from a Standing action. Does not commit.
    `blocked_at` marks when the hold for review began; a pass (failures 0) clears it and any
    review request (nothing is left to review)."""
    now = utcnow()
    row = _row(session, learner_id)
    row.failures = max(0, int(action.failures))
    row.not_before = float(action.not_before)
    if action.blocked:
        if row.blocked_at is None:
            row.blocked_at = now
    else:
        row.blocked_at = None
    if row.failures == 0:
        row.review_requested_at = None
        row.review_message = ""
    row.updated_at = now
    return row


def needs_attention(row: ProctorStanding | None) -> bool:
    """Anything an officer could clear: failures, a wait, a hold, a review request."""
    return row is not None and bool(row.failures or row.not_before or row.blocked_at or row.review_requested_at)


def clear_standing(session: Session, learner_id: int) -> dict | None:
    """Reset the learner's standing. Does not commit. Returns what it was (for the audit), or
    None when there was nothing to clear."""
    row = session.get(ProctorStanding, learner_id)
    if not needs_attention(row):
        return None
    before = {"failures": row.failures, "not_before": row.not_before,
              "blocked_at": row.blocked_at.isoformat(timespec="seconds") if row.blocked_at else None,
              "review_requested_at": (row.review_requested_at.isoformat(timespec="seconds")
                                      if row.review_requested_at else None)}
    row.failures, row.not_before, row.blocked_at = 0, 0.0, None
    row.review_requested_at, row.review_message = None, ""
    row.updated_at = utcnow()
    return before


def close_review_requests(session: Session, learner_id: int, officer_id: int, reason: str) -> list[int]:
    """The learner's open review requests are answered (dismissed with the officer's reason).
    Does not commit. Returns their ids."""
    ids = list(session.scalars(select(ProctorFlag.id).where(
        ProctorFlag.learner_id == learner_id, ProctorFlag.kind == REVIEW_KIND, ProctorFlag.status == FlagStatus.OPEN)))
    if ids:
        session.execute(update(ProctorFlag).where(ProctorFlag.id.in_(ids), ProctorFlag.status == FlagStatus.OPEN)
                        .values(status=FlagStatus.DISMISSED, reviewed_by_id=officer_id, reviewed_at=utcnow(),
                                review_reason=reason))
    return ids


def request_review(session: Session, learner_id: int, message: str, at: float) -> ProctorFlag:
    """The learner asks an officer to review their standing. Does not commit.

    Raises NothingToReview unless they have failures in a row or an open flag. One open request:
    a later one joins it (its message and time added to the flag's story; `flag.is_new` False)."""
    from webapp.proctor.evidence import join_flag

    row = session.get(ProctorStanding, learner_id)
    failures = row.failures if row is not None else 0
    open_flag = session.scalar(select(ProctorFlag.id).where(
        ProctorFlag.learner_id == learner_id, ProctorFlag.status == FlagStatus.OPEN).limit(1))
    if failures <= 0 and open_flag is None:
        raise NothingToReview()
    requested = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    scores = {"message": message, "failures": failures, "requested_at": requested}
    flag = session.scalar(select(ProctorFlag).where(
        ProctorFlag.learner_id == learner_id, ProctorFlag.kind == REVIEW_KIND,
        ProctorFlag.status == FlagStatus.OPEN).order_by(ProctorFlag.id))
    if flag is not None:
        join_flag(flag, at, scores)
    else:
        sitting = session.scalar(select(StudySession.id).where(
            StudySession.learner_id == learner_id, StudySession.camera_consent_at.is_not(None))
            .order_by(StudySession.started_at.desc()).limit(1))
        flag = ProctorFlag(learner_id=learner_id, session_id=sitting, check_id=None, kind=REVIEW_KIND,
                           raised_at=float(at), scores_json=json.dumps(scores, ensure_ascii=False))
        session.add(flag)
        flag.is_new = True
    row = _row(session, learner_id)
    if row.review_requested_at is None:
        row.review_requested_at = utcnow()
    if message:
        row.review_message = message
    row.updated_at = utcnow()
    session.flush()
    return flag


def tell_cleared(learner_id: int) -> None:
    """After a clear is committed: end the learner's live camera sittings (their in-memory count is
    stale) and tell their browser, which reloads and opens a fresh sitting. Needs an app context."""
    from webapp.core import db

    running = current_app.extensions.get("proctor_runner")
    if running is not None:
        live = db.session().scalars(select(StudySession.id).where(
            StudySession.learner_id == learner_id, StudySession.ended_at.is_(None))).all()
        db.session().rollback()
        for sitting_id in live:
            if running.owner(sitting_id) == learner_id:
                running.close(sitting_id)
    socketio.emit("proctor", {"state": "cleared"}, to=f"user:{learner_id}")
