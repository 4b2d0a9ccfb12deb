"""The people rules without a database: the national ID number (GB 11643-1999), the import's row
checks, the audit viewer's filters, the transfer rule. Expected values are written here by hand or
computed with the published algorithm, never with the code under test."""
from __future__ import annotations

from datetime import date

import pytest

from webapp.people import audit_filters, import_rules, national_id
from webapp.people.import_file import FileProblem, read_table, template_csv
from webapp.people.lifecycle import transfer_problem

# GB 11643-1999: weights of the first 17 digits, and the check character for each sum mod 11
PUBLISHED_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
PUBLISHED_CHECK = {0: "1", 1: "0", 2: "X", 3: "9", 4: "8", 5: "7", 6: "6", 7: "5", 8: "4", 9: "3", 10: "2"}


def published_id(first17: str) -> str:
    return first17 + PUBLISHED_CHECK[sum(int(d) * w for d, w in zip(first17, PUBLISHED_WEIGHTS)) % 11]


def test_the_standards_example_and_hand_computed_vectors():
    # 11010519491231002X (the standard's example): 1*7+1*9+0*10+1*5+0*8+5*4+1*2+9*1+4*6+9*3+1*7+2*9
    # +3*10+1*5+0*8+0*4+2*2 = 167; 167 mod 11 = 2 -> "X"
    assert national_id.problem("11010519491231002X") is None
    assert national_id.check_character("11010519491231002") == "X"
    # 440524188001010014: the sum is 195; 195 mod 11 = 8 -> "4" (right, but born 1880: refused)
    assert national_id.check_character("44052418800101001") == "4"
    assert national_id.problem("440524188001010014") == national_id.BAD_BIRTH_DATE
    # 330106199003071236: 3*7+3*9+0*10+1*5+0*8+6*4+1*2+9*1+9*6+0*3+0*7+3*9+0*10+7*5+1*8+2*4+3*2 = 226;
    # 226 mod 11 = 6 -> "6"
    assert national_id.problem("330106199003071236") is None
    assert national_id.problem("330106199003071235") == national_id.BAD_CHECK_DIGIT
    assert published_id("11010519491231002") == "11010519491231002X"


@pytest.mark.parametrize("first17", ["11010519491231002", "32010219800101123", "33010619900307123",
                                     "32010220000229456", "51010719851130000"])
def test_numbers_built_with_the_published_algorithm_are_valid_and_every_other_check_is_not(first17):
    good = published_id(first17)
    assert national_id.problem(good, today=date(2026, 1, 1)) is None
    for wrong in "0123456789X":
        if wrong != good[-1]:
            assert national_id.problem(first17 + wrong) == national_id.BAD_CHECK_DIGIT


def test_shape_and_birth_date():
    assert national_id.problem("11010519491231002") == national_id.NOT_18
    assert national_id.problem("11010519491231002XX") == national_id.NOT_18
    assert national_id.problem("1101051949123100AX") == national_id.NOT_DIGITS
    assert national_id.problem(published_id("11010519490230002")) == national_id.BAD_BIRTH_DATE   # 30 February
    assert national_id.problem(published_id("11010518991231002")) == national_id.BAD_BIRTH_DATE   # before 1900
    assert national_id.problem(published_id("11010520300101002"), today=date(2026, 1, 1)) == \
        national_id.BAD_BIRTH_DATE                                                                # the future
    # full-width digits, spaces and a lower-case x are what people type
    assert national_id.normalise(" １１０１０５１９４９１２３１００２x ") == "11010519491231002X"
    assert national_id.is_valid("11010519491231002x")
    assert national_id.masked("11010519491231002X") == "110105********002X"


def _context(**overrides):
    units = {9: import_rules.UnitRef(9, "北山街道司法所", 5, "/1/2/3/4/9/"),
             10: import_rules.UnitRef(10, "灵隐街道司法所", 5, "/1/2/3/4/10/"),
             4: import_rules.UnitRef(4, "西湖区司法局", 4, "/1/2/3/4/")}
    values = dict(importer_is_admin=False, importer=import_rules.OfficerRef(50, "officer_xh", "/1/2/3/4/"),
                  units=units, officers={}, taken_usernames={"taken"}, taken_id_hashes={"h:" + published_id(
                      "33010619900307123")}, hash_of=lambda n: "h:" + n,
                  password_problem=lambda p: None if len(p) >= 10 else "Password must be at least 10 characters.",
                  today=date(2026, 1, 1))
    values.update(overrides)
    return import_rules.Context(**values)


def _row(**cells):
    base = {"display_name": "张三", "username": "zs01", "national_id": published_id("11010519491231002"),
            "phone": "", "unit": "9", "role": "矫正对象", "officer": "", "password": ""}
    base.update(cells)
    return base


def test_import_rows_all_or_nothing_with_every_problem_listed():
    rows = [(2, _row()), (3, _row(username="zs02", national_id="110105194912310021")),     # wrong check
            (4, _row(username="zs01", national_id=published_id("32010219800101123"))),   # username again
            (5, _row(username="taken", national_id=published_id("33010619900307123"))),  # both on file
            (6, _row(username="ok6", national_id=published_id("51010719851130000"), unit="4")),   # not a township
            (7, _row(username="ok7", national_id=published_id("32010220000229456"), role="工作人员")),
            (8, _row(username="ok8", national_id=published_id("11010519491231003"), unit="99")),
            (9, _row(username="ok9", national_id=published_id("11010519491231004"), phone="12345"))]
    planned, errors = import_rules.validate(rows, _context())
    assert planned == []
    found = {(e.row, e.column, e.message) for e in errors}
    assert (3, "身份证号", national_id.BAD_CHECK_DIGIT) in found
    assert (4, "用户名", "The same username as row %(other)d.") in found
    assert (5, "用户名", "This username is taken.") in found
    assert (5, "身份证号", "A person with this ID number is already registered.") in found
    assert (6, "所属单位", "A supervisee belongs to a township judicial office.") in found
    assert (7, "角色", "Only administrators import officers.") in found
    assert (8, "所属单位", "No unit with this number in your jurisdiction.") in found
    assert (9, "手机号", "A mobile number has 11 digits and starts with 1.") in found
    assert not [e for e in errors if e.row == 2]


def test_import_rows_that_are_all_good():
    rows = [(2, _row(phone="138 0013 8000")),
            (3, _row(username="zs02", national_id=published_id("32010219800101123"), unit="灵隐街道司法所",
                     password="Given-Pass-2026"))]
    planned, errors = import_rules.validate(rows, _context())
    assert errors == []
    assert [(p.username, p.unit.id, p.officer_id, p.phone, p.generated) for p in planned] == [
        ("zs01", 9, 50, "13800138000", True), ("zs02", 10, 50, "", False)]
    assert planned[1].password == "Given-Pass-2026"
    generated = planned[0].password
    assert len(generated) == 12 and any(c.isupper() for c in generated) and any(c.isdigit() for c in generated)
    # an administrator names the responsible officer
    planned, errors = import_rules.validate(rows[:1], _context(importer_is_admin=True, importer=None))
    assert [(e.column, e.message) for e in errors] == [("负责工作人员", "Name the responsible officer (their username).")]


def test_reading_files_by_content():
    header = "姓名,用户名,身份证号,手机号,所属单位,角色,负责工作人员,初始密码\n"
    line = "张三,zs01,11010519491231002X,,北山街道司法所,矫正对象,,\n\n"
    for encoding in ("utf-8", "utf-8-sig", "gb18030"):
        table = read_table((header + line).encode(encoding), max_rows=10)
        assert table.rows == [(2, {"display_name": "张三", "username": "zs01", "national_id": "11010519491231002X",
                                   "phone": "", "unit": "北山街道司法所", "role": "矫正对象", "officer": "",
                                   "password": ""})], encoding
    assert template_csv().decode("utf-8-sig").startswith("姓名,用户名,身份证号")
    for data in (b"", b"\xd0\xcf\x11\xe0rest", b"PK\x03\x04not a zip", b"\xff\xfe\x00\x00", header.encode(),
                 "姓名,用户名\n张三,zs\n".encode(), (header + line * 11).encode()):
        with pytest.raises(FileProblem):
            read_table(data, max_rows=10)


def test_audit_filters():
    f = audit_filters.parse({"officer": "officer_bs", "action": "login", "from": "2026-01-01", "to": "2026-01-31"})
    assert not f.errors and f.officer == "officer_bs" and f.date_to == date(2026, 1, 31)
    start, end = f.utc_range("Asia/Shanghai")        # local midnight is 16:00 UTC the day before
    assert (start.isoformat(), end.isoformat()) == ("2025-12-31T16:00:00", "2026-01-31T16:00:00")
    for args in ({"from": "2026-13-01"}, {"from": "yesterday"}, {"from": "2026-02-01", "to": "2026-01-01"},
                 {"officer": "<script>"}, {"action": "DROP TABLE"}, {"page": "0"}, {"page": "x"}):
        assert audit_filters.parse(args).errors, args


def test_transfer_rule():
    ok = dict(ended=False, from_unit_id=9, to_level=5, to_path="/1/2/3/4/10/", actor_path="/1/2/3/4/")
    assert transfer_problem(**ok) is None
    assert transfer_problem(**{**ok, "actor_path": "/1/2/3/4/9/"})          # a township officer: not theirs
    assert transfer_problem(**{**ok, "to_path": None})                     # no such unit
    assert transfer_problem(**{**ok, "to_level": 4, "to_path": "/1/2/3/4/"})
    assert transfer_problem(**{**ok, "to_path": "/1/2/3/4/9/"})            # the same unit
    assert transfer_problem(**{**ok, "ended": True})
