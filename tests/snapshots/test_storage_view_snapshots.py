"""Screenshots of the storage view (chapters 4 and 5) at 80x24 and 120x40, each after a
few commands: a disk lost while two objects are being read, and an erasure-coded layout
waiting out a silent host's heartbeat timeout.

Deterministic as the other screenshots are: frozen copies of the two chapters
(tests/tui/fixtures/storage, so edits to levels/ never change these), seed 0, the clock
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
LEVELS = FIXTURES / "storage"
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
def test_storage_view_disk_lost_then_read(snap_compare, size):
    """Chapter 4: two objects in 64 MiB chunks, disk a1-h2-d1 failed, 20 s of repair at
    100 MiB/s, then a read: the failed disk's ✘, the repair's slope and its ETA, the read's
    slowest chunk marked on the map."""
    lines = (
        "set chunk 64MiB",
        "put clicks-01 75GiB",
        "put clicks-02 75GiB",
        "fail disk a1-h2-d1",
        "tick 20",
        "get clicks-01",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("storage", *lines))


@pytest.mark.parametrize("size", SIZES)
def test_replication_view_erasure_coded_host_silent(snap_compare, size):
    """Chapter 5 under RS-6-3, zone-aware: at t=960 s the disk lost at 60 s is repaired,
    host b1-h2 (failed at 900 s) is silent and waits out its 630 s timeout; the nine
    fragments of events-1's chunk 2 are marked, six ◆ data and three ◇ parity."""
    lines = (
        "set erasure 6 3",
        "set placement zone-aware",
        "put events-1 30GiB",
        "put events-2 30GiB",
        "tick 960",
        "locate events-1 --chunk 2",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("replication", *lines))
