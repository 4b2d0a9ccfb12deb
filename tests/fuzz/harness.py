"""The fuzzers' live portal and their two drivers, shared by tests/fuzz and `python -m bench.fuzz`.

* `live_portal(work, database_url)`: a throw-away instance (a migrated database, SQLite in `work`
  unless a URL is given; the demo data with bench.media's password, a course, zhangsan's face
  enrolment and a failed check on his record, a conference of another district, a VR station of
  北山 with a known token, a revoked one, VR assignments), served by `python -m webapp` as users
  run it (camera proctoring required, the production default; rate limits off so that the fuzzers
  reach the handlers), its stdout and stderr in a log file. bench.media's helpers (free ports,
  waiting for the server, the login through the form) are reused.
* `fuzz_http(portal, n)`: schemathesis (the OpenAPI description served by the portal itself at
  /api/openapi.json, never a remote one) generates cases for every operation, positive and
  negative, sends each with the identity its `x-roles` names (a learner's or an officer's login
  with the X-CSRFToken header, the station's bearer token; now and then a wrong one), and checks
  the answer: no 5xx, a documented status, content type and body.
* `fuzz_socketio(portal, n)`: every Socket.IO event with the payloads of tests/fuzz/strategies.py,
  sent by a real python-socketio client (polling transport) of a learner or of the conference's
  host with `call()` (an acknowledged emit): every event must be answered within a timeout,
  with a dict; a payload that cannot be valid must get an `error`.

Both record what is wrong instead of raising, so that a run counts every case; the server's log is
checked for tracebacks by the callers (`tracebacks()`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis import strategies as st

from bench.media import PASSWORD, UA, free_ports, login, wait_http
from tests.fuzz.strategies import Payload, Ref, resolve

ROOT = Path(__file__).resolve().parents[2]
STATION_TOKEN = "vrs_fuzz-station-token-0123456789abcdef"
REVOKED_TOKEN = "vrs_fuzz-revoked-station-token"
CALL_TIMEOUT_S = 20.0       # an event not answered within this is unanswered
HTTP_TIMEOUT_S = 30.0
DEFAULT_CASES = 300          # FUZZ_CASES: generated cases of a test run, per database engine


def fuzz_cases() -> int:
    return max(4, int(os.environ.get("FUZZ_CASES", DEFAULT_CASES)))


# --- the instance ----------------------------------------------------------------------------------

@dataclasses.dataclass
class Portal:
    base: str
    proc: subprocess.Popen
    log: Path
    env: dict
    ids: dict[str, Any]
    database_url: str

    def log_text(self, start: int = 0) -> str:
        with open(self.log, "rb") as fh:
            fh.seek(start)
            return fh.read().decode("utf-8", "replace")

    def log_size(self) -> int:
        return self.log.stat().st_size


def tracebacks(text: str) -> list[str]:
    """The tracebacks in a server log, each with the lines around it (the request that caused it)."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "Traceback (most recent call last)" in line:     # threads' output may share a line
            out.append("\n".join(lines[max(0, i - 3):i + 40]))
    return out


def _portal_env(work: Path, database_url: str | None = None) -> tuple[dict, str]:
    """The server's environment: the caller's, without any setting of the portal itself (a
    DATABASE_URL or REDIS_URL of the caller's shell must not point the throw-away portal elsewhere)."""
    from webapp.config import from_env

    instance = work / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    names = set(from_env(INSTANCE_DIR=str(instance)))
    env = {k: v for k, v in os.environ.items() if k not in names}
    url = database_url or f"sqlite:///{instance / 'platform.db'}"
    env.update({"INSTANCE_DIR": str(instance), "DATABASE_URL": url, "MEDIA_ROOT": str(work / "media"),
                "SECRET_KEY": "fuzz-secret-key", "RATELIMIT_ENABLED": "0", "SCHEDULER_ENABLED": "0",
                "PROCTORING_REQUIRED": "1", "PYTHONUNBUFFERED": "1"})
    return env, url


def prepare(work: Path, database_url: str | None = None) -> tuple[dict, dict, str]:
    """A migrated instance with its data (in `database_url`, an empty database, or SQLite in
    `work`); (server environment, ids, database URL)."""
    import numpy as np
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from tests.conftest import make_course
    from webapp import create_app, migrate
    from webapp.core.face_crypto import EMBEDDING_SIZE, encrypt_embedding
    from webapp.demo import load_demo
    from webapp.models import (Conference, FaceEnrolment, OrgUnit, ProctorStanding, User, VrAssignment, VrStation,
                               utcnow)

    env, url = _portal_env(work, database_url)
    app = create_app({"INSTANCE_DIR": env["INSTANCE_DIR"], "DATABASE_URL": url, "MEDIA_ROOT": env["MEDIA_ROOT"],
                      "SECRET_KEY": env["SECRET_KEY"], "RATELIMIT_ENABLED": False, "SCHEDULER_ENABLED": False,
                      "PROCTORING_REQUIRED": False})
    migrate.upgrade(url)
    with app.app_context():
        load_demo(PASSWORD)
    engine = app.extensions["db_engine"]
    with app.app_context(), Session(engine) as db:     # the context: the face key of the instance
        course = make_course(app, db, slug="fuzz", duration=600.0, assign_to=("zhangsan", "lisi", "wangwu"))
        users = {u.username: u for u in db.scalars(select(User))}
        units = {u.name: u for u in db.scalars(select(OrgUnit))}
        # zhangsan is enrolled (a random unit vector: nothing here compares faces), so his sittings
        # open with camera consent and the study camera's signalling reaches the engine.
        vector = np.random.default_rng(7).standard_normal(EMBEDDING_SIZE)
        for name in ("zhangsan", "wangwu"):
            db.add(FaceEnrolment(user_id=users[name].id, embedding_enc=encrypt_embedding(vector / np.linalg.norm(vector)),
                                 source="upload", quality_json="{}", active=True,
                                 created_by_id=users["officer_bs"].id))
        station = VrStation(name="北山所VR模糊测试机", unit_id=units["北山街道司法所"].id,
                            token_hash=hashlib.sha256(STATION_TOKEN.encode()).hexdigest())
        revoked = VrStation(name="已注销VR", unit_id=units["北山街道司法所"].id, revoked_at=utcnow(),
                            token_hash=hashlib.sha256(REVOKED_TOKEN.encode()).hexdigest())
        db.add_all([station, revoked])
        assignment = VrAssignment(learner_id=users["zhangsan"].id, scene="prison")
        other_assignment = VrAssignment(learner_id=users["zhaoliu"].id, scene="drunk")
        db.add_all([assignment, other_assignment])
        # a conference of another district (zhangsan and officer_bs see nothing of it)
        other = Conference(host_unit_id=units["梅园新村街道司法所"].id, host_officer_id=users["officer_my"].id,
                           title="梅园所模糊测试会", starts_at=datetime.now(UTC).replace(tzinfo=None),
                           duration_min=60, levels="", include_supervisees=True)
        db.add(other)
        db.commit()
        # zhangsan has a failed camera check on his record: his review requests reach the database
        db.add(ProctorStanding(learner_id=users["zhangsan"].id, failures=1))
        db.commit()
        ids = {"course": course.id, "zhangsan": users["zhangsan"].id, "lisi": users["lisi"].id,
               "wangwu": users["wangwu"].id, "zhaoliu": users["zhaoliu"].id,
               "officer_bs": users["officer_bs"].id, "unit_bs": units["北山街道司法所"].id,
               "vr_assignment": assignment.id, "other_vr_assignment": other_assignment.id,
               "other_conference": other.id}
    engine.dispose()
    return env, ids, url


def new_conference(portal: Portal) -> int:
    """A conference of 北山 hosted by officer_bs, scheduled now (the host's conf_enter opens it)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from webapp.models import Conference

    engine = create_engine(portal.database_url)
    try:
        with Session(engine) as db:
            conf = Conference(host_unit_id=portal.ids["unit_bs"], host_officer_id=portal.ids["officer_bs"],
                              title=f"北山所模糊测试 {secrets.token_hex(3)}",
                              starts_at=datetime.now(UTC).replace(tzinfo=None), duration_min=60, levels="",
                              include_supervisees=True)
            db.add(conf)
            db.commit()
            return conf.id
    finally:
        engine.dispose()


def _cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (the identity worker)."""
    total = 0.0
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _cpu_s(int(child))
    return total


def wait_idle(pid: int, timeout: float = 180.0, window: float = 1.0, cores: float = 0.15) -> None:
    """Until the server uses less than `cores` over `window` s (its face models loaded)."""
    deadline = time.monotonic() + timeout
    before = _cpu_s(pid)
    while time.monotonic() < deadline:
        time.sleep(window)
        now = _cpu_s(pid)
        if now - before < cores * window:
            return
        before = now


def sql(portal: Portal, statement: str, **params) -> list[tuple]:
    """A statement on the portal's database, committed (the rows it returns, if any)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(portal.database_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


@contextlib.contextmanager
def live_portal(work: Path, database_url: str | None = None):
    """Prepare an instance in `work`, serve it with `python -m webapp`, stop it at the end."""
    env, ids, url = prepare(work, database_url)
    port, = free_ports(1)
    log = work / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "webapp", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    portal = Portal(base=f"http://127.0.0.1:{port}", proc=proc, log=log, env=env, ids=ids, database_url=url)
    try:
        wait_http(f"{portal.base}/login", timeout=180, proc=proc)
        wait_idle(proc.pid)     # the face models load at start-up (PROCTORING_REQUIRED=1)
        yield portal
    finally:
        # SIGTERM to the server only (as systemd stops it): it stops its identity worker itself
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)     # whatever is left of its group
        proc.wait()


# --- identities ----------------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
# As the pages' scripts send them (the player, enrol_capture.js): a JSON route outside /api/ answers
# its errors in JSON only to a client that asks for JSON.
HEADERS = {"User-Agent": UA, "Accept": "application/json"}


@dataclasses.dataclass
class Identity:
    name: str
    session: requests.Session
    headers: dict[str, str]

    def cookie(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.session.cookies.items())


def portal_login(portal: Portal, username: str) -> Identity:
    """A login through the real form (bench.media.login), with its CSRF token for the API."""
    session = login(portal.base, username)
    page = session.get(f"{portal.base}/account/password", timeout=HTTP_TIMEOUT_S).text
    token = CSRF.search(page).group(1)
    return Identity(username, session, {**HEADERS, "X-CSRFToken": token})


def identities(portal: Portal) -> dict[str, Identity]:
    anonymous = requests.Session()
    out = {"supervisee": portal_login(portal, "zhangsan"), "officer": portal_login(portal, "officer_bs"),
           "admin": portal_login(portal, "admin"),
           "station": Identity("station", requests.Session(), {**HEADERS, "Authorization": f"Bearer {STATION_TOKEN}"}),
           "anonymous": Identity("anonymous", anonymous, dict(HEADERS))}
    # wrong credentials: another learner (404s), a revoked or a made-up station token
    out["other_supervisee"] = portal_login(portal, "wangwu")
    out["revoked_station"] = Identity("revoked_station", requests.Session(),
                                      {**HEADERS, "Authorization": f"Bearer {REVOKED_TOKEN}"})
    out["bad_csrf"] = Identity("bad_csrf", out["supervisee"].session, {**HEADERS, "X-CSRFToken": "forged"})
    return out


def open_sitting(portal: Portal, who: Identity) -> str:
    answer = who.session.post(f"{portal.base}/api/study/start", headers=who.headers, timeout=HTTP_TIMEOUT_S,
                              json={"course_id": portal.ids["course"], "camera_consent": True})
    assert answer.status_code == 200, answer.text
    return answer.json()["session_id"]


# --- HTTP: schemathesis ----------------------------------------------------------------------------

@dataclasses.dataclass
class HttpReport:
    cases: int = 0
    responses_500: int = 0
    no_answer: int = 0
    statuses: Counter = dataclasses.field(default_factory=Counter)
    per_operation: Counter = dataclasses.field(default_factory=Counter)
    failures: list[str] = dataclasses.field(default_factory=list)


def load_schema(portal: Portal):
    """The description the portal serves (schemathesis fetches it from the live server)."""
    import schemathesis
    return schemathesis.openapi.from_url(f"{portal.base}/api/openapi.json", timeout=HTTP_TIMEOUT_S)


def response_checks() -> list:
    from schemathesis import checks
    from schemathesis.specs.openapi import checks as openapi_checks
    return [checks.not_a_server_error, openapi_checks.status_code_conformance,
            openapi_checks.content_type_conformance, openapi_checks.response_schema_conformance]


class HttpWorld:
    """The live values patched into generated cases (a real sitting, course, learner...)."""

    def __init__(self, portal: Portal, who: dict[str, Identity]):
        self.portal, self.who = portal, who
        self.sitting: str | None = None

    def current_sitting(self) -> str:
        if self.sitting is None:
            self.sitting = open_sitting(self.portal, self.who["supervisee"])
        return self.sitting

    def challenge_nonce(self) -> str:
        station = self.who["station"]
        answer = station.session.post(f"{self.portal.base}/api/vr/v1/checkin/challenge", headers=station.headers,
                                      timeout=HTTP_TIMEOUT_S)
        return answer.json()["nonce"]

    def patch(self, case, knob: int) -> None:
        """Real values for some fields (knob 0..99 decides which), so cases get past the lookups."""
        ids = self.portal.ids
        path = case.path_parameters if isinstance(case.path_parameters, dict) else None
        if path is not None and knob % 2 == 0:
            if "session_id" in path:
                path["session_id"] = self.current_sitting()
            if "course_id" in path:
                path["course_id"] = ids["course"]
            if "user_id" in path:
                path["user_id"] = ids["zhangsan"]
        body = case.body if isinstance(case.body, dict) else None
        if body is not None and knob % 3 == 0:
            for key, value in (("course_id", ids["course"]), ("learner_id", ids["zhangsan"]),
                               ("assignment_id", ids["vr_assignment"])):
                if key in body:
                    body[key] = value
            if "nonce" in body and case.operation.path == "/api/vr/v1/checkin":
                body["nonce"] = self.challenge_nonce()
                if knob % 9 == 0:     # now and then real JPEG frames: decoded and searched for a face
                    body["frames"] = [{"offset_s": 0.2 * i, "image_jpeg_b64": noise_jpeg_b64()} for i in range(3)]

    def observe(self, case, response) -> None:
        path = case.operation.path
        if path.startswith("/api/study/") and response.status_code in (200, 409):
            try:
                body = response.json()
            except ValueError:
                return
            if path == "/api/study/start" and response.status_code == 200:
                self.sitting = body.get("session_id", self.sitting)
            elif body.get("error") == "session_closed" or path.endswith("/finish"):
                self.sitting = None


@functools.cache
def noise_jpeg_b64() -> str:
    """A small JPEG of noise (no face in it), base64."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(out, "JPEG")
    return base64.b64encode(out.getvalue()).decode()


def identity_for(operation, who: dict[str, Identity], knob: int) -> Identity:
    """The identity the operation's `x-roles` names; one case in eight gets a wrong one."""
    roles = operation.definition.raw.get("x-roles", [])
    if knob % 10 == 7:
        wrong = {"supervisee": ["anonymous", "officer", "other_supervisee", "bad_csrf"],
                 "officer": ["anonymous", "supervisee"], "station": ["anonymous", "revoked_station", "officer"]}
        choices = wrong.get(roles[0] if roles else "", ["anonymous"])
        return who[choices[(knob // 10) % len(choices)]]
    if not roles:
        return who["anonymous"]
    if roles[0] == "officer":
        return who["officer"] if knob % 2 else who["admin"]
    return who[roles[0]]


def drive(strategy: st.SearchStrategy, n: int, handle: Callable[[Any], None]) -> None:
    """Run `handle` on `n` examples of `strategy` (fewer if the strategy has fewer distinct ones).
    `handle` records problems instead of raising, so nothing is shrunk and every case counts."""
    if n <= 0:
        return

    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(example):
        handle(example)

    try:
        run()
    except Unsatisfiable:     # e.g. nothing to negate in an operation without inputs
        pass


def fuzz_http(portal: Portal, n: int, who: dict[str, Identity] | None = None, log: Callable = print) -> HttpReport:
    """At least `n` generated cases over every operation of the served description, positive and
    negative (an operation without inputs has few distinct cases: the others make up for it)."""
    from schemathesis import GenerationMode
    from schemathesis.core.failures import FailureGroup

    who = who or identities(portal)
    schema = load_schema(portal)
    operations = [result.ok() for result in schema.get_all_operations()]
    world = HttpWorld(portal, who)
    report = HttpReport()
    checks = response_checks()
    strategies = []
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategies.append((op, op.as_strategy(generation_mode=mode)))
            except Exception as exc:     # nothing to negate in an operation without inputs
                log(f"# {op.label} {mode.value}: no strategy ({type(exc).__name__}: {exc})")

    def handle(op, example):
        case, knob = example
        me = identity_for(op, who, knob)
        world.patch(case, knob)
        report.cases += 1
        report.per_operation[op.label] += 1
        try:
            response = case.call(base_url=portal.base, session=me.session, headers=dict(me.headers),
                                 timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            report.no_answer += 1
            report.failures.append(f"{op.label}: no answer ({type(exc).__name__}: {exc})\n"
                                   f"    {case.as_curl_command(headers=dict(me.headers))}")
            return
        report.statuses[response.status_code] += 1
        if response.status_code >= 500:
            report.responses_500 += 1
        world.observe(case, response)
        try:
            case.validate_response(response, checks=checks, headers=dict(me.headers))
        except FailureGroup as exc:
            report.failures.append(f"{op.label} as {me.name}: {exc}")

    for _round in range(5):
        missing = n - report.cases
        if missing <= 0:
            break
        for op, strategy in strategies:
            share = max(1, math.ceil(missing / len(strategies)))
            drive(st.tuples(strategy, st.integers(0, 99)), share, lambda example, op=op: handle(op, example))
    return report


# --- Socket.IO -------------------------------------------------------------------------------------

@dataclasses.dataclass
class SocketReport:
    cases: int = 0
    unanswered: int = 0
    internal: int = 0
    reconnects: int = 0
    per_event: Counter = dataclasses.field(default_factory=Counter)
    errors: Counter = dataclasses.field(default_factory=Counter)
    failures: list[str] = dataclasses.field(default_factory=list)


class SocketWorld:
    """Two connected clients (the learner zhangsan and officer_bs, the conference's host), and the
    live objects the payloads' `Ref`s stand for, repaired when a case ends them (a sitting finished,
    a conference ended, the learner removed from it)."""

    def __init__(self, portal: Portal, who: dict[str, Identity]):
        self.portal, self.who = portal, who
        self.clients: dict[str, Any] = {}
        self.sitting: str | None = None
        self.other_sitting = open_sitting(portal, who["other_supervisee"])
        self.conference: int | None = None
        self.entered: set[str] = set()
        self.reconnects = 0

    # connections
    def client(self, role: str):
        import socketio

        sio = self.clients.get(role)
        if sio is not None and sio.connected:
            return sio
        if sio is not None:
            self.reconnects += 1
            with contextlib.suppress(Exception):
                sio.disconnect()
            self.entered.discard(role)
        who = self.who[role]
        sio = socketio.Client(reconnection=False, request_timeout=CALL_TIMEOUT_S)
        sio.connect(self.portal.base, headers={"Cookie": who.cookie(), "User-Agent": UA}, transports=["polling"],
                    wait_timeout=CALL_TIMEOUT_S)
        self.clients[role] = sio
        return sio

    def rotate(self, role: str) -> None:
        """A new connection for `role` at its next event: the event limiter counts per connection
        (webapp.core.sockets.BUDGETS), and a fuzzer soon spends a connection's budget."""
        sio = self.clients.pop(role, None)
        self.entered.discard(role)
        if sio is not None:
            with contextlib.suppress(Exception):
                sio.disconnect()

    def close(self) -> None:
        for sio in self.clients.values():
            with contextlib.suppress(Exception):
                sio.disconnect()

    # the objects behind the Refs
    def value(self, ref: Ref, role: str):
        ids = self.portal.ids
        if ref.name == "sitting":
            if self.sitting is None:
                self.sitting = open_sitting(self.portal, self.who["supervisee"])
            return self.sitting
        if ref.name == "other_sitting":
            return self.other_sitting
        if ref.name == "conference":
            return self.live_conference()
        if ref.name == "other_conference":
            return ids["other_conference"]
        if ref.name == "learner":
            return ids["zhangsan"]
        if ref.name == "host":
            return ids["officer_bs"]
        if ref.name == "stranger":
            return ids["zhaoliu"]
        if ref.name == "learner_source":
            return f"u{ids['zhangsan']}"
        if ref.name == "host_source":
            return f"u{ids['officer_bs']}"
        raise KeyError(ref.name)

    def live_conference(self) -> int:
        if self.conference is None:
            self.conference = new_conference(self.portal)
            self.entered.clear()
        # both in (a roll call needs someone to call), the host first: a scheduled conference goes
        # live when its host enters
        for who in ("officer", "supervisee"):
            for _attempt in range(3):
                if who in self.entered:
                    break
                answer = self.client(who).call("conf_enter", {"conference_id": self.conference},
                                               timeout=CALL_TIMEOUT_S)
                if isinstance(answer, dict) and answer.get("error") == "rate_limited":
                    self.rotate(who)
                elif isinstance(answer, dict) and answer.get("ok"):
                    self.entered.add(who)
                else:
                    raise RuntimeError(f"{who} could not enter conference {self.conference}: {answer}")
            else:
                raise RuntimeError(f"{who} could not enter conference {self.conference}: rate-limited")
        return self.conference

    def observe(self, role: str, event: str, data, answer) -> None:
        """Repair what a case ended."""
        if not isinstance(answer, dict):
            return
        error = answer.get("error")
        if error == "rate_limited":
            self.rotate(role)
        if event == "heartbeat" and error == "session_closed":
            self.sitting = None
        uses_live = isinstance(data, dict) and data.get("conference_id") == self.conference
        if not uses_live:
            return
        if error in ("not_live", "removed") or (event == "conf_end" and answer.get("ok")):
            self.conference = None
        elif event == "conf_leave" and answer.get("ok"):
            self.entered.discard(role)
        elif event == "conf_host" and answer.get("ok") and data.get("action") == "remove":
            self.conference = None


def fuzz_socketio(portal: Portal, n: int, who: dict[str, Identity] | None = None,
                  log: Callable = print) -> SocketReport:
    """About `n` events, every event of EVENTS about equally often."""
    from tests.fuzz.strategies import socket_cases

    who = who or identities(portal)
    world = SocketWorld(portal, who)
    report = SocketReport()
    try:
        for _round in range(3):      # a strategy's filter may leave a run a few examples short
            if report.cases >= n:
                break
            drive(socket_cases(), n - report.cases, lambda case: send_case(world, case, report))
    finally:
        world.close()
    report.reconnects = world.reconnects
    return report


def send_case(world: SocketWorld, case: tuple[str, str, Payload], report: SocketReport) -> Any:
    """Send one (role, event, payload) and check its answer; returns the answer."""
    role, event, payload = case
    args = resolve(payload.args, lambda ref: world.value(ref, role))
    report.cases += 1
    report.per_event[event] += 1
    described = f"{event} from {role}: {_short(args)} (payload {payload!r:.300})"
    sio = world.client(role)
    try:
        answer = sio.call(event, tuple(args), timeout=CALL_TIMEOUT_S)
    except Exception as exc:     # socketio.exceptions.TimeoutError, or the connection dropped
        report.unanswered += 1
        report.failures.append(f"unanswered ({type(exc).__name__}) {described}")
        return None
    problem = None
    if not isinstance(answer, dict):
        problem = f"answered {answer!r:.200}, not a dict"
    elif answer.get("error") == "internal" or answer.get("status") == 500:
        report.internal += 1
        problem = f"internal error {answer}"
    elif "error" in answer:
        report.errors[f"{event}:{answer['error']}"] += 1
        if not isinstance(answer["error"], str) or not answer["error"]:
            problem = f"unclear error {answer!r:.200}"
    elif payload.junk:
        problem = f"invalid payload accepted: {answer!r:.200}"
    elif payload.needs_error:
        problem = f"no error for an invalid SDP: {answer!r:.200}"
    if problem:
        report.failures.append(f"{problem}: {described}")
    world.observe(role, event, args[0] if args else None, answer)
    return answer


def _short(args) -> str:
    text = json.dumps(args, default=lambda o: f"<{type(o).__name__} {len(o) if hasattr(o, '__len__') else ''}>",
                      ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + f"... ({len(text)} chars)"


def machine() -> dict[str, str]:
    load1, load5, _load15 = os.getloadavg()
    return {"machine_cores": str(os.cpu_count()), "load_1m": f"{load1:.2f}", "load_5m": f"{load5:.2f}"}


def elapsed(began: float) -> str:
    return f"{time.monotonic() - began:.1f}"
