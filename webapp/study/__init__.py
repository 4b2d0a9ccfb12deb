"""Studying: the player, a sitting's heartbeats, attestations and credit.

Other domains use only the names exported here (DESIGN.md), loaded on first use."""
from webapp.core.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "attest": "service",
    "credited_by_learner": "service",
    "current_month": "service",
    "required_hours": "service",
    "month_of": "service",
    "finish_session": "service",
})
