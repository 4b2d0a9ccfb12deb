"""Validating every row of a people import: plain data in, plain data out (no Flask, no database).

The shell (webapp.people.import_views) loads what the rows refer to (the importer's units and
officers named in the file, usernames and ID hashes already taken) into a `Context`; `validate`
returns the people to create, or every problem of every row. Nothing is created unless there is
no problem at all.
"""
from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from conferencing.rules import in_subtree
from webapp.people import national_id
from webapp.people.national_id import N_

SUPERVISEE, OFFICER = "supervisee", "officer"
ROLE_WORDS = {"矫正对象": SUPERVISEE, "社区矫正对象": SUPERVISEE, "supervisee": SUPERVISEE,
              "工作人员": OFFICER, "officer": OFFICER}
TOWNSHIP = 5
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
RESERVED_PREFIX = "anon-"       # usernames of anonymised accounts (webapp.people.retention)
MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class UnitRef:
    id: int
    name: str
    level: int
    path: str


@dataclass(frozen=True)
class OfficerRef:
    id: int
    username: str
    unit_path: str


@dataclass
class Context:
    importer_is_admin: bool
    importer: OfficerRef | None             # an importing officer (the default responsible officer)
    units: dict[int, UnitRef]               # units of the importer's subtree named in the file
    officers: dict[str, OfficerRef]         # officers of the importer's subtree named in the file
    taken_usernames: set[str]
    taken_id_hashes: set[str]
    hash_of: Callable[[str], str]
    password_problem: Callable[[str], str | None]
    today: date


@dataclass
class RowError:
    row: int
    column: str          # the header of the column, "" for the row as a whole
    message: str         # a message id (N_), translated where shown
    params: dict = field(default_factory=dict)


@dataclass
class Planned:
    row: int
    display_name: str
    username: str
    national_id: str
    id_hash: str
    phone: str
    unit: UnitRef
    role: str
    officer_id: int | None
    password: str
    generated: bool


def generate_password(length: int = 12) -> str:
    """A random password that meets the platform's rules (upper, lower, digits and a symbol),
    without characters easily misread (0/O, 1/l/I)."""
    upper, lower, digits = "ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnpqrstuvwxyz", "23456789"
    symbols = "-_#@%+"
    picks = [secrets.choice(upper), secrets.choice(lower), secrets.choice(digits), secrets.choice(symbols)]
    alphabet = upper + lower + digits
    picks += [secrets.choice(alphabet) for _ in range(length - len(picks))]
    secrets.SystemRandom().shuffle(picks)
    return "".join(picks)


def _unit(text: str, ctx: Context) -> tuple[UnitRef | None, str | None]:
    """The unit a cell names: its id (digits), else its exact name if one unit of the subtree has it."""
    value = unicodedata.normalize("NFKC", text).strip()
    if value.isascii() and value.isdigit():
        unit = ctx.units.get(int(value)) if len(value) <= 10 else None
        return (unit, None) if unit else (None, N_("No unit with this number in your jurisdiction."))
    named = [u for u in ctx.units.values() if u.name == value]
    if len(named) > 1:
        return None, N_("Several units of your jurisdiction have this name: write the unit number instead.")
    if not named:
        return None, N_("No unit with this name in your jurisdiction.")
    return named[0], None


def _row(number: int, cells: dict[str, str], ctx: Context, errors: list[RowError]) -> Planned | None:
    before = len(errors)

    def fail(column: str, message: str, **params) -> None:
        errors.append(RowError(number, column, message, params))

    name = cells.get("display_name", "").strip()
    if not name or len(name) > 100:
        fail("姓名", N_("A name of 1 to 100 characters is required."))
    username = cells.get("username", "").strip()
    if not USERNAME.match(username):
        fail("用户名", N_("3 to 64 characters: letters, digits, dot, dash and underscore."))
    elif username.lower().startswith(RESERVED_PREFIX):
        fail("用户名", N_("Usernames starting with anon- are reserved."))
    elif username in ctx.taken_usernames:
        fail("用户名", N_("This username is taken."))
    number_text = national_id.normalise(cells.get("national_id", ""))
    problem = national_id.problem(number_text, ctx.today)
    id_hash = ""
    if problem:
        fail("身份证号", problem)
    else:
        id_hash = ctx.hash_of(number_text)
        if id_hash in ctx.taken_id_hashes:
            fail("身份证号", N_("A person with this ID number is already registered."))
    phone = "".join(unicodedata.normalize("NFKC", cells.get("phone", "")).replace("-", "").split())
    phone = phone.removeprefix("+86")
    if phone and not MOBILE.match(phone):
        fail("手机号", N_("A mobile number has 11 digits and starts with 1."))
    role = ROLE_WORDS.get(cells.get("role", "").strip())
    if role is None:
        fail("角色", N_("The role must be 矫正对象 or 工作人员."))
    elif role == OFFICER and not ctx.importer_is_admin:
        fail("角色", N_("Only administrators import officers."))
    unit, unit_problem = _unit(cells.get("unit", ""), ctx)
    if unit_problem:
        fail("所属单位", unit_problem)
    officer_id = None
    if unit is not None and role == SUPERVISEE:
        if unit.level != TOWNSHIP:
            fail("所属单位", N_("A supervisee belongs to a township judicial office."))
        officer_id = _responsible(cells.get("officer", "").strip(), unit, ctx, fail)
    password = cells.get("password", "")
    generated = not password
    if password:
        reason = ctx.password_problem(password)
        if reason:
            fail("初始密码", reason)
    if len(errors) > before:
        return None
    return Planned(number, name, username, number_text, id_hash, phone, unit, role, officer_id,
                   password or generate_password(), generated)


def _responsible(username: str, unit: UnitRef, ctx: Context, fail) -> int | None:
    if not username:
        if ctx.importer is not None and in_subtree(unit.path, ctx.importer.unit_path):
            return ctx.importer.id
        fail("负责工作人员", N_("Name the responsible officer (their username)."))
        return None
    officer = ctx.officers.get(username)
    if officer is None or not in_subtree(unit.path, officer.unit_path):
        fail("负责工作人员", N_("No officer with this username whose unit covers the supervisee's office."))
        return None
    return officer.id


def validate(rows: list[tuple[int, dict[str, str]]], ctx: Context) -> tuple[list[Planned], list[RowError]]:
    """Every row checked; duplicates within the file point at the row they repeat."""
    errors: list[RowError] = []
    planned: list[Planned] = []
    first_username: dict[str, int] = {}
    first_id: dict[str, int] = {}
    for number, cells in rows:
        person = _row(number, cells, ctx, errors)
        username = cells.get("username", "").strip().lower()
        if username and username in first_username:
            errors.append(RowError(number, "用户名", N_("The same username as row %(other)d."),
                                   {"other": first_username[username]}))
            person = None
        elif username:
            first_username[username] = number
        number_text = national_id.normalise(cells.get("national_id", ""))
        if number_text and number_text in first_id:
            errors.append(RowError(number, "身份证号", N_("The same ID number as row %(other)d."),
                                   {"other": first_id[number_text]}))
            person = None
        elif number_text:
            first_id[number_text] = number
        if person is not None:
            planned.append(person)
    return (planned, []) if not errors else ([], errors)
