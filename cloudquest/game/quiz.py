"""The completion quiz: questions over the eight skills.

Multiple-choice questions carry their answer and an explanation. "Predict the outcome"
questions carry a small world and commands instead of an answer: the answer is computed
by running them through a real session and reading a metric, so it can never drift
from what the simulation does. Question order and option order are shuffled by a seed;
a question that follows another (``AskedQuestion.follows``) is never asked before it.

The bank is checked for give-aways: the right option may not stand out by its length
(at most :data:`LENGTH_RATIO` times the longest wrong one), and across the bank the
right option is the longest one in at most a third of the questions, so "pick the
longest" is no strategy. A skill is passed on a mastery rule that one slip in three does
not sink (:meth:`QuizScore.skill_passed`).
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


# The right option may be at most this many times as long as the longest wrong one.
LENGTH_RATIO = 1.5
# ... and the longest option of all in at most this share of the choice questions.
LONGEST_RIGHT_SHARE = 1 / 3


def length_problems(bank: QuizBank) -> list[str]:
    """Where the right option gives itself away by its length (see the module docstring)."""
    problems = []
    choice = [q for q in bank.questions if isinstance(q, ChoiceQuestion)]
    longest_right = []
    for q in choice:
        right = len(q.options[q.answer])
        wrong = max((len(o) for i, o in enumerate(q.options) if i != q.answer), default=0)
        if wrong and right > LENGTH_RATIO * wrong:
            problems.append(
                f"question {q.id}: the right option is {right / wrong:.1f}x as long as the longest wrong one "
                f"(at most {LENGTH_RATIO:g}x): lengthen a wrong option or shorten the right one"
            )
        if right > wrong:
            longest_right.append(q.id)
    if len(choice) >= 3 and len(longest_right) > LONGEST_RIGHT_SHARE * len(choice):
        problems.append(
            f"the right option is the longest in {len(longest_right)} of {len(choice)} choice questions "
            f"(at most a third): {', '.join(longest_right)}"
        )
    return problems


def check_bank(bank: QuizBank) -> None:
    """Every predict question must compute; every skill should be asked about; no right
    option gives itself away by its length."""
    ids = [q.id for q in bank.questions]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise QuizError(f"question ids repeat: {', '.join(dupes)}")
    problems = length_problems(bank)
    if problems:
        raise QuizError("; ".join(problems))
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
    follows: str | None = None  # the id of a question this one refers to: asked after it

    def grade(self, response: Any) -> bool:
        if self.kind in ("choice", "order"):
            return response == self.answer
        try:
            return abs(float(response) - float(self.answer)) <= self.tolerance
        except (TypeError, ValueError):
            return False


def in_order(questions: list[AskedQuestion]) -> list[AskedQuestion]:
    """The questions in their order, except that a question that follows another (its
    ``follows``) is moved to just after it: none refers to one not yet asked."""
    out: list[AskedQuestion] = []
    waiting: dict[str, list[AskedQuestion]] = {}
    ids = {q.id for q in questions}

    def place(q: AskedQuestion) -> None:
        out.append(q)
        for later in waiting.pop(q.id, []):
            place(later)

    for q in questions:
        if q.follows and q.follows in ids and all(o.id != q.follows for o in out):
            waiting.setdefault(q.follows, []).append(q)
        else:
            place(q)
    for rest in waiting.values():  # a chain that cannot be satisfied: at the end, in order
        out.extend(rest)
    return out


def mix_in(questions: list[AskedQuestion], extra: list[AskedQuestion], rng: random.Random) -> list[AskedQuestion]:
    """``extra`` put among ``questions`` at seeded places, keeping their own order."""
    slots = sorted(rng.randrange(len(questions) + 1) for _ in extra)
    out = list(questions)
    for n, (slot, q) in enumerate(zip(slots, extra)):
        out.insert(slot + n, q)
    return in_order(out)


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
    return in_order(out)


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

    def skill_passed(self, skill: str) -> bool:
        """Mastery, not perfection: at most one slip in three (2 of 3, 3 of 4, 4 of 6).
        A skill asked once or twice must be answered right every time."""
        right, asked = self.per_skill.get(skill, (0, 0))
        return asked > 0 and 3 * right >= 2 * asked

    def passed(self, mark: int) -> bool:
        """The overall pass mark, and every skill asked passed on the mastery rule."""
        return self.pct >= mark and all(self.skill_passed(s) for s in self.per_skill)
