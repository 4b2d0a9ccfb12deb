"""Several media workers behind the web tier's RPC (webapp.media.workers, webapp.media.rpc), with
a real Redis server and real worker processes (tests/integration/media_worker_stub.py): keys
spread over the workers, stay where they were given when a worker joins, move when their
worker is killed (kill -9: its heartbeat expires), and fan-out methods reach every live worker.
Also which roll calls a starting worker closes."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from webapp.media.rpc import MediaUnavailable, RemoteService, RpcClient
from webapp.media.workers import HEARTBEAT_TTL_S, OWNER_PREFIX, Heartbeat, Registry, orphaned_here

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
ROOT = Path(__file__).resolve().parents[2]
METHODS = frozenset({"where", "count"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("redis")
    port = _free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    client = redis.Redis(port=port)
    wait_until(lambda: _ping(client), 10, "redis-server")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def _ping(client) -> bool:
    import redis
    with contextlib.suppress(redis.RedisError):
        return bool(client.ping())
    return False


class Workers:
    """Real worker processes, by id."""

    def __init__(self, redis_url: str):
        import redis
        self.url = redis_url
        self.redis = redis.Redis.from_url(redis_url)
        self.registry = Registry(self.redis)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, worker: str) -> None:
        proc = subprocess.Popen([sys.executable, "-m", "tests.integration.media_worker_stub", self.url, worker],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout.readline().strip() == "ready"
        self.procs[worker] = proc

    def kill(self, worker: str) -> None:
        proc = self.procs.pop(worker)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for worker in list(self.procs):
            proc = self.procs.pop(worker)
            proc.terminate()
            proc.wait(10)


@pytest.fixture
def workers(redis_url):
    found = Workers(redis_url)
    found.redis.flushall()
    yield found
    found.stop()


def test_keys_spread_stay_put_and_move_when_their_worker_dies(workers, redis_url):
    workers.start("a")
    workers.start("b")
    assert workers.registry.live() == ["a", "b"]
    remote = RemoteService(RpcClient(redis_url, timeout_s=5.0), "t", METHODS, fanout={"count": sum})

    # Spread: 40 sittings over both workers, each remembered in Redis.
    first = [f"sitting-{i}" for i in range(40)]
    placed = {key: remote.where(key) for key in first}
    on = {w: [k for k, v in placed.items() if v == w] for w in ("a", "b")}
    assert len(on["a"]) >= 5 and len(on["b"]) >= 5, on
    assert all(workers.registry.owner("t", key) == worker for key, worker in placed.items())
    # Sticky: asked again, every key answers from the same worker.
    assert {key: remote.where(key) for key in first} == placed
    # Fan-out: every live worker answers, the answers summed.
    assert remote.count() == 40

    # A worker joins: no live key moves; new keys go to it too.
    workers.start("c")
    assert workers.registry.live() == ["a", "b", "c"]
    assert {key: remote.where(key) for key in first} == placed
    second = [f"later-{i}" for i in range(30)]
    later = {key: remote.where(key) for key in second}
    assert set(later.values()) == {"a", "b", "c"}
    assert remote.count() == 70

    # kill -9 of "a": once its heartbeat has expired, its keys go to the live workers, and stay there.
    killed, killed_wall = time.monotonic(), time.time()
    workers.kill("a")
    wait_until(lambda: "a" not in workers.registry.live(), HEARTBEAT_TTL_S + 2, "a's heartbeat to expire")
    gone_after = time.monotonic() - killed
    moved = {key: remote.where(key) for key in on["a"]}
    assert set(moved.values()) <= {"b", "c"} and len(set(moved.values())) == 2, moved
    assert all(workers.registry.owner("t", key) == worker for key, worker in moved.items())
    # Each moved key carries the dead worker's last beat (within a beat of the kill), taken once.
    last_beat = workers.registry.take_moved("t", on["a"][0])
    assert killed_wall - 1.5 < last_beat <= killed_wall
    assert workers.registry.take_moved("t", on["a"][0]) is None
    assert workers.registry.take_moved("t", on["b"][0]) is None
    assert all(remote.where(key) == "b" for key in on["b"])          # the others did not move
    assert remote.count() == 40 + 30 - len([k for k, v in later.items() if v == "a"])
    print(f"media_workers a_dead_after_s={gone_after:.1f} moved={len(moved)}")

    # "a" comes back under its id: what moved stays where it went.
    workers.start("a")
    assert "a" in workers.registry.live()
    assert {key: remote.where(key) for key in on["a"]} == moved


def test_a_worker_restarted_under_its_id_keeps_its_keys_but_marks_them_lost(workers, redis_url):
    """What systemd or the stack's supervisor does: the killed worker is back under the same id
    before its sittings were used again. They stay its own; each carries the killed process's
    last beat, for the worker to drop what no check saw when the camera is opened again."""
    workers.start("a")
    remote = RemoteService(RpcClient(redis_url, timeout_s=5.0), "t", METHODS)
    keys = [f"sitting-{i}" for i in range(3)]
    assert [remote.where(key) for key in keys] == ["a"] * 3
    killed_wall = time.time()
    workers.kill("a")
    workers.start("a")          # waits until the killed one's heartbeat has expired
    assert [remote.where(key) for key in keys] == ["a"] * 3
    for key in keys:
        last_beat = workers.registry.take_moved("t", key)
        assert killed_wall - 1.5 < last_beat <= killed_wall
        assert workers.registry.take_moved("t", key) is None
    # Killed again while "b" runs: the one sitting used meanwhile goes to "b" (marked by the web
    # tier, taken by b's open); the restarted "a" marks only the two still its own.
    workers.start("b")
    workers.kill("a")
    wait_until(lambda: "a" not in workers.registry.live(), HEARTBEAT_TTL_S + 2, "a's heartbeat to expire")
    assert remote.where("sitting-0") == "b"
    assert workers.registry.take_moved("t", "sitting-0") is not None
    workers.start("a")
    assert workers.registry.take_moved("t", "sitting-0") is None
    assert [workers.registry.take_moved("t", key) is not None for key in keys[1:]] == [True, True]
    assert [remote.where(key) for key in keys] == ["b", "a", "a"]


def test_a_call_without_a_live_worker_is_unavailable_at_once(workers, redis_url):
    client = RpcClient(redis_url, timeout_s=5.0)
    started = time.monotonic()
    with pytest.raises(MediaUnavailable):
        RemoteService(client, "t", METHODS).where("s")
    with pytest.raises(MediaUnavailable):
        RemoteService(client, "t", METHODS, fanout={"count": sum}).count()
    assert time.monotonic() - started < 1.0
    assert workers.redis.get(OWNER_PREFIX + "t:s") is None     # nothing given to nobody


def test_a_worker_id_is_one_process_at_a_time(workers):
    workers.start("a")
    twin = Heartbeat(workers.redis, "a")
    assert twin.wait_for_earlier(timeout_s=1.5) is False       # "a" is alive: a second "a" would refuse
    workers.kill("a")
    started = time.monotonic()
    assert twin.wait_for_earlier() is True                      # a killed one's heartbeat expires
    assert time.monotonic() - started <= HEARTBEAT_TTL_S + 0.5
    # A clean stop removes the heartbeat at once.
    workers.start("b")
    workers.procs.pop("b").terminate()
    wait_until(lambda: workers.registry.live() == [], 3.0, "b's heartbeat removed by its stop")


def test_a_starting_worker_closes_only_the_roll_calls_it_may(workers, app, db):
    """Conference 1 is live worker b's (left alone); 2 was this worker's ("a"), 3 a dead worker's,
    4 nobody's: closed."""
    from webapp.conferences.live import close_orphaned_rollcalls
    from webapp.models import Conference, OrgUnit, RollCall
    from sqlalchemy import select

    from tests.conftest import user

    workers.start("b")
    unit = db.scalar(select(OrgUnit).where(OrgUnit.name == "西湖区司法局"))
    officer = user(db, "officer_xh")
    calls = {}
    for n in (1, 2, 3, 4):
        conf = Conference(host_unit_id=unit.id, host_officer_id=officer.id, title=f"c{n}",
                          starts_at=datetime(2026, 5, 4, 1, 0), duration_min=60, levels="5", include_supervisees=True)
        db.add(conf)
        db.flush()
        call = RollCall(conference_id=conf.id, started_by_id=officer.id, started_at=datetime(2026, 5, 4, 1, 5))
        db.add(call)
        db.flush()
        calls[n] = (conf.id, call.id)
    db.commit()
    for n, worker in ((1, "b"), (2, "a"), (3, "dead")):
        workers.redis.set(f"{OWNER_PREFIX}conference:{calls[n][0]}", worker)
    with app.app_context():
        closed = close_orphaned_rollcalls(orphaned=orphaned_here(workers.registry, "a"))
    assert sorted(closed) == sorted(calls[n][1] for n in (2, 3, 4))
    db.expire_all()
    assert db.get(RollCall, calls[1][1]).ended_at is None


def test_a_conference_coming_to_a_worker_closes_the_roll_call_its_dead_worker_left(app, db):
    """The web tier sends a conference to another worker only when its worker is dead: a roll
    call of it still "in progress" died with that worker. Entering it where it is not live closes
    that roll call; entering it where it is live leaves a running one alone."""
    from sqlalchemy import select

    from tests.conftest import user
    from webapp.conferences.live import shutdown
    from webapp.media.services import WorkerLiveService
    from webapp.models import Conference, OrgUnit, RollCall

    unit = db.scalar(select(OrgUnit).where(OrgUnit.name == "西湖区司法局"))
    officer = user(db, "officer_xh")
    conf = Conference(host_unit_id=unit.id, host_officer_id=officer.id, title="moved", status="live",
                      starts_at=datetime(2026, 5, 4, 1, 0), duration_min=60, levels="5", include_supervisees=True)
    db.add(conf)
    db.flush()
    left = RollCall(conference_id=conf.id, started_by_id=officer.id, started_at=datetime(2026, 5, 4, 1, 5))
    db.add(left)
    db.commit()
    path, name = unit.path, unit.name
    service = WorkerLiveService(app)
    try:
        with app.app_context():
            service.enter(conf.id, officer.id, path, officer.id, "officer", name, [path])
        db.expire_all()
        assert db.get(RollCall, left.id).ended_at is not None
        running = RollCall(conference_id=conf.id, started_by_id=officer.id, started_at=datetime(2026, 5, 4, 1, 9))
        db.add(running)
        db.commit()
        with app.app_context():
            service.enter(conf.id, officer.id, path, officer.id, "officer", name, [path])
        db.expire_all()
        assert db.get(RollCall, running.id).ended_at is None
    finally:
        shutdown(app)     # the conference and the analysis pool its opening started
