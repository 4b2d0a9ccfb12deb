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

`turn` fakes a head turn on a photo for the liveness code (the landmarker's 3D mesh rotated
and re-rendered); see its docstring for what the landmarker measures on it. There is no
synthetic blink: eyelids painted over the eyes (skin patch plus a lash line, several
variants) and the upper lid warped down onto the lower lid both left the landmarker's
eye openness at 0.39-0.78 (it needs <= 0.25), so a blink cannot be faked from these photos.
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

def _landmarks_px(face_rgb: np.ndarray) -> np.ndarray:
    """The first face's 478 landmarks as (x, y, z) pixels (z scaled like x, smaller = nearer)."""
    from .vision import FaceLandmarks

    H, W = face_rgb.shape[:2]
    landmarker = FaceLandmarks(num_faces=1)
    try:
        result = landmarker.raw(face_rgb)
    finally:
        landmarker.close()
    if not result.face_landmarks:
        raise ValueError("no face landmarks found")
    return np.array([[p.x * W, p.y * H, p.z * W] for p in result.face_landmarks[0]], np.float64)


def _mesh_warp(img: np.ndarray, src: np.ndarray, dst: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Piecewise-affine warp: the Delaunay triangles of `src` are moved onto `dst`, far
    triangles first (painter's order by `depth`, larger = farther); triangles that turn
    their back (flipped orientation) are dropped."""
    import cv2
    from scipy.spatial import Delaunay

    H, W = img.shape[:2]
    triangles = Delaunay(src).simplices
    out = img.copy()
    for k in np.argsort(-depth[triangles].mean(axis=1)):
        s = src[triangles[k]].astype(np.float32)
        d = dst[triangles[k]].astype(np.float32)
        cross_s = (s[1, 0] - s[0, 0]) * (s[2, 1] - s[0, 1]) - (s[2, 0] - s[0, 0]) * (s[1, 1] - s[0, 1])
        cross_d = (d[1, 0] - d[0, 0]) * (d[2, 1] - d[0, 1]) - (d[2, 0] - d[0, 0]) * (d[1, 1] - d[0, 1])
        if cross_s * cross_d <= 0:
            continue
        bx, by, bw, bh = cv2.boundingRect(d)
        x0, y0, x1, y1 = max(bx, 0), max(by, 0), min(bx + bw, W), min(by + bh, H)
        if x1 <= x0 or y1 <= y0:
            continue
        m = cv2.getAffineTransform(s, d - np.float32([x0, y0]))
        patch = cv2.warpAffine(img, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round(d - [x0, y0]).astype(np.int32), 1)
        roi = out[y0:y1, x0:x1]
        roi[mask > 0] = patch[mask > 0]
    return out


def _frame_points(width: int, height: int, centre: np.ndarray, fw: float, fh: float) -> np.ndarray:
    """Fixed anchors: a ring around the head and the image corners."""
    ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ring = np.stack([centre[0] + fw * np.cos(ang), centre[1] - 0.1 * fh + fh * np.sin(ang)], axis=1)
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], float)
    return np.vstack([ring, corners])


def turn(face_rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Fake a head turn by `degrees` (+ = the person's own left, liveness.py's convention).

    The landmarker's 3D face mesh is rotated about a vertical axis behind the face and the
    photo is re-rendered triangle by triangle (piecewise affine, painter's order), the
    background held fixed by a ring of anchors. The landmarker measures about 0.7-0.8 of the
    requested angle (astronaut: 45 -> +36, -45 -> -36; grace_hopper: 45 -> +30, -45 -> -31).
    Flat warps of the whole photo do not work: a perspective warp read as 3 degrees at most,
    a cylinder warp of the head as 20 at most before the face was lost.
    """
    return _rotate_head(face_rgb, degrees, axis="vertical")


def nod(face_rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Fake looking up (+) or down (-) by `degrees`: the same re-rendering as `turn`, the mesh
    rotated about a horizontal axis behind the face."""
    return _rotate_head(face_rgb, degrees, axis="horizontal")


# The inner lip contours of the landmarker's 478-point mesh, corner to corner.
_UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
_LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)


def open_mouth(face_rgb: np.ndarray, fraction: float = 0.2) -> np.ndarray:
    """Fake opening the mouth: the jaw (every mesh point below the upper lip's inner edge, the
    lower lip included) drops by `fraction` of the face height, fading out towards the jaw's
    hinges, and the opening between the lips is painted dark. The landmarker's `jawOpen`
    reads 0.19-0.28 (astronaut) and 0.28-0.64 (grace_hopper) at 0.15-0.2 in 320x240 scenes,
    against 0.00-0.02 for the closed mouth; yaw and pitch stay put."""
    import cv2

    H, W = face_rgb.shape[:2]
    p = _landmarks_px(face_rgb)
    (x0, y0), (x1, y1) = p[:, :2].min(axis=0), p[:, :2].max(axis=0)
    fw, fh = x1 - x0, y1 - y0
    top = p[list(_UPPER_INNER_LIP), 1].max()
    lower = np.zeros(len(p), bool)
    lower[list(_LOWER_INNER_LIP[1:-1])] = True
    side = np.abs(p[:, 0] - (x0 + x1) / 2) / (fw / 2)
    moves = (p[:, 1] > top - 0.5) | lower
    q = p.copy()
    q[:, 1] += np.where(moves, fraction * fh * np.clip(1 - side ** 2, 0.0, None), 0.0)
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2, p[:, 2].mean() + 0.55 * fw])
    fixed = _frame_points(W, H, c, 1.2 * fw, 1.2 * fh)
    depth = np.concatenate([q[:, 2], np.full(len(fixed), c[2] + fw)])
    out = _mesh_warp(face_rgb, np.vstack([p[:, :2], fixed]), np.vstack([q[:, :2], fixed]), depth)
    gap = np.vstack([q[list(_UPPER_INNER_LIP), :2], q[list(_LOWER_INNER_LIP[::-1]), :2]]).astype(np.int32)
    cv2.fillPoly(out, [gap], (35, 15, 15))
    return out


def _rotate_head(face_rgb: np.ndarray, degrees: float, axis: str) -> np.ndarray:
    H, W = face_rgb.shape[:2]
    p = _landmarks_px(face_rgb)
    (x0, y0), (x1, y1) = p[:, :2].min(axis=0), p[:, :2].max(axis=0)
    fw, fh = x1 - x0, y1 - y0
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2, p[:, 2].mean() + 0.55 * fw])
    t = math.radians(degrees)
    q = p.copy()
    if axis == "vertical":
        q[:, 0] = c[0] + (p[:, 0] - c[0]) * math.cos(t) - (p[:, 2] - c[2]) * math.sin(t)
        q[:, 2] = c[2] + (p[:, 0] - c[0]) * math.sin(t) + (p[:, 2] - c[2]) * math.cos(t)
    else:
        # image y grows downwards: looking up moves the face's front (smaller z) upwards
        q[:, 1] = c[1] + (p[:, 1] - c[1]) * math.cos(t) + (p[:, 2] - c[2]) * math.sin(t)
        q[:, 2] = c[2] - (p[:, 1] - c[1]) * math.sin(t) + (p[:, 2] - c[2]) * math.cos(t)
    fixed = _frame_points(W, H, c, fw, fh)
    src = np.vstack([p[:, :2], fixed])
    dst = np.vstack([q[:, :2], fixed])
    depth = np.concatenate([q[:, 2], np.full(len(fixed), c[2] + fw)])
    return _mesh_warp(face_rgb, src, dst, depth)
