"""Persistence. Every schema change goes through an Alembic migration."""
from __future__ import annotations

import enum
import json
import uuid
from datetime import datetime, timezone

from sqlalchemy import (Boolean, CheckConstraint, DateTime, Enum, Float, ForeignKey, Index, Integer,
                        LargeBinary, String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _values(enum_cls) -> list[str]:
    return [member.value for member in enum_cls]


def new_id() -> str:
    return uuid.uuid4().hex


class Level(enum.IntEnum):
    MINISTRY = 1   # 部
    PROVINCE = 2   # 省
    CITY = 3       # 市
    DISTRICT = 4   # 区县
    TOWNSHIP = 5   # 司法所


class Role(str, enum.Enum):
    ADMIN = "admin"
    OFFICER = "officer"
    SUPERVISEE = "supervisee"


class Category(str, enum.Enum):
    LAW = "law"
    ETHICS = "ethics"
    PSYCHOLOGY = "psychology"
    VOCATIONAL = "vocational"


class OrgUnit(Base):
    __tablename__ = "org_unit"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    # Materialised path "/1/4/9/": the subtree of a unit is every path starting with its own.
    path: Mapped[str] = mapped_column(String(400), index=True, default="")
    # Hours of study required per month for supervisees of this unit; None inherits from above.
    monthly_required_hours: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    parent: Mapped["OrgUnit | None"] = relationship(remote_side=[id])
    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 5", name="ck_org_unit_level"),)

    def contains(self, other: "OrgUnit") -> bool:
        return other.path.startswith(self.path)


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20, values_callable=_values))
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id", ondelete="RESTRICT"), index=True)
    # Supervisees only: the officer responsible for them.
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    unit: Mapped[OrgUnit] = relationship()
    officer: Mapped["User | None"] = relationship(remote_side=[id])

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class Course(Base):
    __tablename__ = "course"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(Enum(Category, native_enum=False, length=20, values_callable=_values))
    description: Mapped[str] = mapped_column(Text, default="")
    duration_s: Mapped[float] = mapped_column(Float)
    master_playlist: Mapped[str] = mapped_column(String(200))   # relative to MEDIA_ROOT
    source_file: Mapped[str] = mapped_column(String(200))       # relative to MEDIA_ROOT
    renditions_json: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    questions: Mapped[list["CourseQuestion"]] = relationship(cascade="all, delete-orphan",
                                                            order_by="CourseQuestion.at_s")

    @property
    def renditions(self) -> list[dict]:
        return json.loads(self.renditions_json)


class CourseQuestion(Base):
    __tablename__ = "course_question"
    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    at_s: Mapped[float] = mapped_column(Float)
    prompt: Mapped[str] = mapped_column(Text)
    choices_json: Mapped[str] = mapped_column(Text)
    answer: Mapped[int] = mapped_column(Integer)


class Assignment(Base):
    __tablename__ = "assignment"
    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    course: Mapped[Course] = relationship()
    learner: Mapped[User] = relationship(foreign_keys=[learner_id])
    __table_args__ = (UniqueConstraint("learner_id", "course_id", name="uq_assignment"),)


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


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# --- proctoring -----------------------------------------------------------------

class FaceEnrolment(Base):
    """One reference face embedding of a supervisee, encrypted at rest (webapp.face_crypto).

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


# --- conferences and roll calls -------------------------------------------------

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
    """A video conference of a host unit; who may join follows proctoring.conference_rules."""
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


# --- VR warning education ---------------------------------------------------------

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
    # A matched face check-in of this learner at this station shortly before the session
    checkin_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[float] = mapped_column(Float)              # epoch seconds (station clock)
    ended_at: Mapped[float] = mapped_column(Float)
    stages_json: Mapped[str] = mapped_column(Text, default="[]")
    attention_json: Mapped[str] = mapped_column(Text, default="{}")
    reactions_json: Mapped[str] = mapped_column(Text, default="{}")
    choices_json: Mapped[str] = mapped_column(Text, default="{}")
    quiz_json: Mapped[str] = mapped_column(Text, default="{}")
    quiz_questions: Mapped[int] = mapped_column(Integer, default=0)
    quiz_correct: Mapped[int] = mapped_column(Integer, default=0)
    credited_s: Mapped[float] = mapped_column(Float, default=0.0)
    credit_reason: Mapped[str] = mapped_column(String(32), default="")  # credited | incomplete | overlap
    month: Mapped[str] = mapped_column(String(7))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    station: Mapped["VrStation | None"] = relationship()
    __table_args__ = (Index("ix_vr_session_learner_started", "learner_id", "started_at"),)
