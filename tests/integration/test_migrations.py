"""Alembic upgrade -> downgrade -> upgrade on a real SQLite file, and models == migrations."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from webapp import migrate
from webapp.db import Base
import webapp.models  # noqa: F401


def tables(url):
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trip(tmp_path):
    url = f"sqlite:///{tmp_path / 'round.db'}"
    migrate.upgrade(url)
    first = tables(url)
    assert {"org_unit", "app_user", "course", "credit_entry", "study_session"} <= first
    migrate.downgrade(url, "base")
    assert tables(url) == set()
    migrate.upgrade(url)
    assert tables(url) == first


def test_models_match_migrations(tmp_path):
    url = f"sqlite:///{tmp_path / 'diff.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models changed without a migration: {diff}"
