"""DESIGN.md: a web domain (webapp/<domain>/) uses another domain only through a name exported in
that domain's __init__; the pure packages never import Flask, SQLAlchemy or webapp."""
import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = ("org", "courses", "study", "proctor", "conferences", "vr", "supervision", "compliance", "people",
           "attention")
PURE = ("streaming", "proctoring", "conferencing", "vr_scenes")


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def test_domains_use_each_other_only_through_their_exports():
    bad = []
    for domain in DOMAINS:
        for path in (ROOT / "webapp" / domain).rglob("*.py"):
            for line, module in _imports(path):
                parts = module.split(".")
                if parts[0] == "webapp" and len(parts) > 2 and parts[1] in DOMAINS and parts[1] != domain:
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert not bad, "import the other domain's exported name (from webapp.<domain> import name):\n" + "\n".join(bad)


def test_every_exported_name_resolves():
    for domain in DOMAINS:
        package = importlib.import_module(f"webapp.{domain}")
        for name in getattr(package, "__all__", ()):
            assert getattr(package, name) is not None, (domain, name)


def test_pure_packages_import_no_flask_sqlalchemy_or_webapp():
    bad = []
    for package in PURE:
        for path in (ROOT / package).rglob("*.py"):
            for line, module in _imports(path):
                top = module.split(".")[0]
                if top in ("flask", "sqlalchemy", "webapp") or top.startswith("flask_"):
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert not bad, bad
