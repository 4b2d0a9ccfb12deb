"""Log in and out, language choice, password change.

Login (issue 12): rate limited per address (Flask-Limiter, LOGIN_RATE_LIMIT) and throttled per
username and address (LOGIN_MAX_FAILURES failures per LOGIN_LOCKOUT_S, webapp.core.throttle), so
failures from one address never lock the user out at another. An unknown username costs the same
Argon2 work as a wrong password, and every failure (unknown user, wrong password, throttled,
inactive) gets the same answer. A login starts a new session (new CSRF token) tied to the user's
session version; logout and a password change bump it, ending every other copy of the session.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from webapp.core import db
from webapp.core.access import allow, public
from webapp.core.audit import audit
from webapp.extensions import limiter
from webapp.core.throttle import failure_throttle, opaque
from webapp.models import Role, User
from webapp.core.security import end_sessions, hash_password, password_problem, remember_session_version, \
    verify_password

bp = Blueprint("auth", __name__, template_folder="templates")


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    repeat = PasswordField(_l("Repeat new password"),
                           validators=[DataRequired(), EqualTo("new", message=_l("The passwords do not match."))])


def home_for(user: User) -> str:
    if user.role == Role.SUPERVISEE:
        return url_for("learn.home")
    if user.role == Role.ADMIN:
        return url_for("admin.units")
    return url_for("officer.dashboard")


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/")
@public
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        username = form.username.data.strip()
        user = db.session().scalar(select(User).where(User.username == username))
        throttle, key = failure_throttle(), _login_key(username)
        throttled = throttle.blocked(*key)
        # Always one Argon2 verification (an unknown user: against a dummy hash made with the same
        # parameters), whatever the outcome: the time taken tells nothing.
        password_ok = verify_password(user.password_hash if user is not None else None, form.password.data)
        # An unknown username is not written down: it is often a password typed in the wrong field.
        target = f"user:{user.id}" if user is not None else ""
        if throttled:
            audit("login_locked", target=target)
        elif user is not None and user.active and password_ok:
            throttle.clear(*key)
            _start_session(user)
            audit("login", target=target)
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
        else:
            throttle.fail(*key)
            audit("login_failed", target=target, detail="" if user is not None else "unknown username")
        # One answer for every failure: unknown user, wrong password, throttled, inactive.
        error = _("Wrong username or password.")
    elif request.method == "POST":
        error = _("Please fill in both fields.")
    status = 200 if error is None else 401
    return render_template("auth/login.html", form=form, error=error), status


def _login_key(username: str) -> tuple:
    """The login throttle's namespace, key (client address, username), limit and window."""
    cfg = current_app.config
    return ("login", (request.remote_addr or "", opaque(username.lower())),
            cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_LOCKOUT_S"])


def _password_key(user: User) -> tuple:
    cfg = current_app.config
    return ("password_change", (str(user.id),), cfg["PASSWORD_CHANGE_MAX_FAILURES"], cfg["PASSWORD_CHANGE_WINDOW_S"])


def _start_session(user: User) -> None:
    """Log `user` in on a new session: nothing of the anonymous one survives (its CSRF token
    included; Flask-WTF also caches this request's token in g), and the session carries the
    user's session version."""
    session.clear()
    g.pop("csrf_token", None)
    login_user(user)
    remember_session_version(user)


@bp.route("/logout", methods=["POST"])
@allow(Role.ADMIN, Role.OFFICER, Role.SUPERVISEE)
def logout():
    user = current_user._get_current_object()
    audit("logout", target=f"user:{user.id}", commit=False)
    end_sessions(user)        # copies of this session's cookie end too
    db.session().commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>", methods=["POST"])
@public
def set_language(code: str):
    if code not in current_app.config["LANGUAGES"]:
        code = "zh_Hans_CN"
    response = redirect(_safe_next(request.form.get("next")) or url_for("auth.index"))
    response.set_cookie("lang", code, max_age=365 * 86400, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True)
    if current_user.is_authenticated:
        current_user.locale = code
        db.session().commit()
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@allow(Role.ADMIN, Role.OFFICER, Role.SUPERVISEE)
def change_password():
    form = PasswordForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        throttle, key = failure_throttle(), _password_key(user)
        if throttle.blocked(*key):
            # Someone at an unlocked screen guessing the password: refused until the window passes.
            audit("password_change_throttled", target=f"user:{user.id}")
            form.current.errors.append(_("Too many wrong current passwords. Please wait and try again."))
            response = current_app.make_response((render_template("auth/password.html", form=form), 429))
            response.headers["Retry-After"] = str(throttle.retry_after(*key))
            return response
        problem = password_problem(form.new.data)
        if not verify_password(user.password_hash, form.current.data):
            throttle.fail(*key)
            audit("password_change_failed", target=f"user:{user.id}")
            form.current.errors.append(_("The current password is wrong."))
        elif problem:
            form.new.errors.append(_(problem))
        else:
            throttle.clear(*key)
            user.password_hash = hash_password(form.new.data)
            end_sessions(user, keep_this=True)   # every other session ends; this one carries on
            db.session().commit()
            audit("password_changed", target=f"user:{user.id}")
            flash(_("Password changed."), "success")
            return redirect(home_for(user))
    return render_template("auth/password.html", form=form), (400 if form.errors else 200)
