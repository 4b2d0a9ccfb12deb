"""The MediaRoom contract, one set of tests for every conference media backend: aiortc rooms
(streaming.conference.AiortcRoom) and Janus VideoRoom rooms (streaming.conference.JanusRoom on
a private Janus started by deploy/janus_server.py), with real aiortc peers. Subscriptions use
the server-offer flow both backends have (subscribe_offer / subscribe_answer). Run under
scripts/in-netns.sh (WebRTC traffic and Janus stay in a private network namespace)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from bench.conference import MarkerTrack, view_offered
from streaming.conference import AiortcRoom, JanusEndpoint, JanusRoom, MediaRoom, RoomConfig
from streaming.rtc import SignallingError
from tests.rtc_peers import AvPublisher, Publisher, ToneTrack, photo_frames

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("webrtc_network")]

BACKENDS = ("aiortc", "janus")


@pytest.fixture(scope="module")
def base():
    return photo_frames(320, 240, count=8, photo="astronaut")


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def make_room(backend, request):
    rooms = []
    options = {}
    if backend == "janus":
        server = request.getfixturevalue("janus_server")
        options = {"janus": JanusEndpoint(server.url, server.api_secret, server.admin_key)}
    room_class = {"aiortc": AiortcRoom, "janus": JanusRoom}[backend]

    def make(name, listener=None, **overrides):
        room = room_class(name, RoomConfig(**{"ice_servers": [], **overrides}), listener=listener, **options).start()
        rooms.append(room)
        return room
    yield make
    for room in reversed(rooms):
        room.shutdown()


def publish(room, participant_id, track, client_loop, audio_track=None) -> Publisher:
    publisher = Publisher(client_loop, track) if audio_track is None else AvPublisher(client_loop, track, audio_track)
    publisher.accept(room.publish(participant_id, publisher.offer()))
    publisher.wait_connected()
    return publisher


def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def correlation(a, b) -> float:
    a = a.astype(np.float64).ravel() - a.mean()
    b = b.astype(np.float64).ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def looks_like(rgb, base) -> float:
    """How well a received frame matches the sent photo (below the marker rows)."""
    return max(correlation(rgb[40:], f[40:]) for f in base)


def _code(call, *args) -> str:
    with pytest.raises(SignallingError) as err:
        call(*args)
    return err.value.code


class Events:
    def __init__(self):
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, event, source_id):
        with self.lock:
            self.seen.append((event, source_id))

    def events(self):
        with self.lock:
            return list(self.seen)


class Taps:
    def __init__(self):
        self.got: list[tuple[str, float, np.ndarray]] = []
        self.lock = threading.Lock()

    def __call__(self, source_id, at, rgb):
        with self.lock:
            self.got.append((source_id, at, rgb))

    def count(self):
        with self.lock:
            return len(self.got)

    def rate(self, since: int) -> float:
        with self.lock:
            stamps = [at for _, at, _ in self.got[since:]]
        return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def test_backends_are_media_rooms():
    assert issubclass(AiortcRoom, MediaRoom) and issubclass(JanusRoom, MediaRoom)
    assert "server_offer" in AiortcRoom.subscribe_modes and "client_offer" in AiortcRoom.subscribe_modes
    assert JanusRoom.subscribe_modes == ("server_offer",)


def test_publish_and_subscribe_deliver_the_photo(make_room, client_loop, base):
    events = Events()
    room = make_room("province", listener=events)
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    assert room.sources() == ["host"]
    viewers = [view_offered(room, f"v{i}", "host", client_loop, read_markers=True) for i in range(2)]
    for viewer in viewers:
        viewer.wait_frames(20, timeout=15)
        assert viewer.size == (320, 240)
        with viewer.lock:
            rgb = viewer.last
            markers = [m for _, m in viewer.markers]
        assert looks_like(rgb, base) > 0.9
        assert all(b > a for a, b in zip(markers[-10:], markers[-9:])), markers[-10:]
        assert markers[-1] < host.track.sent
    assert sorted(room.stats()["subscriptions"]) == ["v0->host", "v1->host"]
    wait_until(lambda: ("source_connected", "host") in events.events(), 5, "source_connected")
    room.close_subscription("v0", "host")
    assert list(room.stats()["subscriptions"]) == ["v1->host"]
    for peer in (*viewers, host):
        peer.close()


def test_mute_stops_audio_and_video_goes_on(make_room, client_loop, base):
    room = make_room("room")
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop, audio_track=ToneTrack())
    listener = view_offered(room, "listener", "host", client_loop, audio=True)
    deaf = view_offered(room, "deaf", "host", client_loop)     # asked for video only
    wait_until(lambda: listener.audio_frames >= 25, 15, "audio frames")
    assert listener.audio_loud_frames >= 10          # the tone, not silence
    deaf.wait_frames(10)
    assert deaf.audio_frames == 0

    room.set_muted("host", True)
    time.sleep(0.4)   # what was already on the wire
    heard, seen = listener.audio_frames, listener.frames
    time.sleep(1.0)
    assert listener.audio_frames == heard
    assert listener.frames >= seen + 8, "video goes on"
    assert room.stats()["sources"]["host"]["muted"] is True
    room.set_muted("host", False)
    wait_until(lambda: listener.audio_frames >= heard + 20, 5, "audio after unmute")
    assert _code(room.set_muted, "nobody", True) == "unknown_source"
    for peer in (listener, deaf, host):
        peer.close()


def test_close_ends_subscribers_with_source_ended(make_room, client_loop, base):
    events = Events()
    room = make_room("room", listener=events)
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    viewer = view_offered(room, "viewer", "host", client_loop)
    viewer.wait_frames(10, timeout=15)
    wait_until(lambda: ("source_connected", "host") in events.events(), 5, "source_connected")
    room.close("host")
    wait_until(lambda: ("source_ended", "host") in events.events(), 5, "source_ended")
    assert room.sources() == [] and room.stats()["subscriptions"] == {}
    wait_until(lambda: viewer.connection_state() in ("closed", "failed"), 10, "the subscriber's connection to end")
    assert events.events().count(("source_ended", "host")) == 1
    assert _code(room.close, "host") == "unknown_stream"
    # A publisher who hangs up ends their source too.
    again = publish(room, "again", MarkerTrack(base, fps=15), client_loop)
    wait_until(lambda: ("source_connected", "again") in events.events(), 5, "source_connected")
    again.close()
    wait_until(lambda: ("source_ended", "again") in events.events(), 10, "source_ended on hang-up")
    viewer.close()
    host.close()


def test_relay_across_three_levels(make_room, client_loop, base):
    events = Events()
    province, city = make_room("province"), make_room("city", listener=events)
    township = make_room("township", listener=events)
    host = publish(province, "host", MarkerTrack(base, fps=15, value=lambda n: 1000 + n), client_loop,
                   audio_track=ToneTrack())
    assert city.relay_from(province, "host", "province-host") == "province-host"
    assert township.relay_from(city, "province-host", "province-host") == "province-host"
    assert city.sources() == ["province-host"] and township.sources() == ["province-host"]
    viewers = [view_offered(room, "villager", "province-host", client_loop, read_markers=True, audio=True)
               for room in (city, township)]
    for viewer in viewers:
        viewer.wait_frames(15, timeout=15)
        wait_until(lambda viewer=viewer: viewer.audio_frames >= 25, 10, "relayed audio")
        with viewer.lock:
            markers = [m for _, m in viewer.markers]
            rgb = viewer.last
        assert all(1000 <= m < 1000 + host.track.sent for m in markers), markers[:20]
        assert markers == sorted(markers) and len(set(markers)) == len(markers)
        assert looks_like(rgb, base) > 0.85
    township.request_keyframe("province-host")   # reaches the province's publisher; no error
    assert _code(city.relay_from, province, "host", "province-host") == "exists"
    assert _code(city.relay_from, province, "nobody", "x") == "unknown_source"
    assert _code(city.relay_from, city, "province-host", "again") == "bad_stream_id"
    # Stopping the city's relay ends the township's, which came through it.
    city.stop_relay("province-host")
    wait_until(lambda: township.sources() == [], 10, "the relay below to end")
    assert _code(city.stop_relay, "province-host") == "unknown_source"
    # Set up again, and the host leaving ends the relays down the chain.
    city.relay_from(province, "host", "province-host")
    township.relay_from(city, "province-host", "province-host")
    late = view_offered(township, "late", "province-host", client_loop, read_markers=True)
    late.wait_frames(10, timeout=15)
    province.close("host")
    wait_until(lambda: township.sources() == [] and city.sources() == [], 10, "relays to end")
    wait_until(lambda: events.events().count(("source_ended", "province-host")) == 4, 5, "source_ended x4")
    for peer in (*viewers, late, host):
        peer.close()


def test_tap_delivers_decoded_frames_at_most_at_its_rate(make_room, client_loop, base):
    room = make_room("room")
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    taps = Taps()
    room.tap("host", taps, 2)
    wait_until(lambda: taps.count() >= 5, 8, "samples at 2 fps")
    rate = taps.rate(1)
    assert 0.8 <= rate <= 2.6, rate
    source_id, at, rgb = taps.got[-1]
    assert source_id == "host" and abs(time.time() - at) < 2
    assert rgb.dtype == np.uint8 and rgb.shape == (240, 320, 3)
    assert looks_like(rgb, base) > 0.9
    room.tap("host", taps, 6)   # a liveness challenge: faster
    mark = taps.count()
    wait_until(lambda: taps.count() >= mark + 11, 5, "samples at 6 fps")
    assert 2.0 * rate <= taps.rate(mark + 1) <= 7.2
    assert room.stats()["sources"]["host"]["tap"]["fps"] == 6
    room.untap("host")
    time.sleep(0.5)
    mark = taps.count()
    time.sleep(0.7)
    assert taps.count() == mark and room.stats()["sources"]["host"]["tap"] is None
    assert _code(room.tap, "nobody", taps, 2) == "unknown_source"
    host.close()


def _offer(client_loop, *kinds, direction="sendonly") -> str:
    async def make():
        from aiortc import RTCConfiguration, RTCPeerConnection
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        for kind in kinds:
            pc.addTransceiver(kind, direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp
    return client_loop.run(make())


def test_bad_signalling_is_refused_with_the_documented_codes(make_room, client_loop, base):
    room = make_room("room", max_subscriptions_per_participant=1)
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    viewer = view_offered(room, "viewer", "host", client_loop)
    viewer.wait_frames(5, timeout=15)
    send_offer = _offer(client_loop, "video")
    for bad in ("this is not SDP", "", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video x\r\n",
                send_offer.replace("a=setup:actpass", "a=setup:active")):
        assert _code(room.publish, "x", bad) == "bad_sdp"
    assert _code(room.publish, "x", _offer(client_loop, "audio")) == "no_video"
    assert _code(room.publish, "x", _offer(client_loop, "video", direction="recvonly")) == "bad_sdp"
    assert _code(room.publish, "host", send_offer) == "exists"
    assert _code(room.publish, "", send_offer) == "bad_stream_id"
    assert _code(room.subscribe_offer, "x", "nobody") == "unknown_source"
    assert _code(room.subscribe_offer, "viewer", "host") == "exists"
    assert _code(room.subscribe_answer, "x", "host", "v=0\r\n") == "unknown_stream"
    room.subscribe_offer("garbled", "host")
    assert _code(room.subscribe_answer, "garbled", "host", "this is not SDP") == "bad_sdp"
    assert "garbled->host" not in room.stats()["subscriptions"]    # dropped with its bad answer
    assert _code(room.request_keyframe, "nobody") == "unknown_source"
    assert _code(room.close, "nobody") == "unknown_stream"
    assert _code(room.close_subscription, "nobody", "host") == "unknown_stream"
    if "client_offer" not in room.subscribe_modes:
        assert _code(room.subscribe, "x", "host", _offer(client_loop, "video", direction="recvonly")) == "unsupported"
    # Nothing of it disturbed the room.
    assert room.sources() == ["host"] and list(room.stats()["subscriptions"]) == ["viewer->host"]
    frames = viewer.frames
    viewer.wait_frames(frames + 10)
    viewer.close()
    host.close()


def test_an_unanswered_offer_expires(make_room, client_loop, base):
    room = make_room("room", connect_timeout_s=3.0)
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    room.subscribe_offer("idle", "host")
    assert "idle->host" in room.stats()["subscriptions"]
    wait_until(lambda: "idle->host" not in room.stats()["subscriptions"], 8, "the unanswered offer to expire")
    assert room.sources() == ["host"]
    host.close()


def test_caps_close_subscription_and_unpublish(make_room, client_loop, base):
    events = Events()
    room = make_room("room", listener=events, max_subscriptions_per_participant=2)
    publishers = [publish(room, f"p{i}", MarkerTrack(base, fps=15), client_loop) for i in range(3)]
    room.subscribe_offer("p0", "p1")
    room.subscribe_offer("p1", "p0")
    room.subscribe_offer("w", "p0")
    room.subscribe_offer("w", "p1")
    assert _code(room.subscribe_offer, "w", "p2") == "too_many_streams"   # the cap is per participant
    room.close_subscription("w", "p0")
    assert sorted(room.stats()["subscriptions"]) == ["p0->p1", "p1->p0", "w->p1"]
    assert _code(room.close_subscription, "w", "p0") == "unknown_stream"
    room.subscribe_offer("w", "p2")                                        # room again under the cap
    # p0's camera ends (and who watched it); p0 still watches p1
    room.unpublish("p0")
    assert sorted(room.sources()) == ["p1", "p2"]
    assert sorted(room.stats()["subscriptions"]) == ["p0->p1", "w->p1", "w->p2"]
    assert _code(room.unpublish, "p0") == "unknown_stream"
    wait_until(lambda: ("source_ended", "p0") in events.events(), 5, "source_ended")
    assert ("source_ended", "p1") not in events.events()
    # A new camera at once under the same id (a device change), and it is watched again.
    publishers.append(publish(room, "p0", MarkerTrack(base, fps=15), client_loop))
    viewer = view_offered(room, "p1", "p0", client_loop)
    viewer.wait_frames(5, timeout=15)
    for peer in (*publishers, viewer):
        peer.close()
