"""What the live conference's modules share (live.py, live_stage.py, live_education.py): the
sources' ids, the Socket.IO channels and the error a live conference raises."""
from __future__ import annotations

HOST_SOURCE = "host"
SPEAKER_SOURCE = "speaker"
MEDIA_SOURCE = "media"      # the course media the host plays (published in the host's room)
SCREEN_SOURCE = "screen"    # a shared screen (published in the sharer's room)
STAGE_SOURCES = (MEDIA_SOURCE, SCREEN_SOURCE)


def source_of(user_id: int) -> str:
    return f"u{user_id}"


def user_of(source_id: str) -> int | None:
    digits = source_id[1:]
    if source_id.startswith("u") and 0 < len(digits) <= 19 and digits.isascii() and digits.isdigit():
        return int(digits)
    return None


def conference_room(conference_id: int) -> str:
    return f"conf:{conference_id}"


def media_room_channel(conference_id: int, path: str) -> str:
    return f"conf:{conference_id}:r:{path}"


class LiveError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
