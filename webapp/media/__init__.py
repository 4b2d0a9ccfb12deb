"""The media workers (`python -m webapp.media --worker ID`) and the RPC the web tier reaches them by.

In production (MEDIA_MODE=remote) the web processes hold no media state: camera engines, check
runners and live conferences live in the media workers (one per core), and `webapp.proctor.runner()`
and `webapp.conferences.live_service()` hand the web tier RPC stand-ins (webapp.media.rpc) that
send each call to the worker of its sitting or conference (webapp.media.workers).
"""
from __future__ import annotations

import threading

from flask import Flask

_lock = threading.Lock()


def client(app: Flask):
    """This app's RPC client (one per process), created on first use."""
    from webapp.media.rpc import RpcClient

    with _lock:
        found = app.extensions.get("media_rpc")
        if found is None:
            if not app.config["REDIS_URL"]:
                raise RuntimeError("MEDIA_MODE=remote needs REDIS_URL (the media RPC runs over Redis)")
            found = RpcClient(app.config["REDIS_URL"], timeout_s=app.config["MEDIA_RPC_TIMEOUT_S"])
            app.extensions["media_rpc"] = found
        return found
