"""Group education sessions (issue 16): a conference held as a session of a course or a topic,
who was present in it and the attendance checks of each person.

* `EducationSession`: one per conference (unique), with the check timings of
  `conferencing.education.SamplingPolicy` chosen when it was scheduled, and `credited_at` once its
  attendance went into the ledger (webapp.conferences.education_credit).
* `EducationPresence`: one row per stretch of presence of a person (joined, left); `left_at` NULL
  while present, or after a crash until the recovery sweep closes it. `shared_room`: present
  through a shared township room (one camera for several people), not on their own camera.
* `EducationCheck`: one row per check result of a person, written as it comes: a face check
  (identity and liveness), an on-site officer's confirmation or a check-in at a room's terminal.

Credit goes into the study ledger (`CreditEntry`, kind "group", session_id "edu<id>"): see
webapp.conferences.education_credit for how its columns are filled.
Times of presence and checks are epoch seconds (server clock), like the study ledger's.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.db import Base
from webapp.models.base import utcnow
from webapp.models.conferences import Conference
from webapp.models.org import User


class EducationSession(Base):
    __tablename__ = "education_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    conference_id: Mapped[int] = mapped_column(ForeignKey("conference.id", ondelete="CASCADE"), unique=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id", ondelete="SET NULL"))
    topic: Mapped[str] = mapped_column(String(200), default="")
    # The check timings (conferencing.education.SamplingPolicy)
    first_within_s: Mapped[float] = mapped_column(Float, default=120.0)
    min_gap_s: Mapped[float] = mapped_column(Float, default=300.0)
    max_gap_s: Mapped[float] = mapped_column(Float, default=900.0)
    max_parallel: Mapped[int] = mapped_column(Integer, default=2)
    # At most this many minutes credited per person for the session (None: no cap)
    session_cap_min: Mapped[int | None] = mapped_column(Integer)
    credited_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    conference: Mapped[Conference] = relationship()


class EducationPresence(Base):
    __tablename__ = "education_presence"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("education_session.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    room_path: Mapped[str] = mapped_column(String(400), default="")
    shared_room: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[float] = mapped_column(Float)
    left_at: Mapped[float | None] = mapped_column(Float)

    user: Mapped[User] = relationship()


class EducationCheck(Base):
    __tablename__ = "education_check"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("education_session.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    at: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(16))             # face | officer | terminal
    passed: Mapped[bool] = mapped_column(Boolean)
    room_path: Mapped[str] = mapped_column(String(400), default="")
    # The officer who confirmed (kind "officer")
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    scores_json: Mapped[str] = mapped_column(Text, default="{}")
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("proctor_flag.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
