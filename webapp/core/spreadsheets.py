"""Downloads in the forms an office files: CSV (UTF-8 with a BOM, so Excel on Chinese Windows
reads it) and XLSX (openpyxl, write-only so large exports stream), as attachments nobody caches.

Text that came from users never becomes a formula: a cell starting with = + - @ is prefixed
with an apostrophe (CSV injection)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from flask import Response

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv; charset=utf-8"


def safe_cell(value):
    """Text that cannot start a formula; numbers and None pass unchanged."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def csv_bytes(header: Sequence, rows: Iterable[Sequence]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")


def xlsx_bytes(sheets: Sequence[tuple[str, Sequence, Iterable[Sequence]]]) -> bytes:
    """One workbook of (title, header, rows) sheets."""
    from openpyxl import Workbook
    book = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = book.create_sheet(title[:31])      # Excel's limit on a sheet title
        sheet.append(list(header))
        for row in rows:
            sheet.append([safe_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def attachment(body: bytes, mimetype: str, filename: str) -> Response:
    """`filename` is ASCII (callers build it from ids and months)."""
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
