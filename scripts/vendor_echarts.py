"""Vendor Apache ECharts for the unit pages' charts (webapp/compliance/static/vendor/).

    python -m scripts.vendor_echarts [--version 6.1.0]

Fetches the package from the npm registry with the ordinary client (`npm pack echarts@VERSION`),
copies dist/echarts.common.min.js (line, bar and pie: the charts the pages draw) and the
package's LICENSE followed by its NOTICE (Apache-2.0 asks for both) into the vendor folder, and
writes the folder's MANIFEST.json with the version and checksums that tests/unit/test_vendored.py
checks. The files are committed: nothing is fetched at run time.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "webapp" / "compliance" / "static" / "vendor"
FILE, LICENCE = "echarts.common.min.js", "echarts.LICENSE"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="6.1.0")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"echarts@{args.version}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        archive = next(Path(tmp).glob("echarts-*.tgz"))
        with tarfile.open(archive) as tar:
            def read(name: str) -> bytes:
                return tar.extractfile(f"package/{name}").read()
            package = json.loads(read("package.json"))
            script = read(f"dist/{FILE}")
            licence = read("LICENSE").rstrip(b"\n") + b"\n\n" + read("NOTICE")
    if package["version"] != args.version or package["license"] != "Apache-2.0":
        raise SystemExit(f"unexpected package: {package['version']} {package['license']}")
    marker = f'version="{args.version}"'
    if marker.encode() not in script:
        raise SystemExit(f"{FILE} does not say {marker}")
    VENDOR.mkdir(parents=True, exist_ok=True)
    (VENDOR / FILE).write_bytes(script)
    (VENDOR / LICENCE).write_bytes(licence)
    manifest = {"files": [{"file": FILE, "package": "echarts", "version": args.version,
                           "package_path": f"dist/{FILE}", "version_marker": marker, "license": "Apache-2.0",
                           "license_file": LICENCE, "sha256": sha256(script), "license_sha256": sha256(licence)}]}
    (VENDOR / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"vendored echarts {args.version}: {FILE} ({len(script)} bytes), {LICENCE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
