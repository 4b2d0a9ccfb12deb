"""Identity threshold evaluation: `python -m proctoring.evaluate`.

Builds an evaluation set offline from the real photos in `proctoring.sample_faces`
(astronaut, grace_hopper, camera) and prints `key=value` lines.

* Reference: each person's clean photo, embedded from MediaPipe's box.
* Variants per condition, for every person: `pose` (in-plane rotations, perspective warps,
  and, where the landmarker finds the face, the synthetic 3D head turn of `sample_faces.turn`),
  `light` (brighter, darker, gamma), `blur` (Gaussian), `jpeg` (q10-q50), `scale` (the photo
  shrunk so the face is 30-60 px high), `mirror`, and `scene` (the person placed in a webcam
  room at 640x480 and 320x240, as the portal sees them).
* Genuine pair: a variant against the same person's clean reference. Impostor pair: a
  variant against every *other* person's clean reference.
* A variant in which the detector finds no face (score >= 0.6) cannot be compared: counted
  in `undetected=` and in the FRR (the learner would be rejected), not in the distances.

Threshold rule: dlib's published operating point is 0.6 (99.38% on LFW). On this set every
genuine distance must be below the threshold and every impostor distance above it with a
margin, so the chosen threshold is
    min(0.6, min_impostor - 0.10)
rounded down to 0.05: the largest threshold with FAR=0 on this set, minus a safety margin.
Measured: min_impostor=0.6035 (the astronaut over-exposed x1.8 against grace_hopper),
so the threshold is 0.50. The sets are NOT separable: the worst genuine pair (the grey
camera man blurred sigma=3) is at 0.619, above the closest impostor; `separable=` says so.
At 0.50 FRR is ~7% of the (deliberately harsh) variants, nearly all of them the camera man
(grey, three-quarter, half hidden) under strong blur/rotation/over-exposure, and the
enrolled astronaut's realistic webcam scenes stay below 0.24. The margin is there because
three identities say almost nothing about the impostor tail: with thousands of enrolled
people some look-alike pairs will be much closer (on LFW different people go down to
~0.4-0.5). A false reject is cheaper than a false accept if the caller retries a failed check
on a few frames before flagging. `vision.IDENTITY_THRESHOLD` holds the value this prints.

HONESTY: this is THREE identities (one of them a grey three-quarter view half hidden by a
camera) and a few dozen synthetic variants each. FAR=0 here does not mean a low FAR in the
field; it only shows the conditions a webcam adds (blur, JPEG, light, scale, small pose)
do not push one person's embedding anywhere near another's on these photos. Runs in well
under a minute on one core.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import sample_faces as sf
from .vision import Analyzer, distance

MARGIN = 0.10
PUBLISHED = 0.6


@dataclass(frozen=True)
class Variant:
    person: str
    condition: str
    label: str
    rgb: np.ndarray


def _rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def _perspective(img: np.ndarray, k: float) -> np.ndarray:
    """Shrink one side of the photo (k > 0: the right side, k < 0: the left side)."""
    import cv2

    h, w = img.shape[:2]
    a = abs(k) * h
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    if k > 0:
        dst = np.float32([[0, 0], [w, a], [w, h - a], [0, h]])
    else:
        dst = np.float32([[0, a], [w, 0], [w, h], [0, h - a]])
    return cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (w, h), borderMode=cv2.BORDER_REPLICATE)


def _gain(img: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _gamma(img: np.ndarray, gamma: float) -> np.ndarray:
    return (255.0 * (img / 255.0) ** gamma).astype(np.uint8)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigma)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def _face_px(img: np.ndarray, person: str, face_px: int) -> np.ndarray:
    import cv2

    scale = face_px / sf.face_box(person)[3]
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def variants(person: str) -> list[Variant]:
    img = sf.photo(person)
    out: list[tuple[str, str, np.ndarray]] = []
    for deg in (-15, -8, 8, 15):
        out.append(("pose", f"rot{deg}", _rotate(img, deg)))
    for k in (-0.15, 0.15):
        out.append(("pose", f"persp{k}", _perspective(img, k)))
    if person != "camera":  # the landmarker does not find his face: no mesh to turn
        for deg in (-25, 25):
            out.append(("pose", f"turn{deg}", sf.turn(img, deg)))
    for gain in (0.4, 0.6, 1.4, 1.8):
        out.append(("light", f"gain{gain}", _gain(img, gain)))
    for gamma in (0.5, 2.0):
        out.append(("light", f"gamma{gamma}", _gamma(img, gamma)))
    for sigma in (1.0, 2.0, 3.0):
        out.append(("blur", f"sigma{sigma}", _blur(img, sigma)))
    for quality in (10, 20, 30, 50):
        out.append(("jpeg", f"q{quality}", _jpeg(img, quality)))
    for px in (30, 40, 60):
        out.append(("scale", f"face{px}px", _face_px(img, person, px)))
    out.append(("mirror", "mirror", np.ascontiguousarray(img[:, ::-1])))
    for seed, size in ((0, (640, 480)), (1, (640, 480)), (2, (320, 240))):
        out.append(("scene", f"scene{size[0]}s{seed}", sf.scene(person, size, seed)))
    return [Variant(person, c, label, rgb) for c, label, rgb in out]


def embed_one_face(analyzer: Analyzer, rgb: np.ndarray) -> np.ndarray | None:
    """The embedding of the best-scoring face, None when the detector finds none."""
    found = analyzer.detector.detect(rgb)
    if not found:
        return None
    return analyzer.embed(rgb, found[0].box)


def choose_threshold(genuine: list[float], impostor: list[float]) -> tuple[float, bool]:
    raw = min(PUBLISHED, min(impostor) - MARGIN)
    threshold = math.floor(raw * 20 + 1e-9) / 20
    return threshold, max(genuine) < threshold


def run(out=sys.stdout) -> dict[str, str]:
    started = time.perf_counter()
    analyzer = Analyzer()
    people = list(sf.NAMES)
    references = {}
    for person in people:
        ref = embed_one_face(analyzer, sf.photo(person))
        if ref is None:
            raise RuntimeError(f"no face in the clean {person} photo")
        references[person] = ref

    rows = []  # (condition, label, person, kind, distance or None)
    for person in people:
        for v in variants(person):
            emb = embed_one_face(analyzer, v.rgb)
            for other in people:
                kind = "genuine" if other == person else "impostor"
                d = None if emb is None else distance(emb, references[other])
                rows.append((v.condition, v.label, person, kind, d))
    # clean references against each other: impostor pairs too
    for i, a in enumerate(people):
        for b in people[i + 1:]:
            rows.append(("clean", "clean", a, "impostor", distance(references[a], references[b])))

    genuine = [r[4] for r in rows if r[3] == "genuine" and r[4] is not None]
    impostor = [r[4] for r in rows if r[3] == "impostor" and r[4] is not None]
    threshold, ok = choose_threshold(genuine, impostor)

    def rates(subset):
        g = [r for r in subset if r[3] == "genuine"]
        i = [r for r in subset if r[3] == "impostor"]
        frr = sum(1 for r in g if r[4] is None or r[4] > threshold) / len(g) if g else float("nan")
        far = sum(1 for r in i if r[4] is not None and r[4] <= threshold) / len(i) if i else float("nan")
        gd = [r[4] for r in g if r[4] is not None]
        idist = [r[4] for r in i if r[4] is not None]
        return frr, far, gd, idist

    frr, far, _, _ = rates(rows)
    result: dict[str, str] = {}

    def emit(key, value):
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        result[key] = text
        print(f"{key}={text}", file=out)

    emit("identities", len(people))
    emit("identity_names", ",".join(people))
    emit("threshold", threshold)
    emit("threshold_rule", f"floor20(min({PUBLISHED},min_impostor-{MARGIN}))")
    emit("separable", str(max(genuine) < min(impostor)).lower())
    emit("threshold_above_max_genuine", str(ok).lower())
    emit("far", far)
    emit("frr", frr)
    emit("genuine_pairs", sum(1 for r in rows if r[3] == "genuine"))
    emit("impostor_pairs", len(impostor))
    emit("undetected", sum(1 for r in rows if r[3] == "genuine" and r[4] is None))
    emit("max_genuine", max(genuine))
    emit("min_impostor", min(impostor))
    emit("mean_genuine", float(np.mean(genuine)))
    emit("mean_impostor", float(np.mean(impostor)))
    worst = max((r for r in rows if r[3] == "genuine" and r[4] is not None), key=lambda r: r[4])
    emit("worst_genuine", f"{worst[2]}:{worst[1]}")
    closest = min((r for r in rows if r[3] == "impostor" and r[4] is not None), key=lambda r: r[4])
    emit("closest_impostor", f"{closest[2]}:{closest[1]}")
    for person in people:
        p_frr, _, gd, _ = rates([r for r in rows if r[2] == person and r[3] == "genuine"])
        emit(f"frr_person_{person}", p_frr)
        emit(f"max_genuine_person_{person}", max(gd))
    for condition in dict.fromkeys(r[0] for r in rows if r[0] != "clean"):
        subset = [r for r in rows if r[0] == condition]
        c_frr, c_far, gd, idist = rates(subset)
        emit(f"frr_{condition}", c_frr)
        emit(f"far_{condition}", c_far)
        emit(f"mean_genuine_{condition}", float(np.mean(gd)) if gd else float("nan"))
        emit(f"max_genuine_{condition}", max(gd) if gd else float("nan"))
        emit(f"mean_impostor_{condition}", float(np.mean(idist)) if idist else float("nan"))
        emit(f"min_impostor_{condition}", min(idist) if idist else float("nan"))
    if "-v" in sys.argv:
        for r in rows:
            print(f"pair={r[2]}:{r[1]}:{r[3]} distance={'none' if r[4] is None else f'{r[4]:.4f}'}", file=out)
    emit("note", "three identities only: FAR=0 here is no evidence of a low FAR in the field")
    emit("seconds", time.perf_counter() - started)
    analyzer.close()
    return result


if __name__ == "__main__":
    run()
