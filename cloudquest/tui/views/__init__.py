"""Live views: one widget per kind of simulated world, picked by the world's ``view`` key.

A chapter's YAML says which view draws it (``world: {view: storage}``); the mechanism
that owns the view names it in its record, with the ``describe`` text that says the same
in words (:mod:`cloudquest.game.mechanism`). The widget is found by the view's name: the
module ``cloudquest/tui/views/<name>.py`` exposes it as ``VIEW`` (a mechanism from another
package names its widget's ``"module:Class"`` in its record). The chapter screen and
the replay viewer ask :func:`view_for` for the widget class and never know which one
they got; a view without a module draws the metrics table. A view's module is imported
only when a chapter that draws it opens.

A view only *reads* the session (``self.session.cloud``, its log and metrics): it never
changes the cloud. Everything a player does goes through console commands.
"""

from __future__ import annotations

import importlib
import re

from .base import LiveView, MetricsView

_VIEW_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def view_for(name: str) -> type[LiveView]:
    """The widget class for a world's ``view``; the metrics table when none is written."""
    from ...game.mechanism import view_widgets

    if not _VIEW_NAME.match(name) or name in ("base", "fit"):
        return MetricsView
    ref = view_widgets().get(name)
    if ref is not None:  # a mechanism from another package names its widget
        module_name, _, attr = ref.partition(":")
        view = getattr(importlib.import_module(module_name), attr, None)
    else:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            return MetricsView
        view = getattr(module, "VIEW", None)
    return view if isinstance(view, type) and issubclass(view, LiveView) else MetricsView


__all__ = ["LiveView", "MetricsView", "view_for"]
