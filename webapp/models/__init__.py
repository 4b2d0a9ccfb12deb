"""Persistence, one module per domain. Every schema change goes through an Alembic migration.

This package re-exports every model so that `from webapp.models import X` works and Alembic sees
the whole metadata (migrations/env.py imports it).
"""
from webapp.models.base import utcnow, new_id  # noqa: F401
from webapp.models.org import Level, Role, OrgUnit, User  # noqa: F401
from webapp.models.courses import Category, Course, CourseQuestion, Assignment  # noqa: F401
from webapp.models.study import WatchProgress, StudySession, PendingSegment, CreditEntry, DroppedSegment, Attestation, HeartbeatRejection  # noqa: F401
from webapp.models.audit import AuditLog  # noqa: F401
from webapp.models.proctor import FaceEnrolment, ProctorCheck, FlagStatus, ProctorFlag, Evidence, ProctorStanding  # noqa: F401
from webapp.models.conferences import ConferenceStatus, ParticipantRole, AttendanceOutcome, Conference, ConferenceParticipant, RollCall, AttendanceRecord, ConferenceReminderSent  # noqa: F401
from webapp.models.vr import VrStation, VrAssignmentStatus, VrAssignment, VrSession, VrCheckIn, VrChallenge  # noqa: F401
from webapp.models.compliance import LearnerMonth, UnitTransfer, StudyReminder  # noqa: F401
from webapp.models.education import EducationSession, EducationPresence, EducationCheck  # noqa: F401
