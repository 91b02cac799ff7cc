"""The title screen: the name, the level's tagline, and where to go.

It imports nothing of the game, so it is on screen while the chapters load."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ..keys import Keys

if TYPE_CHECKING:
    from ..app import CloudQuestApp

BANNER = "\n".join(
    (
        "┏━╸╻  ┏━┓╻ ╻╺┳┓ ┏━┓╻ ╻┏━╸┏━┓╺┳╸",
        "┃  ┃  ┃ ┃┃ ┃ ┃┃ ┃┓┃┃ ┃┣╸ ┗━┓ ┃ ",
        "┗━╸┗━╸┗━┛┗━┛╺┻┛ ┗┻┛┗━┛┗━╸┗━┛ ╹ ",
    )
)
TAGLINE = "You See Inside the Cloud: how infrastructure actually works"
PITCH = "Hardware → Hypervisor → Virtual resources → APIs → You. Operate each layer, break it, repair it."


class TitleScreen(Screen):
    BINDINGS = [
        Binding("c", "pick('continue')", "Continue"),
        Binding("m", "pick('chapters')", "Chapters"),
        Binding("z", "pick('quiz')", "Quiz"),
        Binding("r", "pick('replays')", "Replays"),
        Binding("s", "pick('scenarios')", "Scenarios"),
        Binding("q", "pick('quit')", "Quit"),
        Binding("f1", "app.keys", "Keys"),
    ]

    @property
    def cq(self) -> "CloudQuestApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Vertical(id="title-box"):
            with Center():
                yield Static(BANNER, id="banner")
            yield Static(TAGLINE, id="tagline")
            yield Static(PITCH, id="pitch")
            with Center():
                yield OptionList(
                    Option("Continue", id="continue"),
                    Option("Chapters", id="chapters"),
                    Option("Completion quiz", id="quiz"),
                    Option("Replays", id="replays"),
                    Option("Failure scenarios", id="scenarios"),
                    Option("Quit", id="quit"),
                    id="menu",
                )
            yield Static("loading chapters…", id="standing")
        yield Keys()

    def on_mount(self) -> None:
        self.query_one("#menu", OptionList).focus()
        if self.cq.loaded:
            self.data_loaded()

    def on_screen_resume(self) -> None:
        if self.cq.loaded:
            self.data_loaded()

    def data_loaded(self) -> None:
        """The chapters and progress are in: say where the player stands."""
        app = self.cq
        menu = self.query_one("#menu", OptionList)
        nxt = app.next_chapter()
        label = f"Continue: chapter {nxt.number}, {nxt.title}" if nxt else "Continue: the completion quiz"
        menu.replace_option_prompt("continue", label)
        progress = app.progress
        chapters = app.catalogue.chapters
        done = sum(1 for c in chapters if app.chapter_completed(c.id))
        skills = len(progress.skills_earned()) if progress else 0
        quiz = progress.quiz if progress else None
        quiz_text = "quiz not taken" if not quiz or not quiz.attempts else f"quiz best {quiz.best_pct}%" + (
            " (passed)" if quiz.passed else ""
        )
        standing = f"{done}/{len(chapters)} chapters, {skills}/8 skills, {quiz_text}"
        if app.progress_message:
            standing += f"\n⚠ {app.progress_message}"
        self.query_one("#standing", Static).update(standing)

    @on(OptionList.OptionSelected, "#menu")
    async def _selected(self, event: OptionList.OptionSelected) -> None:
        await self.action_pick(event.option.id or "")

    async def action_pick(self, what: str) -> None:
        app = self.cq
        if what == "quit":
            await app.action_quit()
            return
        await app.ensure_loaded()
        if what == "continue":
            nxt = app.next_chapter()
            if nxt is None:
                app.open_quiz()
            else:
                app.open_chapter(nxt)
        elif what == "chapters":
            app.open_map()
        elif what == "quiz":
            app.open_quiz()
        elif what == "replays":
            app.open_replays()
        elif what == "scenarios":
            app.open_scenarios()
