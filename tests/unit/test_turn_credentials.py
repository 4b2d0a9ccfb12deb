"""TURN credentials in coturn's REST API format (webapp/core/turn.py), checked against computations
written here independently (and one vector computed with the openssl command line)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from webapp.core.turn import ice_servers_for, turn_credentials

SECRET = "coturn-shared-secret-2026"


def expected_password(secret: str, username: str) -> str:
    # coturn (use-auth-secret): password = base64(HMAC-SHA1(static-auth-secret, username))
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def test_openssl_vector():
    # printf '%s' '1767225600:42' | openssl dgst -sha1 -hmac 'coturn-shared-secret-2026' -binary | base64
    cred = turn_credentials(SECRET, 42, 3600, now=1767222000)
    assert cred.username == "1767225600:42"
    assert cred.password == "RL9pzwm1eZ47en1Iv/VUATkHQeg="
    assert cred.expires_at == 1767225600


@pytest.mark.parametrize("user_id,ttl,now", [(1, 60, 1_700_000_000.9), (987654, 86400, 1_800_000_000), ("7", 1, 5)])
def test_username_is_expiry_colon_user_and_password_is_its_hmac(user_id, ttl, now):
    cred = turn_credentials(SECRET, user_id, ttl, now)
    expiry, _, who = cred.username.partition(":")
    assert int(expiry) == int(now + ttl) == cred.expires_at
    assert who == str(user_id)
    assert cred.password == expected_password(SECRET, cred.username)
    assert cred.password != expected_password(SECRET + "x", cred.username)


def test_credentials_differ_by_user_time_and_secret():
    a = turn_credentials(SECRET, 1, 3600, 1000)
    assert turn_credentials(SECRET, 2, 3600, 1000).password != a.password
    assert turn_credentials(SECRET, 1, 3600, 1001).password != a.password
    assert turn_credentials("another-secret", 1, 3600, 1000).password != a.password


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        turn_credentials("", 1, 3600, 0)
    with pytest.raises(ValueError):
        turn_credentials(SECRET, 1, 0, 0)
    with pytest.raises(ValueError):
        turn_credentials(SECRET, "1:99999999999", 3600, 0)   # a user id may not forge another expiry


def test_ice_servers_for_adds_a_signed_turn_entry():
    cfg = {"ICE_SERVERS": json.dumps([{"urls": "stun:stun.example.org:3478"}]), "TURN_SECRET": SECRET,
           "TURN_URLS": "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:443?transport=tcp",
           "TURN_TTL_S": 600}
    servers = ice_servers_for(cfg, 42, now=1_000_000)
    assert servers[0] == {"urls": "stun:stun.example.org:3478"}
    turn = servers[1]
    assert turn["urls"] == ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:443?transport=tcp"]
    assert turn["username"] == "1000600:42"
    assert turn["credential"] == expected_password(SECRET, "1000600:42")
    json.dumps(servers)   # what the pages hand to the browser


def test_without_a_secret_only_the_configured_servers():
    cfg = {"ICE_SERVERS": "[]", "TURN_SECRET": "", "TURN_URLS": "turn:turn.example.org:3478", "TURN_TTL_S": 600}
    assert ice_servers_for(cfg, 1) == []
    cfg = {"ICE_SERVERS": "[]", "TURN_SECRET": SECRET, "TURN_URLS": "", "TURN_TTL_S": 600}
    assert ice_servers_for(cfg, 1) == []


def test_default_ttl_is_an_hour(tmp_path, monkeypatch):
    for name in ("TURN_SECRET", "TURN_URLS", "TURN_TTL_S"):
        monkeypatch.delenv(name, raising=False)
    from webapp.config import from_env
    cfg = from_env(INSTANCE_DIR=str(tmp_path))
    assert cfg["TURN_TTL_S"] == 3600 and cfg["TURN_SECRET"] == "" and cfg["TURN_URLS"] == ""
    cfg.update(TURN_SECRET=SECRET, TURN_URLS="turn:h:3478")
    assert ice_servers_for(cfg, 5, now=0)[-1]["username"] == "3600:5"
