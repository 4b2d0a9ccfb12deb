"""Bulk import of people from XLSX/CSV: the template, the upload, the report.

Officers import supervisees of their subtree; administrators also officers. Every row is checked
(webapp.people.import_rules) before anything is written; one bad row and nothing is created, the
page lists every row's problems. Otherwise all rows are created in one transaction, and the
report shows the initial passwords generated for rows without one, once (they are not stored).
"""
from __future__ import annotations

import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor

from flask import Blueprint, Response, current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.compliance import refresh_month
from webapp.core import db, jurisdiction
from webapp.core.access import STAFF, allow
from webapp.core.audit import audit
from webapp.core.security import hash_password, password_problem
from webapp.models import OrgUnit, Role, User, utcnow
from webapp.people import import_file, import_rules, national_id
from webapp.people.national_id import N_
from webapp.people.personal_data import encrypt_text, national_id_hmac
from webapp.study import current_month

bp = Blueprint("people", __name__, url_prefix="/officer/people", template_folder="templates")

ROLE_LABELS = {import_rules.SUPERVISEE: _l("Supervisee"), import_rules.OFFICER: _l("Officer")}


class ImportForm(FlaskForm):
    file = FileField(_l("File (XLSX or CSV)"), validators=[FileRequired()])


def _attachment(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _notes() -> list[str]:
    return [_("One person per row below the header; do not change the header."),
            _("所属单位: the unit number from the sheet 单位列表 (or the unit's exact name if no other unit "
              "of your jurisdiction has it). A supervisee belongs to a township judicial office."),
            _("角色: 矫正对象 or 工作人员 (officers are imported by administrators only)."),
            _("负责工作人员: the username of the responsible officer of a supervisee; empty: you."),
            _("初始密码: empty to have one generated; it is shown once after the import."),
            _("身份证号: 18 characters with a valid check digit; stored encrypted.")]


@bp.route("/import/template.csv")
@allow(*STAFF)
def template_csv():
    return _attachment(import_file.template_csv(), "text/csv; charset=utf-8", "people-import-template.csv")


@bp.route("/import/template.xlsx")
@allow(*STAFF)
def template_xlsx():
    units = db.session().execute(jurisdiction.units_within(current_user.unit).with_only_columns(
        OrgUnit.id, OrgUnit.level, OrgUnit.name, OrgUnit.path).order_by(OrgUnit.path)).all()
    names = {u.id: u.name for u in units}
    listing = [(u.id, u.level, " / ".join(names.get(int(p), "") for p in u.path.strip("/").split("/")
                                            if int(p) in names)) for u in units]
    return _attachment(import_file.template_xlsx(listing, _notes()),
                       "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       "people-import-template.xlsx")


def _context(rows) -> import_rules.Context:
    """What the rows refer to, loaded in a few queries (never the whole subtree)."""
    session = db.session()
    root = current_user.unit
    unit_cells = {unicodedata.normalize("NFKC", cells.get("unit", "")).strip() for _n, cells in rows}
    ids = [int(c) for c in unit_cells if c.isascii() and c.isdigit() and len(c) <= 9]
    units = session.scalars(jurisdiction.units_within(root).where(
        OrgUnit.id.in_(ids) | OrgUnit.name.in_(unit_cells))).all()
    officer_names = {cells.get("officer", "").strip() for _n, cells in rows} - {""}
    officers = session.execute(jurisdiction.users_within(root, User.id, User.username, OrgUnit.path,
                                                         role=Role.OFFICER)
                               .where(User.username.in_(officer_names), User.active.is_(True))).all()
    usernames = {cells.get("username", "").strip() for _n, cells in rows} - {""}
    taken = set(session.scalars(select(User.username).where(User.username.in_(usernames))))
    hashes = set()
    for _n, cells in rows:
        number = national_id.normalise(cells.get("national_id", ""))
        if national_id.problem(number) is None:
            hashes.add(national_id_hmac(number))
    taken_hashes = set(session.scalars(select(User.national_id_hmac).where(User.national_id_hmac.in_(hashes))))
    importer = None
    if current_user.role == Role.OFFICER:
        importer = import_rules.OfficerRef(current_user.id, current_user.username, root.path)
    return import_rules.Context(
        importer_is_admin=current_user.role == Role.ADMIN, importer=importer,
        units={u.id: import_rules.UnitRef(u.id, u.name, u.level, u.path) for u in units},
        officers={o.username: import_rules.OfficerRef(o.id, o.username, o.path) for o in officers},
        taken_usernames=taken, taken_id_hashes=taken_hashes, hash_of=national_id_hmac,
        password_problem=password_problem, today=utcnow().date())


def _hash_all(passwords: list[str]) -> list[str]:
    """Argon2 costs ~0.2 s a password and releases the GIL: a few at once."""
    workers = max(1, min(4, (os.cpu_count() or 1) // 2))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(hash_password, passwords))


def _create(planned: list[import_rules.Planned]) -> list[User]:
    """All rows in one transaction; raises IntegrityError (nothing written) if a username or an ID
    number was taken meanwhile."""
    hashes = _hash_all([p.password for p in planned])
    with db.write_transaction() as session:
        users = []
        for person, password_hash in zip(planned, hashes):
            user = User(username=person.username, display_name=person.display_name, role=Role(person.role),
                        unit_id=person.unit.id, officer_id=person.officer_id, password_hash=password_hash,
                        active=True, failed_logins=0, national_id_enc=encrypt_text(person.national_id),
                        national_id_hmac=person.id_hash,
                        phone_enc=encrypt_text(person.phone) if person.phone else None)
            session.add(user)
            users.append(user)
        session.flush()
        # on the unit pages from now on, not from the next refresh
        supervisees = [u.id for u in users if u.role == Role.SUPERVISEE]
        if supervisees:
            refresh_month(session, current_month(), supervisees)
        for person, user in zip(planned, users):
            audit("user_imported", target=f"user:{user.id}", detail=f"role={person.role} row={person.row}",
                  commit=False)
        audit("people_imported", detail=f"created={len(users)} supervisees="
              f"{sum(p.role == import_rules.SUPERVISEE for p in planned)}", commit=False)
        session.commit()
    return users


@bp.route("/import", methods=["GET", "POST"])
@allow(*STAFF)
def import_page():
    form = ImportForm()
    problems, errors, created = [], [], None
    if form.validate_on_submit():
        data = form.file.data.stream.read(current_app.config["IMPORT_MAX_BYTES"] + 1)
        try:
            if len(data) > current_app.config["IMPORT_MAX_BYTES"]:
                raise import_file.FileProblem(N_("The file is larger than %(limit)d KB."),
                                              limit=current_app.config["IMPORT_MAX_BYTES"] // 1024)
            table = import_file.read_table(data, current_app.config["IMPORT_MAX_ROWS"])
        except import_file.FileProblem as exc:
            problems.append(_(exc.message, **exc.params))
        else:
            planned, errors = import_rules.validate(table.rows, _context(table.rows))
            if errors:
                audit("people_import_refused", detail=f"rows={len(table.rows)} errors={len(errors)}")
            else:
                try:
                    users = _create(planned)
                except IntegrityError:
                    db.session().rollback()
                    problems.append(_("A username or ID number in the file was registered meanwhile. "
                                      "Nothing was imported; please try again."))
                else:
                    created = list(zip(planned, users))
    elif form.is_submitted():
        problems.append(_("Choose an XLSX or CSV file to import."))
    status = 400 if problems or errors else 200
    return render_template("people/import.html", form=form, problems=problems, errors=errors, created=created,
                           role_labels=ROLE_LABELS, masked=national_id.masked,
                           max_rows=current_app.config["IMPORT_MAX_ROWS"]), status
