"""Log in and out, language choice, password change. Login is rate limited per
address (Flask-Limiter) and locks an account after repeated failures."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
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
from webapp.models import Role, User, utcnow
from webapp.core.security import hash_password, password_problem, verify_password

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
        session = db.session()
        user = session.scalar(select(User).where(User.username == form.username.data.strip()))
        now = utcnow()
        if user is not None and user.locked_until and user.locked_until > now:
            verify_password(None, form.password.data)  # same cost as a real check
            error = _("This account is locked after repeated failed logins. Try again later.")
            audit("login_locked", target=f"user:{user.id}")
        elif user is not None and user.active and verify_password(user.password_hash, form.password.data):
            user.failed_logins = 0
            user.locked_until = None
            session.commit()
            login_user(user)
            audit("login", target=f"user:{user.id}")
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
        else:
            error = _("Wrong username or password.")
            if user is not None:
                user.failed_logins = (user.failed_logins or 0) + 1
                if user.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"]:
                    user.locked_until = now + timedelta(seconds=current_app.config["LOGIN_LOCKOUT_S"])
                    user.failed_logins = 0
                    audit("account_locked", target=f"user:{user.id}", commit=False)
                session.commit()
    elif request.method == "POST":
        error = _("Please fill in both fields.")
    status = 200 if error is None else 401
    return render_template("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
@allow(Role.ADMIN, Role.OFFICER, Role.SUPERVISEE)
def logout():
    audit("logout", target=f"user:{current_user.id}")
    logout_user()
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
    if form.validate_on_submit():
        problem = password_problem(form.new.data)
        if not verify_password(current_user.password_hash, form.current.data):
            form.current.errors.append(_("The current password is wrong."))
        elif problem:
            form.new.errors.append(_(problem))
        else:
            current_user.password_hash = hash_password(form.new.data)
            db.session().commit()
            audit("password_changed", target=f"user:{current_user.id}")
            flash(_("Password changed."), "success")
            return redirect(home_for(current_user))
    return render_template("auth/password.html", form=form), (400 if form.errors else 200)
