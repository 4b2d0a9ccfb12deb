"""SDP checks of the offers a room accepts (before any aiortc object is made), and reading one
m-section of an answer."""
from __future__ import annotations

from streaming.rtc import SignallingError, parse_offer


def _check_m_line(media, directions: tuple, codecs: set[str], what: str) -> None:
    if media.direction not in directions:
        raise SignallingError("bad_sdp", f"the {media.kind} m-line does not {what} ({media.direction})")
    if not media.ice or not media.ice.usernameFragment or not media.ice.password:
        raise SignallingError("bad_sdp", "missing ICE credentials")
    # JSEP: an offer always says setup:actpass; active/passive mark an answer.
    if not media.dtls or not media.dtls.fingerprints or media.dtls.role != "auto":
        raise SignallingError("bad_sdp", "missing DTLS fingerprint or not an offer (a=setup must be actpass)")
    if not {codec.mimeType.lower() for codec in media.rtp.codecs} & codecs:
        raise SignallingError("bad_sdp", f"the {media.kind} m-line offers none of {', '.join(sorted(codecs))}")


def _check_offer(sdp: str, sdp_type: str, directions: tuple, video_codecs: set[str], what: str) -> tuple[str, ...]:
    parsed = parse_offer(sdp, sdp_type)
    kinds = [media.kind for media in parsed.media]
    if "video" not in kinds:
        raise SignallingError("no_video", "the offer has no video m-line" + (f" (only {', '.join(kinds)})" if kinds else ""))
    if kinds.count("video") != 1 or kinds.count("audio") > 1 or len(kinds) != kinds.count("video") + kinds.count("audio"):
        raise SignallingError("bad_sdp", f"one video and at most one audio m-line expected, got {', '.join(kinds)}")
    for media in parsed.media:
        _check_m_line(media, directions, video_codecs if media.kind == "video" else {"audio/opus"}, what)
    return tuple(kinds)


def validate_publish_offer(sdp: str, sdp_type: str = "offer") -> tuple[str, ...]:
    """An offer with exactly one sending video m-line (VP8 or H264) and at most one
    sending audio m-line (Opus). Returns the kinds in m-line order."""
    return _check_offer(sdp, sdp_type, (None, "sendonly", "sendrecv"), {"video/vp8", "video/h264"}, "send")


def validate_subscribe_offer(sdp: str, sdp_type: str = "offer") -> tuple[str, ...]:
    """An offer with exactly one receiving video m-line offering VP8 and at most one
    receiving audio m-line offering Opus. Returns the kinds in m-line order."""
    return _check_offer(sdp, sdp_type, (None, "recvonly", "sendrecv"), {"video/vp8"}, "receive")


def _m_section(sdp: str, kind: str) -> str:
    """The text of the first m-section of ``kind`` in an SDP ('' if none)."""
    sections = sdp.replace("\r\n", "\n").split("\nm=")
    return next(("m=" + s for s in sections[1:] if s.startswith(kind + " ")), "")
