"""The player's own chapters: a file in the user data folder's levels/ shows on the level
map under "your chapters" and plays like a shipped one; a chapter file opened by path
(`cloudquest play FILE.yaml`) opens in the game; the replay of either plays back, found
where the chapter is (the replay carries the file of a chapter that is not installed)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cloudquest.cli import main
from cloudquest.game.chapters import load_all
from cloudquest.game.locations import replays_dir, user_levels_dir
from cloudquest.game.replay import read, verify
from cloudquest.tui.app import CloudQuestApp
from cloudquest.tui.screens.chapter import ChapterScreen
from cloudquest.tui.screens.level_map import LevelMapScreen
from cloudquest.tui.screens.result import ResultScreen

from .conftest import LEVELS, QUIZ, run, settle


def own_chapter(path: Path, ident: str, number: int) -> Path:
    """A chapter of the player's own: the fixture's launch chapter under another id."""
    data = yaml.safe_load((LEVELS / "01-launch.yaml").read_text())
    data.update(id=ident, number=number, title=f"My launch {number}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


async def play_through(app, pilot) -> Path:
    screen = app.screen
    assert isinstance(screen, ChapterScreen)
    await run(pilot, *screen.chapter.solution)
    await pilot.press("f6")
    await settle(pilot)
    result = app.screen
    assert isinstance(result, ResultScreen) and result.result.passed
    return result.replay


async def test_your_chapters_folder_shows_on_the_map_and_replays(capsys):
    own_chapter(user_levels_dir() / "50-my-launch.yaml", "my-launch", 50)
    (user_levels_dir() / "51-broken.yaml").write_text("id: [")
    # the installed chapters (levels=None), as a player's game loads them
    app = CloudQuestApp(quiz_file=QUIZ, seed=0)
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        assert "my-launch" in app.catalogue.own
        assert any("51-broken.yaml" in p for p in app.load_problems)  # said, and skipped
        app.open_map()
        await settle(pilot)
        level_map = app.screen
        assert isinstance(level_map, LevelMapScreen)
        heading = level_map.rows.index(None)
        assert "your chapters" in str(level_map.query_one("#chapters").get_row_at(heading)[1])
        mine = level_map.rows[heading + 1]
        assert mine.id == "my-launch" and app.chapter_state(mine) == "open"  # never locked
        assert app.next_chapter().id != "my-launch"  # Continue follows the shipped chapters
        level_map.query_one("#chapters").move_cursor(row=heading + 1)
        await pilot.press("enter")
        await settle(pilot)
        replay = await play_through(app, pilot)
    assert replay is not None and replay.name.startswith("my-launch-")
    assert main(["replay", str(replay), "--headless"]) == 0  # `replay` finds it
    assert "chapter 50 'My launch 50'" in capsys.readouterr().out


async def test_a_chapter_file_opens_in_the_game_and_its_replay_plays_back(tmp_path, capsys):
    path = own_chapter(tmp_path / "elsewhere" / "my-chapter.yaml", "my-chapter", 60)
    app = CloudQuestApp(levels=LEVELS, quiz_file=QUIZ, seed=0, chapter_file=path)
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChapterScreen) and screen.chapter.id == "my-chapter"
        assert not screen.clock.running
        replay = await play_through(app, pilot)
    data = read(replay)
    assert data.chapter_file == str(path.resolve())
    # not installed anywhere, yet the replay plays back: from the file it names
    outcome = verify(data, load_all(LEVELS))
    assert outcome.matches and outcome.result.passed, outcome.problems
    assert main(["replay", str(replay), "--headless"]) == 0
    assert list(replays_dir().glob("my-chapter-*.json")) == [replay]
    # a script run of the file records the same road
    script = tmp_path / "run.txt"
    script.write_text("\n".join(screen.chapter.solution) + "\n")
    out = tmp_path / "script.replay.json"
    assert main(["play", str(path), "--script", str(script), "--record", str(out), "--no-save"]) == 0
    assert read(out).chapter_file == str(path.resolve())
    capsys.readouterr()
    path.unlink()  # the chapter file is gone: the replay says so, in one line
    assert main(["replay", str(out), "--headless"]) == 2
    assert "not installed" in capsys.readouterr().err
