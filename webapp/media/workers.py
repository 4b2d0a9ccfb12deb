"""Media workers: who is alive, and which worker holds a sitting or a conference (README
"Production mode", "The media workers and their RPC").

The production mode runs several media worker processes (`python -m webapp.media --worker ID`,
one per core by default). All of it lives in Redis:

    media:workers               a hash: every worker id ever seen -> the time of its last beat
    media:worker:<id>           the worker's heartbeat: {"pid", "host", "since"}, set every
                                HEARTBEAT_EVERY_S with a TTL of HEARTBEAT_TTL_S; a worker is
                                alive while this key exists
    media:rpc:<id>              the worker's request queue (webapp.media.rpc)
    media:owner:<service>:<key> the worker a sitting ("proctor", key: sitting id) or a conference
                                ("conference", key: conference id) was given; expires OWNER_TTL_S
                                after its last use
    media:keys:<id>             the keys given to the worker, as "<service>:<key>"
    media:moved:<service>:<key> when a key lost its worker's process: that process's last beat,
                                until the next process to open it takes it (`take_moved`; the
                                first loss counts). Set when the web tier gives the key of a dead
                                worker to another, and by a worker restarted under the same id
                                for every key of its predecessor (`hand_over`)

The routing rule (`route`, a pure function): a key stays with the worker it was given while that
worker is alive; a key with no live worker (never given, or given to a worker whose heartbeat is
gone) goes to the live worker with the highest rendezvous score, sha256("<worker>\\0<key>"), and
that choice is remembered. So a worker that joins takes only new keys (live sittings do not
move), and a dead worker's keys spread over the others the next time they are used. The
camera of a sitting whose worker died reconnects by itself (its re-opened offer is such a use),
and its checks start again, unverified, on the new worker (or on its own worker restarted);
what was watched after the lost process's last beat was seen by no check and is dropped there
(webapp.media.services).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterable

log = logging.getLogger(__name__)

WORKERS = "media:workers"
HEARTBEAT_PREFIX = "media:worker:"
OWNER_PREFIX = "media:owner:"
MOVED_PREFIX = "media:moved:"
KEYS_PREFIX = "media:keys:"
HEARTBEAT_EVERY_S = 1.0
HEARTBEAT_TTL_S = 5
OWNER_TTL_S = 12 * 3600
WORKER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_worker_id(worker: str) -> str:
    """Worker ids name Redis keys: letters, digits, `_.-` ("reply" is the reply keys' prefix)."""
    if not WORKER_ID.match(worker or "") or worker == "reply":
        raise ValueError(f"media worker id {worker!r}: 1-64 of A-Z a-z 0-9 _ . - (not 'reply')")
    return worker


def score(worker: str, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{worker}\0{key}".encode()).digest()[:8], "big")


def route(live: Iterable[str], key: str, remembered: str | None) -> str | None:
    """The worker for `key`: the remembered one while it is alive, else the live worker with the
    highest rendezvous score (ties by id); None when no worker is alive."""
    workers = sorted(set(live))
    if not workers:
        return None
    if remembered in workers:
        return remembered
    return max(workers, key=lambda worker: (score(worker, key), worker))


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class Registry:
    """The web tier's (and a starting worker's) view of the workers, on one Redis client."""

    def __init__(self, redis):
        self.redis = redis

    def live(self) -> list[str]:
        return self._alive(self.redis.hkeys(WORKERS))

    def _alive(self, members) -> list[str]:
        ids = sorted(_text(m) for m in members)
        if not ids:
            return []
        beats = self.redis.mget([HEARTBEAT_PREFIX + worker for worker in ids])
        return [worker for worker, beat in zip(ids, beats) if beat is not None]

    def owner(self, service: str, key) -> str | None:
        """The remembered worker of a key, alive or not."""
        return _text(self.redis.get(f"{OWNER_PREFIX}{service}:{key}"))

    def assign(self, service: str, key) -> str | None:
        """The live worker for a key (see `route`), remembered; None when no worker is alive."""
        name = f"{OWNER_PREFIX}{service}:{key}"
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(name)
            pipe.expire(name, OWNER_TTL_S)
            pipe.hkeys(WORKERS)
            remembered, _, members = pipe.execute()
        remembered = _text(remembered)
        live = self._alive(members)
        chosen = route(live, f"{service}:{key}", remembered)
        if chosen is None or chosen == remembered:
            return chosen
        if remembered is None:
            # Two web processes may give a new key at once: the first choice stands.
            if not self.redis.set(name, chosen, ex=OWNER_TTL_S, nx=True):
                other = _text(self.redis.get(name))
                chosen = other if other in live else chosen
                self.redis.set(name, chosen, ex=OWNER_TTL_S)
            last_beat = None
        else:
            log.info("media %s %s: worker %s is gone, now on %s", service, key, remembered, chosen)
            last_beat = self.redis.hget(WORKERS, remembered)
        with self.redis.pipeline(transaction=False) as pipe:
            if remembered is not None:
                pipe.set(name, chosen, ex=OWNER_TTL_S)
                pipe.srem(KEYS_PREFIX + remembered, f"{service}:{key}")
            if last_beat is not None:
                pipe.set(f"{MOVED_PREFIX}{service}:{key}", last_beat, ex=OWNER_TTL_S, nx=True)
            pipe.sadd(KEYS_PREFIX + chosen, f"{service}:{key}")
            pipe.expire(KEYS_PREFIX + chosen, OWNER_TTL_S)
            pipe.execute()
        return chosen

    def hand_over(self, worker: str) -> int:
        """Before a worker's first beat: the keys its previous process held (killed, or stopped)
        are marked moved at that process's last beat. They stay this worker's; what was watched
        after that beat was seen by no check. Returns how many were marked."""
        last_beat = self.redis.hget(WORKERS, worker)
        if last_beat is None:
            return 0
        keys = [_text(k) for k in self.redis.smembers(KEYS_PREFIX + worker)]
        with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(MOVED_PREFIX + key, last_beat, ex=OWNER_TTL_S, nx=True)
            pipe.execute()
        return len(keys)

    def take_moved(self, service: str, key) -> float | None:
        """The last beat of the dead worker a key left, once (None: it did not move)."""
        name = f"{MOVED_PREFIX}{service}:{key}"
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(name)
            pipe.delete(name)
            found, _ = pipe.execute()
        return float(found) if found is not None else None

    def heartbeat(self, worker: str) -> dict | None:
        raw = self.redis.get(HEARTBEAT_PREFIX + worker)
        return json.loads(raw) if raw else None


class Heartbeat:
    """A worker's announcement: its key refreshed every HEARTBEAT_EVERY_S in a thread of its own,
    deleted on a clean stop (the web tier then routes around it at once)."""

    def __init__(self, redis, worker: str, ttl_s: float = HEARTBEAT_TTL_S, every_s: float = HEARTBEAT_EVERY_S):
        self.redis, self.worker = redis, check_worker_id(worker)
        self.ttl_ms, self.every_s = int(ttl_s * 1000), every_s
        self.value = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wait_for_earlier(self, timeout_s: float | None = None) -> bool:
        """Before the first beat: wait until a heartbeat of this id left by an earlier process
        (killed) expires; False when it is still kept up after `timeout_s` (two TTLs), that is
        when another live process has this id."""
        import redis

        deadline = time.monotonic() + (2 * self.ttl_ms / 1000 if timeout_s is None else timeout_s)
        while time.monotonic() < deadline:
            try:
                if not self.redis.exists(HEARTBEAT_PREFIX + self.worker):
                    return True
            except redis.RedisError:
                pass
            time.sleep(0.2)
        return False

    def beat(self) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(HEARTBEAT_PREFIX + self.worker, self.value, px=self.ttl_ms)
            pipe.hset(WORKERS, self.worker, repr(time.time()))
            pipe.execute()

    def start(self) -> Heartbeat:
        import redis

        try:
            marked = Registry(self.redis).hand_over(self.worker)
            if marked:
                log.info("media worker %s: %d key(s) of its previous process marked moved", self.worker, marked)
            self.beat()
        except redis.RedisError as exc:
            log.warning("media worker %s: heartbeat failed (%s); retrying", self.worker, exc)
        self._thread = threading.Thread(target=self._loop, name="media-heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        import redis

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        try:
            self.redis.delete(HEARTBEAT_PREFIX + self.worker)
        except redis.RedisError:
            pass

    def _loop(self) -> None:
        import redis

        while not self._stop.wait(self.every_s):
            try:
                self.beat()
            except redis.RedisError as exc:
                log.warning("media worker %s: heartbeat failed (%s); retrying", self.worker, exc)


def orphaned_here(registry: Registry, worker: str):
    """For a worker that starts: is a conference's roll call an orphan it must close? Yes when the
    conference was this worker's, or is no live worker's (never given, or given to a dead one);
    a live other worker's roll calls are left alone."""
    others = set(registry.live()) - {worker}
    return lambda conference_id: registry.owner("conference", conference_id) not in others
