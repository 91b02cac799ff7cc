"""What the screenshot tests share: frozen fixtures, the app, and ways to reach a screen.

Deterministic: frozen chapter catalogues and quiz bank (tests/tui/fixtures, so edits to
levels/ never change a screenshot), seed 0, the clock paused, no cursor blink (the app
turns it off when headless), UTC and a pinned clock (conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from player import enter

from cloudquest.game.chapters import load_all

FIXTURES = Path(__file__).resolve().parent.parent / "tui" / "fixtures"
QUIZ = FIXTURES / "quiz.yaml"
PINNED = 1_767_225_600  # 2026-01-01 00:00:00 UTC
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def make_app(levels: Path, **kwargs):
    from cloudquest.tui.app import CloudQuestApp

    kwargs.setdefault("quiz_file", QUIZ)
    kwargs.setdefault("seed", 0)
    return CloudQuestApp(levels=levels, live_clock=False, quiz_seed=1, **kwargs)


async def settle(pilot) -> None:
    app = pilot.app
    await app.ensure_loaded()
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


def opened(levels: Path, ident: str, *lines: str, keys: tuple[str, ...] = ()):
    """A run_before that opens a chapter, enters the lines on its console, then presses
    ``keys``."""

    async def run_before(pilot):
        await settle(pilot)
        pilot.app.open_chapter(load_all(levels).get(ident), ask=False)
        await settle(pilot)
        await enter(pilot, *lines)
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)

    return run_before
