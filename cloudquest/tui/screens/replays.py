"""Replays: the list of recorded runs, and a viewer that scrubs one run's timeline
(step, play and pause, jump to the next event or the next fault, fork from any moment).

The viewer shows the run at one *moment* (see :mod:`cloudquest.game.moments`): the
view, objectives and events exactly as they were then, rebuilt by re-running the
recorded commands up to it (as ``replay.rerun(..., upto_ms=t)`` does; moving forward
runs only the commands in between). "Fork from here" starts a new live run from the
moment shown, on the chapter screen; the replay itself never changes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Input, RichLog, Static, TabbedContent, TabPane

from ... import ENGINE_VERSION
from ...game.replay import ReplayError, ReplayFile, chapter_for, read
from ...game.schema import Chapter
from ...game.session import Session, chapter_fingerprint
from .chapter import LONG_STEPS, ChapterScreen
from ...game.runs import SavedRun, list_runs
from ...game.moments import RunTimeline
from ..keys import Keys
from ..views import LiveView, view_for
from ..widgets import EventLogPanel, ObjectivesPanel, StatusBar

if TYPE_CHECKING:
    from ..app import CloudQuestApp


class RunTable(DataTable):
    """The list of runs; Enter opens the one under the cursor (and says so)."""

    BINDINGS = [Binding("enter", "select_cursor", "Open")]


class ReplaysScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[SavedRun] = []

    @property
    def cq(self) -> "CloudQuestApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="replays-head")
        yield RunTable(id="replay-list", cursor_type="row")
        yield Static("", id="replay-detail")
        yield Keys()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("saved", key="saved")
        table.add_column("chapter", key="chapter")
        table.add_column("commands", key="commands")
        table.add_column("sim time", key="time")
        table.add_column("seed", key="seed")
        table.add_column("file", key="file")
        self.fill()
        table.focus()

    def on_screen_resume(self) -> None:
        self.fill()

    def fill(self) -> None:
        self.runs = list_runs()
        table = self.query_one(DataTable)
        table.clear()
        titles = {c.id: f"{c.number} {c.title}" for c in self.cq.catalogue.chapters} if self.cq.loaded else {}
        for run in self.runs:
            if run.problem:
                table.add_row(run.label, Text("unreadable", style="red"), "-", "-", "-", Text(run.name, style="dim"), key=str(run.path))
                continue
            table.add_row(
                run.label,
                titles.get(run.chapter, run.chapter),
                str(run.commands),
                f"{run.end_ms / 1000:g}s",
                str(run.seed),
                Text(run.name, style="dim"),
                key=str(run.path),
            )
        head = Text("Replays  ", style="bold")
        if self.runs:
            head.append(f"{len(self.runs)} recorded runs, newest first (the last 5 of each chapter are kept)")
        else:
            head.append("no runs yet: every chapter you play is recorded here automatically")
        self.query_one("#replays-head", Static).update(head)
        self._detail()

    def _detail(self) -> None:
        """The highlighted run's whole file name (the table's last column may be cut)."""
        table = self.query_one(DataTable)
        detail = self.query_one("#replay-detail", Static)
        if not self.runs or table.cursor_row is None or table.cursor_row >= len(self.runs):
            detail.update("")
            return
        run = self.runs[table.cursor_row]
        text = Text(run.name, style="bold")
        text.append(f"  {run.problem}" if run.problem else "  (Enter opens it)", style="dim")
        detail.update(text)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row is None or table.cursor_row >= len(self.runs):
            return
        run = self.runs[table.cursor_row]
        if run.problem:
            self.notify(f"{run.name}: {run.problem}", severity="error")
            return
        self.app.push_screen(ReplayViewerScreen(run.path))

    def action_back(self) -> None:
        self.app.pop_screen()


class ReplayViewerScreen(Screen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        # priority: the arrows scrub even when the pane tabs have focus (not in the filter box)
        Binding("left", "step(-1)", "Earlier", priority=True),
        Binding("right", "step(1)", "Later", priority=True),
        Binding("home", "edge(0)", "Start", priority=True, show=False),
        Binding("end", "edge(1)", "End", priority=True, show=False),
        Binding("space", "play", "Play", tooltip="Play the run on, moment by moment; again pauses"),
        Binding("n", "event(1)", "Next event"),
        Binding("p", "event(-1)", "Prev event", show=False),
        Binding("x", "next_fault", "Next fault", tooltip="Jump to the moment the next fault strikes"),
        Binding("f", "fork", "Fork", tooltip="Fork here: a new live run from the moment shown"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.replay: ReplayFile | None = None
        self.chapter: Chapter | None = None
        self.full: Session | None = None
        self.session: Session | None = None
        self.timeline: RunTimeline | None = None
        self._at: tuple[int, int] = (0, 0)  # the moment self.session stands at
        self._pending: tuple[int, int] | None = None  # a rebuild on its way
        self.index = 0
        self.problems: list[str] = []
        self.view: LiveView | None = None
        self.error = ""
        self._player = None  # the timer that plays the run on (space)

    @property
    def cq(self) -> "CloudQuestApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        self._open()
        yield StatusBar(id="replay-bar")
        yield Static(Text(self.path.name, style="bold"), id="replay-name")
        yield Static("", id="timeline")
        if self.error:
            yield Static(Text(self.error, style="bold red"), id="replay-error")
        else:
            with Horizontal(id="replay-main"):
                with TabbedContent(id="replay-left", initial="tab-replay-events"):
                    with TabPane("Events", id="tab-replay-events"):
                        yield EventLogPanel(id="replay-events")
                    with TabPane("Commands", id="tab-replay-commands"):
                        yield RichLog(id="replay-commands", wrap=True, markup=False)
                with Vertical(id="replay-right"):
                    with VerticalScroll(id="replay-view-scroll") as scroll:
                        assert self.view is not None
                        scroll.border_title = f"{type(self.view).VIEW_TITLE} view, as it was"
                        yield self.view
                    yield ObjectivesPanel(id="replay-objectives")
        yield Keys()

    def _open(self) -> None:
        """Read the file and re-run it whole (the timeline's end and its events)."""
        try:
            self._open_file()
        except ReplayError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a hand-edited file or a bug: say it, never crash
            self.error = f"{self.path.name} cannot be shown: {type(exc).__name__}: {str(exc).splitlines()[0]}"

    def _open_file(self) -> None:
        replay = read(self.path)
        chapter = chapter_for(replay, self.cq.catalogue)
        if chapter is None:
            self.error = f"{self.path.name} is a replay of chapter {replay.chapter!r}, which is not installed."
            return
        self.replay, self.chapter = replay, chapter
        if replay.engine_version != ENGINE_VERSION:
            self.problems.append(f"recorded with engine {replay.engine_version}, this is {ENGINE_VERSION}")
        if replay.chapter_sha256 and not replay.sandbox and replay.chapter_sha256 != chapter_fingerprint(chapter):
            self.problems.append("the chapter changed since it was recorded")
        self.timeline = RunTimeline(chapter, replay)
        self.full = self.timeline.full
        if self.full.cloud.log.sha256() != replay.event_log_sha256:
            self.problems.append("re-running it gives different events than were recorded")
        self.index = 0
        self.session = self.timeline.build(self.moment)
        self.view = view_for(chapter.world.view)(self.session, id="replay-view")

    def on_mount(self) -> None:
        if self.error:
            return
        self._show()
        self._commands()

    # -- showing a moment --------------------------------------------------------------
    @property
    def moment(self) -> tuple[int, int]:
        return self.timeline.moments[self.index] if self.timeline else (0, 0)

    @property
    def t_ms(self) -> int:
        return self.moment[0]

    def _show(self) -> None:
        assert self.session is not None and self.replay is not None and self.view is not None
        s = self.session
        self.view.set_session(s)
        self.query_one(ObjectivesPanel).update_states(s.grader.states)
        self.query_one(EventLogPanel).sync(s.cloud.log)
        end = self.replay.end_ms
        verdict = Text("✔ verified", style="green") if not self.problems else Text(
            "⚠ " + "; ".join(self.problems), style="bold yellow"
        )
        self.query_one(StatusBar).show(
            Text(f"t={self.t_ms / 1000:.3f}s of {end / 1000:g}s", style="bold"),
            f"moment {self.index + 1}/{len(self.timeline.moments)}",
            f"{self.moment[1]}/{len(self.replay.commands)} commands",
            verdict,
        )
        self.query_one("#replay-name", Static).update(self._name_line())
        self._timeline()
        self._commands()

    def _name_line(self) -> Text:
        """Which run this is, in full: its file, chapter and seed."""
        text = Text(self.path.name, style="bold")
        if self.chapter is not None and self.replay is not None:
            what = self.chapter.title if self.replay.scenario else f"chapter {self.chapter.number} {self.chapter.title}"
            text.append(f"  {what}, seed {self.replay.seed}", style="dim")
        return text

    def _timeline(self) -> None:
        assert self.replay is not None
        width = max(10, (self.size.width or 80) - 4)
        end = max(1, self.replay.end_ms)
        cells = ["─"] * width
        for t, _line in self.replay.commands:
            cells[min(width - 1, t * (width - 1) // end)] = "┼"
        pos = min(width - 1, self.t_ms * (width - 1) // end)
        text = Text("├", style="dim")
        for i, c in enumerate(cells):
            if i == pos:
                text.append("●", style="bold yellow")
            else:
                text.append(c, style="cyan" if c == "┼" else "dim")
        text.append("┤", style="dim")
        self.query_one("#timeline", Static).update(text)

    def _commands(self) -> None:
        if self.replay is None:
            return
        log = self.query_one("#replay-commands", RichLog)
        log.clear()
        for i, (t, line) in enumerate(self.replay.commands):
            done = i < self.moment[1]
            mark = "✔" if done else "·"
            log.write(Text(f"{mark} {t / 1000:9.3f}s  {line}", style="" if done else "dim"))

    def go(self, index: int) -> None:
        """Show the moment ``timeline.moments[index]``."""
        assert self.session is not None and self.timeline is not None
        index = max(0, min(self.timeline.end, index))
        if index == self.index:
            return
        self.index = index
        target = self.moment
        steps = (target[0] - self._at[0]) / max(1, self.timeline.full.cloud.tick_ms)
        if self._pending is None and target >= self._at and steps <= LONG_STEPS:
            # a short way forward: play only the commands in between, on the session shown
            self.timeline.forward(self.session, self._at, target)
            self._at = target
            self._show()
        else:
            self._pending = target
            self._rebuild(target)

    @work(thread=True, exclusive=True, group="scrub", exit_on_error=False)
    def _rebuild(self, moment: tuple[int, int]) -> None:
        # Going back means re-running from the start: off the event loop, so the keys keep
        # working on a long run. Each result is a fresh session nobody else touches.
        assert self.timeline is not None
        try:
            session = self.timeline.build(moment)
        except Exception as exc:  # noqa: BLE001 - stay on the moment shown, say why
            self.app.call_from_thread(self._rebuild_failed, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._rebuilt, session, moment)

    def _rebuild_failed(self, message: str) -> None:
        self._pending = None
        self.index = self.timeline.index_of(self._at) if self.timeline else 0
        self._show()
        self.notify(f"could not rebuild that moment: {message} (please report)", severity="error")

    def _rebuilt(self, session: Session, moment: tuple[int, int]) -> None:
        assert self.timeline is not None
        want = self.moment
        if want < moment:
            return  # the player went further back meanwhile: a newer rebuild is coming
        if want > moment:
            self.timeline.forward(session, moment, want)
        self.session, self._at, self._pending = session, want, None
        self._show()

    async def settled(self) -> None:
        """Wait until the session on screen stands at the moment shown."""
        while self._pending is not None:
            await asyncio.sleep(0.005)

    # -- keys ----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("step", "edge") and isinstance(self.focused, Input):
            return False  # the event filter box keeps its own cursor keys
        return True

    def action_step(self, delta: int) -> None:
        if self.timeline is not None:
            self.go(self.index + delta)

    def action_edge(self, end: int) -> None:
        if self.timeline is not None:
            self.go(self.timeline.end if end else 0)

    async def action_event(self, direction: int) -> None:
        """Jump to the moment that shows the next (or the previous) event."""
        if self.timeline is None or self.session is None:
            return
        await self.settled()  # count the events of the moment shown, not of a stale one
        shown = len(self.session.cloud.log)
        if direction > 0:
            target = self.timeline.next_event(shown)
        else:
            target = self.timeline.previous_event(shown, self.index)
        if target is None:
            self.notify("no more events that way")
            return
        self.go(target)

    def action_play(self) -> None:
        """Play the run on from the moment shown (about a minute for the whole run), or pause."""
        if self.timeline is None:
            return
        if self._player is not None:
            self._player.stop()
            self._player = None
            self.notify("paused")
            return
        stride = max(1, len(self.timeline.moments) // 600)

        def tick() -> None:
            if self._pending is not None:
                return  # a rebuild is on its way: wait for it
            if self.index >= self.timeline.end:
                self.action_play()
                return
            self.go(self.index + stride)

        self._player = self.set_interval(0.1, tick)

    async def action_next_fault(self) -> None:
        """Jump to the moment the next fault strikes (a failure, a gray failure)."""
        if self.timeline is None or self.session is None:
            return
        await self.settled()
        target = self.timeline.next_event_of(("fault.injected",), len(self.session.cloud.log))
        if target is None:
            self.notify("no more faults in this run")
            return
        self.go(target)

    def action_fork(self) -> None:
        if self.replay is None or self.chapter is None:
            return
        if self._player is not None:
            self.action_play()  # pause: the fork starts from the moment shown

        t = self.t_ms
        session = self.timeline.build(self.moment)
        note = f"Forked from {self.path.name} at t={t / 1000:g}s: a new run from that moment (the replay is unchanged)."
        self.app.push_screen(ChapterScreen(self.chapter, session, note=note, running=False))

    def action_back(self) -> None:
        self.app.pop_screen()
