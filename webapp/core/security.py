"""Password hashing (Argon2id via argon2-cffi, the OWASP-recommended default), and the session
version that ends every session of a user at once (logout, password change, an admin's reset)."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import session

from webapp.core import db

_hasher = PasswordHasher()
# Verified against when the username is unknown (computed once, with the same parameters as every
# stored hash), so an unknown username costs the same Argon2 work as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
# The Flask session key holding the user's session_version at login (issue 12).
SESSION_VERSION_KEY = "_session_version"

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """A reason the password is too weak, or None. Messages are msgids for Babel."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return "Password must be at least 10 characters."
    kinds = sum([any(c.islower() for c in password), any(c.isupper() for c in password),
                 any(c.isdigit() for c in password), any(not c.isalnum() for c in password)])
    if kinds < 3:
        return "Password must mix at least three of: lower case, upper case, digits, symbols."
    return None


def session_is_current(user) -> bool:
    """The request's session was issued under the user's present session version (the user
    loader's check: a cookie from before a logout or a password change is anonymous)."""
    return session.get(SESSION_VERSION_KEY) == user.session_version


def remember_session_version(user) -> None:
    """Tie this session to the user's present version (at login, and after ending the others)."""
    session[SESSION_VERSION_KEY] = user.session_version


def end_sessions(user, keep_this: bool = False) -> None:
    """Every session of `user` ends at its next request or Socket.IO connection (copies of the cookie
    included); with `keep_this`, the request's own session carries on under the new version.
    Increments in SQL (two at once both count); the caller commits."""
    user.session_version = type(user).session_version + 1
    db.session().flush()
    if keep_this:
        remember_session_version(user)     # reads the new value back
