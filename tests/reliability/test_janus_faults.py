"""Faults of Janus, the conferences' media server in production (deploy/stack.py's `janus` piece).

kill -9 of Janus in the middle of a live conference with a roll call running: the media worker
lives on (same process); while Janus is away a participant's publish is refused with a clear
Socket.IO error ("media_unavailable", never an exception or a 500); the stack's supervisor
(systemd's Restart=always in a real deployment) starts Janus again; the conference then makes new
rooms on demand (the old ones died with Janus) and a participant publishes again; the roll call's
attendance rows written before the kill stay, and it goes on to decide everyone.
"""
from __future__ import annotations

import threading

import pytest

from tests.reliability.conftest import Learner, sql, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("webrtc_network")]

SIZE = (320, 240)
# Each called person who shows nobody is decided "absent" after ROLLCALL_ANSWER_S, one at a time.
ROLLCALL = {"ROLLCALL_ANSWER_S": "5", "ROLLCALL_PARALLEL": "1", "ROLLCALL_LIVENESS": "0"}


@pytest.fixture(scope="module")
def stack(stack_for):
    return stack_for(web=1, **ROLLCALL)


@pytest.fixture(scope="module")
def webrtc_network():
    import os

    from aioice.ice import get_host_addresses
    if not os.environ.get("IN_NETNS"):
        pytest.fail("the reliability suite runs inside scripts/in-netns.sh (WebRTC needs its addresses)")
    assert get_host_addresses(use_ipv4=True, use_ipv6=False)


@pytest.fixture(scope="module")
def client_loop():
    from tests.rtc_peers import ClientLoop
    with ClientLoop() as loop:
        yield loop


def _live_conference(stack) -> int:
    from datetime import datetime, timezone

    unit_id, officer_id = sql(stack, "SELECT unit_id, id FROM app_user WHERE username = 'officer_bs'")[0]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return sql(stack, "INSERT INTO conference (host_unit_id, host_officer_id, title, starts_at, duration_min, levels, "
                      "include_supervisees, status, created_at) VALUES (%s, %s, %s, %s, 60, '', true, 'live', %s) "
                      "RETURNING id", unit_id, officer_id, "Janus", now, now)[0][0]


def _publish(person, conference_id, client_loop, publishers) -> dict:
    """A camera that shows nobody, offered as the conference page does; the ack."""
    from tests.rtc_peers import FrameTrack, Publisher, photo_frames

    publisher = Publisher(client_loop, FrameTrack([frame * 0 + 40 for frame in photo_frames(*SIZE)], fps=8.0))
    publishers.append(publisher)
    ack = person.sio.call("conf_publish", {"conference_id": conference_id, "sdp": publisher.offer(), "type": "offer"},
                          timeout=30)
    if ack.get("ok"):
        publisher.accept(ack["sdp"])
        publisher.wait_connected(15)
    return ack


def _conference_rooms(stack, conference_id: int) -> list[str]:
    return [str(room["room"]) for room in stack.janus_server.list_rooms()
            if str(room["room"]).startswith(f"c{conference_id}-")]


def test_kill_9_of_janus_during_a_live_conference(stack, client_loop):
    assert "janus" in stack.names
    conference_id = _live_conference(stack)
    host, people = Learner(stack, "officer_bs"), [Learner(stack, "zhangsan"), Learner(stack, "lisi")]
    media_pid, janus_pid = stack.proc("media").pid, stack.proc("janus").pid
    publishers: list = []
    stop = threading.Event()
    supervisor = threading.Thread(target=stack.supervise, kwargs={"interval": 0.5, "stop_event": stop}, daemon=True)
    try:
        for person in [host, *people]:
            ack = person.sio.call("conf_enter", {"conference_id": conference_id}, timeout=20)
            assert ack.get("ok"), ack
        for person in people:
            ack = _publish(person, conference_id, client_loop, publishers)
            assert ack.get("ok"), ack
        before = _conference_rooms(stack, conference_id)
        assert before
        ack = host.sio.call("rollcall_start", {"conference_id": conference_id}, timeout=30)
        assert ack.get("ok"), ack
        rollcall_id = ack["rollcall_id"]
        rows = wait_until(lambda: sql(stack, "SELECT user_id, outcome FROM attendance_record WHERE roll_call_id = %s",
                                      rollcall_id), 30.0, "the first attendance row", 0.2)

        stack.kill("janus")
        kept = sql(stack, "SELECT user_id, outcome FROM attendance_record WHERE roll_call_id = %s", rollcall_id)
        assert len(kept) >= len(rows) >= 1
        # Janus away: a clear refusal, and the media worker is the same process
        ack = _publish(people[0], conference_id, client_loop, publishers)
        assert ack.get("error") == "media_unavailable", ack
        assert stack.proc("media").poll() is None and stack.proc("media").pid == media_pid

        supervisor.start()
        wait_until(lambda: stack.proc("janus") is not None and stack.proc("janus").pid != janus_pid
                   and stack.janus_server.ready(), 30.0, "the supervisor to start Janus again", 0.2)
        ack = _publish(people[0], conference_id, client_loop, publishers)
        assert ack.get("ok"), ack               # a new room on the new Janus, the camera connected
        after_rooms = _conference_rooms(stack, conference_id)
        assert after_rooms and not set(after_rooms) & set(before), (before, after_rooms)
        ack = _publish(people[1], conference_id, client_loop, publishers)
        assert ack.get("ok"), ack

        decided = wait_until(lambda: len(found := sql(stack, "SELECT user_id, outcome FROM attendance_record "
                                                             "WHERE roll_call_id = %s", rollcall_id)) >= 2 and found,
                             60.0, "the roll call to decide everyone", 0.5)
        print(f"janus_kill rows_before={len(kept)} rows_after={len(decided)} rooms {before} -> {after_rooms}")
        assert set(map(tuple, kept)) <= set(map(tuple, decided))
        assert stack.proc("media").pid == media_pid and stack.proc("media").poll() is None
        page = host.http.get(f"{host.base}/conferences/{conference_id}/rollcalls/{rollcall_id}", timeout=20)
        assert page.status_code == 200
    finally:
        stop.set()
        if supervisor.is_alive():
            supervisor.join(10)
        for publisher in publishers:
            publisher.close()
        for person in [host, *people]:
            person.close()
