"""A media worker for tests/integration/test_media_workers.py: a real process with an RpcServer
under a worker id, serving `Where` (it says which worker answered). Not a test module.

    python -m tests.integration.media_worker_stub REDIS_URL WORKER_ID
"""
from __future__ import annotations

import signal
import sys
import threading

from webapp.media.rpc import RpcServer

METHODS = frozenset({"where", "count"})


class Where:
    def __init__(self, worker: str):
        self.worker = worker
        self.keys: set = set()

    def where(self, key) -> str:
        self.keys.add(key)
        return self.worker

    def count(self) -> int:
        """Keys this worker has served: what the web tier's fan-out adds up."""
        return len(self.keys)


def main(redis_url: str, worker: str) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = RpcServer(redis_url, {"t": (Where(worker), METHODS)}, worker=worker, threads=4)
    if not server.heartbeat.wait_for_earlier():
        print(f"worker id {worker} is taken", flush=True)
        return 2
    server.start()
    print("ready", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
