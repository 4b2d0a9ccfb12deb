"""Alembic migrations, tested step by step, upgrade and downgrade (docs: DESIGN.md).

Every revision of the script directory is covered, a new one without editing this file:

* reference: for each revision R, a fresh database upgraded straight to R; its schema is captured
  with SQLAlchemy's inspect() (tables; columns with type, nullability and default; primary keys;
  indexes; unique, foreign-key and check constraints; views, sequences and enum types where the
  dialect has them);
* walk: a second database upgraded to head and seeded (rows in every table, generated from the
  reflected columns in foreign-key order), then stepped down one revision at a time to base and
  back up one at a time to head. After each step its schema must equal the reference of the
  revision it is at, and the rows of each table that exists on both sides of the step must still
  be there (on the columns both sides have). On the way up every empty table is seeded before the
  next step, so each upgrade runs against populated tables;
* cycle: head -> first revision -> head keeps, unchanged, the rows of the tables that exist at
  every revision (on the columns that exist at every revision);
* the head schema equals the ORM metadata (alembic's compare_metadata): no model change without a
  migration.

The database is a parameter (tests/conftest.py, `database`): SQLite files, and databases of the
run's throw-away PostgreSQL cluster (tests/pg.py; or of your own server: TEST_POSTGRESQL_URL).
"""
from __future__ import annotations

import datetime as dt
import decimal
import importlib
import itertools
import re
import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, event, func, insert, inspect, select, text
from sqlalchemy.exc import CompileError, UnsupportedCompilationError

ROOT = Path(__file__).resolve().parents[2]
VERSION_TABLE = "alembic_version"
ROWS_PER_TABLE = 3

# Revisions whose upgrade or downgrade is *meant* to rewrite or delete rows of a table that exists
# on both sides of the step (a data migration): {revision: {table, ...}}. Nothing else may lose or
# change a row.
REWRITES_ROWS: dict[str, set[str]] = {}


# ----------------------------------------------------------------------------- alembic

def alembic_config(url: str) -> Config:
    """The configuration webapp.migrate builds (the CLI, the run script and the app share it)."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["skip_logging"] = True
    return cfg


def revision_chain() -> list[str]:
    """Revision ids from the first to head, read from the script directory."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"the migrations must have one head, found {heads}: merge them"
    chain = [rev.revision for rev in script.walk_revisions("base", "heads")][::-1]
    for rev in script.walk_revisions("base", "heads"):
        assert not isinstance(rev.down_revision, (tuple, list)), (
            f"{rev.revision} merges {rev.down_revision}: this test steps along a linear history")
    return chain


REVISIONS = revision_chain()
BASE = "base"
STATES = [BASE, *REVISIONS]            # base, first, ..., head


def current_revision(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision() or BASE
    finally:
        engine.dispose()


def migrate(url: str, target: str) -> None:
    here = STATES.index(current_revision(url))
    there = STATES.index(target)
    if there > here:
        command.upgrade(alembic_config(url), target)
    elif there < here:
        command.downgrade(alembic_config(url), target)
    assert current_revision(url) == target


# ----------------------------------------------------------------------------- databases

class Databases:
    """Empty databases of one dialect, one per name."""

    def __init__(self, dialect: str, folder: Path, server=None):
        self.dialect = dialect
        self.folder = folder
        self.server = server            # tests/pg.py: the PostgreSQL server
        self.created: list[str] = []

    def new(self, name: str) -> str:
        if self.dialect == "sqlite":
            return f"sqlite:///{self.folder / name}.db"
        url = self.server.create_database(f"mig_{name}_{uuid.uuid4().hex[:8]}")
        self.created.append(url)
        return url

    def close(self) -> None:
        for url in self.created:
            self.server.drop_database(url)


@pytest.fixture(scope="module")
def databases(request, database, tmp_path_factory):
    """`database`: "sqlite" or "postgresql", a parameter of every test here (tests/conftest.py)."""
    dbs = Databases(database, tmp_path_factory.mktemp(f"migrations-{database}"),
                    request.getfixturevalue("postgres") if database == "postgresql" else None)
    yield dbs
    dbs.close()


@pytest.fixture(scope="module")
def reference(databases):
    """{state: (schema, url)} of a fresh database upgraded straight to each revision."""
    out = {}
    for state in STATES:
        url = databases.new(f"fresh_{state}")
        if state != BASE:
            command.upgrade(alembic_config(url), state)
        assert current_revision(url) == state
        out[state] = (schema(url), url)
    return out


# ----------------------------------------------------------------------------- schema

def _norm_sql(value) -> str | None:
    """SQL text compared loosely: whitespace collapsed, redundant outer parentheses dropped."""
    if value is None:
        return None
    s = re.sub(r"\s+", " ", str(value)).strip()
    s = re.sub(r"\s*([(),])\s*", r"\1", s)
    while s.startswith("(") and s.endswith(")") and _balanced(s[1:-1]):
        s = s[1:-1].strip()
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def _norm_type(type_, dialect) -> str:
    try:
        rendered = type_.compile(dialect=dialect)
    except (CompileError, UnsupportedCompilationError, NotImplementedError):
        rendered = repr(type_)
    return re.sub(r"\s*([(),])\s*", r"\1", re.sub(r"\s+", " ", rendered)).strip().upper()


def _sorted(items) -> list:
    return sorted(items, key=repr)


def _opts(options: dict | None) -> tuple:
    return tuple(sorted((str(k), str(v)) for k, v in (options or {}).items() if v is not None))


def _optional(inspector_call, *args):
    try:
        return inspector_call(*args)
    except NotImplementedError:
        return []


def schema(url: str) -> dict:
    """The database's schema as plain, comparable data (alembic's version table left out)."""
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        dialect = engine.dialect
        tables = {}
        for table in sorted(set(insp.get_table_names()) - {VERSION_TABLE}):
            columns = {}
            for c in insp.get_columns(table):
                info = {"type": _norm_type(c["type"], dialect), "nullable": bool(c["nullable"]),
                        "default": _norm_sql(c.get("default"))}
                for extra in ("computed", "identity", "comment"):
                    if c.get(extra) is not None:
                        info[extra] = repr(c[extra])
                columns[c["name"]] = info
            pk = insp.get_pk_constraint(table)
            tables[table] = {
                "columns": columns,
                "primary_key": {"name": pk.get("name"), "columns": tuple(pk.get("constrained_columns") or ())},
                "indexes": _sorted(
                    {"name": ix["name"], "columns": tuple(ix.get("column_names") or ()),
                     "expressions": tuple(_norm_sql(e) for e in ix.get("expressions") or ()),
                     "unique": bool(ix.get("unique")), "options": _opts(ix.get("dialect_options"))}
                    for ix in insp.get_indexes(table)),
                "unique_constraints": _sorted(
                    {"name": uq.get("name"), "columns": tuple(uq["column_names"])}
                    for uq in insp.get_unique_constraints(table)),
                "foreign_keys": _sorted(
                    {"name": fk.get("name"), "columns": tuple(fk["constrained_columns"]),
                     "referred_table": fk["referred_table"], "referred_columns": tuple(fk["referred_columns"]),
                     "options": _opts({k: str(v).upper() for k, v in (fk.get("options") or {}).items()})}
                    for fk in insp.get_foreign_keys(table)),
                "check_constraints": _sorted(
                    {"name": ck.get("name"), "sqltext": _norm_sql(ck["sqltext"])}
                    for ck in _optional(insp.get_check_constraints, table)),
            }
        out = {"tables": tables, "views": sorted(insp.get_view_names())}
        if dialect.supports_sequences:
            out["sequences"] = sorted(_optional(insp.get_sequence_names))
        if hasattr(insp, "get_enums"):   # PostgreSQL: a dropped table can leave its type behind
            out["enums"] = _sorted({"name": e["name"], "labels": tuple(e["labels"])} for e in insp.get_enums())
        return out
    finally:
        engine.dispose()


def differences(expected, actual, path: str = "") -> list[str]:
    """Readable differences between two schema (or row) structures."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                out.append(f"{where}: missing (expected {expected[key]!r})")
            elif key not in expected:
                out.append(f"{where}: unexpected {actual[key]!r}")
            else:
                out.extend(differences(expected[key], actual[key], where))
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        missing = [x for x in expected if x not in actual]
        extra = [x for x in actual if x not in expected]
        return ([f"{path}: missing {x!r}" for x in missing] + [f"{path}: unexpected {x!r}" for x in extra]
                or ([f"{path}: order {expected!r} != {actual!r}"] if expected != actual else []))
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def assert_schema(url: str, reference: dict, state: str, how: str) -> None:
    diff = differences(reference[state][0], schema(url))
    assert not diff, (f"after {how}, the schema at {state} differs from a fresh upgrade to {state} "
                      f"(expected = fresh upgrade):\n  " + "\n  ".join(diff))


# ----------------------------------------------------------------------------- rows

def _engine(url: str):
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _fk_on(dbapi_conn, _record):
            dbapi_conn.execute("PRAGMA foreign_keys=ON")   # seeded rows must be consistent
    return engine


def _value(table, column, i: int):
    try:
        kind = column.type.python_type
    except NotImplementedError:
        kind = str
    if kind is bool:
        return i % 2 == 1
    if kind is int:
        return i
    if kind is float:
        return i + 0.25
    if kind is decimal.Decimal:
        return decimal.Decimal(i) + decimal.Decimal("0.5")
    if kind is str:
        length = getattr(column.type, "length", None)
        s = f"{i}:{table.name}.{column.name}"
        return s[:length] if length else s
    if kind is bytes:
        return f"{i}:{table.name}.{column.name}".encode()
    if kind is dt.datetime:
        return dt.datetime(2026, 1, i, 8, 30, i)
    if kind is dt.date:
        return dt.date(2026, 1, i)
    if kind is dt.time:
        return dt.time(8, i)
    if kind is uuid.UUID:
        return uuid.UUID(int=i)
    if kind in (dict, list):
        return {"row": i}
    raise AssertionError(f"seed: no value for {table.name}.{column.name} ({column.type!r}): extend _value")


def seed(url: str) -> dict[str, int]:
    """ROWS_PER_TABLE rows in every empty table, parents first. Row 2 leaves nullable columns
    NULL; foreign keys point at existing parent rows (a self-reference at the row before).
    Returns {table: rows inserted}."""
    engine = _engine(url)
    inserted = {}
    try:
        md = MetaData()
        md.reflect(bind=engine)
        with engine.begin() as conn:
            for table in md.sorted_tables:
                if table.name == VERSION_TABLE or conn.scalar(select(func.count()).select_from(table)):
                    continue
                rows = []
                fk_cols = {c.name for c in table.columns if c.foreign_keys}
                for i in range(1, ROWS_PER_TABLE + 1):
                    row = {c.name: (None if c.nullable and i == 2 and not c.primary_key else _value(table, c, i))
                           for c in table.columns if c.name not in fk_cols}
                    for fk in table.foreign_key_constraints:
                        local = [e.parent.name for e in fk.elements]
                        remote = [e.column.name for e in fk.elements]
                        nullable = all(table.c[name].nullable for name in local)
                        if fk.referred_table is table:
                            parent = rows[-1] if rows else None
                            values = [parent[r] for r in remote] if parent else (
                                [None] * len(local) if nullable else [row[r] for r in remote])
                        elif nullable and i == 2:
                            values = [None] * len(local)
                        else:
                            parents = conn.execute(select(*[fk.referred_table.c[r] for r in remote])
                                                   .order_by(*[fk.referred_table.c[r] for r in remote])).all()
                            assert parents or nullable, f"seed: {table.name} needs a row in {fk.referred_table.name}"
                            values = list(parents[(i - 1) % len(parents)]) if parents else [None] * len(local)
                        row.update(zip(local, values))
                    rows.append(row)
                conn.execute(insert(table), rows)
                inserted[table.name] = len(rows)
        return inserted
    finally:
        engine.dispose()


def rows(url: str) -> dict[str, dict[str, list]]:
    """{table: [row as a dict, ...]} of every table but alembic's, as the driver returns them."""
    engine = create_engine(url)
    try:
        quote = engine.dialect.identifier_preparer.quote
        out = {}
        with engine.connect() as conn:
            for table in set(inspect(conn).get_table_names()) - {VERSION_TABLE}:
                out[table] = [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {quote(table)}"))]
        return out
    finally:
        engine.dispose()


def project(table_rows: list[dict], columns) -> list[tuple]:
    columns = sorted(columns)
    return sorted((tuple((c, r[c]) for c in columns) for r in table_rows), key=repr)


def assert_rows_kept(before: dict, after: dict, step: str, revision: str) -> None:
    """Every table on both sides of a step keeps its rows, on the columns both sides have."""
    problems = []
    for table in sorted(set(before) & set(after) - REWRITES_ROWS.get(revision, set())):
        if not before[table] and not after[table]:
            continue
        common = set(before[table][0] if before[table] else after[table][0])
        common &= set(after[table][0] if after[table] else before[table][0])
        was, now = project(before[table], common), project(after[table], common)
        if was != now:
            lost = [r for r in was if r not in now]
            new = [r for r in now if r not in was]
            problems.append(f"{table}: {len(was)} rows before, {len(now)} after; "
                            f"lost or changed {lost[:2]!r}{' ...' if len(lost) > 2 else ''}; "
                            f"new {new[:2]!r}{' ...' if len(new) > 2 else ''}")
    assert not problems, f"{step} lost or changed rows:\n  " + "\n  ".join(problems)


def walk(url: str, reference: dict, path: list[str], reseed: bool) -> None:
    """Step along `path` one revision at a time from the database's current revision, checking the
    schema and the rows kept after each step; with `reseed`, empty tables are seeded first."""
    here = current_revision(url)
    after = None
    for there in path:
        if reseed and seed(url):
            after = None
        before = after if after is not None else rows(url)
        up = STATES.index(there) > STATES.index(here)
        how = f"{'upgrade' if up else 'downgrade'} {here} -> {there}"
        migrate(url, there)
        assert_schema(url, reference, there, how)
        after = rows(url)
        assert_rows_kept(before, after, how, there if up else here)
        here = there


# ----------------------------------------------------------------------------- tests

def test_reference_schemas(reference):
    """The fresh upgrades themselves: base is empty, head has the core tables, every revision but
    a data migration changes the schema (else the step checks would compare nothing)."""
    assert reference[BASE][0]["tables"] == {}
    head_tables = set(reference[REVISIONS[-1]][0]["tables"])
    assert {"org_unit", "app_user", "course", "credit_entry", "study_session"} <= head_tables
    for before, after in itertools.pairwise(STATES):
        assert after in REWRITES_ROWS or reference[before][0] != reference[after][0], (
            f"revision {after} changes nothing in the schema")


def test_each_step_down_to_base_and_up_matches_a_fresh_upgrade(databases, reference):
    url = databases.new("walk")
    migrate(url, REVISIONS[-1])
    inserted = seed(url)
    assert inserted == {t: ROWS_PER_TABLE for t in reference[REVISIONS[-1]][0]["tables"]}
    walk(url, reference, STATES[-2::-1], reseed=False)           # head-1, ..., first, base
    walk(url, reference, STATES[1:], reseed=True)                # first, ..., head


def test_rows_survive_down_to_the_first_revision_and_back(databases, reference):
    """Tables of every revision keep their rows through head -> first -> head (columns that some
    revision lacks are dropped on the way down, so only the columns of every revision count)."""
    url = databases.new("cycle")
    migrate(url, REVISIONS[-1])
    seed(url)
    original = rows(url)
    walk(url, reference, REVISIONS[-2::-1], reseed=False)        # head-1, ..., first
    walk(url, reference, REVISIONS[1:], reseed=False)            # second, ..., head
    final = rows(url)
    everywhere = set.intersection(*(set(reference[r][0]["tables"]) for r in REVISIONS))
    assert {"org_unit", "app_user", "course"} <= everywhere
    for table in sorted(everywhere):
        columns = set.intersection(*(set(reference[r][0]["tables"][table]["columns"]) for r in REVISIONS))
        assert len(original[table]) == ROWS_PER_TABLE
        assert project(final[table], columns) == project(original[table], columns), (
            f"{table}: rows changed by head -> {REVISIONS[0]} -> head")


def test_models_match_migrations(reference):
    """The head schema equals the ORM metadata: no model change without a migration."""
    models = importlib.import_module("webapp.models")
    base = getattr(models, "Base", None)
    metadata = base.metadata if base is not None else next(
        v.metadata for v in vars(models).values() if hasattr(v, "__table__"))
    engine = create_engine(reference[REVISIONS[-1]][1])
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            diff = compare_metadata(ctx, metadata)
    finally:
        engine.dispose()
    assert diff == [], "models changed without a migration:\n  " + "\n  ".join(map(repr, diff))
