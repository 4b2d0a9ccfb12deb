"""Real face photos available offline, and camera-like scenes built from them.

Used by the tests, the identity evaluation (`proctoring.evaluate`) and the browser tests
(`write_y4m` makes a fake-camera file for Chromium). Nothing is downloaded: the photos
ship inside installed packages.

* "astronaut": `skimage.data.astronaut()` (Eileen Collins): the ENROLLED person in all tests.
* "grace_hopper": matplotlib's `mpl-data/sample_data/grace_hopper.jpg`: the IMPOSTOR.
* "camera": `skimage.data.camera()` (a man behind a camera, grey): a third identity. The
  short-range detector finds him (score ~0.77) but his face is in three-quarter view, half
  hidden by the camera, and the landmarker misses him in the full photo: he is used as an
  extra impostor for identity only, never for pose or enrolment.

`turn` and `blink` fake a head turn and a blink on a photo for the liveness code (a
cylinder warp of the head and eyelids painted over the eyes); see their docstrings for what
the landmarker measures on them.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

NAMES = ("astronaut", "grace_hopper", "camera")
ENROLLED = "astronaut"
IMPOSTOR = "grace_hopper"

# Head-and-shoulders crops (x0, y0, x1, y1) in each photo, and the face box inside the photo
# as MediaPipe's short-range detector reports it (used to scale the face in a scene).
_CROPS = {
    "astronaut": (95, 15, 365, 340),
    "grace_hopper": (40, 30, 490, 600),
    "camera": (90, 40, 380, 400),
}
_FACES = {
    "astronaut": (177, 82, 95, 95),
    "grace_hopper": (171, 146, 194, 194),
    "camera": (182, 124, 87, 87),
}

_cache: dict[str, np.ndarray] = {}


def photo(name: str) -> np.ndarray:
    """The named photo as an RGB uint8 array (a fresh copy each call)."""
    if name not in _cache:
        if name == "astronaut":
            from skimage import data

            image = data.astronaut()
        elif name == "camera":
            from skimage import data

            grey = data.camera()
            image = np.stack([grey] * 3, axis=-1)
        elif name == "grace_hopper":
            import matplotlib
            from PIL import Image

            path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
            with Image.open(path) as im:
                image = np.asarray(im.convert("RGB"))
        else:
            raise KeyError(f"unknown photo {name!r}; known: {', '.join(NAMES)}")
        _cache[name] = np.ascontiguousarray(image, dtype=np.uint8)
    return _cache[name].copy()


def face_box(name: str) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the face in `photo(name)`, as the detector reports it."""
    return _FACES[name]


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    interp = cv2.INTER_AREA if width < image.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


def room(size: tuple[int, int] = (640, 480), seed: int = 0) -> np.ndarray:
    """An empty room seen by a webcam: wall, floor, a door, a window, a shelf, mild noise."""
    import cv2

    width, height = size
    rng = np.random.default_rng(seed)
    s = width / 640
    wall = np.array([200, 190, 170]) + rng.integers(-25, 25, 3)
    img = np.zeros((height, width, 3), np.float32)
    shade = np.linspace(1.05, 0.85, width)[None, :, None]
    img[:] = wall * shade
    floor_y = int(height * rng.uniform(0.72, 0.8))
    img[floor_y:] = np.array([120, 95, 70]) + rng.integers(-15, 15, 3)
    # a door
    dx = int(width * rng.uniform(0.02, 0.12))
    cv2.rectangle(img, (dx, int(height * 0.18)), (dx + int(110 * s), floor_y), (150, 115, 80), -1)
    cv2.circle(img, (dx + int(95 * s), int(height * 0.5)), max(1, int(4 * s)), (210, 190, 90), -1)
    # a window with a bright sky
    wx = int(width * rng.uniform(0.62, 0.72))
    wy = int(height * 0.12)
    cv2.rectangle(img, (wx, wy), (wx + int(150 * s), wy + int(120 * s)), (235, 240, 250), -1)
    cv2.rectangle(img, (wx, wy), (wx + int(150 * s), wy + int(120 * s)), (90, 80, 70), max(1, int(5 * s)))
    cv2.line(img, (wx + int(75 * s), wy), (wx + int(75 * s), wy + int(120 * s)), (90, 80, 70), max(1, int(4 * s)))
    # a shelf with books
    sx, sy = int(width * 0.3), int(height * 0.25)
    cv2.rectangle(img, (sx, sy), (sx + int(200 * s), sy + int(8 * s)), (110, 80, 55), -1)
    x = sx + int(5 * s)
    while x < sx + int(190 * s):
        bw = int(rng.integers(8, 18) * s) or 1
        bh = int(rng.integers(25, 45) * s) or 1
        colour = tuple(int(c) for c in rng.integers(40, 200, 3))
        cv2.rectangle(img, (x, sy - bh), (x + bw, sy), colour, -1)
        x += bw + max(1, int(2 * s))
    img = cv2.GaussianBlur(img, (0, 0), 1.2 * s + 0.1)
    img += rng.normal(0, 3.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _head_and_shoulders(name: str, face_height: int) -> np.ndarray:
    x0, y0, x1, y1 = _CROPS[name]
    crop = photo(name)[y0:y1, x0:x1]
    scale = face_height / _FACES[name][3]
    return _resize(crop, max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))


def _paste(dst: np.ndarray, src: np.ndarray, cx: int, bottom: int) -> None:
    """Paste `src` with feathered edges, centred at cx, its bottom at `bottom` (clipped)."""
    import cv2

    h, w = src.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    pad = max(2, min(h, w) // 12)
    alpha[pad:h, pad:w - pad] = 1.0
    alpha = cv2.GaussianBlur(alpha, (0, 0), pad / 2)[..., None]
    x, y = cx - w // 2, bottom - h
    H, W = dst.shape[:2]
    sx0, sy0 = max(0, -x), max(0, -y)
    dx0, dy0 = max(0, x), max(0, y)
    dx1, dy1 = min(W, x + w), min(H, y + h)
    if dx1 <= dx0 or dy1 <= dy0:
        return
    region = dst[dy0:dy1, dx0:dx1].astype(np.float32)
    part = src[sy0:sy0 + (dy1 - dy0), sx0:sx0 + (dx1 - dx0)].astype(np.float32)
    a = alpha[sy0:sy0 + (dy1 - dy0), sx0:sx0 + (dx1 - dx0)]
    dst[dy0:dy1, dx0:dx1] = np.clip(part * a + region * (1 - a), 0, 255).astype(np.uint8)


def scene(face: str | None, size: tuple[int, int] = (640, 480), seed: int = 0,
          face_height: int | None = None) -> np.ndarray:
    """A webcam frame: the room, with `face`'s head-and-shoulders in front (None: empty room).

    `face_height` is the face box height in pixels (default: a quarter of the frame height,
    about a learner at arm's length from a laptop camera).
    """
    width, height = size
    img = room(size, seed)
    if face is None:
        return img
    rng = np.random.default_rng(seed + 1)
    fh = face_height or max(8, round(height * 0.25 * rng.uniform(0.92, 1.08)))
    person = _head_and_shoulders(face, fh)
    cx = round(width / 2 + rng.uniform(-0.06, 0.06) * width)
    _paste(img, person, cx, height + round(0.05 * person.shape[0]))
    return img


def two_people(size: tuple[int, int] = (640, 480), seed: int = 0,
               names: Sequence[str] = ("astronaut", "grace_hopper")) -> np.ndarray:
    """Two people side by side in the room (somebody is helping the learner)."""
    width, height = size
    img = room(size, seed)
    fh = round(height * 0.2)
    for i, name in enumerate(names):
        person = _head_and_shoulders(name, fh)
        _paste(img, person, round(width * (0.28 + 0.44 * i)), height)
    return img


def write_y4m(path: str | Path, frames: Iterable[np.ndarray], fps: int = 15) -> Path:
    """Write RGB frames as a raw YUV4MPEG2 (I420, C420jpeg) file for Chromium's fake camera.

    All frames must have the size of the first; width and height must be even.
    """
    import cv2

    path = Path(path)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError("no frames")
    height, width = first.shape[:2]
    if width % 2 or height % 2:
        raise ValueError(f"y4m 4:2:0 needs even sizes, got {width}x{height}")
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for frame in _chain(first, it):
            if frame.shape[:2] != (height, width):
                raise ValueError(f"frame of {frame.shape[1]}x{frame.shape[0]} in a {width}x{height} stream")
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def _chain(first, rest):
    yield first
    yield from rest


# --- synthetic liveness actions ----------------------------------------------------------

def _locate(face_rgb: np.ndarray, box: tuple[int, int, int, int] | None):
    if box is not None:
        return box
    from .vision import FaceDetector

    found = FaceDetector().detect(face_rgb)
    if not found:
        raise ValueError("no face found to act on")
    b = found[0].box
    return b.x, b.y, b.w, b.h


def turn(face_rgb: np.ndarray, degrees: float, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Fake a head turn by `degrees` (+ = the person's own left, liveness.py's convention).

    The head is modelled as a vertical cylinder around the face; the image of the head is
    re-projected as the cylinder rotates (orthographic). A flat perspective warp of the
    whole photo does not work: the landmarker reads it as a few degrees at most.
    """
    import cv2

    x, y, w, h = _locate(face_rgb, box)
    img = face_rgb.astype(np.float32)
    H, W = img.shape[:2]
    cx = x + w / 2.0
    radius = 0.62 * w
    theta = math.radians(degrees)
    xs = np.arange(W, dtype=np.float32)
    u = (xs - cx) / radius
    inside = np.abs(u) < 1.0
    phi = np.arcsin(np.clip(u, -1.0, 1.0)) - theta
    phi = np.clip(phi, -math.pi / 2, math.pi / 2)   # hidden side: stretch the edge
    src_x = np.where(inside, cx + radius * np.sin(phi), xs).astype(np.float32)
    map_x = np.repeat(src_x[None, :], H, axis=0)
    map_y = np.repeat(np.arange(H, dtype=np.float32)[:, None], W, axis=1)
    warped = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # blend: full warp on the head (rows from above the forehead to the chin), fading out
    mask = np.zeros((H, W), np.float32)
    top, bottom = int(y - 0.45 * h), int(y + 1.15 * h)
    cv2.ellipse(mask, (int(cx), (top + bottom) // 2), (int(radius), (bottom - top) // 2), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, w / 12))[..., None]
    return np.clip(warped * mask + img * (1 - mask), 0, 255).astype(np.uint8)


# MediaPipe face mesh eye contours (the person's right eye, then left eye).
_EYES = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
)


def blink(face_rgb: np.ndarray) -> np.ndarray:
    """Fake closed eyes: each eye (found by the landmarker) painted over with eyelid skin
    sampled just below the eye, with a dark lash line along the lower lid."""
    import cv2

    from .vision import FaceLandmarks

    H, W = face_rgb.shape[:2]
    landmarker = FaceLandmarks(num_faces=1)
    try:
        result = landmarker.raw(face_rgb)
    finally:
        landmarker.close()
    if not result.face_landmarks:
        raise ValueError("no face landmarks found to close the eyes of")
    points = result.face_landmarks[0]
    out = face_rgb.copy()
    for eye in _EYES:
        poly = np.array([[points[i].x * W, points[i].y * H] for i in eye], np.float32)
        centre = poly.mean(axis=0)
        eye_w = float(np.ptp(poly[:, 0]))
        grown = (centre + (poly - centre) * np.array([1.25, 1.9], np.float32)).astype(np.int32)
        # skin colour: a patch under the eye
        sx, sy = int(centre[0]), int(centre[1] + 0.45 * eye_w)
        r = max(1, int(0.12 * eye_w))
        patch = face_rgb[max(0, sy - r):sy + r + 1, max(0, sx - 2 * r):sx + 2 * r + 1].reshape(-1, 3)
        skin = np.median(patch, axis=0) * 0.92 if patch.size else np.array([180, 140, 120])
        mask = np.zeros((H, W), np.uint8)
        cv2.fillPoly(mask, [grown], 255)
        soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(1.0, eye_w / 14))[..., None]
        out = np.clip(out * (1 - soft) + skin * soft, 0, 255).astype(np.uint8)
        # the lash line: the lower half of the contour, a bit below the eye's middle
        lower = poly[poly[:, 1] >= centre[1] - 1]
        lower = lower[np.argsort(lower[:, 0])]
        lower[:, 1] = lower[:, 1] * 0.5 + centre[1] * 0.5
        cv2.polylines(out, [lower.astype(np.int32)], False, (45, 30, 25), max(1, int(eye_w / 12)), cv2.LINE_AA)
    return out
