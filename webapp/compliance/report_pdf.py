"""The printable monthly compliance report of a unit (PDF, for the office's files), in Chinese.

reportlab lays it out (a well-kept PDF library that embeds TrueType fonts); the font is WenQuanYi
Micro Hei (Debian fonts-wqy-microhei), embedded as a subset so the file prints the same anywhere.
Noto CJK, which the platform has too, has CFF outlines that reportlab cannot embed."""
from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _

from webapp.compliance.report import UnitReport, outcome_rows, trend_header, trend_rows, unit_header, unit_rows

FONT_NAME = "ReportCJK"
REPORT_LOCALE = "zh_Hans_CN"


class FontMissing(RuntimeError):
    """The configured CJK TrueType font is not installed."""


def _register_font(path: str) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return
    if not Path(path).is_file():
        raise FontMissing(path)
    pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=0))


def render(report: UnitReport, font_path: str, tz_name: str) -> bytes:
    """The report as PDF bytes; raises FontMissing when `font_path` is absent."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_font(font_path)
    title_style = ParagraphStyle("title", fontName=FONT_NAME, fontSize=16, leading=22, spaceAfter=6)
    heading = ParagraphStyle("heading", fontName=FONT_NAME, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=FONT_NAME, fontSize=9.5, leading=14)
    cell = ParagraphStyle("cell", fontName=FONT_NAME, fontSize=8.5, leading=11)

    def table(header: list[str], rows: list[list], widths: list[float]) -> Table:
        data = [[Paragraph(str(h), cell) for h in header]]
        data += [[Paragraph("" if v is None else str(v), cell) for v in row] for row in rows]
        t = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                               ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
        return t

    with force_locale(REPORT_LOCALE):
        made = datetime.now(ZoneInfo(tz_name)).strftime("%Y-%m-%d %H:%M")
        overall = report.overall
        share = f"{overall.share}%" if overall.share is not None else "—"
        story = [
            Paragraph(_("%(unit)s: study compliance of supervisees, %(month)s", unit=report.unit.name,
                        month=report.month), title_style),
            Paragraph(_("Generated %(at)s. Each person is counted in the unit they belonged to in that month.",
                        at=made), body),
            Spacer(1, 4 * mm),
            Paragraph(_("%(people)d supervisees, %(met)d met the requirement (%(share)s), %(hours).1f hours "
                        "credited, %(flags)d flags open, %(absences)d absences at roll calls.",
                        people=overall.people, met=overall.met, share=share, hours=overall.hours,
                        flags=overall.flags_open, absences=overall.absences), body),
            Paragraph(_("By unit"), heading),
            table(unit_header(), unit_rows(report), [40, 17, 17, 17, 19, 16, 16, 16, 20]),
            Paragraph(_("The last 12 months"), heading),
            table(trend_header(), trend_rows(report), [30, 30, 30, 30, 30]),
            Paragraph(_("Proctoring flags raised this month, by outcome"), heading),
            table([_("Review outcome"), _("Flags")], outcome_rows(report), [60, 30]),
        ]
        footer = _("Page %(page)d")

        def on_page(canvas, doc):
            canvas.saveState()
            canvas.setFont(FONT_NAME, 8)
            canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, footer % {"page": doc.page})
            canvas.drawString(15 * mm, 10 * mm, f"{report.unit.name} · {report.month}")
            canvas.restoreState()

        out = io.BytesIO()
        doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                                bottomMargin=18 * mm, title=f"{report.unit.name} {report.month}",
                                author="smart-corrections portal")
        doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
        return out.getvalue()
