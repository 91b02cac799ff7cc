"""One record per mechanism, and the registry built from them.

A mechanism (the hypervisor, scheduling, storage, the load balancer, ...) is declared
once, by one :class:`Mechanism` record at the bottom of its commands module
(``cloudquest/game/commands/<name>.py``). The record names everything the game needs to
know about it:

- its world section (a pydantic model, defined beside the simulation in
  ``cloudquest/cloud/<name>.py``), how it attaches to a cloud, and the mechanisms whose
  state it reads (attachment order follows from these ``needs``);
- a check of its section against the rest of the world (cross-references);
- its console commands (a :class:`~cloudquest.game.registry.CommandSet`), the kinds of
  world ids its arguments complete (``ids``), and its line in ``status``;
- its metrics and its event kinds (:mod:`cloudquest.cloud.mechanism`), and the fault
  kinds it lets a player or a timeline fail;
- its live views, each with the ``describe`` text that says the same in words (the
  terminal game finds the widget by the view's name: ``cloudquest/tui/views/<name>.py``,
  or, for a mechanism outside this package, the ``"module:Class"`` its record names in
  ``widgets``).

Nothing is registered as a side effect of an import. The registry finds the records
itself: every module of :mod:`cloudquest.game.commands` that defines ``MECHANISM``,
mechanisms installed by other packages under the entry-point group
``cloudquest.mechanisms``, and modules named in ``$CLOUDQUEST_MECHANISMS`` (a
comma-separated list, for trying a mechanism without packaging it). It refuses two
mechanisms that claim the same section, command, id kind, metric, event kind or view:
a clash is an error when the game starts, never a silent overwrite.

The world schema (``cloudquest/game/schema.py``) is built from the registered sections;
a chapter's world is validated once, and each mechanism's ``attach`` receives its own
validated section.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from ..cloud.mechanism import EventKind, Metric
from .registry import CommandSet, CommandSpec

if TYPE_CHECKING:
    from ..cloud import Cloud
    from ..cloud.world import CoreWorld
    from .session import Session

IdSource = Callable[["Session"], list[str]]
StatusProvider = Callable[["Session", "str | None"], "str | None"]
ViewText = Callable[["Session"], str]

ENTRY_POINT_GROUP = "cloudquest.mechanisms"


def keys_of(state: type, attr: str) -> IdSource:
    """An id source: the sorted keys of ``attr`` (a dict or set) of the cloud's ``state``,
    none when the world has no such state."""

    def ids(session: "Session") -> list[str]:
        found = session.cloud.get(state)
        return sorted(getattr(found, attr)) if found is not None else []

    return ids
ENV_MODULES = "CLOUDQUEST_MECHANISMS"


@dataclass(frozen=True)
class Mechanism:
    """Everything about one mechanism, in one place.

    ``name`` is its world section's key ("core" for the part every world has, which has
    no section of its own). ``section`` is the section's type (a pydantic model, or a
    list of one); with ``always`` the section is present, with its defaults, even when
    a world leaves it out. ``attach(cloud, section)`` builds the mechanism's state from
    the validated section and returns it (``cloud.get(StateClass)`` finds it again).
    """

    name: str
    summary: str
    section: Any = None
    attach: Callable[["Cloud", Any], Any] | None = None
    always: bool = False
    needs: tuple[str, ...] = ()
    check: Callable[["CoreWorld", Any], None] | None = None
    commands: CommandSet = field(default_factory=CommandSet)
    ids: Mapping[str, IdSource] = field(default_factory=dict)
    status: StatusProvider | None = None
    faults: tuple[str, ...] = ()
    metrics: tuple[Metric, ...] = ()
    events: tuple[EventKind, ...] = ()
    views: Mapping[str, ViewText] = field(default_factory=dict)
    widgets: Mapping[str, str] = field(default_factory=dict)


class MechanismError(Exception):
    """Two mechanisms clash, or one names a mechanism that does not exist."""


# -- finding the records ---------------------------------------------------------------------
def _builtin_modules() -> list[str]:
    from . import commands

    return [f"{commands.__name__}.{m.name}" for m in pkgutil.iter_modules(commands.__path__)]


def _plugin_modules() -> list[str]:
    names = [ep.value.split(":")[0] for ep in entry_points(group=ENTRY_POINT_GROUP)]
    names += [n.strip() for n in os.environ.get(ENV_MODULES, "").split(",") if n.strip()]
    return names


def _records_in(module_name: str) -> Mechanism | None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MechanismError(f"cannot import mechanism module {module_name!r}: {exc}") from None
    record = getattr(module, "MECHANISM", None)
    if record is not None and not isinstance(record, Mechanism):
        raise MechanismError(f"{module_name}.MECHANISM is not a Mechanism record")
    return record


def ordered(records: list[Mechanism]) -> tuple[Mechanism, ...]:
    """The records in attachment order: each after the mechanisms it needs (by name
    among those ready, so the order never depends on how the records were found)."""
    by_name: dict[str, Mechanism] = {}
    for r in records:
        if r.name in by_name:
            raise MechanismError(f"two mechanisms are named {r.name!r}")
        by_name[r.name] = r
    for r in records:
        for need in r.needs:
            if need not in by_name:
                raise MechanismError(f"mechanism {r.name!r} needs {need!r}, which is not registered")
    done: list[Mechanism] = []
    placed: set[str] = set()
    while len(done) < len(records):
        ready = sorted(n for n, r in by_name.items() if n not in placed and set(r.needs) <= placed)
        if not ready:
            stuck = sorted(set(by_name) - placed)
            raise MechanismError(f"mechanisms need each other in a circle: {', '.join(stuck)}")
        placed.add(ready[0])
        done.append(by_name[ready[0]])
    return tuple(done)


def _check_clashes(records: tuple[Mechanism, ...]) -> None:
    def claim(table: dict[str, str], key: str, owner: str, what: str) -> None:
        if key in table and table[key] != owner:
            raise MechanismError(f"{what} {key!r} is claimed by both {table[key]!r} and {owner!r}")
        table[key] = owner

    verbs: dict[str, str] = {}
    ids: dict[str, str] = {}
    kinds: dict[str, str] = {}
    views: dict[str, str] = {}
    faults: dict[str, str] = {}
    metrics: list[tuple[Metric, str]] = []
    for r in records:
        for verb in r.commands.specs:
            claim(verbs, verb, r.name, "command")
        for kind in r.ids:
            claim(ids, kind, r.name, "id kind")
        for e in r.events:
            claim(kinds, e.kind, r.name, "event kind")
        for v in r.views:
            claim(views, v, r.name, "view")
        for f in r.faults:
            claim(faults, f, r.name, "fault kind")
        for m in r.metrics:
            for other, owner in metrics:
                if owner == r.name:
                    continue
                if m.matches(other.name) or other.matches(m.name) or (
                    m.family and other.family and (m.prefix.startswith(other.prefix) or other.prefix.startswith(m.prefix))
                ):
                    raise MechanismError(f"metric {m.name!r} of {r.name!r} clashes with {other.name!r} of {owner!r}")
            metrics.append((m, r.name))


@cache
def mechanisms() -> tuple[Mechanism, ...]:
    """Every registered mechanism, in attachment order, checked for clashes."""
    found = [rec for name in _builtin_modules() + _plugin_modules() if (rec := _records_in(name)) is not None]
    records = ordered(found)
    _check_clashes(records)
    for r in records:
        r.commands.bind(r.name)
    return records


def get(name: str) -> Mechanism | None:
    return next((r for r in mechanisms() if r.name == name), None)


# -- tables derived from the records ----------------------------------------------------------
@cache
def command_table() -> dict[str, CommandSpec]:
    return {verb: spec for r in mechanisms() for verb, spec in r.commands.specs.items()}


@cache
def id_sources() -> dict[str, IdSource]:
    return {kind: fn for r in mechanisms() for kind, fn in r.ids.items()}


@cache
def view_texts() -> dict[str, ViewText]:
    return {view: fn for r in mechanisms() for view, fn in r.views.items()}


@cache
def view_widgets() -> dict[str, str]:
    """Views whose widget lives outside ``cloudquest/tui/views``: name -> "module:Class"."""
    return {view: ref for r in mechanisms() for view, ref in r.widgets.items()}


@cache
def fault_kinds() -> tuple[str, ...]:
    return tuple(f for r in mechanisms() for f in r.faults)


@cache
def event_table() -> dict[str, EventKind]:
    return {e.kind: e for r in mechanisms() for e in r.events}


def metric_of(name: str) -> tuple[Mechanism, Metric] | None:
    """The mechanism and declaration of a metric name (a family's member too)."""
    for r in mechanisms():
        for m in r.metrics:
            if m.matches(name):
                return r, m
    return None


def status_providers() -> list[StatusProvider]:
    return [r.status for r in mechanisms() if r.status is not None]
