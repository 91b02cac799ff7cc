"""A chaos timeline: hardware faults that play at stated times against a world.

Netflix's Chaos Monkey, AWS Fault Injection Service and Google's DiRT exercises all rest
on the same idea: failure is normal, so rehearse it on purpose, on a schedule, and
measure what the users saw. A world states its rehearsal with a ``timeline`` section::

    timeline:
      - {at_s: 600,  action: destroy, part: disk, id: a1-h1-d2}          # the drive dies
      - {at_s: 1800, action: fail,    part: rack, id: c2, for_s: 1200}   # power back after 20 min
      - {at_s: 2400, action: degrade, part: host, id: b1-h1}             # slow, not dead
      - {random: {action: destroy, part: disk, count: 12, from_s: 0, to_s: 3600}}

Every entry fires through :func:`~cloudquest.cloud.faults.act` with the cause
``timeline``, so its consequences are exactly those of a player's ``fail``, ``destroy``
or ``degrade``: instances turn impaired, storage starts its failure detector (and, for a
hardware loss, writes the destroyed data off), load balancers' health checks start
failing. ``fail`` is an outage (power, a crash: the part comes back with its data),
``destroy`` a hardware loss (its disks' data is gone). ``for_s`` schedules the matching
repair. A ``random`` entry is a storm: ``count``
distinct parts of one kind (optionally only ``among`` a list) fail at times drawn
uniformly from ``[from_s, to_s)``; both are drawn from the session's seeded generator
when the world is built, so a storm is the same storm for the same seed and a different
one for another seed.

An entry whose part already has the health it would set is skipped (a rack that is
already down cannot lose power again; what is destroyed cannot be destroyed again);
nothing is logged for it. A part made healthier
that the timeline broke, made healthier by hand (the player's ``repair``), is logged as
``timeline.overridden`` and counted in ``timeline_hand_repairs``: a rehearsal whose
faults are undone by hand proves nothing.

The fleet's ``faults`` list (cloud/fleet.py) is scheduled through this module too, so
there is one implementation of a timed fault.

Besides the fleet's parts (disk, host, rack, zone, link), an entry may name a part a
mechanism adds (a fabric ``switch``, an edge ``pop``): the world section that adds them
says which ids exist through a ``part_ids(world)`` method, and the part fails through
the same ``set_health``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, model_validator

from .mechanism import Metric, events, metrics
from .errors import CloudError
from .faults import ACTIONS, FaultAction, act, is_destroyed
from .hardware import Health
from .world import CoreWorld, Strict, known, world_ids

if TYPE_CHECKING:
    from .cloud import Cloud

ACTION_OF: dict[Health, str] = {Health.FAILED: "fail", Health.DEGRADED: "degrade", Health.HEALTHY: "repair"}
RANK = {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.FAILED: 2}  # how broken
MAX_ENTRIES = 100_000


# -- the world section ----------------------------------------------------------------------
# disk, host, rack, zone, link, or a kind of part a mechanism of the world adds
PartKind = Annotated[str, Field(pattern=r"^[a-z][a-z-]{0,23}$", description="disk, host, rack, zone, link, or a part a mechanism adds (switch, pop)")]
# the parts that hold data, so a hardware loss can destroy them
HOLDS_DATA = ("disk", "host", "rack", "zone")


class RandomFaultsSpec(Strict):
    """A storm: ``count`` distinct parts fail at seeded random times in [from_s, to_s)."""

    action: FaultAction = "fail"
    part: PartKind = "disk"
    count: int = Field(ge=1, le=100_000)
    from_s: float = Field(default=0, ge=0)
    to_s: float = Field(gt=0)
    for_s: float = Field(default=0, ge=0, description="repair each one this long after")
    among: list[str] | None = Field(default=None, description="choose only among these ids")

    @model_validator(mode="after")
    def _window(self) -> "RandomFaultsSpec":
        if self.to_s <= self.from_s:
            raise ValueError("to_s must be after from_s")
        if self.among is not None and self.count > len(self.among):
            raise ValueError(f"count {self.count} is more than the {len(self.among)} parts in among")
        return self


class TimelineEntry(Strict):
    """One timed fault, or a ``random`` storm of them."""

    at_s: float | None = Field(default=None, ge=0)
    action: FaultAction = "fail"
    part: PartKind | None = None
    id: str | None = None
    for_s: float = Field(default=0, ge=0, description="repair it this long after")
    random: RandomFaultsSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "TimelineEntry":
        if self.random is not None:
            if self.at_s is not None or self.part is not None or self.id is not None:
                raise ValueError("an entry is either {at_s, action, part, id} or {random: {...}}, not both")
        elif self.at_s is None or self.part is None or self.id is None:
            raise ValueError("a timeline entry needs at_s, part and id (or random: {part, count, from_s, to_s})")
        return self


def part_ids(world: CoreWorld) -> dict[str, set[str]]:
    """Every part of the world that can fail, by kind: the fleet's, and those the world's
    mechanism sections add (a section says so with a ``part_ids(world)`` method)."""
    ids = world_ids(world)
    for name in type(world).model_fields:
        section: Any = getattr(world, name, None)
        more = getattr(section, "part_ids", None)
        if callable(more):
            for kind, found in more(world).items():
                ids.setdefault(kind, set()).update(found)
    return ids


def check_entries(world: CoreWorld, entries: list[TimelineEntry]) -> None:
    """Cross-references: every part a timeline names is a part of the world."""
    ids = part_ids(world)
    kinds = [k for k in ids if k != "region"]
    for n, e in enumerate(entries):
        part = e.random.part if e.random is not None else e.part
        action = e.random.action if e.random is not None else e.action
        if part not in kinds:
            raise ValueError(f"timeline entry {n + 1}: no part kind {part!r} in this world (kinds: {', '.join(kinds)})")
        if action == "destroy" and part not in HOLDS_DATA:
            raise ValueError(f"timeline entry {n + 1}: a {part} holds no data, so it can fail but not be destroyed")
        if e.random is not None:
            pool = e.random.among if e.random.among is not None else sorted(ids[part])
            for ident in pool:
                if ident not in ids[part]:
                    raise ValueError(f"timeline entry {n + 1}: no {part} {ident!r} ({part}s: {known(ids[part])})")
            if e.random.count > len(pool):
                raise ValueError(f"timeline entry {n + 1}: count {e.random.count} is more than the {len(pool)} {part}s")
        elif e.id not in ids[e.part]:
            raise ValueError(f"timeline entry {n + 1} at {e.at_s:g} s: no {e.part} {e.id!r} ({e.part}s: {known(ids[e.part])})")


@dataclass(frozen=True)
class TimedFault:
    """One scheduled change of a part's health."""

    at_ms: int
    action: str  # fail | destroy | degrade | repair
    part: str  # disk | host | rack | zone | link
    id: str
    for_ms: int = 0  # > 0: repair it this long after

    @property
    def health(self) -> Health:
        return ACTIONS[self.action]

    def describe(self) -> str:
        lasting = f" for {self.for_ms / 1000:g}s" if self.for_ms else ""
        return f"t={self.at_ms / 1000:g}s {self.action} {self.part} {self.id}{lasting}"


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def expand(cloud: "Cloud", entries: list["TimelineEntry"]) -> list[TimedFault]:
    """Turn a ``timeline`` section into timed faults, drawing every ``random`` entry from
    the cloud's generator in the order the entries are written."""
    out: list[TimedFault] = []
    rng = cloud.rng
    for entry in entries:
        if entry.random is not None:
            spec = entry.random
            among = list(spec.among) if spec.among is not None else sorted(cloud.hardware.table(spec.part))
            chosen = rng.sample(among, spec.count)
            times = sorted(rng.randrange(_ms(spec.from_s), _ms(spec.to_s)) for _ in range(spec.count))
            out.extend(TimedFault(t, spec.action, spec.part, ident, _ms(spec.for_s)) for t, ident in zip(times, chosen))
        else:
            assert entry.at_s is not None and entry.part is not None and entry.id is not None
            out.append(TimedFault(_ms(entry.at_s), entry.action, entry.part, entry.id, _ms(entry.for_s)))
        if len(out) > MAX_ENTRIES:
            raise CloudError("InvalidParameterValue", f"the timeline has more than {MAX_ENTRIES} entries")
    return out


def schedule_fault(cloud: "Cloud", fault: TimedFault, timeline: "Timeline | None" = None) -> None:
    """Put one timed fault (and its repair, with ``for_ms``) on the cloud's clock."""

    def fire(action: str) -> None:
        thing = cloud.hardware.find(fault.part, fault.id)
        if action == "destroy":
            if is_destroyed(cloud, fault.part, fault.id):
                return  # already so: what burned cannot burn again
        elif thing.health is ACTIONS[action]:
            return  # already so: a rack that is down cannot lose power again
        if timeline is None:
            act(cloud, action, fault.part, fault.id, cause="timeline")
            return
        timeline.firing = True
        try:
            act(cloud, action, fault.part, fault.id, cause="timeline")
        finally:
            timeline.firing = False
        timeline.fired += 1
        if action == "repair":
            timeline.broken.discard((fault.part, fault.id))
        else:
            timeline.broken.add((fault.part, fault.id))

    cloud.clock.schedule(fault.at_ms, lambda: fire(fault.action))
    if fault.for_ms and fault.action != "repair":
        cloud.clock.schedule(fault.at_ms + fault.for_ms, lambda: fire("repair"))


class Timeline:
    """The world's timeline as scheduled, and how much of it has played."""

    def __init__(self, cloud: "Cloud", faults: list[TimedFault]) -> None:
        self.cloud = cloud
        self.faults = sorted(faults, key=lambda f: f.at_ms)
        self.fired = 0
        self.firing = False
        self.hand_repairs = 0
        self.broken: set[tuple[str, str]] = set()  # parts the timeline broke and has not restored
        self.actions = sum(2 if f.for_ms and f.action != "repair" else 1 for f in faults)
        for f in faults:  # in written order, so equal times fire in the order written
            schedule_fault(cloud, f, self)
        cloud.health_listeners.append(self._watch)
        self._due = sorted(
            [f.at_ms for f in faults] + [f.at_ms + f.for_ms for f in faults if f.for_ms and f.action != "repair"]
        )

    def _watch(self, kind: str, ident: str, before: Health, after: Health) -> None:
        """A part made healthier by hand while a timeline plays undoes the rehearsal (a
        real zone does not come back because someone typed repair): count and log it."""
        if self.firing or RANK[after] >= RANK[before] or (kind, ident) not in self.broken:
            return
        if after is Health.HEALTHY:
            self.broken.discard((kind, ident))
        self.hand_repairs += 1
        self.cloud.emit("timeline.overridden", part=kind, id=ident, health=after.value)

    @property
    def end_ms(self) -> int:
        """When the last action is due (0 for an empty timeline)."""
        return self._due[-1] if self._due else 0

    def pending(self) -> int:
        now = self.cloud.clock.now_ms
        return sum(1 for t in self._due if t > now)

    def upcoming(self, limit: int = 5) -> list[TimedFault]:
        now = self.cloud.clock.now_ms
        return [f for f in self.faults if f.at_ms > now][:limit]

    def metrics(self) -> dict[str, int]:
        return {
            "timeline_actions": self.actions,
            "timeline_fired": self.fired,
            "timeline_pending": self.pending(),
            "timeline_hand_repairs": self.hand_repairs,
        }


def attach(cloud: "Cloud", entries: list[TimelineEntry]) -> Timeline:
    timeline = Timeline(cloud, expand(cloud, entries))
    cloud.metric_sources.append(timeline.metrics)
    return timeline


# -- what the mechanism publishes ------------------------------------------------------------
METRICS = metrics(
    ("timeline_actions", "actions the timeline will play"),
    ("timeline_fired", "actions played so far"),
    Metric("timeline_pending", "actions still to come", clocked=True),
    ("timeline_hand_repairs", "parts repaired by hand while the timeline played"),
)
EVENTS = events(("timeline.overridden", "part id health", "a part the timeline broke was repaired by hand"))
