"""Conferences on the web: scheduling with validation, visibility along the chain of units, cancelling."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.conftest import user
from webapp.models import AuditLog, Conference, ConferenceStatus

ZONE = ZoneInfo("Asia/Shanghai")


def local(delta: timedelta) -> str:
    return (datetime.now(ZONE) + delta).strftime("%Y-%m-%dT%H:%M")


def create(client, title="季度工作会议", starts=None, duration="60", levels=(), supervisees=False):
    data = {"csrf_token": client.token, "title": title, "starts_at": starts or local(timedelta(days=1)),
            "duration_min": duration, "levels": [str(level) for level in levels]}
    if supervisees:
        data["include_supervisees"] = "y"
    return client.c.post("/conferences/new", data=data)


def conference(db, title) -> Conference:
    db.expire_all()
    return db.scalar(select(Conference).where(Conference.title == title))


def test_officer_schedules_a_conference(app, db, client_for):
    client = client_for("officer_zj")
    page = client.c.get("/conferences/new").get_data(as_text=True)
    assert "市" in page and "区县" in page and "司法所" in page
    starts = local(timedelta(days=3))
    response = create(client, title="全省矫正工作会", starts=starts, duration="90", levels=(3, 4, 5),
                      supervisees=True)
    assert response.status_code == 303
    conf = conference(db, "全省矫正工作会")
    assert conf is not None
    assert conf.host_unit_id == user(db, "officer_zj").unit_id
    assert conf.host_officer_id == user(db, "officer_zj").id
    assert conf.levels == "3,4,5" and conf.include_supervisees and conf.duration_min == 90
    assert conf.status == ConferenceStatus.SCHEDULED
    # stored in UTC: Asia/Shanghai is UTC+8
    expected = datetime.strptime(starts, "%Y-%m-%dT%H:%M") - timedelta(hours=8)
    assert conf.starts_at == expected
    assert db.scalar(select(AuditLog).where(AuditLog.action == "conference_created",
                                            AuditLog.target == f"conference:{conf.id}")) is not None
    detail = client.c.get(f"/conferences/{conf.id}").get_data(as_text=True)
    assert "全省矫正工作会" in detail and "北山街道司法所" in detail and "浙江省司法厅" in detail


def test_invalid_input_is_refused_in_chinese(app, db, client_for):
    client = client_for("officer_zj")
    past = create(client, title="过去的会", starts=local(-timedelta(hours=1)))
    assert past.status_code == 200 and "开始时间必须晚于当前时间。" in past.get_data(as_text=True)
    short = create(client, title="太短的会", duration="3")
    assert short.status_code == 200 and "时长须在 5 至 480 分钟之间。" in short.get_data(as_text=True)
    long = create(client, title="太长的会", duration="481")
    assert "时长须在 5 至 480 分钟之间。" in long.get_data(as_text=True)
    own_level = create(client, title="同级的会", levels=(2,))
    assert own_level.status_code == 200 and "只能选择本单位以下的层级。" in own_level.get_data(as_text=True)
    no_title = create(client, title="")
    assert "请填写会议标题。" in no_title.get_data(as_text=True)
    too_long = create(client, title="长" * 201)
    assert "标题最多 200 个字符。" in too_long.get_data(as_text=True)
    supervisees_only = create(client, title="只请矫正对象", levels=(3,), supervisees=True)
    assert "只有包括司法所层级时才能邀请矫正对象。" in supervisees_only.get_data(as_text=True)
    for title in ("过去的会", "太短的会", "太长的会", "同级的会", "只请矫正对象"):
        assert conference(db, title) is None


def test_township_officer_has_no_lower_levels(app, db, client_for):
    client = client_for("officer_bs")
    page = client.c.get("/conferences/new").get_data(as_text=True)
    assert 'name="levels"' not in page
    assert create(client, title="下级的会", levels=(5,)).status_code == 200
    assert conference(db, "下级的会") is None
    assert create(client, title="北山所例会", supervisees=True).status_code == 303
    assert conference(db, "北山所例会").include_supervisees


def test_visibility_follows_the_chain(app, db, client_for):
    assert create(client_for("officer_zj"), title="省厅大会", levels=(3, 4, 5), supervisees=True).status_code == 303
    assert create(client_for("officer_bs"), title="北山所例会", supervisees=True).status_code == 303
    assert create(client_for("officer_zj"), title="省厅内部会").status_code == 303
    province, township, internal = (conference(db, t) for t in ("省厅大会", "北山所例会", "省厅内部会"))

    def sees(username):
        client = client_for(username)
        listing = client.c.get("/conferences/").get_data(as_text=True)
        result = {}
        for conf in (province, township, internal):
            status = client.c.get(f"/conferences/{conf.id}").status_code
            assert (status == 200) == (conf.title in listing), (username, conf.title)
            result[conf.title] = status == 200
        return result

    assert sees("officer_bs") == {"省厅大会": True, "北山所例会": True, "省厅内部会": False}
    assert sees("zhangsan") == {"省厅大会": True, "北山所例会": True, "省厅内部会": False}
    assert sees("lisi") == {"省厅大会": True, "北山所例会": True, "省厅内部会": False}
    assert sees("officer_ly") == {"省厅大会": True, "北山所例会": False, "省厅内部会": False}
    assert sees("wangwu") == {"省厅大会": True, "北山所例会": False, "省厅内部会": False}
    assert sees("officer_zj") == {"省厅大会": True, "北山所例会": False, "省厅内部会": True}
    # above the host: the ministry does not see a province's or a township's conference
    assert sees("officer_moj") == {"省厅大会": False, "北山所例会": False, "省厅内部会": False}
    # another province's chain
    assert sees("officer_my") == {"省厅大会": False, "北山所例会": False, "省厅内部会": False}
    assert sees("zhaoliu") == {"省厅大会": False, "北山所例会": False, "省厅内部会": False}
    # levels not included: the city and district officers see the province conference, not the internal one
    assert sees("officer_hz")["省厅大会"] and not sees("officer_hz")["省厅内部会"]


def test_upcoming_conferences_come_first(app, db, client_for):
    client = client_for("officer_bs")
    create(client, title="后天的会", starts=local(timedelta(days=2)))
    create(client, title="明天的会", starts=local(timedelta(days=1)))
    listing = client.c.get("/conferences/").get_data(as_text=True)
    assert listing.index("明天的会") < listing.index("后天的会")
    assert "已安排" in listing


def test_cancel_by_host_and_not_by_others(app, db, client_for):
    host = client_for("officer_zj")
    assert create(host, title="待取消的会", levels=(5,), supervisees=True).status_code == 303
    conf = conference(db, "待取消的会")
    # a participant officer below the host may see it but not cancel it
    other = client_for("officer_bs")
    assert other.c.get(f"/conferences/{conf.id}").status_code == 200
    assert other.c.post(f"/conferences/{conf.id}/cancel", data={"csrf_token": other.token}).status_code == 403
    # an officer outside the chain gets 404, a supervisee 403
    outsider = client_for("officer_my")
    assert outsider.c.post(f"/conferences/{conf.id}/cancel",
                           data={"csrf_token": outsider.token}).status_code == 404
    supervisee = client_for("zhangsan")
    assert supervisee.c.post(f"/conferences/{conf.id}/cancel",
                             data={"csrf_token": supervisee.token}).status_code == 403
    # without the CSRF token nothing happens
    assert host.c.post(f"/conferences/{conf.id}/cancel").status_code == 400
    assert conference(db, "待取消的会").status == ConferenceStatus.SCHEDULED
    assert host.c.post(f"/conferences/{conf.id}/cancel", data={"csrf_token": host.token}).status_code == 303
    assert conference(db, "待取消的会").status == ConferenceStatus.CANCELLED
    assert db.scalar(select(AuditLog).where(AuditLog.action == "conference_cancelled",
                                            AuditLog.target == f"conference:{conf.id}")) is not None
    assert "已取消" in host.c.get(f"/conferences/{conf.id}").get_data(as_text=True)


def test_nav_links_to_conferences(app, client_for):
    for name in ("officer_bs", "zhangsan"):
        html = client_for(name).c.get("/conferences/").get_data(as_text=True)
        assert "视频会议" in html and 'href="/conferences/"' in html


def test_live_conferences_long_past_their_end_are_ended(app, db):
    from webapp.conferences.live import end_overdue_conferences, get_live, open_live
    from webapp.extensions import socketio
    from webapp.models import ConferenceParticipant, utcnow

    host = user(db, "officer_bs")
    now = utcnow()
    overdue = Conference(host_unit_id=host.unit_id, host_officer_id=host.id, title="忘了结束", duration_min=60,
                         starts_at=now - timedelta(minutes=91), status=ConferenceStatus.LIVE)
    running = Conference(host_unit_id=host.unit_id, host_officer_id=host.id, title="进行中", duration_min=60,
                         starts_at=now - timedelta(minutes=89), status=ConferenceStatus.LIVE)
    db.add_all([overdue, running])
    db.flush()
    db.add(ConferenceParticipant(conference_id=overdue.id, user_id=user(db, "zhangsan").id, joined_at=now))
    db.commit()
    live = open_live(app, overdue.id, host.id, host.unit.path)
    told = []
    original_emit = socketio.emit
    socketio.emit = lambda event, body, **kw: told.append((event, body))
    try:
        with app.app_context():
            from webapp.core import db as webdb
            with webdb.write_transaction() as session:
                assert end_overdue_conferences(app, session, now) == [overdue.id]
    finally:
        socketio.emit = original_emit
    # the room was told and its media closed
    assert ("conf", {"conference_id": overdue.id, "type": "ended"}) in told
    assert live.closed and get_live(app, overdue.id) is None
    db.expire_all()
    assert db.get(Conference, overdue.id).status == ConferenceStatus.ENDED
    assert db.get(Conference, running.id).status == ConferenceStatus.LIVE
    assert db.scalar(select(ConferenceParticipant).where(ConferenceParticipant.conference_id == overdue.id)).left_at == now


def test_wrong_media_settings_fail_at_start_up(tmp_path):
    import pytest
    from webapp import create_app

    base = {"INSTANCE_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": "k"}
    for wrong, words in (({"CONFERENCE_MEDIA_BACKEND": "mediasoup"}, "available"),
                         ({"CONFERENCE_MEDIA_BACKEND": "janus"}, "needs JANUS_URL"),
                         ({"CONFERENCE_RELAY_TRANSPORT": "carrier-pigeon"}, "inprocess or webrtc"),
                         ({"ROLLCALL_PARALLEL": 0}, "at least 1")):
        with pytest.raises(ValueError, match=words):
            create_app({**base, **wrong})
