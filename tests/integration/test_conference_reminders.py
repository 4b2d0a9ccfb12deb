"""Conference reminders (24 h, 1 h, 10 min before) to exactly the users who may join, once each;
joining and leaving a conference."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import user
from webapp.models import (Conference, ConferenceParticipant, ConferenceReminderSent, ConferenceStatus, OrgUnit,
                           ParticipantRole, utcnow)

INSIDE = ("officer_zj", "officer_bs", "officer_ly", "zhangsan", "lisi", "wangwu")
OUTSIDE = ("officer_moj", "officer_hz", "officer_xh", "officer_my", "zhaoliu", "admin")
T0 = utcnow().replace(microsecond=0)


def make_conference(db, title, starts_at, created_at=T0, unit="浙江省司法厅", host="officer_zj", levels="5",
                    supervisees=True, status=ConferenceStatus.SCHEDULED) -> int:
    conf = Conference(host_unit_id=db.scalar(select(OrgUnit.id).where(OrgUnit.name == unit)),
                      host_officer_id=user(db, host).id, title=title, starts_at=starts_at, duration_min=60,
                      levels=levels, include_supervisees=supervisees, status=status, created_at=created_at)
    db.add(conf)
    db.commit()
    return conf.id


@pytest.fixture
def sockets(app, client_for):
    from webapp.extensions import socketio
    out = {}
    for name in INSIDE + OUTSIDE:
        out[name] = socketio.test_client(app, flask_test_client=client_for(name).c)
        assert out[name].is_connected(), name
        out[name].get_received()
    yield out
    for sock in out.values():
        sock.disconnect()


def run(app, now) -> int:
    from webapp.core import db as webdb
    from webapp.conferences.reminders import send_due_reminders
    with app.app_context():
        return send_due_reminders(webdb.session(), now)


def received(sockets) -> dict[str, list[dict]]:
    return {name: [m["args"][0] for m in sock.get_received() if m["name"] == "conference_reminder"]
            for name, sock in sockets.items()}


def test_reminders_reach_the_right_users_once_each(app, db, sockets):
    start = T0 + timedelta(days=2)
    conf_id = make_conference(db, "全省矫正工作会", start)
    assert run(app, T0 + timedelta(hours=1)) == 0
    assert not any(received(sockets).values())

    sent_minutes = []
    for now in (start - timedelta(hours=24) + timedelta(seconds=30), start - timedelta(hours=1),
                start - timedelta(minutes=9)):
        assert run(app, now) == 1
        got = received(sockets)
        for name in INSIDE:
            assert len(got[name]) == 1, (name, got[name])
        for name in OUTSIDE:
            assert got[name] == [], name
        notice = got["zhangsan"][0]
        assert notice["title"] == "全省矫正工作会" and notice["url"] == f"/conferences/{conf_id}"
        assert notice["starts_at"] == start.isoformat() + "+00:00"
        sent_minutes.append(notice["minutes_before"])
        # the same run again, a minute later: nothing twice
        assert run(app, now + timedelta(seconds=50)) == 0
        assert not any(received(sockets).values())
    assert sent_minutes == [24 * 60, 60, 10]
    assert run(app, start + timedelta(minutes=1)) == 0
    assert not any(received(sockets).values())
    db.expire_all()
    assert sorted(db.scalars(select(ConferenceReminderSent.before_s)
                             .where(ConferenceReminderSent.conference_id == conf_id))) == [600, 3600, 86400]


def test_township_conference_stays_in_its_township(app, db, sockets):
    start = T0 + timedelta(days=1)
    make_conference(db, "北山所例会", start, unit="北山街道司法所", host="officer_bs", levels="")
    assert run(app, start - timedelta(minutes=10)) == 1
    got = received(sockets)
    assert {name for name, notices in got.items() if notices} == {"officer_bs", "zhangsan", "lisi"}


def test_no_reminders_for_cancelled_conferences(app, db, sockets):
    start = T0 + timedelta(days=2)
    make_conference(db, "已取消的会", start, status=ConferenceStatus.CANCELLED)
    for now in (start - timedelta(hours=24), start - timedelta(hours=1), start - timedelta(minutes=10)):
        assert run(app, now) == 0
    assert not any(received(sockets).values())


def test_cancelling_after_a_reminder_stops_the_rest(app, db, sockets):
    start = T0 + timedelta(days=2)
    conf_id = make_conference(db, "中途取消的会", start)
    assert run(app, start - timedelta(hours=24)) == 1
    received(sockets)
    conf = db.get(Conference, conf_id)
    conf.status = ConferenceStatus.CANCELLED
    db.commit()
    assert run(app, start - timedelta(hours=1)) == 0
    assert run(app, start - timedelta(minutes=10)) == 0
    assert not any(received(sockets).values())


def test_reminder_times_already_past_are_not_sent(app, db, sockets):
    # scheduled 30 minutes ahead: only the 10-minute reminder
    soon = T0 + timedelta(minutes=30)
    make_conference(db, "临时会议", soon, created_at=T0)
    assert run(app, T0 + timedelta(minutes=1)) == 0
    assert run(app, soon - timedelta(minutes=10)) == 1
    assert [n["minutes_before"] for n in received(sockets)["zhangsan"]] == [10]
    # the scheduler was down past two reminder times: only the latest is sent, the older never
    later = T0 + timedelta(days=3)
    conf_id = make_conference(db, "停机后的会", later)
    assert run(app, later - timedelta(minutes=30)) == 1
    assert [n["minutes_before"] for n in received(sockets)["officer_bs"]] == [60]
    assert run(app, later - timedelta(minutes=20)) == 0
    assert run(app, later - timedelta(minutes=10)) == 1
    assert [n["minutes_before"] for n in received(sockets)["officer_bs"]] == [10]
    db.expire_all()
    assert sorted(db.scalars(select(ConferenceReminderSent.before_s)
                             .where(ConferenceReminderSent.conference_id == conf_id))) == [600, 3600, 86400]


def test_every_page_loads_the_notices_for_signed_in_users(app, client_for):
    for name in ("zhangsan", "officer_bs"):
        html = client_for(name).c.get("/conferences/").get_data(as_text=True)
        assert "js/notices.js" in html and 'data-reminder="会议提醒：' in html and "vendor/socket.io.min.js" in html
    anonymous = app.test_client().get("/login").get_data(as_text=True)
    assert "js/notices.js" not in anonymous


def participants(db, conf_id):
    db.expire_all()
    return {row.user_id: row for row in db.scalars(select(ConferenceParticipant)
                                                   .where(ConferenceParticipant.conference_id == conf_id))}


def test_join_and_leave(app, db, client_for):
    conf_id = make_conference(db, "省厅大会", T0 + timedelta(days=1))
    host, member, peer, outsider = (client_for(n) for n in ("officer_zj", "zhangsan", "officer_bs", "officer_my"))
    page = member.c.get(f"/conferences/{conf_id}").get_data(as_text=True)
    assert "加入会议" in page and "进入会议室" not in page          # not live yet: no room for participants
    assert "进入会议室" in host.c.get(f"/conferences/{conf_id}").get_data(as_text=True)   # the host opens it

    assert member.c.post(f"/conferences/{conf_id}/join").status_code == 400        # no CSRF token
    assert participants(db, conf_id) == {}
    assert member.c.post(f"/conferences/{conf_id}/join", data={"csrf_token": member.token}).status_code == 303
    assert member.c.post(f"/conferences/{conf_id}/join", data={"csrf_token": member.token}).status_code == 303
    rows = participants(db, conf_id)
    zhangsan = user(db, "zhangsan").id
    assert list(rows) == [zhangsan]
    assert rows[zhangsan].role == ParticipantRole.PARTICIPANT and rows[zhangsan].joined_at is not None
    assert rows[zhangsan].left_at is None
    assert "离开会议" in member.c.get(f"/conferences/{conf_id}").get_data(as_text=True)

    assert host.c.post(f"/conferences/{conf_id}/join", data={"csrf_token": host.token}).status_code == 303
    assert participants(db, conf_id)[user(db, "officer_zj").id].role == ParticipantRole.HOST
    assert outsider.c.post(f"/conferences/{conf_id}/join", data={"csrf_token": outsider.token}).status_code == 404

    # who has joined: the host (and staff of the host unit) only
    host_page = host.c.get(f"/conferences/{conf_id}").get_data(as_text=True)
    assert "已加入人员" in host_page and "张三" in host_page and "北山街道司法所" in host_page
    for other in (member, peer):
        html = other.c.get(f"/conferences/{conf_id}").get_data(as_text=True)
        assert "已加入人员" not in html and 'id="joined"' not in html

    assert member.c.post(f"/conferences/{conf_id}/leave", data={"csrf_token": member.token}).status_code == 303
    left = participants(db, conf_id)[zhangsan]
    assert left.left_at is not None and left.left_at >= left.joined_at
    first_join = left.joined_at
    # joining again reopens the same row
    assert member.c.post(f"/conferences/{conf_id}/join", data={"csrf_token": member.token}).status_code == 303
    again = participants(db, conf_id)[zhangsan]
    assert again.left_at is None and again.joined_at == first_join
    assert len(participants(db, conf_id)) == 2
    # leaving without having joined changes nothing
    assert peer.c.post(f"/conferences/{conf_id}/leave", data={"csrf_token": peer.token}).status_code == 303
    assert user(db, "officer_bs").id not in participants(db, conf_id)


def test_no_joining_a_cancelled_conference(app, db, client_for):
    conf_id = make_conference(db, "取消的会", T0 + timedelta(days=1), status=ConferenceStatus.CANCELLED)
    member = client_for("zhangsan")
    assert "加入会议" not in member.c.get(f"/conferences/{conf_id}").get_data(as_text=True).replace("加入会议仅", "")
    assert member.c.post(f"/conferences/{conf_id}/join", data={"csrf_token": member.token}).status_code == 303
    assert participants(db, conf_id) == {}


def test_scheduler_runs_the_reminders_every_minute(app, db, sockets, monkeypatch):
    from webapp import scheduler
    now = utcnow()
    make_conference(db, "马上开始的会", now + timedelta(minutes=5), created_at=now - timedelta(days=1))
    monkeypatch.setattr(scheduler, "_app", app)
    assert scheduler.conference_reminders() == 1
    assert [n["minutes_before"] for n in received(sockets)["wangwu"]] == [10]
    assert scheduler.conference_reminders() == 0
    running = scheduler.start(app)
    try:
        job = running.get_job("conference_reminders")
        assert job is not None and job.coalesce and job.max_instances == 1
        assert job.trigger.interval == timedelta(minutes=1)
    finally:
        running.shutdown(wait=False)
