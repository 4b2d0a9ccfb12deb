"""Lazy exports of a web domain's package: other domains import `from webapp.<domain> import name`,
and the module defining `name` is imported on first use, so no import cycle can form."""
from __future__ import annotations

from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str]):
    """Returns (`__getattr__`, `__all__`) for the package: `exports` maps name -> submodule."""
    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} exports no {name!r}")
        return getattr(import_module(f"{package}.{exports[name]}"), name)
    return __getattr__, sorted(exports)
