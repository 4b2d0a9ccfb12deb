"""Admins: the organisation tree and the accounts of their subtree, and course upload."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import func, select
from wtforms import BooleanField, FloatField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from webapp.compliance import move_current_month, refresh_month
from webapp.core import db, jurisdiction
from webapp.core.access import allow, unit_or_404, user_or_404
from webapp.core.audit import audit
from webapp.courses import CourseImportError, import_into_db
from webapp.study import current_month
from webapp.models import Level, OrgUnit, Role, User
from webapp.core.security import end_sessions, hash_password, password_problem

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

LEVEL_NAMES = {1: _l("Ministry"), 2: _l("Province"), 3: _l("City"), 4: _l("District/County"),
               5: _l("Township judicial office")}
ROLE_NAMES = {Role.ADMIN: _l("Administrator"), Role.OFFICER: _l("Officer"), Role.SUPERVISEE: _l("Supervisee")}


class UnitForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    monthly_required_hours = FloatField(_l("Monthly study hours required (empty: inherit)"),
                                        validators=[Optional(), NumberRange(min=0, max=200)])


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(min=3, max=64),
                                                       Regexp(r"^[A-Za-z0-9_.-]+$", message=_l(
                                                           "Letters, digits, dot, dash and underscore only."))])
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(_l("Role"), choices=[(r.value, r.value) for r in Role], validators=[DataRequired()])
    unit_id = SelectField(_l("Unit"), coerce=int, validators=[DataRequired()])
    officer_id = SelectField(_l("Responsible officer"), coerce=int, validators=[Optional()])
    password = PasswordField(_l("Password"), validators=[Optional(), Length(max=256)])
    active = BooleanField(_l("Active"), default=True)
    unlock = BooleanField(_l("Unlock the account"))


class CourseUploadForm(FlaskForm):
    manifest = FileField(_l("Manifest (JSON)"), validators=[FileRequired()])
    media = FileField(_l("Video (MP4 or WebM)"), validators=[FileRequired()])


def _units_in_scope():
    return db.session().scalars(jurisdiction.units_within(current_user.unit)
                                .order_by(OrgUnit.path)).all()


@bp.route("/units")
@allow(Role.ADMIN)
def units():
    return render_template("admin/units.html", units=_units_in_scope(), level_names=LEVEL_NAMES, form=UnitForm())


@bp.route("/units/<int:unit_id>/children", methods=["POST"])
@allow(Role.ADMIN)
def add_unit(unit_id: int):
    parent = unit_or_404(unit_id)
    form = UnitForm()
    if parent.level >= Level.TOWNSHIP:
        flash(_("A township judicial office has no units below it."), "error")
    elif not form.validate_on_submit():
        flash(_("Check the unit's name and hours."), "error")
    else:
        session = db.session()
        unit = OrgUnit(name=form.name.data.strip(), level=parent.level + 1, parent_id=parent.id,
                       monthly_required_hours=form.monthly_required_hours.data, path="")
        session.add(unit)
        session.flush()
        unit.path = f"{parent.path}{unit.id}/"
        session.commit()
        audit("unit_created", target=f"unit:{unit.id}", detail=unit.name)
        flash(_("Unit created."), "success")
    return redirect(url_for("admin.units")), 303


@bp.route("/units/<int:unit_id>/edit", methods=["POST"])
@allow(Role.ADMIN)
def edit_unit(unit_id: int):
    unit = unit_or_404(unit_id)
    form = UnitForm()
    if form.validate_on_submit():
        unit.name = form.name.data.strip()
        unit.monthly_required_hours = form.monthly_required_hours.data
        db.session().commit()
        audit("unit_updated", target=f"unit:{unit.id}")
        flash(_("Unit saved."), "success")
    else:
        flash(_("Check the unit's name and hours."), "error")
    return redirect(url_for("admin.units")), 303


@bp.route("/units/<int:unit_id>/delete", methods=["POST"])
@allow(Role.ADMIN)
def delete_unit(unit_id: int):
    unit = unit_or_404(unit_id)
    session = db.session()
    children = session.scalar(select(func.count()).select_from(OrgUnit).where(OrgUnit.parent_id == unit.id))
    people = session.scalar(select(func.count()).select_from(User).where(User.unit_id == unit.id))
    if unit.id == current_user.unit_id or children or people:
        flash(_("Only an empty unit (no units, no accounts) outside your own can be deleted."), "error")
    else:
        session.delete(unit)
        session.commit()
        audit("unit_deleted", target=f"unit:{unit_id}")
        flash(_("Unit deleted."), "success")
    return redirect(url_for("admin.units")), 303


@bp.route("/users")
@allow(Role.ADMIN)
def users():
    rows = db.session().scalars(select(User).join(OrgUnit, OrgUnit.id == User.unit_id)
                                .where(jurisdiction.unit_within(current_user.unit))
                                .order_by(OrgUnit.path, User.role, User.username)).all()
    return render_template("admin/users.html", users=rows, role_names=ROLE_NAMES)


def _fill_choices(form: UserForm) -> None:
    scope = _units_in_scope()
    form.unit_id.choices = [(u.id, f"{'—' * (u.level - 1)} {u.name}") for u in scope]
    officers = db.session().scalars(select(User).join(OrgUnit, OrgUnit.id == User.unit_id)
                                    .where(User.role == Role.OFFICER,
                                           jurisdiction.unit_within(current_user.unit))).all()
    form.officer_id.choices = [(0, "—")] + [(o.id, f"{o.display_name} ({o.unit.name})") for o in officers]
    form.role.choices = [(r.value, str(ROLE_NAMES[r])) for r in Role]


def _validate_people_rules(form: UserForm, user: User | None) -> bool:
    """Cross-field rules: supervisees sit in a township and have an officer whose unit covers them."""
    session = db.session()
    unit = unit_or_404(form.unit_id.data)
    role = Role(form.role.data)
    if role == Role.SUPERVISEE:
        if unit.level != Level.TOWNSHIP:
            form.unit_id.errors.append(_("A supervisee belongs to a township judicial office."))
            return False
        officer = session.get(User, form.officer_id.data or 0)
        if officer is None or officer.role != Role.OFFICER or not jurisdiction.contains(officer.unit, unit):
            form.officer_id.errors.append(_("Choose an officer whose unit covers the supervisee's office."))
            return False
    other = session.scalar(select(User).where(User.username == form.username.data))
    if other is not None and (user is None or other.id != user.id):
        form.username.errors.append(_("This username is taken."))
        return False
    if user is None and not form.password.data:
        form.password.errors.append(_("A new account needs a password."))
        return False
    if form.password.data:
        problem = password_problem(form.password.data)
        if problem:
            form.password.errors.append(_(problem))
            return False
    return True


@bp.route("/users/new", methods=["GET", "POST"])
@allow(Role.ADMIN)
def new_user():
    form = UserForm()
    _fill_choices(form)
    if form.validate_on_submit() and _validate_people_rules(form, None):
        role = Role(form.role.data)
        user = User(username=form.username.data, display_name=form.display_name.data.strip(), role=role,
                    unit_id=form.unit_id.data, password_hash=hash_password(form.password.data),
                    officer_id=form.officer_id.data if role == Role.SUPERVISEE else None,
                    active=form.active.data, failed_logins=0)
        db.session().add(user)
        if role == Role.SUPERVISEE:        # on the unit pages from now on, not from the next refresh
            db.session().flush()
            refresh_month(db.session(), current_month(), [user.id])
        db.session().commit()
        audit("user_created", target=f"user:{user.id}", detail=f"role={role.value}")
        flash(_("Account created."), "success")
        return redirect(url_for("admin.users")), 303
    return render_template("admin/user_form.html", form=form, user=None), (400 if form.errors else 200)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@allow(Role.ADMIN)
def edit_user(user_id: int):
    user = user_or_404(user_id)
    form = UserForm(obj=user if request.method == "GET" else None)
    if request.method == "GET":
        form.role.data = user.role.value
        form.officer_id.data = user.officer_id or 0
    _fill_choices(form)
    if form.validate_on_submit() and _validate_people_rules(form, user):
        if user.id == current_user.id and (Role(form.role.data) != Role.ADMIN or not form.active.data):
            flash(_("You cannot demote or deactivate your own account."), "error")
            return redirect(url_for("admin.edit_user", user_id=user.id)), 303
        deactivated = user.active and not form.active.data
        user.username, user.display_name = form.username.data, form.display_name.data.strip()
        moved = user.unit_id != form.unit_id.data
        user.role, user.unit_id, user.active = Role(form.role.data), form.unit_id.data, form.active.data
        if moved and user.role == Role.SUPERVISEE:    # a transfer: this month's row follows, past ones stay
            db.session().flush()
            move_current_month(db.session(), user, current_month())
        user.officer_id = form.officer_id.data if user.role == Role.SUPERVISEE else None
        if form.password.data:
            user.password_hash = hash_password(form.password.data)
        if form.password.data or deactivated:
            # The user's sessions end (an admin resetting their own password keeps this one); a
            # reactivated account does not bring them back.
            end_sessions(user, keep_this=user.id == current_user.id)
        if form.unlock.data:
            # Accounts are no longer locked (logins are throttled per username and address,
            # webapp.org.auth_views); this clears what a lock from before left in the columns.
            user.locked_until, user.failed_logins = None, 0
        db.session().commit()
        audit("user_updated", target=f"user:{user.id}",
              detail="password reset" if form.password.data else "")
        flash(_("Account saved."), "success")
        return redirect(url_for("admin.users")), 303
    return render_template("admin/user_form.html", form=form, user=user), (400 if form.errors else 200)


MEDIA_SIGNATURES = (b"ftyp", b"\x1a\x45\xdf\xa3")  # MP4 box type at offset 4; EBML (WebM) at 0


def _looks_like_video(head: bytes) -> bool:
    return head[4:8] == MEDIA_SIGNATURES[0] or head[:4] == MEDIA_SIGNATURES[1]


def _point_manifest_at(raw: bytes, media_name: str) -> bytes:
    """The uploaded manifest's "media" field is replaced by the uploaded video's name.
    A manifest that is not a JSON object is passed on untouched for the importer to reject."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):   # not UTF-8, not JSON, nested too deeply
        return raw
    if isinstance(data, dict):
        data["media"] = media_name
        return json.dumps(data, ensure_ascii=False).encode("utf-8")
    return raw


@bp.route("/courses/upload", methods=["GET", "POST"])
@allow(Role.ADMIN)
def upload_course():
    form = CourseUploadForm()
    error = None
    if form.validate_on_submit():
        media = form.media.data
        head = media.stream.read(16)
        media.stream.seek(0)
        if not _looks_like_video(head):
            error = _("The video must be an MP4 or WebM file.")
        else:
            workdir = Path(tempfile.mkdtemp(prefix="upload-", dir=current_app.config["INSTANCE_DIR"]))
            try:
                media_name = "upload" + (".webm" if head[:4] == MEDIA_SIGNATURES[1] else ".mp4")
                manifest_path = workdir / "manifest.json"
                manifest_path.write_bytes(_point_manifest_at(form.manifest.data.read(), media_name))
                media.save(workdir / media_name)
                course = import_into_db(manifest_path)
                audit("course_imported", target=f"course:{course.id}", detail=course.slug)
                flash(_("Course imported: %(title)s", title=course.title), "success")
                return redirect(url_for("officer.courses")), 303
            except CourseImportError as exc:
                # The field and the problem; never the server's paths (the upload's folder, MEDIA_ROOT).
                error = _("The course was not imported: %(problem)s", problem=exc.public())
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    elif request.method == "POST":
        error = _("Choose a manifest and a video file.")
    return render_template("admin/upload.html", form=form, error=error), (400 if error else 200)
