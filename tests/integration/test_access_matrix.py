"""Who may reach which route: every registered route, for every role, inside and outside the
jurisdiction, against an answer written here by hand.

The answer does not come from the code under test. `EXPECTED` below is a literal table written
from what each feature is for (README: "Security", the features' sections, the views' docstrings);
it never reads the views' `@allow` decorators (their `access_roles`). A role added to a view's
`@allow` by mistake makes the walk below fail (a supervisee who could download the roll-call
CSV once left the old, self-referential version of this test green).

* `test_every_route_is_in_the_table`: a new route must be added to `EXPECTED` or `PUBLIC` (a
  decision, written down), and a route removed from the app must leave the table.
* `test_access_matrix`: every route x every actor, logged in through the real login form.
  Not allowed: 403/404 (a page) or the login page / 401 (anonymous). Allowed, with the actor's
  own objects: not refused, and a GET shows what it should (names computed from raw SQL rows,
  not through the app's helpers). Allowed, with one object from outside the actor's subtree
  (alone, or mixed with inside ones on routes with several ids): 404.
* Further tests check listings against plain SQL: dashboards, the dashboard's unit filter,
  roll-call tables seen from outside the host unit, the station API refusing logins.

One app and one database for the module (the walk sends only empty forms, so it changes little;
what it does change — conferences cancelled, stations revoked, VR assignments cancelled — is not
read by the content checks).
"""
from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.conftest import DEMO_PASSWORD, Client, csrf_from, database_factory_for, make_course
from webapp.models import (
    AttendanceOutcome,
    AttendanceRecord,
    Conference,
    EducationSession,
    OrgUnit,
    Role,
    RollCall,
    User,
    VrAssignment,
    VrStation,
)

ADMIN, OFFICER, SUPERVISEE = "admin", "officer", "supervisee"
STAFF = frozenset({ADMIN, OFFICER})
EVERYONE = frozenset({ADMIN, OFFICER, SUPERVISEE})
ONLY_ADMIN = frozenset({ADMIN})
ONLY_SUPERVISEE = frozenset({SUPERVISEE})

# The answer, by feature. Admins are staff of their unit: the navigation gives them the officers'
# pages, and a course upload lands on the course list (officer.courses); they alone manage units
# and accounts. Supervisees study their assigned courses and join the conferences they are
# invited to; nothing about other people, and no roll-call tables (those are the officers'
# record of the supervisees; the README: "appears on the supervisee's record", the officers' page).
EXPECTED: dict[str, frozenset[str]] = {
    # one's own account
    "auth.logout": EVERYONE,
    "auth.change_password": EVERYONE,
    # studying: the learner's own home, player and study API
    "learn.home": ONLY_SUPERVISEE,
    "learn.player": ONLY_SUPERVISEE,
    "learn.api_start": ONLY_SUPERVISEE,
    "learn.api_heartbeat": ONLY_SUPERVISEE,
    "learn.api_confirm": ONLY_SUPERVISEE,
    "learn.api_resume": ONLY_SUPERVISEE,
    "learn.api_finish": ONLY_SUPERVISEE,
    "learn.api_progress": ONLY_SUPERVISEE,
    # course media: "Only staff and supervisees assigned to the course may fetch it"
    "media.course_file": EVERYONE,
    # compliance of the jurisdiction, one supervisee's record, course assignment, course list
    "officer.dashboard": STAFF,
    "officer.supervisee": STAFF,
    "officer.assign": STAFF,
    "officer.courses": STAFF,
    # what needs attention (issue 14): the people behind, open flags, conferences, VR and reminders
    # of the officer's subtree
    "attention.page": STAFF,
    # a unit's monthly compliance as XLSX, CSV or PDF (issue 14): staff, of their own subtree
    "reports.monthly": STAFF,
    # face enrolment by the officer, review of proctoring flags and their evidence
    "proctor.enrolment": STAFF,
    "proctor.enrol_upload": STAFF,
    "proctor.enrol_capture": STAFF,
    "proctor.flags": STAFF,
    "proctor.flag": STAFF,
    "proctor.evidence_image": STAFF,
    "proctor.review": STAFF,
    # a supervisee held by failed camera checks asks for an officer's review of their own hold;
    # staff clear the hold of a supervisee of their jurisdiction
    "proctor_standing.review_request": ONLY_SUPERVISEE,
    "proctor_standing.clear_hold": STAFF,
    # the organisation tree, the accounts, course upload
    "admin.units": ONLY_ADMIN,
    "admin.add_unit": ONLY_ADMIN,
    "admin.edit_unit": ONLY_ADMIN,
    "admin.delete_unit": ONLY_ADMIN,
    "admin.users": ONLY_ADMIN,
    "admin.new_user": ONLY_ADMIN,
    "admin.edit_user": ONLY_ADMIN,
    "admin.upload_course": ONLY_ADMIN,
    # conferences: everyone invited sees, joins, leaves and enters the room; staff schedule
    # and cancel (the host side)
    "conferences.index": EVERYONE,
    "conferences.detail": EVERYONE,
    "conferences.join": EVERYONE,
    "conferences.leave": EVERYONE,
    "conferences.room": EVERYONE,
    "conferences.new": STAFF,
    "conferences.cancel": STAFF,
    # roll-call attendance tables, overrides and exports: staff only
    "attendance.rollcall": STAFF,
    "attendance.override": STAFF,
    "attendance.export_csv": STAFF,
    "attendance.export_xlsx": STAFF,
    # a group education session's attendance and credit, and its exports: staff of the host unit and
    # of the units above it (tests/integration/test_education_sessions.py: 403 for an included level)
    "conferences.education": STAFF,
    "conferences.education_export_csv": STAFF,
    "conferences.education_export_xlsx": STAFF,
    # VR, officers' side: stations of the jurisdiction, scene assignments
    "vr.stations": STAFF,
    "vr.register_station": STAFF,
    "vr.revoke_station": STAFF,
    "vr.assign": STAFF,
    "vr.confirm_present": STAFF,
    "vr.cancel_assignment": STAFF,
    # people at scale (issue 14): staff import people into their subtree (the rows' checks decide
    # who may import whom), end a supervision, transfer and reset a supervisee's password, and read
    # and export the audit rows of their subtree
    "people.import_page": STAFF,
    "people.template_csv": STAFF,
    "people.template_xlsx": STAFF,
    "lifecycle.end_supervision": STAFF,
    "lifecycle.transfer": STAFF,
    "lifecycle.reset_password": STAFF,
    "audit.index": STAFF,
    "audit.export_csv": STAFF,
    "audit.export_xlsx": STAFF,
}

# Routes without a login, and why.
PUBLIC: dict[str, str] = {
    "auth.index": "redirects to the login page, or a signed-in user to their home; shows nothing",
    "auth.login": "the way in",
    "auth.set_language": "sets a cookie (and a signed-in user's own locale); CSRF-protected",
    "static": "the app's CSS, JS and vendored libraries: code, no data",
    "openapi.openapi_json": "the OpenAPI description of the JSON APIs (webapp/core/openapi.py): shapes, no data",
    # The VR station API: a program on a station, not a person, calls it. Its credential is the
    # station's bearer token, never a login (test_station_api_refuses_logins below checks that a
    # logged-in session of any role gets 401 without a token; tests/integration/test_vr_portal.py
    # covers the tokens and the station's own subtree).
    "vr_api.ping": "station token",
    "vr_api.assignments": "station token",
    "vr_api.checkin": "station token",
    "vr_api.checkin_challenge": "station token",
    "vr_api.post_session": "station token",
}
# Blueprints' static folders ("<blueprint>.static", Flask's own send_static_file view): JS and CSS
# beside the blueprint, no data. Only an endpoint of that name *and* that view is allowed.
STATIC_SUFFIX = ".static"

# The actors of the walk and their roles. admin_xh is created below: an administrator of a
# subunit (西湖区司法局), to check that an admin's reach ends at its own subtree.
ACTORS = {
    "anonymous": None,
    "admin": ADMIN,
    "admin_xh": ADMIN,
    "officer_bs": OFFICER,
    "officer_ly": OFFICER,
    "officer_xh": OFFICER,
    "zhangsan": SUPERVISEE,
}

# Conferences of the world: key -> (host unit, host officer, levels included, supervisees, title)
CONFERENCES = {
    "moj": ("司法部", "officer_moj", "2,3,4,5", True, "部级警示教育大会"),
    "hz": ("杭州市司法局", "officer_hz", "", False, "杭州市局内部例会"),
    "xh": ("西湖区司法局", "officer_xh", "5", True, "西湖区集中点验"),
    "bs": ("北山街道司法所", "officer_bs", "", True, "北山所月度点名"),
    "ly": ("灵隐街道司法所", "officer_ly", "", True, "灵隐所月度点名"),
    "my": ("梅园新村街道司法所", "officer_my", "", True, "梅园所月度点名"),
}
# The conferences held as group education sessions: those someone's walk opens from inside (the
# ministry's administrator may also see 梅园's and 杭州's, being above them: they have none, so
# the walk's "outside" 404 for him holds)
EDUCATION = ("moj", "xh", "bs", "ly")
# The people called in each conference's roll call (all of them in the host's subtree)
ROLL_CALLED = {"moj": ("zhangsan", "wangwu", "zhaoliu"), "xh": ("zhangsan", "wangwu"),
               "bs": ("zhangsan", "lisi"), "ly": ("wangwu",), "my": ("zhaoliu",)}
# Which conferences each actor may see (README: "visible only along its own chain of units"),
# worked out by hand from CONFERENCES: a conference is seen below its host, by the levels it includes.
SEES_CONFERENCES = {
    "admin": {"moj"},                       # the ministry is the host unit; nothing below invites it
    "admin_xh": {"moj", "xh"},              # district level included by the ministry; its own unit hosts xh
    "officer_bs": {"moj", "xh", "bs"},
    "officer_ly": {"moj", "xh", "ly"},
    "officer_xh": {"moj", "xh"},            # not hz: the city's meeting includes no level below
    "zhangsan": {"moj", "xh", "bs"},        # township supervisees invited by moj, xh and bs
}
STATIONS = {"bs": "北山所VR一号机", "ly": "灵隐所VR一号机", "my": "梅园所VR一号机",
            "hz": "杭州市局VR一号机"}   # hz: used by no route of the walk (which revokes stations)
STATION_TOKEN = "vrs_access-matrix-test-token"


# --- one app and one database for the module ---------------------------------------------------

@pytest.fixture(scope="module")
def app(request, database, tmp_path_factory):
    """Overrides tests/conftest.py's per-test app: the same set-up, once for the module (and
    once more on the other database engine)."""
    from webapp import create_app, migrate
    tmp = tmp_path_factory.mktemp("access")
    databases = database_factory_for(request, database, tmp / "instance")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("SECRET_KEY", raising=False)
        application = create_app({
            "INSTANCE_DIR": str(tmp / "instance"),
            "DATABASE_URL": databases.new("test"),
            "MEDIA_ROOT": str(tmp / "media"),
            "SECRET_KEY": "test-secret-key",
            "RATELIMIT_ENABLED": False,
            "SCHEDULER_ENABLED": False,
            "PROCTORING_REQUIRED": False,
        })
        migrate.upgrade(application.config["DATABASE_URL"])
        with application.app_context():
            from webapp.demo import load_demo
            load_demo(DEMO_PASSWORD)
        yield application
        application.extensions["db_engine"].dispose()
    databases.close()


def login(app, username: str | None) -> Client:
    client = Client(app.test_client())
    if username is None:
        client.token = csrf_from(client.c.get("/login").get_data(as_text=True))
        return client
    response = client.login(username)
    assert response.status_code == 302, f"login failed for {username}"
    client.refresh_token()
    return client


class World:
    def __init__(self, app):
        self.app = app
        self.engine = app.extensions["db_engine"]
        self.clients: dict[str, Client] = {}
        self.inside: dict[str, dict] = {}
        self.outside: dict[str, list[dict]] = {}

    def client(self, actor: str) -> Client:
        if actor not in self.clients:
            self.clients[actor] = login(self.app, None if actor == "anonymous" else actor)
        return self.clients[actor]

    def sql(self, query: str, **params) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query), params)]

    def one(self, query: str, **params):
        rows = self.sql(query, **params)
        assert len(rows) == 1, (query, params, rows)
        return rows[0][0]

    def unit_path(self, username: str) -> str:
        return self.one("SELECT o.path FROM app_user u JOIN org_unit o ON o.id = u.unit_id "
                        "WHERE u.username = :name", name=username)

    def supervisees(self, username: str) -> tuple[set[str], set[str]]:
        """Display names of supervisees inside / outside the subtree of username's unit (plain SQL)."""
        path = self.unit_path(username)
        rows = self.sql("SELECT u.display_name, substr(o.path, 1, length(:p)) = :p FROM app_user u "
                        "JOIN org_unit o ON o.id = u.unit_id WHERE u.role = 'supervisee'", p=path)
        return {name for name, inside in rows if inside}, {name for name, inside in rows if not inside}


@pytest.fixture(scope="module")
def world(app):
    w = World(app)
    with Session(w.engine) as db:
        def unit(name):
            return db.scalar(select(OrgUnit).where(OrgUnit.name == name))

        def person(name):
            return db.scalar(select(User).where(User.username == name))

        from webapp.core.security import hash_password
        db.add(User(username="admin_xh", display_name="西湖区管理员", role=Role.ADMIN,
                    unit_id=unit("西湖区司法局").id, password_hash=hash_password(DEMO_PASSWORD),
                    failed_logins=0, active=True))
        db.commit()
        assigned = make_course(app, db, slug="assigned", assign_to=("zhangsan", "lisi", "wangwu", "zhaoliu"))
        unassigned = make_course(app, db, slug="unassigned", assign_to=("wangwu",))
        assigned, unassigned = assigned.id, unassigned.id
        w.course_file = os.path.join(app.config["MEDIA_ROOT"], "assigned", "source.mp4")
        ids = {u.username: u.id for u in db.scalars(select(User))}
        units = {u.name: u.id for u in db.scalars(select(OrgUnit))}
        key_unit = {"moj": "司法部", "zj": "浙江省司法厅", "hz": "杭州市司法局", "xh": "西湖区司法局",
                    "bs": "北山街道司法所", "ly": "灵隐街道司法所", "my": "梅园新村街道司法所"}
        uid = {key: units[name] for key, name in key_unit.items()}

        sessions = {}
        for name in ("zhangsan", "wangwu"):
            response = w.client(name).api("/api/study/start", {"course_id": assigned})
            assert response.status_code == 200, response.get_data(as_text=True)
            sessions[name] = response.get_json()["session_id"]

        flags, evidence = {}, {}
        with app.app_context():   # a proctoring flag with an evidence snapshot per supervisee
            import numpy as np

            from webapp.core import db as webdb
            from webapp.models import Evidence
            from webapp.proctor.evidence import record_flag
            for name in ("zhangsan", "lisi", "wangwu", "zhaoliu"):
                flag = record_flag(webdb.session(), learner_id=ids[name], session_id=sessions.get(name),
                                   check_id=None, kind="identity_mismatch", at=time.time(),
                                   scores={"distance": 0.7}, frame_rgb=np.full((48, 64, 3), 128, np.uint8))
                flags[name] = flag.id
                evidence[name] = webdb.session().scalar(select(Evidence.id).where(Evidence.flag_id == flag.id))
            webdb.session().commit()

        start = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=2)
        confs, rollcalls, records = {}, {}, {}
        for key, (unit_name, host, levels, with_supervisees, title) in CONFERENCES.items():
            conf = Conference(host_unit_id=units[unit_name], host_officer_id=ids[host], title=title,
                              starts_at=start, duration_min=60, levels=levels,
                              include_supervisees=with_supervisees)
            db.add(conf)
            db.flush()
            confs[key] = conf.id
            if key in EDUCATION:
                db.add(EducationSession(conference_id=conf.id, topic=title))
            if key in ROLL_CALLED:
                call = RollCall(conference_id=conf.id, started_at=start)
                db.add(call)
                db.flush()
                rollcalls[key] = call.id
                for name in ROLL_CALLED[key]:
                    rec = AttendanceRecord(roll_call_id=call.id, user_id=ids[name], outcome=AttendanceOutcome.ABSENT)
                    db.add(rec)
                    db.flush()
                    records[key, name] = rec.id
        stations = {}
        for key, name in STATIONS.items():
            station = VrStation(name=name, unit_id=uid[key], token_hash=hashlib.sha256(
                f"{STATION_TOKEN}-{key}".encode()).hexdigest())
            db.add(station)
            db.flush()
            stations[key] = station.id
        vr = {}
        for name in ("zhangsan", "lisi", "wangwu", "zhaoliu"):
            assignment = VrAssignment(learner_id=ids[name], scene="prison")
            db.add(assignment)
            db.flush()
            vr[name] = assignment.id
        db.commit()

    w.ids, w.uid, w.confs, w.rollcalls, w.records = ids, uid, confs, rollcalls, records
    w.courses = {"assigned": assigned, "unassigned": unassigned}

    def conf_set(key, person):
        return {"conference_id": confs[key], "rollcall_id": rollcalls[key], "record_id": records[key, person]}

    def flag_set(person):
        return {"flag_id": flags[person], "evidence_id": evidence[person]}

    fixed = {"relpath": "source.mp4", "course_id": assigned, "session_id": sessions["zhangsan"], "fmt": "xlsx"}
    # Per actor: the values of every route argument for its own objects (inside), and the objects
    # outside its jurisdiction (each dict one consistent object: a conference with its roll call
    # and a record of it; a flag with its evidence).
    w.inside = {
        "admin": {**fixed, "unit_id": uid["bs"], "user_id": ids["zhaoliu"], **flag_set("zhaoliu"),
                  **conf_set("moj", "zhaoliu"), "station_id": stations["my"], "vr_assignment_id": vr["zhaoliu"]},
        "admin_xh": {**fixed, "unit_id": uid["bs"], "user_id": ids["zhangsan"], **flag_set("zhangsan"),
                     **conf_set("xh", "wangwu"), "station_id": stations["bs"], "vr_assignment_id": vr["zhangsan"]},
        "officer_bs": {**fixed, "unit_id": uid["bs"], "user_id": ids["zhangsan"], **flag_set("zhangsan"),
                       **conf_set("bs", "lisi"), "station_id": stations["bs"], "vr_assignment_id": vr["zhangsan"]},
        "officer_ly": {**fixed, "unit_id": uid["ly"], "user_id": ids["wangwu"], **flag_set("wangwu"),
                       **conf_set("ly", "wangwu"), "station_id": stations["ly"], "vr_assignment_id": vr["wangwu"]},
        "officer_xh": {**fixed, "unit_id": uid["xh"], "user_id": ids["wangwu"], **flag_set("lisi"),
                       **conf_set("xh", "zhangsan"), "station_id": stations["ly"], "vr_assignment_id": vr["lisi"]},
        # a supervisee's own things: the ids a leak would serve them
        "zhangsan": {**fixed, "unit_id": uid["bs"], "user_id": ids["zhangsan"], **flag_set("zhangsan"),
                     **conf_set("bs", "zhangsan"), "station_id": stations["bs"], "vr_assignment_id": vr["zhangsan"]},
    }
    w.inside["anonymous"] = w.inside["admin"]
    w.outside = {
        "admin": [{"conference_id": confs["my"]}, {"conference_id": confs["hz"]}],   # below, not invited
        "admin_xh": [{"unit_id": uid["hz"]}, {"unit_id": uid["my"]}, {"user_id": ids["officer_hz"]},
                     {"user_id": ids["zhaoliu"]}, flag_set("zhaoliu"), conf_set("my", "zhaoliu"),
                     {"conference_id": confs["hz"]}, {"station_id": stations["my"]},
                     {"vr_assignment_id": vr["zhaoliu"]}],
        "officer_bs": [{"user_id": ids["wangwu"]}, {"user_id": ids["zhaoliu"]}, flag_set("wangwu"),
                       conf_set("ly", "wangwu"), {"station_id": stations["ly"]}, {"vr_assignment_id": vr["wangwu"]}],
        "officer_ly": [{"user_id": ids["zhangsan"]}, flag_set("zhangsan"), conf_set("bs", "zhangsan"),
                       {"station_id": stations["bs"]}, {"vr_assignment_id": vr["lisi"]}],
        "officer_xh": [{"user_id": ids["zhaoliu"]}, flag_set("zhaoliu"), conf_set("my", "zhaoliu"),
                       {"conference_id": confs["hz"]}, {"station_id": stations["my"]},
                       {"vr_assignment_id": vr["zhaoliu"]}],
        "zhangsan": [{"course_id": unassigned}, {"session_id": sessions["wangwu"]},
                     conf_set("ly", "wangwu"), {"conference_id": confs["hz"]}],
    }
    w.flags, w.evidence, w.stations, w.vr, w.sessions = flags, evidence, stations, vr, sessions
    return w


# --- what an allowed GET must show ------------------------------------------------------------

def names_of_units_under(world, username):
    path = world.unit_path(username)
    rows = world.sql("SELECT name, substr(path, 1, length(:p)) = :p FROM org_unit", p=path)
    return {n for n, inside in rows if inside}, {n for n, inside in rows if not inside}


def expected_content(world, actor, endpoint, values) -> tuple[list[str], list[str]]:
    """(must appear, must not appear) on an allowed GET, computed from raw rows."""
    one = world.one
    display = "SELECT display_name FROM app_user WHERE id = :id"
    if endpoint == "auth.change_password":
        return ['name="current"', 'name="new"'], []
    if endpoint == "learn.home":
        titles = world.sql("SELECT c.title, EXISTS (SELECT 1 FROM assignment a JOIN app_user u ON u.id = a.learner_id "
                           "WHERE a.course_id = c.id AND u.username = :me) FROM course c", me=actor)
        return [t for t, mine in titles if mine], [t for t, mine in titles if not mine]
    if endpoint == "learn.player":
        return [one("SELECT title FROM course WHERE id = :id", id=values["course_id"])], []
    if endpoint == "learn.api_progress":
        return ['"credited_s"', '"coverage_share"'], []
    if endpoint == "officer.dashboard":
        inside, outside = world.supervisees(actor)
        return sorted(inside), sorted(outside)
    if endpoint in ("officer.supervisee", "proctor.enrolment"):
        return [one(display, id=values["user_id"])], []
    if endpoint == "attention.page":      # open flags of the subtree's people listed; no one from outside
        inside, outside = world.supervisees(actor)
        flagged = {n for (n,) in world.sql("SELECT u.display_name FROM proctor_flag f JOIN app_user u "
                                           "ON u.id = f.learner_id WHERE f.status = 'open'")}
        return sorted(inside & flagged), sorted(outside)
    if endpoint == "reports.monthly":      # the XLSX's people sheet: the subtree's supervisees, no one else
        inside, outside = world.supervisees(actor)
        return sorted(inside), sorted(outside)
    if endpoint == "officer.courses":
        return [t for (t,) in world.sql("SELECT title FROM course")], []
    if endpoint == "proctor.flags":
        inside, outside = world.supervisees(actor)
        flagged = {n for (n,) in world.sql("SELECT u.display_name FROM proctor_flag f JOIN app_user u "
                                           "ON u.id = f.learner_id WHERE f.status = 'open'")}
        return sorted(inside & flagged), sorted(outside)
    if endpoint == "proctor.flag":
        return [one("SELECT u.display_name FROM proctor_flag f JOIN app_user u ON u.id = f.learner_id "
                    "WHERE f.id = :id", id=values["flag_id"])], []
    if endpoint == "admin.units":
        inside, outside = names_of_units_under(world, actor)
        return sorted(inside), sorted(outside)
    if endpoint == "admin.users":
        path = world.unit_path(actor)
        rows = world.sql("SELECT u.display_name, substr(o.path, 1, length(:p)) = :p FROM app_user u "
                         "JOIN org_unit o ON o.id = u.unit_id", p=path)
        return [n for n, i in rows if i], [n for n, i in rows if not i]
    if endpoint == "admin.edit_user":
        return [one("SELECT username FROM app_user WHERE id = :id", id=values["user_id"])], []
    if endpoint == "admin.new_user":
        return ['name="username"', 'name="unit_id"'], []
    if endpoint == "admin.upload_course":
        return ['name="manifest"', 'name="media"'], []
    if endpoint == "conferences.index":
        seen = SEES_CONFERENCES[actor]
        return ([CONFERENCES[k][4] for k in sorted(seen)],
                [CONFERENCES[k][4] for k in sorted(set(CONFERENCES) - seen)])
    if endpoint in ("conferences.detail", "conferences.room"):
        return [one("SELECT title FROM conference WHERE id = :id", id=values["conference_id"])], []
    if endpoint == "conferences.new":
        return ['name="title"', 'name="starts_at"'], []
    if endpoint == "conferences.education":
        return [one("SELECT title FROM conference WHERE id = :id", id=values["conference_id"])], []
    if endpoint in ("conferences.education_export_csv", "conferences.education_export_xlsx"):
        return ["计入学时（分钟）"], []
    if endpoint.startswith("attendance."):
        return rollcall_names(world, actor, values["conference_id"], values["rollcall_id"])
    if endpoint == "people.import_page":
        return ['name="file"', "身份证号"], []
    if endpoint == "people.template_csv":
        return ["姓名,用户名,身份证号,手机号,所属单位,角色"], []
    if endpoint == "people.template_xlsx":      # the template lists the units of the actor's subtree
        inside, outside = names_of_units_under(world, actor)
        return ["身份证号"] + sorted(inside), sorted(outside)
    if endpoint == "audit.index":
        return ['id="audit-filters"', 'name="supervisee"'], []
    if endpoint in ("audit.export_csv", "audit.export_xlsx"):
        return ["操作人", "操作人用户名"], []
    if endpoint == "vr.stations":
        path = world.unit_path(actor)
        rows = world.sql("SELECT s.name, substr(o.path, 1, length(:p)) = :p FROM vr_station s "
                         "JOIN org_unit o ON o.id = s.unit_id", p=path)
        return [n for n, i in rows if i], [n for n, i in rows if not i]
    raise AssertionError(f"no expected content written for GET {endpoint}")


def rollcall_names(world, actor, conference_id, rollcall_id) -> tuple[list[str], list[str]]:
    """The host side (the host officer, the host unit's staff) sees every row; another officer only
    the rows of people in his unit's subtree (webapp/conferences/attendance_views.py docstring)."""
    host_unit, host_officer = world.sql("SELECT host_unit_id, host_officer_id FROM conference WHERE id = :id",
                                        id=conference_id)[0]
    me_id, my_unit = world.sql("SELECT id, unit_id FROM app_user WHERE username = :n", n=actor)[0]
    path = world.unit_path(actor)
    rows = world.sql("SELECT u.display_name, substr(o.path, 1, length(:p)) = :p FROM attendance_record r "
                     "JOIN app_user u ON u.id = r.user_id JOIN org_unit o ON o.id = u.unit_id "
                     "WHERE r.roll_call_id = :rc", p=path, rc=rollcall_id)
    if host_officer == me_id or host_unit == my_unit:
        return [n for n, _i in rows], []
    return [n for n, i in rows if i], [n for n, i in rows if not i]


XLSX_BODIES = {"attendance.export_xlsx", "conferences.education_export_xlsx", "audit.export_xlsx", "people.template_xlsx", "reports.monthly"}
CSV_BODIES = {"attendance.export_csv", "conferences.education_export_csv", "audit.export_csv", "people.template_csv"}


def body_text(endpoint, response) -> str:
    if endpoint in XLSX_BODIES:
        from openpyxl import load_workbook
        book = load_workbook(io.BytesIO(response.get_data()))
        return "\n".join(str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                         for cell in row)
    if endpoint in CSV_BODIES:
        return response.get_data().decode("utf-8-sig")
    return response.get_data(as_text=True)


def check_content(world, actor, endpoint, values, response) -> str | None:
    """None when an allowed GET answered what it should; else what is wrong."""
    if response.status_code != 200:
        return f"status {response.status_code}, expected 200"
    if endpoint == "media.course_file":
        with open(world.course_file, "rb") as fh:
            return None if response.get_data() == fh.read() else "not the course's file"
    if endpoint == "proctor.evidence_image":
        data = response.get_data()
        return None if data.startswith(b"\xff\xd8\xff") and response.mimetype == "image/jpeg" else "not a JPEG"
    must, must_not = expected_content(world, actor, endpoint, values)
    page = body_text(endpoint, response)
    missing = [s for s in must if s not in page]
    leaked = [s for s in must_not if s in page]
    if missing or leaked:
        return f"missing {missing}, leaked {leaked}"
    return None


# --- the walk ------------------------------------------------------------------------------------

def is_blueprint_static(app, endpoint: str) -> bool:
    view = app.view_functions[endpoint]
    return endpoint.endswith(STATIC_SUFFIX) and getattr(view, "__name__", "") == "send_static_file"


def is_public(app, endpoint: str) -> bool:
    return endpoint in PUBLIC or is_blueprint_static(app, endpoint)


def walked(app):
    """Every (rule, method) of a non-public route, logout last (it ends the walking session)."""
    rules = sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint == "auth.logout", r.endpoint, r.rule))
    for rule in rules:
        if is_public(app, rule.endpoint) or rule.endpoint == "auth.logout":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def url(app, rule, values) -> str:
    with app.test_request_context():
        from flask import url_for
        return url_for(rule.endpoint, **{arg: values[arg] for arg in rule.arguments})


def variants(rule, inside: dict, outside: list[dict]):
    """("inside", values) first; then, for each outside object touching the rule's arguments,
    the object whole and, where it spans several arguments, each of its ids mixed with inside ones."""
    yield "inside", dict(inside)
    seen = set()
    for obj in outside:
        part = {k: v for k, v in obj.items() if k in rule.arguments}
        if not part:
            continue
        mixes = [part] + ([{k: v} for k, v in part.items()] if len(part) > 1 else [])
        for mix in mixes:
            key = tuple(sorted(mix.items()))
            if key not in seen:
                seen.add(key)
                yield "outside " + ",".join(f"{k}={v}" for k, v in sorted(mix.items())), {**inside, **mix}


def send(client: Client, method: str, path: str):
    if method == "GET":
        return client.c.get(path)
    if path.startswith("/api/"):
        return client.api(path, {})
    return client.c.post(path, data={"csrf_token": client.token or ""})


def to_login(response) -> bool:
    return response.status_code == 302 and response.headers.get("Location", "").split("?")[0].endswith("/login")


def test_every_route_is_in_the_table(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    unlisted = sorted(e for e in endpoints if e not in EXPECTED and not is_public(app, e))
    assert not unlisted, f"routes with no written answer (add them to EXPECTED or PUBLIC): {unlisted}"
    gone = sorted((set(EXPECTED) | set(PUBLIC)) - endpoints)
    assert not gone, f"the table names routes the app no longer has: {gone}"
    assert not set(EXPECTED) & set(PUBLIC)
    statics = sorted(e for e in endpoints if e.endswith(STATIC_SUFFIX))
    assert statics and all(is_blueprint_static(app, e) for e in statics), statics


def test_public_routes_answer_without_login(app, world):
    client = world.client("anonymous")
    assert client.c.get("/login").status_code == 200
    assert to_login(client.c.get("/"))
    answer = client.c.post("/lang/en", data={"csrf_token": client.token, "next": "/login"})
    assert answer.status_code == 302 and "lang=en" in answer.headers["Set-Cookie"]
    client.c.delete_cookie("lang")
    assert client.c.get("/static/css/site.css").status_code == 200
    described = client.c.get("/api/openapi.json")
    assert described.status_code == 200 and described.get_json()["openapi"].startswith("3.")
    for rule in app.url_map.iter_rules():
        if is_blueprint_static(app, rule.endpoint):
            folder = app.blueprints[rule.endpoint.rsplit(".", 1)[0]].static_folder
            name = next(os.path.relpath(os.path.join(d, f), folder) for d, _s, fs in os.walk(folder) for f in fs)
            with app.test_request_context():
                from flask import url_for
                path = url_for(rule.endpoint, filename=name)
            assert client.c.get(path).status_code == 200, path


def test_access_matrix(app, world):
    failures, checked = [], 0
    for actor, role in ACTORS.items():
        client = world.client(actor)
        inside, outside = world.inside[actor], world.outside.get(actor, [])
        for rule, method in walked(app):
            allowed = role in EXPECTED[rule.endpoint]
            for label, values in (variants(rule, inside, outside) if allowed else [("inside", inside)]):
                path = url(app, rule, values)
                response = send(client, method, path)
                status = response.status_code
                checked += 1
                problem = None
                if actor == "anonymous":
                    if not (status == 401 if path.startswith("/api/") else to_login(response)):
                        problem = "anonymous not sent to the login"
                elif not allowed:
                    if status not in (403, 404):
                        problem = f"{role} must be refused"
                elif label != "inside":
                    if status != 404:
                        problem = "outside the jurisdiction must answer 404"
                elif status in (401, 403, 404, 405) or status >= 500 or to_login(response):
                    problem = "allowed, but refused"
                elif method == "GET":
                    wrong = check_content(world, actor, rule.endpoint, values, response)
                    problem = f"content: {wrong}" if wrong else None
                if problem:
                    failures.append(f"{actor:10} {method:4} {path} [{rule.endpoint}, {label}] -> {status}: {problem}")
    assert checked > 300, checked
    assert not failures, f"{len(failures)} of {checked} requests wrong:\n" + "\n".join(failures)


# --- listings and record pages against plain SQL ---------------------------------------------------

OFFICERS = ["officer_moj", "officer_zj", "officer_hz", "officer_xh", "officer_bs", "officer_ly", "officer_my"]


@pytest.mark.parametrize("officer", OFFICERS)
def test_dashboard_lists_exactly_the_supervisees_of_the_subtree(app, world, officer):
    inside, outside = world.supervisees(officer)
    page = world.client(officer).c.get("/officer/")
    assert page.status_code == 200
    table = page.get_data(as_text=True).split('id="compliance"', 1)[1]
    assert inside and inside | outside == {"张三", "李四", "王五", "赵六"}
    assert all(name in table for name in inside), (officer, inside)          # every one of the subtree ...
    assert not [name for name in outside if name in table], (officer, outside)   # ... and no other


def test_officer_xh_dashboard_lists_both_townships(app, world):
    """The district officer sees the supervisees of 北山 and 灵隐, not 梅园 (a hand-written
    check of the SQL-computed sets above)."""
    inside, outside = world.supervisees("officer_xh")
    assert inside == {"张三", "李四", "王五"} and outside == {"赵六"}
    table = world.client("officer_xh").c.get("/officer/").get_data(as_text=True).split('id="compliance"', 1)[1]
    assert all(n in table for n in ("张三", "李四", "王五")) and "赵六" not in table


def test_dashboard_unit_filter(app, world):
    client = world.client("officer_xh")
    table = client.c.get(f"/officer/?unit={world.uid['bs']}").get_data(as_text=True).split('id="compliance"', 1)[1]
    assert "张三" in table and "李四" in table and "王五" not in table
    assert client.c.get(f"/officer/?unit={world.uid['my']}").status_code == 404      # another district
    assert client.c.get(f"/officer/?unit={world.uid['hz']}").status_code == 404      # above its own unit
    assert client.c.get("/officer/?unit=abc").status_code == 400
    assert world.client("officer_bs").c.get(f"/officer/?unit={world.uid['ly']}").status_code == 404


def test_officer_bs_opens_zhangsans_record(app, world):
    client = world.client("officer_bs")
    page = client.c.get(f"/officer/supervisee/{world.ids['zhangsan']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "张三" in html and "课程 assigned" in html
    assert client.c.get(f"/officer/supervisee/{world.ids['wangwu']}").status_code == 404   # 灵隐
    assert client.c.get(f"/officer/supervisee/{world.ids['zhaoliu']}").status_code == 404  # another province
    assert client.c.get(f"/officer/supervisee/{world.ids['officer_bs']}").status_code == 404  # not a supervisee


def test_rollcall_seen_from_below_the_host_shows_only_the_subtree(app, world):
    """officer_bs is called into the ministry's conference but is not its host side: the table and
    both exports show 北山's rows only; the override stays with the host side (403)."""
    conf, call = world.confs["moj"], world.rollcalls["moj"]
    client = world.client("officer_bs")
    base = f"/conferences/{conf}/rollcalls/{call}"
    for suffix in ("", "/export.csv", "/export.xlsx"):
        response = client.c.get(base + suffix)
        assert response.status_code == 200, suffix
        page = body_text({"": "attendance.rollcall", "/export.csv": "attendance.export_csv",
                          "/export.xlsx": "attendance.export_xlsx"}[suffix], response)
        assert "张三" in page and "王五" not in page and "赵六" not in page, suffix
    record = world.records["moj", "zhangsan"]
    answer = client.c.post(f"{base}/records/{record}/override",
                           data={"csrf_token": client.token, "outcome": "present_verified", "reason": "x"})
    assert answer.status_code == 403
    assert world.one("SELECT overridden_outcome FROM attendance_record WHERE id = :id", id=record) is None
    # and the host side sees everyone
    admin_page = world.client("admin").c.get(base + "/export.csv").get_data().decode("utf-8-sig")
    assert all(name in admin_page for name in ("张三", "王五", "赵六"))


def test_admin_of_a_subunit_stays_in_its_subtree(app, world):
    client = world.client("admin_xh")
    assert client.c.get(f"/admin/users/{world.ids['officer_hz']}").status_code == 404   # the unit above
    assert client.c.get(f"/admin/users/{world.ids['admin']}").status_code == 404
    assert client.c.get(f"/admin/users/{world.ids['zhaoliu']}").status_code == 404
    page = client.c.get(f"/admin/users/{world.ids['wangwu']}")
    assert page.status_code == 200 and "wangwu" in page.get_data(as_text=True)
    for unit in ("hz", "zj", "moj", "my"):
        answer = client.c.post(f"/admin/units/{world.uid[unit]}/edit",
                               data={"csrf_token": client.token, "name": "改名"})
        assert answer.status_code == 404, unit
    assert world.one("SELECT count(*) FROM org_unit WHERE name = '改名'") == 0
    # creating an account in a unit outside its subtree is refused, nothing is written
    answer = client.c.post("/admin/users/new", data={
        "csrf_token": client.token, "username": "intruder", "display_name": "越权", "role": "officer",
        "unit_id": world.uid["my"], "officer_id": 0, "password": "Another-Pass-2026!", "active": "y"})
    assert answer.status_code in (400, 404)
    assert world.one("SELECT count(*) FROM app_user WHERE username = 'intruder'") == 0


def test_ids_in_forms_and_query_strings_stay_in_the_subtree(app, world):
    """Ids that come in a form field or a query string, not the path: outside ones change nothing."""
    bs = world.client("officer_bs")
    count = "SELECT count(*) FROM vr_station WHERE name = :n"
    answer = bs.c.post("/officer/vr/stations", data={"csrf_token": bs.token, "name": "越权VR", "unit_id": world.uid["ly"]})
    assert answer.status_code == 400 and world.one(count, n="越权VR") == 0
    answer = bs.c.post("/officer/vr/stations", data={"csrf_token": bs.token, "name": "本所VR", "unit_id": world.uid["bs"]})
    assert answer.status_code == 201 and world.one(count, n="本所VR") == 1
    assert bs.c.get(f"/officer/flags?learner={world.ids['wangwu']}").status_code == 404
    flags = bs.c.get(f"/officer/flags?learner={world.ids['zhangsan']}&status=all").get_data(as_text=True)
    assert f"/officer/flags/{world.flags['zhangsan']}" in flags and f"/officer/flags/{world.flags['lisi']}" not in flags
    # a supervisee cannot start a sitting of a course not assigned to them
    me = world.client("zhangsan")
    assert me.api("/api/study/start", {"course_id": world.courses["unassigned"]}).status_code == 404
    # an admin of a subunit cannot put an account under an officer or a unit outside its subtree
    admin = world.client("admin_xh")
    form = {"csrf_token": admin.token, "display_name": "新对象", "role": "supervisee", "password": "Another-Pass-2026!",
            "active": "y"}
    answer = admin.c.post("/admin/users/new", data={**form, "username": "newbie1", "unit_id": world.uid["bs"],
                                                    "officer_id": world.ids["officer_my"]})
    assert answer.status_code == 400
    answer = admin.c.post(f"/admin/users/{world.ids['lisi']}", data={
        **form, "username": "lisi", "display_name": "李四", "unit_id": world.uid["my"],
        "officer_id": world.ids["officer_my"]})
    assert answer.status_code in (400, 404)
    assert world.one("SELECT o.name FROM app_user u JOIN org_unit o ON o.id = u.unit_id WHERE u.username = 'lisi'") \
        == "北山街道司法所"
    assert world.one("SELECT count(*) FROM app_user WHERE username = 'newbie1'") == 0


def test_audit_rows_imports_and_transfers_stay_in_the_subtree(app, world):
    """Audit rows of 北山, 灵隐, 梅园 and of no unit, and who reads which (written by hand: a
    township its own, the district both of its townships, an admin of a subunit its subtree, the
    top-level admin everything). An import into, or a transfer to, a unit outside the officer's
    subtree changes nothing."""
    markers = {"bs": "审计标记-北山", "ly": "审计标记-灵隐", "my": "审计标记-梅园", None: "审计标记-无单位"}
    with world.engine.begin() as conn:
        for key, marker in markers.items():
            conn.execute(text("INSERT INTO audit_log (action, target, detail, ip, at, unit_id) "
                              "VALUES ('matrix_marker', '', :d, '', :t, :u)"),
                         {"d": marker, "t": datetime.now(UTC).replace(tzinfo=None),
                          "u": world.uid[key] if key else None})
    sees = {"admin": {"bs", "ly", "my", None}, "admin_xh": {"bs", "ly"}, "officer_xh": {"bs", "ly"},
            "officer_bs": {"bs"}, "officer_ly": {"ly"}}
    for actor, keys in sees.items():
        for path in ("/officer/audit?action=matrix_marker", "/officer/audit/export.csv?action=matrix_marker"):
            page = world.client(actor).c.get(path).get_data().decode("utf-8-sig")
            assert {k for k, marker in markers.items() if marker in page} == keys, (actor, path)
    bs = world.client("officer_bs")
    rows = ("姓名,用户名,身份证号,手机号,所属单位,角色,负责工作人员,初始密码\n"
            f"越权,intruder2,11010519491231002X,,{world.uid['ly']},矫正对象,,\n")
    answer = bs.c.post("/officer/people/import", content_type="multipart/form-data",
                       data={"csrf_token": bs.token, "file": (io.BytesIO(rows.encode()), "people.csv")})
    assert answer.status_code == 400
    assert world.one("SELECT count(*) FROM app_user WHERE username = 'intruder2'") == 0
    bs.c.post(f"/officer/supervisee/{world.ids['zhangsan']}/transfer",
              data={"csrf_token": bs.token, "unit_id": world.uid["ly"]})
    assert world.one("SELECT unit_id FROM app_user WHERE username = 'zhangsan'") == world.uid["bs"]
    assert world.one("SELECT count(*) FROM unit_transfer") == 0


def test_station_api_refuses_logins(app, world):
    """The VR API (public in the table: no login) answers 401 to every logged-in role without a
    station token, and serves a station with one."""
    for actor in ("admin", "officer_bs", "zhangsan"):
        client = world.client(actor)
        for method, path in (("GET", "/api/vr/v1/ping"), ("GET", "/api/vr/v1/assignments"),
                             ("POST", "/api/vr/v1/checkin"), ("POST", "/api/vr/v1/sessions")):
            response = client.c.get(path) if method == "GET" else client.api(path, {})
            assert response.status_code == 401, (actor, path, response.status_code)
    station = world.client("anonymous").c.get(
        "/api/vr/v1/ping", headers={"Authorization": f"Bearer {STATION_TOKEN}-hz"})
    assert station.status_code == 200 and station.get_json()["station"]["name"] == STATIONS["hz"]


@pytest.mark.parametrize("actor", [a for a in ACTORS if a != "anonymous"])
def test_logout_ends_the_session(app, world, actor):
    client = world.client(actor)
    assert to_login(client.c.post("/logout", data={"csrf_token": client.token}))
    assert to_login(client.c.get("/account/password"))
    world.clients.pop(actor)
