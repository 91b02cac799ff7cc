"""Widgets of the terminal game: console, objectives, event log, status bar."""

from .console import CommandLine, Console, OrderedInput
from .event_log import EventFilter, EventLogPanel
from .objectives import ObjectivesPanel, status_text
from .status import StatusBar, clock_text

__all__ = [
    "CommandLine",
    "Console",
    "EventFilter",
    "EventLogPanel",
    "ObjectivesPanel",
    "OrderedInput",
    "StatusBar",
    "clock_text",
    "status_text",
]
