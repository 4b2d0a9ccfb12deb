"""Rebuild the Chinese catalogue: extract msgids, merge with webapp/translations/zh.json, compile.

    python -m scripts.i18n          # after adding UI strings: add their Chinese to zh.json

zh.json is the source of the Chinese text (msgid -> translation). Strings built at run time
(error messages, categories) are listed there too, so they need no marker in the code.
tests/unit/test_i18n.py fails when a msgid has no translation.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "webapp" / "translations"
LOCALE = "zh_Hans_CN"


def extract() -> Catalog:
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
                        "-k", "_l", "-k", "N_", "--no-location", "-o", str(pot), "."],
                       check=True, capture_output=True, cwd=ROOT)
        with open(pot, "rb") as fh:
            return read_po(fh)


def main() -> int:
    table = json.loads((TRANSLATIONS / "zh.json").read_text(encoding="utf-8"))
    template = extract()
    catalog = Catalog(locale=LOCALE, project="smart-corrections", charset="utf-8")
    missing = []
    ids = [m.id for m in template if m.id] + [k for k in table if k not in template]
    for msgid in ids:
        if msgid not in table:
            missing.append(msgid)
        catalog.add(msgid, table.get(msgid, ""))
    folder = TRANSLATIONS / LOCALE / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "messages.po", "wb") as fh:
        write_po(fh, catalog, width=120, omit_header=False)
    with open(folder / "messages.mo", "wb") as fh:
        write_mo(fh, catalog)
    for msgid in missing:
        print(f"untranslated: {msgid!r}")
    print(f"{len(ids)} messages, {len(missing)} untranslated")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
