"""Authentication findings of issue 12: the proxy's hop count (ProxyFix), sessions that end at logout
and password change (a per-user session version, HTTP and Socket.IO), an enumeration-resistant login
(same Argon2 work, same answer, throttling per username and address instead of an account lock),
the CSRF token rotated at login, and wrong current passwords throttled on /account/password.

Each test was seen failing against the code before its fix.
"""
from __future__ import annotations

import re
import statistics
import time

import pytest
from sqlalchemy import select

from tests.conftest import DEMO_PASSWORD, csrf_from, user
from webapp.extensions import socketio
from webapp.models import AuditLog

NEW_PASSWORD = "Better-Pass-2027"


@pytest.fixture
def make_app(app):
    """Another app on the test's database with some settings changed (e.g. PROXY_FIX_HOPS)."""
    from webapp import create_app
    made = []

    def make(**config):
        shared = {k: app.config[k] for k in ("INSTANCE_DIR", "DATABASE_URL", "SECRET_KEY", "MEDIA_ROOT")}
        other = create_app({**shared, "RATELIMIT_ENABLED": False, "SCHEDULER_ENABLED": False,
                            "PROCTORING_REQUIRED": False, **config})
        made.append(other)
        return other
    yield make
    for other in made:
        other.extensions["db_engine"].dispose()


def post_login(client, username: str, password: str, address: str | None = None):
    headers = {"X-Forwarded-For": address} if address else {}
    token = csrf_from(client.get("/login", headers=headers).get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       headers=headers)


def audit_rows(db, action: str) -> list[AuditLog]:
    db.expire_all()
    return list(db.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


# --- 1. ProxyFix with a configured hop count -------------------------------------------------------

def test_proxy_fix_hops_default_to_none_trusted(tmp_path, monkeypatch):
    from webapp.config import from_env
    monkeypatch.delenv("PROXY_FIX_HOPS", raising=False)
    assert from_env(INSTANCE_DIR=str(tmp_path))["PROXY_FIX_HOPS"] == 0
    monkeypatch.setenv("PROXY_FIX_HOPS", "1")
    assert from_env(INSTANCE_DIR=str(tmp_path))["PROXY_FIX_HOPS"] == 1


def test_behind_one_proxy_each_forwarded_address_has_its_own_bucket_and_audit_ip(make_app, db):
    proxied = make_app(PROXY_FIX_HOPS=1, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    client = proxied.test_client()
    assert [post_login(client, "nobody-here", "x", "198.51.100.1").status_code for _ in range(4)] == [401] * 3 + [429]
    assert post_login(client, "nobody-here", "x", "198.51.100.2").status_code == 401   # another person
    assert post_login(client, "admin", DEMO_PASSWORD, "203.0.113.9").status_code == 302
    assert [row.ip for row in audit_rows(db, "login")] == ["203.0.113.9"]
    assert {row.ip for row in audit_rows(db, "login_failed")} == {"198.51.100.1", "198.51.100.2"}


def test_without_a_proxy_the_forwarded_header_is_ignored(make_app, db):
    direct = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="4 per minute")
    client = direct.test_client()
    assert post_login(client, "admin", DEMO_PASSWORD, "203.0.113.9").status_code == 302
    assert [row.ip for row in audit_rows(db, "login")] == ["127.0.0.1"]   # not the spoofed address
    client = direct.test_client()
    statuses = [post_login(client, "nobody-here", "x", f"198.51.100.{i}").status_code for i in range(4)]
    assert statuses == [401] * 3 + [429]          # a new forged address each time: still one bucket


# --- 2. sessions end at logout and at password change ---------------------------------------------

def copy_of(app, client):
    """A second browser holding a copy of `client`'s session cookie."""
    copy = app.test_client()
    copy.set_cookie("session", client.c.get_cookie("session").value)
    return copy


def test_a_copied_cookie_is_anonymous_after_logout(app, client_for):
    learner = client_for("zhangsan")
    copy = copy_of(app, learner)
    assert copy.get("/learn/").status_code == 200            # the copy works while the session lives
    live = socketio.test_client(app, flask_test_client=copy)
    assert live.is_connected()
    live.disconnect()

    assert learner.c.post("/logout", data={"csrf_token": learner.token}).status_code == 302
    page = copy.get("/learn/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    api = copy.get("/api/study/progress/1")
    assert api.status_code == 401 and api.get_json()["error"] == "unauthenticated"
    assert not socketio.test_client(app, flask_test_client=copy).is_connected()


def test_password_change_ends_other_sessions_but_keeps_this_one(app, client_for):
    here, there = client_for("zhangsan"), client_for("zhangsan")
    changed = here.c.post("/account/password", data={"csrf_token": here.token, "current": DEMO_PASSWORD,
                                                      "new": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert changed.status_code == 302
    assert here.c.get("/learn/").status_code == 200
    assert socketio.test_client(app, flask_test_client=here.c).is_connected()
    assert there.c.get("/learn/").status_code == 302
    assert not socketio.test_client(app, flask_test_client=there.c).is_connected()


def edit_form(admin, target, **over):
    data = {"csrf_token": admin.token, "username": target.username, "display_name": target.display_name,
            "role": target.role.value, "unit_id": str(target.unit_id), "officer_id": str(target.officer_id or 0),
            "password": "", "active": "y"}
    data.update(over)
    return admin.c.post(f"/admin/users/{target.id}", data={k: v for k, v in data.items() if v is not None})


def test_an_admin_password_reset_or_deactivation_ends_the_users_sessions(app, db, client_for):
    admin = client_for("admin")
    learner = client_for("zhangsan")
    assert edit_form(admin, user(db, "zhangsan"), password=NEW_PASSWORD).status_code == 303
    assert learner.c.get("/learn/").status_code == 302

    learner = client_for("lisi")
    assert edit_form(admin, user(db, "lisi"), active=None).status_code == 303        # deactivated
    assert edit_form(admin, user(db, "lisi")).status_code == 303                      # and back
    assert learner.c.get("/learn/").status_code == 302       # the old session did not come back
    assert admin.c.get("/admin/users").status_code == 200    # the admin's own session lives on


# --- 3. user enumeration --------------------------------------------------------------------------

def test_unknown_users_cost_the_same_argon2_work_as_wrong_passwords(app):
    client = app.test_client()
    app.config["LOGIN_MAX_FAILURES"] = 1000          # no throttling during the measurement
    post_login(client, "zhangsan", "warm-up")
    unknown, wrong = [], []
    for i in range(5):                               # interleaved: a load spike hits both sides
        for username, times in ((f"nobody-{i}", unknown), ("zhangsan", wrong)):
            token = csrf_from(client.get("/login").get_data(as_text=True))
            start = time.perf_counter()
            response = client.post("/login", data={"username": username, "password": "wrong-password",
                                                   "csrf_token": token})
            times.append(time.perf_counter() - start)
            assert response.status_code == 401
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2.0, f"unknown user {statistics.median(unknown):.4f}s, wrong password " \
                              f"{statistics.median(wrong):.4f}s"


def normalised(response, username: str) -> str:
    body = response.get_data(as_text=True)
    body = re.sub(r'(name="csrf[-_]token"[^>]*(?:content|value)=")[^"]+', r"\1TOKEN", body)
    return body.replace(f'value="{username}"', 'value="USERNAME"')


def test_every_failure_gives_the_same_answer(app, db):
    lisi = user(db, "lisi")
    lisi.active = False
    db.commit()
    answers = {"unknown": ("nobody-here", "wrong-password"), "wrong": ("zhangsan", "wrong-password"),
               "inactive": ("lisi", DEMO_PASSWORD)}
    bodies = {}
    for kind, (username, password) in answers.items():
        response = post_login(app.test_client(), username, password)
        assert response.status_code == 401, kind
        bodies[kind] = normalised(response, username)
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post_login(client, "wangwu", "wrong-password")
    locked = post_login(client, "wangwu", DEMO_PASSWORD)     # the right password, but throttled
    assert locked.status_code == 401
    bodies["locked"] = normalised(locked, "wangwu")
    assert "用户名或密码错误" in bodies["unknown"]
    assert len(set(bodies.values())) == 1, {k: re.findall(r'class="error"[^<]*>([^<]*)', v) for k, v in bodies.items()}


def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(make_app, db):
    proxied = make_app(PROXY_FIX_HOPS=1)
    attacker = proxied.test_client()
    for _ in range(20):
        assert post_login(attacker, "admin", "wrong-password", "198.51.100.66").status_code == 401
    assert post_login(attacker, "admin", DEMO_PASSWORD, "198.51.100.66").status_code == 401   # throttled there
    assert post_login(proxied.test_client(), "admin", DEMO_PASSWORD, "203.0.113.5").status_code == 302
    failed, locked = audit_rows(db, "login_failed"), audit_rows(db, "login_locked")
    assert len(failed) == proxied.config["LOGIN_MAX_FAILURES"]
    assert len(locked) == 20 + 1 - len(failed)
    assert {row.ip for row in failed + locked} == {"198.51.100.66"}
    assert user(db, "admin").locked_until is None


# --- 4. the CSRF token is rotated at login --------------------------------------------------------

def test_login_rotates_the_csrf_token(app):
    client = app.test_client()
    before = csrf_from(client.get("/login").get_data(as_text=True))
    with client.session_transaction() as session:
        raw_before = session["csrf_token"]
    assert client.post("/login", data={"username": "zhangsan", "password": DEMO_PASSWORD,
                                       "csrf_token": before}).status_code == 302
    after = csrf_from(client.get("/account/password").get_data(as_text=True))
    with client.session_transaction() as session:
        assert session["csrf_token"] != raw_before
    assert client.get("/learn/").status_code == 200                           # still logged in
    assert client.post("/logout", data={"csrf_token": before}).status_code == 400   # the old token is dead
    assert client.post("/logout", data={"csrf_token": after}).status_code == 302


# --- 5. wrong current passwords are throttled -----------------------------------------------------

def test_wrong_current_passwords_are_throttled(app, db, client_for):
    client = client_for("zhangsan")
    limit = app.config["PASSWORD_CHANGE_MAX_FAILURES"]
    assert limit == 5

    def change(current):
        return client.c.post("/account/password", data={"csrf_token": client.token, "current": current,
                                                         "new": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert [change("wrong-password").status_code for _ in range(limit)] == [400] * limit
    refused = change(DEMO_PASSWORD)                  # even the right one, until the window passes
    assert refused.status_code == 429
    assert "当前密码错误次数过多" in refused.get_data(as_text=True)
    assert len(audit_rows(db, "password_change_failed")) == limit
    assert len(audit_rows(db, "password_change_throttled")) == 1
    db.expire_all()
    assert user(db, "zhangsan").password_hash and client.c.get("/learn/").status_code == 200
    other = client_for("lisi")                       # another user is not affected
    ok = other.c.post("/account/password", data={"csrf_token": other.token, "current": DEMO_PASSWORD,
                                                  "new": NEW_PASSWORD, "repeat": NEW_PASSWORD})
    assert ok.status_code == 302
