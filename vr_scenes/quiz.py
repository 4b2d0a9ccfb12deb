"""The short reflection quiz at the end of a scene, in Simplified Chinese: 3-4 multiple-choice
questions per scene, defined here in code. The station asks them on the terminal (or takes
``--answers`` in tests), grades them locally and posts the result in the contract's shape:
``{"questions": N, "correct": N, "answers": [{"id", "answer", "correct"}]}``.

A scene without its own questions gets ``GENERIC``; a fourth scene can add its list to ``QUIZZES``.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

LETTERS = "abcd"


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str
    choices: tuple[str, ...]        # shown as A, B, C, D
    answer: str                     # the right letter, "a".."d"

    def __post_init__(self):
        if not 2 <= len(self.choices) <= len(LETTERS) or self.answer not in LETTERS[:len(self.choices)]:
            raise ValueError(f"question {self.id}: bad choices or answer")


QUIZZES: dict[str, tuple[Question, ...]] = {
    "prison": (
        Question("prison_freedom", "在监狱里，你一天的作息由谁决定？",
                 ("由自己决定", "由监规和时间表决定", "由家人决定"), "b"),
        Question("prison_visit", "会见家人时，你和家人之间隔着什么？",
                 ("一张桌子", "什么都没有", "一层玻璃，只能通过电话说话"), "c"),
        Question("prison_rules", "社区矫正期间违反规定，可能会有什么后果？",
                 ("没有任何后果", "可能被收监执行", "只是口头批评"), "b"),
        Question("prison_reflect", "走出这个场景，你最想对自己说的是什么？",
                 ("遵纪守法，珍惜自由", "下次不被发现就行", "无所谓"), "a"),
    ),
    "drunk": (
        Question("drunk_reaction", "与清醒时相比，酒后驾驶时你的反应时间怎样变化？",
                 ("更快", "没有变化", "明显变慢，刹车来不及"), "c"),
        Question("drunk_limit", "血液酒精含量达到多少即属于醉酒驾驶？",
                 ("20毫克/100毫升", "80毫克/100毫升", "200毫克/100毫升"), "b"),
        Question("drunk_refuse", "朋友劝你喝酒后开车回家，正确的做法是？",
                 ("少喝一点再开", "开慢一点就没事", "不喝酒，或喝酒后找代驾、打车"), "c"),
        Question("drunk_consequence", "醉驾造成事故，承担后果的有谁？",
                 ("只有自己", "受害者、自己和双方的家人", "没有人"), "b"),
    ),
    "rehab": (
        Question("rehab_withdrawal", "戒断反应出现时，最应该做的是？",
                 ("一个人硬扛", "再吸一次缓解", "及时求助医生和家人"), "c"),
        Question("rehab_temptation", "老朋友递来毒品说“就一次”，你应该？",
                 ("坚决拒绝并离开", "只试一次", "收下留着以后用"), "a"),
        Question("rehab_relapse", "复吸会带来什么？",
                 ("没什么影响", "身体受损、前功尽弃、家人失望", "让人更健康"), "b"),
    ),
}

GENERIC: tuple[Question, ...] = (
    Question("generic_lesson", "这次体验中，你认识到了什么？",
             ("违法行为会伤害自己和家人", "与我无关", "不被发现就没事"), "a"),
    Question("generic_help", "遇到困难或诱惑时，你可以向谁求助？",
             ("矫正工作人员和家人", "没有人", "一起违法的朋友"), "a"),
    Question("generic_plan", "接下来你打算怎么做？",
             ("遵守矫正规定，按时报到和学习", "随心所欲", "等矫正结束再说"), "a"),
)


def questions_for(scene: str) -> tuple[Question, ...]:
    return QUIZZES.get(scene, GENERIC)


def parse_answers(text: str, questions: Sequence[Question]) -> dict[str, str]:
    """``--answers``: either letters in order (``"c,b,c,b"`` or ``"cbcb"``) or ``id=letter`` pairs."""
    text = text.strip()
    if "=" in text:
        out = {}
        for part in text.split(","):
            qid, _, letter = part.partition("=")
            out[qid.strip()] = letter.strip().lower()
        return out
    letters = [p.strip().lower() for p in text.split(",")] if "," in text else list(text.lower())
    if len(letters) != len(questions):
        raise ValueError(f"{len(questions)} answers needed, got {len(letters)}")
    return {q.id: letter for q, letter in zip(questions, letters, strict=True)}


def grade(questions: Sequence[Question], answers: dict[str, str]) -> dict:
    """The contract's quiz object. Every question must be answered (a letter of its choices)."""
    rows = []
    for q in questions:
        letter = answers.get(q.id, "")
        if letter not in LETTERS[:len(q.choices)]:
            raise ValueError(f"question {q.id}: no valid answer ({letter!r})")
        rows.append({"id": q.id, "answer": letter, "correct": letter == q.answer})
    return {"questions": len(rows), "correct": sum(r["correct"] for r in rows), "answers": rows}


def ask(questions: Sequence[Question], read: Callable[[], str] | None = None, out: TextIO | None = None) -> dict:
    """Ask on a terminal: each question with lettered choices, repeated until a valid letter; after
    each answer the right one is shown (it is reflection, not an exam). Returns ``grade(...)``."""
    out = out or sys.stdout
    read = read or (lambda: input())
    answers = {}
    print("\n反思小测验（请输入选项字母后回车）", file=out)
    for n, q in enumerate(questions, 1):
        print(f"\n{n}. {q.prompt}", file=out)
        for letter, choice in zip(LETTERS, q.choices, strict=False):
            print(f"   {letter.upper()}. {choice}", file=out)
        valid = LETTERS[:len(q.choices)]
        while True:
            print("> ", end="", file=out, flush=True)
            try:
                letter = read().strip().lower()
            except EOFError:
                raise ValueError("the quiz was not finished (end of input)") from None
            if len(letter) == 1 and letter in valid:
                break
            print(f"请输入 {'/'.join(valid.upper())}", file=out)
        answers[q.id] = letter
        right = q.answer
        print("回答正确。" if letter == right else f"正确答案是 {right.upper()}：{q.choices[LETTERS.index(right)]}",
              file=out)
    return grade(questions, answers)
