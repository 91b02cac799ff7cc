"""The level map: every chapter with its state, skills and best result; the eight skills
of the completion check and what is earned; overall progress. The player's own chapters
(their ``levels/`` folder, or a file opened with ``cloudquest play FILE.yaml``) are
listed after the shipped ones, under "your chapters"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from ...game.schema import SKILLS
from ..keys import Keys

if TYPE_CHECKING:
    from ..app import CloudQuestApp

class ChapterTable(DataTable):
    """The chapter list; Enter plays the chapter under the cursor (and says so)."""

    BINDINGS = [Binding("enter", "select_cursor", "Play")]


# Short names for the skills column; the skills panel gives each in full beside it.
SKILL_SHORT = {
    "virtualization internals": "virt",
    "resource scheduling": "sched",
    "distributed storage": "store",
    "replication systems": "repl",
    "cloud networking internals": "net",
    "scaling automation": "scale",
    "isolation layers": "isol",
    "reliability engineering": "rel",
}

STATE_MARK = {
    "mastered": ("★ mastered", "bold yellow"),
    "completed": ("✔ completed", "bold green"),
    "open": ("○ open", "bold"),
    "locked": ("· locked", "dim"),
}


class LevelMapScreen(Screen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        Binding("z", "quiz", "Quiz"),
        Binding("c", "completion", "Completion"),
        Binding("r", "replays", "Replays"),
        Binding("escape", "back", "Back"),
    ]

    @property
    def cq(self) -> "CloudQuestApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="map-progress")
        with Horizontal(id="map-body"):
            yield ChapterTable(id="chapters", cursor_type="row", zebra_stripes=False)
            with Vertical(id="map-side"):
                yield Static("", id="chapter-detail")
                yield Static("", id="skills")
        yield Keys()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("#", key="num", width=3)
        table.add_column("chapter", key="title")
        table.add_column("state", key="state", width=11)
        table.add_column("best", key="best")
        table.add_column("skills", key="skills")
        self.fill()
        table.focus()

    def on_screen_resume(self) -> None:
        self.fill()

    def fill(self) -> None:
        app = self.cq
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        shipped, own = app.catalogue.shipped, app.catalogue.own_chapters
        self.rows: list = []  # the chapter on each row (None: the "your chapters" heading)
        first_open = None
        for c in [*shipped, None, *own] if own else shipped:
            if c is None:
                table.add_row(Text(""), Text("your chapters", style="bold italic"), Text(""), Text(""), Text(""), key="--own--")
                self.rows.append(None)
                continue
            state = app.chapter_state(c)
            if state == "open" and first_open is None:
                first_open = c.id
            word, style = STATE_MARK[state]
            table.add_row(
                Text(str(c.number), justify="right"),
                Text(c.title, style="bold" if c.id == first_open else ""),
                Text(word, style=style),
                Text(self._best(c.id)),
                Text(" ".join(SKILL_SHORT.get(s, s) for s in c.skills), style="dim"),
                key=c.id,
            )
            self.rows.append(c)
        chapters = shipped
        if self.rows:
            row = keep if keep and keep < len(self.rows) else next(
                (i for i, c in enumerate(self.rows) if c is not None and c.id == first_open), 0
            )
            table.move_cursor(row=row)
        progress = app.progress
        done = sum(1 for c in chapters if app.chapter_completed(c.id))
        earned = progress.skills_earned() if progress else []
        self.query_one("#map-progress", Static).update(
            Text.assemble(
                ("Level map  ", "bold"),
                f"{done}/{len(chapters)} chapters, {len(earned)}/{len(SKILLS)} skills",
            )
        )
        skills = Text("completion-check skills\n", style="bold")
        for s in SKILLS:
            if s in earned:
                skills.append("✔ ", style="bold green")
                skills.append(s)
            else:
                skills.append("· ", style="dim")
                skills.append(s, style="dim")
            skills.append(f" ({SKILL_SHORT[s]})\n", style="dim")
        skills.rstrip()
        self.query_one("#skills", Static).update(skills)
        self._detail()

    def _best(self, chapter_id: str) -> str:
        progress = self.cq.progress
        cp = progress.chapters.get(chapter_id) if progress else None
        if cp is None or not cp.attempts:
            return "-"
        best = f"{cp.best_passed}/{cp.objectives}"
        if cp.seeds_passed:
            best += f", {len(cp.seeds_passed)} seed" + ("" if len(cp.seeds_passed) == 1 else "s")
        if cp.best_hints is not None:
            best += f", {cp.best_hints} hint" + ("" if cp.best_hints == 1 else "s")
        if cp.best_time_s is not None:
            best += f", {cp.best_time_s:g}s"
        return best

    def _current(self):
        table = self.query_one(DataTable)
        rows = getattr(self, "rows", [])
        if not rows or table.cursor_row is None or table.cursor_row >= len(rows):
            return None
        return rows[table.cursor_row]

    def _detail(self) -> None:
        c = self._current()
        detail = self.query_one("#chapter-detail", Static)
        if c is None:
            if getattr(self, "rows", None):
                detail.update(
                    Text.assemble(
                        ("Your chapters\n", "bold"),
                        ("Chapter files in your levels folder, or opened with cloudquest play FILE.yaml "
                         "(docs/authoring.md says how to write one).", ""),
                    )
                )
            else:
                detail.update("No chapters are installed.")
            return
        state = self.cq.chapter_state(c)
        text = Text()
        text.append(f"Chapter {c.number}: {c.title}\n", style="bold")
        text.append("proves: ", style="dim")
        text.append(", ".join(c.skills) + "\n")
        text.append(f"{len(c.objectives)} objectives, {len(c.hints)} hints; level sections {', '.join(map(str, c.sections))}\n", style="dim")
        if state == "locked":
            text.append("Ahead of you: earlier chapters explain the basics it builds on. Enter still plays it.", style="yellow")
        elif state == "mastered":
            text.append("Mastered: passed on several seeds. Play again to improve your best result.", style="yellow")
        elif state == "completed":
            from ...game.progress import MASTERY_SEEDS

            cp = self.cq.progress.chapters.get(c.id) if self.cq.progress else None
            seeds = len(cp.seeds_passed) if cp else 1
            text.append(
                f"Completed on {seeds} seed{'s' if seeds != 1 else ''}; pass it on {MASTERY_SEEDS} different seeds to "
                "master it (each new run draws a new seed).",
                style="green",
            )
        else:
            text.append("Open: Enter to play.", style="")
        detail.update(text)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_play()

    def action_play(self) -> None:
        c = self._current()
        if c is not None:
            self.cq.open_chapter(c)

    def action_quiz(self) -> None:
        self.cq.open_quiz()

    def action_replays(self) -> None:
        self.cq.open_replays()

    def action_completion(self) -> None:
        self.cq.open_completion()

    def action_back(self) -> None:
        self.app.pop_screen()
