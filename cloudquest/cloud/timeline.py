"""A chaos timeline: hardware faults that play at stated times against a world.

Netflix's Chaos Monkey, AWS Fault Injection Service and Google's DiRT exercises all rest
on the same idea: failure is normal, so rehearse it on purpose, on a schedule, and
measure what the users saw. A world states its rehearsal with a ``timeline`` section::

    timeline:
      - {at_s: 600,  action: fail,    part: disk, id: a1-h1-d2}
      - {at_s: 1800, action: fail,    part: rack, id: c2, for_s: 1200}   # power back after 20 min
      - {at_s: 2400, action: degrade, part: host, id: b1-h1}             # slow, not dead
      - {random: {action: fail, part: disk, count: 12, from_s: 0, to_s: 3600}}

Every entry fires through :func:`~cloudquest.cloud.faults.set_health` with the cause
``timeline``, so its consequences are exactly those of a player's ``fail``: instances
turn impaired, storage starts its failure detector, load balancers' health checks start
failing. ``for_s`` schedules the matching repair. A ``random`` entry is a storm: ``count``
distinct parts of one kind (optionally only ``among`` a list) fail at times drawn
uniformly from ``[from_s, to_s)``; both are drawn from the session's seeded generator
when the world is built, so a storm is the same storm for the same seed and a different
one for another seed.

An entry whose part already has the health it would set is skipped (a rack that is
already down cannot lose power again); nothing is logged for it. A part made healthier
that the timeline broke, made healthier by hand (the player's ``repair``), is logged as
``timeline.overridden`` and counted in ``timeline_hand_repairs``: a rehearsal whose
faults are undone by hand proves nothing.

The fleet's ``faults`` list (cloud/fleet.py) is scheduled through this module too, so
there is one implementation of a timed fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .faults import FAULT_KINDS, set_health
from .hardware import Health

if TYPE_CHECKING:
    from .cloud import Cloud

SECTION = "timeline"
ACTIONS: dict[str, Health] = {"fail": Health.FAILED, "repair": Health.HEALTHY, "degrade": Health.DEGRADED}
ACTION_OF: dict[Health, str] = {v: k for k, v in ACTIONS.items()}
RANK = {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.FAILED: 2}  # how broken
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class TimedFault:
    """One scheduled change of a part's health."""

    at_ms: int
    action: str  # fail | repair | degrade
    part: str  # disk | host | rack | zone | link
    id: str
    for_ms: int = 0  # > 0: repair it this long after

    @property
    def health(self) -> Health:
        return ACTIONS[self.action]

    def describe(self) -> str:
        lasting = f" for {self.for_ms / 1000:g}s" if self.for_ms else ""
        return f"t={self.at_ms / 1000:g}s {self.action} {self.part} {self.id}{lasting}"


def _ms(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        raise ValueError(f"{what} must be a number of seconds, 0 or more, not {value!r}")
    return int(round(float(value) * 1000))


def _check_part(cloud: "Cloud", part: str, ident: str, where: str) -> None:
    if part not in FAULT_KINDS:
        raise ValueError(f"{where}: part must be one of {', '.join(FAULT_KINDS)}, not {part!r}")
    if cloud.hardware.find(part, ident) is None:
        known = sorted(cloud.hardware.table(part))
        shown = ", ".join(known[:6]) + (", ..." if len(known) > 6 else "")
        raise ValueError(f"{where}: no {part} named {ident!r} ({part}s: {shown or 'none'})")


def expand(cloud: "Cloud", section: list[dict[str, Any]]) -> list[TimedFault]:
    """Turn a ``timeline`` section into timed faults, drawing every ``random`` entry from
    the cloud's generator in the order the entries are written. Raises ValueError with
    what is wrong (the schema catches the same mistakes with a line number first)."""
    if not isinstance(section, list):
        raise ValueError("the timeline is a list of entries like {at_s: 600, action: fail, part: disk, id: ...}")
    out: list[TimedFault] = []
    rng = cloud.rng
    for n, entry in enumerate(section):
        where = f"timeline entry {n + 1}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a mapping")
        if entry.get("random") is not None:
            spec = entry["random"]
            action = spec.get("action", "fail")
            part = spec.get("part", "disk")
            if action not in ACTIONS:
                raise ValueError(f"{where}: action must be one of {', '.join(ACTIONS)}, not {action!r}")
            if part not in FAULT_KINDS:
                raise ValueError(f"{where}: part must be one of {', '.join(FAULT_KINDS)}, not {part!r}")
            among = list(spec.get("among") or sorted(cloud.hardware.table(part)))
            for ident in among:
                _check_part(cloud, part, ident, where)
            count = int(spec.get("count", 1))
            if not 1 <= count <= len(among):
                raise ValueError(f"{where}: count must be from 1 to {len(among)} (the {part}s to choose from)")
            lo, hi = _ms(spec.get("from_s", 0), f"{where} from_s"), _ms(spec.get("to_s", 0), f"{where} to_s")
            if hi <= lo:
                raise ValueError(f"{where}: to_s must be after from_s")
            for_ms = _ms(spec.get("for_s", 0), f"{where} for_s")
            chosen = rng.sample(among, count)
            times = sorted(rng.randrange(lo, hi) for _ in range(count))
            out.extend(TimedFault(t, action, part, ident, for_ms) for t, ident in zip(times, chosen))
        else:
            action = entry.get("action", "fail")
            if action not in ACTIONS:
                raise ValueError(f"{where}: action must be one of {', '.join(ACTIONS)}, not {action!r}")
            part, ident = entry.get("part"), entry.get("id")
            _check_part(cloud, str(part), str(ident), where)
            out.append(
                TimedFault(
                    _ms(entry.get("at_s"), f"{where} at_s"),
                    action,
                    str(part),
                    str(ident),
                    _ms(entry.get("for_s", 0), f"{where} for_s"),
                )
            )
        if len(out) > MAX_ENTRIES:
            raise ValueError(f"the timeline has more than {MAX_ENTRIES} entries")
    return out


def schedule_fault(cloud: "Cloud", fault: TimedFault, timeline: "Timeline | None" = None) -> None:
    """Put one timed fault (and its repair, with ``for_ms``) on the cloud's clock."""

    def fire(health: Health) -> None:
        thing = cloud.hardware.find(fault.part, fault.id)
        if thing.health is health:
            return  # already so: a rack that is down cannot lose power again
        if timeline is None:
            set_health(cloud, fault.part, fault.id, health, cause="timeline")
            return
        timeline.firing = True
        try:
            set_health(cloud, fault.part, fault.id, health, cause="timeline")
        finally:
            timeline.firing = False
        timeline.fired += 1
        if health is Health.HEALTHY:
            timeline.broken.discard((fault.part, fault.id))
        else:
            timeline.broken.add((fault.part, fault.id))

    cloud.clock.schedule(fault.at_ms, lambda: fire(fault.health))
    if fault.for_ms and fault.health is not Health.HEALTHY:
        cloud.clock.schedule(fault.at_ms + fault.for_ms, lambda: fire(Health.HEALTHY))


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


def attach(cloud: "Cloud", section: list[dict[str, Any]]) -> Timeline:
    timeline = Timeline(cloud, expand(cloud, section))
    cloud.extensions[SECTION] = timeline
    cloud.metric_sources.append(timeline.metrics)
    return timeline
