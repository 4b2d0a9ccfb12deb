"""What the media process serves over RPC: the camera check runner and the live conferences."""
from __future__ import annotations

import numpy as np
from flask import Flask

from webapp.core.face_crypto import EMBEDDING_DTYPE
from webapp.proctor.hub import REMOTE_METHODS


class ProctorService:
    """The check runner's facade with plain arguments (embeddings arrive as lists of numbers)."""

    def __init__(self, runner):
        self.runner = runner

    def open(self, sitting_id: str, learner_id: int, references: list, offer_sdp: str, **standing) -> str:
        faces = [np.asarray(r, dtype=EMBEDDING_DTYPE) for r in references]
        return self.runner.open(sitting_id, learner_id, faces, offer_sdp, **standing)

    def __getattr__(self, name: str):
        if name not in REMOTE_METHODS:
            raise AttributeError(name)
        return getattr(self.runner, name)


def handlers(app: Flask) -> dict[str, tuple[object, frozenset[str]]]:
    from webapp.conferences.live_service import METHODS, LiveService
    from webapp.proctor.hub import runner

    return {"proctor": (ProctorService(runner(app)), REMOTE_METHODS),
            "conference": (LiveService(app), METHODS)}
