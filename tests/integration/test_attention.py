"""What needs attention (issue 14): the officer's page and the study reminder job, against answers
written here by hand.

The demo tree (司法部 > 浙江 > 杭州 > 西湖区 > 北山 / 灵隐; 江苏 > ... > 梅园) gets supervisees with
credit (real CreditEntry rows, then compliance's `refresh_month`), proctoring flags raised at
chosen ages, conferences and VR assignments. The page's clock is the 16th of the current month at
noon (Asia/Shanghai): 15 days gone, 13 to 16 left (the month's length), so the pace for 8 hours is
3.87-4.29 h; with one hour of slack, behind is below 2.87-3.29 h and far behind below half the
pace, 1.94-2.14 h. The hours below are chosen clear of those bounds for every month length.

    北山 (8 h):  张三 5 h on track · 李四 3.5 h on track · 北山甲 2.5 h BEHIND · 北山乙 1 h FAR
                 北山丙 0 h FAR (no phone) · 北山丁 9 h met · 北山戊 0 h, supervision ended (not listed)
    灵隐 (80 h): 王五 0 h CANNOT_MEET (80 h > 13-16 days x 4 h) · 灵隐甲 30 h BEHIND (phone raises)
    梅园 (8 h):  赵六 0 h FAR
"""
from __future__ import annotations

import time
from calendar import monthrange
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bench.officer_check import Tables
from tests.conftest import user
from webapp.attention.channels import SendResult
from webapp.compliance import months
from webapp.models import (Conference, ConferenceStatus, CreditEntry, OrgUnit, ProctorFlag, Role, RollCall,
                           StudyReminder, User, VrAssignment, VrAssignmentStatus)

H = 3600.0
DAY = 86400.0

# name -> (unit, hours credited, phone or None, what the page must say)
PEOPLE = {
    "张三": ("北山街道司法所", 5.0, "13800000010", None),
    "李四": ("北山街道司法所", 3.5, None, None),
    "北山甲": ("北山街道司法所", 2.5, "13800000001", "behind"),
    "北山乙": ("北山街道司法所", 1.0, "13800000002", "far_behind"),
    "北山丙": ("北山街道司法所", 0.0, None, "far_behind"),
    "北山丁": ("北山街道司法所", 9.0, "13800000011", None),
    "北山戊": ("北山街道司法所", 0.0, "13800000012", None),      # supervision ended this month
    "王五": ("灵隐街道司法所", 0.0, "13800000003", "cannot_meet"),
    "灵隐甲": ("灵隐街道司法所", 30.0, "13800000004", "behind"),
    "赵六": ("梅园新村街道司法所", 0.0, "13800000005", "far_behind"),
}
BS, LY, MY = "北山街道司法所", "灵隐街道司法所", "梅园新村街道司法所"
RAISING_PHONE = "13800000004"


def data_rows(html: str, table: str, key: str) -> list[tuple[dict, list[str]]]:
    return [(a, c) for a, c in Tables(html).tables.get(table, []) if key in a]


def the_16th(app) -> datetime:
    """Noon on the 16th of the current month, platform time, as aware UTC."""
    with app.app_context():
        from webapp.study import current_month
        month = current_month()
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    return datetime(int(month[:4]), int(month[5:7]), 16, 12, tzinfo=zone).astimezone(timezone.utc)


class World:
    pass


@pytest.fixture
def world(app, db, monkeypatch):
    from webapp.attention import queries
    w = World()
    w.now = the_16th(app)
    monkeypatch.setattr(queries, "clock", lambda: w.now)
    zone = ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])
    local = w.now.astimezone(zone)
    w.month = local.strftime("%Y-%m")
    w.days_left = monthrange(local.year, local.month)[1] - 15
    units = {u.name: u for u in db.scalars(select(OrgUnit))}
    units[LY].monthly_required_hours = 80.0
    w.uid = {name: u.id for name, u in units.items()}
    demo = {"张三": "zhangsan", "李四": "lisi", "王五": "wangwu", "赵六": "zhaoliu"}
    with app.app_context():
        from webapp.people.personal_data import encrypt_text
        phones = {name: (encrypt_text(p) if p else None) for name, (_u, _h, p, _s) in PEOPLE.items()}
    w.ids = {}
    start, _end = months.bounds(w.month, app.config["BABEL_DEFAULT_TIMEZONE"])
    for i, (name, (unit, hours, _phone, _sev)) in enumerate(PEOPLE.items()):
        if name in demo:
            person = user(db, demo[name])
        else:
            person = User(username=f"att{i}", display_name=name, password_hash="x", role=Role.SUPERVISEE,
                          unit_id=w.uid[unit], active=True, failed_logins=0, session_version=0,
                          created_at=datetime(2000, 1, 1))
            db.add(person)
        person.created_at = datetime(2000, 1, 1)
        person.phone_enc = phones[name]
        db.flush()
        w.ids[name] = person.id
        if hours:
            at = start + 2 * DAY
            db.add(CreditEntry(learner_id=person.id, course_id=None, session_id=None, kind="course", media_start=0,
                               media_end=hours * H, wall_start=at, wall_end=at + hours * H, unique_s=hours * H,
                               credited_s=hours * H, presence_source="test", month=w.month))
    ended = db.get(User, w.ids["北山戊"])
    ended.active, ended.supervision_ended_at = False, datetime.now(timezone.utc).replace(tzinfo=None)
    # flags: (person, age in days, status)
    real_now = time.time()
    w.flags = {}
    for key, (name, age, status) in {"a_half": ("北山甲", 0.5, "open"), "a_two": ("北山甲", 2.0, "open"),
                                     "b_five": ("北山乙", 5.0, "open"), "b_ten": ("北山乙", 10.0, "open"),
                                     "b_done": ("北山乙", 2.0, "confirmed"), "w_fresh": ("王五", 0.2, "open"),
                                     "z_old": ("赵六", 8.0, "open")}.items():
        flag = ProctorFlag(learner_id=w.ids[name], kind="identity_mismatch", raised_at=real_now - age * DAY,
                           status=status)
        db.add(flag)
        db.flush()
        w.flags[key] = flag.id
    # conferences: (host unit, host officer, starts in days, status, levels, supervisees)
    utcnow = datetime.now(timezone.utc).replace(tzinfo=None)
    w.confs = {}
    for title, (unit, host, days, status, levels, sup) in {
            "北山所月度点名": (BS, "officer_bs", 2, "scheduled", "", True),
            "灵隐所学习会": (LY, "officer_ly", 3, "scheduled", "", True),
            "北山所远期会议": (BS, "officer_bs", 20, "scheduled", "", True),
            "北山所已取消会议": (BS, "officer_bs", 1, "cancelled", "", True),
            "部级警示教育大会": ("司法部", "officer_moj", 1, "scheduled", "2,3,4,5", True)}.items():
        conf = Conference(host_unit_id=w.uid[unit], host_officer_id=user(db, host).id, title=title,
                          starts_at=utcnow + timedelta(days=days), duration_min=60, levels=levels,
                          include_supervisees=sup, status=ConferenceStatus(status))
        db.add(conf)
        db.flush()
        w.confs[title] = conf.id
    db.add(RollCall(conference_id=w.confs["北山所月度点名"], started_at=utcnow + timedelta(days=2)))
    for name, status in (("北山甲", "pending"), ("北山乙", "done"), ("王五", "pending"), ("赵六", "cancelled"),
                         ("赵六", "pending")):
        db.add(VrAssignment(learner_id=w.ids[name], scene="prison", status=VrAssignmentStatus(status)))
    db.commit()
    with app.app_context():
        from webapp.compliance import refresh_month
        from webapp.core import db as app_db
        with app_db.write_transaction() as session:
            refresh_month(session, w.month)
            session.commit()
    return w


def behind_of(units: set[str]) -> dict[str, str]:
    return {name: sev for name, (unit, _h, _p, sev) in PEOPLE.items() if sev and unit in units}


def names_in(rows) -> list[str]:
    return [cells[0] for _attrs, cells in rows]


def get(client, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.c.get("/officer/attention" + (f"?{query}" if query else ""))


def test_behind_lists_the_hand_worked_people_of_each_subtree(app, db, world, client_for):
    cases = {"officer_bs": {BS}, "officer_ly": {LY}, "officer_my": {MY}, "officer_xh": {BS, LY},
             "officer_zj": {BS, LY}, "admin": {BS, LY, MY}}
    for officer, units in cases.items():
        page = get(client_for(officer))
        assert page.status_code == 200, officer
        html = page.get_data(as_text=True)
        rows = data_rows(html, "behind", "data-learner")
        shown = {cells[0]: attrs["data-severity"] for attrs, cells in rows}
        assert shown == behind_of(units), officer
        everyone_else = set(PEOPLE) - {n for n, (u, *_r) in PEOPLE.items() if u in units}
        assert not [n for n in everyone_else if n in html], (officer, "leaked")
    # the district: worst first (severity, then how far below the pace)
    html = get(client_for("officer_xh")).get_data(as_text=True)
    assert names_in(data_rows(html, "behind", "data-learner")) == ["王五", "北山丙", "北山乙", "灵隐甲", "北山甲"]
    cells = dict((c[0], c) for _a, c in data_rows(html, "behind", "data-learner"))
    assert cells["灵隐甲"][1:4] == ["灵隐街道司法所", "30.0", "80.0"]
    assert cells["北山甲"][1:4] == ["北山街道司法所", "2.5", "8.0"]
    assert f'href="/officer/supervisee/{world.ids["北山甲"]}"' in html
    # counts per severity
    assert 'data-severity="cannot_meet">1<' in html and 'data-severity="far_behind">2<' in html
    assert 'data-severity="behind">2<' in html


def test_behind_is_paginated(app, db, world, client_for, monkeypatch):
    from webapp.attention import views
    monkeypatch.setattr(views, "PER_PAGE", 2)
    client = client_for("officer_xh")
    pages = [names_in(data_rows(get(client, page=n).get_data(as_text=True), "behind", "data-learner"))
             for n in (1, 2, 3, 4)]
    assert pages == [["王五", "北山丙"], ["北山乙", "灵隐甲"], ["北山甲"], []]
    html = get(client, page=2).get_data(as_text=True)
    assert 'rel="prev"' in html and 'rel="next"' in html
    for bad in ("0", "abc", "100001", "-1"):
        assert get(client, page=bad).status_code == 400
        assert get(client, flags_page=bad).status_code == 400


def test_open_flags_by_age(app, db, world, client_for):
    # bs: 0.5 d, 2 d (北山甲), 5 d, 10 d (北山乙; its confirmed flag is not counted)
    expected = {"officer_bs": ({"lt1": 1, "d1_3": 1, "d3_7": 1, "gt7": 1}, ["b_ten", "b_five", "a_two", "a_half"]),
                "officer_ly": ({"lt1": 1, "d1_3": 0, "d3_7": 0, "gt7": 0}, ["w_fresh"]),
                "officer_xh": ({"lt1": 2, "d1_3": 1, "d3_7": 1, "gt7": 1},
                               ["b_ten", "b_five", "a_two", "a_half", "w_fresh"]),
                "admin": ({"lt1": 2, "d1_3": 1, "d3_7": 1, "gt7": 2},
                          ["b_ten", "z_old", "b_five", "a_two", "a_half", "w_fresh"])}
    for officer, (buckets, order) in expected.items():
        html = get(client_for(officer)).get_data(as_text=True)
        (_attrs, cells), = [r for r in Tables(html).tables["flag-ages"] if r[1] and r[0] == {} and
                            all(c.isdigit() for c in r[1])]
        assert dict(zip(("lt1", "d1_3", "d3_7", "gt7"), map(int, cells))) == buckets, officer
        shown = [int(a["data-flag"]) for a, _c in data_rows(html, "flags", "data-flag")]
        assert shown == [world.flags[k] for k in order], officer
        for key in order:
            assert f'href="/officer/flags/{world.flags[key]}"' in html


def test_conferences_coming_up(app, db, world, client_for):
    expected = {"officer_bs": ["北山所月度点名"], "officer_ly": ["灵隐所学习会"],
                "officer_xh": ["北山所月度点名", "灵隐所学习会"], "officer_my": [],
                "officer_moj": ["部级警示教育大会", "北山所月度点名", "灵隐所学习会"]}
    for officer, titles in expected.items():
        html = get(client_for(officer)).get_data(as_text=True)
        rows = data_rows(html, "conferences", "data-conference")
        assert [c[0].split()[0] for _a, c in rows] == titles, officer
    bs = get(client_for("officer_bs")).get_data(as_text=True)
    row = {a["data-conference"]: c for a, c in data_rows(bs, "conferences", "data-conference")}
    assert row[str(world.confs["北山所月度点名"])][-1] == "1"        # its roll call
    assert f'href="/conferences/{world.confs["北山所月度点名"]}"' in bs
    # the district sees its township's meeting listed, but may not open it (only 北山 is invited)
    xh = get(client_for("officer_xh")).get_data(as_text=True)
    assert f'href="/conferences/{world.confs["北山所月度点名"]}"' not in xh


def test_vr_assignments_not_done(app, db, world, client_for):
    expected = {"officer_bs": ["北山甲"], "officer_ly": ["王五"], "officer_xh": ["北山甲", "王五"],
                "admin": ["北山甲", "王五", "赵六"]}
    for officer, names in expected.items():
        html = get(client_for(officer)).get_data(as_text=True)
        assert sorted(names_in(data_rows(html, "vr", "data-assignment"))) == sorted(names), officer


def test_unit_picker_stays_in_the_jurisdiction(app, db, world, client_for):
    admin = client_for("admin")
    html = get(admin, unit=world.uid[LY]).get_data(as_text=True)
    assert {c[0] for _a, c in data_rows(html, "behind", "data-learner")} == {"王五", "灵隐甲"}
    assert get(admin, unit="abc").status_code == 400
    assert get(admin, unit=999999).status_code == 404
    bs = client_for("officer_bs")
    assert get(bs, unit=world.uid[LY]).status_code == 404
    assert get(bs, unit=world.uid["西湖区司法局"]).status_code == 404       # above its own unit
    assert get(client_for("zhangsan")).status_code == 403
    anonymous = get(client_for(None))
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


# --- the reminder job ---------------------------------------------------------------------------

class RecordingChannel:
    """The test double: records what it is asked to send; one number makes it raise."""
    name = "testsms"

    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> SendResult:
        if phone == RAISING_PHONE:
            raise ConnectionError("gateway down")
        self.sent.append((phone, text))
        return SendResult(True, f"msg-{len(self.sent)}")


@pytest.fixture
def channel(app, monkeypatch):
    from webapp.attention import channels
    double = RecordingChannel()
    monkeypatch.setitem(channels._REGISTRY, "testsms", lambda config: double)
    app.config["REMINDER_CHANNEL"] = "testsms"
    return double


def run_job(app, now):
    with app.app_context():
        from webapp.attention import send_study_reminders
        return send_study_reminders(now=now)


def reminder_rows(db) -> list[tuple[int, str, str]]:
    db.expire_all()
    return sorted((r.learner_id, r.status, r.channel) for r in db.scalars(select(StudyReminder)))


def test_the_job_reminds_exactly_the_people_behind(app, db, world, channel, client_for):
    phone = {name: p for name, (_u, _h, p, _s) in PEOPLE.items()}
    counts = run_job(app, world.now)
    assert counts == {"sent": 4, "failed": 1, "no_contact": 1}
    # sent: everyone behind with a phone (not 灵隐甲, whose send raised; not 北山丙: no phone)
    assert sorted(p for p, _t in channel.sent) == sorted(phone[n] for n in ("北山甲", "北山乙", "王五", "赵六"))
    by_phone = dict(channel.sent)
    text = by_phone[phone["北山甲"]]
    assert text.startswith("北山甲") and "2.5" in text and "8.0" in text and str(world.days_left) in text
    assert not [n for n in PEOPLE if n != "北山甲" and n in text]       # no one else's name
    rows = reminder_rows(db)
    ids = world.ids
    assert rows == sorted([(ids["北山甲"], "sent", "testsms"), (ids["北山乙"], "sent", "testsms"),
                           (ids["王五"], "sent", "testsms"), (ids["赵六"], "sent", "testsms"),
                           (ids["灵隐甲"], "failed", "testsms"), (ids["北山丙"], "no_contact", "testsms")])
    failed = db.scalar(select(StudyReminder).where(StudyReminder.learner_id == ids["灵隐甲"]))
    assert failed.detail == "error: ConnectionError"
    # the same day again: nothing
    assert run_job(app, world.now + timedelta(hours=2)) == {"sent": 0, "failed": 0, "no_contact": 0}
    assert len(channel.sent) == 4 and len(reminder_rows(db)) == 6
    # the next day: only the failed send is tried again (sent and no_contact wait 3 days)
    assert run_job(app, world.now + timedelta(days=1)) == {"sent": 0, "failed": 1, "no_contact": 0}
    assert len(channel.sent) == 4
    # three days later (the 19th: the pace for 8 h is 4.65-5.14 h, behind below 3.65-4.14 h): the
    # window has passed for everyone still behind, and 李四 (3.5 h, no phone) is behind now too
    later = run_job(app, world.now + timedelta(days=3, hours=1))
    assert later == {"sent": 4, "failed": 1, "no_contact": 2}
    assert len(channel.sent) == 8
    assert (ids["李四"], "no_contact", "testsms") in reminder_rows(db)


def test_the_job_is_off_by_default(app, db, world):
    assert app.config["REMINDER_CHANNEL"] == ""
    assert run_job(app, world.now) == {}
    assert reminder_rows(db) == []


def test_the_page_lists_who_was_reminded_in_the_subtree_only(app, db, world, channel, client_for):
    run_job(app, world.now)
    expected = {"officer_bs": {"北山甲": "sent", "北山乙": "sent", "北山丙": "no_contact"},
                "officer_ly": {"王五": "sent", "灵隐甲": "failed"},
                "officer_my": {"赵六": "sent"}}
    stamp = world.now.astimezone(ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"])).strftime("%Y-%m-%d %H:%M")
    for officer, want in expected.items():
        html = get(client_for(officer)).get_data(as_text=True)
        rows = data_rows(html, "reminders", "data-status")
        assert {c[0]: a["data-status"] for a, c in rows} == want, officer
        assert all(c[1] == stamp for _a, c in rows)
        behind = {c[0]: c[-1] for _a, c in data_rows(html, "behind", "data-learner")}
        assert behind and all(v == stamp for v in behind.values()), officer    # "last reminded"
    xh = get(client_for("officer_xh")).get_data(as_text=True)
    assert "赵六" not in xh


def test_sms_gateway_request_format(monkeypatch):
    """The documented request, built and sent to a stand-in for urlopen (no network)."""
    import json

    from webapp.attention import channels
    seen = {}

    class Answer:
        def __init__(self, body):
            self.body = body

        def read(self, _n):
            return self.body

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_urlopen(request, timeout):
        seen.update(url=request.full_url, method=request.get_method(), headers=dict(request.header_items()),
                    body=json.loads(request.data.decode("utf-8")), timeout=timeout)
        return Answer(b'{"ok": true, "id": "m-1"}')

    monkeypatch.setattr(channels.urllib.request, "urlopen", fake_urlopen)
    sms = channels.channel_from_config({"REMINDER_CHANNEL": "sms", "SMS_GATEWAY_URL": "https://sms.example/send",
                                        "SMS_GATEWAY_KEY": "k3y", "SMS_SIGN": "智慧矫正"})
    assert sms.send("13800000001", "张三，您好") == SendResult(True, "m-1")
    assert seen["url"] == "https://sms.example/send" and seen["method"] == "POST" and seen["timeout"] == 10.0
    assert seen["headers"]["Authorization"] == "Bearer k3y"
    assert seen["body"] == {"to": "13800000001", "sign": "智慧矫正", "text": "张三，您好"}
    monkeypatch.setattr(channels.urllib.request, "urlopen", lambda r, timeout: Answer(b'{"ok": false, "error": "quota"}'))
    assert sms.send("13800000001", "x") == SendResult(False, "refused: quota")
    assert channels.channel_from_config({"REMINDER_CHANNEL": ""}) is None
    with pytest.raises(channels.ChannelConfigError):
        channels.channel_from_config({"REMINDER_CHANNEL": "sms"})             # no URL, key, sign
    with pytest.raises(channels.ChannelConfigError):
        channels.channel_from_config({"REMINDER_CHANNEL": "pigeon"})
