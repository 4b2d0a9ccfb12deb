"""Time-limited TURN credentials for browsers (coturn's REST API scheme, `use-auth-secret`).

The portal and coturn share one secret (TURN_SECRET here, `static-auth-secret` in
deploy/turnserver.conf.template). A signed-in user's page gets

    username = "<expiry unix time>:<user id>"
    password = base64(HMAC-SHA1(secret, username))

coturn recomputes the password from the username and refuses it once the expiry has passed, so a
credential copied out of a page is good for TURN_TTL_S at most, and names whose it was.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import NamedTuple


class TurnCredentials(NamedTuple):
    username: str
    password: str
    expires_at: int


def turn_credentials(secret: str, user_id: int | str, ttl_s: float, now: float) -> TurnCredentials:
    """The REST-API credential of `user_id`, valid until `now + ttl_s` (whole seconds)."""
    if not secret:
        raise ValueError("turn_credentials: no shared secret")
    if ttl_s <= 0:
        raise ValueError("turn_credentials: ttl_s must be positive")
    user = str(user_id)
    if not user or ":" in user:
        raise ValueError("turn_credentials: the user id may not be empty or hold ':'")
    expires_at = int(now + ttl_s)
    username = f"{expires_at}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredentials(username, base64.b64encode(digest).decode("ascii"), expires_at)


def turn_urls(cfg) -> list[str]:
    return [url.strip() for url in (cfg.get("TURN_URLS") or "").split(",") if url.strip()]


def ice_servers_for(cfg, user_id: int | str, now: float | None = None) -> list[dict]:
    """The RTCIceServer list for `user_id`'s browser: ICE_SERVERS (a JSON list, STUN or fixed TURN
    entries) plus, when TURN_SECRET and TURN_URLS are set, one entry with the TURN_URLS and a
    credential of this user valid for TURN_TTL_S."""
    servers = json.loads(cfg.get("ICE_SERVERS") or "[]")
    urls = turn_urls(cfg)
    if cfg.get("TURN_SECRET") and urls:
        now = time.time() if now is None else now
        cred = turn_credentials(cfg["TURN_SECRET"], user_id, float(cfg.get("TURN_TTL_S") or 3600), now)
        servers.append({"urls": urls, "username": cred.username, "credential": cred.password})
    return servers
