"""Camera proctoring on the web: enrolment, the check engine wired to the ledger, flags and evidence.

Other domains use only the names exported here (DESIGN.md); they load on first use, so importing
the package pulls in nothing and no import cycle can form.
"""
from importlib import import_module

_EXPORTS = {
    "notify_flag": "alerts",
    "record_flag": "evidence",
    "plain_scores": "evidence",
    "purge_expired_evidence": "evidence",
    "liveness_actions": "hub",
    "runner": "hub",
    "PhotoError": "views",
    "decode_photo": "views",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} exports no {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
