"""Application factory."""
from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from webapp.core import db
from webapp.core.access import json_error, wants_json
from webapp.config import ROOT, from_env
from webapp.extensions import babel, csrf, limiter, login_manager, socketio
from webapp.models import User

log = logging.getLogger(__name__)

ERROR_MESSAGES = {
    400: "The request was not valid.",
    401: "Please log in first.",
    403: "You do not have permission to do this.",
    404: "Not found, or outside your jurisdiction.",
    405: "This method is not allowed here.",
    413: "The upload is too large.",
    416: "The requested range is not satisfiable.",
    429: "Too many attempts. Please wait and try again.",
    500: "Internal error. Nothing you submitted was lost; please try again.",
}


# Face photos: up to 5 photos of 5 MB each, plus form overhead.
SMALL_UPLOAD_ENDPOINTS = {"proctor.enrol_upload", "proctor.enrol_capture"}
SMALL_UPLOAD_BYTES = 26 * 1024 * 1024


def _check_conference_config(cfg) -> None:
    """Wrong media settings fail at start-up with a clear message, not at the first conference."""
    from webapp.conferences.live import media_backend
    media_backend(cfg["CONFERENCE_MEDIA_BACKEND"])
    if cfg["CONFERENCE_RELAY_TRANSPORT"] not in ("inprocess", "webrtc"):
        raise ValueError(f"CONFERENCE_RELAY_TRANSPORT={cfg['CONFERENCE_RELAY_TRANSPORT']!r}: use inprocess or webrtc")
    if cfg["ROLLCALL_PARALLEL"] < 1 or cfg["ROLLCALL_WORKERS"] < 1 or cfg["ROLLCALL_ANSWER_S"] <= 0:
        raise ValueError("ROLLCALL_PARALLEL and ROLLCALL_WORKERS must be at least 1, ROLLCALL_ANSWER_S positive")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=None, static_folder="static", template_folder="templates")
    app.config.update(from_env(**(config or {})))
    app.config["MAX_CONTENT_LENGTH"] = app.config["UPLOAD_MAX_BYTES"]
    _check_conference_config(app.config)

    db.init_app(app)

    @app.before_request
    def _small_uploads_where_expected():
        # Registered before CSRFProtect, which reads the form: a route that takes photos refuses
        # a huge body (413) before anything is parsed or spooled, not after.
        if request.endpoint in SMALL_UPLOAD_ENDPOINTS:
            request.max_content_length = SMALL_UPLOAD_BYTES

    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "strong"
    babel.init_app(app, locale_selector=_select_locale,
                   default_translation_directories=str(ROOT / "webapp" / "translations"))
    limiter.init_app(app)
    # Handlers must be declared before init_app: Flask-SocketIO keeps them for every later app.
    from webapp.core import sockets  # noqa: F401  (the connection guard)
    from webapp.conferences import sockets as _conference_sockets  # noqa: F401
    from webapp.proctor import sockets as _proctor_sockets  # noqa: F401
    from webapp.study import sockets as study_sockets
    # async_handlers=False: a client's events run in order on its own connection thread
    # (no thread per event; a learner's heartbeats can never overtake each other).
    # Default CORS policy: only pages of this origin may open a socket (no cross-site hijacking).
    socketio.init_app(app, manage_session=False, async_handlers=False)
    study_sockets.register_raw_handlers(app)

    @login_manager.user_loader
    def _load_user(user_id: str):
        try:
            user = db.session().get(User, int(user_id))
        except ValueError:
            return None
        return user if user is not None and user.active else None

    from webapp.org.auth_views import bp as auth_bp
    from webapp.study.views import bp as learn_bp
    from webapp.courses.media_views import bp as media_bp
    from webapp.supervision.views import bp as officer_bp
    from webapp.org.admin_views import bp as admin_bp
    from webapp.proctor.views import bp as proctor_bp
    from webapp.conferences.views import bp as conferences_bp
    from webapp.conferences.attendance_views import bp as attendance_bp
    from webapp.vr.views import bp as vr_bp
    from webapp.vr.api import bp as vr_api_bp
    from webapp.cli import register as register_cli
    for bp in (auth_bp, learn_bp, media_bp, officer_bp, admin_bp, proctor_bp, conferences_bp, attendance_bp,
               vr_bp, vr_api_bp):
        app.register_blueprint(bp)
    register_cli(app)

    _register_error_handlers(app)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; media-src 'self' blob:; img-src 'self' data: blob:; "
            "worker-src 'self' blob:; connect-src 'self' ws: wss:; style-src 'self'; "
            "script-src 'self'; object-src 'none'; frame-ancestors 'none'")
        return response

    @app.context_processor
    def _template_globals():
        from flask_babel import get_locale
        return {"current_locale": str(get_locale()), "languages": app.config["LANGUAGES"]}

    return app


def _select_locale() -> str:
    supported = ["zh_Hans_CN", "en"]
    chosen = request.cookies.get("lang")
    if current_user and current_user.is_authenticated and current_user.locale:
        chosen = current_user.locale
    return chosen if chosen in supported else "zh_Hans_CN"


def _register_error_handlers(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        message = _("The form expired or was not sent from this site. Please reload and try again.")
        if wants_json():
            return json_error(400, "csrf", message)
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        message = _(ERROR_MESSAGES.get(status, "The request was not valid."))
        if wants_json():
            response = json_error(status, exc.name.lower().replace(" ", "_"), message)
        else:
            response = app.make_response((render_template("error.html", status=status, message=message), status))
        for header in ("Content-Range", "Retry-After", "Allow"):
            if header in exc.get_response().headers:
                response.headers[header] = exc.get_response().headers[header]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        db.session().rollback()
        message = _(ERROR_MESSAGES[500])
        if wants_json():
            return json_error(500, "internal", message)
        return render_template("error.html", status=500, message=message), 500
