"""Screenshots of an "explain it like an interview" ordering question at 80x24 and
120x40, two steps already picked (a frozen one-question bank, tests/tui/fixtures/completion),
and the completion screen of a new player."""

from __future__ import annotations

import pytest

from .support import FIXTURES, SIZES, settle
from .support import make_app as _make_app

LEVELS = FIXTURES / "levels"


@pytest.mark.parametrize("size", SIZES)
def test_ordering_question_two_steps_picked(snap_compare, size):
    async def run_before(pilot):
        await settle(pilot)
        pilot.app.open_quiz()
        await settle(pilot)
        q = pilot.app.screen.current
        await pilot.press(*(str(i + 1) for i in q.answer[:2]))
        await settle(pilot)

    app = _make_app(LEVELS, quiz_file=FIXTURES / "completion" / "quiz.yaml")
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_completion_screen_before_any_proof(snap_compare, size):
    """The completion screen of a new player: the eight skills, none proved yet, the
    mastery rule, and the keys that write the certificate."""

    async def run_before(pilot):
        await settle(pilot)
        pilot.app.open_map()
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)

    assert snap_compare(_make_app(LEVELS), terminal_size=size, run_before=run_before)
