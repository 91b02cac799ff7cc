"""The completion quiz: questions over the eight skills.

Multiple-choice questions carry their answer and an explanation. "Predict the outcome"
questions carry a small world and commands instead of an answer: the answer is computed
by running them through a real session and reading a metric, so it can never drift
from what the simulation does. Question order and option order are shuffled by a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .schema import SKILLS, CauseQuestion, ChoiceQuestion, OrderQuestion, PredictQuestion, QuizBank


class QuizError(Exception):
    pass


def predict_answer(q: PredictQuestion) -> float:
    from .session import Session, WorldError, free_play_chapter

    try:
        session = Session(free_play_chapter(q.world, f"quiz-{q.id}", q.id), 0, sandbox=True)
    except WorldError as exc:
        raise QuizError(f"question {q.id}: {exc}") from None
    for line in q.commands:
        outcome = session.execute(line)
        if outcome.error_kind in ("input", "internal"):
            raise QuizError(f"question {q.id}: command {line!r} failed: {outcome.output}")
    metrics = session.cloud.metrics()
    if q.metric not in metrics:
        raise QuizError(f"question {q.id}: no metric {q.metric!r} (metrics: {', '.join(sorted(metrics))})")
    return float(metrics[q.metric])


def check_bank(bank: QuizBank) -> None:
    """Every predict question must compute; every skill should be asked about."""
    ids = [q.id for q in bank.questions]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise QuizError(f"question ids repeat: {', '.join(dupes)}")
    for q in bank.questions:
        if isinstance(q, PredictQuestion):
            predict_answer(q)
    asked = {s for q in bank.questions for s in q.skills}
    missing = [s for s in SKILLS if s not in asked]
    if missing:
        raise QuizError(f"no question covers: {', '.join(missing)}")


@dataclass
class AskedQuestion:
    """One question as the player sees it: options shuffled, the answer resolved."""

    id: str
    kind: str
    skills: list[str]
    text: str
    options: list[str]  # empty for predict questions
    answer: Any  # index into options, a number, or (order) the option indices in the right order
    tolerance: float
    explanation: str

    def grade(self, response: Any) -> bool:
        if self.kind in ("choice", "order"):
            return response == self.answer
        try:
            return abs(float(response) - float(self.answer)) <= self.tolerance
        except (TypeError, ValueError):
            return False


def prepare(bank: QuizBank, seed: int, limit: int | None = None) -> list[AskedQuestion]:
    rng = random.Random(seed)
    questions = list(bank.questions)
    rng.shuffle(questions)
    if limit:
        questions = questions[:limit]
    out = []
    for q in questions:
        if isinstance(q, OrderQuestion):
            from .interview import shuffled_steps

            shown, right = shuffled_steps(q, rng)
            out.append(AskedQuestion(q.id, "order", list(q.skills), q.text, shown, right, 0, q.explanation))
        elif isinstance(q, ChoiceQuestion):  # a cause question is one, with its log in the text
            from .interview import cause_text

            text = cause_text(q) if isinstance(q, CauseQuestion) else q.text
            order = list(range(len(q.options)))
            rng.shuffle(order)
            out.append(
                AskedQuestion(q.id, "choice", list(q.skills), text, [q.options[i] for i in order], order.index(q.answer), 0, q.explanation)
            )
        else:
            value = predict_answer(q)
            out.append(AskedQuestion(q.id, "predict", list(q.skills), q.text, [], value, q.tolerance, q.explanation))
    return out


@dataclass
class QuizScore:
    correct: int = 0
    total: int = 0
    per_skill: dict[str, list[int]] = field(default_factory=dict)  # skill -> [right, asked]
    right: list[str] = field(default_factory=list)  # ids of the questions answered right

    def add(self, q: AskedQuestion, ok: bool) -> None:
        self.total += 1
        self.correct += int(ok)
        if ok:
            self.right.append(q.id)
        for s in q.skills:
            right, asked = self.per_skill.setdefault(s, [0, 0])
            self.per_skill[s] = [right + int(ok), asked + 1]

    @property
    def pct(self) -> int:
        return round(100 * self.correct / self.total) if self.total else 0

    def skill_pct(self) -> dict[str, int]:
        return {s: round(100 * r / a) for s, (r, a) in self.per_skill.items() if a}

    def passed(self, mark: int) -> bool:
        return self.pct >= mark and all(p >= mark for p in self.skill_pct().values())
