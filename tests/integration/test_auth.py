"""Accounts: hashing, login throttling, rate limit, CSRF, cookies, language."""
from __future__ import annotations

from sqlalchemy import select

from tests.conftest import DEMO_PASSWORD, csrf_from, user
from webapp.models import AuditLog


def post_login(client, username, password):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_password_is_hashed_with_argon2(db):
    stored = user(db, "zhangsan").password_hash
    assert stored.startswith("$argon2id$") and DEMO_PASSWORD not in stored


def test_login_without_csrf_token_is_refused(app):
    client = app.test_client()
    response = client.post("/login", data={"username": "zhangsan", "password": DEMO_PASSWORD})
    assert response.status_code == 400
    assert client.get("/learn/").status_code == 302


def test_wrong_password_then_throttled_even_with_the_right_one(app, db):
    # Throttled per username and address (issue 12; other addresses: test_auth_findings.py), with
    # the answer of any failed login: nothing says the account exists or is throttled.
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        response = post_login(client, "zhangsan", "wrong-password")
        assert response.status_code == 401
    locked = post_login(client, "zhangsan", DEMO_PASSWORD)
    assert locked.status_code == 401
    assert "用户名或密码错误" in locked.get_data(as_text=True)
    assert db.scalar(select(AuditLog).where(AuditLog.action == "login_locked")) is not None


def test_unknown_user_gets_the_same_answer(app):
    client = app.test_client()
    unknown = post_login(client, "nobody-here", "whatever-password")
    wrong = post_login(client, "zhangsan", "whatever-password")
    assert unknown.status_code == wrong.status_code == 401
    assert "用户名或密码错误" in unknown.get_data(as_text=True)


def test_login_is_rate_limited_per_address(app):
    from webapp import create_app
    limited = create_app({**{k: app.config[k] for k in ("INSTANCE_DIR", "DATABASE_URL", "SECRET_KEY")},
                          "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "5 per minute"})
    client = limited.test_client()
    statuses = [post_login(client, f"user{i}", "x").status_code for i in range(8)]
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 3
    limited.extensions["db_engine"].dispose()


def test_session_cookie_is_httponly_and_samesite(app):
    client = app.test_client()
    response = post_login(client, "zhangsan", DEMO_PASSWORD)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookie_flag_follows_config(tmp_path, monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    from webapp.config import from_env
    assert from_env(INSTANCE_DIR=str(tmp_path))["SESSION_COOKIE_SECURE"] is True


def test_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    from webapp.config import from_env
    first = from_env(INSTANCE_DIR=str(tmp_path))["SECRET_KEY"]
    second = from_env(INSTANCE_DIR=str(tmp_path))["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_open_redirect_after_login_is_ignored(app):
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login?next=https://evil.example/", data={
        "username": "zhangsan", "password": DEMO_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/learn/"


def test_ui_is_chinese_by_default_and_english_on_request(app, client_for):
    client = client_for("zhangsan")
    assert "我的学习" in client.c.get("/learn/").get_data(as_text=True)
    client.c.post("/lang/en", data={"csrf_token": client.token, "next": "/learn/"})
    assert "My study" in client.c.get("/learn/").get_data(as_text=True)


def test_password_change_enforces_strength(app, client_for):
    client = client_for("zhangsan")
    weak = client.c.post("/account/password", data={"csrf_token": client.token, "current": DEMO_PASSWORD,
                                                     "new": "short", "repeat": "short"})
    assert weak.status_code == 400
    new = "Better-Pass-2027"
    ok = client.c.post("/account/password", data={"csrf_token": client.token, "current": DEMO_PASSWORD,
                                                   "new": new, "repeat": new})
    assert ok.status_code == 302
    fresh = app.test_client()
    assert post_login(fresh, "zhangsan", new).status_code == 302


def test_socketio_refuses_anonymous_and_accepts_signed_in(app, client_for):
    from webapp.extensions import socketio
    anonymous = socketio.test_client(app, flask_test_client=app.test_client())
    assert not anonymous.is_connected()
    signed_in = client_for("zhangsan")
    connected = socketio.test_client(app, flask_test_client=signed_in.c)
    assert connected.is_connected()
    connected.disconnect()
