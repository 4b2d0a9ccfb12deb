"""Surprise questions: drawn from the course's bank near what was just watched, graded here.

The browser only ever receives the prompt and the choices, never the answer; grading
happens on the server against the bank.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .policy import uniform


@dataclass(frozen=True)
class BankQuestion:
    id: int
    at: float                  # seconds into the video the question is about
    prompt: str
    choices: tuple[str, ...]
    answer: int


@dataclass(frozen=True)
class AskedQuestion:
    """What the learner sees."""
    id: int
    prompt: str
    choices: tuple[str, ...]


def draw_question(bank: Sequence[BankQuestion], position: float, secret: bytes, session_key: str, index: int,
                  lookback_s: float = 120.0, asked: frozenset[int] = frozenset()) -> BankQuestion | None:
    """A question about the last `lookback_s` seconds watched (not asked before in this
    sitting), chosen unpredictably; None when there is nothing to ask about."""
    recent = [q for q in bank if position - lookback_s <= q.at <= position and q.id not in asked]
    if not recent:
        return None
    pick = int(uniform(secret, "question", session_key, index) * len(recent))
    return recent[min(pick, len(recent) - 1)]


def public_view(question: BankQuestion) -> AskedQuestion:
    return AskedQuestion(question.id, question.prompt, question.choices)


def grade(question: BankQuestion, chosen: object, answered_at: float, asked_at: float, limit_s: float) -> tuple[bool, str]:
    """(passed, reason). Late, malformed and wrong answers fail."""
    if answered_at - asked_at > limit_s:
        return False, "late"
    if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen < len(question.choices):
        return False, "invalid"
    return (True, "correct") if chosen == question.answer else (False, "wrong")
