"""Personal data at rest: the national ID number and the phone number.

* Encrypted with the platform's Fernet keys (webapp.core.face_crypto: FACE_DATA_KEYS, the first
  encrypts, all decrypt, so keys rotate the same way as for face data).
* The ID number also gets a keyed hash, `User.national_id_hmac` (HMAC-SHA256, hex), so an import
  finds a person already on the platform without decrypting anything, and the unique index on it
  refuses a second account for one person. Its key, NATIONAL_ID_HMAC_KEY, is separate from the
  Fernet keys on purpose: rotating those must not change the hashes. Like the face key it comes
  from the environment, else it is generated once (32 random bytes) into
  instance/national_id_hmac_key, mode 600, written to a temporary file and linked into place so
  two processes starting together cannot end up with different keys. Every process must see the
  same key (the same INSTANCE_DIR, or the variable); changing it makes existing hashes useless
  for finding duplicates, so it is never rotated without recomputing them.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from flask import current_app

from webapp.core.face_crypto import decrypt_blob, encrypt_blob

KEY_FILE = "national_id_hmac_key"


def load_hmac_key(instance_dir: str, configured: str) -> bytes:
    """The configured key (any string of at least 32 characters), else the instance file's."""
    if configured.strip():
        if len(configured.strip()) < 32:
            raise ValueError("NATIONAL_ID_HMAC_KEY must have at least 32 characters")
        return configured.strip().encode()
    path = Path(instance_dir) / KEY_FILE
    if not path.exists():
        temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)          # atomic; fails if another process won the race
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise ValueError(f"{path} holds no usable key")
    return key.encode()


def _key() -> bytes:
    key = current_app.extensions.get("national_id_hmac_key")
    if key is None:
        key = current_app.extensions["national_id_hmac_key"] = load_hmac_key(
            current_app.config["INSTANCE_DIR"], current_app.config.get("NATIONAL_ID_HMAC_KEY", ""))
    return key


def national_id_hmac(number: str) -> str:
    """The keyed hash of a normalised ID number (64 hex digits)."""
    return hmac.new(_key(), number.encode("ascii"), hashlib.sha256).hexdigest()


def encrypt_text(value: str) -> bytes:
    return encrypt_blob(value.encode("utf-8"))


def decrypt_text(token: bytes | None) -> str:
    return decrypt_blob(token).decode("utf-8") if token else ""
