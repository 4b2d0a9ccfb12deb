"""Courses: manifests into the database, course media.

Other domains use only the names exported here (DESIGN.md); they load on first use, so importing
the package pulls in nothing and no import cycle can form.
"""
from importlib import import_module

_EXPORTS = {
    "CourseImportError": "catalogue",
    "import_into_db": "catalogue",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} exports no {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
