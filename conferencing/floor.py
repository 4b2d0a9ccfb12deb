"""The floor of a live conference: who is in, raised hands, mute, spotlight, removals, chat.

Plain Python (no Flask, no media): webapp.conferences.live applies what it decides to the media
rooms and tells the browsers. Every host command is checked here, so a forged command from a
participant is refused in one place.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

CHAT_KEEP = 50
CHAT_MAX_CHARS = 500
HOST_ACTIONS = ("mute", "unmute", "spotlight", "unspotlight", "remove", "lower_hand")


class FloorError(Exception):
    """code: forbidden | not_found | removed | bad_field."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Member:
    user_id: int
    name: str
    unit: str
    host: bool = False
    hand: bool = False
    muted: bool = False
    publishing: bool = False
    present: bool = True

    def view(self) -> dict:
        return {"user_id": self.user_id, "name": self.name, "unit": self.unit, "host": self.host,
                "hand": self.hand, "muted": self.muted, "publishing": self.publishing}


@dataclass(frozen=True)
class HostCommand:
    """What a host command changed, for the shell to carry out (media and notices)."""
    action: str
    target: int
    changed: bool


class Floor:
    def __init__(self, host_id: int):
        self.host_id = host_id
        self.members: dict[int, Member] = {}
        self.spotlight: int | None = None
        self.removed: set[int] = set()
        self.chat: deque[dict] = deque(maxlen=CHAT_KEEP)

    # --- people -------------------------------------------------------------------------
    def enter(self, user_id: int, name: str, unit: str) -> Member:
        if user_id in self.removed:
            raise FloorError("removed", "removed from this conference by the host")
        member = self.members.get(user_id)
        if member is None:
            member = Member(user_id, name, unit, host=user_id == self.host_id)
            self.members[user_id] = member
        member.present = True
        return member

    def leave(self, user_id: int) -> bool:
        member = self.members.get(user_id)
        if member is None or not member.present:
            return False
        member.present = False
        member.hand = False
        member.publishing = False
        if self.spotlight == user_id:
            self.spotlight = None
        return True

    def present(self, user_id: int) -> bool:
        member = self.members.get(user_id)
        return member is not None and member.present

    def set_publishing(self, user_id: int, publishing: bool) -> bool:
        member = self.members.get(user_id)
        if member is None or member.publishing == publishing or (publishing and not member.present):
            return False
        member.publishing = publishing
        return True

    def raise_hand(self, user_id: int, raised: bool) -> bool:
        member = self._present_member(user_id)
        if member.hand == bool(raised):
            return False
        member.hand = bool(raised)
        return True

    def say(self, user_id: int, text: object, at: float) -> dict:
        member = self._present_member(user_id)
        if not isinstance(text, str) or not text.strip():
            raise FloorError("bad_field", "the message is empty")
        text = text.strip()
        if len(text) > CHAT_MAX_CHARS:
            raise FloorError("bad_field", f"a message may have at most {CHAT_MAX_CHARS} characters")
        message = {"user_id": user_id, "name": member.name, "text": text, "at": at}
        self.chat.append(message)
        return message

    # --- the host -----------------------------------------------------------------------
    def command(self, actor: int, action: object, target: object) -> HostCommand:
        if actor != self.host_id:
            raise FloorError("forbidden", "only the host may do this")
        if action not in HOST_ACTIONS:
            raise FloorError("bad_field", "unknown host action")
        if isinstance(target, bool) or not isinstance(target, int) or target not in self.members:
            raise FloorError("not_found", "no such participant")
        if target == self.host_id and action in ("remove", "mute"):
            raise FloorError("bad_field", "the host cannot do this to themselves")
        member = self.members[target]
        changed = False
        if action in ("mute", "unmute"):
            changed = member.muted != (action == "mute")
            member.muted = action == "mute"
        elif action == "spotlight":
            if not member.present:
                raise FloorError("not_found", "the participant is not in the conference")
            changed = self.spotlight != target
            self.spotlight = target
        elif action == "unspotlight":
            changed = self.spotlight == target
            if changed:
                self.spotlight = None
        elif action == "lower_hand":
            changed = member.hand
            member.hand = False
        elif action == "remove":
            changed = target not in self.removed
            self.removed.add(target)
            self.leave(target)
        return HostCommand(action, target, changed)

    # --- views --------------------------------------------------------------------------
    def snapshot(self) -> dict:
        people = sorted((m for m in self.members.values() if m.present),
                        key=lambda m: (not m.host, not m.hand, m.name, m.user_id))
        return {"host_id": self.host_id, "spotlight": self.spotlight,
                "participants": [m.view() for m in people], "chat": list(self.chat)}

    def present_ids(self) -> list[int]:
        return [m.user_id for m in self.members.values() if m.present]

    def _present_member(self, user_id: int) -> Member:
        member = self.members.get(user_id)
        if member is None or not member.present:
            raise FloorError("not_found", "not in the conference")
        return member
