"""Every Socket.IO event of the live portal, with the payloads of tests/fuzz/strategies.py.

A real python-socketio client of the learner zhangsan and one of officer_bs (the host of a live
conference both are in) send FUZZ_CASES/2 generated events with `call()`: each must be answered
within harness.CALL_TIMEOUT_S, with a dict; a payload that cannot be valid (and every SDP, none
being a usable offer) with an `error`; never "internal"; and the server's log must hold no
traceback. The reproducers of the bugs the fuzzer found are explicit examples of
`test_reproducers`.
"""
from __future__ import annotations

import pytest
from hypothesis import Phase, example, given, settings

from tests.fuzz.harness import SocketReport, SocketWorld, fuzz_cases, fuzz_socketio, send_case, tracebacks
from tests.fuzz.strategies import EVENTS, MAX_ID, Payload, Ref, socket_cases


def test_every_event_has_a_strategy(tmp_path):
    """EVENTS names exactly the events the server handles (a new event needs a strategy)."""
    from webapp import create_app
    from webapp.extensions import socketio

    app = create_app({"INSTANCE_DIR": str(tmp_path / "instance"), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                      "SECRET_KEY": "x", "SCHEDULER_ENABLED": False, "PROCTORING_REQUIRED": False})
    handled = set(socketio.server.handlers["/"]) - {"connect", "disconnect"}
    assert handled == set(EVENTS)
    app.extensions["db_engine"].dispose()


@pytest.fixture(scope="module")
def world(portal, who):
    opened = SocketWorld(portal, who)
    yield opened
    opened.close()


def test_socket_fuzz(portal, who):
    start = portal.log_size()
    n = fuzz_cases() - fuzz_cases() // 2
    report = fuzz_socketio(portal, n, who)
    print(f"socket.io cases={report.cases} reconnects={report.reconnects} errors={dict(report.errors)}")
    assert not report.failures, f"{len(report.failures)} of {report.cases} events failed:\n" + \
        "\n".join(report.failures[:20])
    assert report.unanswered == 0 and report.internal == 0
    assert report.cases >= 0.8 * n
    if n >= 10 * len(EVENTS):
        assert set(report.per_event) == set(EVENTS), "events the run never sent"
    found = tracebacks(portal.log_text(start))
    assert not found, "\n----\n".join(found[:3])


BEAT = {"seq": 1, "position": 0.0, "playing": True, "rate": 1.0}


@settings(phases=[Phase.explicit], deadline=None, database=None)
@given(case=socket_cases())
# No argument at all: the raw heartbeat handler raised TypeError and never answered.
@example(case=("supervisee", "heartbeat", Payload((), junk=True)))
@example(case=("officer", "heartbeat", Payload((), junk=True)))
# An extra argument: every Flask-SocketIO handler raised TypeError ("internal", a traceback).
@example(case=("officer", "conf_hand", Payload(({"conference_id": Ref("conference"), "raised": True}, None))))
@example(case=("supervisee", "rtc_offer", Payload(({"session_id": Ref("sitting"), "sdp": "v=0"}, 0),
                                                  needs_error=True)))
# An unpaired surrogate in a sitting id: UTF-8 cannot encode it ("internal" from the database).
@example(case=("supervisee", "heartbeat", Payload(({"session_id": "\ud800", **BEAT},), junk=True)))
@example(case=("supervisee", "rtc_offer", Payload(({"session_id": "x\udfff", "sdp": "v=0"},), junk=True)))
# NUL in a sitting id: PostgreSQL refuses NUL in text ("internal").
@example(case=("supervisee", "proctor_state", Payload(({"session_id": "a\x00b"},), junk=True)))
@example(case=("supervisee", "heartbeat", Payload(({"session_id": "a\x00b", **BEAT},), junk=True)))
# Ids and sequence numbers past an INTEGER column: PostgreSQL "integer out of range" ("internal").
@example(case=("supervisee", "conf_enter", Payload(({"conference_id": MAX_ID + 1},), junk=True)))
@example(case=("officer", "rollcall_end", Payload(({"conference_id": 2**63 - 1},), junk=True)))
@example(case=("supervisee", "heartbeat", Payload(({"session_id": Ref("sitting"), **BEAT, "seq": 2**31},),
                                                  junk=True)))
@example(case=("supervisee", "conf_hand", Payload(({"conference_id": MAX_ID, "raised": False},))))
def test_reproducers(world, case):
    report = SocketReport()
    start = world.portal.log_size()
    send_case(world, case, report)
    assert not report.failures, report.failures
    found = tracebacks(world.portal.log_text(start))
    assert not found, "\n----\n".join(found[:2])
