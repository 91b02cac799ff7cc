"""Live views: one widget per kind of simulated world, picked by the world's ``view`` key.

A chapter's YAML says which view draws it (``world: {view: fleet}``). The chapter
screen and the replay viewer ask :func:`view_for` for the widget class and never know
which one they got. To add a view for a new mechanism, write a :class:`LiveView`
subclass in a new module of this package and add one line to :data:`VIEWS` below;
give ``describe`` the same picture in words with one line in
``cloudquest/game/view_text.py`` (``VIEW_TEXT["name"] = fn``).

A view only *reads* the session (``self.session.cloud``, its log and metrics): it never
changes the cloud. Everything a player does goes through console commands.
"""

from __future__ import annotations

from .base import LiveView, MetricsView
from .fleet import FleetView
from .host import HostView
from .reliability import ReliabilityView
from .scheduling import SchedulingView
from .storage import StorageView

VIEWS: dict[str, type[LiveView]] = {
    "fleet": FleetView,
    "host": HostView,
    "scheduling": SchedulingView,
    "reliability": ReliabilityView,
    "storage": StorageView,
}


def view_for(name: str) -> type[LiveView]:
    """The widget class for a world's ``view``; the metrics table when none is registered."""
    return VIEWS.get(name, MetricsView)


__all__ = ["VIEWS", "FleetView", "HostView", "LiveView", "MetricsView", "SchedulingView", "view_for"]
