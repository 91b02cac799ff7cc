"""The counter's live view."""

from __future__ import annotations

from rich.text import Text

from cloudquest.tui.views.base import LiveView

from .sim import Counter


class CounterView(LiveView):
    VIEW_TITLE = "counter"

    def draw(self, width: int) -> Text:
        return Text(f"counter {self.session.cloud.get(Counter).value}")


VIEW = CounterView
