"""The footer of every screen: the keys that work here, drawn again only when they change.

Textual's footer rebuilds its keys (a widget each, styled anew) every time the screen's
bindings may have changed: each focus move, each screen change, several times while a
screen opens. Most of those change nothing it shows. This one waits for the screen to
settle, compares what it would show with what it shows, and rebuilds only on a change,
so a classroom of idle games and a busy console spend nothing on it.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class Keys(Footer):
    """A compact footer that rebuilds itself only when its keys change."""

    DEFAULT_CSS = ""

    def __init__(self) -> None:
        super().__init__(compact=True)
        self._shown: tuple | None = None
        self._queued = False

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or self._queued:
            return
        if self.is_attached and screen is self.screen:
            self._queued = True
            self.call_after_refresh(self._rebuild_if_changed)

    def _keys(self) -> tuple:
        return tuple(
            (binding.key, binding.description, binding.action, enabled, tooltip, binding.group)
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        )

    async def _rebuild_if_changed(self) -> None:
        self._queued = False
        if not self.is_attached:
            return
        keys = self._keys()
        if keys != self._shown:
            self._shown = keys
            await self.recompose()
