"""A supervision's lifecycle: its end, a transfer between units, a password reset.

The rules (`*_problem`) take plain values; the functions below them load nothing themselves but
change the given rows, write the history and the audit row, and leave the commit to the caller.
Nothing is deleted: credit, attendance and the months' figures stay with the person's id.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from conferencing.rules import in_subtree
from webapp.compliance import move_current_month
from webapp.core.audit import audit
from webapp.core.security import end_sessions, hash_password
from webapp.models import OrgUnit, UnitTransfer, User
from webapp.people.import_rules import TOWNSHIP, generate_password
from webapp.people.national_id import N_

MAX_REASON = 200


def end_problem(ended_at: datetime | None) -> str | None:
    return N_("This supervision has already ended.") if ended_at is not None else None


def transfer_problem(*, ended: bool, from_unit_id: int, to_level: int | None, to_path: str | None,
                     actor_path: str) -> str | None:
    """Why a supervisee cannot move to the unit (None: they can). `to_path` None: no such unit."""
    if ended:
        return N_("The supervision has ended; an ended supervision is not transferred.")
    if to_path is None or not in_subtree(to_path, actor_path):
        return N_("Choose a unit of your jurisdiction.")
    if to_level != TOWNSHIP:
        return N_("A supervisee belongs to a township judicial office.")
    if to_path.rstrip("/").rsplit("/", 1)[-1] == str(from_unit_id):
        return N_("The supervisee already belongs to this unit.")
    return None


def end_supervision(session: Session, learner: User, now: datetime, reason: str = "") -> None:
    """Supervision ended: the account is deactivated and its sessions end. Personal data stays
    until retention anonymises it (webapp.people.retention)."""
    learner.supervision_ended_at = now
    learner.active = False
    end_sessions(learner)
    audit("supervision_ended", target=f"user:{learner.id}", detail=reason[:MAX_REASON], commit=False)


def transfer(session: Session, learner: User, to_unit: OrgUnit, actor: User, month: str, reason: str = "") -> UnitTransfer:
    """Move a supervisee (already checked by `transfer_problem`): the history row, the unit, the
    responsible officer if theirs does not cover the new unit (the acting officer, else none), and
    the current month's row."""
    record = UnitTransfer(user_id=learner.id, from_unit_id=learner.unit_id, to_unit_id=to_unit.id,
                          by_id=actor.id, reason=reason[:MAX_REASON])
    session.add(record)
    from_unit_id = learner.unit_id
    learner.unit_id = to_unit.id
    learner.unit = to_unit
    officer = learner.officer
    if officer is None or not in_subtree(to_unit.path, officer.unit.path):
        learner.officer_id = actor.id if actor.role.value == "officer" else None
    session.flush()
    move_current_month(session, learner, month)      # this month's row follows; past ones stay
    audit("unit_transferred", target=f"user:{learner.id}", detail=f"from:{from_unit_id} to:{to_unit.id}",
          commit=False, unit=to_unit)
    # the old unit's subtree keeps a record that the person left
    audit("unit_transferred_out", target=f"user:{learner.id}", detail=f"from:{from_unit_id} to:{to_unit.id}",
          commit=False, unit=from_unit_id)
    return record


def reset_password(session: Session, learner: User) -> str:
    """A new generated password (returned once, never stored in clear); every session ends."""
    password = generate_password()
    learner.password_hash = hash_password(password)
    end_sessions(learner)
    audit("password_reset_by_officer", target=f"user:{learner.id}", commit=False)
    return password
