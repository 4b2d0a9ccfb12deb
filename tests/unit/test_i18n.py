"""Every UI string has its Simplified Chinese text, and the compiled catalogue is current."""
from __future__ import annotations

import json
from pathlib import Path

from babel.messages.mofile import read_mo

from scripts.i18n import TRANSLATIONS, extract


def test_every_extracted_string_is_translated():
    table = json.loads((TRANSLATIONS / "zh.json").read_text(encoding="utf-8"))
    missing = [m.id for m in extract() if m.id and not table.get(m.id)]
    assert not missing, f"add Chinese for these to webapp/translations/zh.json and run python -m scripts.i18n: {missing}"


def test_compiled_catalogue_matches_the_table():
    table = json.loads((TRANSLATIONS / "zh.json").read_text(encoding="utf-8"))
    with open(Path(TRANSLATIONS) / "zh_Hans_CN" / "LC_MESSAGES" / "messages.mo", "rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    stale = [k for k, v in table.items() if compiled.get(k) != v]
    assert not stale, f"run python -m scripts.i18n: {stale[:5]}"
