"""Encryption at rest for face data (reference embeddings, evidence snapshots).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) because it is authenticated, versioned
and supports key rotation through MultiFernet: FACE_DATA_KEYS holds one or more comma-separated
Fernet keys, the first encrypts, all decrypt. Without it a key is generated once into
instance/face_key (mode 600). Face data never leaves the server in any form.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

EMBEDDING_DTYPE = np.float32
EMBEDDING_SIZE = 128


def load_keys(instance_dir: str, configured: str) -> str:
    if configured.strip():
        return configured
    key_file = Path(instance_dir) / "face_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key())
    return key_file.read_text().strip()


def _fernet() -> MultiFernet:
    cached = current_app.extensions.get("face_fernet")
    if cached is None:
        keys = [k.strip() for k in current_app.config["FACE_DATA_KEYS"].split(",") if k.strip()]
        cached = current_app.extensions["face_fernet"] = MultiFernet([Fernet(k) for k in keys])
    return cached


def encrypt_embedding(embedding: np.ndarray) -> bytes:
    vector = np.asarray(embedding, dtype=EMBEDDING_DTYPE).reshape(-1)
    if vector.size != EMBEDDING_SIZE or not np.all(np.isfinite(vector)):
        raise ValueError("an embedding is 128 finite numbers")
    return _fernet().encrypt(vector.tobytes())


def decrypt_embedding(token: bytes) -> np.ndarray:
    return np.frombuffer(_fernet().decrypt(token), dtype=EMBEDDING_DTYPE).copy()


def encrypt_blob(data: bytes) -> bytes:
    return _fernet().encrypt(data)


def decrypt_blob(token: bytes) -> bytes:
    return _fernet().decrypt(token)


def jpeg_bytes(rgb: np.ndarray, max_side: int = 240, quality: int = 70) -> tuple[bytes, int, int]:
    """A small JPEG of a frame: evidence keeps only what a reviewer needs to see."""
    from PIL import Image

    image = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue(), image.width, image.height


__all__ = ["InvalidToken", "encrypt_embedding", "decrypt_embedding", "encrypt_blob", "decrypt_blob", "jpeg_bytes",
           "load_keys"]
