"""The identity evaluation: its recorded result is current and in force; its pure parts; the
field recompute (`flask proctor recompute-far-frr`).

The evaluation itself takes minutes and needs the set-up's face sets, so it is not run here:
`python -m proctoring.evaluate --write` re-creates proctoring/evaluation.json, and these tests
fail until it is re-run whenever the code that decides the figures changes (`code_sha256`).
"""
from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from proctoring import eval_data, evaluate, vision

RESULT = json.loads(evaluate.RESULT_FILE.read_text(encoding="utf-8"))
RERUN = "re-run `python -m proctoring.evaluate --write` and commit proctoring/evaluation.json"


def test_the_threshold_in_force_is_the_evaluated_one():
    assert vision.IDENTITY_THRESHOLD == RESULT["threshold"]


def test_the_result_is_current_for_these_datasets_and_this_code():
    assert RESULT["dataset_sha256"] == eval_data.dataset_sha256(), RERUN
    assert RESULT["code_sha256"] == evaluate.code_sha256(), RERUN
    assert RESULT["embedder"] == "dlib_resnet_v1"


def test_the_result_reports_held_out_people_only():
    held, cal = RESULT["held_out_identities"], RESULT["calibration_identities"]
    assert RESULT["identities"] == len(held) == len(cal) == 20
    assert not set(held) & set(cal) and set(held) | set(cal) == set(range(1, 41))
    # the split is the seeded one, so anyone can re-derive it
    people = np.random.default_rng(RESULT["seed"]).permutation(range(1, 41)).tolist()
    assert held == sorted(people[20:]) and cal == sorted(people[:20])
    assert RESULT["calibration_portraits"] + RESULT["held_out_portraits"] == eval_data.RADAR_COUNT
    assert RESULT["genuine_pairs"] == 20 * 45
    assert RESULT["impostor_pairs"] == RESULT["impostor_pairs_orl"] + RESULT["impostor_pairs_portraits"]
    assert RESULT["goals_met"] == (RESULT["far"] <= evaluate.FAR_GOAL and RESULT["frr"] <= evaluate.FRR_GOAL)
    assert set(RESULT["conditions"]) == set(evaluate.CONDITIONS)
    assert 0.0 <= RESULT["eer"] <= 0.5


def test_threshold_rule_takes_the_largest_grid_point_within_the_far_goal_of_every_family():
    rng = np.random.default_rng(1)
    genuine = rng.uniform(0.1, 0.45, 1000)
    easy = rng.uniform(0.80, 1.2, 100_000)
    hard = np.concatenate([[0.433, 0.447, 0.461], rng.uniform(0.9, 1.0, 997)])   # 1000 pairs
    # FAR <= 0.1% allows one accept in 1000: the second (0.447) must stay above the threshold
    threshold, ok = evaluate.choose_threshold(genuine, (easy, hard))
    assert threshold == 0.44 and ok is False   # genuine pairs up to 0.45: FRR ~3% > 2%
    # pooled, the easy pairs would have diluted the hard ones
    pooled, _ = evaluate.choose_threshold(genuine, (np.concatenate([easy, hard]),))
    assert pooled > 0.46
    threshold, ok = evaluate.choose_threshold(rng.uniform(0.1, 0.3, 1000), (easy, hard))
    assert threshold == 0.44 and ok is True


def test_undetected_faces_are_false_rejects_and_never_false_accepts():
    genuine = np.array([0.2, 0.3, np.nan, np.nan])
    impostor = np.array([0.1, np.nan, 0.9, 0.9])
    assert evaluate.frr_at(genuine, 0.5) == 0.5
    assert evaluate.far_at(impostor, 0.5) == pytest.approx(1 / 3)   # the NaN pair is left out


def test_eer_of_separable_and_of_overlapping_sets():
    assert evaluate.eer(np.array([0.1, 0.2, 0.3]), np.array([0.7, 0.8]))[0] == 0.0
    value, at = evaluate.eer(np.linspace(0.0, 1.0, 1001), np.linspace(0.5, 1.5, 1001))
    assert value == pytest.approx(0.25, abs=0.002) and at == pytest.approx(0.75, abs=0.002)


def test_a_run_on_synthetic_embeddings_prints_the_last_lines_and_writes_the_file(tmp_path, monkeypatch):
    """The pipeline after embedding (split, pairs, rule, output) on fake, well separated people."""
    orl = {p: [tmp_path / f"s{p}" / f"{i}.pgm" for i in range(1, 11)] for p in range(1, 41)}
    radar = [tmp_path / f"{n:03d}.jpg" for n in range(eval_data.RADAR_COUNT)]
    monkeypatch.setattr(eval_data, "orl_images", lambda: orl)
    monkeypatch.setattr(eval_data, "radar_images", lambda: radar)
    rng = np.random.default_rng(0)
    centres = {p: rng.normal(0, 1, 16) for p in orl}

    def fake_embed_all(tasks, jobs, spec):
        out = []
        for t in tasks:
            if t.kind == "radar":
                out.append(rng.normal(0, 1, 16))
            else:
                person = int(Path(t.path).parent.name[1:])
                spread = 0.05 if t.condition == "clean" else 0.1
                out.append(None if t.condition == "yaw" and t.seed % 7 == 0
                           else centres[person] + rng.normal(0, spread, 16))
        return out

    monkeypatch.setattr(evaluate, "_embed_all", fake_embed_all)
    text, target = io.StringIO(), tmp_path / "evaluation.json"
    result = evaluate.run(jobs=1, write=True, out=text, result_file=target)
    lines = text.getvalue().strip().splitlines()
    assert [line.split("=")[0] for line in lines[-5:]] == ["far", "frr", "eer", "threshold", "identities"]
    assert lines[-1] == "identities=20"
    assert result["far"] == 0.0 and result["frr"] == 0.0
    assert result["conditions"]["yaw"]["undetected"] > 0 and result["conditions"]["yaw"]["frr"] > 0
    written = json.loads(target.read_text())
    assert written["code_sha256"] == evaluate.code_sha256()
    assert written["dataset_sha256"] == eval_data.dataset_sha256()
    assert written["threshold"] == result["threshold"]


def test_field_rates_label_only_what_officers_reviewed():
    R = evaluate.FieldRecord
    records = [R(0.30, True), R(0.40, True), R(0.49, True),           # passes: assumed genuine
               R(0.55, False, "dismissed"),                            # a false reject
               R(0.56, False, "confirmed"), R(0.70, False, "confirmed"),
               R(0.60, False, "open"), R(None, False, None)]
    at_force = evaluate.field_rates(records, 0.51)
    assert at_force["genuine"] == 4 and at_force["impostor_confirmed"] == 2
    assert at_force["unreviewed"] == 1 and at_force["no_distance"] == 1
    assert at_force["frr"] == 0.25 and at_force["far_confirmed"] == 0.0
    assert at_force["far_observable"] is False
    looser = evaluate.field_rates(records, 0.60)
    assert looser["frr"] == 0.0 and looser["far_confirmed"] == 0.5
    assert math.isnan(evaluate.field_rates([], 0.5)["frr"])


def test_cli_recomputes_far_frr_from_stored_checks(app, db):
    from tests.conftest import make_course, user
    from webapp.models import FlagStatus, ProctorCheck, ProctorFlag, StudySession

    course = make_course(app, db)
    learner = user(db, "zhangsan")
    sitting = StudySession(learner_id=learner.id, course_id=course.id, started_at=1.0, attested_at=1.0,
                           breakpoint_due_at=1e9)
    db.add(sitting)
    db.flush()

    def check(distance, passed, status=None):
        scores = {} if distance is None else {"distance": distance, "threshold": 0.51}
        row = ProctorCheck(session_id=sitting.id, kind="identity", triggered_at=1.0, verdict_at=2.0,
                           passed=passed, reason="ok" if passed else "identity_mismatch",
                           scores_json=json.dumps(scores))
        db.add(row)
        db.flush()
        if status is not None:
            db.add(ProctorFlag(learner_id=learner.id, session_id=sitting.id, check_id=row.id,
                               kind="identity_mismatch", raised_at=2.0, scores_json=json.dumps(scores),
                               status=status))

    check(0.3, True)
    check(0.45, True)
    check(0.53, False, FlagStatus.DISMISSED)
    check(0.58, False, FlagStatus.CONFIRMED)
    check(0.62, False, FlagStatus.OPEN)
    check(None, False)
    db.add(ProctorCheck(session_id=sitting.id, kind="presence", triggered_at=1.0, verdict_at=2.0,
                        passed=False, scores_json=json.dumps({"distance": 0.1})))   # not an identity check
    db.commit()

    out = app.test_cli_runner().invoke(args=["proctor", "recompute-far-frr"])
    assert out.exit_code == 0, out.output
    values = dict(line.split("=", 1) for line in out.output.strip().splitlines())
    assert values["threshold"] == f"{vision.IDENTITY_THRESHOLD:.4f}"
    assert values["genuine"] == "3" and values["impostor_confirmed"] == "1"
    assert values["unreviewed"] == "1" and values["no_distance"] == "1"
    assert float(values["frr"]) == pytest.approx(1 / 3, abs=1e-4)
    assert values["far_observable"] == "false"
    looser = app.test_cli_runner().invoke(args=["proctor", "recompute-far-frr", "--threshold", "0.6"])
    assert "far_confirmed=1.0000" in looser.output and "frr=0.0000" in looser.output
