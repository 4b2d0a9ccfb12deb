"""schemathesis against the live portal: the JSON APIs as webapp/core/openapi.py describes them.

The description is fetched from the running server (`GET /api/openapi.json`, nothing remote) and
checked against the app's routes; then FUZZ_CASES/2 generated cases (positive and negative, every
operation, tests/fuzz/harness.py) are sent with real logins and the station's token: no 5xx, every
status, content type and body as described, and no traceback in the server's log. The bugs the
fuzzer found keep their reproducers below (REPRODUCERS), each a plain request with the answer it
must get now.
"""
from __future__ import annotations

import dataclasses
import re
import time
from typing import Callable

import pytest
import requests

from tests.fuzz.harness import HTTP_TIMEOUT_S, Portal, fuzz_cases, fuzz_http, load_schema, open_sitting, sql, \
    tracebacks
from webapp.core.openapi import spec

# JSON routes outside /api/ that the description covers (the officer's camera enrolment).
JSON_ENDPOINTS_OUTSIDE_API = {"proctor.enrol_capture"}


SELF = "GET /api/openapi.json"


def described_operations() -> set[str]:
    return {f"{method.upper()} {path}" for path, item in spec()["paths"].items() for method in item}


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule)


def test_every_json_route_is_described(tmp_path):
    """Every route under /api/ (and the JSON routes outside it) is in the description, with its
    methods, and the description names no route the app does not have."""
    from webapp import create_app

    app = create_app({"INSTANCE_DIR": str(tmp_path / "instance"), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                      "SECRET_KEY": "x", "SCHEDULER_ENABLED": False, "PROCTORING_REQUIRED": False})
    routes = {(openapi_path(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/") or rule.endpoint in JSON_ENDPOINTS_OUTSIDE_API
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    described = {(path, method) for path, item in spec()["paths"].items() for method in item}
    assert routes - described == set(), "JSON routes missing from webapp/core/openapi.py"
    assert described - routes == set(), "webapp/core/openapi.py describes routes the app does not have"
    app.extensions["db_engine"].dispose()


def test_the_portal_serves_its_description(portal):
    answer = requests.get(f"{portal.base}/api/openapi.json", timeout=HTTP_TIMEOUT_S)   # no login
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == spec()
    loaded = {result.ok().label for result in load_schema(portal).get_all_operations()}
    # schemathesis leaves out the operation that serves the schema it was loaded from
    assert loaded == described_operations() - {SELF}


def test_api_fuzz(portal, who):
    start = portal.log_size()
    n = fuzz_cases() // 2
    report = fuzz_http(portal, n, who)
    print(f"http cases={report.cases} statuses={dict(report.statuses)}")
    assert not report.failures, f"{len(report.failures)} of {report.cases} cases failed:\n" + \
        "\n\n".join(report.failures[:10])
    assert report.responses_500 == 0 and report.no_answer == 0
    assert set(report.per_operation) == described_operations() - {SELF}, "operations the run never called"
    assert report.cases >= 0.8 * n
    found = tracebacks(portal.log_text(start))
    assert not found, "\n----\n".join(found[:3])


# --- the bugs the fuzzers found, each a plain request now --------------------------------------------

@dataclasses.dataclass
class Repro:
    """What broke (the answer before the fix), the request, and the answers allowed now."""
    was: str
    role: str
    method: str
    path: Callable[[Portal, dict], str]
    expect: tuple[int, ...]
    json: object = None
    data: str | None = None          # a raw JSON text (escapes `json=` would not send)
    form: dict | None = None


def _sitting(portal: Portal, who: dict) -> str:
    return open_sitting(portal, who["supervisee"])


def _open_prompt(portal: Portal, who: dict) -> str:
    """A fresh sitting with an open confirmation prompt (as a breakpoint opens one)."""
    sitting = _sitting(portal, who)
    now = time.time()
    sql(portal, "UPDATE study_session SET prompt_id = :p, prompt_issued_at = :now, prompt_deadline = :later "
                "WHERE id = :sid", p="0123456789abcdef", now=now, later=now + 600, sid=sitting)
    who["_prompt_sitting"] = sitting
    return sitting


def vr_session(portal: Portal, **fields) -> dict:
    """A session body that passes every check up to the assignment's lookup."""
    now = time.time()
    return {"client_session_id": "0" * 32, "learner_id": portal.ids["zhangsan"], "scene": "prison",
            "checkin": "assignment", "started_at": now - 100, "ended_at": now - 10,
            "stages": [{"id": "arrival", "started_at": now - 100, "ended_at": now - 90, "completed": True}],
            "attention": {}, "quiz": {"questions": 0, "correct": 0}, **fields}

REPRODUCERS = {
    # ids past an INTEGER column: PostgreSQL "integer out of range" (bounded at 2^63-1 before)
    "start_course_2^31": Repro("500 on PostgreSQL", "supervisee", "POST", lambda p, w: "/api/study/start",
                               (400,), json={"course_id": 2**31, "camera_consent": True}),
    "progress_course_2^31": Repro("500 on PostgreSQL", "supervisee", "GET",
                                  lambda p, w: f"/api/study/progress/{2**31}", (404,)),
    "capture_user_2^40": Repro("500 on PostgreSQL", "officer", "POST",
                               lambda p, w: f"/officer/supervisees/{2**40}/face/capture", (404,)),
    "vr_assignment_2^40": Repro("500 on PostgreSQL", "station", "POST", lambda p, w: "/api/vr/v1/sessions", (400,),
                                json=lambda p: vr_session(p, assignment_id=2**40)),
    "heartbeat_seq_2^31": Repro("500 on PostgreSQL (study_session.last_seq is an INTEGER)", "supervisee", "POST",
                                lambda p, w: f"/api/study/{_sitting(p, w)}/heartbeat", (400,),
                                json={"seq": 2**31, "position": 0, "playing": True, "rate": 1}),
    # NUL in a sitting id of the URL: PostgreSQL refuses NUL in text
    **{f"{route}_nul_in_url": Repro("500 on PostgreSQL", "supervisee", "POST",
                                    lambda p, w, route=route: f"/api/study/a%00b/{route}", (404,),
                                    json={"seq": 1, "position": 0, "playing": True, "rate": 1})
       for route in ("heartbeat", "confirm", "resume", "finish")},
    # NUL or an unpaired surrogate in JSON text reaching a row (zhangsan has a failed check: the
    # review request is stored)
    "review_message_surrogate": Repro("500 (UTF-8 cannot encode a lone surrogate)", "supervisee", "POST",
                                      lambda p, w: "/api/proctor/review-request", (400,),
                                      data='{"message": "\\ud800"}'),
    "review_message_nul": Repro("500 on PostgreSQL", "supervisee", "POST", lambda p, w: "/api/proctor/review-request",
                                (400,), data='{"message": "a\\u0000b"}'),
    # a non-ASCII prompt id while a prompt is open: secrets.compare_digest raised TypeError
    "confirm_non_ascii_prompt_id": Repro("500", "supervisee", "POST",
                                         lambda p, w: f"/api/study/{_open_prompt(p, w)}/confirm", (409,),
                                         json={"prompt_id": "张三"}),
    # the officer's hold-clearing form: flag_id "²" passed str.isdigit() and failed int()
    "clear_hold_flag_id_superscript": Repro("500", "officer", "POST",
                                            lambda p, w: f"/officer/supervisee/{p.ids['zhangsan']}/proctor-hold/clear",
                                            (303,), form={"reason": "", "flag_id": "²"}),
    "clear_hold_flag_id_2^40": Repro("500 on PostgreSQL", "officer", "POST",
                                     lambda p, w: f"/officer/supervisee/{p.ids['zhangsan']}/proctor-hold/clear",
                                     (303,), form={"reason": "", "flag_id": str(2**40)}),
}


@pytest.mark.parametrize("name", sorted(REPRODUCERS))
def test_reproducer(portal, who, name):
    case = REPRODUCERS[name]
    start = portal.log_size()
    me = who[case.role]
    url = portal.base + case.path(portal, who)
    headers = dict(me.headers)
    kwargs: dict = {"timeout": HTTP_TIMEOUT_S, "allow_redirects": False}
    if case.data is not None:
        kwargs["data"] = case.data.encode()
        headers["Content-Type"] = "application/json"
    elif case.form is not None:
        kwargs["data"] = case.form
    elif case.method == "POST":
        kwargs["json"] = case.json(portal) if callable(case.json) else case.json
    answer = me.session.request(case.method, url, headers=headers, **kwargs)
    assert answer.status_code in case.expect, (f"{name} (was: {case.was}): {answer.status_code} "
                                               f"{answer.text[:300]}")
    if case.form is None:
        assert answer.headers["Content-Type"].startswith("application/json") and answer.json()["error"]
    found = tracebacks(portal.log_text(start))
    assert not found, "\n----\n".join(found[:2])
