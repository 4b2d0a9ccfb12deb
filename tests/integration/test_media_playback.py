"""A course played into a three-level conference (issue 16), on both media backends: the host's
room plays a marker course (content/marker_video.py: every frame carries its media time, the tone
changes pitch every second) with MediaRoom.publish_playback; the county room relays it, the
township room relays the county's relay; real aiortc viewers in the township and the county read
the marker out of the frames they decode and listen to the audio. Pause, seek and a late joiner
are checked at the viewers; the course is tapped, muted, asked for a keyframe and counted as a
publisher like a camera; unpublishing ends the relays below, and closing the playback ends it.

The fixtures (make_room over aiortc and Janus, client_loop, the private Janus) are those of
test_media_room_contract.py. Run under scripts/in-netns.sh.

Tolerances: the viewer's frame is the file's frame for the playback clock at the time it was sent,
plus the way down: one shared encode (aiortc) or aiortc's sender encode (Janus), two relays, the
viewer's jitter buffer and decode: tens of milliseconds here, a few hundred on a loaded 2-core CI
machine. So the marker a viewer decodes lies within LAG_S below the clock read at its arrival, and
over a window it advances as the wall clock does (within 0.35 s over 2 s).
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from bench.conference import CourseViewer
from content.marker_video import build, read_marker, tone_hz
from streaming.conference import FilePlayback
from streaming.rtc import SignallingError
from tests.integration import test_media_room_contract as contract
from tests.integration.test_media_room_contract import Events, _offer, wait_until

# the contract's fixtures: both backends, one room factory
backend = contract.backend
make_room = contract.make_room

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("webrtc_network")]

SECONDS = 24.0
LAG_S = 0.8


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return str(build(tmp_path_factory.mktemp("course") / "course.mp4", SECONDS, 640, 360, 15))


def watch(room, participant_id, source_id, client_loop, playback) -> CourseViewer:
    viewer = CourseViewer(client_loop, playback.position)
    offer = room.subscribe_offer(participant_id, source_id, audio=True)
    room.subscribe_answer(participant_id, source_id, viewer.answer(offer))
    return viewer


def pitch(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * 48_000 / len(samples))


def check_playing(viewer: CourseViewer, window_s: float, label: str) -> None:
    """Over ``window_s``: markers advance with the wall clock, each a little behind the playback
    clock at its arrival."""
    began = time.monotonic()
    time.sleep(window_s)
    seen = [(at, m, clock) for at, m, clock in viewer.since(began) if m is not None]
    assert len(seen) >= window_s * 15 * 0.6, (label, len(seen))
    lags = [clock - m for _, m, clock in seen]
    assert all(-0.05 <= lag <= LAG_S for lag in lags), (label, min(lags), max(lags))
    advance = seen[-1][1] - seen[0][1]
    wall = seen[-1][0] - seen[0][0]
    assert advance == pytest.approx(wall, abs=0.35), (label, advance, wall)
    markers = [m for _, m, _ in seen]
    assert markers == sorted(markers), (label, markers)


def check_audio(viewer: CourseViewer, playback: FilePlayback, label: str) -> None:
    """The viewer hears the file's tone: 0.1 s windows away from a change of second have the
    pitch of the second the playback was in (the way down lags by well under half a second)."""
    wait_until(lambda: viewer.audio_loud_frames >= 25, 10, f"{label}: audio")
    time.sleep(0.6)
    with viewer.lock:
        heard = list(viewer.heard[-50:])      # the last second
    matched = checked = 0
    for i in range(0, len(heard) - 4, 5):
        at = heard[i][0]
        position = playback.position() - (time.monotonic() - at)   # the clock when it arrived
        window = np.concatenate([s for _, s in heard[i:i + 5]])
        candidates = {tone_hz(max(position - d, 0)) for d in (0.0, 0.15, 0.3, 0.45)}
        checked += 1
        if any(abs(pitch(window) - hz) < 15 for hz in candidates):
            matched += 1
    assert checked >= 8 and matched >= checked - 2, (label, matched, checked)


def test_a_course_played_into_three_levels(make_room, client_loop, course, backend):
    events, top = Events(), Events()
    city, county, township = make_room("city", listener=top, max_publishers=1), \
        make_room("county", listener=events), make_room("township", listener=events)
    playback = FilePlayback(course, max_width=320)
    viewers = []
    try:
        city.publish_playback("course", playback)
        assert city.sources() == ["course"]
        assert county.relay_from(city, "course", "course") == "course"
        assert township.relay_from(county, "course", "course") == "course"
        villager = watch(township, "villager", "course", client_loop, playback)
        clerk = watch(county, "clerk", "course", client_loop, playback)
        viewers += [villager, clerk]
        villager.wait_frames(10, timeout=15)
        assert villager.size == (320, 180)
        clerk.wait_frames(5, timeout=10)
        # frames and audio of the course reach the township, a little behind the clock
        check_playing(villager, 2.0, "township")
        check_audio(villager, playback, "township")
        # the playback is one source, counted like a camera, and one reader at a time
        assert city.stats()["sources"]["course"]["kind"] == "playback"
        if backend == "aiortc":     # encoded once at the top; the relays below hand its packets on
            assert [room.stats()["encoders"] for room in (city, county, township)] == [1, 0, 0]
            assert city.stats()["sources"]["course"]["encoders_created"] == 1
        with pytest.raises(SignallingError) as err:
            county.publish_playback("again", playback)
        assert err.value.code == "exists"
        with pytest.raises(SignallingError) as err:
            city.publish("camera", _offer(client_loop, "video"))     # max_publishers=1: the course is one
        assert err.value.code == "too_many_streams"
        # tapped like a camera: the frames carry the course's marker
        taps = contract.Taps()
        city.tap("course", taps, 4)
        wait_until(lambda: taps.count() >= 2, 5, "tap samples")
        _, at, rgb = taps.got[-1]
        assert rgb.shape == (180, 320, 3) and read_marker(rgb) is not None
        city.untap("course")
        # muted at the top: the township hears nothing, then the tone again
        city.set_muted("course", True)
        time.sleep(0.5)
        heard = villager.audio_frames
        time.sleep(0.6)
        assert villager.audio_frames == heard
        city.set_muted("course", False)
        wait_until(lambda: villager.audio_frames >= heard + 10, 5, "audio after unmute")
        before = _keyframe_requests(city)
        township.request_keyframe("course")          # reaches the playback's encoder at the top
        wait_until(lambda: _keyframe_requests(city) > before, 5, "the keyframe request at the top")

        # pause: the picture stands still at every level
        playback.pause()
        frozen = playback.position()
        time.sleep(0.8)                               # what was on its way
        mark = time.monotonic()
        time.sleep(1.6)
        for viewer, label in ((villager, "township"), (clerk, "county")):
            still = viewer.markers_since(mark)
            assert len(still) >= 2, (label, still)   # the still keeps coming (2 frames a second)
            assert set(still) == {still[0]} and frozen - 0.1 <= still[0] <= frozen, (label, frozen, still)

        # seek far while playing: the township jumps there within a few seconds
        playback.resume()
        playback.seek(18.0)
        asked = time.monotonic()
        villager.wait_marker(lambda m: 18.0 <= m < 19.5, 4.0, "the township at 18 s")
        clerk.wait_marker(lambda m: 18.0 <= m < 19.5, 4.0, "the county at 18 s")
        assert time.monotonic() - asked < 4.0
        check_playing(villager, 1.0, "township after the seek")

        # a late joiner in the township sees the current position, not the start
        late = watch(township, "late", "course", client_loop, playback)
        viewers.append(late)
        late.wait_frames(3, timeout=10)
        first = late.markers_since(0)[0]
        assert first >= 18.0, first
        assert abs(late.since(0)[0][2] - first) <= LAG_S
        # and back: the township goes back with it
        playback.seek(2.0)
        villager.wait_marker(lambda m: 2.0 <= m < 3.5, 4.0, "the township back at 2 s")

        # unpublish ends the source, and the relays below with it; the playback lives on
        city.unpublish("course")
        wait_until(lambda: county.sources() == [] and township.sources() == [], 10, "the relays to end")
        wait_until(lambda: events.events().count(("source_ended", "course")) == 2, 5, "source_ended below")
        assert ("source_connected", "course") in events.events()
        assert not playback.closed
        wait_until(lambda: villager.connection_state() in ("closed", "failed"), 10, "the viewer's connection to end")
        # ... and can be played again
        city.publish_playback("course", playback)
        again = watch(city, "host", "course", client_loop, playback)
        viewers.append(again)
        again.wait_marker(lambda m: m > 2.0, 10, "the course played again")
        city.close("course")
        assert city.sources() == []
        # closing the playback under the room ends its source too
        city.publish_playback("course", playback)
        wait_until(lambda: top.events().count(("source_connected", "course")) == 3, 10, "the third start")
        playback.close()
        wait_until(lambda: city.sources() == [], 10, "the closed playback's source to end")
        wait_until(lambda: top.events().count(("source_ended", "course")) == 3, 5, "source_ended x3")
    finally:
        for viewer in viewers:
            viewer.close()
        playback.close()


def _keyframe_requests(room) -> int:
    requests = room.stats()["sources"]["course"]["keyframe_requests"]
    return sum(requests.values()) if isinstance(requests, dict) else requests
