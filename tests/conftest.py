"""Shared fixtures: a real app on a real database, migrated with Alembic, with demo data.

The database is a parameter: every test that takes `app` (or `db_url`, `database`) runs on a SQLite
file and, in the integration modules of ON_POSTGRESQL below, once more on a fresh database of a
throw-away PostgreSQL cluster that the run starts once (tests/pg.py). Test ids end in [sqlite] or
[postgresql]. TEST_DATABASES=sqlite leaves PostgreSQL out (no cluster is started);
TEST_DATABASES=postgresql runs the modules of ON_POSTGRESQL on PostgreSQL only.
"""
from __future__ import annotations

import json
import os
import re
import types
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from webapp import create_app
from webapp import migrate
from webapp.models import Assignment, Category, Course, User

DEMO_PASSWORD = "Demo-Pass-2026"

# Camera proctoring on, with checks fast enough for a test: samples 3/s, absence after 3 s,
# the first identity check (with its liveness challenge) at once and the next ones far away,
# no liveness on scheduled checks, no breakpoints. Challenges are drawn from the head movements
# (yaw and pitch): a test client can render those from a real photo (sample_faces.turn / nod),
# not a blink.
FAST_PROCTORING = {
    "PROCTORING_REQUIRED": True,
    "CAMERA_SAMPLE_FPS": 3.0, "CAMERA_BURST_FPS": 8.0,
    "PRESENCE_GRACE_S": 3.0, "PRESENCE_ATTEST_EVERY_S": 2.0, "CHECK_TIMEOUT_S": 4.0,
    "IDENTITY_MEAN_S": 600.0, "IDENTITY_MIN_S": 600.0, "IDENTITY_MAX_S": 600.0, "LIVENESS_SHARE": 0.0,
    "LIVENESS_ACTIONS": "turn_left,turn_right,look_up,look_down,open_mouth", "LIVENESS_WINDOW_S": 3.0,
    # the test clients loop a few frames, which is what a looped feed is: tests that check
    # the feed turn it on with live-like feeds
    "FEED_CHECK": False,
    "BREAKPOINT_MIN_S": 900.0, "BREAKPOINT_MEAN_S": 900.0, "BREAKPOINT_MAX_S": 900.0,
}


# --- the databases --------------------------------------------------------------------------------

DATABASES = ("sqlite", "postgresql")
INTEGRATION = Path(__file__).parent / "integration"
# The integration modules that run on PostgreSQL too: those whose point is the database (the
# ledger's read-modify-writes, jurisdiction queries, accounts, conferences and attendance, VR
# credit, the migrations, the real server's start-up with its job store). The others run on
# SQLite only: their subject is media (WebRTC engine and rooms, roll calls over WebRTC, the camera
# pipeline, Range requests, nginx, the course builder), whose minutes would double with no new
# database work (the README's test section says the same).
ON_POSTGRESQL = {
    "test_access_matrix.py", "test_admin_officer.py", "test_attention.py", "test_attendance.py", "test_compliance_pages.py", "test_compliance_reports.py", "test_auth.py", "test_auth_findings.py",
    "test_conferences.py", "test_education_credit.py", "test_education_sessions.py", "test_enrolment_review.py", "test_hardening.py", "test_migrations.py", "test_people.py",
    "test_proctor_standing.py", "test_server_starts.py", "test_socket_heartbeats.py",
    "test_study_api.py", "test_vr_portal.py", "test_write_transaction.py",
}


def chosen_databases() -> tuple[str, ...]:
    """TEST_DATABASES: the engines to run on (default: both)."""
    chosen = tuple(d.strip() for d in os.environ.get("TEST_DATABASES", ",".join(DATABASES)).split(",") if d.strip())
    unknown = set(chosen) - set(DATABASES)
    if unknown or not chosen:
        raise pytest.UsageError(f"TEST_DATABASES={os.environ.get('TEST_DATABASES')!r}: use some of {DATABASES}")
    return chosen


def databases_for(path: Path) -> list[str]:
    """The engines a test module runs on."""
    both = path.parent == INTEGRATION and path.name in ON_POSTGRESQL
    return [d for d in chosen_databases() if both or d == "sqlite"] or ["sqlite"]


def pytest_generate_tests(metafunc):
    if "database" in metafunc.fixturenames:
        # scope="module": each module runs all its tests on one engine, then on the next
        metafunc.parametrize("database", databases_for(Path(metafunc.definition.path)),
                             indirect=True, scope="module")


@pytest.fixture(scope="module")
def database(request) -> str:
    """The engine this test runs on: "sqlite" or "postgresql" (parametrized above)."""
    return request.param


@pytest.fixture(scope="session")
def postgres():
    """The run's PostgreSQL server: a throw-away cluster (tests/pg.py) started by the first test that
    needs it, or a server of your own named by TEST_POSTGRESQL_URL (a database URL whose user may
    create databases, e.g. postgresql+psycopg://postgres@localhost/postgres)."""
    from tests.pg import Cluster, ExternalServer
    own = os.environ.get("TEST_POSTGRESQL_URL")
    with (ExternalServer(own) if own else Cluster()) as server:
        try:
            yield server
        finally:
            server.finish_background()
            if getattr(server, "head_template", None):
                server.drop_database(server.head_template)


class DatabaseFactory:
    """Fresh, empty-or-migrated databases of one engine; `new()` returns a URL."""

    def __init__(self, database: str, folder: Path, cluster=None):
        self.database = database
        self.folder = folder
        self.cluster = cluster
        self.made: list[str] = []

    def new(self, name: str = "test", empty: bool = False) -> str:
        """A fresh database for the caller to migrate (migrate.upgrade). SQLite: a new file.
        PostgreSQL: a new database, copied from a template migrated to head once per run (the
        caller's upgrade finds nothing to do), or with `empty`, a new empty one."""
        if self.database == "sqlite":
            self.folder.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{self.folder / name}.db"
        url = self.cluster.create_database() if empty else self.cluster.copy_of(_postgres_template(self.cluster))
        self.made.append(url)
        return url

    def close(self) -> None:
        for url in self.made:
            self.cluster.drop_later(url)
        self.made.clear()


def _postgres_template(cluster) -> str:
    """A database migrated to head once per run, copied for each test (saves the 0.5 s of
    migrations a test; the copy itself is made in the background, tests/pg.py)."""
    if getattr(cluster, "head_template", None) is None:
        url = cluster.create_database()
        migrate.upgrade(url)
        cluster.head_template = make_url(url).database
    return cluster.head_template


def database_factory_for(request, database: str, folder: Path) -> DatabaseFactory:
    """A DatabaseFactory for `database` (a fixture of any scope calls this and closes it)."""
    return DatabaseFactory(database, folder, request.getfixturevalue("postgres") if database == "postgresql" else None)


@pytest.fixture
def database_factory(request, database, tmp_path):
    """Makes fresh databases of this test's engine (dropped after the test)."""
    factory = database_factory_for(request, database, tmp_path / "instance")
    yield factory
    factory.close()


@pytest.fixture
def db_url(database_factory) -> str:
    """The URL of a fresh database for this test (SQLite: instance/test.db)."""
    return database_factory.new("test")


@pytest.fixture
def app(tmp_path, monkeypatch, db_url):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    application = create_app({
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": db_url,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "SECRET_KEY": "test-secret-key",
        "RATELIMIT_ENABLED": False,
        "SCHEDULER_ENABLED": False,
        "PROCTORING_REQUIRED": False,   # the camera tests turn it on
    })
    migrate.upgrade(application.config["DATABASE_URL"])
    with application.app_context():
        from webapp.demo import load_demo
        load_demo(DEMO_PASSWORD)
    yield application
    application.extensions["db_engine"].dispose()


@pytest.fixture
def db(app):
    """A session of the test's own, outside any app context: a pushed app context
    would be shared by every request of the test client (and with it flask.g)."""
    from sqlalchemy.orm import Session
    with Session(app.extensions["db_engine"]) as session:
        yield session


def user(db, username: str) -> User:
    return db.scalar(select(User).where(User.username == username))


def make_course(app, db, slug="test-course", duration=120.0, assign_to=("zhangsan",)) -> Course:
    """A course row with small placeholder media files (no transcoding): for API and
    range tests. Tests that need real video use the sample_course fixture instead."""
    folder = app.config["MEDIA_ROOT"] + f"/{slug}"
    import os
    os.makedirs(folder + "/v360", exist_ok=True)
    with open(folder + "/source.mp4", "wb") as fh:
        fh.write(bytes(range(256)) * 400)  # 102,400 bytes with a known pattern
    with open(folder + "/master.m3u8", "w") as fh:
        fh.write("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nv360/index.m3u8\n")
    with open(folder + "/v360/index.m3u8", "w") as fh:
        fh.write("#EXTM3U\n#EXT-X-ENDLIST\n")
    course = Course(slug=slug, title=f"课程 {slug}", category=Category.LAW, description="",
                    duration_s=duration, master_playlist="master.m3u8", source_file="source.mp4",
                    renditions_json=json.dumps([]))
    db.add(course)
    db.flush()
    for username in assign_to:
        db.add(Assignment(learner_id=user(db, username).id, course_id=course.id))
    db.commit()
    return course


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or \
        re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Client:
    """A test client that logs in through the real form and sends the CSRF header."""

    def __init__(self, flask_client):
        self.c = flask_client
        self.token = None

    def login(self, username: str, password: str = DEMO_PASSWORD):
        page = self.c.get("/login")
        return self.c.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf_from(page.get_data(as_text=True))})

    def refresh_token(self):
        self.token = csrf_from(self.c.get("/account/password").get_data(as_text=True))

    def api(self, path: str, body=None):
        return self.c.post(path, json=body if body is not None else {}, headers={"X-CSRFToken": self.token or ""})

    def __getattr__(self, name):
        return getattr(self.c, name)


@pytest.fixture
def client_for(app):
    def make(username: str | None = None) -> Client:
        client = Client(app.test_client())
        if username:
            response = client.login(username)
            assert response.status_code == 302, f"login failed for {username}"
            client.refresh_token()
        return client
    return make


class Clock:
    """Replaces time.time() in the study API (HTTP and Socket.IO) so tests control the server clock."""

    def __init__(self, start: float = 1_780_000_000.0):
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    import webapp.study.sockets
    import webapp.study.views
    for module in (webapp.study.views, webapp.study.sockets):
        monkeypatch.setattr(module, "time", types.SimpleNamespace(time=fake.time))
    return fake


@pytest.fixture(scope="session")
def janus_server(tmp_path_factory):
    """A private Janus (deploy/janus_server.py: its own config folder, HTTP port, secrets),
    started inside the test network namespace (the WebRTC tests run under
    scripts/in-netns.sh); the Debian package `janus` must be installed
    (scripts/install-system-deps.sh --test)."""
    from deploy.janus_server import JanusServer
    server = JanusServer(tmp_path_factory.mktemp("janus"), rtp_port_range=(30000, 34000)).start()
    yield server
    server.stop()
