"""The completion quiz: no right option gives itself away by its length, a skill passes
on a mastery rule one slip in three does not sink, and no question is asked before the
one it follows."""

from __future__ import annotations

import random

import pytest

from cloudquest.game.chapters import load_quiz
from cloudquest.game.quiz import (
    AskedQuestion,
    QuizError,
    QuizScore,
    check_bank,
    in_order,
    length_problems,
    mix_in,
    prepare,
)
from cloudquest.game.schema import ChoiceQuestion, QuizBank


def asked(ident: str, skills=("resource scheduling",), follows=None) -> AskedQuestion:
    return AskedQuestion(ident, "choice", list(skills), ident, ["a", "b"], 0, 0, "", follows)


def test_the_shipped_bank_gives_nothing_away_by_length():
    bank = load_quiz()
    assert length_problems(bank) == []
    choice = [q for q in bank.questions if isinstance(q, ChoiceQuestion)]
    longest = [q for q in choice if len(q.options[q.answer]) > max(len(o) for i, o in enumerate(q.options) if i != q.answer)]
    assert len(longest) * 3 <= len(choice)


def test_a_giveaway_by_length_is_refused_with_the_question_named():
    q = {"id": "long", "kind": "choice", "skills": ["resource scheduling"], "text": "?", "explanation": "!"}
    bank = QuizBank.model_validate(
        {
            "pass_mark_pct": 70,
            "questions": [
                {**q, "id": f"q{i}", "options": ["the right answer, said at great and telling length", "no", "nope"], "answer": 0}
                for i in range(3)
            ],
        }
    )
    problems = length_problems(bank)
    assert any("question q0: the right option is" in p for p in problems)
    assert any("the right option is the longest in 3 of 3" in p for p in problems)
    with pytest.raises(QuizError, match="lengthen a wrong option"):
        check_bank(bank)


def test_options_are_shuffled_by_seed():
    bank = load_quiz()
    first, again, other = prepare(bank, 3), prepare(bank, 3), prepare(bank, 4)
    assert [q.options for q in first] == [q.options for q in again]
    assert [q.id for q in first] != [q.id for q in other] or [q.options for q in first] != [q.options for q in other]
    for q in first:
        if q.kind == "choice":
            source = next(b for b in bank.questions if b.id == q.id)
            assert q.options[q.answer] == source.options[source.answer]


def test_a_skill_passes_with_one_slip_in_three():
    score = QuizScore()
    for ok in (True, True, False):  # 2 of 3 in one skill: 67%, yet mastered
        score.add(asked("x", ("replication systems",)), ok)
    for _ in range(10):
        score.add(asked("y"), True)
    assert score.skill_passed("replication systems")
    assert score.passed(70) and score.pct == 92
    half = QuizScore()
    half.add(asked("a", ("isolation layers",)), True)
    half.add(asked("b", ("isolation layers",)), False)
    assert not half.skill_passed("isolation layers")  # 1 of 2 is a coin toss, not mastery
    assert not half.passed(50)


def test_no_question_comes_before_the_one_it_follows():
    qs = [asked("b", follows="a"), asked("c"), asked("a"), asked("d", follows="b")]
    assert [q.id for q in in_order(qs)] == ["c", "a", "b", "d"]
    base = [asked(f"q{i}") for i in range(8)]
    own = [asked("own-why"), asked("own-boot", follows="own-why")]
    for seed in range(50):
        ids = [q.id for q in mix_in(base, own, random.Random(seed))]
        assert ids.index("own-why") < ids.index("own-boot")
        assert [i for i in ids if i.startswith("q")] == [q.id for q in base]
