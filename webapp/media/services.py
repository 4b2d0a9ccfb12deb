"""What a media worker serves over RPC: the camera check runner and the live conferences, with
what a sitting or conference needs when it comes here from a worker that died."""
from __future__ import annotations

import logging
import threading

import numpy as np
from flask import Flask

from webapp.conferences.live_service import LiveService
from webapp.core.face_crypto import EMBEDDING_DTYPE
from webapp.proctor.hub import REMOTE_METHODS

log = logging.getLogger(__name__)


class ProctorService:
    """The check runner's facade with plain arguments (embeddings arrive as lists of numbers).

    A sitting whose worker died comes here with its camera's re-opened offer. No check saw what
    was watched after that worker's last beat (its player went on until the camera noticed the
    lost connection): that pending time is dropped before the camera opens here, so the first
    check here settles only what the dead worker's checks saw, as after any gap."""

    def __init__(self, runner, registry=None):
        self.runner = runner
        self.registry = registry

    def open(self, sitting_id: str, learner_id: int, references: list, offer_sdp: str, **standing) -> str:
        lost_at = self.registry.take_moved("proctor", sitting_id) if self.registry is not None else None
        if lost_at is not None:
            dropped = drop_unobserved(sitting_id, learner_id, lost_at)
            log.info("sitting %s came from a media worker last seen at %.1f: %.1f s of pending time dropped",
                     sitting_id, lost_at, dropped)
        faces = [np.asarray(r, dtype=EMBEDDING_DTYPE) for r in references]
        return self.runner.open(sitting_id, learner_id, faces, offer_sdp, **standing)

    def __getattr__(self, name: str):
        if name not in REMOTE_METHODS:
            raise AttributeError(name)
        return getattr(self.runner, name)


def drop_unobserved(sitting_id: str, learner_id: int, after: float) -> float:
    """Pending watch segments of a sitting that end after `after`: dropped (kept as
    DroppedSegment "camera:worker_lost" for officers to see), whole, so at most one heartbeat
    interval seen before `after` goes with them. Returns the wall seconds dropped."""
    from sqlalchemy import select

    from webapp.core import db
    from webapp.models import DroppedSegment, PendingSegment

    with db.write_transaction(key=("learner", learner_id)) as session:
        rows = session.scalars(select(PendingSegment).where(PendingSegment.session_id == sitting_id,
                                                            PendingSegment.wall_end > after)).all()
        dropped = sum(row.wall_end - row.wall_start for row in rows)
        for row in rows:
            session.add(DroppedSegment(session_id=row.session_id, media_start=row.media_start,
                                       media_end=row.media_end, wall_start=row.wall_start, wall_end=row.wall_end,
                                       reason="camera:worker_lost"))
            session.delete(row)
        session.commit()
    return dropped


class WorkerLiveService(LiveService):
    """The live conferences of one media worker among several. A conference that comes to this
    worker while it is not live here came because the worker that had it died (the web tier
    routes a conference to its worker while that one is alive): a roll call of it still "in
    progress" died with that worker, and is closed before the conference opens here."""

    def __init__(self, app: Flask):
        super().__init__(app)
        self._opening = threading.Lock()

    def enter(self, conference_id: int, host_id: int, host_path: str, *rest) -> dict:
        from webapp.conferences.live import close_orphaned_rollcalls, get_live, open_live

        with self._opening:
            live = get_live(self.app, conference_id)
            if live is None or live.closed:
                closed = close_orphaned_rollcalls(orphaned=lambda found: found == conference_id)
                if closed:
                    log.info("conference %s: closed roll call(s) %s left by a media worker that died",
                             conference_id, closed)
                open_live(self.app, conference_id, host_id, host_path)
        return super().enter(conference_id, host_id, host_path, *rest)


def handlers(app: Flask) -> dict[str, tuple[object, frozenset[str]]]:
    import redis

    from webapp.conferences.live_service import METHODS
    from webapp.media.workers import Registry
    from webapp.proctor.hub import runner

    registry = Registry(redis.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2.0,
                                             health_check_interval=30))
    return {"proctor": (ProctorService(runner(app), registry), REMOTE_METHODS),
            "conference": (WorkerLiveService(app), METHODS)}
