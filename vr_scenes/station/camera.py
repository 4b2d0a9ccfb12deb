"""The face for the check-in: one frame from the station webcam through OpenCV, or a photo file
(``--face-image``), as JPEG bytes. OpenCV is imported only when a face is taken."""
from __future__ import annotations


def capture_face_jpeg(camera: int | str = 0, warmup_frames: int = 10, quality: int = 90) -> bytes:
    """One frame from the station webcam as JPEG (a few frames are dropped first: exposure settles).
    ``camera``: a device index, or a device path / video source OpenCV opens (``/dev/video2``)."""
    import cv2

    if isinstance(camera, str) and camera.isdigit():
        camera = int(camera)
    cap = cv2.VideoCapture(camera)
    try:
        if not cap.isOpened():
            raise RuntimeError(f"camera {camera} cannot be opened")
        frame = None
        for _ in range(max(1, warmup_frames)):
            ok, got = cap.read()
            if ok:
                frame = got
        if frame is None:
            raise RuntimeError(f"camera {camera} gave no frame")
    finally:
        cap.release()
    return _encode_jpeg(frame, quality)


def load_face_jpeg(path: str, quality: int = 90) -> bytes:
    """A photo file as JPEG bytes (a JPEG is sent as it is; PNG and others are re-encoded)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:3] == b"\xff\xd8\xff":
        return data
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not an image")
    return _encode_jpeg(image, quality)


def _encode_jpeg(image, quality: int) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
