"""The command palette (ctrl+p): jump to a chapter, open a replay, take the quiz,
switch theme, and, on the chapter screen, every clock and run action by name (for
terminals whose function keys are taken)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from .app import CloudQuestApp


class CloudQuestCommands(Provider):
    async def startup(self) -> None:
        await self.cq.ensure_loaded()

    @property
    def cq(self) -> "CloudQuestApp":
        return self.app  # type: ignore[return-value]

    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        from ..game.runs import list_runs
        from .screens.chapter import ChapterScreen

        app = self.cq
        out: list[tuple[str, str, Callable[[], object]]] = [
            ("Level map", "every chapter, your progress and skills", app.open_map),
            ("Take the completion quiz", "questions over the eight skills", app.open_quiz),
            ("Completion check", "the eight skills, what proved each, the certificate", app.open_completion),
            ("Replays", "every recorded run", app.open_replays),
            ("Failure scenarios", "play a chaos timeline against a design, compare two designs", app.open_scenarios),
        ]
        for c in app.catalogue.chapters:
            state = app.chapter_state(c)
            out.append((f"Chapter {c.number}: {c.title}", f"{state}; {', '.join(c.skills)}", partial(app.open_chapter, c)))
        for run in list_runs()[:20]:
            if run.problem:
                continue
            out.append(
                (f"Open replay: {run.name}", f"chapter {run.chapter}, {run.commands} commands, t={run.end_ms / 1000:g}s",
                 partial(app.open_replay, run.path))
            )
        for theme in sorted(app.available_themes):
            out.append((f"Theme: {theme}", "switch the colour theme", partial(setattr, app, "theme", theme)))
        screen = self.screen
        if isinstance(screen, ChapterScreen):
            out += [
                ("Clock: run or pause", "F2 (while a long command runs: stop it)", screen.action_toggle_clock),
                ("Clock: one step", "F3", screen.action_step),
                ("Clock: next speed (1x, 4x, 16x)", "F4", screen.action_speed),
                ("Hint", "F5: the next hint, counted in your result", screen.action_hint),
                ("Finish the run", "F6: see your result", screen.action_finish),
                ("Reset the chapter", "F8: asks first", screen.action_reset),
                ("Next pane", "F9 or Tab: console, story, view, objectives, events", screen.action_next_pane),
                ("Zoom the focused pane", "F10: the whole screen; again or Esc restores", screen.action_zoom),
                ("Story or event log", "the left pane's two tabs", screen.action_toggle_pane),
            ]
            if screen.completed:
                out.append(("Reference solution", "F7: one command at a time on the command line", screen.action_solution))
        return out

    async def discover(self) -> Hits:
        for name, help_text, callback in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
