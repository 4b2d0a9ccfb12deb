"""VR warning education: stations, assignments, sessions."""
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
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.db import Base
from webapp.models.base import _values, utcnow
from webapp.models.org import OrgUnit, User


class VrStation(Base):
    """A registered VR station of a unit. Only a SHA-256 hash of its bearer token is kept: the
    token is shown once, at registration, like an API key. A revoked station's token stops working."""
    __tablename__ = "vr_station"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    last_contact_at: Mapped[datetime | None] = mapped_column(DateTime)

    unit: Mapped[OrgUnit] = relationship()


class VrAssignmentStatus(str, enum.Enum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class VrAssignment(Base):
    """An officer's assignment of a VR scene to a supervisee; done when a session of it is posted."""
    __tablename__ = "vr_assignment"
    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    scene: Mapped[str] = mapped_column(String(32))
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    status: Mapped[VrAssignmentStatus] = mapped_column(Enum(VrAssignmentStatus, native_enum=False, length=16,
                                                            values_callable=_values),
                                                       default=VrAssignmentStatus.PENDING)
    assigned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))

    learner: Mapped[User] = relationship(foreign_keys=[learner_id])
    __table_args__ = (Index("ix_vr_assignment_status", "status", "learner_id"),)


class VrSession(Base):
    """One VR session posted by a station, with its telemetry (JSON as received, validated)."""
    __tablename__ = "vr_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("vr_station.id", ondelete="SET NULL"), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("vr_assignment.id", ondelete="SET NULL"))
    scene: Mapped[str] = mapped_column(String(32))
    client_session_id: Mapped[str] = mapped_column(String(32), unique=True)
    checkin: Mapped[str] = mapped_column(String(16))              # face | assignment
    # Verified (streaming.vr_credit): a face check-in with liveness passed, or an officer's on-site
    # confirmation, of this learner at this station around the session; an unverified one earns 0 s
    checkin_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_checkin_id: Mapped[int | None] = mapped_column(
        ForeignKey("vr_checkin.id", ondelete="SET NULL", name="fk_vr_session_verified_checkin_id"))
    started_at: Mapped[float] = mapped_column(Float)              # epoch seconds (station clock)
    ended_at: Mapped[float] = mapped_column(Float)
    stages_json: Mapped[str] = mapped_column(Text, default="[]")
    attention_json: Mapped[str] = mapped_column(Text, default="{}")
    reactions_json: Mapped[str] = mapped_column(Text, default="{}")
    choices_json: Mapped[str] = mapped_column(Text, default="{}")
    quiz_json: Mapped[str] = mapped_column(Text, default="{}")
    quiz_questions: Mapped[int] = mapped_column(Integer, default=0)
    quiz_correct: Mapped[int] = mapped_column(Integer, default=0)
    # Session payload version 2 (issue 15); NULL on rows stored before it. A version-1 post has no
    # outcome, progress or questionnaire.
    api_version: Mapped[int | None] = mapped_column(Integer)
    # completed | stopped (the operator's emergency stop) | unfinished (streaming.vr_credit.OUTCOMES)
    outcome: Mapped[str | None] = mapped_column(String(16))
    progress: Mapped[float | None] = mapped_column(Float)           # share of the scene's time played, 0..1
    # The attitude questionnaire (streaming.vr_attitude): raw answers {"before": {...}, "after": {...}|null}
    # and the portal's scores of each half (1..5; after NULL when it was not asked)
    attitude_json: Mapped[str | None] = mapped_column(Text)
    attitude_before: Mapped[float | None] = mapped_column(Float)
    attitude_after: Mapped[float | None] = mapped_column(Float)
    credited_s: Mapped[float] = mapped_column(Float, default=0.0)
    # credited | stopped | unverified | incomplete | overlap | daily_cap (streaming.vr_credit.Verdict.reason)
    credit_reason: Mapped[str] = mapped_column(String(32), default="")
    month: Mapped[str] = mapped_column(String(7))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    station: Mapped["VrStation | None"] = relationship()
    verified_by: Mapped["VrCheckIn | None"] = relationship(foreign_keys=[verified_checkin_id])
    __table_args__ = (Index("ix_vr_session_learner_started", "learner_id", "started_at"),)


class VrCheckIn(Base):
    """A learner checked in at a station. What verifies a session (streaming.vr_credit) is one of
    these rows, never audit text:

    * face: a face matched 1:N on the first frame of a burst; `liveness` says whether the burst
      followed the server-drawn challenge (a row with liveness False records an attempt that was
      refused; rows from before liveness existed have None); only True verifies;
    * officer: an officer confirmed in the portal that the learner is at the station (`officer_id`);
    * assignment: the station named the learner by an officer's assignment; verifies nothing."""
    __tablename__ = "vr_checkin"
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("vr_station.id", ondelete="CASCADE"))
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(16))            # face | officer | assignment
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("vr_assignment.id", ondelete="SET NULL"))
    distance: Mapped[float | None] = mapped_column(Float)        # face: embedding distance to the match
    liveness: Mapped[bool | None] = mapped_column(Boolean)       # face: the challenge passed
    officer_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL", name="fk_vr_checkin_officer_id"))
    at: Mapped[float] = mapped_column(Float)                     # epoch seconds, server time

    station: Mapped["VrStation"] = relationship()
    officer: Mapped["User | None"] = relationship(foreign_keys=[officer_id])
    __table_args__ = (Index("ix_vr_checkin_learner_at", "learner_id", "at"),)


class VrChallenge(Base):
    """A liveness challenge drawn for a station's face check-in (POST /api/vr/v1/checkin/challenge):
    the actions, their schedule and an expiry; answered once (`used_at`), by that station only."""
    __tablename__ = "vr_challenge"
    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("vr_station.id", ondelete="CASCADE"), index=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    actions: Mapped[str] = mapped_column(String(64))             # comma-separated proctoring.liveness.Action values
    shown_at: Mapped[str] = mapped_column(String(128))           # comma-separated offsets (s) each action is shown at
    window_s: Mapped[float] = mapped_column(Float)               # each action's window from its offset
    duration_s: Mapped[float] = mapped_column(Float)             # the whole burst, a neutral tail included
    issued_at: Mapped[float] = mapped_column(Float)              # epoch seconds, server time
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float)
