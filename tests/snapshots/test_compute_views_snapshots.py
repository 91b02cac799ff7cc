"""Screenshots of the compute chapters' live views at 80x24 and 120x40: the host view
(chapter 2) and the scheduling view (chapter 3), each after a few commands.

Deterministic as the other screenshots are: frozen copies of the two chapters
(tests/tui/fixtures/compute, so edits to levels/ never change these), seed 0, the clock
paused, no cursor blink (the app turns it off when headless), UTC and a pinned clock for
anything dated. Review a changed screenshot in the report before accepting it with
``pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cloudquest.game.chapters import load_all

FIXTURES = Path(__file__).resolve().parent.parent / "tui" / "fixtures"
LEVELS = FIXTURES / "compute"
QUIZ = FIXTURES / "quiz.yaml"
PINNED = 1_767_225_600  # 2026-01-01 00:00:00 UTC
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch):
    import cloudquest.tui.runs as runs

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    if hasattr(runs, "CLOCK"):
        monkeypatch.setattr(runs, "CLOCK", lambda: PINNED)
    yield
    monkeypatch.undo()
    time.tzset()


def make_app():
    from cloudquest.tui.app import CloudQuestApp

    return CloudQuestApp(levels=LEVELS, quiz_file=QUIZ, live_clock=False, quiz_seed=1)


async def settle(pilot) -> None:
    app = pilot.app
    await app.ensure_loaded()
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


def opened(ident: str, *lines: str):
    async def run_before(pilot):
        await settle(pilot)
        pilot.app.open_chapter(load_all(LEVELS).get(ident), ask=False)
        await settle(pilot)
        for line in lines:
            await pilot.press(*line)
            await pilot.press("enter")
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_host_view_noisy_neighbour(snap_compare, size):
    """db and batch pinned together: batch fills pCPUs 0-7, db's steal over 20 %."""
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("hypervisor", "tick 3"))


@pytest.mark.parametrize("size", SIZES)
def test_host_view_overcommitted(snap_compare, size):
    """Six VMs on 16 pCPUs after unpinning batch: lanes over the whole host, the RAM
    overcommitted and the host swapping until legacy's balloon gives pages back."""
    lines = (
        "pin batch all",
        "vm create ci --vcpus 4 --ram 8 --workload bursty",
        "vm create api --vcpus 4 --ram 8 --workload steady --load 30",
        "balloon legacy 4",
        "tick 2",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("hypervisor", *lines))


@pytest.mark.parametrize("size", SIZES)
def test_scheduling_view_with_group_and_explain(snap_compare, size):
    """The fleet after 15 s of the stream, a spread group of two, and one request explained."""
    lines = (
        "group create web --strategy spread",
        "launch --name web-1 --type medium --group web",
        "launch --name web-2 --type medium --group web",
        "tick 15",
        "explain req-031",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("scheduling", *lines))
