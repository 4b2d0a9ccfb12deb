"""The one jurisdiction test. A unit's jurisdiction is its subtree, found by the materialised
path ("/1/4/9/" is under "/1/4/"). Every list and lookup that filters people or units by
jurisdiction goes through these helpers; tests/unit/test_jurisdiction_queries.py lists the
queries on people and units and fails on a new one that neither uses them nor is listed there.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select

from conferencing.rules import in_subtree as _path_in_subtree
from webapp.models import LearnerMonth, OrgUnit, Role, User


def _path(root: OrgUnit | str) -> str:
    return root if isinstance(root, str) else root.path


def contains(root: OrgUnit | str, other: OrgUnit | str) -> bool:
    """Whether `other` is `root` or below it (in Python, for one object already loaded)."""
    return _path_in_subtree(_path(other), _path(root))


def unit_within(root: OrgUnit | str) -> ColumnElement[bool]:
    """SQL condition on OrgUnit (the query must select or join OrgUnit)."""
    return OrgUnit.path.startswith(_path(root))


def units_within(root: OrgUnit | str) -> Select:
    return select(OrgUnit).where(unit_within(root))


def users_within(root: OrgUnit | str, *columns, role: Role | None = None) -> Select:
    """Users (or the given columns) of the subtree, joined with their OrgUnit."""
    query = select(*(columns or (User,))).join(OrgUnit, OrgUnit.id == User.unit_id).where(unit_within(root))
    return query.where(User.role == role) if role is not None else query


def supervisee_ids_within(root: OrgUnit | str) -> Select:
    """A subquery of supervisee ids of the subtree, for `learner_id.in_(...)`."""
    return users_within(root, User.id, role=Role.SUPERVISEE)


def _depth(root: OrgUnit | str) -> int:
    return len([part for part in _path(root).strip("/").split("/") if part])


def month_rows_within(root: OrgUnit) -> ColumnElement[bool]:
    """SQL condition on LearnerMonth: the people counted in `root`'s subtree in the row's month,
    by the unit they belonged to in that month (its ancestry l1..l5), not their unit today."""
    depth = _depth(root)
    if not 1 <= depth <= 5:
        raise ValueError(f"not a unit path: {_path(root)!r}")
    return getattr(LearnerMonth, f"l{depth}") == root.id
