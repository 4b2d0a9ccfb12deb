"""Compliance at every level (issue 14): the supervisee's month (models.LearnerMonth), its upkeep
and the unit pages that aggregate it.

Other domains use only the names exported here (DESIGN.md), loaded on first use."""
from webapp.core.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "add_credit": "rollup",
    "move_current_month": "rollup",
    "refresh_month": "rollup",
    "scheduled_refresh": "rollup",
    "unit_page": "page",
})
