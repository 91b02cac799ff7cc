"""The completion quiz: the bank's questions over the eight skills, plus questions about
the player's own recorded runs; one at a time, an explanation after each answer, a pass
mark per skill and overall, saved with the player's progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from ...game.chapters import ChapterError
from ...game.quiz import AskedQuestion, QuizError, QuizScore, mix_in, prepare
from ...game.schema import SKILLS
from ...game.own_runs import own_run_questions
from ...game.runs import list_runs
from ..keys import Keys
from ..widgets import OrderedInput
from .quiz_order import OrderingMixin

if TYPE_CHECKING:
    from ..app import CloudQuestApp

MAX_OPTIONS = 6


def _number(text: str) -> float | None:
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


class QuizScreen(OrderingMixin, Screen):
    BINDINGS = [
        *(Binding(str(i), f"choose({i})", f"Answer {i}", show=False) for i in range(1, MAX_OPTIONS + 1)),
        Binding("n", "next", "Next", show=True),
        Binding("r", "retake", "Retake"),
        Binding("escape", "back", "Back"),
        Binding("backspace", "undo_pick", "Undo step", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.questions: list[AskedQuestion] = []
        self.index = 0
        self.answered = False
        self.score = QuizScore()
        self.mark = 70
        self.phase = "loading"  # loading | question | done | error
        self.own = 0
        self.seed = 0

    @property
    def cq(self) -> "CloudQuestApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("Completion quiz", id="quiz-head")
        with VerticalScroll(id="quiz-body"):
            yield Static("Preparing the questions (predict questions run small worlds)…", id="quiz-question")
            yield OptionList(id="quiz-options")
            yield OrderedInput(placeholder="a number, then Enter", id="quiz-answer")
            yield Static("", id="quiz-feedback")
        yield Keys()

    def on_mount(self) -> None:
        self.query_one("#quiz-answer", Input).cursor_blink = not (self.app.is_headless or self.app.is_web)
        self._show_inputs(None)
        self.start()

    # -- preparing -----------------------------------------------------------------------
    def start(self) -> None:
        progress = self.cq.progress
        attempts = progress.quiz.attempts if progress else 0
        self.seed = self.cq.quiz_seed if self.cq.quiz_seed is not None else attempts + 1
        self.phase = "loading"
        self.query_one("#quiz-question", Static).update("Preparing the questions (predict questions run small worlds)…")
        self.query_one("#quiz-feedback", Static).update("")
        self._prepare(self.seed)

    @work(thread=True, exclusive=True, group="quiz", exit_on_error=False)
    def _prepare(self, seed: int) -> None:
        try:
            bank = self.cq.load_quiz_bank()
            asked = prepare(bank, seed)
        except (ChapterError, QuizError, OSError) as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug: say it, do not crash the game
            self.app.call_from_thread(self._failed, f"internal error: {type(exc).__name__}: {exc} (please report)")
            return
        try:
            own = own_run_questions(list_runs(), self.cq.catalogue, seed)
        except Exception as exc:  # a broken replay must not stop the quiz
            own = []
            self.app.call_from_thread(self.notify, f"no question from your runs: {exc}", severity="warning")
        # Questions about the player's own runs go among the others, at seeded places, in
        # their order (the boot question follows the placement one).
        import random

        asked = mix_in(asked, own, random.Random(seed))
        self.app.call_from_thread(self._ready, asked, bank.pass_mark_pct, len(own))

    def _failed(self, message: str) -> None:
        self.phase = "error"
        self.query_one("#quiz-question", Static).update(
            Text(f"The quiz bank could not be loaded:\n{message}", style="bold red")
        )
        self._show_inputs(None)

    def _ready(self, questions: list[AskedQuestion], mark: int, own: int) -> None:
        self.questions = questions
        self.mark = mark
        self.own = own
        self.index = 0
        self.score = QuizScore()
        self.phase = "question"
        self._ask()

    # -- asking --------------------------------------------------------------------------
    @property
    def current(self) -> AskedQuestion | None:
        return self.questions[self.index] if self.phase == "question" and self.index < len(self.questions) else None

    def _head(self) -> None:
        q = self.current
        text = Text("Completion quiz  ", style="bold")
        if q is not None:
            text.append(f"question {self.index + 1}/{len(self.questions)}  ")
            text.append(f"score {self.score.correct}/{self.score.total}  ", style="bold")
            text.append(f"skills: {', '.join(q.skills)}", style="italic")
        self.query_one("#quiz-head", Static).update(text)

    def _show_inputs(self, kind: str | None) -> None:
        self.query_one("#quiz-options", OptionList).display = kind in ("choice", "order")
        self.query_one("#quiz-answer", Input).display = kind == "predict"

    def _ask(self) -> None:
        q = self.current
        if q is None:
            self._finish()
            return
        self.answered = False
        self.refresh_bindings()
        self._head()
        text = Text()
        if q.id.startswith("own-"):
            text.append("About your own run\n", style="bold magenta")
        elif q.kind == "predict":
            text.append("Predict the outcome (the answer comes from running the simulation)\n", style="bold cyan")
        text.append(q.text)
        self.query_one("#quiz-question", Static).update(text)
        self.query_one("#quiz-feedback", Static).update(
            Text(f"Pick an option (1-{len(q.options)}, or the arrows and Enter)." if q.kind == "choice"
                 else "Type a number and press Enter.", style="dim")
        )
        self._show_inputs(q.kind)
        if q.kind == "order":
            text = Text("Explain it like an interview: order the steps\n", style="bold yellow")
            text.append(q.text)
            self.query_one("#quiz-question", Static).update(text)
            ol = self.query_one("#quiz-options", OptionList)
            ol.disabled = False
            ol.highlighted = None
            self._order_begin()
            ol.highlighted = 0
            ol.focus()
        elif q.kind == "choice":
            ol = self.query_one("#quiz-options", OptionList)
            ol.disabled = False
            ol.clear_options()
            ol.add_options([Option(Text(f"{i + 1}. {o}"), id=str(i)) for i, o in enumerate(q.options)])
            ol.highlighted = 0
            ol.focus()
        else:
            answer = self.query_one("#quiz-answer", Input)
            answer.disabled = False
            answer.value = ""
            answer.focus()
        self.query_one("#quiz-body", VerticalScroll).scroll_home(animate=False)

    def _answer(self, response) -> None:
        q = self.current
        if q is None or self.answered:
            return
        ok = q.grade(response)
        self.answered = True
        self.score.add(q, ok)
        self._head()
        self.refresh_bindings()
        text = Text()
        if ok:
            text.append("✔ RIGHT\n", style="bold green")
        else:
            text.append("✘ WRONG  ", style="bold red")
            if q.kind == "order":
                text.append(self._order_answer_text(q))
            elif q.kind == "choice":
                text.append(f"the answer: {q.answer + 1}. {q.options[q.answer]}\n")
            else:
                text.append(f"the answer: {q.answer:g}" + (f" (±{q.tolerance:g})" if q.tolerance else "") + "\n")
        text.append(q.explanation + "\n")
        text.append("n or Enter: next question", style="dim")
        self.query_one("#quiz-feedback", Static).update(text)
        self.query_one("#quiz-options", OptionList).disabled = True
        self.query_one("#quiz-answer", Input).disabled = True
        body = self.query_one("#quiz-body", VerticalScroll)
        body.focus()
        body.scroll_end(animate=False)

    @on(OptionList.OptionSelected, "#quiz-options")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        q = self.current
        if q is not None and q.kind == "order":
            self._order_pick(int(event.option.id or 0))
            return
        self._answer(int(event.option.id or 0))

    @on(Input.Submitted, "#quiz-answer")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        value = _number(event.value)
        if value is None:
            self.query_one("#quiz-feedback", Static).update(
                Text(f"{event.value.strip() or 'nothing'!s} is not a number: type one, like 8 or 13.5", style="bold red")
            )
            return
        self._answer(value)

    def action_choose(self, n: int) -> None:
        q = self.current
        if q is not None and q.kind == "order" and not self.answered:
            self._order_pick(n - 1)
            return
        if q is None or q.kind != "choice" or self.answered:
            return
        if 1 <= n <= len(q.options):
            self._answer(n - 1)

    def action_undo_pick(self) -> None:
        q = self.current
        if q is not None and q.kind == "order" and not self.answered:
            self._order_undo()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next":
            return self.phase == "question" and self.answered
        if action == "retake":
            return self.phase in ("done", "error")
        return True

    def key_enter(self) -> None:
        if self.phase == "question" and self.answered:
            self.action_next()

    def action_next(self) -> None:
        if self.phase != "question" or not self.answered:
            return
        self.index += 1
        self._ask()

    # -- the end -------------------------------------------------------------------------
    def _finish(self) -> None:
        self.phase = "done"
        self.refresh_bindings()
        self._show_inputs(None)
        score = self.score
        passed = score.passed(self.mark)
        app = self.cq
        progress = app.progress
        if progress is not None:
            qp = progress.quiz
            qp.attempts += 1
            if score.pct >= qp.best_pct:
                qp.best_pct = score.pct
                qp.per_skill_pct = score.skill_pct()
                qp.right = [i for i in score.right if not i.startswith("own-")]
            qp.passed = qp.passed or passed
            app.save_progress()
        self.query_one("#quiz-head", Static).update(Text("Completion quiz: result", style="bold"))
        text = Text()
        if passed:
            text.append(f"✔ PASSED {score.pct}%", style="bold green")
        else:
            text.append(f"✘ NOT YET {score.pct}%", style="bold red")
        text.append(
            f"  ({score.correct}/{score.total} right; pass mark {self.mark}% overall, and every skill at most one "
            "slip in three)\n\n"
        )
        per = score.skill_pct()
        for skill in SKILLS:
            if skill not in per:
                text.append("  -     ", style="dim")
                text.append(f"{skill}: not asked\n", style="dim")
                continue
            right, asked = score.per_skill[skill]
            ok = score.skill_passed(skill)
            text.append("  ✔ PASS " if ok else "  ✘ FAIL ", style="bold green" if ok else "bold red")
            text.append(f"{skill}: {right}/{asked} ({per[skill]}%)\n")
        if self.own:
            text.append(f"\n{self.own} question(s) came from your own recorded runs.\n", style="italic")
        if progress is not None:
            text.append(
                f"\nSaved: attempt {progress.quiz.attempts}, best {progress.quiz.best_pct}%"
                + (", passed" if progress.quiz.passed else "")
                + ".\n"
            )
        text.append("r: retake (new order)   escape: back", style="dim")
        self.query_one("#quiz-question", Static).update(text)
        self.query_one("#quiz-feedback", Static).update("")
        self.query_one("#quiz-body", VerticalScroll).focus()

    def action_retake(self) -> None:
        if self.phase in ("done", "error"):
            self.start()

    def action_back(self) -> None:
        self.app.pop_screen()
