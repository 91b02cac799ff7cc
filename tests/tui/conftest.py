"""Fixtures for the terminal game's tests: an app factory, by default on a frozen
catalogue (fixtures/levels: chapters 0 and 1) and quiz bank, so new chapters never change
the flow tests (the view tests pass the real levels/ on purpose), and the ways to drive it:
keys for the keyboard's own tests, whole console lines (``run``) for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from player import enter

FIXTURES = Path(__file__).parent / "fixtures"
LEVELS = FIXTURES / "levels"
QUIZ = FIXTURES / "quiz.yaml"


@pytest.fixture
def make_app():
    from cloudquest.tui.app import CloudQuestApp

    def make(**kwargs):
        kwargs.setdefault("levels", LEVELS)
        kwargs.setdefault("quiz_file", QUIZ)
        kwargs.setdefault("live_clock", False)
        kwargs.setdefault("seed", 0)
        kwargs.setdefault("quiz_seed", 1)
        return CloudQuestApp(**kwargs)

    return make


async def type_text(pilot, text: str) -> None:
    """Type text key by key: for the tests about the keyboard itself."""
    await pilot.press(*text)


async def settle(pilot, app=None) -> None:
    """Let workers (loading, quiz preparation, replay rebuilds) finish and the screen redraw."""
    app = app or pilot.app
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


async def open_chapter(pilot, chapter):
    """Open a chapter in the app with the clock paused; return its screen."""
    from cloudquest.tui.screens.chapter import ChapterScreen

    await settle(pilot)
    pilot.app.open_chapter(chapter, ask=False)
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ChapterScreen)
    assert not screen.clock.running
    return screen


async def run(pilot, *lines: str) -> None:
    """Enter console lines the way Enter sends them (not key by key), then let the app settle."""
    await enter(pilot, *lines)
    await settle(pilot)


def visible_rows(screen) -> int:
    """How many rows of the live view's pane are on screen."""
    return screen.query_one("#view-scroll").scrollable_content_region.height


def on_screen(screen, view) -> list[str]:
    """The live view's lines the pane shows without scrolling."""
    return view.text.plain.splitlines()[: visible_rows(screen)]


def assert_fits(view, screen=None) -> None:
    """Every line of the view within its width and none cut short with an ellipsis; with
    ``screen``, all of them on screen without scrolling too."""
    width = view.content_size.width
    lines = view.text.plain.splitlines()
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    assert not any(line.endswith("…") for line in lines)
    if screen is not None:
        assert len(lines) <= visible_rows(screen)
