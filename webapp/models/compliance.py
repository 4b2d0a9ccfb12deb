"""The officers' workspace (issue 14): a supervisee's month as the unit pages group it, transfers
between units, and the reminders sent to supervisees who are behind."""
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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.core.db import Base
from webapp.models.base import utcnow


class LearnerMonth(Base):
    """One supervisee's month, the row the unit pages aggregate (GROUP BY one of l1..l5).

    The unit and its ancestry (l1 ministry .. l5 township; the levels below the unit are NULL) are
    those of the month: a transfer moves the current month's row, never a past one, so past months
    and their exports keep their numbers. Kept up to date by the ledger and a scheduled job; a row
    is never deleted when its person's data is anonymised (retention)."""
    __tablename__ = "learner_month"
    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))          # "2026-11", the platform's time zone
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"))
    l1: Mapped[int | None] = mapped_column(Integer)
    l2: Mapped[int | None] = mapped_column(Integer)
    l3: Mapped[int | None] = mapped_column(Integer)
    l4: Mapped[int | None] = mapped_column(Integer)
    l5: Mapped[int | None] = mapped_column(Integer)
    required_s: Mapped[float] = mapped_column(Float, default=0.0)
    credited_s: Mapped[float] = mapped_column(Float, default=0.0)
    met: Mapped[bool] = mapped_column(Boolean, default=False)
    flags_raised: Mapped[int] = mapped_column(Integer, default=0)
    flags_open: Mapped[int] = mapped_column(Integer, default=0)
    rollcalls: Mapped[int] = mapped_column(Integer, default=0)
    rollcall_absences: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("month", "learner_id", name="uq_learner_month"),
        Index("ix_learner_month_l1", "month", "l1", "l2"),
        Index("ix_learner_month_l2", "month", "l2", "l3"),
        Index("ix_learner_month_l3", "month", "l3", "l4"),
        Index("ix_learner_month_l4", "month", "l4", "l5"),
        Index("ix_learner_month_l5", "month", "l5", "unit_id"),
    )


class UnitTransfer(Base):
    """A person moved from one unit to another (the history a transfer keeps)."""
    __tablename__ = "unit_transfer"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    from_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"))
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StudyReminder(Base):
    """A reminder to a supervisee behind this month's requirement, through a channel (SMS, ...)."""
    __tablename__ = "study_reminder"
    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    month: Mapped[str] = mapped_column(String(7))
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))       # sent | failed | no_contact
    detail: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_study_reminder_month", "month", "learner_id"),)
