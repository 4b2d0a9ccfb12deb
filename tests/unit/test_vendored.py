"""Vendored front-end libraries (issue 10): every vendor folder of the portal has a MANIFEST.json
that lists each of its files with the npm package, version, licence and SHA-256 it came from.

Checked here: nothing unlisted lies in a vendor folder, every listed file is there with the
listed checksum and says the listed version, its licence text is beside it (checksummed too)
and is the licence named, and every vendored file a template loads is listed.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"
VENDOR_DIRS = sorted(p for p in WEBAPP.rglob("vendor") if p.is_dir() and p.parent.name == "static")
MANIFEST = "MANIFEST.json"
FIELDS = {"file", "package", "version", "package_path", "version_marker", "license", "license_file",
          "sha256", "license_sha256"}
# What each SPDX licence's text must say (the licence file is the package's own LICENSE).
LICENCE_TEXT = {"MIT": "Permission is hereby granted, free of charge",
                "Apache-2.0": "Licensed under the Apache License, Version 2.0"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entries(folder: Path) -> list[dict]:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]


def all_entries():
    return [pytest.param(folder, entry, id=f"{folder.relative_to(WEBAPP)}/{entry['file']}")
            for folder in VENDOR_DIRS for entry in entries(folder)]


def test_there_is_a_vendor_folder_and_each_has_a_manifest():
    assert VENDOR_DIRS, "no webapp/**/static/vendor folder found"
    for folder in VENDOR_DIRS:
        assert (folder / MANIFEST).is_file(), f"{folder} has no {MANIFEST}"


@pytest.mark.parametrize("folder", VENDOR_DIRS, ids=lambda p: str(p.relative_to(WEBAPP)))
def test_every_file_in_a_vendor_folder_is_listed(folder):
    listed = {MANIFEST}
    for entry in entries(folder):
        assert set(entry) == FIELDS, f"{entry.get('file')}: fields {sorted(set(entry) ^ FIELDS)}"
        for name in (entry["file"], entry["license_file"]):
            assert name not in listed, f"{name} is listed twice"
            listed.add(name)
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert present - listed == set(), f"unlisted files in {folder}"
    assert listed - present == set(), f"listed but missing in {folder}"


@pytest.mark.parametrize("folder,entry", all_entries())
def test_a_vendored_file_matches_its_entry(folder, entry):
    path = folder / entry["file"]
    assert sha256(path) == entry["sha256"], f"{path.name} differs from {entry['package']}@{entry['version']}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"]), entry["version"]
    assert re.fullmatch(r"(@[a-z0-9._-]+/)?[a-z0-9._-]+", entry["package"]), entry["package"]
    assert entry["version"] in entry["version_marker"]
    head = path.read_text(encoding="utf-8", errors="replace")
    assert entry["version_marker"] in head, f"{path.name} does not say {entry['version_marker']!r}"


@pytest.mark.parametrize("folder,entry", all_entries())
def test_a_vendored_file_has_its_licence_beside_it(folder, entry):
    licence = folder / entry["license_file"]
    assert licence.is_file(), f"{entry['file']}: {licence.name} is missing"
    assert sha256(licence) == entry["license_sha256"], f"{licence.name} changed"
    assert entry["license"] in LICENCE_TEXT, f"{entry['license']}: add the licence's wording to LICENCE_TEXT"
    assert LICENCE_TEXT[entry["license"]] in licence.read_text(encoding="utf-8")


def test_every_vendored_file_a_template_loads_is_listed():
    listed = {entry["file"] for folder in VENDOR_DIRS for entry in entries(folder)}
    loaded = set()
    for template in WEBAPP.rglob("templates/**/*.html"):
        loaded |= set(re.findall(r"filename=['\"]vendor/([^'\"]+)['\"]", template.read_text(encoding="utf-8")))
    assert loaded, "no template loads a vendored file: is the pattern still right?"
    assert loaded <= listed, f"not in any {MANIFEST}: {sorted(loaded - listed)}"
