"""Hypothesis strategies for the payload of every Socket.IO event the portal handles.

An event's strategy draws a `Payload`: the arguments sent with the event (usually one dict; now
and then none, a value that is no dict, nested past JSON_MAX_DEPTH, or an extra argument), built
from its fields, each either of the right type (and then often a live object: `Ref`s stand for the
learner's open sitting, the conference the clients are in, and are resolved by the sender when
the case is sent, tests/fuzz/harness.py) or junk: wrong types, huge integers, NaN and infinities,
long strings, lone surrogates and NUL characters, bytes, deep nesting, missing keys, None.
`Payload.junk` says the payload cannot be valid (the answer must carry an `error`);
`needs_error` that it may be well-formed but its SDP never is (no strategy draws a usable WebRTC
offer: the handlers must answer those with an error too).

`EVENTS` has one strategy per event; tests/fuzz/test_socket_fuzz.py checks that it names exactly
the events the server registers.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable

from hypothesis import strategies as st

MAX_ID = 2**31 - 1         # webapp.core.inputs.MAX_ID: an INTEGER column
PAYLOAD_LIMIT = 60_000     # bytes of JSON: SOCKETIO_MAX_BYTES (64 KiB) refuses a larger packet whole
CHAT_MAX_CHARS = 500       # conferencing.floor
HOST_ACTIONS = ("mute", "unmute", "spotlight", "unspotlight", "remove", "lower_hand")
MEDIA_ACTIONS = ("play", "pause", "resume", "seek", "stop")      # webapp.conferences.sockets


@dataclasses.dataclass(frozen=True)
class Ref:
    """A live object, resolved when the case is sent (harness.SocketWorld.value)."""
    name: str


@dataclasses.dataclass(frozen=True)
class Payload:
    args: tuple
    junk: bool = False          # cannot be valid: the answer must be an error
    needs_error: bool = False   # its SDP is never a usable offer: the answer must be an error


def resolve(value: Any, lookup: Callable[[Ref], Any]) -> Any:
    if isinstance(value, Ref):
        return lookup(value)
    if isinstance(value, tuple):
        return tuple(resolve(v, lookup) for v in value)
    if isinstance(value, list):
        return [resolve(v, lookup) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, lookup) for k, v in value.items()}
    return value


def encoded_size(value: Any) -> int:
    """About the bytes the value takes in a Socket.IO packet (bytes travel as attachments)."""
    return len(json.dumps(value, default=lambda o: "x" * len(o) if isinstance(o, bytes) else "ref"))


# --- junk --------------------------------------------------------------------------------------

HUGE_INTS = st.sampled_from([2**31, 2**31 - 1, 2**63, 2**63 - 1, -2**63 - 1, 2**64, 2**53, -1, 0, 10**30, 10**400,
                             -10**400])
ODD_FLOATS = st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 1e308, 5e-324, 0.5])
ODD_TEXT = st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\u202e\u202d", "😀" * 20, "null",
                            "0", "-1", "1e999", "NaN", "[]", "{}", "' OR 1=1 --", "../../etc/passwd",
                            "<script>alert(1)</script>", "%s%n%x", "\r\n\r\n", "\\", '"'])
LONG_TEXT = st.builds(lambda c, n: c * n, st.sampled_from(["a", "0", "张", "\u00ff", " "]), st.integers(1000, 6000))
TEXT = st.one_of(st.text(max_size=40), ODD_TEXT, LONG_TEXT)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), HUGE_INTS, st.floats(allow_nan=True, allow_infinity=True),
                    ODD_FLOATS, TEXT, st.binary(max_size=64))


def nested(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


DEEP = st.builds(nested, st.integers(33, 300), st.sampled_from(["list", "dict"]))
JUNK = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=8) | DEEP
NOT_A_DICT = st.one_of(SCALARS, st.lists(SCALARS, max_size=4), DEEP)


@dataclasses.dataclass(frozen=True)
class Field:
    """A payload field: values of the right type (`good`), and junk the handler must refuse (`bad`;
    None for a field the handler passes on unchecked, whatever it holds)."""
    good: st.SearchStrategy
    bad: st.SearchStrategy | None = None

    def draw(self, draw, clean: bool) -> tuple[Any, bool]:
        """(value, ok): in a clean payload always a good value, else one time in three junk."""
        if self.bad is None or clean or draw(st.integers(0, 2)) > 0:
            return draw(self.good), True
        return draw(self.bad), False


def field(good: st.SearchStrategy, bad: st.SearchStrategy) -> Field:
    return Field(good, bad)


def unchecked(values: st.SearchStrategy) -> Field:
    return Field(values)


# --- fields ------------------------------------------------------------------------------------

def sitting_id(max_len: int | None = 64) -> Field:
    """A study sitting's id: the learner's own open one, another learner's, random strings; junk."""
    good = st.one_of(st.just(Ref("sitting")), st.just(Ref("sitting")), st.just(Ref("sitting")),
                     st.just(Ref("other_sitting")), st.text(max_size=64), st.text("0123456789abcdef", min_size=32,
                                                                                   max_size=32), ODD_TEXT)
    bad = st.one_of(st.none(), st.booleans(), st.integers(), HUGE_INTS, ODD_FLOATS, st.lists(TEXT, max_size=2),
                    st.dictionaries(TEXT, TEXT, max_size=2), st.binary(max_size=16))
    if max_len is None:
        good = good | LONG_TEXT
    else:
        bad = bad | LONG_TEXT
    return field(good, bad)


def conference_id() -> Field:
    good = st.one_of(st.just(Ref("conference")), st.just(Ref("conference")), st.just(Ref("conference")),
                     st.just(Ref("conference")), st.just(Ref("other_conference")), st.integers(1, MAX_ID),
                     st.sampled_from([1, 2, MAX_ID]))
    bad = st.one_of(st.none(), st.booleans(), st.integers(max_value=0), st.integers(min_value=MAX_ID + 1),
                    st.sampled_from([2**63, 2**64, 10**400, -10**400]), st.floats(), ODD_FLOATS,
                    st.sampled_from([1.0, "1", "", "conference"]), TEXT, st.lists(st.integers(), max_size=2),
                    st.dictionaries(TEXT, st.integers(), max_size=2), DEEP)
    return field(good, bad)


def user_id() -> st.SearchStrategy:
    return st.one_of(st.just(Ref("learner")), st.just(Ref("learner")), st.just(Ref("host")), st.just(Ref("stranger")),
                     st.integers(), HUGE_INTS, JUNK)


def source_id() -> st.SearchStrategy:
    return st.one_of(st.just(Ref("learner_source")), st.just(Ref("host_source")),
                     st.text(max_size=33), st.sampled_from(["u0", "u-1", "u" + "9" * 40]), ODD_TEXT)


SDP_LINES = [
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1",
    "a=msid-semantic: WMS", "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "m=audio 9 UDP/TLS/RTP/SAVPF 111",
    "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:F7gI", "a=ice-options:trickle",
    "a=fingerprint:sha-256 75:74:5A:A6:A4:E5:52:F4:A7:67:4C:01:C7:EE:91:3F:21:3D:A2:E3:53:7B:6F:30:86:F2:30:AA:65:FB:04:24",
    "a=setup:actpass", "a=mid:0", "a=mid:1", "a=sendrecv", "a=sendonly", "a=rtcp-mux", "a=rtcp-rsize",
    "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96", "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:96 nack pli", "a=ssrc:1001 cname:fuzz", "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=candidate:1 1 udp 2130706431 10.0.0.1 40000 typ host",
]
# Lines that break a parser: bad numbers, missing fields, odd separators. No draw ever has an
# ICE password (a=ice-pwd), so no drawn offer can be set up: every one must be refused.
BROKEN_SDP_LINES = [
    "m=video 99999999999999999999 UDP/TLS/RTP/SAVPF 96", "m=video abc UDP/TLS/RTP/SAVPF 96",
    "m=video 9 UDP/TLS/RTP/SAVPF x", "m=video", "m=", "m=video 9", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "a=rtpmap:", "a=rtpmap:96", "a=rtpmap:abc VP8/90000", "a=rtpmap:96 VP8/abc", "a=fmtp:96", "a=fmtp:x y",
    "a=ssrc:notanumber cname:x", "a=ssrc:", "a=ssrc-group:FID 1", "a=rtcp:abc", "a=extmap:x y", "a=extmap:",
    "a=candidate:", "a=candidate:1 1 udp x 10.0.0.1 1 typ host", "a=candidate:1 1 udp 1 10.0.0.1 abc typ host",
    "a=fingerprint:", "a=fingerprint:sha-256", "a=setup:", "a=mid:", "a=group:BUNDLE", "a=rtcp-fb:",
    "c=IN IP4", "c=", "o=", "o=- x x IN IP4", "t=x y", "a=sctp-port:x", "a=max-message-size:-1", "a=ice-pwd",
    "x=unknown", "garbage", "", "a=ice-ufrag:" + "u" * 300, "a=msid:", "a=crypto:1 AES_CM_128_HMAC_SHA1_80",
]


@st.composite
def invalid_sdp(draw) -> str:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.one_of(st.text(max_size=200), ODD_TEXT))
    lines = draw(st.lists(st.sampled_from(SDP_LINES + BROKEN_SDP_LINES), min_size=1, max_size=40))
    if kind == 1:
        lines = ["v=0"] + lines
    separator = draw(st.sampled_from(["\r\n", "\n", "\r", " ", "\r\n\r\n"]))
    return separator.join(lines) + draw(st.sampled_from(["", "\r\n"]))


def sdp_field() -> Field:
    good = invalid_sdp() | st.builds(lambda n: "v=0\r\n" + "a=x\r\n" * n, st.integers(3000, 5000))
    bad = st.one_of(st.none(), st.booleans(), st.integers(), ODD_FLOATS, st.lists(TEXT, max_size=3),
                    st.dictionaries(TEXT, TEXT, max_size=2), st.binary(max_size=32))
    return field(good, bad)


def offer_type() -> Field:
    return field(st.just("offer"), st.one_of(st.sampled_from(["answer", "pranswer", "rollback", "", "OFFER"]),
                                             st.none(), st.integers(), st.lists(st.none(), max_size=1)))


def answer_type() -> Field:
    return field(st.just("answer"), st.one_of(st.sampled_from(["offer", "pranswer", "rollback", "", "ANSWER"]),
                                              st.none(), st.integers(), st.lists(st.none(), max_size=1)))


def boolean() -> Field:
    return field(st.booleans(), st.one_of(st.none(), st.integers(), st.sampled_from([0, 1, "true", "false", ""]),
                                          st.floats(), TEXT, st.lists(st.booleans(), max_size=2)))


def chat_text() -> Field:
    good = st.text(min_size=1, max_size=CHAT_MAX_CHARS).filter(lambda t: t.strip()) | \
        st.sampled_from(["你好", "a\x00b", "<b>hi</b>", "\u202eevil"])
    bad = st.one_of(st.none(), st.booleans(), st.integers(), HUGE_INTS, ODD_FLOATS, st.sampled_from(["", "   ", "\n"]),
                    st.builds(lambda n: "x" * n, st.integers(CHAT_MAX_CHARS + 1, 6000)), st.lists(TEXT, max_size=2),
                    st.dictionaries(TEXT, TEXT, max_size=2), st.binary(max_size=16))
    return field(good, bad)


def host_action() -> Field:
    return field(st.sampled_from(HOST_ACTIONS), st.one_of(TEXT.filter(lambda t: t not in HOST_ACTIONS), st.none(),
                                                          st.integers(), st.lists(TEXT, max_size=2)))


def user_ids() -> Field:
    ids = st.one_of(st.just(Ref("learner")), st.just(Ref("host")), st.just(Ref("stranger")), st.integers(1, MAX_ID))
    good = st.one_of(st.none(), st.lists(ids, max_size=5))
    bad = st.one_of(st.lists(st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_ID + 1), st.booleans(),
                                       TEXT, st.none(), st.floats()), min_size=1, max_size=5).map(lambda xs: xs + [1]),
                    st.integers(), TEXT, st.dictionaries(TEXT, st.integers(), max_size=2),
                    st.builds(lambda n: list(range(1, n + 1)), st.integers(1001, 1500)))
    return field(good, bad)


def heartbeat_numbers() -> dict[str, Field]:
    return {
        "seq": field(st.one_of(st.integers(0, MAX_ID), st.sampled_from([0, 1, MAX_ID])),
                     st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_ID + 1), HUGE_INTS.filter(
                         lambda v: not 0 <= v <= MAX_ID), st.booleans(), st.floats(), st.none(), TEXT,
                         st.lists(st.integers(), max_size=2))),
        "position": field(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), HUGE_INTS,
                                    ODD_FLOATS), st.one_of(st.booleans(), st.none(), TEXT, st.lists(st.floats(),
                                                                                                    max_size=2))),
        "playing": boolean(),
        "rate": field(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1, 1.0, 2, 16]),
                                HUGE_INTS), st.one_of(st.booleans(), st.none(), TEXT, st.dictionaries(TEXT, TEXT,
                                                                                                       max_size=1))),
    }


# --- payloads ----------------------------------------------------------------------------------

@st.composite
def payload(draw, required: dict[str, Field], optional: dict[str, Field] | None = None,
            needs_error: bool = False) -> Payload:
    """A dict of `required` fields (each may go missing: junk) and `optional` ones, sometimes with
    extra keys; or a top-level form that is no dict. Two payloads in five are clean: every field
    there and of the right type (the rest of the handler gets exercised, not only its checks)."""
    optional = optional or {}
    clean = draw(st.integers(0, 4)) < 2
    body: dict = {}
    junk = False
    for key, spec in required.items():
        if not clean and draw(st.integers(0, 9)) == 0:
            junk = True                      # missing
            continue
        body[key], ok = spec.draw(draw, clean)
        junk = junk or not ok
    for key, spec in optional.items():
        if draw(st.booleans()):
            body[key], ok = spec.draw(draw, clean)
            junk = junk or not ok
    if clean:
        return Payload((body,), junk=junk, needs_error=needs_error)
    known = set(required) | set(optional)
    if draw(st.integers(0, 9)) == 0:
        extra = draw(st.dictionaries(st.text(max_size=12).filter(lambda k: k not in known), JUNK, max_size=3))
        body.update(extra)
    form = draw(st.integers(0, 19))
    if form == 0:
        return Payload((), junk=True)                                  # no argument at all
    if form == 1:
        return Payload((draw(NOT_A_DICT),), junk=True)                  # not an object
    if form == 2:
        return Payload((nested(draw(st.integers(33, 200)), "dict"),), junk=True)   # past JSON_MAX_DEPTH
    if form == 3:
        return Payload((body, draw(JUNK)), junk=junk, needs_error=needs_error)  # an extra argument
    return Payload((body,), junk=junk, needs_error=needs_error)


def _fits(p: Payload) -> bool:
    return encoded_size(list(p.args)) < PAYLOAD_LIMIT


def _event(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return strategy.filter(_fits)


STUDY = {"session_id": sitting_id()}
CONFERENCE = {"conference_id": conference_id()}

EVENTS: dict[str, st.SearchStrategy[Payload]] = {
    # webapp/study/sockets.py (raw python-socketio handler): the player's heartbeat
    "heartbeat": _event(payload({"session_id": sitting_id(max_len=None), **heartbeat_numbers()})),
    # webapp/proctor/sockets.py: the study camera's signalling
    "rtc_offer": _event(payload({**STUDY, "sdp": sdp_field()}, optional={"type": offer_type()}, needs_error=True)),
    "rtc_ice": _event(payload(STUDY, optional={"candidate": unchecked(st.one_of(
        st.fixed_dictionaries({"candidate": st.one_of(st.sampled_from(SDP_LINES[-1:] + BROKEN_SDP_LINES), TEXT),
                               "sdpMid": st.one_of(st.sampled_from(["0", "1"]), TEXT, st.none()),
                               "sdpMLineIndex": st.one_of(st.integers(), HUGE_INTS, st.none())}),
        JUNK))})),
    "proctor_recheck": _event(payload(STUDY)),
    "proctor_state": _event(payload(STUDY)),
    # webapp/conferences/sockets.py: the conference room
    "conf_enter": _event(payload(CONFERENCE)),
    "conf_publish": _event(payload({**CONFERENCE, "sdp": sdp_field()}, optional={"type": offer_type()},
                                   needs_error=True)),
    "conf_subscribe": _event(payload({**CONFERENCE, "sdp": sdp_field()},
                                     optional={"type": offer_type(), "source_id": unchecked(source_id())},
                                     needs_error=True)),
    "conf_subscribe_offer": _event(payload({**CONFERENCE}, optional={"source_id": unchecked(source_id()),
                                                                     "audio": boolean()})),
    "conf_subscribe_answer": _event(payload({**CONFERENCE, "sdp": sdp_field(), "type": answer_type()},
                                            optional={"source_id": unchecked(source_id())}, needs_error=True)),
    "conf_unsubscribe": _event(payload({**CONFERENCE, "source_id": field(source_id(), NOT_A_DICT.filter(
        lambda v: not isinstance(v, str)))})),
    "conf_hand": _event(payload({**CONFERENCE, "raised": boolean()})),
    "conf_chat": _event(payload({**CONFERENCE, "text": chat_text()})),
    "conf_host": _event(payload({**CONFERENCE, "action": host_action()},
                                optional={"user_id": unchecked(user_id())})),
    "conf_leave": _event(payload(CONFERENCE)),
    "conf_end": _event(payload(CONFERENCE)),
    "rollcall_start": _event(payload(CONFERENCE, optional={"user_ids": user_ids()})),
    "rollcall_end": _event(payload(CONFERENCE)),
    # the stage (issue 16): course media, shared screens, grants, an on-site officer's confirmation
    "conf_media": _event(payload({**CONFERENCE, "action": field(st.sampled_from(MEDIA_ACTIONS), TEXT)},
                                 optional={"course_id": unchecked(st.one_of(st.integers(1, MAX_ID), HUGE_INTS, JUNK)),
                                           "position": unchecked(st.one_of(st.floats(-10, 1e6), ODD_FLOATS,
                                                                           HUGE_INTS, JUNK))})),
    "conf_share": _event(payload({**CONFERENCE, "action": field(st.sampled_from(["start", "stop"]), TEXT)},
                                 optional={"sdp": sdp_field(), "type": offer_type()})),
    "conf_share_grant": _event(payload({**CONFERENCE, "user_id": unchecked(user_id()), "allowed": boolean()})),
    "conf_edu_confirm": _event(payload({**CONFERENCE, "present": user_ids()})),
}

# Who sends what: the learner mostly the study events, the host mostly the host's.
HOST_EVENTS = {"conf_host", "conf_end", "rollcall_start", "rollcall_end", "conf_media", "conf_share_grant"}


def sender(event: str) -> st.SearchStrategy[str]:
    if event in HOST_EVENTS:
        return st.sampled_from(["officer", "officer", "officer", "supervisee"])
    if event.startswith("conf_"):
        return st.sampled_from(["officer", "supervisee"])
    return st.sampled_from(["supervisee", "supervisee", "supervisee", "officer"])


def socket_cases(events: dict[str, st.SearchStrategy[Payload]] | None = None) -> st.SearchStrategy:
    """(role, event, payload), every event about equally often."""
    events = EVENTS if events is None else events
    return st.sampled_from(sorted(events)).flatmap(lambda e: st.tuples(sender(e), st.just(e), events[e]))
