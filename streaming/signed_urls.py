"""Expiring media URLs that nginx can check without asking the portal.

Production deployments let nginx send course media (sendfile, ranges, ETag) and keep
Python out of the byte path. The portal authorises a learner for a course once, when
the player page loads, and hands out a URL prefix

    /smedia/<user>/<expires>/<token>/<course folder>/...

in which every relative HLS path (renditions, segments) stays valid. The token is
nginx's `secure_link_md5` of "<expires><folder><user> <key>", so the stock
ngx_http_secure_link_module (in Debian's nginx packages) verifies it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac


def token(key: str, user_id: int, folder: str, expires: int) -> str:
    digest = hashlib.md5(f"{expires}{folder}{user_id} {key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def prefix(base: str, key: str, user_id: int, folder: str, expires: int) -> str:
    return f"{base.rstrip('/')}/{user_id}/{expires}/{token(key, user_id, folder, expires)}/{folder}/"


def verify(key: str, user_id: int, folder: str, expires: int, given: str, now: float) -> bool:
    """The same check nginx makes (used by tests and by anything without nginx)."""
    return now <= expires and hmac.compare_digest(token(key, user_id, folder, expires), given)


def derive_key(secret_key: str) -> str:
    """A signing key of its own, so nginx never holds the session secret."""
    return hmac.new(secret_key.encode(), b"media-url-signing", hashlib.sha256).hexdigest()
