"""Failure scenarios in the terminal game: a scenario picked from the library, played
against a design, scrubbed to its first fault, forked; two designs compared with the
figures `cloudquest scenario compare` prints."""

from __future__ import annotations

import json

from cloudquest.game.chapters import load_all
from cloudquest.game.locations import replays_dir
from cloudquest.game.replay import read, verify
from cloudquest.game.scenarios import comparison_lines, compare, design_lines, find
from cloudquest.tui.screens.chapter import ChapterScreen
from cloudquest.tui.screens.replays import ReplayViewerScreen
from cloudquest.tui.screens.scenarios import FILE_CHOICE, ScenariosScreen
from cloudquest.tui.screens.title import TitleScreen

from .conftest import FIXTURES, run, settle

LEVELS = FIXTURES / "reliability"  # chapter 9, frozen: the scenarios' world


async def wait_idle(pilot, screen) -> None:
    import asyncio

    for _ in range(6000):
        if not screen.busy:
            break
        await asyncio.sleep(0.01)
    await settle(pilot)


async def test_a_scenario_is_watched_scrubbed_to_its_first_fault_forked_and_compared(make_app, tmp_path):
    catalogue = load_all(LEVELS)
    chapter = catalogue.get("failure-design")
    app = make_app(levels=LEVELS)
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TitleScreen)
        await pilot.press("s")  # the title menu's Failure scenarios
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ScenariosScreen)
        assert {s.name for s in screen.scenarios} >= {"rack-power-loss", "zone-outage", "disk-storm"}
        screen.select("rack-power-loss")
        await settle(pilot)
        detail = str(screen.query_one("#scenario-detail").render())
        assert "0:15:00  fail rack b1, for 1800 s" in detail  # what it throws at the design
        # chapter 9 not passed and never played: its designs are offered but not open yet
        labels = {c.key: c for c in screen.choices}
        assert not labels["reference"].available and "passed chapter 9" in labels["reference"].why_not
        assert not labels["last-run"].available

        # a design file as A: the chapter's reference design without verify
        design = tmp_path / "design.txt"
        design.write_text("\n".join(chapter.solution) + "\n")
        screen.query_one("#design-a").value = FILE_CHOICE
        screen.query_one("#design-file-a").value = str(design)
        screen.action_watch()
        await wait_idle(pilot, screen)
        viewer = app.screen
        assert isinstance(viewer, ReplayViewerScreen), str(screen.query_one("#scenario-result").render())
        assert not viewer.problems, viewer.problems
        assert viewer.replay.scenario == "rack-power-loss"
        assert type(viewer.view).__name__ == "ReliabilityView"  # the chapter's live view

        # scrub: the first fault is the rack at 15:00
        await pilot.press("x")
        await settle(pilot)
        await viewer.settled()
        assert viewer.session.cloud.log.count("fault.injected") == 1
        fault = next(e for e in viewer.session.cloud.log if e.kind == "fault.injected")
        assert (fault.get("part"), fault.get("id"), fault.t_ms) == ("rack", "b1", 900_000)
        assert viewer.t_ms == 900_000
        await pilot.press("left")  # a moment before it: the rack still up
        await settle(pilot)
        await viewer.settled()
        assert viewer.session.cloud.log.count("fault.injected") == 0
        await pilot.press("space")  # play on ...
        await pilot.pause(0.35)
        await pilot.press("space")  # ... and pause
        await settle(pilot)
        await viewer.settled()
        assert viewer.t_ms > 899_000

        # fork at the fault: a new run from that moment, where the player may try a fix
        await pilot.press("x")
        await settle(pilot)
        await viewer.settled()
        await pilot.press("f")
        await settle(pilot)
        fork = app.screen
        assert isinstance(fork, ChapterScreen)
        assert fork.session.cloud.now_ms == viewer.t_ms
        assert fork.session.scenario == "rack-power-loss"
        await run(pilot, "repair rack b1", "tick 60")
        assert fork.session.cloud.hardware.racks["b1"].up
        await pilot.press("escape")
        await settle(pilot)
        forked = sorted(replays_dir().glob("scenario-rack-power-loss-*.json"), key=lambda p: p.stat().st_mtime)[-1]
        assert json.loads(forked.read_text())["scenario"] == "rack-power-loss"
        outcome = verify(read(forked), catalogue)
        assert outcome.matches, outcome.problems  # the fork replays to itself, scenario and all

        # compare A (the design file) with B (the same web tier, but its data kept in one
        # copy) over one seed
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        weaker = [line for line in chapter.solution if not line.startswith("set ")]
        other = tmp_path / "one-copy.txt"
        other.write_text("set replication 1\n" + "\n".join(weaker) + "\n")
        screen.query_one("#design-b").value = FILE_CHOICE
        screen.query_one("#design-file-b").value = str(other)
        screen.query_one("#seeds").value = "1"
        screen.action_compare()
        await wait_idle(pilot, screen)
        shown = str(screen.query_one("#scenario-result").render())
        loaded = find("rack-power-loss", catalogue)
        a = (str(design), design_lines(chapter.solution))
        b = (str(other), design_lines(other.read_text().splitlines()))
        expected = comparison_lines(compare(loaded, a, b, [1]))
        assert screen.last_comparison == expected  # the figures `scenario compare` prints
        assert "availability_pct" in shown and "seed 1: A PASS" in shown
