"""Conferences, their participants, roll calls and attendance."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.db import Base
from webapp.models.base import _values, utcnow
from webapp.models.org import OrgUnit, User


class ConferenceStatus(str, enum.Enum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class ParticipantRole(str, enum.Enum):
    HOST = "host"
    SPEAKER = "speaker"
    PARTICIPANT = "participant"


class AttendanceOutcome(str, enum.Enum):
    """The outcomes of proctoring.rollcall.Outcome."""
    PRESENT_VERIFIED = "present_verified"
    PRESENT_UNVERIFIED = "present_unverified"
    ABSENT = "absent"
    LEFT_EARLY = "left_early"


class Conference(Base):
    """A video conference of a host unit; who may join follows conferencing.rules."""
    __tablename__ = "conference"
    id: Mapped[int] = mapped_column(primary_key=True)
    host_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    host_officer_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(DateTime)       # UTC, naive like utcnow()
    duration_min: Mapped[int] = mapped_column(Integer)
    # Levels below the host's included, as text "4,5" (conference_rules.levels_to_text).
    levels: Mapped[str] = mapped_column(String(20), default="")
    include_supervisees: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[ConferenceStatus] = mapped_column(Enum(ConferenceStatus, native_enum=False, length=16,
                                                          values_callable=_values),
                                                     default=ConferenceStatus.SCHEDULED)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    host_unit: Mapped[OrgUnit] = relationship()
    host_officer: Mapped[User] = relationship()
    __table_args__ = (CheckConstraint("duration_min > 0", name="ck_conference_duration"),
                      Index("ix_conference_status_starts", "status", "starts_at"))


class ConferenceParticipant(Base):
    __tablename__ = "conference_participant"
    id: Mapped[int] = mapped_column(primary_key=True)
    conference_id: Mapped[int] = mapped_column(ForeignKey("conference.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[ParticipantRole] = mapped_column(Enum(ParticipantRole, native_enum=False, length=16,
                                                       values_callable=_values),
                                                  default=ParticipantRole.PARTICIPANT)
    joined_at: Mapped[datetime | None] = mapped_column(DateTime)
    left_at: Mapped[datetime | None] = mapped_column(DateTime)
    user: Mapped[User] = relationship()
    __table_args__ = (UniqueConstraint("conference_id", "user_id", name="uq_conference_participant"),)


class RollCall(Base):
    __tablename__ = "roll_call"
    id: Mapped[int] = mapped_column(primary_key=True)
    conference_id: Mapped[int] = mapped_column(ForeignKey("conference.id", ondelete="CASCADE"), index=True)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)


class AttendanceRecord(Base):
    """One person's outcome in a roll call, written as they answer (a left_early updates it).
    A host override keeps the recorded outcome and adds the new one, with its mandatory reason."""
    __tablename__ = "attendance_record"
    id: Mapped[int] = mapped_column(primary_key=True)
    roll_call_id: Mapped[int] = mapped_column(ForeignKey("roll_call.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[AttendanceOutcome] = mapped_column(Enum(AttendanceOutcome, native_enum=False, length=24,
                                                            values_callable=_values))
    scores_json: Mapped[str] = mapped_column(Text, default="{}")
    # The flag raised for a present_unverified outcome (the evidence an officer reviews).
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("proctor_flag.id", ondelete="SET NULL"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    overridden_outcome: Mapped[AttendanceOutcome | None] = mapped_column(
        Enum(AttendanceOutcome, native_enum=False, length=24, values_callable=_values))
    override_reason: Mapped[str | None] = mapped_column(Text)
    overridden_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    overridden_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    __table_args__ = (
        UniqueConstraint("roll_call_id", "user_id", name="uq_attendance_record"),
        CheckConstraint("overridden_outcome IS NULL OR "
                        "(override_reason IS NOT NULL AND length(trim(override_reason)) > 0)",
                        name="ck_attendance_override_reason"),
    )

    @property
    def effective_outcome(self) -> AttendanceOutcome:
        return self.overridden_outcome or self.outcome


class ConferenceReminderSent(Base):
    """A conference reminder already sent (or passed over as stale): one row per conference and
    offset, so the scheduler never sends the same reminder twice."""
    __tablename__ = "conference_reminder_sent"
    id: Mapped[int] = mapped_column(primary_key=True)
    conference_id: Mapped[int] = mapped_column(ForeignKey("conference.id", ondelete="CASCADE"))
    before_s: Mapped[int] = mapped_column(Integer)      # seconds before the start
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("conference_id", "before_s", name="uq_conference_reminder_sent"),)
