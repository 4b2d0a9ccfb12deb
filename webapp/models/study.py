"""Study sittings and the watch ledger: progress, pending and credited time, attestations, refusals."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.core.db import Base
from webapp.models.base import new_id, utcnow


class WatchProgress(Base):
    """Derived, cached per learner and course; the credit ledger below is the truth."""
    __tablename__ = "watch_progress"
    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    frontier_s: Mapped[float] = mapped_column(Float, default=0.0)
    position_s: Mapped[float] = mapped_column(Float, default=0.0)   # resume point
    coverage_json: Mapped[str] = mapped_column(Text, default="[]")  # credited media intervals
    covered_s: Mapped[float] = mapped_column(Float, default=0.0)
    credited_s: Mapped[float] = mapped_column(Float, default=0.0)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("learner_id", "course_id", name="uq_watch_progress"),)


class StudySession(Base):
    """One sitting at the player. A learner has at most one open session."""
    __tablename__ = "study_session"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    started_at: Mapped[float] = mapped_column(Float)      # epoch seconds (server clock)
    ended_at: Mapped[float | None] = mapped_column(Float)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # Heartbeat anchor
    last_seq: Mapped[int] = mapped_column(Integer, default=-1)
    last_at: Mapped[float | None] = mapped_column(Float)
    last_playing: Mapped[bool] = mapped_column(Boolean, default=False)
    # Presence: the last attestation and the next random breakpoint
    attested_at: Mapped[float] = mapped_column(Float)
    attested_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    breakpoint_index: Mapped[int] = mapped_column(Integer, default=0)
    breakpoint_due_at: Mapped[float] = mapped_column(Float)
    prompt_id: Mapped[str | None] = mapped_column(String(32))
    prompt_issued_at: Mapped[float | None] = mapped_column(Float)
    prompt_deadline: Mapped[float | None] = mapped_column(Float)
    # The question behind the open prompt (a surprise question), None for a plain confirmation
    prompt_question_id: Mapped[int | None] = mapped_column(Integer)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    # Camera proctoring: when the learner consented for this sitting (None: not given)
    camera_consent_at: Mapped[float | None] = mapped_column(Float)


class PendingSegment(Base):
    """Watched but not yet settled by presence."""
    __tablename__ = "pending_segment"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("study_session.id", ondelete="CASCADE"), index=True)
    media_start: Mapped[float] = mapped_column(Float)
    media_end: Mapped[float] = mapped_column(Float)
    wall_start: Mapped[float] = mapped_column(Float)
    wall_end: Mapped[float] = mapped_column(Float)


class CreditEntry(Base):
    """Append-only ledger of verified, credited intervals."""
    __tablename__ = "credit_entry"
    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id", ondelete="SET NULL"))
    session_id: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default="course")  # course | vr
    media_start: Mapped[float] = mapped_column(Float)
    media_end: Mapped[float] = mapped_column(Float)
    wall_start: Mapped[float] = mapped_column(Float)
    wall_end: Mapped[float] = mapped_column(Float)
    unique_s: Mapped[float] = mapped_column(Float)
    credited_s: Mapped[float] = mapped_column(Float)
    presence_source: Mapped[str] = mapped_column(String(32))
    month: Mapped[str] = mapped_column(String(7))  # "2026-11" in the platform's time zone
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (Index("ix_credit_learner_month", "learner_id", "month"),)


class DroppedSegment(Base):
    """Watched time that presence did not confirm: kept so officers can see it."""
    __tablename__ = "dropped_segment"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("study_session.id", ondelete="CASCADE"), index=True)
    media_start: Mapped[float] = mapped_column(Float)
    media_end: Mapped[float] = mapped_column(Float)
    wall_start: Mapped[float] = mapped_column(Float)
    wall_end: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(32))


class Attestation(Base):
    """A presence event: a breakpoint answered or missed, a start, a finish (camera checks later)."""
    __tablename__ = "attestation"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("study_session.id", ondelete="CASCADE"), index=True)
    at: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(200), default="")


class HeartbeatRejection(Base):
    __tablename__ = "heartbeat_rejection"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("study_session.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[float] = mapped_column(Float)
