"""Group education sessions on the web (issue 16): scheduling one with a conference, who may see
its attendance, and the attendance table with its CSV and XLSX exports.

The table's figures are worked out by hand from the rows the test writes (times in seconds from
T, a Tuesday morning in Asia/Shanghai; the session ends at T + 600 through the real end of the
conference, which credits it):

| person (unit)           | presence     | checks                                   | present | attended          | credited |
| 区级工作人员 (西湖区, host) | 0..600       | -                                        | 10 min  | 0                 | -        |
| 张三 (北山)              | 0..600       | face passed 60, 180, 300, 420            | 10 min  | 60..420 = 6 min   | 6 min    |
| 李四 (北山)              | 30..330      | face passed 90, failed 210, passed 270   | 5 min   | 0 (no two passed in a row) | 0 |
| 灵隐所 李警官 (灵隐, on site) | 0..600 | -                                        | 10 min  | 0                 | -        |
| 王五 (灵隐, shared room)  | 0..600       | officer 120, 240 passed; terminal 360    | 10 min  | 120..360 = 4 min  | 3.5 min: home study at 300..330 already credited |

Totals over the supervisees: 3 people, 25 min present, face 6 passed / 1 failed, officer 2 / 0,
terminal 1 / 0, 10 min attended, 9.5 min credited.
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.conftest import make_course, user
from webapp.conferences import education_store as store
from webapp.conferences import lifecycle
from webapp.models import AuditLog, Conference, ConferenceStatus, CreditEntry, EducationSession

ZONE = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 11, 10, 10, 0, tzinfo=ZONE).timestamp()

HEADER = ["姓名", "单位", "矫正对象", "在场（分钟）", "人脸核验通过", "人脸核验未通过", "工作人员确认通过",
          "工作人员确认未通过", "终端签到通过", "终端签到未通过", "有效出勤（分钟）", "计入学时（分钟）"]
ROWS = {   # name -> the rest of the row, as numbers (credited: "" for officers)
    "区级工作人员": ["西湖区司法局", "否", 10.0, 0, 0, 0, 0, 0, 0, 0.0, ""],
    "张三": ["北山街道司法所", "是", 10.0, 4, 0, 0, 0, 0, 0, 6.0, 6.0],
    "李四": ["北山街道司法所", "是", 5.0, 2, 1, 0, 0, 0, 0, 0.0, 0.0],
    "灵隐所 李警官": ["灵隐街道司法所", "否", 10.0, 0, 0, 0, 0, 0, 0, 0.0, ""],
    "王五": ["灵隐街道司法所", "是", 10.0, 0, 0, 2, 0, 1, 0, 4.0, 3.5],
}
TOTALS = ["合计（矫正对象）", "", 3, 25.0, 6, 1, 2, 0, 1, 0, 10.0, 9.5]


def naive_utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def local(delta: timedelta) -> str:
    return (datetime.now(ZONE) + delta).strftime("%Y-%m-%dT%H:%M")


def held_session(app, db) -> Conference:
    """The session of the table above, ended (and so credited: the end needs the app's time zone)."""
    host, onsite = user(db, "officer_xh"), user(db, "officer_ly")
    a, b, c = user(db, "zhangsan"), user(db, "lisi"), user(db, "wangwu")
    conference = Conference(host_unit_id=host.unit_id, host_officer_id=host.id, title="西湖区法治教育课",
                            starts_at=naive_utc(T), duration_min=10, levels="5", include_supervisees=True,
                            status=ConferenceStatus.LIVE)
    db.add(conference)
    db.flush()
    edu = EducationSession(conference_id=conference.id, topic="宪法学习", first_within_s=30, min_gap_s=60,
                           max_gap_s=150, max_parallel=2)
    db.add(edu)
    db.add(CreditEntry(learner_id=c.id, course_id=None, session_id="home", kind="course", media_start=0.0,
                       media_end=30.0, wall_start=T + 300, wall_end=T + 330, unique_s=30.0, credited_s=30.0,
                       presence_source="breakpoint", month="2026-11"))
    db.flush()
    for person, joined, shared in ((host, 0, False), (a, 0, False), (b, 30, False), (onsite, 0, False), (c, 0, True)):
        store.open_presence(db, edu.id, person.id, "/ly/" if shared else "", T + joined, shared_room=shared)
    for at, passed in ((60, True), (180, True), (300, True), (420, True)):
        store.record_check(db, edu.id, a.id, T + at, "face", passed, "", scores={"distance": 0.31})
    for at, passed in ((90, True), (210, False), (270, True)):
        store.record_check(db, edu.id, b.id, T + at, "face", passed, "")
    store.record_check(db, edu.id, c.id, T + 120, "officer", True, "/ly/", confirmed_by_id=onsite.id)
    store.record_check(db, edu.id, c.id, T + 240, "officer", True, "/ly/", confirmed_by_id=onsite.id)
    store.record_check(db, edu.id, c.id, T + 360, "terminal", True, "/ly/")
    store.close_presence(db, edu.id, b.id, T + 330)
    with app.app_context():
        assert lifecycle.transition(db, conference, lifecycle.Event.END, naive_utc(T + 600))
    db.commit()
    return conference


def as_table(rows: list[list]) -> tuple[dict, list]:
    """{name: rest of the row} and the totals row, numbers as numbers (CSV text parsed)."""
    def number(cell):
        if isinstance(cell, str):
            try:
                return float(cell) if "." in cell else int(cell)
            except ValueError:
                return cell
        return "" if cell is None else cell
    rows = [[number(c) for c in row] for row in rows]
    return {row[0]: row[1:] for row in rows[:-1]}, rows[-1]


def test_scheduling_an_education_session_with_its_check_timings(app, db, client_for):
    course = make_course(app, db, slug="edu-course")
    client = client_for("officer_xh")
    page = client.c.get("/conferences/new").get_data(as_text=True)
    assert "集体教育课（可选）" in page and course.title in page and 'name="edu_max_gap_s"' in page

    def schedule(title, **education):
        data = {"csrf_token": client.token, "title": title, "starts_at": local(timedelta(days=1)),
                "duration_min": "45", "levels": ["5"], "include_supervisees": "y",
                "edu_first_within_s": "120", "edu_min_gap_s": "300", "edu_max_gap_s": "900", "edu_max_parallel": "2"}
        data.update(education)
        return client.c.post("/conferences/new", data=data)

    def made(title):
        db.expire_all()
        conf = db.scalar(select(Conference).where(Conference.title == title))
        return conf, conf and db.scalar(select(EducationSession).where(EducationSession.conference_id == conf.id))

    assert schedule("宪法课", education="y", edu_topic=" 宪法学习 ", edu_first_within_s="30", edu_min_gap_s="60",
                    edu_max_gap_s="90", edu_max_parallel="3").status_code == 303
    conf, edu = made("宪法课")
    assert (edu.course_id, edu.topic, edu.first_within_s, edu.min_gap_s, edu.max_gap_s, edu.max_parallel) == (
        None, "宪法学习", 30.0, 60.0, 90.0, 3)
    assert edu.credited_at is None and edu.session_cap_min is None
    audit = db.scalar(select(AuditLog).where(AuditLog.target == f"conference:{conf.id}"))
    assert "education:1" in audit.detail
    assert schedule("课程课", education="y", edu_course=str(course.id)).status_code == 303
    _conf, edu = made("课程课")
    assert (edu.course_id, edu.topic, edu.first_within_s, edu.min_gap_s, edu.max_gap_s, edu.max_parallel) == (
        course.id, "", 120.0, 300.0, 900.0, 2)
    detail = client.c.get(f"/conferences/{_conf.id}").get_data(as_text=True)
    assert "集体教育课" in detail and course.title in detail and f"/conferences/{_conf.id}/education" in detail
    # not ticked: a plain conference, whatever the education fields hold
    assert schedule("普通会议", edu_topic="x", edu_max_gap_s="abc").status_code == 303
    conf, edu = made("普通会议")
    assert conf is not None and edu is None

    refused = {
        "无主题": ({}, "请选择课程或填写主题。"),
        "错课程": ({"edu_course": "99999"}, "请从列表中选择课程。"),
        "首检太快": ({"edu_topic": "t", "edu_first_within_s": "29"}, "首次核验时限至少 30 秒，且须短于最长间隔。"),
        "首检太晚": ({"edu_topic": "t", "edu_first_within_s": "900"}, "首次核验时限至少 30 秒，且须短于最长间隔。"),
        "间隔太短": ({"edu_topic": "t", "edu_min_gap_s": "59"}, "最短间隔至少 60 秒，且须短于最长间隔。"),
        "间隔颠倒": ({"edu_topic": "t", "edu_min_gap_s": "900"}, "最短间隔至少 60 秒，且须短于最长间隔。"),
        "间隔太长": ({"edu_topic": "t", "edu_max_gap_s": "3601"}, "最长间隔不能超过 3600 秒。"),
        "并发为零": ({"edu_topic": "t", "edu_max_parallel": "0"}, "同时核验人数须在 1 到 8 之间。"),
        "并发太多": ({"edu_topic": "t", "edu_max_parallel": "9"}, "同时核验人数须在 1 到 8 之间。"),
        "不是数字": ({"edu_topic": "t", "edu_min_gap_s": "五分钟"}, "请输入整数。"),
        "负数": ({"edu_topic": "t", "edu_max_gap_s": "-900"}, "请输入整数。"),
        "主题太长": ({"edu_topic": "长" * 201}, "主题最多 200 个字符。"),
    }
    for title, (fields, message) in refused.items():
        answer = schedule(title, education="y", **fields)
        assert answer.status_code == 200 and message in answer.get_data(as_text=True), title
        assert made(title)[0] is None, title
    # at the bounds: accepted
    assert schedule("边界", education="y", edu_topic="t", edu_first_within_s="30", edu_min_gap_s="60",
                    edu_max_gap_s="3600", edu_max_parallel="8").status_code == 303
    assert made("边界")[1].max_gap_s == 3600.0


def test_who_may_see_a_sessions_attendance(app, db, client_for):
    conference = held_session(app, db)
    plain = Conference(host_unit_id=conference.host_unit_id, host_officer_id=conference.host_officer_id,
                       title="普通会议", starts_at=conference.starts_at, duration_min=10, levels="5",
                       include_supervisees=True)
    db.add(plain)
    db.commit()
    paths = [f"/conferences/{conference.id}/education", f"/conferences/{conference.id}/education/export.csv",
             f"/conferences/{conference.id}/education/export.xlsx"]
    expected = {"officer_xh": 200,     # the host unit
                "officer_hz": 200,     # the city above it (it cannot open the conference itself)
                "admin": 200,          # the ministry's administrator
                "officer_bs": 403,     # an included township: sees the conference, not the table
                "officer_my": 404,     # another province's township: not even the conference
                "zhangsan": 403}       # a supervisee invited to it
    for username, status in expected.items():
        client = client_for(username)
        for path in paths:
            assert client.c.get(path).status_code == status, (username, path)
    host = client_for("officer_xh")
    assert host.c.get(f"/conferences/{plain.id}/education").status_code == 404          # no session
    assert host.c.get("/conferences/999999/education/export.csv").status_code == 404
    assert client_for().c.get(paths[0]).status_code == 302                               # to the login
    # the detail page links the table for those who may see it only
    link = f'href="/conferences/{conference.id}/education"'
    assert link in host.c.get(f"/conferences/{conference.id}").get_data(as_text=True)
    township = client_for("officer_bs").c.get(f"/conferences/{conference.id}").get_data(as_text=True)
    assert "宪法学习" in township and link not in township


def test_attendance_table_and_exports_match_the_hand_worked_figures(app, db, client_for):
    from openpyxl import load_workbook

    from webapp.core.spreadsheets import CSV_MIMETYPE, XLSX_MIMETYPE
    import csv

    conference = held_session(app, db)
    # the ledger: 张三 6 min and 王五 3.5 min (120..300 and 330..360), nobody else
    rows = db.execute(select(CreditEntry.learner_id, CreditEntry.wall_start, CreditEntry.wall_end)
                      .where(CreditEntry.kind == "group").order_by(CreditEntry.wall_start)).all()
    a, c = user(db, "zhangsan").id, user(db, "wangwu").id
    assert [tuple(r) for r in rows] == [(a, T + 60, T + 420), (c, T + 120, T + 300), (c, T + 330, T + 360)]

    client = client_for("officer_hz")
    page = client.c.get(f"/conferences/{conference.id}/education").get_data(as_text=True)
    assert "西湖区法治教育课" in page and "宪法学习" in page and "已于" in page
    table = page.split('id="education-attendance"', 1)[1]
    for name in ROWS:
        assert f"<td>{name}</td>" in table
    assert "<th>9.5</th>" in table and "<th>25.0</th>" in table

    response = client.c.get(f"/conferences/{conference.id}/education/export.csv")
    assert response.mimetype == CSV_MIMETYPE.split(";")[0]
    assert response.get_data().startswith(b"\xef\xbb\xbf")                  # the BOM Excel needs
    assert f'filename="education-{conference.id}.csv"' in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert lines[0] == HEADER
    body, totals = as_table(lines[1:])
    assert body == ROWS and totals == TOTALS

    response = client.c.get(f"/conferences/{conference.id}/education/export.xlsx")
    assert response.mimetype == XLSX_MIMETYPE
    sheet = load_workbook(io.BytesIO(response.get_data())).worksheets[0]
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells[0] == HEADER
    body, totals = as_table(cells[1:])
    assert body == ROWS and totals == TOTALS
    exported = db.scalars(select(AuditLog.detail).where(AuditLog.action == "education_attendance_exported")).all()
    assert sorted(d.split(" format:")[1] for d in exported) == ["csv rows:5", "xlsx rows:5"]


def test_accepted_timings_always_make_a_sampling_policy():
    """Whatever the form accepts, the pure check sampler takes (conferencing.education.SamplingPolicy
    raises ValueError on timings it cannot keep); the reserve for waiting behind K is 120 s, or what
    the gaps leave: (120, 300, 900) -> 120; (30, 60, 90) -> 90 - 60 = 30; (60, 60, 61) -> 1."""
    from webapp.conferences.education_store import sampling_policy, timing_problems

    def edu(first, low, high, k=2):
        return EducationSession(first_within_s=float(first), min_gap_s=float(low), max_gap_s=float(high),
                                max_parallel=k)
    assert sampling_policy(edu(120, 300, 900)).reserve_s == 120.0
    assert sampling_policy(edu(30, 60, 90)).reserve_s == 30.0
    assert sampling_policy(edu(60, 60, 61)).reserve_s == 1.0
    accepted = 0
    for first in (29, 30, 59, 60, 61, 119, 120, 600, 3599, 3600):
        for low in (59, 60, 61, 300, 899, 3599):
            for high in (60, 61, 90, 120, 180, 900, 3600, 3601):
                for k in (0, 1, 8, 9):
                    if timing_problems(first, low, high, k):
                        continue
                    accepted += 1
                    policy = sampling_policy(edu(first, low, high, k))
                    assert (policy.first_within_s, policy.min_gap_s, policy.max_gap_s, policy.max_parallel) == (
                        first, low, high, k)
    assert accepted == 2 * sum(1 for f in (29, 30, 59, 60, 61, 119, 120, 600, 3599, 3600)
                               for lo in (59, 60, 61, 300, 899, 3599) for hi in (60, 61, 90, 120, 180, 900, 3600, 3601)
                               if 30 <= f < hi and 60 <= lo < hi <= 3600)


def test_a_supervisees_record_names_the_group_session_and_its_course(app, db, client_for):
    """Group credit on the officer's record of the supervisee: 集体教育课 and the session's course
    (not assigned to the learner), no video seconds; home study keeps its course title."""
    from webapp.study.service import current_month

    a = user(db, "zhangsan")
    course = make_course(app, db, slug="edu-record", assign_to=())
    with app.app_context():
        month = current_month()
    now = datetime.now(timezone.utc).timestamp()
    db.add(CreditEntry(learner_id=a.id, course_id=course.id, session_id="edu99", kind="group", media_start=0.0,
                       media_end=240.0, wall_start=now - 600, wall_end=now - 360, unique_s=240.0, credited_s=240.0,
                       presence_source="edu_checks", month=month))
    db.commit()
    page = client_for("officer_xh").c.get(f"/officer/supervisee/{a.id}").get_data(as_text=True)
    row = page.split("本月认定的学习区间", 1)[1].split("</tbody>", 1)[0]
    assert f"集体教育课: {course.title}" in row and "<td>—</td>" in row and "<td>240</td>" in row
