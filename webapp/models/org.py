"""Organisation: the five-level unit tree and the people in it."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.db import Base
from webapp.models.base import _values, utcnow


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
    # No longer used by the login (issue 12): the account lock, which anyone could trigger for
    # someone else, was replaced by throttling per username and address (webapp.core.throttle).
    # Kept, not dropped, to keep that change out of the schema; a later migration may drop them.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    # Bumped at logout, password change and an admin's reset or deactivation: a session carries the
    # version it was issued under (webapp.core.security) and is anonymous once the two differ.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Issue 14. The national ID number (身份证号), Fernet-encrypted (webapp.core.face_crypto's keys),
    # and a keyed hash of it so an import finds duplicates without decrypting.
    national_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    national_id_hmac: Mapped[str | None] = mapped_column(String(64))
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)     # for reminders (an SMS channel)
    supervision_ended_at: Mapped[datetime | None] = mapped_column(DateTime)   # deactivated at the end
    anonymised_at: Mapped[datetime | None] = mapped_column(DateTime)           # retention ran
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    unit: Mapped[OrgUnit] = relationship()
    officer: Mapped["User | None"] = relationship(remote_side=[id])
    __table_args__ = (Index("uq_app_user_national_id_hmac", "national_id_hmac", unique=True),)

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
