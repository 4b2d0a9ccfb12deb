"""Camera proctoring: enrolled faces, check verdicts, flags and their evidence."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.db import Base
from webapp.models.base import _values, utcnow
from webapp.models.org import User


class FaceEnrolment(Base):
    """One reference face embedding of a supervisee, encrypted at rest (webapp.core.face_crypto).

    Only the 128-d embedding is kept, never the enrolment photo: it is all identity checks need.
    Re-enrolment deactivates the earlier rows (kept for the audit trail, deletable by retention).
    """
    __tablename__ = "face_enrolment"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    embedding_enc: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(16))               # upload | camera
    quality_json: Mapped[str] = mapped_column(Text, default="{}")  # detector score, size, sharpness, pose
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ProctorCheck(Base):
    """Every verdict of a camera check or surprise question, passed or not, with its scores."""
    __tablename__ = "proctor_check"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("study_session.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))          # presence | identity | liveness | question
    triggered_at: Mapped[float] = mapped_column(Float)
    verdict_at: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(64), default="")
    scores_json: Mapped[str] = mapped_column(Text, default="{}")


class FlagStatus(str, enum.Enum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class ProctorFlag(Base):
    """A failed check an officer must review. No flag becomes a sanction without that review."""
    __tablename__ = "proctor_flag"
    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(ForeignKey("study_session.id", ondelete="SET NULL"))
    check_id: Mapped[int | None] = mapped_column(ForeignKey("proctor_check.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))          # identity_mismatch | liveness_failed | multiple_faces | ...
    raised_at: Mapped[float] = mapped_column(Float)
    scores_json: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[FlagStatus] = mapped_column(Enum(FlagStatus, native_enum=False, length=16,
                                                    values_callable=_values), default=FlagStatus.OPEN)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    review_reason: Mapped[str] = mapped_column(Text, default="")
    learner: Mapped[User] = relationship(foreign_keys=[learner_id])
    __table_args__ = (Index("ix_proctor_flag_status", "status", "raised_at"),)


class Evidence(Base):
    """A small snapshot (JPEG, encrypted) kept with a flag until `expires_at`; a scheduled job
    deletes expired rows (EVIDENCE_RETENTION_DAYS, default 30)."""
    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("proctor_flag.id", ondelete="CASCADE"), index=True)
    image_enc: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class ProctorStanding(Base):
    """A learner's failed camera checks in a row, across sittings (proctoring.sitting.Standing):
    the next sitting starts with them. `blocked_at` is set while they hold the learner for an
    officer's review; the learner may ask for that review (`review_requested_at`, a short message).
    An officer clears it (webapp.proctor.standing), and so does a passed check or a re-enrolment."""
    __tablename__ = "proctor_standing"
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[float] = mapped_column(Float, default=0.0)     # no check before (epoch s; 0: none)
    blocked_at: Mapped[datetime | None] = mapped_column(DateTime)
    review_requested_at: Mapped[datetime | None] = mapped_column(DateTime)
    review_message: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
