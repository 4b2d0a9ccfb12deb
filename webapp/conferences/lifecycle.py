"""Every write of a conference's status and of who is in it goes through here, and through the
pure rules of conferencing.lifecycle: the views, the socket handlers and the scheduler only call
these functions (tests/unit/test_conference_lifecycle.py checks no other module writes them)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from conferencing import lifecycle
from conferencing.lifecycle import Event, Participation, TransitionRefused  # noqa: F401  (re-exported)

from webapp.conferences import education_credit
from webapp.models import Conference, ConferenceParticipant, ConferenceStatus, ParticipantRole, utcnow


def transition(session, conference: Conference, event: Event, now: datetime | None = None) -> bool:
    """Apply `event`; False (nothing written) when the rules refuse it. Reaching a final state
    closes every open participation. The caller commits."""
    if not lifecycle.allows(conference.status.value, event):
        return False
    target = lifecycle.next_status(conference.status.value, event)
    conference.status = ConferenceStatus(target.value)
    if target in lifecycle.FINAL:
        close_participations(session, conference.id, now or utcnow())
        education_credit.conference_ended(session, conference.id, now)   # an education session: credited
    return True


def _row(session, conference_id: int, user_id: int) -> ConferenceParticipant | None:
    return session.scalar(select(ConferenceParticipant).where(
        ConferenceParticipant.conference_id == conference_id, ConferenceParticipant.user_id == user_id))


def _apply(row: ConferenceParticipant, state: Participation) -> None:
    row.joined_at, row.left_at = state.joined_at, state.left_at


def record_join(session, conference: Conference, user_id: int, now: datetime | None = None) -> None:
    row = _row(session, conference.id, user_id)
    state = lifecycle.join(Participation(row.joined_at, row.left_at) if row else None, now or utcnow())
    if row is None:
        role = ParticipantRole.HOST if conference.host_officer_id == user_id else ParticipantRole.PARTICIPANT
        row = ConferenceParticipant(conference_id=conference.id, user_id=user_id, role=role)
        session.add(row)
    _apply(row, state)


def record_leave(session, conference_id: int, user_id: int, now: datetime | None = None) -> bool:
    """True when the person was in and is now recorded as gone."""
    row = _row(session, conference_id, user_id)
    if row is None:
        return False
    before = Participation(row.joined_at, row.left_at)
    after = lifecycle.leave(before, now or utcnow())
    _apply(row, after)
    return after != before


def close_participations(session, conference_id: int, now: datetime) -> None:
    for row in session.scalars(select(ConferenceParticipant).where(
            ConferenceParticipant.conference_id == conference_id, ConferenceParticipant.left_at.is_(None),
            ConferenceParticipant.joined_at.is_not(None))):
        _apply(row, lifecycle.leave(Participation(row.joined_at, row.left_at), now))
