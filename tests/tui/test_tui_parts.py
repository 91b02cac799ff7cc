"""The parts under the screens: the live clock, the replay timeline, the run store, the
views registry, the level map's states, the command palette, own-run questions."""

from __future__ import annotations

import os
import random

import pytest

from cloudquest.game.chapters import load_all
from cloudquest.game.locations import replays_dir
from cloudquest.game.replay import ReplayFile, read, record, verify
from cloudquest.game.schema import Chapter
from cloudquest.game.session import Session
from cloudquest.tui.clock import LiveClock
from cloudquest.game.own_runs import own_run_questions
from cloudquest.game.runs import KEEP_PER_CHAPTER, list_runs, new_run_path, prune, save_run
from cloudquest.game.moments import RunTimeline
from cloudquest.game.mechanism import view_texts
from cloudquest.tui.views import LiveView, MetricsView, view_for
from cloudquest.tui.views.fleet import FleetView

from .conftest import LEVELS, run, settle

CATALOGUE = load_all(LEVELS)
LAUNCH = CATALOGUE.get("launch")


def played(lines, seed=0) -> Session:
    s = Session(LAUNCH, seed)
    s.run_script(lines)
    return s


# -- the live clock -------------------------------------------------------------------
def test_clock_moves_by_wall_time_times_speed_and_not_when_paused():
    s = Session(LAUNCH, 0)
    clock = LiveClock(running=True, speed=1)
    assert clock.due(s, 0.05) == 50
    clock.next_speed()
    assert clock.speed == 4 and clock.due(s, 0.05) == 200
    clock.next_speed()
    assert clock.due(s, 0.05) == 800
    clock.next_speed()
    assert clock.speed == 1
    clock.toggle()
    assert clock.due(s, 1.0) == 0


def test_clock_never_leaps_after_a_stall():
    s = Session(LAUNCH, 0)
    assert LiveClock(speed=16).due(s, 30.0) == 16 * 250


def test_clock_stops_on_step_boundaries_in_worlds_with_step_hooks():
    s = Session(LAUNCH, 0)
    s.cloud.step_hooks.append(lambda ms: None)  # as the hypervisor's slices do
    clock = LiveClock(speed=1)
    assert clock.due(s, 0.2) == 0  # less than one step owed: wait
    assert [clock.due(s, 0.25) for _ in range(4)] == [0, 0, 0, 1000]
    s.advance(1000)
    s.execute("tick 0.5")  # a command may leave the clock mid-step ...
    assert clock.due(s, 0.25) == 0
    due = clock.due(s, 0.25)
    assert due == 500  # ... the live clock goes back to the boundary
    s.advance(due)
    assert s.cloud.now_ms == 2000
    assert LiveClock.step_ms(s) == 1000


def test_live_advances_replay_to_the_same_log(tmp_path):
    """The live clock's many small advances, replayed from the command log alone."""
    s = Session(LAUNCH, 4)
    clock = LiveClock(speed=16)
    rng = random.Random(1)
    for i in range(40):
        s.advance(clock.due(s, rng.uniform(0.01, 0.1)))
        if i == 5:
            s.execute("launch --name api --zone eu-west-1b")
        if i == 20:
            s.execute("fail host b1-h2")
    path = tmp_path / "live.json"
    record(s, path)
    outcome = verify(read(path), CATALOGUE)
    assert outcome.matches, outcome.problems


# -- the replay timeline --------------------------------------------------------------
def timeline_of(session: Session) -> Timeline:
    return RunTimeline(LAUNCH, ReplayFile.from_dict(session.replay_record(), "mem"))


def test_timeline_moments_step_through_commands_given_at_the_same_time():
    tl = timeline_of(played(LAUNCH.solution))
    assert tl.moments[:4] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert tl.moments[-1] == (20_000, 4)
    assert tl.moments == sorted(set(tl.moments))
    start = tl.build((0, 0))
    assert "api" not in start.cloud.control.instances
    assert tl.build((0, 1)).cloud.log.count("launch.failed") == 1


def test_every_moment_rebuilt_from_scratch_equals_walking_forward():
    tl = timeline_of(played(["launch --name api --zone eu-west-1b", "tick 3.5", "fail host b1-h1", "tick 12", "repair host b1-h1", "tick 4"], seed=2))
    walker = tl.build(tl.moments[0])
    prev = tl.moments[0]
    for m in tl.moments[1:]:
        tl.forward(walker, prev, m)
        prev = m
        fresh = tl.build(m)
        assert fresh.cloud.log.to_jsonl() == walker.cloud.log.to_jsonl(), m
        assert fresh.cloud.now_ms == walker.cloud.now_ms == m[0]
        assert [st.status for st in fresh.grader.states] == [st.status for st in walker.grader.states]
    assert walker.cloud.log.sha256() == tl.replay.event_log_sha256


def test_event_jumps_land_where_the_event_first_shows():
    tl = timeline_of(played(LAUNCH.solution))
    i = tl.next_event(len(tl.build((0, 0)).cloud.log))
    assert tl.moments[i] == (0, 1)  # the capacity error came with the first command
    boot = next(n for n, e in enumerate(tl.full.cloud.log) if e.kind == "instance.running" and e.get("instance") == "api")
    m = tl.moment_showing(boot)
    assert len(tl.build(tl.moments[m]).cloud.log) > boot
    assert len(tl.build(tl.moments[m - 1]).cloud.log) <= boot
    assert tl.previous_event(len(tl.build(tl.moments[m]).cloud.log), m) < m


def test_a_fork_from_any_moment_replays_to_itself(tmp_path):
    tl = timeline_of(played(LAUNCH.solution, seed=3))
    for m in (tl.moments[2], tl.moments[len(tl.moments) // 2], tl.moments[-1]):
        fork = tl.build(m)
        fork.execute("launch --name late --zone eu-west-1b")
        fork.advance(7_250)
        fork.execute("tick 3")
        path = tmp_path / f"fork-{m[0]}-{m[1]}.json"
        record(fork, path)
        outcome = verify(read(path), CATALOGUE)
        assert outcome.matches, (m, outcome.problems)


# -- the run store --------------------------------------------------------------------
def test_runs_are_saved_and_only_the_newest_five_per_chapter_kept():
    d = replays_dir()
    s = played(["launch --name a --zone eu-west-1b"])
    paths = []
    for i in range(KEEP_PER_CHAPTER + 3):
        p = new_run_path("launch", d, now=1_700_000_000 + i)
        d.mkdir(parents=True, exist_ok=True)
        record(s, p)
        paths.append(p)
    other = d / "launch-extra-20240101-000000-1.json"  # another chapter whose id starts alike
    record(s, other)
    hand = d / "my-favourite.json"
    record(s, hand)
    doomed = prune("launch", d)
    assert sorted(doomed) == sorted(paths[:3])
    assert all(p.exists() for p in paths[3:]) and other.exists() and hand.exists()
    assert save_run(Session(LAUNCH, 0)) is None  # nothing happened: nothing to keep
    saved = save_run(s)
    assert saved is not None and saved.exists()
    assert len([p for p in d.glob("launch-2*.json")]) == KEEP_PER_CHAPTER
    runs = list_runs()
    assert {r.chapter for r in runs} == {"launch"}
    assert runs[0].saved_at >= runs[-1].saved_at


def test_an_unreadable_replay_is_listed_with_its_problem():
    d = replays_dir()
    d.mkdir(parents=True, exist_ok=True)
    (d / "broken.json").write_text("{nope")
    (runs,) = list_runs()
    assert runs.problem and "not valid JSON" in runs.problem


# -- views ----------------------------------------------------------------------------
def test_views_registry_and_fallback():
    assert view_for("fleet") is FleetView
    assert view_for("no-such-view") is MetricsView
    assert view_for("base") is MetricsView and view_for("../fleet") is MetricsView


def test_every_view_a_mechanism_names_has_its_widget_and_every_widget_is_named():
    import pkgutil

    import cloudquest.tui.views as views

    named = set(view_texts())
    drawn = {m.name for m in pkgutil.iter_modules(views.__path__) if view_for(m.name) is not MetricsView}
    assert named == drawn
    assert {"fleet", "host", "scheduling", "storage", "reliability"} <= named
    assert all(issubclass(view_for(v), LiveView) for v in named)


def test_fleet_view_draws_utilisation_with_glyph_and_word_not_colour_alone():
    s = played(["launch --name api --zone eu-west-1b", "tick 0.5"])
    view = FleetView(s)
    text = view.draw(100).plain
    assert "█ full" in text  # eu-west-1a is packed: glyph AND word
    assert "◌api" in text  # pending, on its host's line
    # half a second in, the launch pipeline has found a host, claimed CPU, RAM and disk,
    # is attaching the network interface, and has the firewall and the boot to go
    assert " api ✔find ✔cpu ✔ram ✔disk ▶nic ·fw ·boot  launching" in text.splitlines()
    narrow = view.draw(44).plain
    assert "full" in narrow and "api" in narrow
    s.execute("fail host b1-h2")
    assert "✘ down" in FleetView(s).draw(100).plain


def test_fleet_view_draws_a_big_fleet_one_glyph_per_host():
    world = LAUNCH.world.model_dump()
    world["regions"][0]["zones"][1]["racks"][0]["hosts"] = [{"count": 40, "vcpus": 16, "ram_gib": 64}]
    world["instances"] = []
    chapter = Chapter.model_validate({**LAUNCH.model_dump(), "world": world})
    s = Session(chapter, 0)
    text = FleetView(s).draw(80).plain
    assert "42 hosts, one glyph each" in text
    assert "·" * 40 in text


# -- own-run questions ----------------------------------------------------------------
def test_own_run_questions_are_answered_from_that_runs_log():
    s = played(LAUNCH.solution)
    save_run(s)
    why, boot = own_run_questions(list_runs(), CATALOGUE, seed=5)
    assert why.kind == "choice" and "instance api landed on host b1-h1" in why.text
    right = why.options[why.answer]
    assert "You asked for zone eu-west-1b" in right and "tied on score" in right
    assert "launch.failed code=InsufficientInstanceCapacity" in why.explanation
    assert sum("random" in o for o in why.options) == 1 and "random" not in right
    running = next(e for e in s.cloud.log if e.kind == "instance.running" and e.get("instance") == "api")
    assert boot.kind == "predict" and boot.answer == running.t_ms / 1000
    assert boot.grade(boot.answer + 0.4) and not boot.grade(boot.answer + 0.6)


def test_an_edited_run_asks_no_question():
    s = played(LAUNCH.solution)
    path = save_run(s)
    data = path.read_text().replace('"event_log_sha256": "', '"event_log_sha256": "00')
    path.write_text(data)
    assert own_run_questions(list_runs(), CATALOGUE, seed=5) == []


# -- the app's bookkeeping -----------------------------------------------------------
async def test_level_map_states_and_palette(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        first, launch = app.catalogue.chapters
        assert app.chapter_state(first) == "open"
        assert app.chapter_state(launch) == "locked"
        app.progress.record_run("launch", 3, 3, 0, 20.0, list(launch.skills))
        assert app.chapter_state(launch) == "completed"
        assert app.chapter_state(first) == "open"
        assert app.next_chapter() is first

        from cloudquest.tui.palette import CloudQuestCommands

        provider = CloudQuestCommands(app.screen)
        names = [name for name, _help, _cb in provider.commands()]
        assert "Chapter 1: Launch an instance" in names
        assert "Take the completion quiz" in names
        assert any(n.startswith("Theme: ") for n in names)
        theme = next(cb for name, _h, cb in provider.commands() if name == "Theme: textual-light")
        theme()
        assert app.theme == "textual-light"
        hits = [h async for h in provider.search("launch an")]
        assert hits and "Launch an instance" in str(hits[0].match_display)


async def test_cloudquest_replay_file_opens_the_viewer(make_app):
    s = played(LAUNCH.solution)
    path = save_run(s)
    app = make_app(replay_file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        from cloudquest.tui.screens.replays import ReplayViewerScreen

        assert isinstance(app.screen, ReplayViewerScreen)
        assert app.screen.path == path


async def test_a_replay_of_a_missing_chapter_says_so(make_app, tmp_path):
    s = played(LAUNCH.solution)
    path = tmp_path / "other.json"
    record(s, path)
    data = path.read_text().replace('"chapter": "launch"', '"chapter": "not-installed"')
    path.write_text(data)
    app = make_app(replay_file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        err = str(app.screen.query_one("#replay-error").render())
        assert "not-installed" in err and "not installed" in err


@pytest.mark.skipif(os.name != "posix", reason="permission bits")
async def test_an_unwritable_replay_folder_is_reported_not_fatal(make_app):
    d = replays_dir()
    d.parent.mkdir(parents=True, exist_ok=True)
    d.write_text("a file where the folder should be")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_chapter(app.catalogue.get("launch"), ask=False)
        await settle(pilot)
        await run(pilot, "tick 1")
        await pilot.press("f6")
        await settle(pilot)
        from cloudquest.tui.screens.result import ResultScreen

        assert isinstance(app.screen, ResultScreen)
        assert app.screen.replay is None
        assert any("could not keep this run" in str(n.message) for n in app._notifications)


async def test_scrubbing_in_a_burst_shows_exactly_the_moment_reached(make_app):
    """Keys faster than the rebuilds: the moment shown is always the state at that moment."""
    from textual import events

    path = save_run(played(LAUNCH.solution))
    app = make_app(replay_file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        viewer = app.screen
        for burst in (["end", "home", "right", "right"], ["end", "left", "left", "home", "n", "n"], ["right"] * 9 + ["p"]):
            for key in burst:
                app._driver.send_message(events.Key(key, key if len(key) == 1 else None))
            await settle(pilot)
            await viewer.settled()
            await settle(pilot)
            fresh = viewer.timeline.build(viewer.moment)
            assert viewer.session.cloud.log.to_jsonl() == fresh.cloud.log.to_jsonl(), viewer.moment
            assert viewer.session.cloud.now_ms == viewer.moment[0]


async def test_a_view_or_mechanism_bug_is_reported_not_fatal(make_app, monkeypatch):
    from cloudquest.tui.screens.chapter import ChapterScreen
    from cloudquest.tui.widgets import Console

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_chapter(app.catalogue.get("launch"), ask=False)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChapterScreen)

        def broken(width):
            raise ZeroDivisionError("a view bug")

        monkeypatch.setattr(screen.view, "draw", broken)
        screen.view.update_view(force=True)
        assert "could not draw itself: ZeroDivisionError" in " ".join(screen.view.text.plain.split())

        def hook(ms):
            raise RuntimeError("a mechanism bug")

        screen.session.cloud.step_hooks.append(hook)
        screen.action_toggle_clock()  # running
        await pilot.press("f3")
        await settle(pilot)
        assert not screen.clock.running  # paused, with the error said in the console
        out = "\n".join(s.text for s in screen.query_one(Console).output.lines)
        assert "internal error while time moved: RuntimeError: a mechanism bug" in out


async def test_a_broken_sandbox_replay_is_said_not_fatal(make_app, tmp_path):
    s = played(LAUNCH.solution)
    path = tmp_path / "sandbox.json"
    record(s, path)
    text = path.read_text().replace('"sandbox": false', '"sandbox": true, "world": {"regions": "nope"}')
    path.write_text(text)
    app = make_app(replay_file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        err = str(app.screen.query_one("#replay-error").render())
        assert "sandbox.json: the replay's world is not valid: world.regions: Input should be a valid list" in err
