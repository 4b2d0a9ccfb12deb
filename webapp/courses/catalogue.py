"""Importing a course: streaming.ingest does the media work, this persists the result."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Callable

from flask import current_app
from sqlalchemy import select

from webapp.core import db
from webapp.models import Category, Course, CourseQuestion


# An absolute path in a message (a manifest's, a media file's, ffmpeg's): only its last part is shown.
_ABSOLUTE_PATH = re.compile(r"""(?<![\w.~-])/(?:[^\s/'"():]+/)*([^\s/'"():]*)""")


class CourseImportError(Exception):
    """A course refused. str(): the whole message, paths included (the CLI's operator). `field` and
    `problem` (from streaming.ingest.IngestError): what is wrong; `public()`: that, for a web page."""

    def __init__(self, message: str, field: str = "", problem: str = ""):
        super().__init__(message)
        self.field, self.problem = field, problem or message

    def public(self) -> str:
        """The field and the problem, without any server path (an upload's page shows it)."""
        text = f"{self.field}: {self.problem}" if self.field else self.problem
        return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "…", text)


def import_into_db(manifest_path: str | Path, progress: Callable[[float], None] | None = None,
                   overwrite: bool = False) -> Course:
    """Import media and persist the course in one step: on any failure neither the
    media folder nor the database row is left behind."""
    from streaming.ingest import IngestError, import_course  # PyAV is loaded only when importing

    session = db.session()
    media_root = Path(current_app.config["MEDIA_ROOT"])
    media_root.mkdir(parents=True, exist_ok=True)
    try:
        imported = import_course(manifest_path, media_root, progress=progress, overwrite=overwrite)
    except IngestError as exc:
        raise CourseImportError(str(exc), field=exc.field, problem=exc.message) from exc
    try:
        course = persist_course(session, imported)
        session.commit()
    except Exception:
        session.rollback()
        if not overwrite:
            shutil.rmtree(imported.folder, ignore_errors=True)
        raise
    return course


def persist_course(session, imported) -> Course:
    """Create or update the Course row (and its question bank) for an imported course.
    The caller commits. `imported` is a streaming.ingest.ImportedCourse."""
    manifest = imported.manifest
    course = session.scalar(select(Course).where(Course.slug == manifest.slug))
    if course is None:
        course = Course(slug=manifest.slug)
        session.add(course)
    course.title = manifest.title
    course.category = Category(manifest.category)
    course.description = manifest.description or ""
    course.duration_s = imported.media.duration
    course.master_playlist = imported.master_playlist
    course.source_file = imported.source_file
    course.renditions_json = json.dumps([
        {"name": r.name, "bandwidth": r.bandwidth, "width": r.width, "height": r.height,
         "playlist": r.playlist} for r in imported.renditions])
    course.questions.clear()
    for q in manifest.questions:
        course.questions.append(CourseQuestion(at_s=q.at, prompt=q.prompt,
                                               choices_json=json.dumps(list(q.choices), ensure_ascii=False),
                                               answer=q.answer))
    return course
