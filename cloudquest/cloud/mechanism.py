"""What a mechanism declares about itself to the cloud: its metrics, its events, its parts.

A mechanism (the hypervisor, storage, the load balancer, ...) is one module of its own.
It plugs into a :class:`~cloudquest.cloud.cloud.Cloud` through :class:`Plugin`: a name
(its world section), and ``attach(cloud, section)``, which builds its state from its
validated section and wires it in through the cloud's hooks (``metric_sources``,
``step_hooks``, ``health_listeners``). The cloud's core never imports a mechanism; it
attaches the plugins it is given, in the order given.

The module also declares, as data, what it publishes, so the game can list it for
authors, check chapter files against it, and refuse a clash between two mechanisms:

- :class:`Metric`: a metric name (or a family such as ``running.{instance}``) and what it
  measures, in the player's words;
- :class:`EventKind`: an event kind and its fields.

The game's record of a mechanism (``cloudquest/game/mechanism.py``) names these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .cloud import Cloud


@dataclass(frozen=True)
class Metric:
    """A metric a mechanism publishes. ``name`` may hold one ``{placeholder}`` for a
    family of metrics (``running.{instance}``); ``help`` says what it measures, in words a
    player reads when it does not exist yet ("the running state of an instance")."""

    name: str
    help: str
    absent: str = ""  # a family member not there yet, in words: "{} is not running yet"
    # Changes with the clock alone, while nothing happens (time_s, a rate that follows
    # the time of day, "how long since"): a grader must read it at every step.
    clocked: bool = False

    @property
    def prefix(self) -> str:
        """The fixed part before a family's placeholder (the whole name otherwise)."""
        return self.name.split("{", 1)[0]

    @property
    def family(self) -> bool:
        return "{" in self.name

    def matches(self, name: str) -> bool:
        if self.family:
            return name.startswith(self.prefix) and len(name) > len(self.prefix)
        return name == self.name


@dataclass(frozen=True)
class EventKind:
    """An event a mechanism appends to the log: its kind and the fields it carries."""

    kind: str
    fields: tuple[str, ...]
    help: str = ""


def metrics(*rows: tuple[str, ...] | Metric) -> tuple[Metric, ...]:
    """``metrics(("objects", "objects stored"), ...)``: a mechanism's metric table. A
    family's row may add how a member reads when it is not there yet:
    ``("running.{instance}", "whether an instance is running", "{} is not running yet")``;
    a row may be a :class:`Metric` (``Metric("time_s", "...", clocked=True)``)."""
    return tuple(row if isinstance(row, Metric) else Metric(*row) for row in rows)


def events(*rows: tuple[str, str, str]) -> tuple[EventKind, ...]:
    """``events(("storage.put", "object chunks", "an object was written"), ...)``: a
    mechanism's event table; the fields are one space-separated string."""
    return tuple(EventKind(kind, tuple(fields.split()), help) for kind, fields, help in rows)


class Plugin(Protocol):
    """What the cloud needs of a mechanism to attach it."""

    name: str

    @property
    def attach(self) -> Callable[["Cloud", Any], Any] | None: ...
