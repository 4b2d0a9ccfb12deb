"""deploy/janus_server.py: a private Janus whose API only the portal can use. Real Janus (Debian
package `janus`), started inside the test network namespace (scripts/in-netns.sh)."""
from __future__ import annotations

import secrets

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("webrtc_network")]


def _post(url, body):
    return requests.post(url, json={"transaction": secrets.token_hex(6), **body}, timeout=5).json()


def _videoroom(server, body, api_secret=None):
    """One synchronous VideoRoom request on a fresh session and handle: its plugin data."""
    apisecret = api_secret or server.api_secret
    session = _post(server.url, {"janus": "create", "apisecret": apisecret})["data"]["id"]
    try:
        handle = _post(f"{server.url}/{session}", {"janus": "attach", "plugin": "janus.plugin.videoroom",
                                                   "apisecret": apisecret})["data"]["id"]
        reply = _post(f"{server.url}/{session}/{handle}", {"janus": "message", "body": body, "apisecret": apisecret})
        return reply["plugindata"]["data"]
    finally:
        _post(f"{server.url}/{session}", {"janus": "destroy", "apisecret": apisecret})


def test_only_the_portal_may_use_janus(janus_server):
    info = janus_server.info()
    assert info["version_string"] == "1.1.2" or info["version"] >= 1001
    assert list(info["plugins"]) == ["janus.plugin.videoroom"]
    assert list(info["transports"]) == ["janus.transport.http"]
    # Without the API secret: no session.
    refused = _post(janus_server.url, {"janus": "create"})
    assert refused["janus"] == "error" and refused["error"]["code"] == 403
    assert _post(janus_server.url, {"janus": "create", "apisecret": "guess"})["janus"] == "error"
    # With it but without the VideoRoom admin key: no room, no forwarding.
    assert "error_code" in _videoroom(janus_server, {"request": "create", "room": "x"})
    assert "error_code" in _videoroom(janus_server, {"request": "create", "room": "x", "admin_key": "guess"})
    created = _videoroom(janus_server, {"request": "create", "room": "locked", "admin_key": janus_server.admin_key,
                                        "secret": "s", "pin": "p", "is_private": True})
    assert created["videoroom"] == "created", created
    try:
        forward = {"request": "rtp_forward", "room": "locked", "publisher_id": "nobody", "secret": "s",
                   "host": "127.0.0.1", "streams": [{"mid": "0", "port": 5004}]}
        assert "admin_key" in _videoroom(janus_server, forward).get("error", "")
        # The rooms are private: nobody lists them or learns who is inside.
        listed = _videoroom(janus_server, {"request": "list"})
        assert all(room["room"] != "locked" for room in listed.get("list", []))
    finally:
        _videoroom(janus_server, {"request": "destroy", "room": "locked", "secret": "s"})
    # The config folder holds the secrets: private.
    assert (janus_server.run_dir.stat().st_mode & 0o077) == 0
    assert janus_server.api_secret in (janus_server.config_dir / "janus.jcfg").read_text()
