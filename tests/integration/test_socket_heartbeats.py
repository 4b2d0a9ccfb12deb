"""Heartbeats over the authenticated Socket.IO connection: same ledger, same answers."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import make_course
from webapp.extensions import socketio
from webapp.models import HeartbeatRejection, PendingSegment


@pytest.fixture
def course(app, db):
    return make_course(app, db, duration=600.0)


def connect(app, client):
    sio = socketio.test_client(app, flask_test_client=client.c)
    assert sio.is_connected()
    return sio


def beat(sio, **body):
    return sio.emit("heartbeat", body, callback=True)


def test_socket_heartbeats_feed_the_ledger(app, db, client_for, clock, course):
    learner = client_for("zhangsan")
    session_id = learner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    sio = connect(app, learner)
    assert beat(sio, session_id=session_id, seq=1, position=0.0, playing=True, rate=1.0)["status"] == 200
    clock.advance(5)
    answer = beat(sio, session_id=session_id, seq=2, position=5.0, playing=True, rate=1.0)
    assert answer["status"] == 200 and answer["accepted"] is True and answer["position"] == 5.0
    assert db.scalar(select(func.count()).select_from(PendingSegment)) == 1
    clock.advance(5)
    seek = beat(sio, session_id=session_id, seq=3, position=300.0, playing=True, rate=1.0)
    assert seek["status"] == 422 and seek["reason"] == "seek_ahead" and seek["snap_to"] == 5.0
    replay = beat(sio, session_id=session_id, seq=1, position=10.0, playing=True, rate=1.0)
    assert replay["reason"] == "replayed"
    assert sorted(db.scalars(select(HeartbeatRejection.reason))) == ["replayed", "seek_ahead"]


def test_socket_heartbeat_for_another_learners_sitting_is_not_found(app, client_for, clock, course):
    owner = client_for("zhangsan")
    session_id = owner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    other = connect(app, client_for("lisi"))
    answer = beat(other, session_id=session_id, seq=1, position=0.0, playing=True, rate=1.0)
    assert answer == {"error": "not_found", "status": 404}


def test_officers_cannot_send_heartbeats(app, client_for, course):
    sio = connect(app, client_for("officer_bs"))
    answer = beat(sio, session_id="x" * 32, seq=1, position=0.0, playing=True, rate=1.0)
    assert answer["status"] == 403


@pytest.mark.parametrize("body", [None, [], {"seq": 1}, {"session_id": 5, "seq": 1, "position": 0, "playing": True,
                                                        "rate": 1},
                                  {"session_id": "abc", "seq": "1", "position": 0, "playing": True, "rate": 1}])
def test_malformed_socket_heartbeats_get_a_clear_error(app, client_for, body):
    sio = connect(app, client_for("zhangsan"))
    answer = sio.emit("heartbeat", body, callback=True)
    assert answer["status"] == 400 and answer["error"] == "bad_field"
    assert sio.is_connected()  # the connection survives bad input


def test_closed_sitting_answers_409(app, client_for, clock, course):
    learner = client_for("zhangsan")
    first = learner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    learner.api("/api/study/start", {"course_id": course.id})  # a second sitting closes the first
    sio = connect(app, learner)
    answer = beat(sio, session_id=first, seq=1, position=0.0, playing=True, rate=1.0)
    assert answer == {"error": "session_closed", "status": 409}


def test_socket_handshake_from_another_origin_is_refused(app, client_for):
    """Engine.IO checks Origin on the HTTP handshake (the Socket.IO test client skips it)."""
    learner = client_for("zhangsan")
    url = "/socket.io/?EIO=4&transport=polling"
    foreign = learner.c.get(url, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 400
    same = learner.c.get(url, headers={"Origin": "http://localhost"})
    assert same.status_code == 200 and same.get_data(as_text=True).startswith("0{")
