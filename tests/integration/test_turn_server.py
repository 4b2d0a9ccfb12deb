"""Real coturn (Debian `turnserver`) with the config the launcher writes
(deploy/turnserver.conf.template via webapp.deploy.turnserver_config), and credentials the portal
issues (webapp.core.turn): a real TURN allocation relays UDP to a peer, over plain UDP and over TLS;
expired, forged and borrowed credentials are refused; relays into loopback and private networks
are refused. And the pages that start WebRTC (the player, the conference room) hand each user a
credential of their own.

Runs inside scripts/in-netns.sh: coturn listens and relays on v0 (10.231.0.1) and the peer sits on
v1 (10.231.0.2), the one private address the config allows (as a real deployment allows its media
servers' own address).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import json
import random
import re
import shutil
import socket
import ssl
import subprocess
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

from deploy.stack import free_ports, stun_binding
from tests.conftest import make_course, user
from webapp.core.turn import ice_servers_for, turn_credentials
from webapp.deploy import turnserver_config

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
TURN_HOST = "10.231.0.1"    # scripts/in-netns.sh: v0
PEER_HOST = "10.231.0.2"    # scripts/in-netns.sh: v1
SECRET = "test-turn-secret-0123456789abcdef"


def _run(coro):
    """asyncio.run in a thread of its own: earlier tests in the same run (Playwright's sync API)
    may leave an event loop running in the main thread, where asyncio.run refuses to start."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(120)


def _have_address(host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, 0))
            return True
        except OSError:
            return False


@pytest.fixture(scope="module")
def turn(tmp_path_factory):
    if not (_have_address(TURN_HOST) and _have_address(PEER_HOST)):
        pytest.fail(f"needs {TURN_HOST} and {PEER_HOST}: run under scripts/in-netns.sh")
    if not shutil.which(TURNSERVER) and not (shutil.os.path.exists(TURNSERVER)):
        pytest.fail("turnserver is missing: scripts/install-system-deps.sh --test (Debian coturn)")
    folder = tmp_path_factory.mktemp("coturn")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=turn.test", "-addext", f"subjectAltName=IP:{TURN_HOST}"],
                   check=True, capture_output=True)
    port, tls_port = free_ports(TURN_HOST, 2, udp_too=True)
    low = random.randrange(30000, 60000, 100)
    conf = folder / "turnserver.conf"
    conf.write_text(turnserver_config(secret=SECRET, realm="turn.test", port=port, tls_port=tls_port, cert=cert,
                                      key=key, run_dir=folder, listening_ips=[TURN_HOST], relay_ips=[TURN_HOST],
                                      relay_ports=(low, low + 49), allowed_peers=[PEER_HOST]))
    log = open(folder / "turnserver.log", "wb")
    proc = subprocess.Popen([TURNSERVER, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while stun_binding((TURN_HOST, port)) is None:
        assert proc.poll() is None, (folder / "turnserver.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "turnserver did not answer STUN"
        time.sleep(0.1)
    # what the portal hands to browsers, from its config
    cfg = {"ICE_SERVERS": "[]", "TURN_SECRET": SECRET, "TURN_TTL_S": 600,
           "TURN_URLS": f"turn:{TURN_HOST}:{port}?transport=udp,turns:{TURN_HOST}:{tls_port}?transport=tcp"}
    yield {"cfg": cfg, "port": port, "tls_port": tls_port, "log": folder / "turnserver.log"}
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    log.close()


class Receiver(asyncio.DatagramProtocol):
    def __init__(self):
        self.received: asyncio.Queue = asyncio.Queue()
        self.errors: asyncio.Queue = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.received.put_nowait((data, addr))

    def error_received(self, exc):
        self.errors.put_nowait(exc)


def _tls_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE     # the test's own self-signed certificate
    return context


def _server(url: str) -> tuple[tuple[str, int], str, object]:
    """(address, aioice transport, ssl) of a TURN URL as the portal writes it."""
    parts = urlsplit(url)
    host, port = parts.path.rsplit(":", 1)
    transport = parts.query.split("=", 1)[1] if parts.query else "udp"
    return (host, int(port)), transport, (_tls_context() if parts.scheme == "turns" else None)


async def _allocate(url: str, username: str, password: str):
    address, transport, context = _server(url)
    return await asyncio.wait_for(create_turn_endpoint(Receiver, address, username, password, ssl=context,
                                                       transport=transport, lifetime=60), 10)


async def _relay_roundtrip(url: str, username: str, password: str) -> tuple[str, int]:
    """Allocate with these credentials, send to a UDP peer on v1 through the relay, get its answer."""
    loop = asyncio.get_running_loop()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind((PEER_HOST, 0))
    peer.setblocking(False)
    transport, receiver = await _allocate(url, username, password)
    try:
        relayed = transport.get_extra_info("sockname")
        transport.sendto(b"ping", peer.getsockname())
        data, source = await asyncio.wait_for(loop.sock_recvfrom(peer, 100), 5)
        assert data == b"ping"
        assert source == tuple(relayed)      # the peer sees the relayed address, not the client
        await loop.sock_sendto(peer, b"pong", source)
        answer, sender = await asyncio.wait_for(receiver.received.get(), 5)
        assert answer == b"pong" and sender == peer.getsockname()
        return tuple(relayed)
    finally:
        transport.close()
        peer.close()
        await asyncio.sleep(0.05)


def test_portal_credentials_allocate_and_relay_over_udp_and_tls(turn):
    servers = ice_servers_for(turn["cfg"], 42)
    entry = servers[-1]
    assert entry["username"].endswith(":42")
    udp_url, tls_url = entry["urls"]
    assert tls_url.startswith("turns:")
    relayed = _run(_relay_roundtrip(udp_url, entry["username"], entry["credential"]))
    assert relayed[0] == TURN_HOST
    relayed = _run(_relay_roundtrip(tls_url, entry["username"], entry["credential"]))
    assert relayed[0] == TURN_HOST


def _refused(url: str, username: str, password: str) -> int:
    async def attempt():
        try:
            transport, _ = await _allocate(url, username, password)
        except stun.TransactionFailed as exc:
            return exc.response.attributes["ERROR-CODE"][0]
        transport.close()
        await asyncio.sleep(0.05)
        return 0
    return _run(attempt())


def test_expired_forged_and_borrowed_credentials_are_refused(turn):
    udp_url = turn["cfg"]["TURN_URLS"].split(",")[0]
    now = time.time()
    good = turn_credentials(SECRET, 7, 600, now)
    assert _refused(udp_url, good.username, good.password) == 0     # the control: accepted
    expired = turn_credentials(SECRET, 7, 60, now - 120)             # expired a minute ago
    assert _refused(udp_url, expired.username, expired.password) == 401
    forged = turn_credentials("not-the-secret-of-this-server", 7, 600, now)
    assert _refused(udp_url, forged.username, forged.password) == 401
    # a credential is bound to its username: user 8 cannot use user 7's password, nor stretch its expiry
    assert _refused(udp_url, f"{good.expires_at}:8", good.password) == 401
    assert _refused(udp_url, f"{good.expires_at + 86400}:7", good.password) == 401


def test_relays_into_loopback_and_private_networks_are_refused(turn):
    entry = ice_servers_for(turn["cfg"], 42)[-1]

    async def attempt(target):
        transport, receiver = await _allocate(entry["urls"][0], entry["username"], entry["credential"])
        try:
            transport.sendto(b"x", target)
            exc = await asyncio.wait_for(receiver.errors.get(), 5)
            assert isinstance(exc, stun.TransactionFailed), exc
            return exc.response.attributes["ERROR-CODE"][0]
        finally:
            transport.close()
            await asyncio.sleep(0.05)

    assert _run(attempt(("127.0.0.1", 5432))) == 403        # this machine's own services
    assert _run(attempt((TURN_HOST, 22))) == 403            # the TURN host's private address
    assert _run(attempt(("192.168.1.1", 80))) == 403        # a private network


def _page_ice_servers(page: str) -> list[dict]:
    return json.loads(html.unescape(re.search(r'data-ice-servers="([^"]*)"', page).group(1)))


def _check_entry(entry: dict, user_id: int, ttl: int) -> None:
    expiry, _, who = entry["username"].partition(":")
    assert who == str(user_id)
    assert time.time() + ttl - 10 <= int(expiry) <= time.time() + ttl + 1
    digest = hmac.new(SECRET.encode(), entry["username"].encode(), hashlib.sha1).digest()
    assert entry["credential"] == base64.b64encode(digest).decode()


def test_player_and_room_pages_hand_each_user_their_own_credential(app, db, client_for):
    app.config.update(ICE_SERVERS=json.dumps([{"urls": "stun:stun.test:3478"}]), TURN_SECRET=SECRET,
                      TURN_URLS="turn:turn.test:3478?transport=udp,turns:turn.test:443?transport=tcp", TURN_TTL_S=900)
    course = make_course(app, db, assign_to=("zhangsan", "lisi"))
    for name in ("zhangsan", "lisi"):
        page = client_for(name).c.get(f"/learn/course/{course.id}").get_data(as_text=True)
        servers = _page_ice_servers(page)
        assert servers[0] == {"urls": "stun:stun.test:3478"}
        assert servers[1]["urls"] == ["turn:turn.test:3478?transport=udp", "turns:turn.test:443?transport=tcp"]
        _check_entry(servers[1], user(db, name).id, 900)
    officer = client_for("officer_zj")
    starts = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    created = officer.c.post("/conferences/new", data={"csrf_token": officer.token, "title": "TURN 测试会",
                                                        "starts_at": starts, "duration_min": "60"})
    assert created.status_code == 303, created.get_data(as_text=True)[:500]
    room = officer.c.get(created.headers["Location"].rstrip("/") + "/room").get_data(as_text=True)
    servers = _page_ice_servers(room)
    _check_entry(servers[-1], user(db, "officer_zj").id, 900)
