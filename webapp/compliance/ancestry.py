"""A unit's ancestry as the l1..l5 columns of a LearnerMonth row (ministry .. township).

The materialised path "/1/4/9/" lists the ids from the root down; a unit at level k has l1..lk
set and the deeper levels NULL. Grouping a level-k unit's rows by l(k+1) gives its children; rows
with l(k+1) NULL are people attached to the unit itself."""
from __future__ import annotations

LEVEL_COLUMNS = ("l1", "l2", "l3", "l4", "l5")


def ancestry(path: str) -> dict[str, int | None]:
    """{"l1": id, ..., "l5": id or None} for a unit's materialised path."""
    ids = [int(part) for part in path.strip("/").split("/") if part]
    if not ids or len(ids) > len(LEVEL_COLUMNS):
        raise ValueError(f"not a unit path: {path!r}")
    return {col: (ids[i] if i < len(ids) else None) for i, col in enumerate(LEVEL_COLUMNS)}


def column_of_level(level: int) -> str:
    """The LearnerMonth column holding the id of the ancestor at `level` (1..5)."""
    if not 1 <= level <= len(LEVEL_COLUMNS):
        raise ValueError(f"no such level: {level}")
    return LEVEL_COLUMNS[level - 1]
