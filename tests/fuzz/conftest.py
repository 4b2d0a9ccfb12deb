"""One live portal per database engine for the fuzz modules (tests/fuzz/harness.py): started once,
stopped at the end, its log checked for tracebacks at exit too.

The engines are those of TEST_DATABASES (tests/conftest.py: SQLite, the embedded default, and
PostgreSQL, production's; several of the bugs the fuzzers found were PostgreSQL's alone: ids past
an INTEGER column, NUL characters in text). FUZZ_CASES (default 300) is the number of generated
cases per engine, half over HTTP (test_api_fuzz.py), half over Socket.IO (test_socket_fuzz.py);
`python -m bench.fuzz` runs 10,000.
"""
from __future__ import annotations

import pytest

from tests.conftest import chosen_databases, database_factory_for
from tests.fuzz.harness import identities, live_portal, tracebacks


@pytest.fixture(scope="package", params=chosen_databases())
def portal(request, tmp_path_factory):
    work = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    databases = database_factory_for(request, request.param, work / "databases")
    try:
        with live_portal(work, databases.new("portal", empty=True)) as running:
            yield running
        code = running.proc.returncode
        found = tracebacks(running.log_text())
        assert code == 0 and not found, (f"the portal exited {code} with {len(found)} traceback(s) in its log:\n" +
                                         "\n----\n".join(found[:3]))
    finally:
        databases.close()


@pytest.fixture(scope="package")
def who(portal):
    return identities(portal)
