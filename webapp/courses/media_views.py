"""Course media: HLS playlists, segments and the progressive MP4, with byte ranges.

Answers Range requests as nginx does in production (tests/integration/test_media_ranges.py
compares the two on the same file): streaming.byte_ranges decides (an unknown unit is ignored,
several ranges come as multipart/byteranges, If-Range needs the exact strong ETag or
Last-Modified) and Werkzeug sends the file: 200, 206 with Content-Range for a single range,
304 on If-None-Match (before any range, RFC 9110 §13.2.2), 412 on If-Match, and 416 with
`Content-Range: bytes */size`. Paths are resolved by streaming.media_files, which refuses
anything that leaves the course folder.
"""
from __future__ import annotations

import secrets
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, request, send_file
from flask_login import current_user
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import is_resource_modified

from streaming import byte_ranges
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
    response = send_file(path, mimetype=content_type(path), conditional=False, etag=True, max_age=3600)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return _conditional(response, path)


def _conditional(response: Response, path: Path) -> Response:
    """`response` (the whole file, 200) made conditional on the request's validators and Range."""
    size = response.content_length
    etag, last_modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
    # What Werkzeug gets to see: the Range only once decided here, and then as one plain range.
    environ = {k: v for k, v in request.environ.items() if k not in ("HTTP_RANGE", "HTTP_IF_RANGE")}
    if_range = request.environ.get("HTTP_IF_RANGE")
    plan = byte_ranges.IGNORE
    if ("HTTP_RANGE" in request.environ
            and is_resource_modified(environ, etag, last_modified=last_modified)   # else 304 or 412 below
            and (if_range is None or byte_ranges.if_range_holds(if_range, etag, last_modified))):
        plan = byte_ranges.evaluate(request.environ["HTTP_RANGE"], size)
    if plan.kind == "unsatisfiable":
        response.close()
        raise RequestedRangeNotSatisfiable(length=size)
    if plan.kind == "ranges" and len(plan.ranges) == 1:
        start, stop = plan.ranges[0]
        environ["HTTP_RANGE"] = f"bytes={start}-{stop - 1}"
    response.make_conditional(environ, accept_ranges=True, complete_length=size)
    if plan.kind != "ranges" or len(plan.ranges) == 1:
        return response
    boundary = secrets.token_hex(16)
    length, body = byte_ranges.multipart(path, plan.ranges, size, response.headers["Content-Type"], boundary)
    response.close()   # send_file's open file: the parts are read by `body`
    parts = current_app.response_class(body, status=206, headers=response.headers.copy(), direct_passthrough=True)
    parts.headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    parts.headers["Content-Length"] = str(length)
    return parts
