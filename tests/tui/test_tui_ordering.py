"""An ordering question played from the keyboard at 80x24: the steps' numbers first step
first, backspace takes a pick back, the last pick grades the order."""

from __future__ import annotations

from .conftest import FIXTURES, settle

from cloudquest.tui.screens.quiz import QuizScreen

BANK = FIXTURES / "completion" / "quiz.yaml"


async def test_an_order_is_built_with_number_keys_and_backspace(make_app):
    app = make_app(quiz_file=BANK)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_quiz()
        await settle(pilot)
        quiz = app.screen
        assert isinstance(quiz, QuizScreen)
        q = quiz.current
        assert q.kind == "order"
        right = [str(i + 1) for i in q.answer]
        wrong_first = next(k for k in "123456" if k != right[0])
        await pilot.press(wrong_first, "backspace")
        assert quiz.picks == []
        await pilot.press(*right[:-1])
        assert not quiz.answered and len(quiz.picks) == len(right) - 1
        await pilot.press(right[-1])
        await settle(pilot)
        assert quiz.answered and quiz.score.correct == 1
        await pilot.press("n")
        await settle(pilot)
        assert quiz.phase == "done"
