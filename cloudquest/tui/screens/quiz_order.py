"""Ordering questions in the quiz screen, played from the keyboard: press the steps'
numbers (or arrows and Enter) first step first; each pick is marked in the list with its
place; backspace takes the last pick back; the last pick submits the order."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...game.interview import order_text


class OrderingMixin:
    picks: list[int]

    def _order_options(self) -> None:
        q = self.current  # type: ignore[attr-defined]
        ol = self.query_one("#quiz-options", OptionList)  # type: ignore[attr-defined]
        highlighted = ol.highlighted
        ol.clear_options()
        for i, step in enumerate(q.options):
            place = f"→{self.picks.index(i) + 1} " if i in self.picks else "   "
            style = "dim" if i in self.picks else ""
            ol.add_option(Option(Text(f"{place}{i + 1}. {step}", style=style), id=str(i)))
        ol.highlighted = highlighted if highlighted is not None else 0

    def _order_feedback(self) -> None:
        q = self.current  # type: ignore[attr-defined]
        text = Text(f"Order the steps: press their numbers (1-{len(q.options)}, or arrows and Enter), "
                    "first step first; backspace takes one back.", style="dim")
        if self.picks:
            text.append("\nYour order so far: " + " ".join(str(i + 1) for i in self.picks), style="bold")
        self.query_one("#quiz-feedback", Static).update(text)  # type: ignore[attr-defined]

    def _order_begin(self) -> None:
        self.picks = []
        self._order_options()
        self._order_feedback()

    def _order_pick(self, i: int) -> None:
        q = self.current  # type: ignore[attr-defined]
        if q is None or i in self.picks or not 0 <= i < len(q.options):
            return
        self.picks.append(i)
        if len(self.picks) == len(q.options):
            self._answer(list(self.picks))  # type: ignore[attr-defined]
            return
        self._order_options()
        self._order_feedback()

    def _order_undo(self) -> None:
        if self.picks:
            self.picks.pop()
            self._order_options()
            self._order_feedback()

    @staticmethod
    def _order_answer_text(q) -> str:
        return "the right order:\n" + order_text(q.options, q.answer) + "\n"
