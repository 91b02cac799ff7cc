"""The chapter screen: the story beside the live simulation, the console, objectives,
the event log and the clock.

Everything the player does here is a console command through ``Session.execute`` (keys
for hints type ``hint``; the reference solution is put on the command line, not run);
the clock moves only through ``Session.advance``. The screen draws; it never changes the
cloud itself.

A chapter opens with the clock paused: nothing happens until the player runs it (F2),
steps it (F3) or types ``tick``. Five panes, visited in one fixed order by F9 (and Tab
from an empty command line): console, story, live view, objectives, event log. The
focused pane is framed; F10 zooms it to the whole screen (Esc restores). The console
grows when a command answers with more than it shows. A key typed in a pane that takes
no text goes to the command line, so nothing typed is lost.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual import events
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, TabbedContent, TabPane

from ...game.limits import MAX_RUN_MS
from ...game.parser import CommandError
from ...game.registry import completions, parse
from ...game.schema import Chapter
from ...game.session import Session
from ..clock import FRAME_S, IDLE_AFTER_FRAMES, IDLE_FRAME_S, LiveClock
from ..keys import Keys
from ..views import LiveView, view_for
from ..widgets import Console, EventLogPanel, ObjectivesPanel, StatusBar, Story, clock_text
from .confirm import Confirm

if TYPE_CHECKING:
    from ..app import CloudQuestApp

# A `tick` longer than this many simulation steps runs off the event loop.
LONG_STEPS = 2000
# The panes, in the order F9 (and Tab) visits them.
PANES = ("console", "story", "view", "objectives", "events")
# Rows the console keeps for itself (its border, the command line, the "more" line).
CONSOLE_CHROME = 3
# Rows always left to the story and the view when the console grows.
MAIN_MIN_ROWS = 5
# The console's own height (chapter.tcss says the same): short and tall terminals.
CONSOLE_ROWS_SHORT = 7
CONSOLE_ROWS_TALL = 12


class ChapterScreen(Screen):
    ALLOW_IN_MAXIMIZED_VIEW = "StatusBar, Footer"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    AUTO_FOCUS = "#console-input"

    BINDINGS = [
        # F2 says what it will do: run a paused clock, pause a running one, stop a long tick.
        Binding("f2", "run_clock", "Run", tooltip="Run the clock: simulated time passes (1x; F4 for 4x, 16x)"),
        Binding("f2", "pause_clock", "Pause", tooltip="Pause the clock"),
        Binding("f2", "stop_long", "Stop", tooltip="Stop the long command at the next step (what ran is kept)"),
        Binding("f3", "step", "Step", tooltip="Advance the simulation by one step"),
        Binding("f4", "speed", "Speed", show=False, tooltip="Clock speed: 1x, 4x, 16x"),
        Binding("f5", "hint", "Hint", tooltip="Show the next hint (counted in your result)"),
        Binding("f6", "finish", "Finish", tooltip="End the run and see your result"),
        Binding("f7", "solution", "Solution", tooltip="Put the reference solution on the command line, one at a time"),
        Binding("f8", "reset", "Reset", show=False, tooltip="Start the chapter again (asks first)"),
        Binding("f9", "next_pane", "Pane", tooltip="Next pane: console, story, view, objectives, events"),
        Binding("shift+f9", "next_pane(-1)", "Previous pane", show=False),
        Binding("tab", "next_pane", "Next pane", show=False),
        Binding("shift+tab", "next_pane(-1)", "Previous pane", show=False),
        Binding("f10", "zoom", "Zoom", tooltip="Zoom the focused pane to the whole screen (again, or Esc, restores)"),
        Binding("f10", "unzoom", "Restore", tooltip="Put the zoomed pane back in its place (Esc too)"),
        Binding("ctrl+o", "focus_objectives", "Objectives", show=False),
        Binding("ctrl+l", "focus_console", "Console", show=False),
        Binding("escape", "leave", "Back", show=False, tooltip="Back to the level map (your run is kept as a replay)"),
    ]

    def __init__(
        self,
        chapter: Chapter,
        session: Session | None = None,
        *,
        seed: int = 0,
        note: str = "",
        running: bool = True,
    ) -> None:
        super().__init__()
        self.chapter = chapter
        self.session = session or Session(chapter, seed)
        self.seed = self.session.seed
        self.clock = LiveClock(running=running)
        self.note = note
        self._long_thread: threading.Thread | None = None
        self.saved_path = None
        self._saved = False
        self._announced_done = False
        self._announced_failed: set[str] = set()
        self._solution: list[str] = []
        self._queued: list[str] = []
        self.busy: str | None = None  # the long command running off the event loop
        self._last_wall = time.monotonic()
        self.view: LiveView = view_for(chapter.world.view)(self.session, id="live-view")

    @property
    def cq(self) -> "CloudQuestApp":
        return self.app  # type: ignore[return-value]

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(id="topbar")
        with Horizontal(id="main"):
            with TabbedContent(id="left", initial="tab-story", classes="pane"):
                with TabPane("Story", id="tab-story"):
                    with VerticalScroll(id="story-scroll"):
                        yield Story(self.chapter.story, id="story")
                with TabPane("Events", id="tab-events"):
                    yield EventLogPanel(id="events")
            with Vertical(id="right"):
                with VerticalScroll(id="view-scroll", classes="pane") as scroll:
                    scroll.border_title = f"{type(self.view).VIEW_TITLE} view"
                    yield self.view
                yield ObjectivesPanel(id="objectives", classes="pane")
        console = Console(placeholder="type a command: help lists them, tab completes", id="console", classes="pane")
        console.border_title = "console"
        yield console
        yield Keys()

    def on_mount(self) -> None:
        self._objectives = self.query_one(ObjectivesPanel)
        self._events = self.query_one(EventLogPanel)
        self._status = self.query_one(StatusBar)
        self.query_one(Console).set_completer(self._complete)
        self._pace_s = FRAME_S
        self._still_frames = 0
        self._last_look: tuple | None = None
        self._timer = self.set_interval(FRAME_S, self._frame, pause=not self.clock.running)
        self._objectives.live = self.clock.running
        self.refresh_all()
        self.call_after_refresh(self._greet)  # once the panes have their size

    def _greet(self) -> None:
        console = self.query_one(Console)
        start = len(console.output.lines)
        if not self.clock.running:
            console.note(
                f"Chapter {self.chapter.number}, seed {self.seed}. The clock is paused: nothing happens until you "
                "let time pass (F2 runs it, F3 steps, tick SECONDS jumps).",
                style="bold",
            )
        console.note(
            "Read the story (F9 moves between panes, F10 zooms one), then type commands here: help lists "
            "them, tab completes. F1 lists every key.",
        )
        if self.note:
            console.note(self.note, style="bold yellow")
        console.mark_answer(start)
        self.fit_console()

    # -- the one road in ---------------------------------------------------------------
    def _complete(self, words: list[str], partial: str) -> list[str]:
        return completions(words, partial, self.session.enabled, self.session.ids)

    @on(Console.Command)
    def _command(self, event: Console.Command) -> None:
        event.stop()
        self.run_line(event.line)

    def run_line(self, line: str) -> None:
        """Send one line through the session, show what it said, redraw."""
        if not line.strip():
            return
        console = self.query_one(Console)
        if self.busy:
            self._queued.append(line)
            console.note(f"queued until `{self.busy}` has finished: {line}", style="dim")
            return
        if self._long(line):
            # A long tick runs off the event loop so the screen stays alive; nothing else
            # touches the session until it is done (frames, keys and redraws wait).
            self.busy = line
            console.note(f"› {line}   (running: F2 stops it; the rest waits until it is done)", style="bold")
            self.refresh_status()
            self.refresh_bindings()
            self._long_thread = threading.Thread(target=self._run_long, args=(line,), daemon=True, name="cloudquest-tick")
            self._long_thread.start()
            return
        outcome = self.session.execute(line)
        console.echo(line, outcome.output, outcome.ok)
        self.refresh_all()
        self.fit_console()
        self._offer_solution(ran=line)

    def _long(self, line: str) -> bool:
        """A command registered as slow, or a ``tick`` of more than LONG_STEPS steps."""
        try:
            parsed = parse(line, self.session.enabled)
        except CommandError:
            return False
        if parsed is None:
            return False
        if parsed.spec.slow:
            return True
        if parsed.spec.verb != "tick":
            return False
        return parsed.values.get("seconds", 0) * 1000 / max(1, self.session.cloud.tick_ms) > LONG_STEPS

    def _run_long(self, line: str) -> None:
        outcome = self.session.execute(line)  # execute reports every error as an outcome
        try:
            self.app.call_from_thread(self._long_done, line, outcome)
        except RuntimeError:
            pass  # the game was closed meanwhile

    def _long_done(self, line: str, outcome) -> None:
        self.busy = None
        self._long_thread = None
        stopped = self.session.interrupted
        self.session.resume()
        self._last_wall = time.monotonic()
        console = self.query_one(Console)
        console.echo(line, outcome.output, outcome.ok)
        if stopped:
            ran = self.session.command_log[-1][1] if self.session.command_log else line
            console.note(f"stopped: {line} ran as {ran}", style="bold yellow")
            self._queued = []
        self.refresh_all()
        self.fit_console()
        self.refresh_bindings()
        self._offer_solution(ran=line)
        queued, self._queued = self._queued, []
        for i, later in enumerate(queued):
            self.run_line(later)
            if self.busy:  # another long one: keep the rest queued behind it
                self._queued = queued[i + 1 :] + self._queued
                break

    def _wait_busy(self) -> bool:
        if self.busy:
            self.notify(f"`{self.busy}` is still running (F2 stops it); this waits until it is done", severity="warning")
            return True
        return False

    def action_stop_long(self) -> None:
        """Stop a long command at its next step boundary; the part that ran is kept."""
        if self.busy:
            self._queued = []
            self.session.interrupt()

    async def stop_long(self, timeout_s: float = 30.0) -> None:
        """Stop a long command and wait until the session is the screen's again."""
        import asyncio

        if not self.busy:
            return
        self.action_stop_long()
        deadline = time.monotonic() + timeout_s
        while self.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    # -- the live clock ----------------------------------------------------------------
    def _frame(self) -> None:
        now = time.monotonic()
        wall, self._last_wall = now - self._last_wall, now
        if self.busy:
            return
        ms = self.clock.due(self.session, wall)
        if ms > 0:
            self._advance(ms)
        self._keep_pace()

    def _keep_pace(self) -> None:
        """Frames come every FRAME_S while something on screen moves, and every
        IDLE_FRAME_S once nothing has for IDLE_AFTER_FRAMES frames (the clock's own
        seconds do not count): an idle live chapter costs the machine little."""
        look = (
            self.view.repaints,
            len(self.session.cloud.log),
            tuple(s.status for s in self.session.grader.states),
        )
        if look != self._last_look:
            self._last_look = look
            self._still_frames = 0
            self._set_pace(FRAME_S)
            return
        self._still_frames += 1
        if self._still_frames >= IDLE_AFTER_FRAMES:
            self._set_pace(IDLE_FRAME_S)

    def _set_pace(self, pace_s: float) -> None:
        if pace_s == self._pace_s:
            return
        self._pace_s = pace_s
        self._timer.stop()
        self._timer = self.set_interval(pace_s, self._frame, pause=not self.clock.running)

    def _advance(self, ms: int) -> None:
        ms = min(ms, MAX_RUN_MS - self.session.cloud.now_ms)  # as far as a run may go, as `tick` does
        if ms <= 0:
            if self.clock.running:
                self.action_toggle_clock()
            self.query_one(Console).note(f"the clock stops at t={MAX_RUN_MS // 1000}s, the longest a run may go")
            return
        try:
            self.session.advance(ms)
        except Exception as exc:  # noqa: BLE001 - a mechanism's bug must not end the game
            if self.clock.running:
                self.action_toggle_clock()
            self.query_one(Console).note(
                f"internal error while time moved: {type(exc).__name__}: {exc} (please report). The clock is paused.",
                style="bold red",
            )
        self.refresh_all()

    def action_run_clock(self) -> None:
        if not self.clock.running:
            self.action_toggle_clock()

    def action_pause_clock(self) -> None:
        if self.clock.running:
            self.action_toggle_clock()

    def action_toggle_clock(self) -> None:
        if self._wait_busy():
            return
        running = self.clock.toggle()
        self.refresh_bindings()
        self._last_wall = time.monotonic()
        self._still_frames = 0
        self._set_pace(FRAME_S)
        if running:
            self._timer.resume()
        else:
            self._timer.pause()
        self._objectives.live = running
        if not self.busy:
            self._objectives.update_states(self.session.grader.states)  # the exact evidence, once stopped
        self.refresh_status()

    def action_step(self) -> None:
        if self._wait_busy():
            return
        self._advance(self.clock.step_ms(self.session))

    def action_speed(self) -> None:
        self.clock.next_speed()
        self.refresh_status()

    # -- drawing -----------------------------------------------------------------------
    def refresh_status(self) -> None:
        passed, total = self._objectives.summary()
        hints = self.chapter.hints
        done = Text(f"objectives {passed}/{total}", style="bold green" if total and passed == total else "")
        if self.busy:
            self._status.show(
                Text(f"{self.chapter.number} · {self.chapter.title}", style="bold"),
                Text(f"running {self.busy} …", style="bold yellow"),
            )
            return
        if total and passed == total:
            # said where it cannot scroll away: the run is won, F6 takes the result
            done = Text(f"✔ {passed}/{total} done: F6 finishes", style="bold green")
            parts = (done, f"seed {self.seed}", f"hints {self.session.hints_used}/{len(hints)}")
        else:
            parts = (f"seed {self.seed}", f"hints {self.session.hints_used}/{len(hints)}", done)
        self._status.show(
            Text(f"{self.chapter.number} · {self.chapter.title}", style="bold"),
            clock_text(self.session.cloud.now_ms, self.clock.running, self.clock.speed),
            *parts,
            optional=2,
        )

    def refresh_all(self) -> None:
        if self.busy:
            return  # the session is being changed by the long command
        self.view.update_view()
        self._objectives.update_states(self.session.grader.states)
        self._events.sync(self.session.cloud.log)
        self.refresh_status()
        self._check_progress()

    def _check_progress(self) -> None:
        states = self.session.grader.states
        for s in states:
            if s.status == "failed" and s.settled and s.id not in self._announced_failed:
                self._announced_failed.add(s.id)
                self.query_one(Console).note(f"✘ FAIL for good: {s.id} ({s.evidence}). F8 starts the chapter again.", style="bold red")
        if states and not self._announced_done and all(s.status == "passed" for s in states):
            self._announced_done = True
            if self.clock.running:
                self.action_toggle_clock()
            self.query_one(Console).note(
                "✔ Every objective passes. The clock is paused. F6 finishes the run and shows your result; "
                "or keep exploring. The reference solution (F7) is now open to you.",
                style="bold green",
            )
            self.refresh_bindings()

    @property
    def completed(self) -> bool:
        return self._announced_done or self.cq.chapter_completed(self.chapter.id)

    # -- actions -----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "solution":
            return self.completed and (None if self.busy else True)
        # F2's three faces: exactly one is live at a time.
        if action == "stop_long":
            return bool(self.busy)
        if action == "run_clock":
            return not self.busy and not self.clock.running
        if action == "pause_clock":
            return not self.busy and self.clock.running
        if action == "zoom":
            return self.maximized is None
        if action == "unzoom":
            return self.maximized is not None
        if self.busy and action in ("step", "hint", "finish", "reset", "toggle_clock", "speed"):
            return None  # shown, greyed out, until the long command is done
        return True

    def action_hint(self) -> None:
        if self._wait_busy():
            return
        self.run_line("hint")

    def action_solution(self) -> None:
        if self._wait_busy():
            return
        if not self.completed:
            self.notify("The reference solution opens once you have completed the chapter.", severity="warning")
            return
        if self._solution:
            self._solution = []
            self.query_one(Console).offer("")
            self.notify("Stopped offering the reference solution.")
            return
        self._solution = list(self.chapter.solution)
        self.query_one(Console).note(
            f"Reference solution, {len(self._solution)} commands: each is put on the command line; Enter runs it, "
            "F7 stops.",
            style="italic",
        )
        self._offer_solution()

    def _offer_solution(self, ran: str | None = None) -> None:
        if not self._solution:
            return
        if ran is not None and ran.strip() == self._solution[0].strip():
            self._solution.pop(0)
        console = self.query_one(Console)
        if self._solution:
            console.offer(self._solution[0])
        else:
            console.note("That was the whole reference solution.", style="italic")

    def action_focus_objectives(self) -> None:
        self.focus_pane("objectives")

    def action_focus_console(self) -> None:
        self.focus_pane("console")

    # -- panes -------------------------------------------------------------------------
    def pane_target(self, pane: str) -> Widget:
        """The widget that takes focus for a pane."""
        if pane == "console":
            return self.query_one(Console).line
        if pane == "story":
            return self.query_one("#story-scroll")
        if pane == "view":
            return self.query_one("#view-scroll")
        if pane == "objectives":
            return self.query_one(ObjectivesPanel).option_list
        return self.query_one(EventLogPanel).lines

    def pane_box(self, pane: str) -> Widget:
        """The widget that frames a pane (and that F10 zooms)."""
        if pane in ("story", "events"):
            return self.query_one("#left")
        return self.query_one({"console": Console, "view": "#view-scroll", "objectives": ObjectivesPanel}[pane])

    @property
    def current_pane(self) -> str:
        focused = self.focused
        if focused is None:
            return "console"
        if self.query_one(Console) in focused.ancestors_with_self:
            return "console"
        if self.query_one(EventLogPanel) in focused.ancestors_with_self:
            return "events"
        if self.query_one(ObjectivesPanel) in focused.ancestors_with_self:
            return "objectives"
        if self.query_one("#view-scroll") in focused.ancestors_with_self:
            return "view"
        if self.query_one("#left") in focused.ancestors_with_self:
            tabs = self.query_one(TabbedContent)
            return "events" if tabs.active == "tab-events" else "story"
        return "console"

    def focus_pane(self, pane: str) -> None:
        if pane in ("story", "events"):
            self.query_one(TabbedContent).active = "tab-story" if pane == "story" else "tab-events"
        if self.maximized is not None:
            box = self.pane_box(pane)
            if box is not self.maximized:
                self.maximized = box
        self.pane_target(pane).focus()

    def action_next_pane(self, step: int = 1) -> None:
        i = PANES.index(self.current_pane)
        self.focus_pane(PANES[(i + step) % len(PANES)])

    def action_toggle_pane(self) -> None:
        """Story or event log on the left (the palette's way)."""
        self.focus_pane("events" if self.current_pane != "events" else "story")

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        self.maximized = self.pane_box(self.current_pane)

    def action_unzoom(self) -> None:
        if self.maximized is not None:
            self.minimize()

    def action_maximize(self) -> None:
        """The palette's Maximize zooms the pane, not the widget inside it."""
        self.action_zoom()

    def minimize(self) -> None:
        super().minimize()
        if self.focused is None:
            self.query_one(Console).line.focus()
        self.call_after_refresh(self.query_one(Console).show_answer)

    def watch_maximized(self, maximized: Widget | None) -> None:
        console = self.query_one(Console)
        if maximized is console:
            console.styles.height = "1fr"  # its grown height is set inline, over the CSS
        else:
            self.fit_console(force=True)
        self.call_after_refresh(self._after_zoom)

    def _after_zoom(self) -> None:
        console = self.query_one(Console)
        console.show_answer()
        self.refresh_bindings()

    def on_key(self, event: events.Key) -> None:
        """A character typed where no text goes (the story, the view...) goes to the
        command line: nothing the player types is lost."""
        if not event.is_printable or not event.character or isinstance(self.focused, Input):
            return
        event.stop()
        event.prevent_default()
        line = self.query_one(Console).line
        if self.maximized is not None and self.maximized is not self.query_one(Console):
            self.minimize()
        line.focus()
        line.insert_text_at_cursor(event.character)

    # -- the console's room ------------------------------------------------------------
    @property
    def console_base_rows(self) -> int:
        """The console's height when no answer needs more."""
        return CONSOLE_ROWS_TALL if self.has_class("-tall") else CONSOLE_ROWS_SHORT

    def on_resize(self) -> None:
        # a terminal made taller or shorter: the console's height is inline, so refit it
        self.call_after_refresh(self.fit_console)

    def fit_console(self, force: bool = False) -> None:
        """Give the console the rows its last answer needs, or its own height back.

        The live view is what the chapter is about, so it never loses a row it draws to
        the console: the console grows into the rows the view and objectives leave
        spare. What still does not fit is read with PgDn, or by zooming the console (F10),
        as its last line says."""
        console = self.query_one(Console)
        if self.maximized is console:
            return
        base = self.console_base_rows
        view_rows = len(self.view.text.plain.splitlines()) + 1  # and its top rule
        objectives = self.query_one(ObjectivesPanel).outer_size.height
        keep = max(MAIN_MIN_ROWS, view_rows + objectives)
        room = self.size.height - 2 - keep  # less the status bar and the footer
        want = console.answer_rows + CONSOLE_CHROME
        height = base if want <= base else max(base, min(want, room))
        current = console.styles.height
        if force or current is None or current.value != height or current.unit.name != "CELLS":
            console.styles.height = height

    def action_finish(self) -> None:
        if self._wait_busy():
            return
        from .result import ResultScreen

        result = self.session.finish()
        path = self.save_run()
        self.app.clear_notifications()  # this screen's notices do not follow to the result
        before = self.cq.chapter_completed(self.chapter.id)
        self.cq.record_result(self.chapter, result)
        self.app.switch_screen(ResultScreen(self.chapter, result, path, newly_completed=result.passed and not before))

    def action_reset(self) -> None:
        if self._wait_busy():
            return
        def answer(yes: bool | None) -> None:
            if yes:
                self.reset()

        self.app.push_screen(
            Confirm(
                "Start this chapter again?",
                f"This run is kept as a replay; the new run starts from the chapter's first moment, on the same "
                f"seed ({self.seed}). For a new seed, finish the run (F6).",
                yes="Reset",
            ),
            answer,
        )

    def reset(self) -> None:
        self.save_run()
        chapter_file = self.session.chapter_file
        self.session = Session(self.chapter, self.seed)
        self.session.chapter_file = chapter_file
        self._saved = False
        self.saved_path = None
        self._announced_done = False
        self._announced_failed.clear()
        self._solution = []
        self.view.set_session(self.session)
        console = self.query_one(Console)
        console.clear()
        self.fit_console()
        console.note(f"A fresh run of chapter {self.chapter.number}. The last run is kept as a replay.")
        self.refresh_all()
        self.refresh_bindings()

    def action_leave(self) -> None:
        if self._wait_busy():
            return
        console = self.query_one(Console)
        if console.line.value:
            console.line.value = ""
            return
        if console.styles.height is not None and console.last_rows and console.styles.height.value > self.console_base_rows:
            console.last_rows = 0  # a grown console goes back to its size first
            self.fit_console()
            return
        if self.focused is not console.line:
            console.line.focus()
            return
        self.app.pop_screen()

    # -- keeping the run ---------------------------------------------------------------
    def save_run(self):
        """Record this run as a replay, once (finish, reset, leave and quit all call it)."""
        if self._saved:
            return self.saved_path
        if self.busy:
            return None  # half-way through a command is no run to replay
        self._saved = True
        self.saved_path = self.cq.save_run(self.session)
        return self.saved_path

    def on_unmount(self) -> None:
        self.save_run()
