"""People at scale (issue 14) through the real app: bulk import, lifecycle, retention, the audit
viewer. Expected outcomes are written by hand from the demo organisation (北山 and 灵隐 under
西湖区; 梅园 in another province); counts are read back with plain SQL."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.conftest import DEMO_PASSWORD, Client

# GB 11643-1999, written out here from the standard (not imported from the code under test)
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def valid_id(first17: str) -> str:
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def wrong_check(first17: str) -> str:
    good = valid_id(first17)
    return first17 + ("0" if good[-1] != "0" else "1")


HEADER = ["姓名", "用户名", "身份证号", "手机号", "所属单位", "角色", "负责工作人员", "初始密码"]


def csv_bytes(rows, encoding="utf-8-sig") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows) -> bytes:
    from openpyxl import Workbook
    book = Workbook()
    book.active.append(HEADER)
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sql(app, query: str, **params):
    with app.extensions["db_engine"].connect() as conn:
        return [tuple(r) for r in conn.execute(text(query), params)]


def one(app, query: str, **params):
    return sql(app, query, **params)[0][0]


def counts(app) -> dict:
    return {table: one(app, f"SELECT count(*) FROM {table}")
            for table in ("app_user", "learner_month", "unit_transfer", "credit_entry", "attendance_record")}


def unit_id(app, name: str) -> int:
    return one(app, "SELECT id FROM org_unit WHERE name = :n", n=name)


def user_id(app, username: str) -> int:
    return one(app, "SELECT id FROM app_user WHERE username = :n", n=username)


def upload(client: Client, data: bytes, name: str = "people.csv"):
    return client.c.post("/officer/people/import", data={"csrf_token": client.token, "file": (io.BytesIO(data), name)},
                         content_type="multipart/form-data")


# --- import ----------------------------------------------------------------------------------------

def test_a_file_with_one_bad_row_is_rejected_and_leaves_nothing_behind(app, client_for):
    officer = client_for("officer_bs")
    before = counts(app)
    audit_before = one(app, "SELECT count(*) FROM audit_log WHERE action IN ('user_imported', 'people_imported')")
    rows = [["孙一", "sunyi", valid_id("33010619900307123"), "13800138000", "北山街道司法所", "矫正对象", "", ""],
            ["孙二", "suner", wrong_check("33010619910101234"), "", "北山街道司法所", "矫正对象", "", ""],
            ["孙三", "sunsan", valid_id("33010619920202345"), "", str(unit_id(app, "北山街道司法所")), "矫正对象", "",
             "Given-Pass-2026"]]
    answer = upload(officer, csv_bytes(rows))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "没有导入任何数据" in page                       # "Nothing was imported"
    errors = page.split('id="import-errors"', 1)[1]
    assert "<td>3</td><td>身份证号</td><td>身份证号的校验位错误。</td>" in errors     # the file's row 3, in Chinese
    assert "<td>2</td>" not in errors and "<td>4</td>" not in errors
    assert counts(app) == before
    assert one(app, "SELECT count(*) FROM app_user WHERE username IN ('sunyi', 'suner', 'sunsan')") == 0
    assert one(app, "SELECT count(*) FROM audit_log WHERE action IN ('user_imported', 'people_imported')") \
        == audit_before


def test_a_good_file_creates_the_people_once(app, client_for):
    officer = client_for("officer_bs")
    bs = unit_id(app, "北山街道司法所")
    number = valid_id("33010619900307123")
    rows = [["孙一", "sunyi", number, "138-0013-8000", "北山街道司法所", "矫正对象", "", ""],
            ["孙三", "sunsan", valid_id("33010619920202345").lower(), "", str(bs), "矫正对象", "officer_bs",
             "Given-Pass-2026"]]
    before = counts(app)
    answer = upload(officer, xlsx_bytes(rows), "anything.bin")       # the type comes from the content
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, page
    assert "2 人已导入" in page
    created = sql(app, "SELECT username, display_name, unit_id, officer_id, role, active, national_id_hmac, "
                       "national_id_enc, phone_enc FROM app_user WHERE username IN ('sunyi', 'sunsan') ORDER BY username")
    me = user_id(app, "officer_bs")
    assert [r[:6] for r in created] == [("sunsan", "孙三", bs, me, "supervisee", True),
                                        ("sunyi", "孙一", bs, me, "supervisee", True)]
    assert all(len(r[6]) == 64 for r in created) and created[0][6] != created[1][6]
    assert number.encode() not in created[1][7] and created[0][8] is None      # encrypted; no phone given
    with app.app_context():
        from webapp.people.personal_data import decrypt_text
        assert decrypt_text(created[1][7]) == number and decrypt_text(created[1][8]) == "13800138000"
    assert counts(app)["app_user"] == before["app_user"] + 2
    # this month's row for the unit pages, at once
    assert one(app, "SELECT count(*) FROM learner_month WHERE learner_id IN (SELECT id FROM app_user WHERE "
                    "username IN ('sunyi', 'sunsan'))") == 2
    # the generated password is on the report, and works; the given one too
    table = page.split('id="import-created"', 1)[1]
    generated = table.split("<code>", 1)[1].split("</code>", 1)[0]
    assert "Given-Pass-2026" not in table and "330106********" in table and number not in table
    assert Client(app.test_client()).login("sunyi", generated).status_code == 302
    assert Client(app.test_client()).login("sunsan", "Given-Pass-2026").status_code == 302
    assert one(app, "SELECT count(*) FROM audit_log WHERE action = 'user_imported' AND unit_id = :u", u=bs) == 2
    # the same people again: refused, by username and by ID number (now on the platform)
    again = upload(officer, csv_bytes([["孙四", "sunsi", number, "", "北山街道司法所", "矫正对象", "", ""],
                                       ["孙五", "sunyi", valid_id("33010619930303456"), "", "北山街道司法所",
                                        "矫正对象", "", ""]], encoding="gb18030"))
    errors = again.get_data(as_text=True)
    assert again.status_code == 400
    assert "该身份证号的人员已在平台登记。" in errors and "该用户名已被使用。" in errors
    assert counts(app)["app_user"] == before["app_user"] + 2


def test_officers_import_only_into_their_subtree_and_only_supervisees(app, client_for):
    officer = client_for("officer_bs")
    before = counts(app)
    rows = [["外一", "waiyi", valid_id("33010619900307123"), "", str(unit_id(app, "灵隐街道司法所")), "矫正对象", "", ""],
            ["外二", "waier", valid_id("33010619910101234"), "", "梅园新村街道司法所", "矫正对象", "", ""],
            ["外三", "waisan", valid_id("33010619920202345"), "", "北山街道司法所", "工作人员", "", ""]]
    page = upload(officer, csv_bytes(rows)).get_data(as_text=True).split('id="import-errors"', 1)[1]
    assert "<td>2</td><td>所属单位</td><td>您的管辖范围内没有此编号的单位。</td>" in page
    assert "<td>3</td><td>所属单位</td><td>您的管辖范围内没有此名称的单位。</td>" in page
    assert "<td>4</td><td>角色</td><td>只有管理员可以导入工作人员。</td>" in page
    assert counts(app) == before
    # an administrator imports officers, at any level of their subtree
    admin = client_for("admin")
    answer = upload(admin, csv_bytes([["新警官", "officer_new", valid_id("33010619900307123"), "", "西湖区司法局",
                                       "工作人员", "", "Given-Pass-2026"]]))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert sql(app, "SELECT role, unit_id FROM app_user WHERE username = 'officer_new'") == [
        ("officer", unit_id(app, "西湖区司法局"))]


@pytest.mark.parametrize("data", [b"", b"\xd0\xcf\x11\xe0" + b"\x00" * 100, b"PK\x03\x04broken", bytes(range(256)),
                                  "姓名,用户名\n张,zs\n".encode()])
def test_unreadable_files_are_a_message_not_an_error(app, client_for, data):
    answer = upload(client_for("officer_bs"), data)
    assert answer.status_code == 400
    assert 'class="error"' in answer.get_data(as_text=True)


def test_templates(app, client_for):
    from openpyxl import load_workbook
    client = client_for("officer_xh")
    text_csv = client.c.get("/officer/people/import/template.csv").get_data().decode("utf-8-sig")
    assert text_csv.strip() == ",".join(HEADER)
    book = load_workbook(io.BytesIO(client.c.get("/officer/people/import/template.xlsx").get_data()))
    assert [c.value for c in book.worksheets[0][1]] == HEADER
    units = {row[0]: row[2] for row in book["单位列表"].iter_rows(min_row=2, values_only=True)}
    assert set(units) == {unit_id(app, n) for n in ("西湖区司法局", "北山街道司法所", "灵隐街道司法所")}


# --- lifecycle -------------------------------------------------------------------------------------

def test_transfer_keeps_history_moves_this_month_and_stays_in_the_jurisdiction(app, client_for):
    zhangsan, bs, ly = user_id(app, "zhangsan"), unit_id(app, "北山街道司法所"), unit_id(app, "灵隐街道司法所")
    with app.extensions["db_engine"].begin() as conn:        # a past month, counted at 北山
        conn.execute(text("INSERT INTO learner_month (month, learner_id, unit_id, l5, required_s, credited_s, met, "
                          "flags_raised, flags_open, rollcalls, rollcall_absences, updated_at) VALUES "
                          "('2020-01', :l, :u, :u, 0, 3600, :t, 0, 0, 0, 0, '2020-02-01')"), {"l": zhangsan, "u": bs, "t": True})
    # a township officer cannot move anyone out of their subtree, nor touch another township's people
    township = client_for("officer_bs")
    record = township.c.get(f"/officer/supervisee/{zhangsan}").get_data(as_text=True)
    assert 'id="no-transfer"' in record and 'name="unit_id"' not in record   # no empty choice offered
    township.c.post(f"/officer/supervisee/{zhangsan}/transfer", data={"csrf_token": township.token, "unit_id": ly})
    assert one(app, "SELECT unit_id FROM app_user WHERE id = :i", i=zhangsan) == bs
    assert one(app, "SELECT count(*) FROM unit_transfer") == 0
    wangwu = user_id(app, "wangwu")
    assert township.c.post(f"/officer/supervisee/{wangwu}/transfer",
                           data={"csrf_token": township.token, "unit_id": bs}).status_code == 404
    # the district officer moves 张三 from 北山 to 灵隐
    district = client_for("officer_xh")
    for outside in (unit_id(app, "梅园新村街道司法所"), unit_id(app, "西湖区司法局"), 2**31 + 5):
        district.c.post(f"/officer/supervisee/{zhangsan}/transfer",
                        data={"csrf_token": district.token, "unit_id": outside})
    assert one(app, "SELECT count(*) FROM unit_transfer") == 0
    answer = district.c.post(f"/officer/supervisee/{zhangsan}/transfer",
                             data={"csrf_token": district.token, "unit_id": ly, "reason": "居住地变更"})
    assert answer.status_code == 303
    assert one(app, "SELECT unit_id FROM app_user WHERE id = :i", i=zhangsan) == ly
    assert sql(app, "SELECT from_unit_id, to_unit_id, reason FROM unit_transfer WHERE user_id = :i", i=zhangsan) == [
        (bs, ly, "居住地变更")]
    assert sql(app, "SELECT month, unit_id, l5 FROM learner_month WHERE learner_id = :i ORDER BY month",
               i=zhangsan)[0] == ("2020-01", bs, bs)                       # the past stays
    current = sql(app, "SELECT unit_id, l5 FROM learner_month WHERE learner_id = :i AND month <> '2020-01'",
                  i=zhangsan)
    assert current == [(ly, ly)]                                             # this month follows
    # both subtrees' audits record it; 北山's officer no longer opens the record, 灵隐's does
    assert {r[0] for r in sql(app, "SELECT unit_id FROM audit_log WHERE action LIKE 'unit_transferred%'")} == {bs, ly}
    assert township.c.get(f"/officer/supervisee/{zhangsan}").status_code == 404
    record = client_for("officer_ly").c.get(f"/officer/supervisee/{zhangsan}").get_data(as_text=True)
    assert "北山街道司法所" in record.split('id="transfer-history"', 1)[1]


def test_end_of_supervision_and_password_reset(app, client_for):
    zhangsan, lisi = user_id(app, "zhangsan"), user_id(app, "lisi")
    learner_session = client_for("zhangsan")
    officer = client_for("officer_bs")
    # an empty form (no confirmation) changes nothing
    officer.c.post(f"/officer/supervisee/{lisi}/reset-password", data={"csrf_token": officer.token})
    officer.c.post(f"/officer/supervisee/{zhangsan}/end-supervision", data={"csrf_token": officer.token})
    assert sql(app, "SELECT active, supervision_ended_at FROM app_user WHERE id = :i", i=zhangsan) == [(True, None)]
    # reset: the new password is shown once and works; the old one and the sessions do not
    answer = officer.c.post(f"/officer/supervisee/{lisi}/reset-password",
                            data={"csrf_token": officer.token, "confirm": "yes"})
    new = answer.get_data(as_text=True).split('id="new-password">', 1)[1].split("<", 1)[0]
    assert answer.status_code == 200 and len(new) == 12
    assert Client(app.test_client()).login("lisi", DEMO_PASSWORD).status_code == 401
    assert Client(app.test_client()).login("lisi", new).status_code == 302
    # end of supervision: deactivated, sessions end
    assert learner_session.c.get("/learn/").status_code == 200
    officer.c.post(f"/officer/supervisee/{zhangsan}/end-supervision",
                   data={"csrf_token": officer.token, "confirm": "yes", "reason": "期满"})
    active, ended = sql(app, "SELECT active, supervision_ended_at FROM app_user WHERE id = :i", i=zhangsan)[0]
    assert not active and ended is not None
    assert learner_session.c.get("/learn/").status_code == 302                     # to the login
    assert Client(app.test_client()).login("zhangsan").status_code == 401
    assert sql(app, "SELECT actor_id, unit_id, detail FROM audit_log WHERE action = 'supervision_ended'") == [
        (user_id(app, "officer_bs"), unit_id(app, "北山街道司法所"), "期满")]
    # the record still opens (history), and says so
    page = officer.c.get(f"/officer/supervisee/{zhangsan}").get_data(as_text=True)
    assert 'id="supervision-status"' in page and "矫正已于" in page


# --- retention -------------------------------------------------------------------------------------

def test_anonymisation_keeps_every_figure(app, client_for, db):
    from webapp.models import AttendanceOutcome, AttendanceRecord, Conference, CreditEntry, FaceEnrolment, RollCall
    zhangsan, lisi, bs = user_id(app, "zhangsan"), user_id(app, "lisi"), unit_id(app, "北山街道司法所")
    conference = Conference(host_unit_id=bs, host_officer_id=user_id(app, "officer_bs"), title="点名",
                            starts_at=datetime(2024, 1, 5), duration_min=30, levels="", include_supervisees=True)
    db.add(conference)
    db.flush()
    call = RollCall(conference_id=conference.id, started_at=datetime(2024, 1, 5))
    db.add(call)
    db.flush()
    for who in (zhangsan, lisi):
        db.add(AttendanceRecord(roll_call_id=call.id, user_id=who, outcome=AttendanceOutcome.PRESENT_VERIFIED))
        for month, seconds in (("2024-01", 1800.0), ("2024-02", 2400.0)):
            db.add(CreditEntry(learner_id=who, kind="course", media_start=0, media_end=seconds, wall_start=0,
                               wall_end=seconds, unique_s=seconds, credited_s=seconds, presence_source="camera",
                               month=month))
        db.add(FaceEnrolment(user_id=who, embedding_enc=b"x", source="upload"))
    db.commit()
    with app.extensions["db_engine"].begin() as conn:
        conn.execute(text("UPDATE app_user SET supervision_ended_at = :t, active = :f, national_id_hmac = 'h1', "
                          "national_id_enc = :b, phone_enc = :b WHERE id = :i"),
                     {"t": datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1100), "i": zhangsan, "b": b"secret", "f": False})
        conn.execute(text("UPDATE app_user SET supervision_ended_at = :t, active = :f WHERE id = :i"),
                     {"t": datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30), "i": lisi, "f": False})

    def figures():
        return sql(app, "SELECT u.id, (SELECT count(*) FROM credit_entry c WHERE c.learner_id = u.id), "
                        "(SELECT sum(credited_s) FROM credit_entry c WHERE c.learner_id = u.id), "
                        "(SELECT count(*) FROM attendance_record a WHERE a.user_id = u.id), "
                        "(SELECT count(*) FROM learner_month m WHERE m.learner_id = u.id) "
                        "FROM app_user u WHERE u.id IN (:a, :b) ORDER BY u.id", a=zhangsan, b=lisi)
    before = figures()
    assert [r[1:4] for r in before] == [(2, 4200.0, 1), (2, 4200.0, 1)]
    with app.app_context():
        from webapp.core import db as webdb
        from webapp.models import utcnow
        from webapp.people import anonymise_expired
        done = anonymise_expired(webdb.session(), utcnow(), app.config["PERSONAL_DATA_RETENTION_DAYS"])
        webdb.session().commit()
    assert done == [zhangsan]                                 # 1,100 days > 1,095; lisi (30 days) not yet
    assert figures() == before
    assert sql(app, "SELECT display_name, username, national_id_enc, national_id_hmac, phone_enc, "
                    "anonymised_at IS NOT NULL FROM app_user WHERE id = :i", i=zhangsan) == [
        (f"已注销#{zhangsan}", f"anon-{zhangsan}", None, None, None, True)]
    assert one(app, "SELECT count(*) FROM face_enrolment WHERE user_id = :i", i=zhangsan) == 0
    assert one(app, "SELECT count(*) FROM face_enrolment WHERE user_id = :i", i=lisi) == 1
    assert sql(app, "SELECT target, unit_id FROM audit_log WHERE action = 'personal_data_anonymised'") == [
        (f"user:{zhangsan}", bs)]
    assert Client(app.test_client()).login(f"anon-{zhangsan}", DEMO_PASSWORD).status_code == 401
    # the roll call's table still counts the person, under the new name
    table = client_for("officer_bs").c.get(f"/conferences/{conference.id}/rollcalls/{call.id}").get_data(as_text=True)
    assert f"已注销#{zhangsan}" in table and "张三" not in table


def test_audit_rows_are_kept_at_least_six_months(app):
    from webapp.people import check_retention_config, purge_old_audit
    with app.extensions["db_engine"].begin() as conn:
        for days, marker in ((400, "old"), (150, "kept")):
            conn.execute(text("INSERT INTO audit_log (action, target, detail, ip, at) VALUES ('x', '', :d, '', :t)"),
                         {"d": marker, "t": datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)})
    with app.app_context():
        from webapp.core import db as webdb
        from webapp.models import utcnow
        assert purge_old_audit(webdb.session(), utcnow(), 100) == 1       # 100 is raised to 183: 150 days stay
        webdb.session().commit()
    assert sorted(r[0] for r in sql(app, "SELECT detail FROM audit_log WHERE action = 'x'")) == ["kept"]
    assert one(app, "SELECT count(*) FROM audit_log WHERE action = 'audit_purged'") == 1
    with pytest.raises(ValueError):
        check_retention_config({"AUDIT_RETENTION_DAYS": 182, "PERSONAL_DATA_RETENTION_DAYS": 30})


# --- the audit viewer --------------------------------------------------------------------------------

def test_audit_viewer_shows_the_subtree_only(app, client_for):
    bs, ly, my = (unit_id(app, n) for n in ("北山街道司法所", "灵隐街道司法所", "梅园新村街道司法所"))
    with app.extensions["db_engine"].begin() as conn:
        for unit, marker in ((bs, "marker-bs"), (ly, "marker-ly"), (my, "marker-my"), (None, "marker-none")):
            conn.execute(text("INSERT INTO audit_log (action, target, detail, ip, at, unit_id) "
                              "VALUES ('test_marker', '', :d, '', :t, :u)"),
                         {"d": marker, "u": unit, "t": datetime.now(UTC).replace(tzinfo=None)})
    sees = {"officer_bs": {"marker-bs"}, "officer_ly": {"marker-ly"}, "officer_xh": {"marker-bs", "marker-ly"},
            "officer_moj": {"marker-bs", "marker-ly", "marker-my"},
            "admin": {"marker-bs", "marker-ly", "marker-my", "marker-none"}}
    markers = {"marker-bs", "marker-ly", "marker-my", "marker-none"}
    for officer, expected in sees.items():
        client = client_for(officer)
        page = client.c.get("/officer/audit?action=test_marker").get_data(as_text=True)
        assert {m for m in markers if m in page} == expected, officer
        exported = client.c.get("/officer/audit/export.csv?action=test_marker").get_data().decode("utf-8-sig")
        assert {m for m in markers if m in exported} == expected, officer
    # viewing and exporting are audited, in the viewer's own unit
    assert sql(app, "SELECT count(*), min(unit_id) FROM audit_log WHERE action = 'audit_viewed' AND actor_id = :a",
               a=user_id(app, "officer_bs")) == [(1, bs)]
    assert one(app, "SELECT count(*) FROM audit_log WHERE action = 'audit_exported'") == len(sees)


def test_audit_viewer_filters_and_exports(app, client_for):
    from openpyxl import load_workbook
    zhangsan, bs = user_id(app, "zhangsan"), unit_id(app, "北山街道司法所")
    officer = client_for("officer_bs")
    assert officer.c.get(f"/officer/supervisee/{zhangsan}").status_code == 200
    # opening the record is audited, in the supervisee's unit
    assert sql(app, "SELECT actor_id, unit_id FROM audit_log WHERE action = 'supervisee_viewed'") == [
        (user_id(app, "officer_bs"), bs)]
    xh = client_for("officer_xh")
    # the row's unit is the supervisee's (北山), not the district officer's own
    assert xh.c.get(f"/officer/supervisee/{zhangsan}").status_code == 200
    assert sql(app, "SELECT unit_id FROM audit_log WHERE action = 'supervisee_viewed' AND actor_id = :a",
               a=user_id(app, "officer_xh")) == [(bs,)]
    page = xh.c.get("/officer/audit?officer=officer_bs&supervisee=zhangsan&action=supervisee_viewed"
                    "&from=2020-01-01&to=2029-12-31").get_data(as_text=True)
    rows = page.split('id="audit-rows"', 1)[1]
    assert rows.count("<tr>") == 2 and "supervisee_viewed" in rows and "张三" in rows     # header + one row
    assert "没有匹配的审计记录" in xh.c.get("/officer/audit?officer=officer_ly&action=supervisee_viewed") \
        .get_data(as_text=True)
    exported = xh.c.get("/officer/audit/export.xlsx?action=supervisee_viewed&officer=officer_bs")
    book = load_workbook(io.BytesIO(exported.get_data()))
    values = list(book.active.iter_rows(values_only=True))
    assert values[0][:4] == ("时间", "操作人", "操作人用户名", "操作") and len(values) == 2
    assert values[1][2:4] == ("officer_bs", "supervisee_viewed")
    # bad filters: a message in Chinese, 400, never a 500
    for query, message in (("from=2026-13-01", "日期格式"), ("from=2026-02-01&to=2026-01-01", "结束日期早于开始日期"),
                           ("officer=%3Cscript%3E", "用户名"), ("page=-1", "没有这一页"), ("action=" + "a" * 300, "")):
        answer = xh.c.get("/officer/audit?" + query)
        assert answer.status_code == 400 and message in answer.get_data(as_text=True), query
        assert xh.c.get("/officer/audit/export.csv?" + query).status_code == 400
