"""The officers' unit pages (issue 14) against answers computed here from the raw rows.

A small tree (the demo's: 司法部 > 浙江 > 杭州 > 西湖区 > 北山 / 灵隐, and 江苏 > ... > 梅园) gets
supervisees, credit entries, proctoring flags and roll-call records inserted as plain rows; the
expected figures per unit are computed in this file, in Python, from the rows it inserted and each
person's unit in each month (not through webapp.compliance), and compared with the HTML tables
the pages show, at several levels. Then: a transfer (last month unchanged, this month follows), the
month selector, pagination and search, and the access checks.
"""
from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, insert, select, text

from bench.officer_check import Tables, mismatches, raw_by_child, unit_rows
from tests.conftest import user
from webapp.compliance import months
from webapp.models import (AttendanceRecord, Conference, CreditEntry, LearnerMonth, OrgUnit, ProctorFlag, RollCall,
                           User)

REQUIRED_S = 8 * 3600.0     # MONTHLY_REQUIRED_HOURS, the default: no unit sets its own


# --- the world: people, units by month, raw rows ---------------------------------------------------

class World:
    def __init__(self, app, db):
        self.app, self.db = app, db
        self.uid = {u.name: u.id for u in db.scalars(select(OrgUnit))}
        self.path = {u.id: u.path for u in db.scalars(select(OrgUnit))}
        with app.app_context():
            from webapp.study import current_month
            self.month = current_month()
        self.last = months.shift(self.month, -1)
        self.unit_in: dict[tuple[str, int], int] = {}        # (month, learner) -> unit id
        self.credit: dict[tuple[str, int], float] = defaultdict(float)
        self.flags: list[tuple[int, str, str]] = []           # (learner, month, status)
        self.calls: list[tuple[int, str, str]] = []           # (learner, month, effective outcome)

    def at(self, month: str, day: int, hour: int = 10) -> float:
        start, _end = months.bounds(month, self.app.config["BABEL_DEFAULT_TIMEZONE"])
        return start + (day - 1) * 86400 + hour * 3600


def build_world(app, db, extra_in_bs: int = 0) -> World:
    """Supervisees in 北山 (bs), 灵隐 (ly), directly at 西湖区 (xh) and in 梅园 (my), with credit,
    flags and roll calls in the current and the previous month (seeded, deterministic)."""
    w = World(app, db)
    rng = random.Random(1414)
    names = {"北山街道司法所": 12 + extra_in_bs, "灵隐街道司法所": 7, "西湖区司法局": 3, "梅园新村街道司法所": 5}
    created = datetime(2000, 1, 1)                  # there in both months
    for unit_name, count in names.items():
        rows = [{"username": f"t{w.uid[unit_name]}_{i:03d}", "display_name": f"测试{unit_name[:2]}{i:03d}",
                 "password_hash": "x", "role": "supervisee", "unit_id": w.uid[unit_name], "active": True,
                 "failed_logins": 0, "session_version": 0, "created_at": created} for i in range(count)]
        db.execute(insert(User.__table__), rows)
    db.execute(User.__table__.update().where(User.role == "supervisee").values(created_at=created))
    people = db.execute(select(User.id, User.unit_id).where(User.role == "supervisee")).all()
    host = user(db, "officer_moj")
    conference = db.execute(insert(Conference.__table__).values(
        host_unit_id=w.uid["司法部"], host_officer_id=host.id, title="测试点名", starts_at=datetime(2020, 1, 1),
        duration_min=60, levels="2,3,4,5", include_supervisees=True, status="ended",
        created_at=datetime(2020, 1, 1)).returning(Conference.__table__.c.id)).scalar_one()
    for month in (w.last, w.month):
        calls = []
        for _ in range(2):
            calls.append(db.execute(insert(RollCall.__table__).values(
                conference_id=conference, started_by_id=host.id, started_at=datetime(2020, 1, 1))
                .returning(RollCall.__table__.c.id)).scalar_one())
        for learner, unit_id in people:
            w.unit_in[month, learner] = unit_id
            for _ in range(rng.choice((0, 1, 2, 3))):
                seconds = rng.choice((600.0, 3600.0, 9000.0, 14400.0))
                at = w.at(month, rng.randint(1, 27))
                db.add(CreditEntry(learner_id=learner, course_id=None, session_id=None, kind="course",
                                   media_start=0, media_end=seconds, wall_start=at, wall_end=at + seconds,
                                   unique_s=seconds, credited_s=seconds, presence_source="test", month=month))
                w.credit[month, learner] += seconds
            if rng.random() < 0.4:
                status = rng.choice(("open", "confirmed", "dismissed"))
                db.add(ProctorFlag(learner_id=learner, kind="identity_mismatch", raised_at=w.at(month, rng.randint(1, 27)),
                                   status=status))
                w.flags.append((learner, month, status))
            for call in calls:
                if rng.random() < 0.6:
                    outcome = rng.choice(("present_verified", "absent", "left_early", "present_unverified"))
                    override = rng.choice((None, None, "absent", "present_verified"))
                    recorded = datetime.fromtimestamp(w.at(month, rng.randint(1, 27)), timezone.utc).replace(tzinfo=None)
                    db.add(AttendanceRecord(roll_call_id=call, user_id=learner, outcome=outcome, recorded_at=recorded,
                                            overridden_outcome=override, override_reason="核实" if override else None))
                    w.calls.append((learner, month, override or outcome))
    # A flag and a roll call of the month before last: in neither month's figures
    db.add(ProctorFlag(learner_id=people[0][0], kind="x", raised_at=w.at(months.shift(w.last, -1), 15), status="open"))
    db.commit()
    refresh(app, w.last)
    refresh(app, w.month)
    return w


def refresh(app, month: str) -> None:
    with app.app_context():
        from webapp.compliance import refresh_month
        from webapp.core import db as app_db
        with app_db.write_transaction() as session:
            refresh_month(session, month)
            session.commit()


def expected(w: World, month: str, unit_id: int) -> dict[str, list[str]]:
    """The 'compliance by unit' table of `unit_id` in `month`, computed from the raw rows."""
    depth = len(w.path[unit_id].strip("/").split("/"))
    groups: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for (m, learner), unit in w.unit_in.items():
        ids = [int(p) for p in w.path[unit].strip("/").split("/")]
        if m != month or unit_id not in ids:
            continue
        key = str(ids[depth]) if len(ids) > depth else "direct"
        for group in (key, "total"):
            g = groups[group]
            g["people"] += 1
            g["met"] += w.credit[m, learner] >= REQUIRED_S
            g["seconds"] += w.credit[m, learner]
            g["flags_open"] += sum(1 for f in w.flags if f[:3] == (learner, m, "open"))
            g["absences"] += sum(1 for c in w.calls if c == (learner, m, "absent"))
            g["calls"] += sum(1 for c in w.calls if c[:2] == (learner, m))
    out = {}
    for key, g in groups.items():
        share = f"{100.0 * g['met'] / g['people']:.1f}%"
        out[key] = [str(int(g["people"])), str(int(g["met"])), share, f"{g['seconds'] / 3600:.1f}",
                    str(int(g["flags_open"])), str(int(g["absences"])), str(int(g["calls"]))]
    return out


def page(client, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.c.get(f"/officer/?{query}")


def test_unit_pages_show_the_figures_of_the_raw_rows_at_every_level(app, db, client_for):
    w = build_world(app, db)
    cases = [("admin", "司法部"), ("officer_moj", "司法部"), ("officer_zj", "浙江省司法厅"),
             ("officer_hz", "杭州市司法局"), ("officer_xh", "西湖区司法局"), ("officer_bs", "北山街道司法所")]
    for username, unit_name in cases:
        client = client_for(username)
        for month in (w.month, w.last):
            answer = page(client, unit=w.uid[unit_name], month=month)
            assert answer.status_code == 200, (username, month)
            shown = unit_rows(answer.get_data(as_text=True))
            want = expected(w, month, w.uid[unit_name])
            # every child unit is listed, those with no one too (zeros)
            for key, cells in shown.items():
                if key not in want:
                    assert cells[0] == "0", (username, month, key, cells)
            assert {k: v for k, v in shown.items() if k in want} == want, (username, month)
    # a district: the people directly at 西湖区 are their own row
    assert "direct" in expected(w, w.month, w.uid["西湖区司法局"])


def test_trend_and_flag_outcomes(app, db, client_for):
    w = build_world(app, db)
    html = page(client_for("officer_hz"), month=w.month).get_data(as_text=True)
    tables = Tables(html).tables
    trend = {attrs["data-label"]: cells for attrs, cells in tables["trend"] if "data-label" in attrs}
    assert list(trend) == months.window(w.month)
    for month in (w.last, w.month):
        want = expected(w, month, w.uid["杭州市司法局"])["total"]
        assert trend[month][1] == want[0] and trend[month][2] == want[2] and trend[month][3] == want[3]
    assert all(cells[1] == "0" for m, cells in trend.items() if m not in (w.last, w.month))
    outcomes = {attrs["data-status"]: int(cells[1]) for attrs, cells in tables["flag-outcomes"] if "data-status" in attrs}
    hz = w.uid["杭州市司法局"]
    raised = [s for learner, m, s in w.flags if m == w.month and f"/{hz}/" in w.path[w.unit_in[m, learner]]]
    assert outcomes == {s: raised.count(s) for s in ("open", "confirmed", "dismissed")}
    assert sum(outcomes.values()) > 0


def test_the_ledger_keeps_the_month_current_without_a_refresh(app, db, client_for):
    """add_credit (what the ledger calls with each CreditEntry) moves the figures at once."""
    w = build_world(app, db)
    lisi = user(db, "lisi")
    before = unit_rows(page(client_for("officer_xh"), month=w.month).get_data(as_text=True))
    with app.app_context():
        from webapp.compliance import add_credit
        from webapp.core import db as app_db
        with app_db.write_transaction() as session:
            add_credit(session, lisi.id, w.month, REQUIRED_S + 1)
            add_credit(session, lisi.id, months.shift(w.month, -2), 1800)   # a month with no row yet
            add_credit(session, lisi.id, months.shift(w.month, -2), 1800)
            session.commit()
    after = unit_rows(page(client_for("officer_xh"), month=w.month).get_data(as_text=True))
    bs = str(w.uid["北山街道司法所"])
    assert float(after[bs][3]) == pytest.approx(float(before[bs][3]) + (REQUIRED_S + 1) / 3600, abs=0.11)
    assert int(after[bs][1]) == int(before[bs][1]) + (w.credit[w.month, lisi.id] < REQUIRED_S)
    html = page(client_for("officer_bs"), month=months.shift(w.month, -2)).get_data(as_text=True)
    trend = {a["data-label"]: cells for a, cells in Tables(html).tables["trend"] if "data-label" in a}
    assert trend[months.shift(w.month, -2)][:4] == [months.shift(w.month, -2), "1", "0.0%", "1.0"]
    assert "李四" in html


def test_a_transfer_moves_this_month_only(app, db, client_for):
    w = build_world(app, db)
    mover = db.scalar(select(User).where(User.username == f"t{w.uid['北山街道司法所']}_000"))
    admin = client_for("admin")
    form = admin.c.get(f"/admin/users/{mover.id}").get_data(as_text=True)
    assert "unit_id" in form
    answer = admin.c.post(f"/admin/users/{mover.id}", data={
        "csrf_token": admin.token, "username": mover.username, "display_name": mover.display_name,
        "role": "supervisee", "unit_id": w.uid["灵隐街道司法所"], "officer_id": user(db, "officer_ly").id,
        "active": "y"})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:2000]
    w.unit_in[w.month, mover.id] = w.uid["灵隐街道司法所"]
    xh = client_for("officer_xh")
    for refreshed in (False, True):       # at once (move_current_month), and after the job ran again
        if refreshed:
            refresh(app, w.last)          # last month keeps its units
            refresh(app, w.month)
        for month in (w.last, w.month):
            shown = unit_rows(page(xh, month=month).get_data(as_text=True))
            want = expected(w, month, w.uid["西湖区司法局"])
            assert {k: v for k, v in shown.items() if k in want} == want, (month, refreshed)
    bs_last = page(client_for("officer_bs"), month=w.last).get_data(as_text=True)
    bs_now = page(client_for("officer_bs")).get_data(as_text=True)
    assert mover.display_name in bs_last and mover.display_name not in bs_now
    assert mover.display_name in page(client_for("officer_ly")).get_data(as_text=True)


def test_month_selector_refuses_bad_months_in_chinese(app, db, client_for):
    w = build_world(app, db)
    client = client_for("officer_xh")
    for bad, words in (("2026-13", "YYYY-MM"), ("abc", "YYYY-MM"), ("2026-1", "YYYY-MM"), ("１２３４-05", "YYYY-MM"),
                       (months.shift(w.month, 1), "未来"), ("1999-12", "2000"), ("%00", None)):
        answer = page(client, month=bad)
        assert answer.status_code == 400, bad
        if words:
            assert words in answer.get_data(as_text=True), bad
    for bad in ("page=abc", "page=0", "page=-1", "page=99999999999999999999", "q=" + "王" * 51):
        assert client.c.get(f"/officer/?{bad}").status_code == 400, bad
    assert "月份" in page(client, month="2026-13").get_data(as_text=True)
    answer = page(client, month=w.last)
    assert answer.status_code == 200 and f'value="{w.last}"' in answer.get_data(as_text=True)


def test_people_are_paginated_and_searchable(app, db, client_for):
    w = build_world(app, db, extra_in_bs=50)          # 62 in 北山 + zhangsan, lisi
    client = client_for("officer_bs")
    bs = w.uid["北山街道司法所"]
    everyone = set(db.scalars(select(User.display_name).where(User.unit_id == bs, User.role == "supervisee")))
    assert len(everyone) == 64
    seen = []
    for number in (1, 2):
        rows = Tables(page(client, page=number).get_data(as_text=True)).tables["compliance"]
        seen += [cells[0] for attrs, cells in rows if "data-learner" in attrs]
    assert len(seen) == 64 and set(seen) == everyone          # 50 + 14, no one twice
    empty = Tables(page(client, page=3).get_data(as_text=True)).tables["compliance"]
    assert not [r for r in empty if "data-learner" in r[0]]
    # search: by name and by username, case-insensitive, LIKE wildcards taken literally
    for query, want in (("测试北山00", {n for n in everyone if n.startswith("测试北山00")}),
                        ("ZHANGSAN", {"张三"}), ("%", set()), ("北_", set()), ("李四", {"李四"})):
        html = client.c.get("/officer/", query_string={"q": query}).get_data(as_text=True)
        rows = Tables(html).tables["compliance"]
        assert {cells[0] for attrs, cells in rows if "data-learner" in attrs} == want, query
    # the district sees 北山's people through search, 梅园's not
    xh = client_for("officer_xh")
    found = Tables(xh.c.get("/officer/", query_string={"q": "测试"}).get_data(as_text=True)).tables["compliance"]
    names = {cells[0] for attrs, cells in found if "data-learner" in attrs}
    assert names and not [n for n in names if n.startswith("测试梅园")]


def test_role_and_jurisdiction_on_the_unit_pages(app, db, client_for):
    w = build_world(app, db)
    assert page(client_for("officer_bs"), unit=w.uid["灵隐街道司法所"]).status_code == 404
    assert page(client_for("officer_ly"), unit=w.uid["北山街道司法所"], month=w.last).status_code == 404
    assert page(client_for("officer_xh"), unit=w.uid["杭州市司法局"]).status_code == 404   # above
    assert page(client_for("officer_hz"), unit=w.uid["梅园新村街道司法所"]).status_code == 404
    assert page(client_for("zhangsan")).status_code == 403
    anonymous = client_for().c.get("/officer/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    # the drill-down links of a page stay inside the viewer's subtree
    html = page(client_for("officer_xh")).get_data(as_text=True)
    assert "梅园" not in html and "江苏" not in html and "杭州市司法局" not in html


def test_the_seeded_scale_page_matches_plain_sql(app, db, client_for):
    """scripts/seed_scale.py at CI size (the bench seeds 100,000): the ministry page of the seeded
    tree against counts written here in SQL over the raw tables."""
    from sqlalchemy import text
    from scripts.seed_scale import SEED_PASSWORD, seed
    with app.app_context():
        from webapp.core import db as app_db
        seeded = seed(app_db.session(), 2000)
    root = seeded.chain[0]
    start, end = months.bounds(seeded.month, app.config["BABEL_DEFAULT_TIMEZONE"])
    want = raw_by_child(db, root, seeded.month, start, end, REQUIRED_S)
    assert sum(w[0] for w in want.values()) == 2000
    client = client_for()
    assert client.login(seeded.officers[0], SEED_PASSWORD).status_code == 302
    html = client.c.get("/officer/").get_data(as_text=True)
    assert set(want) <= set(unit_rows(html))
    assert mismatches(db, html, root, seeded.month, start, end, REQUIRED_S) == []
    # the township officer's page: the township's own people, one page of them
    township = client_for()
    assert township.login(seeded.officers[4], SEED_PASSWORD).status_code == 302
    html = township.c.get("/officer/").get_data(as_text=True)
    people = db.scalar(text("SELECT count(*) FROM app_user WHERE unit_id = :u AND role = 'supervisee'"),
                       {"u": seeded.chain[4]})
    rows = Tables(html).tables["compliance"]
    assert len([r for r in rows if "data-learner" in r[0]]) == min(people, 50)


def analyze_count(db) -> int | None:
    """How often PostgreSQL has analysed learner_month (None on SQLite)."""
    if db.get_bind().dialect.name != "postgresql":
        return None
    db.execute(text("SELECT pg_stat_clear_snapshot()"))
    return db.scalar(text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'learner_month'"))


def test_refresh_command_and_scheduled_job(app, db, client_for, monkeypatch):
    """`flask compliance refresh` and the scheduler's job build the months' rows from the raw rows;
    the job recounts last month once after its end, then leaves it alone. On PostgreSQL a refresh
    that adds rows in bulk (here: BULK_ROWS lowered to 1) analyses the table."""
    from webapp.compliance import rollup
    w = build_world(app, db)
    db.execute(User.__table__.update().values(created_at=datetime(2000, 1, 1)))
    db.execute(LearnerMonth.__table__.delete())
    db.commit()
    analysed = analyze_count(db)
    db.commit()
    monkeypatch.setattr(rollup, "BULK_ROWS", 1)
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["compliance", "refresh", "--month", months.shift(w.month, 1)])
    assert bad.exit_code != 0 and "not a month" in bad.output
    done = runner.invoke(args=["compliance", "refresh", "--month", w.last])
    assert done.exit_code == 0 and f"{w.last}: " in done.output, done.output
    if analysed is not None:
        for _ in range(50):        # statistics reach the view within a moment
            if analyze_count(db) > analysed:
                break
            time.sleep(0.1)
        assert analyze_count(db) > analysed
        db.commit()
    with app.app_context():
        from webapp.compliance import scheduled_refresh
        from webapp.core import db as app_db
        first = scheduled_refresh(app_db.write_transaction)
        again = scheduled_refresh(app_db.write_transaction)
    people = db.scalar(select(func.count()).select_from(User).where(User.role == "supervisee"))
    assert first == again == people    # this month only: last month's rows were refreshed after its end
    rows = db.scalar(select(func.count()).select_from(LearnerMonth).where(LearnerMonth.month == w.month))
    assert rows == people
    shown = unit_rows(page(client_for("officer_xh"), month=w.last).get_data(as_text=True))
    want = expected(w, w.last, w.uid["西湖区司法局"])
    assert {k: v for k, v in shown.items() if k in want} == want
