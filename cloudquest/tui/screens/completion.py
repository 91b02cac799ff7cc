"""The completion check's screen: the eight skills, what proved each, and the certificate.

Every saved run is replayed (the game's one road, :func:`game.tally.build`) in a worker,
so the screen opens at once and fills when the replays are done. ``m`` and ``v`` write
the certificate (Markdown or SVG) into the user data folder, atomically, and say where.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from ...game import tally as tally_mod
from ...game.locations import data_home
from ...game.progress import Progress
from ...game.runs import list_runs
from ..keys import Keys

if TYPE_CHECKING:
    from ..app import CloudQuestApp


class CompletionScreen(Screen):
    BINDINGS = [
        Binding("m", "export('md')", "Certificate .md"),
        Binding("v", "export('svg')", "Certificate .svg"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.tally: tally_mod.Tally | None = None

    @property
    def cq(self) -> "CloudQuestApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(Text("Completion check: You See Inside the Cloud", style="bold"), id="completion-head")
        with VerticalScroll(id="completion-body"):
            yield Static(Text("Replaying your saved runs...", style="dim"), id="completion-tally")
            yield Static(Text(tally_mod.RULE, style="dim"), id="completion-rule")
            yield Static("", id="completion-note")
        yield Keys()

    def on_mount(self) -> None:
        self._build()

    @work(thread=True, exclusive=True, group="completion")
    def _build(self) -> None:
        app = self.cq
        try:
            bank = app.load_quiz_bank()
        except Exception:  # a broken quiz bank is validate's to report; the tally goes on without it
            bank = None
        tally = tally_mod.build(app.catalogue, app.progress or Progress(), list_runs(), bank)
        app.call_from_thread(self._show, tally)

    def _show(self, tally: tally_mod.Tally) -> None:
        self.tally = tally
        text = Text()
        for i, line in enumerate(tally_mod.lines(tally)):
            if i == 0:
                text.append(line + "\n", style="bold green" if tally.complete else "bold yellow")
            elif line.startswith("✔"):
                text.append(line + "\n", style="green")
            elif line.startswith("✘"):
                text.append(line + "\n")
            else:
                text.append(line + "\n", style="dim")
        if tally.skipped:
            text.append("runs not counted:\n", style="bold")
            for problem in tally.skipped:
                text.append(f"  {problem}\n", style="dim")
        text.rstrip()
        self.query_one("#completion-tally", Static).update(text)

    def action_export(self, fmt: str) -> None:
        note = self.query_one("#completion-note", Static)
        if self.tally is None:
            note.update(Text("The tally is still being built: try again in a moment.", style="yellow"))
            return
        path = data_home() / "certificates" / f"certificate.{fmt}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tally_mod.write(path, tally_mod.render(self.tally, fmt))
        except OSError as exc:
            note.update(Text(f"cannot write {path}: {exc.strerror or exc}", style="bold red"))
            return
        note.update(Text(f"wrote {path} (its run hashes replay with cloudquest replay FILE)", style="bold"))
