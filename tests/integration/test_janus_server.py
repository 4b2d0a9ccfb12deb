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


def test_a_room_notices_that_janus_restarted_and_a_new_room_works(tmp_path, client_loop):
    """kill -9 of Janus with a camera published in a room; Janus comes back (same port and
    secrets, as deploy/stack.py and systemd restart it): the room sees its session gone, ends the
    source (source_ended), answers not_running and is not healthy; a new room on the restarted
    Janus takes the camera again. Nothing raises in between."""
    import signal
    import threading

    from deploy.janus_server import JanusServer
    from streaming.conference import JanusEndpoint, JanusRoom, RoomConfig
    from streaming.rtc import SignallingError
    from tests.rtc_peers import FrameTrack, Publisher, photo_frames

    first = JanusServer(tmp_path / "janus", rtp_port_range=(35000, 35999)).start()
    server = JanusServer(tmp_path / "janus", port=first.port, rtp_port_range=(35000, 35999),
                         api_secret=first.api_secret, admin_secret=first.admin_secret, admin_key=first.admin_key)
    endpoint = JanusEndpoint(first.url, first.api_secret, first.admin_key)
    events, lock = [], threading.Lock()

    def listener(event, source_id):
        with lock:
            events.append((event, source_id))

    frames = photo_frames(320, 240, count=4)
    rooms, publishers = [], []
    try:
        room = JanusRoom("restart", RoomConfig(), listener=listener, janus=endpoint).start()
        rooms.append(room)
        publishers.append(Publisher(client_loop, FrameTrack(frames, fps=8.0)))
        publishers[-1].accept(room.publish("u1", publishers[-1].offer()))
        publishers[-1].wait_connected()
        _wait(lambda: ("source_connected", "u1") in events, 10, "source_connected")
        assert room.healthy()
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        with pytest.raises(SignallingError) as refused:   # Janus away: a clear refusal, no hang
            room.subscribe_offer("u2", "u1")
        assert refused.value.code in ("not_running", "unknown_source", "timeout")
        server.start()
        _wait(lambda: not room.healthy(), 15, "the room to see that Janus lost its session")
        _wait(lambda: ("source_ended", "u1") in events, 10, "source_ended")
        publishers.append(Publisher(client_loop, FrameTrack(frames, fps=8.0)))
        with pytest.raises(SignallingError) as gone:
            room.publish("u1", publishers[-1].offer())
        assert gone.value.code == "not_running"
        room.shutdown()      # no hang, no raise
        again = JanusRoom("restart", RoomConfig(), janus=endpoint).start()
        rooms.append(again)
        publishers.append(Publisher(client_loop, FrameTrack(frames, fps=8.0)))
        publishers[-1].accept(again.publish("u1", publishers[-1].offer()))
        publishers[-1].wait_connected()
        assert again.healthy() and "u1" in again.sources()
    finally:
        for publisher in publishers:
            publisher.close()
        for room in rooms:
            room.shutdown()
        first.stop()
        server.stop()


def _wait(predicate, timeout, what):
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
