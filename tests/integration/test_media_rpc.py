"""The media RPC (webapp.media.rpc) over a real Redis server and one worker: calls, errors by
type, deadlines, a media worker that is away, and the web tier's stand-ins holding no media state
(several workers: test_media_workers.py)."""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

from webapp.media.rpc import MediaError, MediaUnavailable, RemoteService, RpcClient, RpcServer

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    folder = tmp_path_factory.mktemp("redis")
    port = _free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(redis.RedisError):
            if client.ping():
                break
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


class Target:
    """What the media process would serve: plain methods, some raising the known errors."""

    def __init__(self):
        self.calls = []
        self.release = threading.Event()

    def add(self, a, b=0):
        self.calls.append(("add", a, b))
        return a + b

    def vector(self, values):
        return np.asarray(values, dtype=np.float32) * 2     # numpy comes back as plain lists

    def refuse(self):
        from webapp.conferences.live import LiveError
        raise LiveError("busy", "a roll call is already running")

    def bad_offer(self):
        from streaming.rtc import SignallingError
        raise SignallingError("bad_sdp", "not an offer")

    def crash(self):
        raise KeyError("something internal")

    def slow(self):
        self.release.wait(10)
        return "late"

    def secret(self):
        return "never served"


METHODS = frozenset({"add", "vector", "refuse", "bad_offer", "crash", "slow"})


@pytest.fixture
def served(redis_url):
    import redis
    redis.Redis.from_url(redis_url).flushall()
    target = Target()
    server = RpcServer(redis_url, {"t": (target, METHODS)}, threads=4).start()
    yield target, RemoteService(RpcClient(redis_url, timeout_s=5.0), "t", METHODS)
    target.release.set()
    server.stop()


def test_calls_return_plain_results(served):
    target, remote = served
    assert remote.add(2, b=3) == 5
    assert remote.vector([1.5, -2.0]) == [3.0, -4.0]
    assert target.calls == [("add", 2, 3)]


def test_known_errors_come_back_as_the_same_type_with_their_code(served):
    from streaming.rtc import SignallingError
    from webapp.conferences.live import LiveError

    _, remote = served
    with pytest.raises(LiveError) as live:
        remote.refuse()
    assert (live.value.code, live.value.message) == ("busy", "a roll call is already running")
    with pytest.raises(SignallingError) as signalling:
        remote.bad_offer()
    assert signalling.value.code == "bad_sdp"
    with pytest.raises(MediaError) as other:
        remote.crash()
    assert other.value.code == "media_error" and not isinstance(other.value, MediaUnavailable)


def test_only_listed_methods_are_callable(served, redis_url):
    _, remote = served
    with pytest.raises(AttributeError):
        remote.secret      # not even a call is made
    raw = RpcClient(redis_url, timeout_s=5.0)
    with pytest.raises(MediaError) as refused:
        raw.call("t", "secret")
    assert refused.value.code == "unknown_method"
    with pytest.raises(MediaError):
        raw.call("t", "__init__")
    with pytest.raises(MediaError):
        raw.call("elsewhere", "add", 1)


def test_an_absent_media_process_is_unavailable_within_the_timeout(redis_url):
    remote = RemoteService(RpcClient(redis_url, timeout_s=0.5), "t", METHODS)
    started = time.monotonic()
    with pytest.raises(MediaUnavailable):
        remote.add(1)
    assert time.monotonic() - started < 2.0


def test_a_request_whose_caller_gave_up_is_not_carried_out_later(redis_url):
    """A media worker that comes back must not replay stale requests (a stale camera offer
    would open a stream nobody answers): here the request went to a worker that had just died
    (its heartbeat had not expired yet), and waited in its queue."""
    import redis

    from webapp.media.rpc import queue
    from webapp.media.workers import Heartbeat
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    Heartbeat(client, "0", ttl_s=30).beat()
    with pytest.raises(MediaUnavailable):
        RpcClient(redis_url, timeout_s=0.3).call("t", "add", 40, b=2)
    assert client.llen(queue("0")) == 1
    target = Target()
    server = RpcServer(redis_url, {"t": (target, METHODS)}, threads=2).start()
    try:
        assert RemoteService(RpcClient(redis_url, timeout_s=5.0), "t", METHODS).add(1) == 1
        assert target.calls == [("add", 1, 0)]
    finally:
        server.stop()


def test_a_call_may_take_longer_than_the_redis_clients_default_socket_timeout(served, redis_url):
    """redis-py gives up reading a socket after 5 s by default: a 6 s call must still be answered."""
    target, _ = served
    remote = RemoteService(RpcClient(redis_url, timeout_s=10.0), "t", METHODS)
    threading.Timer(6.0, target.release.set).start()
    assert remote.slow() == "late"


def test_a_slow_call_does_not_hold_up_the_others(served):
    target, remote = served
    late = []
    thread = threading.Thread(target=lambda: late.append(remote.slow()))
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert remote.add(1, b=1) == 2
    assert time.monotonic() - started < 1.0
    target.release.set()
    thread.join(10)
    assert late == ["late"]


def test_redis_itself_away_is_media_unavailable():
    remote = RemoteService(RpcClient(f"redis://127.0.0.1:{_free_port()}/0", timeout_s=1.0), "t", METHODS)
    with pytest.raises(MediaUnavailable):
        remote.add(1)


def test_a_remote_mode_web_app_holds_no_media_state(tmp_path, redis_url):
    """MEDIA_MODE=remote: the runner and the conference service are stand-ins; nothing of the
    camera engine or of live conferences is created in this process."""
    from webapp.app import create_app
    from webapp.conferences.live_service import live_service
    from webapp.proctor.hub import runner, running

    app = create_app({"INSTANCE_DIR": str(tmp_path / "i"), "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
                      "MEDIA_ROOT": str(tmp_path / "m"), "SECRET_KEY": "k", "SCHEDULER_ENABLED": False,
                      "MEDIA_MODE": "remote", "MEDIA_RPC_TIMEOUT_S": 0.3})
    # Set after create_app: with REDIS_URL at creation the (process-wide) Socket.IO server would
    # also switch to the Redis message queue, for the tests that run after this one.
    app.config["REDIS_URL"] = redis_url
    from sqlalchemy.exc import OperationalError

    from webapp.core.access import public

    def media_away():
        raise MediaUnavailable()

    def database_away():
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    app.add_url_rule("/_test/media", "media_away", public(media_away))
    app.add_url_rule("/_test/database", "database_away", public(database_away))
    try:
        # A piece behind the portal restarting is a 503 to retry, not a 500.
        for path, code in (("/_test/media", "media_unavailable"), ("/_test/database", "unavailable")):
            res = app.test_client().get(path, headers={"Accept": "application/json"})
            assert (res.status_code, res.get_json()["error"], res.headers["Retry-After"]) == (503, code, "5")
        assert isinstance(runner(app), RemoteService) and running(app) is runner(app)
        assert isinstance(live_service(app), RemoteService)
        with pytest.raises(MediaUnavailable):
            runner(app).hold("no-such-sitting")
        assert "proctor_runner" not in app.extensions and "conference_live" not in app.extensions
    finally:
        app.extensions["db_engine"].dispose()
