"""The figures of a unit page, computed again from the raw tables (credit entries, flags, people
and the unit tree) in plain SQL, and the page's tables read back from its HTML. Neither uses
webapp.compliance: the bench (bench/officer.py, at 100,000 supervisees) and the tests
(tests/integration/test_compliance_pages.py, at CI size) compare the two.
"""
from __future__ import annotations

from html.parser import HTMLParser

from sqlalchemy import text

# Per unit directly below `root`: people (supervisees whose unit is in that unit's subtree today,
# which for a seeded month without transfers is also that month's), how many met `req` seconds,
# seconds credited, open flags raised in the month.
_BY_CHILD = text("""
    SELECT p.id, count(u.id),
           sum(CASE WHEN coalesce(c.s, 0) >= :req THEN 1 ELSE 0 END), coalesce(sum(c.s), 0),
           coalesce(sum(f.n), 0)
    FROM org_unit p
    JOIN org_unit o ON substr(o.path, 1, length(p.path)) = p.path
    JOIN app_user u ON u.unit_id = o.id AND u.role = 'supervisee'
    LEFT JOIN (SELECT learner_id, sum(credited_s) AS s FROM credit_entry WHERE month = :m GROUP BY learner_id) c
           ON c.learner_id = u.id
    LEFT JOIN (SELECT learner_id, count(*) AS n FROM proctor_flag
               WHERE status = 'open' AND raised_at >= :s AND raised_at < :e GROUP BY learner_id) f
           ON f.learner_id = u.id
    WHERE p.parent_id = :root GROUP BY p.id""")


def raw_by_child(connection, root_id: int, month: str, start, end, required_s: float) -> dict[str, tuple]:
    """{child unit id as text: (people, met, seconds credited, open flags)}."""
    rows = connection.execute(_BY_CHILD, {"req": required_s, "m": month, "s": start, "e": end, "root": root_id})
    return {str(pid): (int(n), int(met), float(secs), int(flags)) for pid, n, met, secs, flags in rows}


def as_shown(figures: tuple) -> tuple:
    """The raw figures as the page writes them: people, met, hours to one decimal, open flags."""
    people, met, secs, flags = figures
    return people, met, f"{secs / 3600:.1f}", flags


def shown_by_child(cells: list[str]) -> tuple:
    """The same four from a row of the page's units table (unit_rows)."""
    return int(cells[0]), int(cells[1]), cells[3], int(cells[4])


class Tables(HTMLParser):
    """{table id: [(row attributes, [cell texts])]} of a page."""

    def __init__(self, html: str):
        super().__init__()
        self.tables: dict[str, list] = {}
        self._table = self._row = self._cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = self.tables.setdefault(attrs["id"], [])
        elif tag == "tr" and self._table is not None:
            self._row = (attrs, [])
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row[1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def unit_rows(html: str) -> dict[str, list[str]]:
    """The 'compliance by unit' table: data-unit (an id, "direct" or "total") -> cells after the name."""
    return {attrs["data-unit"]: cells[1:] for attrs, cells in Tables(html).tables["units"] if "data-unit" in attrs}


def mismatches(connection, html: str, root_id: int, month: str, start, end, required_s: float) -> list[str]:
    """Where the page's units table differs from the raw figures (empty: every unit agrees)."""
    want = raw_by_child(connection, root_id, month, start, end, required_s)
    shown = unit_rows(html)
    out = [f"unit {key}: not on the page" for key in want if key not in shown]
    out += [f"unit {key}: page {shown_by_child(shown[key])} raw {as_shown(figures)}"
            for key, figures in want.items() if key in shown and shown_by_child(shown[key]) != as_shown(figures)]
    return out
