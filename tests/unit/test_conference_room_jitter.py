"""The rooms' complete-frame jitter buffer (streaming.conference.codecs): a frame leaves at
its marker bit, not one frame later as with aiortc's own buffer; and it is really
installed on the room's receivers (it reaches into aiortc's internals)."""
from __future__ import annotations

import asyncio

from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from streaming.conference.codecs import _make_jitter_buffer_class, _receive_low_latency


def rtp(seq: int, timestamp: int, marker: bool, data: bytes) -> RtpPacket:
    packet = RtpPacket(sequence_number=seq, timestamp=timestamp, marker=int(marker))
    packet._data = data
    return packet


def frames_out(buffer, packets) -> list[tuple[int, int, bytes]]:
    """(index of the packet whose arrival released it, timestamp, data) per frame."""
    out = []
    for i, packet in enumerate(packets):
        _, frame = buffer.add(packet)
        if frame is not None:
            out.append((i, frame.timestamp, frame.data))
    return out


def video_stream():
    # Frame 1: two packets; frame 2: one packet; frame 3: three packets.
    return [rtp(100, 1000, False, b"a1"), rtp(101, 1000, True, b"a2"),
            rtp(102, 4000, True, b"b"),
            rtp(103, 7000, False, b"c1"), rtp(104, 7000, False, b"c2"), rtp(105, 7000, True, b"c3")]


def test_aiortc_releases_a_frame_only_when_the_next_one_starts():
    out = frames_out(JitterBuffer(capacity=512, is_video=True), video_stream())
    assert out == [(2, 1000, b"a1a2"), (3, 4000, b"b")]   # frame 3 still held


def test_a_complete_frame_leaves_at_its_marker():
    buffer = _make_jitter_buffer_class()(capacity=512, is_video=True)
    assert frames_out(buffer, video_stream()) == [(1, 1000, b"a1a2"), (2, 4000, b"b"), (5, 7000, b"c1c2c3")]


def test_a_frame_with_a_gap_waits_for_the_missing_packet():
    buffer = _make_jitter_buffer_class()(capacity=512, is_video=True)
    packets = [rtp(100, 1000, True, b"a"), rtp(102, 4000, True, b"b2"), rtp(101, 4000, False, b"b1")]
    # b2 (the marker) arrives before b1: nothing leaves until b1 fills the gap.
    assert frames_out(buffer, packets) == [(0, 1000, b"a"), (2, 4000, b"b1b2")]


def test_audio_packets_leave_on_arrival_in_order():
    buffer = _make_jitter_buffer_class()(capacity=16, prefetch=4)
    packets = [rtp(10 + i, 960 * i, False, bytes([i])) for i in range(3)]
    assert frames_out(buffer, packets) == [(0, 0, b"\x00"), (1, 960, b"\x01"), (2, 1920, b"\x02")]
    assert frames_out(JitterBuffer(capacity=16, prefetch=4), packets) == []   # aiortc: 4 frames later


def test_installed_on_a_receiver():
    async def check():
        from aiortc import RTCConfiguration, RTCPeerConnection
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            for kind in ("video", "audio"):
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                _receive_low_latency(transceiver)
                buffer = transceiver.receiver._RTCRtpReceiver__jitter_buffer
                assert type(buffer).__name__ == "_CompleteFrameJitterBuffer"
                assert buffer._is_video == (kind == "video")
        finally:
            await pc.close()
    # In a thread of its own: after the browser tests, Playwright's sync API keeps an event loop
    # running in the main thread, where asyncio.run() refuses to start another.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, check()).result(30)
