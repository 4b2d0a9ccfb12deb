"""The monthly compliance downloads (issue 14): XLSX, CSV and PDF of a unit carry the numbers
computed here from the raw rows (tests/integration/test_compliance_pages.py builds the world and
the expectation) and the numbers the unit page shows; they stay in the officer's subtree, refuse
bad input clearly, and are audited."""
from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from tests.integration.test_compliance_pages import build_world, expected, page, unit_rows
from webapp.models import AuditLog, User

# The columns of the page's "by unit" table (expected()): people, met, share, hours, open flags,
# absences, roll calls; the export's: people, met, share, hours, open flags, raised, roll calls, absences.


def as_page_cells(row: list) -> list[str]:
    people, met, share, hours, flags_open, _raised, calls, absences = row[1:]
    return [str(people), str(met), f"{float(share):.1f}%", f"{float(hours):.1f}", str(flags_open), str(absences),
            str(calls)]


def xlsx(client, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.c.get(f"/officer/report/monthly.xlsx?{query}")


def test_xlsx_carries_the_raw_rows_numbers_and_the_pages(app, db, client_for):
    w = build_world(app, db)
    for username, unit_name in [("officer_moj", "司法部"), ("officer_xh", "西湖区司法局"), ("officer_bs", "北山街道司法所")]:
        client = client_for(username)
        for month in (w.month, w.last):
            unit_id = w.uid[unit_name]
            answer = xlsx(client, unit=unit_id, month=month)
            assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
            book = load_workbook(io.BytesIO(answer.get_data()))
            units, trend, people = book.worksheets
            rows = [list(r) for r in units.iter_rows(min_row=2, values_only=True)]
            want = expected(w, month, unit_id)
            total = as_page_cells(rows[-1])
            assert total == want["total"], (username, month)
            shown = unit_rows(page(client, unit=unit_id, month=month).get_data(as_text=True))
            assert total == shown["total"]
            # every person counted in the subtree that month, with their hours, and no one else
            inside = {learner for (m, learner), unit in w.unit_in.items()
                      if m == month and f"/{unit_id}/" in w.path[unit]}
            names = dict(db.execute(select(User.username, User.id)).all())
            listed = {names[r[1]]: r[3] for r in people.iter_rows(min_row=2, values_only=True)}
            assert set(listed) == inside, (username, month)
            for learner, hours in listed.items():
                assert abs(hours - w.credit[month, learner] / 3600) < 0.006
            assert [r[0] for r in trend.iter_rows(min_row=2, values_only=True)][-1] == month


def test_csv_has_a_bom_and_the_same_totals(app, db, client_for):
    w = build_world(app, db)
    client = client_for("officer_hz")
    answer = client.c.get(f"/officer/report/monthly.csv?month={w.last}")
    body = answer.get_data()
    assert answer.status_code == 200 and body.startswith(b"\xef\xbb\xbf")
    last_line = body.decode("utf-8-sig").strip().splitlines()[-1].split(",")
    assert as_page_cells(last_line) == expected(w, w.last, w.uid["杭州市司法局"])["total"]


def test_pdf_is_chinese_with_an_embedded_font_and_the_totals(app, db, client_for):
    from pypdf import PdfReader
    w = build_world(app, db)
    client = client_for("officer_xh")
    answer = client.c.get(f"/officer/report/monthly.pdf?month={w.month}")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    data = answer.get_data()
    assert b"/FontFile2" in data            # the TrueType font is embedded
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    want = expected(w, w.month, w.uid["西湖区司法局"])["total"]
    assert "西湖区司法局" in text and "学习情况" in text
    assert f"{want[0]}" in text and want[3] in text     # people and hours of the total row
    assert "北山街道司法所" in text and "梅园" not in text


def test_outside_the_subtree_bad_input_and_the_audit(app, db, client_for):
    w = build_world(app, db)
    client = client_for("officer_bs")
    assert xlsx(client, unit=w.uid["灵隐街道司法所"]).status_code == 404
    assert xlsx(client, unit=w.uid["西湖区司法局"]).status_code == 404
    for bad in ("2026-13", "9999-01", "abc", "1999-12"):
        answer = xlsx(client, month=bad)
        assert answer.status_code == 400 and "月" in answer.get_data(as_text=True), bad
    assert xlsx(client, unit="x").status_code == 400
    assert client.c.get("/officer/report/monthly.doc").status_code == 404
    assert client_for("zhangsan").c.get("/officer/report/monthly.xlsx").status_code == 403
    before = db.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()).limit(1)) or 0
    assert xlsx(client, month=w.last).status_code == 200
    db.expire_all()
    rows = db.scalars(select(AuditLog).where(AuditLog.id > before, AuditLog.action == "compliance_exported")).all()
    assert [(r.unit_id, r.detail) for r in rows] == [(w.uid["北山街道司法所"], f"month:{w.last} format:xlsx")]


def test_a_missing_font_is_a_clear_503(app, db, client_for):
    from pypdf import PdfReader  # noqa: F401  (the same environment as the PDF test)
    app.config["REPORT_FONT"] = "/nonexistent/font.ttc"
    from reportlab.pdfbase import pdfmetrics
    from webapp.compliance import report_pdf
    registered = report_pdf.FONT_NAME in pdfmetrics.getRegisteredFontNames()
    answer = client_for("officer_bs").c.get("/officer/report/monthly.pdf")
    if registered:     # this process registered the font already: the PDF is still made
        assert answer.status_code == 200
    else:
        assert answer.status_code == 503 and "XLSX" in answer.get_data(as_text=True)


def test_the_unit_page_links_its_own_report(app, db, client_for):
    """The page's download links name the unit and month on screen, and the XLSX they lead to
    carries that unit's totals."""
    import re
    from html import unescape

    w = build_world(app, db)
    client = client_for("officer_hz")
    unit_id = w.uid["西湖区司法局"]
    html = page(client, unit=unit_id, month=w.last).get_data(as_text=True)
    links = {fmt: unescape(href) for fmt, href in re.findall(r'id="report-(\w+)" href="([^"]+)"', html)}
    assert set(links) == {"xlsx", "csv", "pdf"}
    for href in links.values():
        assert f"unit={unit_id}" in href and f"month={w.last}" in href
    answer = client.c.get(links["xlsx"])
    units = load_workbook(io.BytesIO(answer.get_data())).worksheets[0]
    total = as_page_cells([list(r) for r in units.iter_rows(min_row=2, values_only=True)][-1])
    assert total == expected(w, w.last, unit_id)["total"]
