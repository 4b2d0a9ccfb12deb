"""Identity-check schedule and surprise questions (pure rules)."""
from __future__ import annotations

import statistics

from proctoring.policy import IdentityPolicy, identity_check_delay, with_liveness
from proctoring.questions import BankQuestion, draw_question, grade, public_view

POLICY = IdentityPolicy(mean_s=180, min_s=20, max_s=600, liveness_share=0.5)
BANK = [BankQuestion(i, at, f"q{i}", ("a", "b", "c"), i % 3) for i, at in enumerate([10, 50, 90, 130, 170])]


def test_identity_checks_are_a_clamped_poisson_process():
    delays = [identity_check_delay(b"k", f"s{s}", i, POLICY) for s in range(300) for i in range(4)]
    assert all(20 <= d <= 600 for d in delays)
    assert 170 < statistics.mean(delays) < 215
    assert len({round(d) for d in delays}) > 200


def test_liveness_rides_on_about_the_configured_share():
    share = statistics.mean(with_liveness(b"k", f"s{s}", 0, POLICY) for s in range(2000))
    assert 0.45 < share < 0.55


def test_question_comes_from_what_was_just_watched():
    for index in range(20):
        q = draw_question(BANK, position=100, secret=b"k", session_key="s", index=index, lookback_s=60)
        assert q is not None and 40 <= q.at <= 100
    assert draw_question(BANK, position=5, secret=b"k", session_key="s", index=0) is None


def test_asked_questions_are_not_repeated():
    asked = frozenset({1, 2})
    q = draw_question(BANK, position=100, secret=b"k", session_key="s", index=0, lookback_s=60, asked=asked)
    assert q is None


def test_public_view_hides_the_answer():
    view = public_view(BANK[0])
    assert not hasattr(view, "answer") and view.choices == ("a", "b", "c")


def test_grading_on_the_server():
    q = BANK[1]  # answer 1
    assert grade(q, 1, answered_at=10, asked_at=0, limit_s=30) == (True, "correct")
    assert grade(q, 2, answered_at=10, asked_at=0, limit_s=30) == (False, "wrong")
    assert grade(q, 1, answered_at=40, asked_at=0, limit_s=30) == (False, "late")
    for bad in ("1", True, -1, 3, None, 1.0):
        assert grade(q, bad, answered_at=1, asked_at=0, limit_s=30) == (False, "invalid")
