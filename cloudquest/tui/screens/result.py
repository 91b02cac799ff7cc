"""The result of a run: every objective with its evidence, skills, hints, time, the seed
it ran on and the chapter's mastery (passed on several seeds); where next: the next
chapter, the same chapter on a new seed or on this one again, the replay."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from ...game.schema import Chapter
from ...game.session import RunResult
from ..keys import Keys
from ..widgets import status_text

if TYPE_CHECKING:
    from ..app import CloudQuestApp


class ResultScreen(Screen):
    BINDINGS = [
        Binding("n", "next", "Next chapter"),
        Binding("a", "again", "New seed", tooltip="Play the chapter again on a new seed"),
        Binding("s", "retry", "Same seed", tooltip="Play the chapter again on this run's seed"),
        Binding("v", "replay", "Replay"),
        Binding("escape", "back", "Map"),
    ]

    def __init__(self, chapter: Chapter, result: RunResult, replay: Path | None, *, newly_completed: bool = False) -> None:
        super().__init__()
        self.chapter = chapter
        self.result = result
        self.replay = replay
        self.newly_completed = newly_completed

    @property
    def cq(self) -> "CloudQuestApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(self._headline(), id="result-head")
        with VerticalScroll(id="result-body"):
            yield Static(self._objectives(), id="result-objectives")
            yield Static(self._summary(), id="result-summary")
        yield Keys()

    def on_mount(self) -> None:
        self.query_one("#result-body").focus()

    def _headline(self) -> Text:
        r = self.result
        passed = sum(o.passed for o in r.objectives)
        text = Text(f"Chapter {self.chapter.number}: {self.chapter.title}   ", style="bold")
        if r.passed:
            text.append(f"✔ PASSED {passed}/{len(r.objectives)}", style="bold green")
        else:
            text.append(f"✘ NOT YET {passed}/{len(r.objectives)}", style="bold red")
        text.append(f"   seed {r.seed}", style="bold")
        return text

    def _objectives(self) -> Table:
        # Two columns, so wrapped evidence stays under its objective, not under the glyph.
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(width=9, no_wrap=True)
        grid.add_column(ratio=1)
        for o in self.result.objectives:
            body = Text()
            body.append(o.id, style="bold")
            body.append(f"  {o.text}\n")
            body.append(f"skills: {', '.join(o.skills)}\n", style="italic")
            body.append(f"evidence: {o.evidence}", style="dim" if o.passed else "")
            grid.add_row(status_text("passed" if o.passed else "failed"), body)
        return grid

    def _summary(self) -> Text:
        r = self.result
        hints = len(self.chapter.hints)
        text = Text()
        if r.passed:
            text.append("skills earned: ", style="bold")
            text.append(", ".join(self.chapter.skills) + "\n", style="green")
            if self.newly_completed:
                text.append("chapter completed for the first time; your progress is saved\n", style="bold green")
        else:
            text.append("skills to earn: ", style="bold")
            text.append(", ".join(self.chapter.skills) + " (pass every objective)\n")
        text.append("hints used: ", style="bold")
        text.append(f"{r.hints_used} of {hints}\n")
        text.append("time: ", style="bold")
        text.append(f"{r.end_ms / 1000:g}s simulated, {len(r.transcript)} commands, {r.events} events\n")
        text.append("seed: ", style="bold")
        text.append(f"{r.seed} (s plays this seed again, a a new one)\n")
        text.append("mastery: ", style="bold")
        text.append(self._mastery() + "\n")
        text.append("replay: ", style="bold")
        text.append(f"{self.replay.name if self.replay else 'not saved'}\n")
        nxt = self.cq.chapter_after(self.chapter) if self.cq.loaded else None
        text.append("next: ", style="bold")
        text.append(f"chapter {nxt.number}, {nxt.title} (n)" if nxt else "the completion quiz (n)")
        return text

    def _mastery(self) -> str:
        from ...game.progress import MASTERY_SEEDS

        progress = self.cq.progress if self.cq.loaded else None
        cp = progress.chapters.get(self.chapter.id) if progress else None
        seeds = sorted(set(cp.seeds_passed)) if cp else []
        if cp is not None and cp.mastered:
            return f"mastered: passed on {len(seeds)} seeds ({', '.join(map(str, seeds))})"
        if not seeds:
            return f"pass it on {MASTERY_SEEDS} different seeds to master it: mastery is not luck"
        return (
            f"passed on {len(seeds)} of the {MASTERY_SEEDS} seeds mastery needs ({', '.join(map(str, seeds))}); "
            "a plays a new one"
        )

    def action_next(self) -> None:
        nxt = self.cq.chapter_after(self.chapter)
        if nxt is None:
            self.cq.open_quiz()
        else:
            self.cq.open_chapter(nxt)

    def action_again(self) -> None:
        self.cq.open_chapter(self.chapter, ask=False)

    def action_retry(self) -> None:
        self.cq.open_chapter(self.chapter, ask=False, seed=self.result.seed)

    def action_replay(self) -> None:
        if self.replay is None:
            self.notify("This run was not saved as a replay.", severity="warning")
            return
        self.cq.open_replay(self.replay)

    def action_back(self) -> None:
        self.cq.open_map()
