"""Hardening against hostile input (issue 12): huge integers, huge and non-finite numbers, deeply
nested JSON, Socket.IO events that must always answer, heartbeat floods, response headers, upload
errors that named server paths, and the file modes of the instance directory and the database.

Every expected answer here is written by hand: a status, an error code, a count worked out from
the configured limits.
"""
from __future__ import annotations

import io
import json
import os
import re
import stat
import time
import uuid

import pytest
from sqlalchemy import func, select, text

from tests.conftest import DEMO_PASSWORD, make_course, user
from webapp.extensions import socketio
from webapp.models import CreditEntry, HeartbeatRejection, StudySession, VrStation

HUGE = (2**63, 10**30)
DEEP = 5000
STATION_TOKEN = "vrs_hardening-test-token-0123456789"
PRISON_STAGES = ["arrival", "cell", "regime", "visiting", "door"]


@pytest.fixture
def course(app, db):
    # No breakpoint during these tests: presence is attested by the finish click.
    app.config.update(BREAKPOINT_MIN_S=900.0, BREAKPOINT_MEAN_S=900.0, BREAKPOINT_MAX_S=900.0)
    return make_course(app, db, duration=600.0)


@pytest.fixture
def station(app, db):
    from webapp.vr.views import hash_token
    unit_id = user(db, "officer_bs").unit_id
    db.add(VrStation(name="加固测试VR", unit_id=unit_id, token_hash=hash_token(STATION_TOKEN)))
    db.commit()
    return {"Authorization": f"Bearer {STATION_TOKEN}"}


def vr_session(learner_id: int, **over) -> dict:
    """A complete, valid VR session body (as tests/integration/test_vr_portal.py posts)."""
    now = time.time()
    started = now - 400
    body = {"client_session_id": uuid.uuid4().hex, "learner_id": learner_id, "assignment_id": None,
            "scene": "prison", "checkin": "face", "started_at": started, "ended_at": now - 10,
            "stages": [{"id": k, "title": k, "started_at": started + 70 * i, "ended_at": started + 70 * (i + 1),
                        "completed": True} for i, k in enumerate(PRISON_STAGES)],
            "attention": {"guard": 0.8}, "reaction_times": {"sober": [], "drunk": []}, "choices": {},
            "quiz": {"questions": 1, "correct": 1, "answers": [{"id": "q1", "answer": "a", "correct": True}]}}
    body.update(over)
    return body


def connect(app, client):
    sio = socketio.test_client(app, flask_test_client=client.c)
    assert sio.is_connected()
    return sio


def path_with(rule, number: int) -> str:
    """The rule's path with every <int:...> replaced by `number` and every other part by a word."""
    path = re.sub(r"<int:[^>]+>", str(number), rule.rule)
    path = re.sub(r"<path:[^>]+>", "master.m3u8", path)
    return re.sub(r"<[^>]+>", "x" * 32, path)


# --- 1. integers >= 2^63 --------------------------------------------------------------------------

def test_every_int_route_answers_404_to_huge_ids(app, client_for):
    """2^63 and 10^30 in any <int:> of any route, for every role: 404 (SQLite holds 64-bit
    integers; such an id can name nothing), never 500."""
    rules = [rule for rule in app.url_map.iter_rules() if "<int:" in rule.rule]
    assert len(rules) >= 25, [r.rule for r in rules]
    failures = []
    for username in ("admin", "officer_bs", "zhangsan"):
        client = client_for(username)
        for rule in rules:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                for number in HUGE:
                    path = path_with(rule, number)
                    if method == "GET":
                        response = client.c.get(path)
                    elif path.startswith("/api/"):
                        response = client.api(path, {})
                    else:
                        response = client.c.post(path, data={"csrf_token": client.token})
                    if response.status_code != 404:
                        failures.append(f"{username} {method} {path} -> {response.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("number", HUGE)
def test_huge_ids_in_query_strings_json_and_forms(app, db, client_for, course, station, number):
    officer, admin, learner = client_for("officer_bs"), client_for("admin"), client_for("zhangsan")
    # ?unit= and ?learner=: no such unit or supervisee
    assert officer.c.get(f"/officer/?unit={number}").status_code == 404
    assert officer.c.get(f"/officer/flags?learner={number}").status_code == 404
    # course_id in the study API: not a valid id
    answer = learner.api("/api/study/start", {"course_id": number})
    assert answer.status_code == 400 and answer.get_json()["error"] == "bad_field"
    # ids in forms: not one of the choices
    page = admin.c.post("/admin/users/new", data={
        "csrf_token": admin.token, "username": "huge1", "display_name": "大号", "role": "officer",
        "unit_id": number, "officer_id": number, "password": "Another-Pass-2026!", "active": "y"})
    assert page.status_code == 400
    page = officer.c.post("/officer/vr/stations", data={"csrf_token": officer.token, "name": "大号VR",
                                                       "unit_id": number})
    assert page.status_code == 400
    # the VR station API: assignment_id out of range
    body = vr_session(user(db, "zhangsan").id, checkin="assignment", assignment_id=number)
    answer = app.test_client().post("/api/vr/v1/sessions", json=body, headers=station)
    assert answer.status_code == 400 and answer.get_json()["field"] == "assignment_id"


# --- 2. huge and non-finite numbers ----------------------------------------------------------------

BIG = "9" * 400   # a JSON number no float can hold


def test_a_nul_in_a_form_or_a_query_string_is_a_400(app, client_for):
    """PostgreSQL's text cannot hold NUL: a login or a search with one was a 500 there."""
    anonymous = client_for()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      anonymous.get("/login").get_data(as_text=True)).group(1)
    res = anonymous.post("/login", data={"username": "zhang\x00san", "password": "x", "csrf_token": token})
    assert res.status_code == 400
    assert anonymous.post("/login", data={"username": "zhangsan", "password": DEMO_PASSWORD,
                                          "csrf_token": token}).status_code == 302    # nothing else changed
    officer = client_for("officer_bs")
    assert officer.get("/officer/?unit=a%00b").status_code == 400
    assert officer.get("/api/study/progress/1?x=%00", headers={"Accept": "application/json"}).status_code == 400


def test_a_400_digit_position_or_rate_is_an_invalid_heartbeat(app, db, client_for, clock, course):
    learner = client_for("zhangsan")
    sitting = learner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    for seq, (position, rate) in enumerate(((BIG, "1"), ("0", BIG), ("-" + BIG, "1"), ("1e400", "1")), start=1):
        raw = f'{{"seq": {seq}, "position": {position}, "playing": true, "rate": {rate}}}'
        answer = learner.c.post(f"/api/study/{sitting}/heartbeat", data=raw, content_type="application/json",
                                headers={"X-CSRFToken": learner.token})
        assert answer.status_code == 422, (position, rate, answer.get_data(as_text=True))
        assert answer.get_json()["reason"] == "invalid"
    # over the socket too
    sio = connect(app, learner)
    answer = sio.emit("heartbeat", {"session_id": sitting, "seq": 9, "position": int(BIG), "playing": True,
                                    "rate": 1}, callback=True)
    assert answer["status"] == 422 and answer["reason"] == "invalid"
    answer = sio.emit("heartbeat", {"session_id": sitting, "seq": 10, "position": 0, "playing": True,
                                    "rate": -int(BIG)}, callback=True)
    assert answer["status"] == 422 and answer["reason"] == "invalid"
    # stored without a position that is not a finite number
    rows = db.execute(select(HeartbeatRejection.position, HeartbeatRejection.reason)
                      .order_by(HeartbeatRejection.id)).all()
    assert [r.reason for r in rows] == ["invalid"] * 6
    assert [r.position for r in rows] == [None, 0.0, None, None, None, 0.0]
    # the sitting was not moved
    study = db.get(StudySession, sitting)
    db.refresh(study)
    assert study.last_seq == -1


def test_a_400_digit_answer_to_a_surprise_question_is_refused(app, client_for, clock, course):
    learner = client_for("zhangsan")
    sitting = learner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    answer = learner.c.post(f"/api/study/{sitting}/confirm", data=f'{{"prompt_id": "x", "choice": {BIG}}}',
                            content_type="application/json", headers={"X-CSRFToken": learner.token})
    assert answer.status_code == 409 and answer.get_json()["error"] == "no_prompt"


def test_vr_session_times_of_400_digits_are_bad_fields(app, db, station):
    for field in ("started_at", "ended_at"):
        text = json.dumps(vr_session(user(db, "zhangsan").id, **{field: 12345}))
        text = text.replace(f'"{field}": 12345', f'"{field}": {BIG}')
        answer = app.test_client().post("/api/vr/v1/sessions", data=text, content_type="application/json",
                                        headers=station)
        assert answer.status_code == 400 and answer.get_json()["field"] == field, answer.get_data(as_text=True)


# --- 3. deeply nested JSON -------------------------------------------------------------------------

def deep(kind: str) -> str:
    return "[" * DEEP + "]" * DEEP if kind == "list" else '{"a":' * DEEP + "1" + "}" * DEEP


@pytest.mark.parametrize("kind", ["list", "object"])
def test_json_nested_5000_deep_gets_a_json_400_on_every_post_route(app, client_for, course, station, kind):
    learner, admin = client_for("zhangsan"), client_for("admin")
    sitting = learner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    posts = [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods]
    assert len(posts) >= 25
    failures = []
    for rule in posts:
        path = re.sub(r"<int:[^>]+>", "1", rule.rule)
        path = re.sub(r"<session_id>", sitting, path)
        path = re.sub(r"<[^>]+>", "x", path)
        if rule.endpoint.startswith("vr_api."):
            client, headers = app.test_client(), station
        else:
            who = learner if rule.endpoint.startswith(("learn.", "proctor_standing.review")) else admin
            client, headers = who.c, {"X-CSRFToken": who.token}
        response = client.post(path, data=deep(kind), content_type="application/json",
                               headers={**headers, "Accept": "application/json"})
        body = response.get_json(silent=True)
        if response.status_code != 400 or not isinstance(body, dict) or body.get("error") != "too_deep":
            failures.append(f"POST {path} [{rule.endpoint}] -> {response.status_code} {str(body)[:80]}")
    assert not failures, "\n".join(failures)


def test_json_nested_within_the_limit_is_read(app, client_for, course):
    """32 levels are fine: the limit refuses only what no client of ours sends."""
    learner = client_for("zhangsan")
    nested = "[" * 31 + "]" * 31
    answer = learner.c.post("/api/study/start", data=f'{{"course_id": {course.id}, "x": {nested}}}',
                            content_type="application/json", headers={"X-CSRFToken": learner.token})
    assert answer.status_code == 200


def test_deeply_nested_socket_payload_gets_a_bad_field_answer(app, client_for):
    learner = client_for("zhangsan")
    sio = connect(app, learner)
    for event in ("heartbeat", "conf_enter", "rtc_offer"):
        raw = f'27["{event}",' + deep("list") + "]"     # EVENT packet, ack id 7
        socketio.server._handle_eio_message(sio.eio_sid, raw)
        ack = sio.acks
        sio.acks = None
        assert ack is not None, event
        answer = ack["args"][0]
        assert answer["error"] == "bad_field", (event, answer)
    assert sio.is_connected()


def test_socket_messages_are_bounded_in_size(app):
    assert socketio.server.eio.max_http_buffer_size == app.config["SOCKETIO_MAX_BYTES"] == 64 * 1024


# --- 4. every Socket.IO event answers ------------------------------------------------------------

@pytest.mark.parametrize("number", HUGE + (-(2**63) - 1,))
def test_conf_enter_with_a_huge_id_answers_an_error(app, client_for, number):
    sio = connect(app, client_for("officer_bs"))
    for event in ("conf_enter", "conf_hand", "conf_chat", "conf_leave", "rollcall_start"):
        answer = sio.emit(event, {"conference_id": number}, callback=True)
        assert answer is not None and answer["error"] == "bad_field", (event, answer)


def test_an_event_that_fails_inside_still_answers(app, client_for, monkeypatch):
    import webapp.conferences.sockets as conference_sockets

    def broken(*_args):
        raise RuntimeError("boom")

    monkeypatch.setattr(conference_sockets, "allowed", broken)
    sio = connect(app, client_for("officer_bs"))
    answer = sio.emit("conf_enter", {"conference_id": 1}, callback=True)
    assert answer["error"] == "internal" and answer["message"]
    assert sio.is_connected()


def test_a_heartbeat_that_fails_inside_still_answers(app, client_for, clock, course, monkeypatch):
    import webapp.study.sockets as study_sockets

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    learner = client_for("zhangsan")
    sitting = learner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    monkeypatch.setattr(study_sockets, "record_heartbeat", broken)
    sio = connect(app, learner)
    answer = sio.emit("heartbeat", {"session_id": sitting, "seq": 1, "position": 0, "playing": True, "rate": 1},
                      callback=True)
    assert answer == {"error": "internal", "status": 500}


# --- 5. heartbeat floods -------------------------------------------------------------------------

FLOOD = 300


@pytest.fixture
def limits(app):
    # The test app turns rate limits off (RATELIMIT_ENABLED=0, as the benchmarks do): on here.
    app.config.update(RATELIMIT_ENABLED=True, HEARTBEAT_MAX_PER_10S=30, HEARTBEAT_REJECTIONS_PER_MIN=20)


def test_300_duplicate_socket_beats_are_rate_limited_and_bounded(app, db, client_for, clock, course, limits):
    learner = client_for("zhangsan")
    sitting = learner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    sio = connect(app, learner)
    beat = {"session_id": sitting, "seq": 1, "position": 0.0, "playing": True, "rate": 1.0}
    statuses = []
    for _ in range(FLOOD):           # 300 beats in 2.3 s
        statuses.append(sio.emit("heartbeat", beat, callback=True)["status"])
        clock.advance(2.3 / FLOOD)
    # 30 beats per 10 s pass the limiter: the first is accepted, the other 29 are duplicates
    assert statuses.count(200) == 1 and statuses.count(422) == 29 and statuses.count(429) == 270
    # 20 rejections per minute are stored; the other 9 are counted in one "flood" row
    rows = db.execute(select(HeartbeatRejection.reason, HeartbeatRejection.seq)).all()
    assert sorted(r.reason for r in rows) == ["duplicate"] * 20 + ["flood"]
    assert [r.seq for r in rows if r.reason == "flood"] == [9]
    limited = sio.emit("heartbeat", beat, callback=True)
    assert limited == {"error": "rate_limited", "status": 429}
    clock.advance(10)                # the window has passed: beats are taken again
    assert sio.emit("heartbeat", beat | {"seq": 2, "position": 0.0}, callback=True)["status"] == 200


def test_300_duplicate_http_beats_are_rate_limited_and_bounded(app, db, client_for, clock, course, limits):
    learner = client_for("zhangsan")
    sitting = learner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    beat = {"seq": 1, "position": 0.0, "playing": True, "rate": 1.0}
    statuses, last = [], None
    for _ in range(FLOOD):
        last = learner.api(f"/api/study/{sitting}/heartbeat", beat)
        statuses.append(last.status_code)
        clock.advance(2.3 / FLOOD)
    assert statuses.count(200) == 1 and statuses.count(422) == 29 and statuses.count(429) == 270
    assert last.get_json()["error"] == "rate_limited" and last.get_json()["message"]
    assert int(last.headers["Retry-After"]) >= 1
    assert db.scalar(select(func.count()).select_from(HeartbeatRejection)) == 21


def test_rejections_beyond_the_cap_start_a_new_flood_row_each_minute(app, db, client_for, clock, course, limits):
    learner = client_for("zhangsan")
    sitting = learner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    beat = {"seq": 1, "position": 0.0, "playing": True, "rate": 1.0}
    assert learner.api(f"/api/study/{sitting}/heartbeat", beat).status_code == 200
    for _minute in range(2):
        for _ in range(25):           # 25 duplicates in a minute, 2.4 s apart: under the rate limit
            assert learner.api(f"/api/study/{sitting}/heartbeat", beat).status_code == 422
            clock.advance(2.4)
        clock.advance(60)             # a quiet minute: the first minute's rows leave the window
    rows = db.execute(select(HeartbeatRejection.reason, HeartbeatRejection.seq)
                      .order_by(HeartbeatRejection.id)).all()
    # each busy minute: 20 stored, the other 5 counted in that minute's flood row
    assert [r.reason for r in rows].count("duplicate") == 40
    assert [r.seq for r in rows if r.reason == "flood"] == [5, 5]


def test_a_normal_client_keeps_all_its_credit_beside_a_flood(app, db, client_for, clock, course, limits):
    """One beat every HEARTBEAT_INTERVAL_S plus pause/play/seek beats: never limited, every second
    credited, while a second connection of the same learner floods."""
    learner = client_for("zhangsan")
    sitting = learner.api("/api/study/start", {"course_id": course.id}).get_json()["session_id"]
    player, flooder = connect(app, learner), connect(app, learner)
    seq, position = 1, 0.0
    assert player.emit("heartbeat", {"session_id": sitting, "seq": seq, "position": position, "playing": True,
                                     "rate": 1.0}, callback=True)["status"] == 200
    for step in range(24):           # 120 s of play
        clock.advance(5.0)
        position += 5.0
        seq += 1
        answer = player.emit("heartbeat", {"session_id": sitting, "seq": seq, "position": position,
                                           "playing": True, "rate": 1.0}, callback=True)
        assert answer["status"] == 200, answer
        if step % 6 == 0:            # a pause and a play: two extra beats at once
            for playing in (False, True):
                seq += 1
                answer = player.emit("heartbeat", {"session_id": sitting, "seq": seq, "position": position,
                                                   "playing": playing, "rate": 1.0}, callback=True)
                assert answer["status"] == 200, answer
        for _ in range(20):          # the flood: old sequence numbers
            flooder.emit("heartbeat", {"session_id": sitting, "seq": 1, "position": 0.0, "playing": True,
                                       "rate": 1.0}, callback=True)
    finish = learner.api(f"/api/study/{sitting}/finish", {"confirmed": True})
    assert finish.status_code == 200
    assert finish.get_json()["credited_s"] == pytest.approx(120.0)
    assert db.scalar(select(func.sum(CreditEntry.credited_s))) == pytest.approx(120.0)


def test_heartbeat_limit_must_fit_a_normal_client(tmp_path):
    from webapp import create_app
    with pytest.raises(ValueError, match="HEARTBEAT_MAX_PER_10S"):
        create_app({"INSTANCE_DIR": str(tmp_path / "i"), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                    "SECRET_KEY": "k", "HEARTBEAT_INTERVAL_S": 1.0, "HEARTBEAT_MAX_PER_10S": 15})


# --- 6. headers ----------------------------------------------------------------------------------

def test_pages_and_api_answers_with_personal_data_are_not_stored(app, client_for, course):
    learner, officer = client_for("zhangsan"), client_for("officer_bs")
    for client, path in ((learner, "/learn/"), (learner, f"/learn/course/{course.id}"),
                         (learner, f"/api/study/progress/{course.id}"), (officer, "/officer/"),
                         (officer, "/officer/flags"), (officer, "/account/password")):
        response = client.c.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    # static assets and course media may be cached
    assert "no-store" not in learner.c.get("/static/css/site.css").headers.get("Cache-Control", "")
    media = learner.c.get(f"/media/{course.id}/master.m3u8")
    assert media.status_code == 200 and "no-store" not in media.headers.get("Cache-Control", "")


def test_hsts_only_when_configured_and_only_over_https(app, client_for):
    learner = client_for("zhangsan")
    assert "Strict-Transport-Security" not in learner.c.get("/learn/", base_url="https://localhost").headers
    app.config["HSTS_SECONDS"] = 31536000
    assert "Strict-Transport-Security" not in learner.c.get("/learn/").headers            # plain http
    secure = learner.c.get("/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    proxied = learner.c.get("/login", headers={"X-Forwarded-Proto": "https"})            # behind nginx
    assert proxied.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_csp_connects_to_this_origin_only(app, client_for):
    csp = client_for("zhangsan").c.get("/learn/").headers["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives["connect-src"] == ["'self'"]


# --- 7. upload errors and file modes --------------------------------------------------------------

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200


@pytest.mark.parametrize("manifest", [b'{"slug": "bad slug!", "title": "t", "category": "law"}',
                                      b"[" * DEEP + b"]" * DEEP, b'{"slug": ', b'{"slug": ' + b"9" * 5000 + b"}"])
def test_upload_errors_name_no_server_paths(app, client_for, tmp_path, manifest):
    admin = client_for("admin")
    page = admin.c.post("/admin/courses/upload", data={
        "csrf_token": admin.token, "manifest": (io.BytesIO(manifest), "course.json"),
        "media": (io.BytesIO(MP4_HEAD), "video.mp4")}, content_type="multipart/form-data")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    error = re.search(r'<p class="error" role="alert" id="upload-error">(.*?)</p>', html, re.DOTALL).group(1)
    assert error.strip()
    for secret in (str(tmp_path), app.config["INSTANCE_DIR"], "upload-", "manifest.json", "/work", "/tmp"):
        assert secret not in error, (secret, error)


def test_instance_dir_and_database_are_private(tmp_path, monkeypatch):
    from webapp import create_app, migrate
    monkeypatch.delenv("DATABASE_URL", raising=False)
    instance = tmp_path / "fresh" / "instance"
    app = create_app({"INSTANCE_DIR": str(instance), "DATABASE_URL": f"sqlite:///{instance / 'platform.db'}",
                      "SECRET_KEY": "k", "SCHEDULER_ENABLED": False})
    migrate.upgrade(app.config["DATABASE_URL"])
    assert stat.S_IMODE(os.stat(instance).st_mode) == 0o700
    with app.app_context():     # a connection of the app's own: WAL files exist while it is open
        from webapp.core import db as webdb
        webdb.session().execute(text("SELECT 1"))
        files = sorted(p.name for p in instance.iterdir() if p.name.startswith("platform.db"))
        assert files[0] == "platform.db"
        for name in files:
            assert stat.S_IMODE(os.stat(instance / name).st_mode) == 0o600, name
    app.extensions["db_engine"].dispose()


def test_an_existing_readable_database_is_made_private(tmp_path, monkeypatch):
    from webapp import create_app
    monkeypatch.delenv("DATABASE_URL", raising=False)
    db_file = tmp_path / "old.db"
    db_file.write_bytes(b"")
    os.chmod(db_file, 0o644)
    app = create_app({"INSTANCE_DIR": str(tmp_path / "instance"), "DATABASE_URL": f"sqlite:///{db_file}",
                      "SECRET_KEY": "k", "SCHEDULER_ENABLED": False})
    assert stat.S_IMODE(os.stat(db_file).st_mode) == 0o600
    app.extensions["db_engine"].dispose()


def test_login_still_works(client_for):
    """The headers and the JSON guard leave the ordinary way in alone."""
    client = client_for()
    assert client.login("zhangsan", DEMO_PASSWORD).status_code == 302


def test_a_number_out_of_range_that_slipped_through_is_a_400(app, client_for):
    """The last line of defence: an OverflowError from a view that did not bound its input (the
    database driver's "Python int too large to convert to SQLite INTEGER") answers 400."""
    def overflowing():
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    app.add_url_rule("/api/test-overflow", "test_overflow_api", overflowing)
    app.add_url_rule("/test-overflow", "test_overflow_page", overflowing)
    client = client_for("zhangsan")
    api = client.c.get("/api/test-overflow")
    assert api.status_code == 400 and api.get_json()["error"] == "out_of_range"
    page = client.c.get("/test-overflow")
    assert page.status_code == 400 and "请求无效" in page.get_data(as_text=True)

