"""Camera proctoring on the web: enrolment, the check engine wired to the ledger, flags and evidence.

Other domains use only the names exported here (DESIGN.md), loaded on first use."""
from webapp.core.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "notify_flag": "alerts",
    "record_flag": "evidence",
    "plain_scores": "evidence",
    "purge_expired_evidence": "evidence",
    "liveness_actions": "hub",
    "runner": "hub",
    "standing_context": "standing_views",
    "KIND_LABELS": "views",
    "PhotoError": "views",
    "decode_photo": "views",
})
