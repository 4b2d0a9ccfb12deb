"""Locating course media files on disk without letting a path escape the media root."""
from __future__ import annotations

import os
from pathlib import Path

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".vtt": "text/vtt",
}


class MediaPathError(ValueError):
    pass


def resolve(media_root: str | os.PathLike, course_folder: str, relpath: str) -> Path:
    """The file `relpath` inside media_root/course_folder, or MediaPathError.

    Refuses absolute paths, `..`, NUL bytes, backslashes, hidden files, symlinks
    leading outside the course folder, unknown file types and missing files.
    """
    if not relpath or "\x00" in relpath or "\\" in relpath or relpath.startswith("/"):
        raise MediaPathError("bad path")
    parts = relpath.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise MediaPathError("bad path")
    if "/" in course_folder or course_folder.startswith("."):
        raise MediaPathError("bad course folder")
    base = (Path(media_root) / course_folder).resolve()
    target = (base / relpath).resolve()
    if base not in target.parents:
        raise MediaPathError("outside the course folder")
    if target.suffix.lower() not in CONTENT_TYPES:
        raise MediaPathError("file type not served")
    if not target.is_file():
        raise MediaPathError("no such file")
    return target


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
