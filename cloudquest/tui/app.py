"""The CloudQuest app: screens, navigation, the player's progress and recorded runs.

The title screen is drawn before anything of the game is imported; the chapters, the
saved progress and (for ``cloudquest replay FILE``) the replay are loaded in a worker
thread right after, so starting the game costs about what starting any Textual app
costs (``bench/bench_tui.py`` measures it).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding
from textual.worker import Worker

from .palette import CloudQuestCommands

if TYPE_CHECKING:
    from ..game.chapters import Catalogue
    from ..game.progress import Progress
    from ..game.schema import Chapter, QuizBank
    from ..game.session import RunResult, Session


class CloudQuestApp(App[int]):
    TITLE = "CloudQuest"
    SUB_TITLE = "You See Inside the Cloud"
    # Every screen's style sheet is read once, at start: a screen bringing its own would
    # make Textual parse every style sheet again the first time it opens. Each sheet's
    # rules name their screen, so the order they are read in does not matter.
    CSS_PATH = ["app.tcss", *sorted(f"screens/{p.name}" for p in (Path(__file__).parent / "screens").glob("*.tcss"))]
    COMMANDS = App.COMMANDS | {CloudQuestCommands}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False, tooltip="Quit (your current run is kept as a replay)"),
        Binding("f1", "keys", "Keys", show=False, tooltip="Show or hide every key of this screen"),
    ]

    def __init__(
        self,
        *,
        levels: Path | None = None,
        catalogue: "Catalogue | None" = None,
        quiz_file: Path | None = None,
        seed: int | None = None,
        live_clock: bool = False,
        replay_file: Path | None = None,
        quiz_seed: int | None = None,
        chapter_file: Path | None = None,
        start_chapter: str | None = None,
    ) -> None:
        """``levels``/``catalogue``/``quiz_file`` replace the installed chapters (tests
        pin a fixed catalogue); ``seed`` seeds every run (by default each new run gets a
        fresh seed); ``live_clock=True`` starts chapters with the clock running (by
        default a chapter opens paused and the player starts it); ``quiz_seed`` fixes
        the quiz's shuffle (by default each attempt shuffles differently);
        ``chapter_file`` opens a chapter file (``cloudquest play FILE.yaml``), beside the
        installed chapters, and ``start_chapter`` an installed chapter by id or number."""
        super().__init__()
        self._levels = levels
        self._catalogue = catalogue
        self.quiz_file = quiz_file
        self.seed = seed
        self.live_clock = live_clock
        self.replay_file = replay_file
        self.quiz_seed = quiz_seed
        self.chapter_file = chapter_file
        self.start_chapter = start_chapter
        self.progress: "Progress | None" = None
        self.progress_message: str | None = None
        self.load_problems: list[str] = []
        self._loader: Worker | None = None
        # Set once the title screen is up: what loading opens (a replay, a chapter) must
        # land over the title, however quickly the chapters load.
        self._title_up = threading.Event()

    # -- start ---------------------------------------------------------------------------
    async def on_mount(self) -> None:
        from .screens.title import TitleScreen

        self._loader = self.run_worker(self._load, thread=True, name="load", exit_on_error=False)
        await self.push_screen(TitleScreen())
        self._title_up.set()
        self._sized = True
        self._check_size()  # over the title screen, once it is up

    def on_resize(self, event) -> None:
        if getattr(self, "_sized", False):
            self._check_size(event.size)

    def _check_size(self, size=None) -> None:
        """Below 80x24, a "make the window larger" screen over everything, until it is."""
        from .screens.too_small import TooSmallScreen, too_small

        small = too_small(*(size or self.size))
        shown = getattr(self, "_too_small", None)  # pushing takes a moment: not yet self.screen
        if small and shown is None:
            self._too_small = TooSmallScreen()
            self.push_screen(self._too_small)
        elif not small and shown is not None:
            self._too_small = None
            shown.dismiss()

    def _load(self) -> None:
        from ..game import progress as progress_mod
        from ..game.chapters import load_all

        if self._catalogue is None:
            self._catalogue = load_all(self._levels, own=self._levels is None)
        if self.chapter_file is not None:
            self._catalogue.add_file(self.chapter_file)
        loaded = progress_mod.load()
        self.progress = loaded.progress
        self.progress_message = loaded.message
        self.load_problems = [str(p) for p in self._catalogue.problems]
        # the screens the player is about to open, imported now rather than on first use
        from .screens import chapter, level_map, quiz, replays, result, scenarios  # noqa: F401

        self._title_up.wait(timeout=5)
        self.call_from_thread(self._loaded)

    def _loaded(self) -> None:
        if self.progress_message:
            self.notify(self.progress_message, title="Saved progress", severity="warning", timeout=30)
        for problem in self.load_problems:
            self.notify(f"skipped a broken chapter: {problem}", severity="error", timeout=15)
        title = self.screen_stack[1] if len(self.screen_stack) > 1 else None
        if title is not None and hasattr(title, "data_loaded"):
            title.data_loaded()
        if self.replay_file is not None:
            path, self.replay_file = self.replay_file, None
            self.open_replay(path)
        elif self.chapter_file is not None or self.start_chapter is not None:
            wanted = self.start_chapter
            if self.chapter_file is not None:
                wanted = self.catalogue.file_ids.get(str(Path(self.chapter_file).resolve()))
            self.chapter_file = self.start_chapter = None
            chapter = self.catalogue.get(wanted) if wanted else None
            if chapter is not None:
                self.open_chapter(chapter, ask=False)

    async def ensure_loaded(self) -> None:
        if self._loader is not None and self.progress is None:
            await self._loader.wait()

    @property
    def loaded(self) -> bool:
        return self.progress is not None

    @property
    def catalogue(self) -> "Catalogue":
        assert self._catalogue is not None, "the catalogue is loading"
        return self._catalogue

    def new_seed(self) -> int:
        """The seed of a new run: the fixed one, or a fresh one the player can read,
        retry and share (1-9999)."""
        if self.seed is not None:
            return self.seed
        import random

        return random.SystemRandom().randint(1, 9999)

    # -- progress ------------------------------------------------------------------------
    def chapter_completed(self, chapter_id: str) -> bool:
        cp = self.progress.chapters.get(chapter_id) if self.progress else None
        return bool(cp and cp.completed)

    def chapter_mastered(self, chapter_id: str) -> bool:
        cp = self.progress.chapters.get(chapter_id) if self.progress else None
        return bool(cp and cp.mastered)

    def chapter_state(self, chapter: "Chapter") -> str:
        """mastered | completed | open | locked: open when every earlier chapter is
        completed (the player's own chapters are always open); mastered when passed on
        several seeds."""
        if self.chapter_completed(chapter.id):
            return "mastered" if self.chapter_mastered(chapter.id) else "completed"
        if chapter.id in self.catalogue.own:
            return "open"
        for c in self.catalogue.shipped:
            if c.number >= chapter.number:
                break
            if not self.chapter_completed(c.id):
                return "locked"
        return "open"

    def next_chapter(self) -> "Chapter | None":
        for c in self.catalogue.shipped:
            if not self.chapter_completed(c.id):
                return c
        return None

    def chapter_after(self, chapter: "Chapter") -> "Chapter | None":
        if chapter.id in self.catalogue.own:
            mine = self.catalogue.own_chapters
            i = next((n for n, c in enumerate(mine) if c.id == chapter.id), len(mine))
            return mine[i + 1] if i + 1 < len(mine) else None
        later = [c for c in self.catalogue.shipped if (c.number, c.id) > (chapter.number, chapter.id)]
        return later[0] if later else None

    def record_result(self, chapter: "Chapter", result: "RunResult") -> None:
        if chapter.id == "sandbox" or self.progress is None:
            return
        self.progress.record_result(chapter, result)
        self.save_progress()

    def save_progress(self) -> None:
        from ..game import progress as progress_mod

        try:
            saved = progress_mod.save(self.progress)  # merged with what other games saved meanwhile
        except OSError as exc:
            self.notify(f"could not save your progress: {exc.strerror or exc}", severity="error", timeout=15)
            return
        self.progress = saved.progress
        if saved.message:
            self.notify(saved.message, title="Saved progress", severity="warning", timeout=30)

    def save_run(self, session: "Session") -> Path | None:
        from ..game.runs import save_run

        try:
            return save_run(session)
        except OSError as exc:
            self.notify(f"could not keep this run as a replay: {exc.strerror or exc}", severity="error", timeout=15)
            return None

    # -- navigation ----------------------------------------------------------------------
    def _to_title(self) -> None:
        """Close every screen above the title screen (a chapter closing keeps its run)."""
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def open_map(self) -> None:
        from .screens.level_map import LevelMapScreen

        self._to_title()
        self.push_screen(LevelMapScreen())

    def open_chapter(self, chapter: "Chapter", *, ask: bool = True, seed: int | None = None) -> None:
        """Play a chapter (on ``seed``, or a new run's seed); a chapter ahead of the
        player's progress asks first."""
        from .screens.confirm import Confirm

        state = self.chapter_state(chapter)
        if state == "locked" and ask:

            def answer(yes: bool | None) -> None:
                if yes:
                    self._start_chapter(chapter, jumped=True, seed=seed)

            self.push_screen(
                Confirm(
                    f"Jump ahead to chapter {chapter.number}, {chapter.title}?",
                    "Earlier chapters explain the basics this one builds on. You can play it now and come back "
                    "to them any time.",
                    yes="Play it",
                ),
                answer,
            )
            return
        self._start_chapter(chapter, jumped=state == "locked", seed=seed)

    def _start_chapter(self, chapter: "Chapter", *, jumped: bool = False, seed: int | None = None) -> None:
        from .screens.chapter import ChapterScreen
        from .screens.level_map import LevelMapScreen

        self._to_title()
        self.push_screen(LevelMapScreen())
        from ..game.session import Session, WorldError

        note = "You jumped ahead: earlier chapters explain the basics this one builds on." if jumped else ""
        try:
            session = Session(chapter, self.new_seed() if seed is None else seed)
            if chapter.id in self.catalogue.own:
                session.chapter_file = self.catalogue.file_of(chapter.id)
        except WorldError as exc:
            self.notify(str(exc), title="This chapter cannot start", severity="error", timeout=15)
            return
        self.push_screen(ChapterScreen(chapter, session, note=note, running=self.live_clock))

    def open_quiz(self) -> None:
        from .screens.quiz import QuizScreen

        self._to_title()
        self.push_screen(QuizScreen())

    def open_completion(self) -> None:
        from .screens.completion import CompletionScreen

        self.push_screen(CompletionScreen())

    def open_scenarios(self) -> None:
        from .screens.scenarios import ScenariosScreen

        self._to_title()
        self.push_screen(ScenariosScreen())

    def open_replays(self) -> None:
        from .screens.replays import ReplaysScreen

        self._to_title()
        self.push_screen(ReplaysScreen())

    def open_replay(self, path: Path) -> None:
        from .screens.replays import ReplaysScreen, ReplayViewerScreen

        self._to_title()
        self.push_screen(ReplaysScreen())
        self.push_screen(ReplayViewerScreen(Path(path)))

    def load_quiz_bank(self) -> "QuizBank":
        from ..game.chapters import load_quiz

        return load_quiz(self.quiz_file)

    # -- keys ----------------------------------------------------------------------------
    def action_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    async def action_quit(self) -> None:
        """Quit at any moment, keeping every open run as a replay: a long command still
        running is stopped at its next step first, so what ran is kept too."""
        from .screens.chapter import ChapterScreen

        for screen in self.screen_stack:
            if isinstance(screen, ChapterScreen):
                await screen.stop_long()
                screen.save_run()
        self.exit(0)
