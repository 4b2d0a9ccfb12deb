"""Walks every registered route for every role, from inside and outside the jurisdiction.

A new route without `@allow(...)`/`@public` fails here, and so does one that lets a
role in that should stay out, or serves an object from another unit's subtree.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from tests.conftest import DEMO_PASSWORD, csrf_from, make_course, user
from webapp.models import (AttendanceOutcome, AttendanceRecord, Conference, OrgUnit, RollCall, Role, User,
                           VrAssignment, VrStation)
from webapp.core.security import hash_password

ACTORS = ["anonymous", "admin", "admin_zj", "officer_zj", "officer_bs", "zhangsan"]
ROLE_OF = {"admin": Role.ADMIN, "admin_zj": Role.ADMIN, "officer_zj": Role.OFFICER,
           "officer_bs": Role.OFFICER, "zhangsan": Role.SUPERVISEE}


def unit(db, name):
    return db.scalar(select(OrgUnit).where(OrgUnit.name == name))


@pytest.fixture
def world(app, db, client_for, clock):
    zj = unit(db, "浙江省司法厅")
    db.add(User(username="admin_zj", display_name="浙江管理员", role=Role.ADMIN, unit_id=zj.id,
                password_hash=hash_password(DEMO_PASSWORD), failed_logins=0, active=True))
    db.commit()
    assigned = make_course(app, db, slug="assigned", assign_to=("zhangsan", "wangwu", "zhaoliu"))
    unassigned = make_course(app, db, slug="unassigned", assign_to=("wangwu",))
    sessions = {}
    for name in ("zhangsan", "zhaoliu"):
        c = client_for(name)
        sessions[name] = c.api("/api/study/start", {"course_id": assigned.id}).get_json()["session_id"]
    ids = {n: user(db, n).id for n in ("zhangsan", "wangwu", "zhaoliu", "officer_bs", "officer_my", "admin")}
    units = {n: unit(db, n).id for n in ("北山街道司法所", "灵隐街道司法所", "梅园新村街道司法所", "司法部")}
    flags, evidence = {}, {}
    with app.app_context():  # a proctoring flag with a snapshot per supervisee (review routes)
        import numpy as np
        from webapp.core import db as webdb
        from webapp.proctor.evidence import record_flag
        from webapp.models import Evidence
        for name in ("zhangsan", "wangwu", "zhaoliu"):
            flag = record_flag(webdb.session(), learner_id=ids[name], session_id=sessions.get(name), check_id=None,
                               kind="identity_mismatch", at=clock.now, scores={"distance": 0.7},
                               frame_rgb=np.full((48, 64, 3), 128, np.uint8))
            flags[name] = flag.id
            evidence[name] = webdb.session().scalar(select(Evidence.id).where(Evidence.flag_id == flag.id))
        webdb.session().commit()
    # Per actor: parameter -> (inside value, outside value or None when nothing is outside)
    params = {
        "admin": {"unit_id": (units["北山街道司法所"], None), "user_id": (ids["zhaoliu"], None),
                  "course_id": (assigned.id, None), "session_id": (sessions["zhangsan"], None)},
        "admin_zj": {"unit_id": (units["北山街道司法所"], units["梅园新村街道司法所"]),
                     "user_id": (ids["zhangsan"], ids["zhaoliu"]),
                     "course_id": (assigned.id, None), "session_id": (sessions["zhangsan"], None)},
        "officer_zj": {"unit_id": (units["北山街道司法所"], units["梅园新村街道司法所"]),
                       "user_id": (ids["zhangsan"], ids["zhaoliu"]),
                       "course_id": (assigned.id, None), "session_id": (sessions["zhangsan"], None)},
        "officer_bs": {"unit_id": (units["北山街道司法所"], units["灵隐街道司法所"]),
                       "user_id": (ids["zhangsan"], ids["wangwu"]),
                       "course_id": (assigned.id, None), "session_id": (sessions["zhangsan"], None)},
        "zhangsan": {"unit_id": (units["北山街道司法所"], units["梅园新村街道司法所"]),
                     "user_id": (ids["zhangsan"], ids["zhaoliu"]),
                     "course_id": (assigned.id, unassigned.id),
                     "session_id": (sessions["zhangsan"], sessions["zhaoliu"])},
    }
    outside_of = {"admin": None, "admin_zj": "zhaoliu", "officer_zj": "zhaoliu", "officer_bs": "wangwu",
                  "zhangsan": "zhaoliu"}
    for actor, out in outside_of.items():
        inside = "zhaoliu" if actor == "admin" else "zhangsan"
        params[actor]["flag_id"] = (flags[inside], flags[out] if out else None)
        params[actor]["evidence_id"] = (evidence[inside], evidence[out] if out else None)
    confs = {}
    start = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=2)
    for key, unit_name, host, levels, supervisees in (
            ("moj", "司法部", "officer_moj", "", False), ("zj", "浙江省司法厅", "officer_zj", "3,4,5", True),
            ("bs", "北山街道司法所", "officer_bs", "", True), ("ly", "灵隐街道司法所", "officer_ly", "", True),
            ("my", "梅园新村街道司法所", "officer_my", "", True)):
        conf = Conference(host_unit_id=unit(db, unit_name).id, host_officer_id=user(db, host).id,
                          title=f"会议 {key}", starts_at=start, duration_min=60, levels=levels,
                          include_supervisees=supervisees)
        db.add(conf)
        db.flush()
        confs[key] = conf.id
    # a roll call per conference with one attendance record of a supervisee of the host's subtree
    rollcalls, records = {}, {}
    for key, person in (("moj", "zhangsan"), ("zj", "zhangsan"), ("bs", "zhangsan"), ("ly", "wangwu"),
                        ("my", "zhaoliu")):
        call = RollCall(conference_id=confs[key], started_at=start)
        db.add(call)
        db.flush()
        rec = AttendanceRecord(roll_call_id=call.id, user_id=ids[person], outcome=AttendanceOutcome.ABSENT)
        db.add(rec)
        db.flush()
        rollcalls[key], records[key] = call.id, rec.id
    db.commit()
    conference_ids = {"admin": ("moj", None), "admin_zj": ("zj", "my"), "officer_zj": ("zj", "my"),
                      "officer_bs": ("bs", "ly"), "zhangsan": ("bs", "ly")}
    for actor, (inside, out) in conference_ids.items():
        params[actor]["conference_id"] = (confs[inside], confs[out] if out else None)
        params[actor]["rollcall_id"] = (rollcalls[inside], rollcalls[out] if out else None)
        params[actor]["record_id"] = (records[inside], records[out] if out else None)
    # VR: a station per township, a pending scene assignment per supervisee
    stations, vr_assignments = {}, {}
    for key, unit_name in (("bs", "北山街道司法所"), ("ly", "灵隐街道司法所"), ("my", "梅园新村街道司法所")):
        station = VrStation(name=f"VR {key}", unit_id=unit(db, unit_name).id, token_hash=f"{key:0>64}")
        db.add(station)
        db.flush()
        stations[key] = station.id
    for name in ("zhangsan", "wangwu", "zhaoliu"):
        assignment = VrAssignment(learner_id=ids[name], scene="prison")
        db.add(assignment)
        db.flush()
        vr_assignments[name] = assignment.id
    db.commit()
    vr_ids = {"admin": (("bs", "zhaoliu"), (None, None)), "admin_zj": (("bs", "zhangsan"), ("my", "zhaoliu")),
              "officer_zj": (("bs", "zhangsan"), ("my", "zhaoliu")),
              "officer_bs": (("bs", "zhangsan"), ("ly", "wangwu")), "zhangsan": (("bs", "zhangsan"), ("ly", "zhaoliu"))}
    for actor, ((st_in, as_in), (st_out, as_out)) in vr_ids.items():
        params[actor]["station_id"] = (stations[st_in], stations[st_out] if st_out else None)
        params[actor]["vr_assignment_id"] = (vr_assignments[as_in], vr_assignments[as_out] if as_out else None)
    params["anonymous"] = params["admin"]
    return {"params": params, "course": assigned}


FIXED = {"relpath": "source.mp4", "code": "en"}


def build_url(app, rule, values):
    with app.test_request_context():
        from flask import url_for
        return url_for(rule.endpoint, **values)


def values_for(rule, params, outside: bool):
    values = {}
    for arg in rule.arguments:
        if arg in FIXED:
            values[arg] = FIXED[arg]
        else:
            inside, out = params[arg]
            values[arg] = out if (outside and out is not None) else inside
    return values


def has_outside(rule, params):
    return any(arg not in FIXED and params[arg][1] is not None for arg in rule.arguments)


def request(client, method, url):
    if method == "GET":
        return client.c.get(url)
    if url.startswith("/api/"):
        return client.api(url, {})
    return client.c.post(url, data={"csrf_token": client.token or ""})


def routes(app):
    """Every route but logout, which would end the walking client's session (it is
    walked last, separately)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.logout") or rule.endpoint.endswith(".static"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_declares_its_access(app):
    missing = [rule.rule for rule in app.url_map.iter_rules()
               if not (rule.endpoint == "static" or rule.endpoint.endswith(".static")) and not hasattr(app.view_functions[rule.endpoint], "access_roles")]
    assert not missing, f"routes without @allow/@public: {missing}"


def test_access_matrix(app, world, client_for):
    failures = []
    checked = 0
    for actor in ACTORS:
        client = client_for(None if actor == "anonymous" else actor)
        if actor == "anonymous":
            client.token = csrf_from(client.c.get("/login").get_data(as_text=True))
        params = world["params"][actor]
        for rule, method in routes(app):
            roles = app.view_functions[rule.endpoint].access_roles
            if roles is None:
                continue  # public: login page, language choice, start page
            variants = [False] + ([True] if has_outside(rule, params) else [])
            for outside in variants:
                url = build_url(app, rule, values_for(rule, params, outside))
                response = request(client, method, url)
                status = response.status_code
                checked += 1
                if getattr(app.view_functions[rule.endpoint], "station_token", False):
                    ok = status == 401  # the VR station API: a station token, never a login
                elif actor == "anonymous":
                    ok = status == 401 if url.startswith("/api/") else (
                        status == 302 and "/login" in response.headers["Location"])
                elif ROLE_OF[actor] not in roles:
                    ok = status == 403
                elif outside:
                    ok = status == 404
                else:
                    ok = status not in (401, 403, 404) and status < 500
                if not ok:
                    failures.append(f"{actor:10} {method:4} {url} -> {status} (outside={outside})")
    assert checked > 60
    assert not failures, "\n".join(failures)


LISTING_PAGES = ["/officer/", "/admin/units", "/admin/users", "/conferences/", "/officer/vr/stations"]
OUTSIDE_NAMES = {
    "officer_bs": ["王五", "赵六", "灵隐街道司法所", "梅园新村街道司法所"],
    "officer_zj": ["赵六", "梅园新村街道司法所", "江苏省司法厅"],
    "admin_zj": ["赵六", "梅园新村街道司法所", "江苏省司法厅", "officer_my"],
}


@pytest.mark.parametrize("actor", sorted(OUTSIDE_NAMES))
def test_listing_pages_show_nothing_from_other_jurisdictions(app, world, client_for, actor):
    client = client_for(actor)
    for page in LISTING_PAGES:
        response = client.c.get(page)
        if response.status_code == 403:
            continue
        assert response.status_code == 200, page
        html = response.get_data(as_text=True)
        leaked = [name for name in OUTSIDE_NAMES[actor] if name in html]
        assert not leaked, f"{actor} sees {leaked} on {page}"


def test_dashboard_unit_filter_outside_jurisdiction_is_not_found(app, world, client_for, db):
    client = client_for("officer_bs")
    other = unit(client and db, "灵隐街道司法所")
    assert client.c.get(f"/officer/?unit={other.id}").status_code == 404
    assert client.c.get("/officer/?unit=abc").status_code == 400


@pytest.mark.parametrize("actor", [a for a in ACTORS if a != "anonymous"])
def test_logout_ends_the_session(app, world, client_for, actor):
    client = client_for(actor)
    assert client.c.post("/logout", data={"csrf_token": client.token}).status_code == 302
    assert client.c.get("/account/password").status_code == 302
