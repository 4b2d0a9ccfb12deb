"""Settings, read from the environment (prefix-free names, documented in README)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _instance_dir() -> Path:
    return Path(os.environ.get("INSTANCE_DIR", ROOT / "instance"))


def private_dir(path: Path) -> Path:
    """Create `path` (and its parents) if missing; a folder created here is private (0700): it
    holds the secret key, the face-data key and the SQLite database."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    return path


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in ("1", "true", "yes", "on")


def from_env(**overrides) -> dict:
    instance = private_dir(Path(overrides.get("INSTANCE_DIR") or _instance_dir()))
    cfg = {
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": _secret_key(instance),
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{instance / 'platform.db'}"),
        # PostgreSQL only: connections each web process keeps, and how many more it opens under load
        "DATABASE_POOL_SIZE": int(os.environ.get("DATABASE_POOL_SIZE", 10)),
        "DATABASE_MAX_OVERFLOW": int(os.environ.get("DATABASE_MAX_OVERFLOW", 20)),
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", str(instance / "media")),
        "UPLOAD_MAX_BYTES": int(os.environ.get("UPLOAD_MAX_BYTES", 2 * 1024**3)),
        # Behind nginx (deploy/nginx.conf.template): media come from signed /smedia/ URLs that
        # nginx checks itself. Empty: the portal serves media through its own /media/ route.
        "MEDIA_URL_BASE": os.environ.get("MEDIA_URL_BASE", ""),
        "MEDIA_SIGNING_KEY": os.environ.get("MEDIA_SIGNING_KEY", ""),
        "MEDIA_URL_TTL_S": int(os.environ.get("MEDIA_URL_TTL_S", 6 * 3600)),
        # Sessions and cookies: HTTPS in production; the embedded default runs on plain http://127.0.0.1.
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", False),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": int(os.environ.get("SESSION_LIFETIME_S", 8 * 3600)),
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        # Strict-Transport-Security max-age on HTTPS responses (0: not sent). Set it once the site
        # is served over HTTPS only: browsers then refuse plain http for that long.
        "HSTS_SECONDS": int(os.environ.get("HSTS_SECONDS", 0)),
        # Request bodies and Socket.IO messages: JSON nesting depth, Socket.IO message size (bytes)
        "JSON_MAX_DEPTH": int(os.environ.get("JSON_MAX_DEPTH", 32)),
        "SOCKETIO_MAX_BYTES": int(os.environ.get("SOCKETIO_MAX_BYTES", 64 * 1024)),
        # Proxies in front that append to X-Forwarded-For / X-Forwarded-Proto (nginx: 1). 0: none is
        # trusted and the headers are ignored (a client could forge them); too many: a client can
        # choose its own address for rate limits and the audit trail.
        "PROXY_FIX_HOPS": int(os.environ.get("PROXY_FIX_HOPS", 0)),
        # Login throttling (issue 12): after N failed logins for one username from one address within
        # M seconds, that username is refused from that address (right password or not) until the
        # window passes; other addresses are not affected (no account lock anyone could trigger).
        # LOGIN_RATE_LIMIT: login attempts per address, whatever the username.
        "LOGIN_MAX_FAILURES": int(os.environ.get("LOGIN_MAX_FAILURES", 5)),
        "LOGIN_LOCKOUT_S": int(os.environ.get("LOGIN_LOCKOUT_S", 15 * 60)),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "20 per minute"),
        # Wrong current passwords on /account/password per user within the window: more are a 429.
        "PASSWORD_CHANGE_MAX_FAILURES": int(os.environ.get("PASSWORD_CHANGE_MAX_FAILURES", 5)),
        "PASSWORD_CHANGE_WINDOW_S": int(os.environ.get("PASSWORD_CHANGE_WINDOW_S", 15 * 60)),
        "RATELIMIT_ENABLED": _bool("RATELIMIT_ENABLED", True),
        # Production (README "Production mode"): with REDIS_URL set, Socket.IO's message queue and the
        # rate limiter's storage live in Redis, so several web processes act as one.
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "")
        or os.environ.get("REDIS_URL", "") or "memory://",
        # Where camera engines, check runners and live conferences run: "embedded" (this process)
        # or "remote" (the media workers, `python -m webapp.media --worker ID`, reached over Redis:
        # webapp.media.rpc, each sitting and conference on one worker: webapp.media.workers).
        "MEDIA_MODE": os.environ.get("MEDIA_MODE", "embedded"),
        "MEDIA_RPC_TIMEOUT_S": _float("MEDIA_RPC_TIMEOUT_S", 10.0),
        "MEDIA_RPC_THREADS": int(os.environ.get("MEDIA_RPC_THREADS", 32)),
        "SOCKETIO_CHANNEL": os.environ.get("SOCKETIO_CHANNEL", "portal-socketio"),
        # i18n
        "BABEL_DEFAULT_LOCALE": "zh_Hans_CN",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("TIMEZONE", "Asia/Shanghai"),
        "LANGUAGES": ["zh_Hans_CN", "en"],
        # Study rules
        "HEARTBEAT_INTERVAL_S": _float("HEARTBEAT_INTERVAL_S", 5.0),
        # Floods (issue 12): heartbeats taken per 10 s per Socket.IO connection and per learner over
        # HTTP (more: 429, nothing done); refused heartbeats stored per sitting per minute (more are
        # only counted, in one "flood" row).
        "HEARTBEAT_MAX_PER_10S": int(os.environ.get("HEARTBEAT_MAX_PER_10S", 30)),
        "HEARTBEAT_REJECTIONS_PER_MIN": int(os.environ.get("HEARTBEAT_REJECTIONS_PER_MIN", 20)),
        "LEDGER_MAX_RATE": _float("LEDGER_MAX_RATE", 2.0),
        "LEDGER_TOLERANCE_S": _float("LEDGER_TOLERANCE_S", 1.5),
        "LEDGER_MAX_GAP_S": _float("LEDGER_MAX_GAP_S", 30.0),
        "COMPLETION_SHARE": _float("COMPLETION_SHARE", 0.95),
        "MONTHLY_REQUIRED_HOURS": _float("MONTHLY_REQUIRED_HOURS", 8.0),
        "BREAKPOINT_MEAN_S": _float("BREAKPOINT_MEAN_S", 300.0),
        "BREAKPOINT_MIN_S": _float("BREAKPOINT_MIN_S", 60.0),
        "BREAKPOINT_MAX_S": _float("BREAKPOINT_MAX_S", 900.0),
        "BREAKPOINT_ANSWER_S": _float("BREAKPOINT_ANSWER_S", 60.0),
        "SCHEDULER_ENABLED": _bool("SCHEDULER_ENABLED", True),
        # Camera proctoring (issue 3). Off: studying needs no camera and only the breakpoint
        # confirmations attest presence (the ledger tests run that way).
        "PROCTORING_REQUIRED": _bool("PROCTORING_REQUIRED", True),
        "FACE_DATA_KEYS": os.environ.get("FACE_DATA_KEYS", ""),   # Fernet keys, comma-separated, first encrypts
        "EVIDENCE_RETENTION_DAYS": _float("EVIDENCE_RETENTION_DAYS", 30.0),
        # The monthly PDF report's CJK TrueType font (webapp/compliance/report_pdf.py; Debian
        # fonts-wqy-microhei, which scripts/install-system-deps.sh installs)
        "REPORT_FONT": os.environ.get("REPORT_FONT", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
        # People (issue 14, webapp.people): personal data (name, username, ID number, phone, face
        # enrolment) of people whose supervision ended is anonymised this many days after its end;
        # audit rows are kept AUDIT_RETENTION_DAYS (at least 183: six months, Cybersecurity Law Art. 21).
        # NATIONAL_ID_HMAC_KEY: the key of the ID numbers' keyed hash (empty: generated into instance/).
        # A bulk import file has at most IMPORT_MAX_ROWS rows and IMPORT_MAX_BYTES bytes.
        "PERSONAL_DATA_RETENTION_DAYS": _float("PERSONAL_DATA_RETENTION_DAYS", 1095.0),
        "AUDIT_RETENTION_DAYS": _float("AUDIT_RETENTION_DAYS", 365.0),
        "NATIONAL_ID_HMAC_KEY": os.environ.get("NATIONAL_ID_HMAC_KEY", ""),
        "IMPORT_MAX_ROWS": int(os.environ.get("IMPORT_MAX_ROWS", 500)),
        "IMPORT_MAX_BYTES": int(os.environ.get("IMPORT_MAX_BYTES", 5 * 1024 * 1024)),
        "PRESENCE_GRACE_S": _float("PRESENCE_GRACE_S", 10.0),
        "PRESENCE_ATTEST_EVERY_S": _float("PRESENCE_ATTEST_EVERY_S", 30.0),
        "IDENTITY_MEAN_S": _float("IDENTITY_MEAN_S", 180.0),
        "IDENTITY_MIN_S": _float("IDENTITY_MIN_S", 20.0),
        "IDENTITY_MAX_S": _float("IDENTITY_MAX_S", 600.0),
        "LIVENESS_SHARE": _float("LIVENESS_SHARE", 0.5),
        "LIVENESS_WINDOW_S": _float("LIVENESS_WINDOW_S", 4.0),
        "LIVENESS_ACTIONS": os.environ.get("LIVENESS_ACTIONS", "turn_left,turn_right,look_up,look_down,open_mouth"),
        "CHECK_TIMEOUT_S": _float("CHECK_TIMEOUT_S", 15.0),      # no usable frame this long: the check fails
        # Frozen and looped camera feeds (proctoring.feed) fail presence; failed checks in a row
        # back off (RECHECK_BACKOFF_S doubling, at most RECHECK_BACKOFF_MAX_S) across sittings,
        # and PROCTOR_BLOCK_AFTER of them hold the learner until an officer clears it.
        "FEED_CHECK": _bool("FEED_CHECK", True),
        "RECHECK_BACKOFF_S": _float("RECHECK_BACKOFF_S", 10.0),
        "RECHECK_BACKOFF_MAX_S": _float("RECHECK_BACKOFF_MAX_S", 300.0),
        "PROCTOR_BLOCK_AFTER": int(os.environ.get("PROCTOR_BLOCK_AFTER", 6)),
        # A held learner's requests for an officer's review (Flask-Limiter syntax, per learner)
        "PROCTOR_REVIEW_RATE_LIMIT": os.environ.get("PROCTOR_REVIEW_RATE_LIMIT", "10 per hour"),
        "IDENTITY_THRESHOLD": _float("IDENTITY_THRESHOLD", 0.0),  # 0: the calibrated default (proctoring.vision)
        "CAMERA_SAMPLE_FPS": _float("CAMERA_SAMPLE_FPS", 1.0),
        "CAMERA_BURST_FPS": _float("CAMERA_BURST_FPS", 6.0),
        # What the browser sends (proctoring.camera_rate, README "Camera frame rate"): a baseline
        # for presence, the face track and the feed check (one frame a second: the sample rate),
        # raised for a liveness challenge (the burst rate). Heights in lines; the page scales
        # its 320x240 capture down, never up.
        "CAMERA_BASE_FPS": _float("CAMERA_BASE_FPS", 1.0),
        "CAMERA_BASE_HEIGHT": int(os.environ.get("CAMERA_BASE_HEIGHT", 240)),
        "CAMERA_CHALLENGE_FPS": _float("CAMERA_CHALLENGE_FPS", 6.0),
        "CAMERA_CHALLENGE_HEIGHT": int(os.environ.get("CAMERA_CHALLENGE_HEIGHT", 240)),
        "RTC_MAX_STREAMS": int(os.environ.get("RTC_MAX_STREAMS", 400)),
        "RTC_WORKERS": int(os.environ.get("RTC_WORKERS", 2)),
        "IDENTITY_PROCESSES": int(os.environ.get("IDENTITY_PROCESSES", 1)),  # 0: embed in-process
        # JSON list of RTCIceServer dicts, e.g. [{"urls": "turn:turn.example.org:3478", "username": "u",
        # "credential": "p"}]; empty: host candidates only (same network). See README "STUN/TURN".
        "ICE_SERVERS": os.environ.get("ICE_SERVERS", "[]"),
        # coturn with `use-auth-secret` (deploy/turnserver.conf.template): the shared secret, the
        # TURN URLs given to browsers (comma-separated, e.g. "turn:turn.example.org:3478?transport=udp,
        # turns:turn.example.org:443?transport=tcp") and how long a page's credential lasts
        # (webapp/core/turn.py). Browsers get ICE_SERVERS plus these, signed per user.
        "TURN_SECRET": os.environ.get("TURN_SECRET", ""),
        "TURN_URLS": os.environ.get("TURN_URLS", ""),
        "TURN_TTL_S": int(os.environ.get("TURN_TTL_S", 3600)),
        # Production diagnostics: an X-Portal-Process header (the answering process's pid) on every
        # answer and a portal_process event on each Socket.IO connection, to see how nginx spreads
        # them (tests/integration/test_production_stack.py)
        "EXPOSE_PROCESS_ID": _bool("EXPOSE_PROCESS_ID", False),
        # Live conferences (issue 4): a called person's time to answer, people called at once,
        # whether a liveness challenge follows the identity check, and how levels' rooms relay
        # ("inprocess": packets between threads of this process; "webrtc": a real WebRTC hop).
        "ROLLCALL_ANSWER_S": _float("ROLLCALL_ANSWER_S", 30.0),
        "ROLLCALL_PARALLEL": int(os.environ.get("ROLLCALL_PARALLEL", 4)),
        "ROLLCALL_WORKERS": int(os.environ.get("ROLLCALL_WORKERS", 2)),   # analysis threads
        "ROLLCALL_LIVENESS": os.environ.get("ROLLCALL_LIVENESS", "1") not in ("0", "false", "no"),
        "CONFERENCE_RELAY_TRANSPORT": os.environ.get("CONFERENCE_RELAY_TRANSPORT", "inprocess"),
        "CONFERENCE_MEDIA_BACKEND": os.environ.get("CONFERENCE_MEDIA_BACKEND", "aiortc"),
        # CONFERENCE_MEDIA_BACKEND=janus: the Janus HTTP API (e.g. "http://127.0.0.1:8088/janus"), its
        # api_secret and the VideoRoom admin_key (deploy/janus_server.py writes and prints them);
        # JANUS_RTP_HOST: where this Janus's remote publishers receive relayed RTP (default: the URL's host)
        "JANUS_URL": os.environ.get("JANUS_URL", ""),
        "JANUS_API_SECRET": os.environ.get("JANUS_API_SECRET", ""),
        "JANUS_ADMIN_KEY": os.environ.get("JANUS_ADMIN_KEY", ""),
        "JANUS_RTP_HOST": os.environ.get("JANUS_RTP_HOST", ""),
        # VR stations (issue 5): face check-ins per station (Flask-Limiter syntax)
        "VR_CHECKIN_RATE_LIMIT": os.environ.get("VR_CHECKIN_RATE_LIMIT", "30 per minute"),
        # VR credit (issue 11, streaming.vr_credit): VR seconds credited per learner per local day
        # (TIMEZONE); sessions that ended longer ago than VR_MAX_AGE_S are refused; a verifying check-in
        # (face with liveness, or an officer's confirmation) counts for sessions starting up to
        # VR_CHECKIN_WINDOW_S after it; a station's liveness challenge must be answered within
        # VR_CHALLENGE_TTL_S, with frames captured at VR_CHALLENGE_FPS (actions and window:
        # LIVENESS_ACTIONS, LIVENESS_WINDOW_S).
        "VR_DAILY_CAP_S": _float("VR_DAILY_CAP_S", 3600.0),
        "VR_MAX_AGE_S": _float("VR_MAX_AGE_S", 86400.0),
        "VR_CHECKIN_WINDOW_S": _float("VR_CHECKIN_WINDOW_S", 1800.0),
        "VR_CHALLENGE_TTL_S": _float("VR_CHALLENGE_TTL_S", 120.0),
        "VR_CHALLENGE_FPS": _float("VR_CHALLENGE_FPS", 5.0),
        # What needs attention (issue 14, webapp.attention): behind means below the month's pace
        # by more than ATTENTION_TOLERANCE_H, or more missing than ATTENTION_MAX_HOURS_PER_DAY x
        # the days left; conferences of the next ATTENTION_CONFERENCE_DAYS. Study reminders go
        # through REMINDER_CHANNEL ("" off, "sms": the HTTP gateway SMS_GATEWAY_URL with
        # SMS_GATEWAY_KEY and SMS_SIGN), daily at REMINDER_HOUR (TIMEZONE), at most one per
        # person per REMINDER_MIN_DAYS_BETWEEN days.
        "ATTENTION_TOLERANCE_H": _float("ATTENTION_TOLERANCE_H", 1.0),
        "ATTENTION_MAX_HOURS_PER_DAY": _float("ATTENTION_MAX_HOURS_PER_DAY", 4.0),
        "ATTENTION_CONFERENCE_DAYS": int(os.environ.get("ATTENTION_CONFERENCE_DAYS", 7)),
        "REMINDER_CHANNEL": os.environ.get("REMINDER_CHANNEL", ""),
        "REMINDER_HOUR": int(os.environ.get("REMINDER_HOUR", 19)),
        "REMINDER_MIN_DAYS_BETWEEN": _float("REMINDER_MIN_DAYS_BETWEEN", 3.0),
        "SMS_GATEWAY_URL": os.environ.get("SMS_GATEWAY_URL", ""),
        "SMS_GATEWAY_KEY": os.environ.get("SMS_GATEWAY_KEY", ""),
        "SMS_SIGN": os.environ.get("SMS_SIGN", ""),
        "SMS_GATEWAY_TIMEOUT_S": _float("SMS_GATEWAY_TIMEOUT_S", 10.0),
    }
    cfg.update(overrides)
    from webapp.core.face_crypto import load_keys
    cfg["FACE_DATA_KEYS"] = load_keys(cfg["INSTANCE_DIR"], cfg["FACE_DATA_KEYS"])
    if not cfg["MEDIA_SIGNING_KEY"]:
        from streaming.signed_urls import derive_key
        cfg["MEDIA_SIGNING_KEY"] = derive_key(cfg["SECRET_KEY"])
    return cfg
