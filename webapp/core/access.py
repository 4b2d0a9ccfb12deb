"""Role and jurisdiction checks.

Every view is wrapped by `@allow(...)` (or marked `@public`): the wrapper checks
the role, and the view loads its objects through the `*_or_404` helpers below,
which check the jurisdiction. Objects outside a user's jurisdiction answer 404,
so their existence does not leak; so do ids no row can have (below 1, or 2^63 and more, which the
database driver cannot even send). tests/integration/test_access_matrix.py walks
every registered route to prove it.
"""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import abort, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from webapp.core import db, jurisdiction
from webapp.core.inputs import bounded_int
from webapp.models import Assignment, Course, OrgUnit, Role, StudySession, User


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def json_error(status: int, code: str, message: str, **extra):
    body = {"error": code, "message": message}
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    return response


def allow(*roles: Role) -> Callable:
    """Only signed-in users with one of `roles` reach the view."""
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                if wants_json():
                    return json_error(401, "unauthenticated", _("Please log in first."))
                return redirect(url_for("auth.login", next=request.full_path))
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        wrapper.access_roles = frozenset(roles)
        return wrapper
    return decorate


def public(view):
    view.access_roles = None
    return view


STAFF = (Role.ADMIN, Role.OFFICER)


def can_see_unit(viewer: User, unit: OrgUnit) -> bool:
    return viewer.role in STAFF and jurisdiction.contains(viewer.unit, unit)


def can_see_user(viewer: User, target: User) -> bool:
    if viewer.id == target.id:
        return True
    return viewer.role in STAFF and jurisdiction.contains(viewer.unit, target.unit)


def unit_or_404(unit_id: int) -> OrgUnit:
    unit = db.session().get(OrgUnit, unit_id) if bounded_int(unit_id) is not None else None
    if unit is None or not can_see_unit(current_user, unit):
        abort(404)
    return unit


def requested_unit() -> OrgUnit:
    """The unit a page of units is asked for: `?unit=` within the viewer's jurisdiction (404
    outside it, 400 when not a number), else the viewer's own."""
    if not request.args.get("unit"):
        return current_user.unit
    try:
        return unit_or_404(int(request.args["unit"]))
    except ValueError:
        abort(400)


def user_or_404(user_id: int, role: Role | None = None) -> User:
    user = db.session().get(User, user_id) if bounded_int(user_id) is not None else None
    if user is None or not can_see_user(current_user, user) or (role and user.role != role):
        abort(404)
    return user


def course_or_404(course_id: int) -> Course:
    course = db.session().get(Course, course_id) if bounded_int(course_id) is not None else None
    if course is None:
        abort(404)
    return course


def is_assigned(learner_id: int, course_id: int) -> bool:
    return db.session().scalar(select(Assignment.id).where(Assignment.learner_id == learner_id,
                                                           Assignment.course_id == course_id)) is not None


def sitting_key(session_id: str) -> str | None:
    """A sitting id from a URL as the database may be asked for it: printable ASCII, at most 64
    characters (ids are 32 hex digits); None for anything else, which is no sitting. (A `%00` in the
    URL reached PostgreSQL, which refuses NUL in text: a 500; tests/fuzz found it.)"""
    return session_id[:64] if session_id.isascii() and session_id.isprintable() else None


def own_session_or_404(session_id: str) -> StudySession:
    key = sitting_key(session_id)
    study = db.session().get(StudySession, key) if key is not None else None
    if study is None or study.learner_id != current_user.id:
        abort(404)
    return study
