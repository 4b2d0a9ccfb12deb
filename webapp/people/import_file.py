"""Reading a people-import file (XLSX or CSV) into rows of text, and writing its template.

The file's type is decided by its content, never its name: an XLSX is a ZIP that openpyxl can
open; anything else must decode as CSV text (UTF-8 with or without BOM, else GB18030, what Excel
on a Chinese Windows saves). Row numbers are those a spreadsheet shows: the header is row 1.
"""
from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from webapp.people.national_id import N_

# (header in the file, field name, required)
COLUMNS = (
    ("姓名", "display_name", True),
    ("用户名", "username", True),
    ("身份证号", "national_id", True),
    ("手机号", "phone", False),
    ("所属单位", "unit", True),
    ("角色", "role", True),
    ("负责工作人员", "officer", False),
    ("初始密码", "password", False),
)
HEADERS = tuple(header for header, _f, _r in COLUMNS)
MAX_COLUMNS = 30
MAX_CELL = 200

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"      # the old binary .xls


class FileProblem(Exception):
    """The file as a whole cannot be read (a message id and its parameters)."""

    def __init__(self, message: str, **params):
        super().__init__(message)
        self.message, self.params = message, params


@dataclass
class Table:
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)   # (row number, field -> text)
    kind: str = "csv"


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    return unicodedata.normalize("NFC", str(value)).strip()[:MAX_CELL]


def _xlsx_rows(data: bytes, max_rows: int):
    from openpyxl import load_workbook
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), 1):
            if number > max_rows + 1:
                raise FileProblem(N_("The file has more than %(limit)d rows; split it into smaller files."),
                                  limit=max_rows)
            yield number, [_text(v) for v in values]
    except FileProblem:
        raise
    except Exception as exc:
        raise FileProblem(N_("The file is not a readable XLSX workbook.")) from exc


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        encodings = ("utf-8-sig",)
    else:
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise FileProblem(N_("The file is neither an XLSX workbook nor CSV text in UTF-8 or GB18030."))


def _csv_rows(data: bytes, max_rows: int):
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        for number, values in enumerate(reader, 1):
            if number > max_rows + 1:
                raise FileProblem(N_("The file has more than %(limit)d rows; split it into smaller files."),
                                  limit=max_rows)
            yield number, [_text(v) for v in values[:MAX_COLUMNS]]
    except csv.Error as exc:
        raise FileProblem(N_("The CSV file could not be read (line %(line)d)."), line=reader.line_num) from exc


def read_table(data: bytes, max_rows: int) -> Table:
    """The rows of the file as {field: text}; empty rows skipped. Raises FileProblem."""
    if data.startswith(OLE_MAGIC):
        raise FileProblem(N_("Old .xls workbooks are not supported: save the file as .xlsx or CSV."))
    kind = "xlsx" if data.startswith(ZIP_MAGIC) else "csv"
    rows = _xlsx_rows(data, max_rows) if kind == "xlsx" else _csv_rows(data, max_rows)
    header = None
    table = Table(kind=kind)
    for number, values in rows:
        if header is None:
            header = [v.replace(" ", "").replace("*", "") for v in values]
            known = {h: f for h, f, _r in COLUMNS}
            missing = [h for h, _f, required in COLUMNS if required and h not in header]
            if missing:
                raise FileProblem(N_("The header row lacks the columns: %(columns)s. Use the template."),
                                  columns="、".join(missing))
            positions = {known[h]: i for i, h in enumerate(header) if h in known}
            continue
        if not any(values):
            continue
        table.rows.append((number, {f: (values[i] if i < len(values) else "") for f, i in positions.items()}))
    if header is None:
        raise FileProblem(N_("The file is empty."))
    if not table.rows:
        raise FileProblem(N_("The file has no rows below its header."))
    return table


def template_csv() -> bytes:
    """The CSV template: the header row, UTF-8 with BOM (Excel opens it as UTF-8)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(HEADERS)
    return buffer.getvalue().encode("utf-8-sig")


def template_xlsx(units: list[tuple[int, str, str]], notes: list[str]) -> bytes:
    """The XLSX template: the header row (ID and phone columns formatted as text, so Excel keeps
    all 18 digits), a sheet of notes and a sheet of the importer's units (id, level, full name)."""
    from openpyxl import Workbook
    book = Workbook()
    sheet = book.active
    sheet.title = "导入"
    sheet.append(list(HEADERS))
    for column in ("C", "D", "H"):
        sheet.column_dimensions[column].width = 22
        for row in range(2, 502):
            sheet[f"{column}{row}"].number_format = "@"
    info = book.create_sheet("填写说明")
    for line in notes:
        info.append([line])
    listing = book.create_sheet("单位列表")
    listing.append(["单位编号", "级别", "单位全称"])
    for unit_id, level, name in units:
        listing.append([unit_id, level, name])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
