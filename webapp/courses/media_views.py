"""Course media: HLS playlists, segments and the progressive MP4, with byte ranges.

Range handling is Werkzeug's (`send_file(conditional=True)`): 206 with
Content-Range, 416 with `Content-Range: bytes */size`, If-Range and ETag, and
304 on If-None-Match. Paths are resolved by streaming.media_files, which
refuses anything that leaves the course folder.
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, send_file
from flask_login import current_user

from streaming.media_files import MediaPathError, content_type, resolve

from webapp.core.access import STAFF, allow, course_or_404, is_assigned
from webapp.models import Role

bp = Blueprint("media", __name__)


@bp.route("/media/<int:course_id>/<path:relpath>")
@allow(Role.ADMIN, Role.OFFICER, Role.SUPERVISEE)
def course_file(course_id: int, relpath: str):
    course = course_or_404(course_id)
    if current_user.role not in STAFF and not is_assigned(current_user.id, course.id):
        abort(404)
    try:
        path = resolve(current_app.config["MEDIA_ROOT"], course.slug, relpath)
    except MediaPathError:
        abort(404)
    response = send_file(path, mimetype=content_type(path), conditional=True, etag=True, max_age=3600)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
