"""Failure scenarios in the game: the library, what each throws at a design, and two ways
to use one.

- **Watch** (Enter): play the scenario against the design picked as A (the player's last
  run of the scenario's chapter, the chapter's reference design once it is passed, the
  scenario's own design, or a design file), record it as a replay and open it in the
  replay viewer: the chapter's live view, scrubbed moment by moment (play and pause,
  step, jump to the next fault, fork from any moment to try a fix).
- **Compare** (c): play designs A and B under the same seeds and show the figures
  ``cloudquest scenario compare`` prints: availability, data lost, cost, recovery time,
  each at its worst over the seeds, and where the two first diverged.

The runs go through the game's scenario road (:mod:`cloudquest.game.scenarios`) in a
worker thread; the screen only picks, waits and shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Input, Select, Static

from ...game.limits import MAX_SCRIPT_BYTES
from ...game.parser import split_lines
from ...game.runs import list_runs, new_run_path
from ...game.scenarios import (
    DesignChoice,
    LoadedScenario,
    ScenarioError,
    compare,
    comparison_lines,
    design_choices,
    design_lines,
    load_library,
    parse_seeds,
    record_run,
    run,
    timeline_lines,
)
from ...game.userfiles import UserFileError, read_text
from ..keys import Keys

if TYPE_CHECKING:
    from ..app import CloudQuestApp

FILE_CHOICE = "file"


class ScenarioTable(DataTable):
    """The scenario library; Enter watches the one under the cursor (and says so)."""

    BINDINGS = [Binding("enter", "select_cursor", "Watch")]


class ScenariosScreen(Screen):
    BINDINGS = [
        # function keys work wherever the focus is (the file and seed boxes take letters)
        Binding("f2", "watch", "Watch A", tooltip="Play the scenario against design A and open it in the viewer"),
        Binding("f3", "compare", "Compare A and B", tooltip="Play A and B under the same seeds, figure by figure"),
        Binding("c", "compare", "Compare A and B", show=False),
        Binding("w", "watch", "Watch A", show=False),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.scenarios: list[LoadedScenario] = []
        self.choices: list[DesignChoice] = []
        self.busy = ""
        self.last_replay: Path | None = None
        self.last_comparison: list[str] = []

    @property
    def cq(self) -> "CloudQuestApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(
            Text.assemble(("Failure scenarios  ", "bold"), "pick one and a design (Tab); F2 watches it, F3 compares two"),
            id="scenarios-head",
        )
        with VerticalScroll(id="scenarios-body"):
            yield ScenarioTable(id="scenario-list", cursor_type="row")
            yield Static("", id="scenario-detail")
            for which in ("a", "b"):
                with Horizontal(classes="design-row"):
                    yield Static(which.upper(), classes="design-label")
                    yield Select([], id=f"design-{which}", prompt=f"design {which.upper()}", allow_blank=True)
                    yield Input(placeholder="its file, for 'a design file'", id=f"design-file-{which}", classes="design-file")
            with Horizontal(classes="design-row"):
                yield Static("seeds", classes="design-label")
                yield Input("1..3", placeholder="1..3, 1,3,7 or 4", id="seeds")
            yield Static("", id="scenario-result")
        yield Keys()

    def on_mount(self) -> None:
        for widget in self.query(Input):
            widget.cursor_blink = not (self.app.is_headless or self.app.is_web)
        table = self.query_one(DataTable)
        table.add_column("scenario", key="name")
        table.add_column("what fails", key="title")
        table.add_column("world", key="world")
        table.add_column("length", key="length")
        library = load_library(catalogue=self.cq.catalogue)
        self.scenarios = library.scenarios
        for s in self.scenarios:
            table.add_row(
                Text(s.name, style="bold"),
                s.scenario.title,
                s.base_chapter.id if s.base_chapter is not None else "inline",
                f"{s.scenario.run_s // 60} min",
                key=s.name,
            )
        for problem in library.problems:
            self.notify(f"skipped a broken scenario: {problem}", severity="error", timeout=15)
        table.focus()
        self._show_scenario()

    # -- picking ---------------------------------------------------------------------------
    @property
    def current(self) -> LoadedScenario | None:
        table = self.query_one(DataTable)
        if not self.scenarios or table.cursor_row is None or table.cursor_row >= len(self.scenarios):
            return None
        return self.scenarios[table.cursor_row]

    def select(self, name: str) -> None:
        """Put the cursor on a scenario by name (the palette and tests)."""
        for i, s in enumerate(self.scenarios):
            if s.name == name:
                self.query_one(DataTable).move_cursor(row=i)
                self._show_scenario()
                return
        raise KeyError(name)

    def _show_scenario(self) -> None:
        loaded = self.current
        detail = self.query_one("#scenario-detail", Static)
        if loaded is None:
            detail.update("No failure scenarios are installed.")
            return
        text = Text()
        text.append(f"{loaded.scenario.title}\n", style="bold")
        # the description's paragraphs, reflowed to the screen (its line breaks are the file's)
        paragraphs = [" ".join(p.split()) for p in loaded.scenario.description.strip().split("\n\n")]
        text.append("\n\n".join(paragraphs) + "\n")
        text.append("What it throws at the design:\n", style="bold")
        for line in timeline_lines(loaded):
            text.append(f"  {line}\n")
        text.append("Survived: at least 99.9% of requests served and no object lost, unless it says otherwise.", style="dim")
        detail.update(text)
        completed = {c for c, cp in (self.cq.progress.chapters.items() if self.cq.progress else []) if cp.completed}
        self.choices = design_choices(loaded, list_runs(), completed)
        options = [(c.label if c.available else f"{c.label}: {c.why_not}", c.key) for c in self.choices]
        options.append(("a design file (its path beside)", FILE_CHOICE))
        first = next((c.key for c in self.choices if c.available), FILE_CHOICE)
        second = next((c.key for c in self.choices if c.available and c.key != first), first)
        for select, value in ((self.query_one("#design-a", Select), first), (self.query_one("#design-b", Select), second)):
            select.set_options(options)
            select.value = value

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_scenario()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_watch()

    def design(self, which: str) -> tuple[str, list[str]] | None:
        """The design picked as A or B: (its label, its commands), or None with the reason said."""
        value = self.query_one(f"#design-{which}", Select).value
        if value == FILE_CHOICE:
            path = self.query_one(f"#design-file-{which}", Input).value.strip()
            if not path:
                self._say(f"design {which.upper()} is a design file: type its path beside it", error=True)
                return None
            try:
                lines = read_text(Path(path).expanduser(), MAX_SCRIPT_BYTES, "the design")
            except UserFileError as exc:
                self._say(f"cannot read the design: {exc}", error=True)
                return None
            return path, design_lines(split_lines(lines))
        choice = next((c for c in self.choices if c.key == value), None)
        if choice is None:
            self._say(f"pick design {which.upper()} first", error=True)
            return None
        if not choice.available:
            self._say(f"{choice.label}: {choice.why_not}", error=True)
            return None
        return choice.label, choice.lines

    def _say(self, message: str, *, error: bool = False) -> None:
        self.query_one("#scenario-result", Static).update(Text(message, style="bold red" if error else "italic"))

    # -- watching ----------------------------------------------------------------------------
    def action_watch(self) -> None:
        loaded, design = self.current, self.design("a")
        if loaded is None or design is None or self.busy:
            return
        self.busy = "watch"
        self._say(f"playing {loaded.name} against {design[0]}: a few seconds…")
        self._watch(loaded, design)

    @work(thread=True, exclusive=True, group="scenario", exit_on_error=False)
    def _watch(self, loaded: LoadedScenario, design: tuple[str, list[str]]) -> None:
        try:
            seed = self.cq.new_seed()
            r = run(loaded, design[1], seed, design[0])
            path = new_run_path(f"scenario-{loaded.name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            record_run(r, path)
        except (OSError, ScenarioError) as exc:
            self.app.call_from_thread(self._failed, f"could not play it: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - a bug: say it, do not crash the game
            self.app.call_from_thread(self._failed, f"internal error: {type(exc).__name__}: {exc} (please report)")
            return
        verdict = "survived" if r.result.passed else "did not survive"
        self.app.call_from_thread(self._watched, path, f"{design[0]} {verdict} {loaded.name} (seed {seed})")

    def _watched(self, path: Path, summary: str) -> None:
        from .replays import ReplayViewerScreen

        self.busy = ""
        self.last_replay = path
        self._say(f"{summary}; its replay: {path.name}")
        self.app.push_screen(ReplayViewerScreen(path))

    def _failed(self, message: str) -> None:
        self.busy = ""
        self._say(message, error=True)

    # -- comparing ---------------------------------------------------------------------------
    def action_compare(self) -> None:
        loaded = self.current
        if loaded is None or self.busy:
            return
        a, b = self.design("a"), self.design("b")
        if a is None or b is None:
            return
        try:
            seeds = parse_seeds(self.query_one("#seeds", Input).value.strip() or "1..3")
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        self.busy = "compare"
        self._say(f"comparing A and B on {loaded.name} over {len(seeds)} seeds ({2 * len(seeds)} runs)…")
        self._compare(loaded, a, b, seeds)

    @work(thread=True, exclusive=True, group="scenario", exit_on_error=False)
    def _compare(self, loaded: LoadedScenario, a, b, seeds: list[int]) -> None:
        try:
            lines = comparison_lines(compare(loaded, a, b, seeds))
        except Exception as exc:  # noqa: BLE001 - a bug: say it, do not crash the game
            self.app.call_from_thread(self._failed, f"internal error: {type(exc).__name__}: {exc} (please report)")
            return
        self.app.call_from_thread(self._compared, lines)

    def _compared(self, lines: list[str]) -> None:
        self.busy = ""
        self.last_comparison = lines
        self.query_one("#scenario-result", Static).update(Text("\n".join(lines)))
        self.query_one("#scenarios-body", VerticalScroll).scroll_end(animate=False)

    def action_back(self) -> None:
        self.app.pop_screen()
