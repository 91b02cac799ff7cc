"""The completion screen: opened from the level map with 'c', it lists the eight skills
with the objectives that proved each (from saved runs that replay), and 'm' writes the
Markdown certificate whose run hashes replay to the same event log."""

from __future__ import annotations

from cloudquest.cli import main
from cloudquest.game import tally as tally_mod
from cloudquest.game.chapters import load_all
from cloudquest.game.replay import read, verify
from cloudquest.game.locations import data_home, replays_dir
from cloudquest.tui.screens.completion import CompletionScreen
from cloudquest.tui.screens.level_map import LevelMapScreen

from .conftest import settle


async def test_the_completion_screen_shows_what_proved_each_skill_and_exports(make_app, tmp_path):
    catalogue = load_all()
    script = tmp_path / "hypervisor.txt"
    script.write_text("\n".join(catalogue.get("hypervisor").solution) + "\n")
    assert main(["play", "hypervisor", "--script", str(script)]) == 0  # a saved, replayable run

    app = make_app(levels=None, catalogue=catalogue)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_map()
        await settle(pilot)
        assert isinstance(app.screen, LevelMapScreen)
        await pilot.press("c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompletionScreen)
        shown = str(screen.query_one("#completion-tally").render())
        assert shown.startswith("NOT YET COMPLETE: 0 of 8 skills mastered")  # no quiz taken yet
        assert "✘ virtualization internals: " in shown and "hypervisor:quiet-db" in shown
        assert tally_mod.RULE in str(screen.query_one("#completion-rule").render())
        await pilot.press("m")
        await settle(pilot)
        cert = data_home() / "certificates" / "certificate.md"
        assert f"wrote {cert}" in str(screen.query_one("#completion-note").render())
        pairs = tally_mod.run_hashes(cert.read_text())
        assert pairs
        for name, sha in pairs:
            outcome = verify(read(replays_dir() / name), catalogue)
            assert outcome.matches and outcome.result.event_log_sha256 == sha
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, LevelMapScreen)
