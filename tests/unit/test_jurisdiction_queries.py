"""Every query on people or units either goes through webapp.core.jurisdiction or is listed here
with the reason it needs no jurisdiction filter. A new query that does neither fails, and so does
any other spelling of the subtree test (`path.startswith`, `like`, `OrgUnit.contains`)."""
from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"
PEOPLE_OR_UNITS = {"User", "OrgUnit"}

# (module, function): (how many such queries, why they need no jurisdiction filter)
NOT_JURISDICTION = {
    ("conferences/attendance_views.py", "_load"): (1, "records of one roll call; rows then filtered by "
                                                      "jurisdiction.contains unless host side"),
    ("conferences/sockets.py", "_chain_of"): (1, "the ancestors of the user's own unit (the room chain upwards)"),
    ("conferences/views.py", "detail"): (1, "participants of one conference already checked by conference_or_404"),
    ("conferences/education_credit.py", "_plan"): (1, "the roles of the people present in one session (only "
                                                      "supervisees are credited); the end of a conference, no viewer"),
    ("conferences/education_credit.py", "attendance_table"): (1, "the people of one session, whose page "
                                                                 "education_views.may_view already allowed"),
    ("conferences/education_checks.py", "unit_supervisees"): (2, "the unit of a room the officer is in, and its "
                                                                 "supervisees when the conference includes them "
                                                                 "(conferencing.rules.may_join): who may be confirmed"),
    ("conferences/views.py", "index"): (1, "conferences of the user's own ancestors (visibility by conferencing.rules)"),
    ("attention/reminders.py", "_batch"): (1, "the scheduled reminder job: every supervisee behind, no viewer"),
    ("compliance/rollup.py", "_all_units"): (1, "upkeep of every supervisee's month: every unit, no viewer"),
    ("compliance/rollup.py", "_insert_missing"): (2, "upkeep of every supervisee's month: every supervisee, no viewer"),
    ("compliance/rollup.py", "_follow_current_units"): (1, "upkeep: rows whose person moved, no viewer"),
    ("compliance/rollup.py", "_refresh_in_chunks"): (1, "the scheduled job: every supervisee, no viewer"),
    ("core/jurisdiction.py", "units_within"): (1, "the helper itself"),
    ("core/jurisdiction.py", "users_within"): (1, "the helper itself"),
    ("demo.py", "load_demo"): (2, "seeding the demo organisation"),
    ("org/admin_views.py", "_validate_people_rules"): (1, "username uniqueness is global"),
    ("org/admin_views.py", "delete_unit"): (2, "counts under one unit already checked by unit_or_404"),
    ("org/auth_views.py", "login"): (1, "login by username"),
    ("people/import_views.py", "_context"): (2, "usernames and ID-number hashes are unique platform-wide: an "
                                                 "import must not reuse one from any unit (only whether taken)"),
    ("people/retention.py", "anonymise_expired"): (1, "the scheduled retention job: every ended supervision, no viewer"),
    ("proctor/views.py", "enrolment"): (1, "enrolments of one learner already checked by user_or_404"),
    ("vr/api.py", "post_session"): (1, "a row lock on the learner already checked by _learner_or_404"),
}


def _mentions(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id in PEOPLE_OR_UNITS for n in ast.walk(node))


def queries_on_people_or_units() -> tuple[Counter, list[str]]:
    """(module, function) -> count of statements with a select() over User/OrgUnit that do not use
    webapp.core.jurisdiction; plus the ones that do (for the report)."""
    unfiltered, filtered = Counter(), []
    for path in sorted(WEBAPP.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        seen = set()
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "select"):
                continue
            stmt = node
            while not isinstance(stmt, ast.stmt):
                stmt = parents[stmt]
            if id(stmt) in seen or not _mentions(stmt):
                continue
            seen.add(id(stmt))
            scope, names = stmt, []
            while scope in parents:
                scope = parents[scope]
                if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.append(scope.name)
                    break
            key = (str(path.relative_to(WEBAPP)), names[0] if names else "<module>")
            if "jurisdiction." in ast.get_source_segment(source, stmt):
                filtered.append(f"{key[0]}:{key[1]}")
            else:
                unfiltered[key] += 1
    return unfiltered, filtered


def test_every_query_on_people_or_units_uses_the_jurisdiction_helper_or_is_listed():
    unfiltered, filtered = queries_on_people_or_units()
    expected = Counter({key: count for key, (count, _why) in NOT_JURISDICTION.items()})
    new = {k: v for k, v in unfiltered.items() if expected.get(k, 0) < v}
    gone = {k: v for k, v in expected.items() if unfiltered.get(k, 0) < v}
    assert not new, f"queries on people/units without webapp.core.jurisdiction: {new}"
    assert not gone, f"listed queries no longer there (update NOT_JURISDICTION): {gone}"
    assert len(filtered) >= 8, filtered     # the lists that do filter by jurisdiction are found


def test_no_other_spelling_of_the_subtree_test():
    spelled = re.compile(r"\.path\.(startswith|like|ilike|contains)\(|\bpath\.startswith\(|\.unit\.contains\(|"
                         r"\blike\(\s*f?[\"'][^\"']*path")
    offenders = []
    for path in sorted(WEBAPP.rglob("*.py")):
        if path.relative_to(WEBAPP).as_posix() == "core/jurisdiction.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if spelled.search(line) and "request.path" not in line:
                offenders.append(f"{path.relative_to(WEBAPP)}:{number}: {line.strip()}")
    assert not offenders, "use webapp.core.jurisdiction:\n" + "\n".join(offenders)
