"""Roll-call attendance on the web: the table, host overrides (reason required, audited), CSV/XLSX
export, jurisdiction, and the supervisee record page."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import user
from webapp.models import (AttendanceOutcome, AttendanceRecord, AuditLog, Conference, OrgUnit, RollCall)


def unit(db, name):
    return db.scalar(select(OrgUnit).where(OrgUnit.name == name))


@pytest.fixture
def call(db):
    """A conference of 西湖区司法局 with supervisees: 张三、李四 (北山) and 王五 (灵隐) were called."""
    start = datetime(2026, 5, 4, 1, 0)
    conf = Conference(host_unit_id=unit(db, "西湖区司法局").id, host_officer_id=user(db, "officer_xh").id,
                      title="五月集中教育", starts_at=start, duration_min=60, levels="5", include_supervisees=True)
    db.add(conf)
    db.flush()
    rc = RollCall(conference_id=conf.id, started_by_id=user(db, "officer_xh").id,
                  started_at=start + timedelta(minutes=5), ended_at=start + timedelta(minutes=8))
    db.add(rc)
    db.flush()
    records = {}
    for name, outcome, scores in (("zhangsan", AttendanceOutcome.PRESENT_VERIFIED, {"distance": 0.31}),
                                  ("lisi", AttendanceOutcome.ABSENT, {"reason": "no face"}),
                                  ("wangwu", AttendanceOutcome.PRESENT_UNVERIFIED, {"distance": 0.72})):
        record = AttendanceRecord(roll_call_id=rc.id, user_id=user(db, name).id, outcome=outcome,
                                  scores_json=json.dumps(scores), recorded_at=start + timedelta(minutes=6))
        db.add(record)
        db.flush()
        records[name] = record.id
    db.commit()
    return {"conference": conf.id, "rollcall": rc.id, "records": records,
            "url": f"/conferences/{conf.id}/rollcalls/{rc.id}"}


def override(client, call, name, outcome, reason):
    return client.c.post(f"{call['url']}/records/{call['records'][name]}/override",
                         data={"csrf_token": client.token, "outcome": outcome, "reason": reason})


def record(db, record_id) -> AttendanceRecord:
    db.expire_all()
    return db.get(AttendanceRecord, record_id)


def test_host_sees_the_whole_table_in_chinese(app, db, client_for, call):
    html = client_for("officer_xh").c.get(call["url"]).get_data(as_text=True)
    for text in ("五月集中教育", "张三", "李四", "王五", "北山街道司法所", "灵隐街道司法所",
                 "出席（身份已核验）", "缺席", "出席（未核验）", "distance=0.31", "2026-05-04 09:06"):
        assert text in html, text
    assert 'name="reason"' in html


def test_override_needs_a_reason_and_is_audited(app, db, client_for, call):
    client = client_for("officer_xh")
    missing = override(client, call, "lisi", "present_verified", "   ")
    assert missing.status_code == 303
    page = client.c.get(call["url"]).get_data(as_text=True)
    assert "请填写更正理由。" in page
    assert record(db, call["records"]["lisi"]).overridden_outcome is None
    assert db.scalar(select(AuditLog).where(AuditLog.action == "attendance_overridden")) is None

    too_long = override(client, call, "lisi", "present_verified", "长" * 501)
    assert too_long.status_code == 303 and record(db, call["records"]["lisi"]).overridden_outcome is None
    bad = override(client, call, "lisi", "maybe", "网络故障")
    assert bad.status_code == 303 and record(db, call["records"]["lisi"]).overridden_outcome is None

    done = override(client, call, "lisi", "present_verified", "网络故障，会后视频核验本人在场")
    assert done.status_code == 303
    rec = record(db, call["records"]["lisi"])
    assert rec.overridden_outcome == AttendanceOutcome.PRESENT_VERIFIED
    assert rec.outcome == AttendanceOutcome.ABSENT
    assert rec.override_reason == "网络故障，会后视频核验本人在场"
    assert rec.overridden_by_id == user(db, "officer_xh").id and rec.overridden_at is not None
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "attendance_overridden"))
    assert entry.target == f"attendance_record:{rec.id}"
    assert "previous:absent" in entry.detail and "new:present_verified" in entry.detail
    page = client.c.get(call["url"]).get_data(as_text=True)
    assert "考勤结果已更正。" in page and "网络故障，会后视频核验本人在场" in page


def test_only_the_host_side_overrides(app, db, client_for, call):
    client = client_for("officer_bs")
    assert override(client, call, "zhangsan", "absent", "测试").status_code == 403
    assert override(client, call, "wangwu", "absent", "测试").status_code == 404
    assert record(db, call["records"]["zhangsan"]).overridden_outcome is None


def test_csv_export(app, db, client_for, call):
    client = client_for("officer_xh")
    override(client, call, "lisi", "present_unverified", "迟到后补签")
    response = client.c.get(f"{call['url']}/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="rollcall-{call["conference"]}-{call["rollcall"]}.csv"'
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:5] == ["姓名", "单位", "考勤结果", "原记录结果", "更正理由"]
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {"张三", "李四", "王五"}
    assert by_name["李四"][1:5] == ["北山街道司法所", "出席（未核验）", "缺席", "迟到后补签"]
    assert by_name["张三"][2] == "出席（身份已核验）"
    assert db.scalar(select(AuditLog).where(AuditLog.action == "attendance_exported",
                                            AuditLog.target == f"rollcall:{call['rollcall']}")) is not None


def test_xlsx_export(app, db, client_for, call):
    from openpyxl import load_workbook
    response = client_for("officer_xh").c.get(f"{call['url']}/export.xlsx")
    assert response.status_code == 200
    assert "attachment;" in response.headers["Content-Disposition"]
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][0] == "姓名" and rows[0][2] == "考勤结果"
    assert sorted(r[0] for r in rows[1:]) == sorted(["张三", "李四", "王五"])
    audit = db.scalar(select(AuditLog).where(AuditLog.action == "attendance_exported"))
    assert audit is not None and "format:xlsx" in audit.detail


def test_jurisdiction(app, db, client_for, call):
    # a township officer sees only the rows of his own supervisees, on the page and in the exports
    bs = client_for("officer_bs")
    html = bs.c.get(call["url"]).get_data(as_text=True)
    assert "张三" in html and "李四" in html and "王五" not in html and 'name="reason"' not in html
    rows = list(csv.reader(io.StringIO(bs.c.get(f"{call['url']}/export.csv").get_data().decode("utf-8-sig"))))
    assert sorted(r[0] for r in rows[1:]) == ["张三", "李四"]
    # officers with none of the people in their subtree: 404 everywhere
    other = client_for("officer_my")
    for suffix in ("", "/export.csv", "/export.xlsx"):
        assert other.c.get(call["url"] + suffix).status_code == 404
    assert override(other, call, "zhangsan", "absent", "测试").status_code == 404
    # the other township of the district sees only its own supervisee
    ly = client_for("officer_ly").c.get(call["url"]).get_data(as_text=True)
    assert "王五" in ly and "张三" not in ly and "李四" not in ly
    # supervisees never
    assert client_for("zhangsan").c.get(call["url"]).status_code == 403
    # a roll call under another conference's id does not exist
    other_conf = db.scalar(select(Conference.id).where(Conference.id != call["conference"])) or 0
    assert client_for("officer_xh").c.get(
        f"/conferences/{other_conf}/rollcalls/{call['rollcall']}").status_code == 404


def test_supervisee_record_page_lists_attendance(app, db, client_for, call):
    client = client_for("officer_xh")
    override(client, call, "lisi", "left_early", "提前离开")
    html = client_for("officer_bs").c.get(f"/officer/supervisee/{user(db, 'lisi').id}").get_data(as_text=True)
    assert "会议考勤" in html and "五月集中教育" in html and "早退" in html and "已更正" in html
    empty = client_for("officer_my").c.get(f"/officer/supervisee/{user(db, 'zhaoliu').id}").get_data(as_text=True)
    assert "没有考勤记录。" in empty
