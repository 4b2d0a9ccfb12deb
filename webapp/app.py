"""Application factory."""
from __future__ import annotations

import logging
import math
import os

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.core import db
from webapp.core.access import json_error, wants_json
from webapp.core.inputs import BoundedIntConverter, BoundedJSONProvider, BoundedPacket, SocketJSON, too_deep
from webapp.core.security import session_is_current
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


# JSON bodies up to this size are checked for nesting before any view (larger ones, e.g. a VR
# check-in burst, are checked when the view parses them: BoundedJSONProvider).
JSON_SCAN_BYTES = 1024 * 1024
# Responses that may be cached (no personal data): static assets and course media.
CACHEABLE_ENDPOINTS = {"static", "media.course_file"}

# Face photos: up to 5 photos of 5 MB each, plus form overhead; a people-import file (IMPORT_MAX_BYTES).
SMALL_UPLOAD_ENDPOINTS = {"proctor.enrol_upload", "proctor.enrol_capture", "people.import_page"}
SMALL_UPLOAD_BYTES = 26 * 1024 * 1024


def _check_conference_config(cfg) -> None:
    """Wrong media settings fail at start-up with a clear message, not at the first conference."""
    from webapp.conferences.live import backend_options, media_backend
    media_backend(cfg["CONFERENCE_MEDIA_BACKEND"])
    backend_options(cfg)
    if cfg["CONFERENCE_RELAY_TRANSPORT"] not in ("inprocess", "webrtc"):
        raise ValueError(f"CONFERENCE_RELAY_TRANSPORT={cfg['CONFERENCE_RELAY_TRANSPORT']!r}: use inprocess or webrtc")
    if cfg["ROLLCALL_PARALLEL"] < 1 or cfg["ROLLCALL_WORKERS"] < 1 or cfg["ROLLCALL_ANSWER_S"] <= 0:
        raise ValueError("ROLLCALL_PARALLEL and ROLLCALL_WORKERS must be at least 1, ROLLCALL_ANSWER_S positive")


def _check_limits_config(cfg) -> None:
    """A heartbeat limit that a normal player would hit fails at start-up, not in a learner's sitting:
    the player beats every HEARTBEAT_INTERVAL_S, plus once per play/pause/seek."""
    periodic = math.ceil(10.0 / cfg["HEARTBEAT_INTERVAL_S"])
    if cfg["HEARTBEAT_MAX_PER_10S"] < 2 * periodic:
        raise ValueError(f"HEARTBEAT_MAX_PER_10S={cfg['HEARTBEAT_MAX_PER_10S']} is below twice the heartbeats a "
                         f"player sends in 10 s ({periodic} at HEARTBEAT_INTERVAL_S={cfg['HEARTBEAT_INTERVAL_S']:g})")
    if cfg["HEARTBEAT_REJECTIONS_PER_MIN"] < 1 or cfg["JSON_MAX_DEPTH"] < 4 or cfg["SOCKETIO_MAX_BYTES"] < 32 * 1024:
        raise ValueError("HEARTBEAT_REJECTIONS_PER_MIN must be at least 1, JSON_MAX_DEPTH at least 4 and "
                         "SOCKETIO_MAX_BYTES at least 32768")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=None, static_folder="static", template_folder="templates")
    # Before any route is added: an <int:> above MAX_ID is no id (404), not a database error.
    app.url_map.converters["int"] = BoundedIntConverter
    app.config.update(from_env(**(config or {})))
    app.config["MAX_CONTENT_LENGTH"] = app.config["UPLOAD_MAX_BYTES"]
    _check_conference_config(app.config)
    _check_limits_config(app.config)
    from webapp.people import check_retention_config
    check_retention_config(app.config)
    app.json = BoundedJSONProvider(app)
    app.json.max_depth = SocketJSON.max_depth = app.config["JSON_MAX_DEPTH"]

    db.init_app(app)

    @app.before_request
    def _small_uploads_where_expected():
        # Registered before CSRFProtect, which reads the form: a route that takes photos refuses
        # a huge body (413) before anything is parsed or spooled, not after.
        if request.endpoint in SMALL_UPLOAD_ENDPOINTS:
            request.max_content_length = SMALL_UPLOAD_BYTES

    @app.before_request
    def _json_nesting():
        # Every route, whether or not its view reads the body: a JSON body nested deeper than
        # JSON_MAX_DEPTH is refused before anything parses it (Python's parser recursed to a 500).
        small = request.content_length is not None and request.content_length <= JSON_SCAN_BYTES
        if request.is_json and small and too_deep(request.get_data(cache=True), app.config["JSON_MAX_DEPTH"]):
            return json_error(400, "too_deep", _("The request body is nested too deeply."))
        return None

    @app.before_request
    def _no_nul_in_text():
        # A NUL is in no name, password or search: PostgreSQL's text columns cannot hold one (a
        # lookup raised a 500 there). Forms and query strings with one are not valid requests.
        if any("\x00" in value for value in request.args.values()) or (
                request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
                and any("\x00" in value for value in request.form.values())):
            message = _(ERROR_MESSAGES[400])
            if wants_json():
                return json_error(400, "bad_field", message)
            return render_template("error.html", status=400, message=message), 400
        return None

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
    # Packets are parsed with the nesting limit (SocketJSON) and at most SOCKETIO_MAX_BYTES each.
    # With REDIS_URL (production) events go through Redis, so an emit from any web process, the
    # media process or the scheduler reaches a browser connected to any web process.
    socketio.init_app(app, manage_session=False, async_handlers=False, serializer=BoundedPacket,
                      max_http_buffer_size=app.config["SOCKETIO_MAX_BYTES"],
                      message_queue=app.config["REDIS_URL"] or None, channel=app.config["SOCKETIO_CHANNEL"])
    study_sockets.register_raw_handlers(app)

    @login_manager.user_loader
    def _load_user(user_id: str):
        try:
            user = db.session().get(User, int(user_id))
        except ValueError:
            return None
        # A session from before the user's logout, password change or an admin's reset (its
        # version differs) is anonymous: pages redirect to the login, the API answers 401 and a
        # Socket.IO connection is refused (webapp.core.sockets reads the same cookie).
        return user if user is not None and user.active and session_is_current(user) else None

    from webapp.org.auth_views import bp as auth_bp
    from webapp.study.views import bp as learn_bp
    from webapp.courses.media_views import bp as media_bp
    from webapp.supervision.views import bp as officer_bp
    from webapp.compliance.views import bp as compliance_bp
    from webapp.compliance.report_views import bp as reports_bp
    from webapp.org.admin_views import bp as admin_bp
    from webapp.proctor.views import bp as proctor_bp
    from webapp.proctor.standing_views import bp as proctor_standing_bp
    from webapp.conferences.views import bp as conferences_bp
    from webapp.conferences.attendance_views import bp as attendance_bp
    from webapp.vr.views import bp as vr_bp
    from webapp.vr.api import bp as vr_api_bp
    from webapp.core.openapi import bp as openapi_bp
    from webapp.people.import_views import bp as people_bp
    from webapp.people.lifecycle_views import bp as lifecycle_bp
    from webapp.people.audit_views import bp as audit_bp
    from webapp.attention.views import bp as attention_bp
    from webapp.cli import register as register_cli
    for bp in (auth_bp, learn_bp, media_bp, officer_bp, admin_bp, proctor_bp, proctor_standing_bp, conferences_bp,
               attendance_bp, vr_bp, vr_api_bp, openapi_bp, compliance_bp,
               people_bp, lifecycle_bp, audit_bp, attention_bp, reports_bp):
        app.register_blueprint(bp)
    register_cli(app)

    _register_error_handlers(app)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # connect-src 'self' covers the page's own ws:/wss: origin (CSP Level 3): the Socket.IO
        # connection, and nothing else.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; media-src 'self' blob:; img-src 'self' data: blob:; "
            "worker-src 'self' blob:; connect-src 'self'; style-src 'self'; "
            "script-src 'self'; object-src 'none'; frame-ancestors 'none'")
        # Pages and API answers carry personal data: no browser or proxy keeps them. Static assets
        # and course media (their own caching rules) may be cached.
        endpoint = request.endpoint or ""
        if endpoint not in CACHEABLE_ENDPOINTS and not endpoint.endswith(".static"):
            response.headers["Cache-Control"] = "no-store"
        if app.config["HSTS_SECONDS"] > 0 and _is_https():
            response.headers["Strict-Transport-Security"] = f"max-age={app.config['HSTS_SECONDS']}"
        if app.config["EXPOSE_PROCESS_ID"]:
            # Diagnostics: which web process answered (its pid, as the portal_process socket event)
            response.headers["X-Portal-Process"] = str(os.getpid())
        return response

    @app.context_processor
    def _template_globals():
        from flask_babel import get_locale
        return {"current_locale": str(get_locale()), "languages": app.config["LANGUAGES"]}

    # Behind PROXY_FIX_HOPS proxies (nginx: 1), the client's address and scheme come from the
    # X-Forwarded-For/-Proto entries those proxies appended: rate limits, login throttles and the
    # audit trail see the person, not the proxy. 0: the headers are ignored (a client could write
    # them). Wraps Socket.IO's middleware too (added by socketio.init_app above).
    hops = app.config["PROXY_FIX_HOPS"]
    if hops < 0:
        raise ValueError(f"PROXY_FIX_HOPS={hops}: use 0 (no proxy) or the number of proxies in front")
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)

    return app


def _is_https() -> bool:
    """This request came over HTTPS, directly or through the proxy in front (nginx sets
    X-Forwarded-Proto; a client sending it itself over plain http gains nothing: browsers ignore
    Strict-Transport-Security on http)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.is_secure or forwarded == "https"


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

    @app.errorhandler(OverflowError)
    def _number_out_of_range(exc: OverflowError):
        # The last line of defence for a number too large for the database or a float that some
        # view did not bound (webapp.core.inputs): the request was not valid, not a server error.
        log.warning("number out of range on %s: %s", request.path, exc)
        db.session().rollback()
        message = _(ERROR_MESSAGES[400])
        if wants_json():
            return json_error(400, "out_of_range", message)
        return render_template("error.html", status=400, message=message), 400

    from sqlalchemy.exc import OperationalError

    from webapp.media.rpc import MediaError

    def _unavailable(code: str, message: str):
        """503 with Retry-After: a piece behind the portal is restarting; the client retries."""
        try:
            db.session().rollback()
        except Exception:   # noqa: BLE001 - the connection is gone; the pool replaces it
            pass
        if wants_json():
            response = json_error(503, code, message)
        else:
            response = app.make_response((render_template("error.html", status=503, message=message), 503))
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(MediaError)
    def _media_unavailable(exc: MediaError):
        # Production: the media process is restarting or overloaded. Nothing was lost (what the
        # view wrote is committed before it calls the media process).
        log.warning("media process call failed on %s: %s", request.path, exc)
        return _unavailable("media_unavailable", _("The video service is restarting. Please wait a moment and try again."))

    @app.errorhandler(OperationalError)
    def _database_unavailable(exc: OperationalError):
        # The database is restarting or unreachable: the request was not carried out (its
        # transaction rolled back). Not a 500: nothing is wrong with the request.
        log.warning("database unavailable on %s: %s", request.path, str(exc).splitlines()[0][:200])
        return _unavailable("unavailable", _("The service is briefly unavailable. Please try again in a moment."))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s", request.path)
        db.session().rollback()
        message = _(ERROR_MESSAGES[500])
        if wants_json():
            return json_error(500, "internal", message)
        return render_template("error.html", status=500, message=message), 500
