"""The shell around the watch ledger: loads state, calls streaming.ledger, persists.

Every change is written in the same transaction as the heartbeat or
attestation that caused it, so a crash loses at most one heartbeat interval.
"""
from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from proctoring.policy import BreakpointPolicy, breakpoint_delay, breakpoint_due, prompt_expired
from proctoring.questions import BankQuestion, draw_question, grade, public_view
from streaming.group_credit import beside_credited
from streaming.intervals import IntervalSet
from streaming.ledger import (Heartbeat, LedgerPolicy, WatchSegment, WatchState, admit, apply_heartbeat, credit,
                              is_complete, settle)

from webapp.compliance import add_credit
from webapp.models import (Attestation, Course, CourseQuestion, CreditEntry, DroppedSegment, HeartbeatRejection, OrgUnit,
                     PendingSegment, ProctorCheck, StudySession, User, WatchProgress, utcnow)


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


def progress_for(db: Session, learner_id: int, course_id: int) -> WatchProgress:
    query = select(WatchProgress).where(WatchProgress.learner_id == learner_id,
                                        WatchProgress.course_id == course_id)
    progress = db.scalar(query)
    if progress is None:
        progress = WatchProgress(learner_id=learner_id, course_id=course_id, frontier_s=0.0, position_s=0.0,
                                 coverage_json="[]", covered_s=0.0, credited_s=0.0)
        db.add(progress)
        db.flush()
    return progress


def start_session(db: Session, learner: User, course: Course, now: float, user_agent: str = "",
                  camera: bool = False) -> StudySession:
    """Open a sitting. Any other open sitting of the learner ends: one screen at a time,
    so parallel tabs cannot earn wall time twice. With `camera` (proctored study, consent
    given) nothing counts until the camera checks verify the learner: the sitting starts
    with a failed attestation that the first passed identity check follows."""
    db.execute(update(StudySession)
               .where(StudySession.learner_id == learner.id, StudySession.ended_at.is_(None))
               .values(ended_at=now, end_reason="superseded"))
    study = StudySession(learner_id=learner.id, course_id=course.id, started_at=now, attested_at=now,
                         attested_ok=True, breakpoint_index=0, breakpoint_due_at=now,
                         user_agent=user_agent[:300])
    study.id = secrets.token_hex(16)
    study.breakpoint_due_at = _next_breakpoint(study, now)
    if camera:
        study.camera_consent_at, study.attested_ok = now, False
    db.add(study)
    db.flush()  # the session row first: attestations reference it
    db.add(Attestation(session_id=study.id, at=now, ok=not camera, source="start",
                       detail="awaiting camera" if camera else ""))
    progress_for(db, learner.id, course.id)
    db.commit()
    return study


@dataclass
class ProgressView:
    """The progress fields the player shows (same names as WatchProgress)."""
    position_s: float
    frontier_s: float
    covered_s: float
    credited_s: float
    completed_at: object


@dataclass
class HeartbeatOutcome:
    accepted: bool
    reason: str | None
    snap_to: float | None
    progress: ProgressView
    duration: float
    prompt: dict | None
    prompt_expired: bool


_S, _P, _C = StudySession.__table__.c, WatchProgress.__table__.c, Course.__table__.c
# One row with everything a heartbeat needs. The heartbeat is the hottest path of the
# portal, so it reads and writes through SQLAlchemy Core: no ORM objects, 1 SELECT,
# 2 UPDATEs (+1 INSERT for a watched segment), 1 COMMIT.
_HEARTBEAT_ROW = (
    select(_S.learner_id, _S.course_id, _S.ended_at, _S.last_seq, _S.last_at, _S.last_playing, _S.attested_at,
           _S.attested_ok, _S.breakpoint_index, _S.breakpoint_due_at, _S.prompt_id, _S.prompt_deadline,
           _S.prompt_question_id,
           _P.id.label("progress_id"), _P.position_s, _P.frontier_s, _P.covered_s, _P.credited_s,
           _P.completed_at, _C.duration_s)
    .select_from(StudySession.__table__
                 .join(WatchProgress.__table__, (_P.learner_id == _S.learner_id) & (_P.course_id == _S.course_id))
                 .join(Course.__table__, _C.id == _S.course_id))
    .where(_S.id == bindparam("sid")))
# Statements built once: building them per call costs more than running them.
_SAVE_ANCHOR = (update(StudySession.__table__).where(_S.id == bindparam("sid"))
                .values(last_seq=bindparam("last_seq"), last_at=bindparam("last_at"),
                        last_playing=bindparam("last_playing")))
_OPEN_PROMPT = (update(StudySession.__table__).where(_S.id == bindparam("sid"))
                .values(prompt_id=bindparam("prompt_id"), prompt_issued_at=bindparam("issued"),
                        prompt_deadline=bindparam("deadline"), prompt_question_id=bindparam("question_id")))
_SAVE_POSITION = (update(WatchProgress.__table__).where(_P.id == bindparam("pid"))
                  .values(position_s=bindparam("position"), frontier_s=bindparam("frontier"),
                          updated_at=bindparam("updated")))
_ADD_PENDING = insert(PendingSegment.__table__)
_ADD_REJECTION = insert(HeartbeatRejection.__table__)
# Refused heartbeats are stored for the officers (the supervisee's record counts them by reason),
# at most HEARTBEAT_REJECTIONS_PER_MIN per sitting in any 60 s. Beyond that a flood is only
# counted: one row of reason "flood" per 60 s, its `seq` the number of refusals it stands for.
FLOOD = "flood"
_R = HeartbeatRejection.__table__.c
_RECENT_REJECTIONS = (select(func.count()).select_from(HeartbeatRejection.__table__)
                      .where(_R.session_id == bindparam("sid"), _R.received_at > bindparam("since"),
                             _R.reason != FLOOD))
_OPEN_FLOOD = (select(_R.id).where(_R.session_id == bindparam("sid"), _R.reason == FLOOD,
                                   _R.received_at > bindparam("since"))
               .order_by(_R.received_at.desc()).limit(1))
_COUNT_FLOOD = update(HeartbeatRejection.__table__).where(_R.id == bindparam("rid")).values(seq=_R.seq + 1)


def _store_rejection(conn, session_id: str, seq: int, position: float, reason: str, now: float) -> None:
    since = now - 60.0
    cap = current_app.config["HEARTBEAT_REJECTIONS_PER_MIN"]
    if conn.execute(_RECENT_REJECTIONS, {"sid": session_id, "since": since}).scalar_one() < cap:
        conn.execute(_ADD_REJECTION, {"session_id": session_id, "seq": seq, "reason": reason, "received_at": now,
                                      "position": position if math.isfinite(position) else None})
        return
    flood = conn.execute(_OPEN_FLOOD, {"sid": session_id, "since": since}).scalar()
    if flood is None:
        conn.execute(_ADD_REJECTION, {"session_id": session_id, "seq": 1, "position": None, "reason": FLOOD,
                                      "received_at": now})
    else:
        conn.execute(_COUNT_FLOOD, {"rid": flood})


def record_heartbeat(db: Session, session_id: str, learner_id: int, seq, position, playing, rate,
                     now: float) -> HeartbeatOutcome | None:
    """Fold one heartbeat into the learner's sitting. None when the sitting is not the learner's."""
    conn = db.connection()  # Core on the session's connection: no ORM layer on the hot path
    row = conn.execute(_HEARTBEAT_ROW, {"sid": session_id}).one_or_none()
    if row is None or row.learner_id != learner_id:
        return None
    if row.ended_at is not None:
        raise StudyError("session_closed", "This study session has ended. Reload the page to continue.")
    expired = False
    if row.prompt_id is not None and prompt_expired(now, row.prompt_deadline):
        # Rare: settle the missed breakpoint through the ORM, then read the row again.
        expired = _expire_prompt(db, db.get(StudySession, session_id), now)
        db.commit()
        conn = db.connection()
        row = conn.execute(_HEARTBEAT_ROW, {"sid": session_id}).one()
    state = WatchState(duration=row.duration_s, frontier=row.frontier_s, last_seq=row.last_seq,
                       last_position=row.position_s, last_playing=row.last_playing, last_at=row.last_at)
    result = apply_heartbeat(state, Heartbeat(seq, position, bool(playing), rate, now), ledger_policy())
    progress = ProgressView(row.position_s, row.frontier_s, row.covered_s, row.credited_s, row.completed_at)
    prompt_id, deadline, question_id = row.prompt_id, row.prompt_deadline, row.prompt_question_id
    if not result.accepted:
        _store_rejection(conn, session_id, seq, position, result.reason.value, now)
        db.commit()
        return HeartbeatOutcome(False, result.reason.value, result.snap_to, progress, row.duration_s,
                                _prompt_view(db, prompt_id, deadline, question_id, now), expired)

    new = result.state
    conn.execute(_SAVE_ANCHOR, {"sid": session_id, "last_seq": new.last_seq, "last_at": new.last_at,
                              "last_playing": new.last_playing})
    if breakpoint_due(now, row.breakpoint_due_at, prompt_id is not None, row.attested_ok, bool(playing)):
        prompt_id, deadline = secrets.token_hex(8), now + breakpoint_policy().answer_within_s
        question = _draw_question(db, session_id, row.course_id, row.position_s, row.breakpoint_index)
        question_id = question.id if question else None
        conn.execute(_OPEN_PROMPT, {"sid": session_id, "prompt_id": prompt_id, "issued": now, "deadline": deadline,
                                    "question_id": question_id})
    conn.execute(_SAVE_POSITION, {"pid": row.progress_id, "position": new.last_position, "frontier": new.frontier,
                                "updated": utcnow()})
    if result.segment is not None:
        if result.segment.wall_start < row.attested_at:
            # Rare: the interval straddles attestations already made (ORM path).
            progress_row = _admit_straddling(db, session_id, result.segment)
            progress.covered_s, progress.credited_s = progress_row.covered_s, progress_row.credited_s
        else:
            seg = result.segment
            conn.execute(_ADD_PENDING, {"session_id": session_id, "media_start": seg.media_start,
                                        "media_end": seg.media_end, "wall_start": seg.wall_start,
                                        "wall_end": seg.wall_end})
    db.commit()
    progress.position_s, progress.frontier_s = new.last_position, new.frontier
    return HeartbeatOutcome(True, None, None, progress, row.duration_s,
                            _prompt_view(db, prompt_id, deadline, question_id, now), expired)


def _admit_straddling(db: Session, session_id: str, segment: WatchSegment) -> WatchProgress:
    """Settle the parts of a new segment that lie in windows already closed by attestations,
    as those windows were (streaming.ledger.admit); keep the rest pending."""
    study = db.get(StudySession, session_id)
    earlier = db.scalar(select(Attestation.ok).where(Attestation.session_id == session_id,
                                                     Attestation.at <= segment.wall_start)
                        .order_by(Attestation.at.desc(), Attestation.id.desc()).limit(1))
    later = db.execute(select(Attestation.at, Attestation.ok).where(Attestation.session_id == session_id,
                                                                    Attestation.at > segment.wall_start)
                       .order_by(Attestation.at, Attestation.id)).all()
    taken = admit(segment, bool(earlier) if earlier is not None else True, [(at, ok) for at, ok in later])
    for seg in taken.pending:
        db.add(PendingSegment(session_id=session_id, media_start=seg.media_start, media_end=seg.media_end,
                              wall_start=seg.wall_start, wall_end=seg.wall_end))
    for seg in taken.dropped:
        db.add(DroppedSegment(session_id=session_id, media_start=seg.media_start, media_end=seg.media_end,
                              wall_start=seg.wall_start, wall_end=seg.wall_end, reason="straddled_failure"))
    progress = progress_for(db, study.learner_id, study.course_id)
    if taken.credited:
        _credit(db, study, progress, taken.credited, "carried")
    return progress


def _bank(db: Session, course_id: int) -> list[BankQuestion]:
    rows = db.scalars(select(CourseQuestion).where(CourseQuestion.course_id == course_id)).all()
    return [BankQuestion(r.id, r.at_s, r.prompt, tuple(json.loads(r.choices_json)), r.answer) for r in rows]


def _draw_question(db: Session, session_id: str, course_id: int, position: float, index: int) -> BankQuestion | None:
    """A surprise question about what was just watched, not asked before in this sitting."""
    asked = frozenset(int(json.loads(r)["question_id"]) for r in db.scalars(
        select(ProctorCheck.scores_json).where(ProctorCheck.session_id == session_id, ProctorCheck.kind == "question")))
    secret = current_app.config["SECRET_KEY"].encode()
    return draw_question(_bank(db, course_id), position, secret, session_id, index, asked=asked)


def _prompt_view(db: Session, prompt_id: str | None, deadline: float | None, question_id: int | None,
                 now: float) -> dict | None:
    """The open prompt as the browser sees it: a surprise question's prompt and choices, never its answer."""
    if prompt_id is None:
        return None
    view = {"id": prompt_id, "left_s": max(0.0, deadline - now)}
    row = db.get(CourseQuestion, question_id) if question_id is not None else None
    if row is not None:
        asked = public_view(BankQuestion(row.id, row.at_s, row.prompt, tuple(json.loads(row.choices_json)), row.answer))
        view["question"] = {"prompt": asked.prompt, "choices": list(asked.choices)}
    return view


def _close_prompt(study: StudySession) -> None:
    study.prompt_id = study.prompt_issued_at = study.prompt_deadline = study.prompt_question_id = None


def _expire_prompt(db: Session, study: StudySession, now: float) -> bool:
    """A prompt left unanswered past its deadline is a failed attestation at the deadline."""
    if study.prompt_id is None or not prompt_expired(now, study.prompt_deadline):
        return False
    deadline = study.prompt_deadline
    _close_prompt(study)
    attest(db, study, deadline, ok=False, source="breakpoint", detail="unanswered")
    return True


def confirm_prompt(db: Session, study: StudySession, prompt_id: str, now: float, choice: object = None,
                   camera: bool = False) -> tuple[WatchProgress, bool]:
    """Answer the open prompt: (progress, passed). A surprise question is graded here against the
    bank; a wrong answer is a failed attestation. Under camera proctoring a right answer attests
    nothing (the camera is the source of presence), so it cannot lift a failed camera check."""
    if study.ended_at is not None:
        raise StudyError("session_closed", "This study session has ended. Reload the page to continue.")
    if _expire_prompt(db, study, now):
        db.commit()
        raise StudyError("prompt_expired", "Too late: the time since the last confirmation is not credited.")
    # bytes: compare_digest raises TypeError on a str with non-ASCII characters (a 500; tests/fuzz)
    if study.prompt_id is None or not secrets.compare_digest(study.prompt_id.encode(),
                                                             str(prompt_id).encode("utf-8", "surrogatepass")):
        raise StudyError("no_prompt", "There is no such open confirmation.")
    passed, reason = True, "confirmed"
    if study.prompt_question_id is not None:
        row = db.get(CourseQuestion, study.prompt_question_id)
        question = BankQuestion(row.id, row.at_s, row.prompt, tuple(json.loads(row.choices_json)), row.answer)
        passed, reason = grade(question, choice, now, study.prompt_issued_at, breakpoint_policy().answer_within_s)
        db.add(ProctorCheck(session_id=study.id, kind="question", triggered_at=study.prompt_issued_at, verdict_at=now,
                            passed=passed, reason=reason,
                            scores_json=json.dumps({"question_id": row.id, "chosen": choice if isinstance(choice, int)
                                                    and not isinstance(choice, bool) else None})))
    _close_prompt(study)
    if not passed:
        progress = attest(db, study, now, ok=False, source="question", detail=reason)
    elif camera:
        progress = progress_for(db, study.learner_id, study.course_id)
    else:
        progress = attest(db, study, now, ok=True, source="breakpoint")
    study.breakpoint_index += 1
    study.breakpoint_due_at = _next_breakpoint(study, now)
    db.commit()
    return progress, passed


def camera_resume(db: Session, study: StudySession, now: float) -> None:
    """Under camera proctoring, resuming after a failure is a new identity check (the caller asks
    the check runner); here only the prompt bookkeeping."""
    if study.ended_at is not None:
        raise StudyError("session_closed", "This study session has ended. Reload the page to continue.")
    _expire_prompt(db, study, now)
    if study.prompt_id is not None:
        raise StudyError("prompt_open", "Answer the open confirmation first.")
    db.commit()


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
    """End a sitting. `confirmed` is the learner's click on "finish": without the camera it
    attests presence unless a confirmation is open (then that counts as unanswered). Under the
    camera a click attests nothing here: the camera's final identity check settles the tail
    (webapp.proctor.hub). A page closed without it ends the sitting with its tail uncredited."""
    progress = progress_for(db, study.learner_id, study.course_id)
    if study.ended_at is not None:
        return progress
    _expire_prompt(db, study, now)
    if confirmed:
        if study.prompt_id is not None:
            _close_prompt(study)
            progress = attest(db, study, now, ok=False, source="breakpoint", detail="finished while open")
        elif study.camera_consent_at is None:
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


def _credited_elsewhere(db: Session, learner_id: int, segments) -> list[tuple[float, float]]:
    """Wall spans already credited to the learner by something other than home study (a group
    education session, a VR visit) in the time the segments cover."""
    if not segments:
        return []
    start, end = min(s.wall_start for s in segments), max(s.wall_end for s in segments)
    rows = db.execute(select(CreditEntry.wall_start, CreditEntry.wall_end)
                      .where(CreditEntry.learner_id == learner_id, CreditEntry.kind != "course",
                             CreditEntry.wall_end > start, CreditEntry.wall_start < end)).all()
    return [(r.wall_start, r.wall_end) for r in rows]


def _credit(db: Session, study: StudySession, progress: WatchProgress, segments, source: str) -> None:
    coverage = IntervalSet(tuple(span) for span in json.loads(progress.coverage_json))
    taken = _credited_elsewhere(db, study.learner_id, segments)
    for c in credit(coverage, segments):
        if c.unique_s <= 0:
            continue
        seg = c.segment
        # Minutes a group session (or a VR visit) already credited are not credited again.
        credited_s = beside_credited(c.credited_s, (seg.wall_start, seg.wall_end), taken) if taken else c.credited_s
        db.add(CreditEntry(learner_id=study.learner_id, course_id=study.course_id, session_id=study.id,
                           kind="course", media_start=seg.media_start, media_end=seg.media_end,
                           wall_start=seg.wall_start, wall_end=seg.wall_end, unique_s=c.unique_s,
                           credited_s=credited_s, presence_source=source, month=month_of(seg.wall_end)))
        add_credit(db, study.learner_id, month_of(seg.wall_end), credited_s)   # the unit pages' month
        progress.credited_s += credited_s
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
