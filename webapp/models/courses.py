"""Courses, their surprise-question banks, and assignments to learners."""
from __future__ import annotations

import enum
import json
from datetime import datetime

from sqlalchemy import (
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.db import Base
from webapp.models.base import _values, utcnow
from webapp.models.org import User


class Category(str, enum.Enum):
    LAW = "law"
    ETHICS = "ethics"
    PSYCHOLOGY = "psychology"
    VOCATIONAL = "vocational"


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
