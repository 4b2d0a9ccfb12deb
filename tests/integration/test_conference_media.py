"""Conference media rooms (streaming.conference) against real aiortc peers: encode
once and fan packets out, a three-level cascade, keyframes on request, refused
signalling, source events, frame taps, lazy encoding, per-participant limits. Run under scripts/in-netns.sh (WebRTC traffic stays in a private
network namespace; aioice ignores 127.0.0.1)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from bench.conference import MarkerTrack, Viewer, read_marker, view
from streaming.conference import AiortcRoom, MediaRoom, RoomConfig
from streaming.rtc import SignallingError
from tests.rtc_peers import AvPublisher, Publisher, ToneTrack, photo_frames

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("webrtc_network")]


@pytest.fixture(scope="module")
def base():
    return photo_frames(320, 240, count=8, photo="astronaut")


@pytest.fixture
def make_room():
    rooms = []

    def make(name, listener=None, **overrides):
        room = AiortcRoom(name, RoomConfig(**{"ice_servers": [], **overrides}), listener=listener).start()
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


def test_aiortc_room_is_a_media_room():
    assert issubclass(AiortcRoom, MediaRoom)


def test_fan_out_encodes_once(make_room, client_loop, base):
    room = make_room("province")
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    viewers = [view(room, f"v{i}", "host", client_loop, read_markers=True) for i in range(5)]
    for viewer in viewers:
        viewer.wait_frames(20, timeout=15)
    stats = room.stats()
    source = stats["sources"]["host"]
    assert stats["encoders"] == 1 and source["encoders"] == 1 and source["encoders_created"] == 1
    assert source["subscribers"] == 5
    # One encode per frame received, whatever the number of subscribers.
    assert source["encodes"] <= source["frames_in"] <= source["encodes"] + 2
    assert source["packets_out"] >= 20
    sent = [stats["subscriptions"][f"v{i}->host"]["packets_sent"] for i in range(5)]
    assert all(s >= 20 for s in sent), sent
    for viewer in viewers:
        assert viewer.size == (320, 240)
        with viewer.lock:
            rgb = viewer.last
            markers = [m for _, m in viewer.markers]
        # The picture is the photo (below the marker rows), and the markers count up.
        assert max(correlation(rgb[40:], f[40:]) for f in base) > 0.9
        assert all(b > a for a, b in zip(markers[-10:], markers[-9:])), markers[-10:]
        assert markers[-1] < host.track.sent
    for viewer in viewers:
        viewer.close()
    host.close()


def test_three_level_cascade_carries_the_marker(make_room, client_loop, base):
    province, city, township = make_room("province"), make_room("city"), make_room("township")
    host = publish(province, "host", MarkerTrack(base, fps=15, value=lambda n: 1000 + n), client_loop)
    assert city.relay_from(province, "host", "province-host") == "province-host"
    township.relay_from(city, "province-host", "province-host")
    assert township.sources() == ["province-host"]
    viewer = view(township, "villager", "province-host", client_loop, read_markers=True)
    viewer.wait_frames(15, timeout=15)
    with viewer.lock:
        markers = [m for _, m in viewer.markers]
    assert all(1000 <= m < 1000 + host.track.sent for m in markers), markers[:20]
    assert markers == sorted(markers) and len(set(markers)) == len(markers)
    # Only the province encodes; the other levels forward packets.
    assert province.stats()["encoders"] == 1
    assert city.stats()["encoders"] == 0 and township.stats()["encoders"] == 0
    assert city.stats()["sources"]["province-host"]["packets_out"] > 0
    # Each room: its own participants plus one upstream relay; the province only sees the city.
    assert province.stats()["sources"]["host"]["subscribers"] == 1
    assert city.stats()["sources"]["province-host"]["subscribers"] == 1
    # A keyframe request in the township reaches the province's encoder.
    before = province.stats()["sources"]["host"]
    township.request_keyframe("province-host")
    wait_until(lambda: province.stats()["sources"]["host"]["keyframes"] > before["keyframes"], 5, "a keyframe")
    assert province.stats()["sources"]["host"]["keyframe_requests"].get("relay", 0) >= 1
    # When the host leaves, the relayed sources end down the chain.
    province.close("host")
    wait_until(lambda: township.sources() == [] and city.sources() == [], 5, "relays to end")
    viewer.close()
    host.close()


def test_upward_relay_of_a_promoted_speaker(make_room, client_loop, base):
    city, province = make_room("city"), make_room("province")
    speaker = publish(city, "speaker", MarkerTrack(base, fps=15, value=lambda n: 7000 + n), client_loop,
                      audio_track=ToneTrack())
    province.relay_from(city, "speaker", "city-speaker")
    viewer = view(province, "officer", "city-speaker", client_loop, read_markers=True, audio=True)
    viewer.wait_frames(10, timeout=15)
    wait_until(lambda: viewer.audio_frames >= 20, 5, "relayed audio")
    with viewer.lock:
        assert all(7000 <= m < 7000 + speaker.track.sent for _, m in viewer.markers)
    assert province.stats()["audio_encoders"] == 0   # in-process: packets only
    # Taps on an in-process relay decode its packets (only while tapped).
    taps = Taps()
    province.tap("city-speaker", taps, 5)
    wait_until(lambda: taps.count() >= 3, 5, "tapped frames of the relay")
    assert max(correlation(taps.got[-1][2][40:], f[40:]) for f in base) > 0.85
    # Muted at its own room, the speaker is silent upstream too.
    city.set_muted("speaker", True)
    time.sleep(0.3)
    heard = viewer.audio_frames
    time.sleep(0.8)
    assert viewer.audio_frames == heard
    viewer.close()
    speaker.close()


def test_pli_from_a_late_subscriber_forces_a_keyframe(make_room, client_loop, base):
    room = make_room("room", keyframe_interval_s=0.0)
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    early = view(room, "early", "host", client_loop)
    early.wait_frames(10)
    time.sleep(1.0)
    settled = room.stats()["sources"]["host"]
    time.sleep(1.0)
    assert room.stats()["sources"]["host"]["keyframes"] == settled["keyframes"], "no keyframes unless asked"

    late = view(room, "late", "host", client_loop)
    late.wait_frames(3)   # the late subscriber got a picture promptly: its join forced a keyframe
    joined = room.stats()["sources"]["host"]
    assert joined["keyframes"] > settled["keyframes"]
    assert joined["keyframe_requests"].get("new_subscriber", 0) >= 2
    time.sleep(0.5)
    before = room.stats()["sources"]["host"]
    late.send_pli()
    wait_until(lambda: room.stats()["sources"]["host"]["keyframes"] > before["keyframes"], 5, "the PLI's keyframe")
    after = room.stats()
    assert after["sources"]["host"]["keyframe_requests"].get("pli", 0) >= 1
    assert after["subscriptions"]["late->host"]["keyframe_requests"] >= 1
    assert after["encoders"] == 1 and after["sources"]["host"]["encoders_created"] == 1
    frames = early.frames
    early.wait_frames(frames + 5)
    for peer in (early, late, host):
        peer.close()


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


def _code(call, *args) -> str:
    with pytest.raises(SignallingError) as err:
        call(*args)
    return err.value.code


def test_bad_signalling_is_refused_without_disturbing_the_room(make_room, client_loop, base):
    room = make_room("room")
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    viewer = view(room, "viewer", "host", client_loop)
    viewer.wait_frames(5)
    send_offer = _offer(client_loop, "video")
    recv_offer = _offer(client_loop, "video", direction="recvonly")

    for bad in ("this is not SDP", "", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video x\r\n",
                viewer.pc.localDescription.sdp.replace("a=setup:actpass", "a=setup:active"),
                send_offer + "".join(f"a=x-pad:{i:06d}{'z' * 90}\r\n" for i in range(220))):
        assert _code(room.publish, "x", bad) == "bad_sdp"
        assert _code(room.subscribe, "x", "host", bad) == "bad_sdp"
    assert _code(room.publish, "x", _offer(client_loop, "audio")) == "no_video"
    assert _code(room.subscribe, "x", "host", _offer(client_loop, "audio", direction="recvonly")) == "no_video"
    assert _code(room.publish, "x", recv_offer) == "bad_sdp"          # does not send
    assert _code(room.subscribe, "x", "host", send_offer) == "bad_sdp"  # does not receive
    assert _code(room.publish, "x", _offer(client_loop, "video", "video")) == "bad_sdp"
    assert _code(room.publish, "x", _offer(client_loop, "video", "audio", "audio")) == "bad_sdp"
    assert _code(room.publish, "x", send_offer.replace("VP8/90000", "XYZ/90000").replace(
        "H264/90000", "XYZ/90000")) == "bad_sdp"
    assert _code(room.subscribe, "x", "host", _offer(client_loop, "video", "audio")) == "bad_sdp"  # sends
    assert _code(room.publish, "host", send_offer) == "exists"
    assert _code(room.subscribe, "viewer", "host", recv_offer) == "exists"
    assert _code(room.subscribe, "x", "nobody", recv_offer) == "unknown_source"
    assert _code(room.publish, "", send_offer) == "bad_stream_id"
    assert _code(room.request_keyframe, "nobody") == "unknown_source"
    assert _code(room.close, "nobody") == "unknown_stream"
    assert _code(room.relay_from, room, "host", "again") == "bad_stream_id"

    stats = room.stats()
    assert list(stats["sources"]) == ["host"] and list(stats["subscriptions"]) == ["viewer->host"]
    frames = viewer.frames
    viewer.wait_frames(frames + 10)
    viewer.close()
    host.close()


def test_a_slow_subscriber_drops_packets_without_holding_up_others(make_room, client_loop, base):
    room = make_room("room", queue_packets=4)
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    fast = view(room, "fast", "host", client_loop)
    slow = Viewer(client_loop)
    slow.accept(room.subscribe("slow", "host", slow.offer()))
    fast.wait_frames(5)
    slow.wait_frames(3)
    # Stall the slow subscriber's sender: its track is not read for a while.
    sub_track = next(t.sender.track for t in _server_transceivers(room, ("slow", "host")))
    original = sub_track.recv

    async def stalled():
        import asyncio
        await asyncio.sleep(2.0)
        sub_track.recv = original
        return await original()
    sub_track.recv = stalled
    frames = fast.frames
    time.sleep(2.5)
    assert fast.frames >= frames + 25, "the fast subscriber keeps its frame rate"
    stats = room.stats()
    assert stats["subscriptions"]["slow->host"]["dropped"] > 0
    assert stats["sources"]["host"]["keyframe_requests"].get("slow_subscriber", 0) >= 1
    frames = slow.frames
    slow.wait_frames(frames + 5, timeout=5)   # it recovers at a keyframe
    for peer in (fast, slow, host):
        peer.close()


def _server_transceivers(room, key):
    async def get():
        return room._subs[key].pc.getTransceivers()
    return room._call(get())


class Events:
    """A room listener that records (event, source_id, thread name)."""

    def __init__(self):
        self.seen: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, event, source_id):
        with self.lock:
            self.seen.append((event, source_id, threading.current_thread().name))
        if source_id == "boom":
            raise RuntimeError("a broken listener must not hurt the room")

    def events(self):
        with self.lock:
            return [(e, s) for e, s, _ in self.seen]


def test_listener_reports_connect_and_end_off_the_loop(make_room, client_loop, base):
    events = Events()
    room = make_room("room", listener=events)
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    boom = publish(room, "boom", MarkerTrack(base, fps=15), client_loop)
    wait_until(lambda: ("source_connected", "host") in events.events()
               and ("source_connected", "boom") in events.events(), 5, "source_connected")
    host.close()   # the publisher hangs up: its connection closes
    wait_until(lambda: ("source_ended", "host") in events.events(), 10, "source_ended")
    room.close("boom")
    wait_until(lambda: ("source_ended", "boom") in events.events(), 5, "source_ended of boom")
    assert sorted(events.events()) == sorted([("source_connected", "host"), ("source_connected", "boom"),
                                              ("source_ended", "host"), ("source_ended", "boom")])
    assert all(not name.startswith("room-") for _, _, name in events.seen), events.seen
    assert room.sources() == []
    boom.close()


class Taps:
    def __init__(self, delay_s: float = 0.0):
        self.got: list[tuple[str, float, np.ndarray, str]] = []
        self.delay_s = delay_s
        self.lock = threading.Lock()

    def __call__(self, source_id, at, rgb):
        with self.lock:
            self.got.append((source_id, at, rgb, threading.current_thread().name))
        time.sleep(self.delay_s)

    def count(self):
        with self.lock:
            return len(self.got)

    def rate(self, since: int) -> float:
        with self.lock:
            stamps = [at for _, at, _, _ in self.got[since:]]
        return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def test_taps_sample_decoded_frames_at_the_requested_rate(make_room, client_loop, base):
    room = make_room("room")
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    taps = Taps()
    room.tap("host", taps, 2)
    wait_until(lambda: taps.count() >= 5, 6, "samples at 2 fps")
    slow_rate = taps.rate(1)
    # Rates are ceilings: a loaded machine may deliver fewer frames, never more samples.
    assert 0.8 <= slow_rate <= 2.6, slow_rate
    source_id, at, rgb, thread = taps.got[-1]
    assert source_id == "host" and abs(time.time() - at) < 2 and not thread.startswith("room-")
    assert rgb.dtype == np.uint8 and rgb.shape == (240, 320, 3)
    assert max(correlation(rgb[40:], f[40:]) for f in base) > 0.9   # the photo, below the marker rows

    room.tap("host", taps, 6)   # a liveness challenge: faster
    mark = taps.count()
    wait_until(lambda: taps.count() >= mark + 11, 4, "samples at 6 fps")
    fast_rate = taps.rate(mark + 1)
    assert fast_rate <= 7.2 and fast_rate >= 2.0 * slow_rate, (slow_rate, fast_rate)

    slow = Taps(delay_s=0.5)    # a callback slower than the rate: frames are dropped, not queued
    room.tap("host", slow, 6)
    time.sleep(1.2)
    tap = room.stats()["sources"]["host"]["tap"]
    assert tap["fps"] == 6 and tap["dropped"] >= 3 and slow.count() <= 3, (tap, slow.count())
    room.untap("host")
    time.sleep(0.5)
    mark = slow.count() + taps.count()
    time.sleep(0.5)
    assert slow.count() + taps.count() == mark and room.stats()["sources"]["host"]["tap"] is None
    assert _code(room.tap, "nobody", taps, 2) == "unknown_source"
    host.close()


def test_no_encoding_without_subscribers(make_room, client_loop, base):
    room = make_room("room")
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    taps = Taps()
    room.tap("host", taps, 5)
    wait_until(lambda: room.stats()["sources"]["host"]["frames_in"] >= 15, 5, "frames in")
    source = room.stats()["sources"]["host"]
    assert source["encodes"] == 0 and source["encoders"] == 0 and source["encodes_skipped"] >= 15
    assert taps.count() >= 2   # decoded frames still reach the tap

    viewer = view(room, "viewer", "host", client_loop)
    viewer.wait_frames(10)     # the first subscriber starts the encoder, at a keyframe
    source = room.stats()["sources"]["host"]
    assert source["encodes"] >= 10 and source["encoders"] == 1 and source["keyframes"] >= 1
    viewer.close()
    wait_until(lambda: room.stats()["sources"]["host"]["subscribers"] == 0, 5, "the subscriber to leave")
    encodes = room.stats()["sources"]["host"]["encodes"]
    time.sleep(1.0)
    assert room.stats()["sources"]["host"]["encodes"] == encodes
    host.close()


def test_subscriptions_per_participant_are_capped(make_room, client_loop):
    room = make_room("room", max_subscriptions_per_participant=2)
    # Sources need not be connected for signalling: offers only.
    for i in range(3):
        room.publish(f"p{i}", _offer(client_loop, "video"))
    recv = [_offer(client_loop, "video", direction="recvonly") for _ in range(4)]
    room.subscribe("watcher", "p0", recv[0])
    room.subscribe("watcher", "p1", recv[1])
    assert _code(room.subscribe, "watcher", "p2", recv[2]) == "too_many_streams"
    room.subscribe("other", "p2", recv[3])    # the cap is per participant
    assert len(room.stats()["subscriptions"]) == 3


def test_audio_is_encoded_once_and_muted_by_the_server(make_room, client_loop, base):
    room = make_room("room")
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop, audio_track=ToneTrack())
    listeners = [view(room, f"l{i}", "host", client_loop, audio=True) for i in range(3)]
    deaf = view(room, "deaf", "host", client_loop)   # a video-only offer to a source with audio
    for peer in listeners:
        wait_until(lambda peer=peer: peer.audio_frames >= 25, 10, "audio frames")
    deaf.wait_frames(10)
    stats = room.stats()
    source = stats["sources"]["host"]
    assert stats["audio_encoders"] == 1 and source["audio_encoders_created"] == 1 and source["audio"]
    assert stats["encoders"] == 1
    # One Opus encode per 20 ms frame in, whatever the number of listeners.
    assert source["audio_encodes"] <= source["audio_frames_in"] <= source["audio_encodes"] + 60
    assert all(stats["subscriptions"][f"l{i}->host"]["audio_packets_sent"] >= 25 for i in range(3))
    assert stats["subscriptions"]["deaf->host"]["audio_packets_sent"] == 0 and deaf.audio_frames == 0
    assert all(peer.audio_loud_frames >= 10 for peer in listeners)   # the tone, not silence

    room.set_muted("host", True)
    time.sleep(0.3)   # what was already on the wire
    heard = [peer.audio_frames for peer in listeners]
    frames = [peer.frames for peer in listeners]
    time.sleep(1.0)
    assert [peer.audio_frames for peer in listeners] == heard
    assert all(peer.frames >= before + 10 for peer, before in zip(listeners, frames)), "video goes on"
    source = room.stats()["sources"]["host"]
    assert source["muted"] is True

    room.set_muted("host", False)
    for peer, before in zip(listeners, heard):
        wait_until(lambda peer=peer, before=before: peer.audio_frames >= before + 20, 5, "audio after unmute")
    assert room.stats()["sources"]["host"]["muted"] is False
    assert _code(room.set_muted, "nobody", True) == "unknown_source"
    for peer in (*listeners, deaf, host):
        peer.close()


def test_an_audio_offer_to_a_video_only_source_gets_video(make_room, client_loop, base):
    room = make_room("room")
    host = publish(room, "host", MarkerTrack(base, fps=15), client_loop)
    viewer = view(room, "viewer", "host", client_loop, audio=True)
    viewer.wait_frames(10)
    assert "a=inactive" in viewer.pc.remoteDescription.sdp.split("m=audio")[1]
    stats = room.stats()
    assert stats["audio_encoders"] == 0 and not stats["sources"]["host"]["audio"]
    assert not stats["subscriptions"]["viewer->host"]["audio"]
    viewer.close()
    host.close()


def test_three_level_cascade_over_webrtc(make_room, client_loop, base):
    events = Events()
    province = make_room("province")
    city = make_room("city", relay_transport="webrtc")
    township = make_room("township", relay_transport="webrtc", listener=events)
    host = publish(province, "host", MarkerTrack(base, fps=15, value=lambda n: 1000 + n), client_loop,
                   audio_track=ToneTrack())
    assert city.relay_from(province, "host", "province-host") == "province-host"
    township.relay_from(city, "province-host", "province-host")
    viewer = view(township, "villager", "province-host", client_loop, read_markers=True, audio=True)
    viewer.wait_frames(15, timeout=15)
    wait_until(lambda: viewer.audio_frames >= 25, 10, "audio through two hops")
    with viewer.lock:
        markers = [m for _, m in viewer.markers]
        rgb = viewer.last
    assert all(1000 <= m < 1000 + host.track.sent for m in markers), markers[:20]
    assert markers == sorted(markers) and len(set(markers)) == len(markers)
    assert max(correlation(rgb[40:], f[40:]) for f in base) > 0.85
    assert viewer.audio_loud_frames >= 10
    # Each hop is a real peer connection: the parent sees a subscriber; the child
    # decodes once and encodes once (video and audio).
    assert list(province.stats()["subscriptions"]) == ["relay:city:province-host->host"]
    assert list(city.stats()["subscriptions"]) == ["relay:township:province-host->province-host"]
    for room in (city, township):
        stats = room.stats()
        source = stats["sources"]["province-host"]
        assert source["kind"] == "relay" and source["transport"] == "webrtc" and source["audio"]
        assert stats["encoders"] == 1 and stats["audio_encoders"] == 1 and source["encodes"] > 0
    assert ("source_connected", "province-host") in events.events()
    # Taps work on a relayed source.
    taps = Taps()
    township.tap("province-host", taps, 5)
    wait_until(lambda: taps.count() >= 3, 5, "tapped frames of the relay")
    assert max(correlation(taps.got[-1][2][40:], f[40:]) for f in base) > 0.85
    # A keyframe request of a township subscriber travels up to the province as PLIs.
    time.sleep(0.5)
    before = province.stats()["sources"]["host"]
    city_before = city.stats()["sources"]["province-host"]["keyframe_requests"].get("pli", 0)
    viewer.send_pli()
    wait_until(lambda: city.stats()["sources"]["province-host"]["keyframe_requests"].get("pli", 0) > city_before,
               5, "the PLI at the city")
    wait_until(lambda: province.stats()["sources"]["host"]["keyframe_requests"].get("pli", 0)
               > before["keyframe_requests"].get("pli", 0), 5, "the PLI at the province")
    wait_until(lambda: province.stats()["sources"]["host"]["keyframes"] > before["keyframes"], 5, "a keyframe")
    # When the host leaves, the relayed sources end down the chain.
    province.close("host")
    wait_until(lambda: township.sources() == [] and city.sources() == [], 10, "relays to end")
    wait_until(lambda: ("source_ended", "province-host") in events.events(), 5, "source_ended")
    assert city.stats()["subscriptions"] == {} and township.stats()["subscriptions"] == {}
    viewer.close()
    host.close()


def test_relay_over_webrtc_to_any_parent_and_stop(make_room, client_loop, base):
    city, province = make_room("city"), make_room("province")
    speaker = publish(city, "speaker", MarkerTrack(base, fps=15, value=lambda n: 7000 + n), client_loop)
    calls = []

    def reach_city(offer_sdp):   # what a network call to the city's node would do
        calls.append(threading.current_thread().name)
        return city.subscribe("relay:province:city-speaker", "speaker", offer_sdp)
    assert province.relay_over_webrtc(reach_city, "city-speaker") == "city-speaker"
    assert calls and not calls[0].startswith("room-")
    viewer = view(province, "officer", "city-speaker", client_loop, read_markers=True)
    viewer.wait_frames(10, timeout=15)
    with viewer.lock:
        assert all(7000 <= m < 7000 + speaker.track.sent for _, m in viewer.markers)
    assert not province.stats()["sources"]["city-speaker"]["audio"]
    assert _code(province.relay_over_webrtc, reach_city, "city-speaker") == "exists"

    def refuse(offer_sdp):
        return city.subscribe("relay:province:x", "nobody", offer_sdp)
    assert _code(province.relay_over_webrtc, refuse, "x") == "unknown_source"
    assert province.sources() == ["city-speaker"]

    province.stop_relay("city-speaker")
    assert province.sources() == []
    wait_until(lambda: city.stats()["subscriptions"] == {}, 10, "the city to see the relay go")
    assert _code(province.stop_relay, "city-speaker") == "unknown_source"
    viewer.close()
    speaker.close()


def test_close_one_subscription_and_unpublish(make_room, client_loop):
    events = Events()
    room = make_room("room", listener=events)
    for i in range(2):
        room.publish(f"p{i}", _offer(client_loop, "video"))
    recv = [_offer(client_loop, "video", direction="recvonly") for _ in range(3)]
    room.subscribe("p0", "p1", recv[0])
    room.subscribe("p1", "p0", recv[1])
    room.subscribe("w", "p0", recv[2])
    room.close_subscription("w", "p0")
    assert sorted(room.stats()["subscriptions"]) == ["p0->p1", "p1->p0"]
    assert _code(room.close_subscription, "w", "p0") == "unknown_stream"
    room.unpublish("p0")   # p0's camera ends (and who watched it); p0 still watches p1
    assert room.sources() == ["p1"] and list(room.stats()["subscriptions"]) == ["p0->p1"]
    assert _code(room.unpublish, "p0") == "unknown_stream"
    wait_until(lambda: ("source_ended", "p0") in events.events(), 5, "source_ended")


def test_marker_round_trip():
    frame = np.zeros((240, 320, 3), np.uint8)
    from bench.conference import draw_marker
    for value in (0, 1, 0xDEADBEEF, 123456789):
        assert read_marker(draw_marker(frame, value)) == value
