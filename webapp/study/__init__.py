"""Studying: the player, a sitting's heartbeats, attestations and credit.

Other domains use only the names exported here (DESIGN.md); they load on first use, so importing
the package pulls in nothing and no import cycle can form.
"""
from importlib import import_module

_EXPORTS = {
    "attest": "service",
    "credited_by_learner": "service",
    "current_month": "service",
    "required_hours": "service",
    "month_of": "service",
    "finish_session": "service",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} exports no {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
