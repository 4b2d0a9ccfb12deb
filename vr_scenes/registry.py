"""The scene registry: every module in ``vr_scenes/scenes/`` that defines a :class:`Scene` subclass with a
``key`` is a scene. Adding a fourth scene is adding one file there."""
from __future__ import annotations

import importlib
import pkgutil

from . import scenes as _scenes_pkg
from .core import Scene

_registry: dict[str, type[Scene]] | None = None


def _discover() -> dict[str, type[Scene]]:
    found: dict[str, type[Scene]] = {}
    for info in sorted(pkgutil.iter_modules(_scenes_pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{_scenes_pkg.__name__}.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Scene) and obj is not Scene and obj.key \
                    and obj.__module__ == module.__name__:
                if obj.key in found:
                    raise ValueError(f"two scenes with the key {obj.key!r}")
                found[obj.key] = obj
    return dict(sorted(found.items(), key=lambda kv: (getattr(kv[1], "order", 100), kv[0])))


def scenes() -> dict[str, type[Scene]]:
    global _registry
    if _registry is None:
        _registry = _discover()
    return dict(_registry)


def get(key: str) -> type[Scene]:
    try:
        return scenes()[key]
    except KeyError:
        raise KeyError(f"no scene {key!r}; known: {', '.join(scenes())}") from None


def create(key: str, **kwargs) -> Scene:
    return get(key)(**kwargs)
