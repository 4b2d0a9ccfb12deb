"""The shell around the watch ledger: loads state, calls streaming.ledger, persists.

Every change is written in the same transaction as the heartbeat or
attestation that caused it, so a crash loses at most one heartbeat interval.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from proctoring.policy import BreakpointPolicy, breakpoint_delay
from streaming.intervals import IntervalSet
from streaming.ledger import (Heartbeat, LedgerPolicy, WatchSegment, WatchState, apply_heartbeat, credit,
                              is_complete, settle)

from .models import (Attestation, Course, CreditEntry, DroppedSegment, HeartbeatRejection, OrgUnit,
                     PendingSegment, StudySession, User, WatchProgress, utcnow)


class StudyError(Exception):
    """A request that cannot apply to this session (closed, unknown prompt...)."""

    def __init__(self, code: str, message: str, status: int = 409):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def ledger_policy() -> LedgerPolicy:
    cfg = current_app.config
    return LedgerPolicy(max_rate=cfg["LEDGER_MAX_RATE"], tolerance_s=cfg["LEDGER_TOLERANCE_S"],
                        max_gap_s=cfg["LEDGER_MAX_GAP_S"], completion_share=cfg["COMPLETION_SHARE"])


def breakpoint_policy() -> BreakpointPolicy:
    cfg = current_app.config
    return BreakpointPolicy(mean_s=cfg["BREAKPOINT_MEAN_S"], min_s=cfg["BREAKPOINT_MIN_S"],
                            max_s=cfg["BREAKPOINT_MAX_S"], answer_within_s=cfg["BREAKPOINT_ANSWER_S"])


def _next_breakpoint(study: StudySession, after: float) -> float:
    secret = current_app.config["SECRET_KEY"].encode()
    return after + breakpoint_delay(secret, study.id, study.breakpoint_index, breakpoint_policy())


def month_of(epoch: float) -> str:
    tz = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return datetime.fromtimestamp(epoch, tz).strftime("%Y-%m")


def progress_for(db: Session, learner_id: int, course_id: int, lock: bool = False) -> WatchProgress:
    query = select(WatchProgress).where(WatchProgress.learner_id == learner_id,
                                        WatchProgress.course_id == course_id)
    progress = db.scalar(query)
    if progress is None:
        progress = WatchProgress(learner_id=learner_id, course_id=course_id, frontier_s=0.0, position_s=0.0,
                                 coverage_json="[]", covered_s=0.0, credited_s=0.0)
        db.add(progress)
        db.flush()
    return progress


def start_session(db: Session, learner: User, course: Course, now: float, user_agent: str = "") -> StudySession:
    """Open a sitting. Any other open sitting of the learner ends: one screen at a time,
    so parallel tabs cannot earn wall time twice."""
    db.execute(update(StudySession)
               .where(StudySession.learner_id == learner.id, StudySession.ended_at.is_(None))
               .values(ended_at=now, end_reason="superseded"))
    study = StudySession(learner_id=learner.id, course_id=course.id, started_at=now, attested_at=now,
                         attested_ok=True, breakpoint_index=0, breakpoint_due_at=now,
                         user_agent=user_agent[:300])
    study.id = secrets.token_hex(16)
    study.breakpoint_due_at = _next_breakpoint(study, now)
    db.add(study)
    db.flush()  # the session row first: attestations reference it
    db.add(Attestation(session_id=study.id, at=now, ok=True, source="start"))
    progress_for(db, learner.id, course.id)
    db.commit()
    return study


@dataclass
class HeartbeatOutcome:
    accepted: bool
    reason: str | None
    snap_to: float | None
    progress: WatchProgress
    prompt: dict | None
    prompt_expired: bool


def record_heartbeat(db: Session, study: StudySession, course: Course, seq, position, playing, rate,
                     now: float) -> HeartbeatOutcome:
    if study.ended_at is not None:
        raise StudyError("session_closed", "This study session has ended. Reload the page to continue.")
    expired = _expire_prompt(db, study, now)
    progress = progress_for(db, study.learner_id, course.id)
    state = WatchState(duration=course.duration_s, frontier=progress.frontier_s, last_seq=study.last_seq,
                       last_position=progress.position_s, last_playing=study.last_playing,
                       last_at=study.last_at)
    result = apply_heartbeat(state, Heartbeat(seq, position, bool(playing), rate, now), ledger_policy())
    if not result.accepted:
        db.add(HeartbeatRejection(session_id=study.id, seq=seq if isinstance(seq, int) else None,
                                  position=position if isinstance(position, (int, float)) else None,
                                  reason=result.reason.value, received_at=now))
        db.commit()
        return HeartbeatOutcome(False, result.reason.value, result.snap_to, progress, _prompt_view(study, now), expired)

    new = result.state
    study.last_seq, study.last_at, study.last_playing = new.last_seq, new.last_at, new.last_playing
    progress.position_s, progress.frontier_s, progress.updated_at = new.last_position, new.frontier, utcnow()
    if result.segment is not None:
        seg = result.segment
        db.add(PendingSegment(session_id=study.id, media_start=seg.media_start, media_end=seg.media_end,
                              wall_start=seg.wall_start, wall_end=seg.wall_end))
    if study.prompt_id is None and study.attested_ok and playing and now >= study.breakpoint_due_at:
        study.prompt_id = secrets.token_hex(8)
        study.prompt_issued_at = now
        study.prompt_deadline = now + breakpoint_policy().answer_within_s
    db.commit()
    return HeartbeatOutcome(True, None, None, progress, _prompt_view(study, now), expired)


def _prompt_view(study: StudySession, now: float) -> dict | None:
    if study.prompt_id is None:
        return None
    return {"id": study.prompt_id, "left_s": max(0.0, study.prompt_deadline - now)}


def _expire_prompt(db: Session, study: StudySession, now: float) -> bool:
    """A prompt left unanswered past its deadline is a failed attestation at the deadline."""
    if study.prompt_id is None or now <= study.prompt_deadline:
        return False
    deadline = study.prompt_deadline
    study.prompt_id = study.prompt_issued_at = study.prompt_deadline = None
    attest(db, study, deadline, ok=False, source="breakpoint", detail="unanswered")
    return True


def confirm_prompt(db: Session, study: StudySession, prompt_id: str, now: float) -> WatchProgress:
    if study.ended_at is not None:
        raise StudyError("session_closed", "This study session has ended. Reload the page to continue.")
    if _expire_prompt(db, study, now):
        db.commit()
        raise StudyError("prompt_expired", "Too late: the time since the last confirmation is not credited.")
    if study.prompt_id is None or not secrets.compare_digest(study.prompt_id, str(prompt_id)):
        raise StudyError("no_prompt", "There is no such open confirmation.")
    study.prompt_id = study.prompt_issued_at = study.prompt_deadline = None
    progress = attest(db, study, now, ok=True, source="breakpoint")
    study.breakpoint_index += 1
    study.breakpoint_due_at = _next_breakpoint(study, now)
    db.commit()
    return progress


def resume_after_failure(db: Session, study: StudySession, now: float) -> WatchProgress:
    """The learner is back after a missed confirmation: a new verified run starts now."""
    if study.ended_at is not None:
        raise StudyError("session_closed", "This study session has ended. Reload the page to continue.")
    _expire_prompt(db, study, now)
    if study.prompt_id is not None:
        raise StudyError("prompt_open", "Answer the open confirmation first.")
    if study.attested_ok:
        raise StudyError("not_needed", "Nothing to resume.")
    progress = attest(db, study, now, ok=True, source="resume")
    study.breakpoint_index += 1
    study.breakpoint_due_at = _next_breakpoint(study, now)
    db.commit()
    return progress


def finish_session(db: Session, study: StudySession, now: float, confirmed: bool) -> WatchProgress:
    """End a sitting. `confirmed` is the learner's click on "finish": it attests presence
    unless a confirmation is open (then that counts as unanswered). A page closed
    without it ends the sitting with its unconfirmed tail uncredited."""
    progress = progress_for(db, study.learner_id, study.course_id)
    if study.ended_at is not None:
        return progress
    _expire_prompt(db, study, now)
    if confirmed:
        if study.prompt_id is not None:
            study.prompt_id = study.prompt_issued_at = study.prompt_deadline = None
            progress = attest(db, study, now, ok=False, source="breakpoint", detail="finished while open")
        else:
            progress = attest(db, study, now, ok=True, source="finish")
    study.ended_at = now
    study.end_reason = "finished" if confirmed else "left"
    db.commit()
    return progress


def attest(db: Session, study: StudySession, at: float, ok: bool, source: str, detail: str = "") -> WatchProgress:
    """Record a presence attestation and settle the pending watch segments up to it.

    The window since the previous attestation is present only when both ends passed.
    This is the seam the camera checks plug into: they are attestations too.
    """
    present = ok and study.attested_ok
    rows = db.scalars(select(PendingSegment).where(PendingSegment.session_id == study.id)
                      .order_by(PendingSegment.wall_start)).all()
    pending = [WatchSegment(r.media_start, r.media_end, r.wall_start, r.wall_end) for r in rows]
    outcome = settle(pending, at, present)
    db.execute(delete(PendingSegment).where(PendingSegment.session_id == study.id))
    for seg in outcome.pending:
        db.add(PendingSegment(session_id=study.id, media_start=seg.media_start, media_end=seg.media_end,
                              wall_start=seg.wall_start, wall_end=seg.wall_end))
    for seg in outcome.dropped:
        db.add(DroppedSegment(session_id=study.id, media_start=seg.media_start, media_end=seg.media_end,
                              wall_start=seg.wall_start, wall_end=seg.wall_end,
                              reason=f"{source}:{detail or 'failed'}" if not ok else "after_failure"))
    progress = progress_for(db, study.learner_id, study.course_id)
    if outcome.credited:
        _credit(db, study, progress, outcome.credited, source)
    study.attested_at, study.attested_ok = at, ok
    db.add(Attestation(session_id=study.id, at=at, ok=ok, source=source, detail=detail))
    return progress


def _credit(db: Session, study: StudySession, progress: WatchProgress, segments, source: str) -> None:
    coverage = IntervalSet(tuple(span) for span in json.loads(progress.coverage_json))
    for c in credit(coverage, segments):
        if c.unique_s <= 0:
            continue
        seg = c.segment
        db.add(CreditEntry(learner_id=study.learner_id, course_id=study.course_id, session_id=study.id,
                           kind="course", media_start=seg.media_start, media_end=seg.media_end,
                           wall_start=seg.wall_start, wall_end=seg.wall_end, unique_s=c.unique_s,
                           credited_s=c.credited_s, presence_source=source, month=month_of(seg.wall_end)))
        progress.credited_s += c.credited_s
    progress.coverage_json = json.dumps(coverage.as_list())
    progress.covered_s = coverage.measure()
    course = db.get(Course, study.course_id)
    if progress.completed_at is None and is_complete(coverage, course.duration_s, ledger_policy()):
        progress.completed_at = utcnow()


# --- read side ----------------------------------------------------------------

def credited_seconds_in_month(db: Session, learner_id: int, month: str) -> float:
    total = db.scalar(select(func.coalesce(func.sum(CreditEntry.credited_s), 0.0))
                      .where(CreditEntry.learner_id == learner_id, CreditEntry.month == month))
    return float(total or 0.0)


def credited_by_learner(db: Session, learner_ids: list[int], month: str) -> dict[int, float]:
    if not learner_ids:
        return {}
    rows = db.execute(select(CreditEntry.learner_id, func.sum(CreditEntry.credited_s))
                      .where(CreditEntry.learner_id.in_(learner_ids), CreditEntry.month == month)
                      .group_by(CreditEntry.learner_id)).all()
    return {learner_id: float(total) for learner_id, total in rows}


def required_hours(db: Session, unit: OrgUnit) -> float:
    """The nearest unit up the tree that sets a requirement wins; else the configured default."""
    node = unit
    while node is not None:
        if node.monthly_required_hours is not None:
            return node.monthly_required_hours
        node = db.get(OrgUnit, node.parent_id) if node.parent_id else None
    return current_app.config["MONTHLY_REQUIRED_HOURS"]


def current_month() -> str:
    return month_of(datetime.now(timezone.utc).timestamp())
