"""The media codecs of a room: one shared VP8 and one shared Opus encoder per source (every
subscriber gets the very same packets), the VP8 decoder a tapped in-process relay needs, and the
complete-frame jitter buffer of the rooms' receivers."""
from __future__ import annotations

import logging

from .interface import AUDIO_RATE, AUDIO_SAMPLES_PER_PACKET, AUDIO_TIME_BASE, VIDEO_TIME_BASE

logger = logging.getLogger(__name__)


class SharedVp8Encoder:
    """One libvpx encoder (aiortc's realtime settings) that returns ``av.Packet``s
    with a 90 kHz time base. Not thread-safe: one caller at a time."""

    def __init__(self, bitrate: int):
        self.bitrate = bitrate
        self.codec = None
        self.created = 0

    def encode(self, frame, force_keyframe: bool) -> list:
        import av

        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        if self.codec is not None and (frame.width, frame.height) != (self.codec.width, self.codec.height):
            self.codec = None
        if self.codec is None:
            codec = av.CodecContext.create("libvpx", "w")
            codec.width, codec.height = frame.width, frame.height
            codec.bit_rate = self.bitrate
            codec.pix_fmt = "yuv420p"
            codec.gop_size = 3000
            codec.qmin, codec.qmax = 2, 56
            codec.time_base = VIDEO_TIME_BASE
            codec.options = {"bufsize": str(self.bitrate), "cpu-used": "-6", "deadline": "realtime",
                             "lag-in-frames": "0", "minrate": str(self.bitrate), "maxrate": str(self.bitrate),
                             "noise-sensitivity": "4", "overshoot-pct": "15", "partitions": "0",
                             "static-thresh": "1", "undershoot-pct": "100"}
            codec.thread_count = 1
            self.codec = codec
            self.created += 1
            force_keyframe = True
        pts = frame.pts
        if frame.time_base is not None and frame.time_base != VIDEO_TIME_BASE and pts is not None:
            pts = int(pts * frame.time_base / VIDEO_TIME_BASE)
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        frame.pict_type = av.video.frame.PictureType.I if force_keyframe else av.video.frame.PictureType.NONE
        packets = list(self.codec.encode(frame))
        for packet in packets:
            packet.pts = pts
            packet.time_base = VIDEO_TIME_BASE
        return packets


class SharedOpusEncoder:
    """One libopus encoder (48 kHz stereo, 20 ms packets, as aiortc's own) that
    returns ``av.Packet``s with a 1/48000 time base, starting at 0. aiortc's sender
    packs such a packet as it is (``OpusEncoder.pack``: its bytes, the pts as RTP
    timestamp). Not thread-safe: one caller at a time."""

    def __init__(self, bitrate: int):
        self.bitrate = bitrate
        self.codec = None
        self.resampler = None
        self.created = 0
        self._first_pts: int | None = None

    def encode(self, frame) -> list:
        import av

        if self.codec is None:
            codec = av.CodecContext.create("libopus", "w")
            codec.bit_rate = self.bitrate
            codec.format = "s16"
            codec.layout = "stereo"
            codec.sample_rate = AUDIO_RATE
            codec.time_base = AUDIO_TIME_BASE
            codec.options = {"application": "voip"}
            self.codec = codec
            self.resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE,
                                               frame_size=AUDIO_SAMPLES_PER_PACKET)
            self.created += 1
        packets = []
        for chunk in self.resampler.resample(frame):
            packets += self.codec.encode(chunk)
        for packet in packets:
            # libopus starts at a negative pts (its pre-skip): count from the first packet.
            if self._first_pts is None:
                self._first_pts = packet.pts
            packet.pts = packet.pts - self._first_pts
            packet.time_base = AUDIO_TIME_BASE
        return packets


class _Vp8Decoder:
    """Decodes a relayed packet stream for a tap (in-process relays carry packets
    only). Starts at a keyframe, and again after an error. One caller at a time."""

    def __init__(self):
        self.codec = None
        self.waiting_keyframe = True

    def decode(self, packet) -> list:
        import av

        if self.waiting_keyframe:
            if not packet.is_keyframe:
                return []
            self.codec = av.CodecContext.create("vp8", "r")
            self.waiting_keyframe = False
        try:
            return list(self.codec.decode(packet))
        except av.error.FFmpegError:
            self.waiting_keyframe = True
            return []


def _make_jitter_buffer_class():
    from aiortc.jitterbuffer import JitterBuffer, JitterFrame

    class _CompleteFrameJitterBuffer(JitterBuffer):
        """aiortc's jitter buffer hands a frame on only when a packet of the *next*
        frame arrives (video), or four frames later (audio): every aiortc receiver
        adds one frame interval (67 ms at 15 fps) or 80 ms. A room is no playout
        point (the viewer's own jitter buffer absorbs jitter), so its receivers hand
        a frame on as soon as it is complete and in order: a video frame at its RTP
        marker bit (RFC 7741: the last packet of a frame), an Opus packet at once
        (one packet is one frame). Reordering and NACK waits stay as in aiortc."""

        def add(self, packet):
            pli_flag, frame = super().add(packet)
            if frame is None and self._origin is not None:
                frame = self._remove_first_if_complete()
            return pli_flag, frame

        def _remove_first_if_complete(self):
            """The oldest frame, if all its packets are here in order up to its marker."""
            packets = []
            for count in range(self.capacity):
                packet = self._packets[(self._origin + count) % self.capacity]
                if packet is None or (packets and packet.timestamp != packets[0].timestamp):
                    return None     # a gap, or the next frame before a marker: wait (aiortc's way)
                packets.append(packet)
                if packet.marker or not self._is_video:
                    break
            else:
                return None
            self.remove(len(packets))
            return JitterFrame(data=b"".join(p._data for p in packets), timestamp=packets[0].timestamp)

    return _CompleteFrameJitterBuffer


_jitter_buffer_class = None


def _receive_low_latency(transceiver) -> None:
    """Give a receiver of ours the complete-frame jitter buffer (before any packet
    arrives). aiortc has no public hook for it; if its internals change, the
    receiver keeps aiortc's buffer (one frame interval slower) and we say so."""
    global _jitter_buffer_class
    receiver = transceiver.receiver
    attribute = "_RTCRtpReceiver__jitter_buffer"
    current = getattr(receiver, attribute, None)
    if current is None or not hasattr(current, "_is_video"):
        logger.warning("aiortc internals changed: room receivers keep aiortc's jitter buffer")
        return
    if _jitter_buffer_class is None:
        _jitter_buffer_class = _make_jitter_buffer_class()
    setattr(receiver, attribute, _jitter_buffer_class(capacity=current.capacity, is_video=current._is_video))
