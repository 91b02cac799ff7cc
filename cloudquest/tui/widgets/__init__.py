"""Widgets of the terminal game: console, objectives, event log, status bar, story."""

from .console import CommandLine, Console, OrderedInput
from .event_log import EventFilter, EventLogPanel
from .objectives import ObjectivesPanel, status_text
from .status import StatusBar, clock_text
from .story import Story

__all__ = [
    "CommandLine",
    "Console",
    "EventFilter",
    "EventLogPanel",
    "ObjectivesPanel",
    "OrderedInput",
    "StatusBar",
    "Story",
    "clock_text",
    "status_text",
]
