"""People at scale (issue 14): bulk import of supervisees and officers, the lifecycle of a
supervision (end, transfer between units, password reset), retention of personal data, and the
audit viewer.

Other domains use only the names exported here (DESIGN.md), loaded on first use."""
from webapp.core.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "lifecycle_context": "lifecycle_views",
    "anonymise_expired": "retention",
    "purge_old_audit": "retention",
    "check_retention_config": "retention",
    "encrypt_text": "personal_data",     # the phone number (and ID number) at rest
    "decrypt_text": "personal_data",
})
