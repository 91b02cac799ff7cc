"""Screenshots of every screen at 80x24 and 120x40 (pytest-textual-snapshot).

Deterministic: a frozen two-chapter catalogue and quiz bank (tests/tui/fixtures, so new
chapters never change these), seed 0, the clock paused, no cursor blink (the app turns
it off when headless), saved runs named and dated by a pinned clock, and UTC.

Review a changed screenshot in the report before accepting it with
``pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from player import enter

from cloudquest.game.chapters import load_all
from cloudquest.game.locations import progress_file
from cloudquest.game.session import Session

from .support import FIXTURES, PINNED, SIZES, settle
from .support import make_app as _make_app

LEVELS = FIXTURES / "levels"


def make_app(**kwargs):
    return _make_app(kwargs.pop("levels", LEVELS), **kwargs)


def chapter(ident: str):
    return load_all(LEVELS).get(ident)


def save_solution_run(n: int = 1) -> list[Path]:
    from cloudquest.game.runs import save_run

    paths = []
    for i in range(n):
        s = Session(chapter("launch"), i)
        s.run_script(list(chapter("launch").solution))
        path = save_run(s)
        os.utime(path, (PINNED + i * 60, PINNED + i * 60))
        paths.append(path)
    return paths


def completed_first_chapter() -> None:
    progress_file().parent.mkdir(parents=True, exist_ok=True)
    progress_file().write_text(
        json.dumps(
            {
                "format": 1,
                "chapters": {
                    "big-realization": {
                        "completed": True,
                        "attempts": 2,
                        "best_passed": 3,
                        "objectives": 3,
                        "best_hints": 1,
                        "best_time_s": 15.0,
                        "skills": ["virtualization internals", "resource scheduling", "cloud networking internals"],
                    }
                },
            }
        )
    )



@pytest.mark.parametrize("size", SIZES)
def test_title(snap_compare, size):
    completed_first_chapter()
    assert snap_compare(make_app(), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_level_map(snap_compare, size):
    completed_first_chapter()

    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


async def open_launch(pilot):
    await settle(pilot)
    pilot.app.open_chapter(chapter("launch"), ask=False)
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_chapter_start(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=open_launch)


@pytest.mark.parametrize("size", SIZES)
def test_chapter_mid_launch(snap_compare, size):
    """The capacity error inline, api placed and its pipeline half way, the clock paused."""

    async def run_before(pilot):
        await open_launch(pilot)
        await enter(
            pilot,
            "launch --name api --type medium --zone eu-west-1a",
            "launch --name api --type medium --zone eu-west-1b",
            "tick 0.5",
        )
        await pilot.press("ctrl+o")  # objectives focused: the evidence shows
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_chapter_completed_with_events_pane(snap_compare, size):
    async def run_before(pilot):
        await open_launch(pilot)
        await enter(pilot, *chapter("launch").solution)
        await pilot.press("shift+f9")  # the pane before the console: the event log
        await settle(pilot)
        await settle(pilot)  # the log, hidden until now, is rebuilt and scrolled to its end

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_reset_asks_first(snap_compare, size):
    async def run_before(pilot):
        await open_launch(pilot)
        await enter(pilot, "launch --name web --zone eu-west-1b")
        await pilot.press("f8")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_jump_ahead_asks_first(snap_compare, size):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_result(snap_compare, size):
    async def run_before(pilot):
        await open_launch(pilot)
        await enter(pilot, *chapter("launch").solution)
        await pilot.press("f6")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_metrics_fallback_view(snap_compare, size):
    """A world whose view has no widget yet gets the metrics table."""

    async def run_before(pilot):
        from cloudquest.tui.screens.chapter import ChapterScreen

        await settle(pilot)
        ch = chapter("launch")
        ch = ch.model_copy(update={"world": ch.world.model_copy(update={"view": "not-drawn-yet"})})
        pilot.app.push_screen(ChapterScreen(ch, running=False))
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_quiz_question(snap_compare, size):
    async def run_before(pilot):
        save_solution_run()
        await settle(pilot)
        pilot.app.open_quiz()
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_quiz_own_run_question_answered(snap_compare, size):
    async def run_before(pilot):
        save_solution_run()
        await settle(pilot)
        pilot.app.open_quiz()
        await settle(pilot)
        quiz = pilot.app.screen
        while not quiz.current.id.startswith("own-why"):
            q = quiz.current
            await pilot.press(str(q.answer + 1) if q.kind == "choice" else "enter")
            if q.kind == "predict":
                await pilot.press(*f"{q.answer:g}", "enter")
            await pilot.press("n")
            await settle(pilot)
        await pilot.press("2")  # answer it (right or wrong, the explanation shows)
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_quiz_summary(snap_compare, size):
    async def run_before(pilot):
        await settle(pilot)
        pilot.app.open_quiz()
        await settle(pilot)
        quiz = pilot.app.screen
        while quiz.phase == "question":
            q = quiz.current
            if q.kind == "choice":
                await pilot.press("1")
            else:
                await pilot.press(*"8", "enter")
            await pilot.press("n")
            await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_replays_list(snap_compare, size):
    async def run_before(pilot):
        save_solution_run(3)
        await settle(pilot)
        pilot.app.open_replays()
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_replay_viewer_mid_run(snap_compare, size):
    async def run_before(pilot):
        (path,) = save_solution_run(1)
        await settle(pilot)
        pilot.app.open_replay(path)
        await settle(pilot)
        for _ in range(6):
            await pilot.press("right")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
