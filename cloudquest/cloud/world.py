"""The world a cloud is built from: the part every world has.

A world file (a chapter's ``world:``, a sandbox world, a quiz question's world) is
validated once, at the edge, into pydantic models; the simulation is then built from
the validated model, never from a dict. This module holds the core of that model:

- the physical fleet: regions -> zones -> racks -> hosts -> disks (cloud/hardware.py
  builds it);
- the scheduler's settings (cloud/scheduler.py);
- the instances already running when the story starts (the control plane launches them);
- the step length and the live view the game draws.

Each mechanism adds its own section (``storage:``, ``hypervisor:``, ...), declared by its
own model in its own module; the game composes the full world model from the core and
the sections of the registered mechanisms (``cloudquest/game/mechanism.py``).

Every model forbids unknown keys (nearly always typos).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HealthName = Literal["healthy", "degraded", "failed"]
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,47}$"
Name = Field(pattern=NAME_PATTERN)
OptName = Field(default=None, pattern=NAME_PATTERN)

# The hardware a world builds, by kind (every one has an id and a health).
HARDWARE_KINDS = ("region", "zone", "rack", "host", "disk", "link")
# How big a world may be: chapters are small, sandbox worlds may be large but bounded
# (a step must stay cheap, and a world must fit in memory).
MAX_WORLD_HOSTS = 20_000
MAX_WORLD_DISKS = 200_000


class Strict(BaseModel):
    """A part of a world (or chapter) file: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class DiskSpec(Strict):
    size_gib: int = Field(gt=0, le=1_000_000)
    count: int = Field(default=1, ge=1, le=64)
    health: HealthName = "healthy"
    read_ms: float = Field(default=5.0, gt=0, le=10_000)


class HostSpec(Strict):
    name: str | None = OptName
    count: int = Field(default=1, ge=1, le=100_000)
    vcpus: int = Field(gt=0, le=1024)
    ram_gib: float = Field(gt=0, le=65_536)
    disks: list[DiskSpec] | None = None
    health: HealthName = "healthy"
    nic_gbps: int = Field(default=25, gt=0, le=1600)

    @model_validator(mode="after")
    def _name_or_count(self) -> "HostSpec":
        if self.name is not None and self.count != 1:
            raise ValueError("give a host either a name or a count above 1, not both")
        return self


class RackSpec(Strict):
    name: str = Name
    health: HealthName = "healthy"
    hosts: list[HostSpec] = Field(default_factory=list)


class ZoneSpec(Strict):
    name: str = Name
    health: HealthName = "healthy"
    load_pct: int = Field(default=0, ge=0, le=100)
    racks: list[RackSpec] = Field(default_factory=list)


class RegionSpec(Strict):
    name: str = Name
    zones: list[ZoneSpec] = Field(min_length=1)


class SchedulerSpec(Strict):
    policy: Literal["spread", "pack", "balanced"] = "spread"
    cpu_weight: int = Field(default=1, ge=0, le=100)
    ram_weight: int = Field(default=1, ge=0, le=100)
    cpu_ratio: float = Field(default=1.0, gt=0, le=64)
    ram_ratio: float = Field(default=1.0, gt=0, le=16)
    percentage_of_nodes_to_score: int = Field(default=0, ge=0, le=100)
    sampling: bool = Field(default=False, description="score a kube-scheduler-style sample instead of every host")


class InstanceSpec(Strict):
    """An instance that is already running when the chapter starts."""

    name: str = Name
    type: str = "small"
    zone: str | None = None
    subnet: str | None = Field(default=None, pattern=NAME_PATTERN, description="the subnet of its network interface")
    groups: list[str] = Field(default_factory=list, description="its security groups (default: the VPC's default group)")

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        from .catalogue import CATALOGUE

        if v not in CATALOGUE:
            raise ValueError(f"unknown instance type {v!r} (types: {', '.join(CATALOGUE)})")
        return v


class CoreWorld(Strict):
    """What every world has. The game's ``World`` model adds the mechanisms' sections."""

    view: str = Field(default="fleet", description="which live view the game draws for this world")
    tick_ms: int = Field(default=1000, ge=10, le=60_000)
    regions: list[RegionSpec] = Field(default_factory=list)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    instances: list[InstanceSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bounded(self) -> "CoreWorld":
        hosts = disks = 0
        for region in self.regions:
            for zone in region.zones:
                for rack in zone.racks:
                    for h in rack.hosts:
                        hosts += h.count
                        disks += h.count * (sum(d.count for d in h.disks) if h.disks else 1)
        if hosts > MAX_WORLD_HOSTS:
            raise ValueError(f"the world has {hosts} hosts; a world may have at most {MAX_WORLD_HOSTS}")
        if disks > MAX_WORLD_DISKS:
            raise ValueError(f"the world has {disks} disks; a world may have at most {MAX_WORLD_DISKS}")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> "CoreWorld":
        seen: dict[str, str] = {}
        for region in self.regions:
            for kind, name in [("region", region.name)] + [
                (k, n)
                for z in region.zones
                for k, n in [("zone", z.name)] + [("rack", r.name) for r in z.racks]
            ]:
                if name in seen:
                    raise ValueError(f"{kind} name {name!r} is used twice (also a {seen[name]})")
                seen[name] = kind
        zones = self.zone_names()
        for inst in self.instances:
            if inst.zone is not None and inst.zone not in zones:
                raise ValueError(f"instance {inst.name}: no zone {inst.zone!r} (zones: {', '.join(sorted(zones))})")
        return self

    def zone_names(self) -> list[str]:
        return [z.name for r in self.regions for z in r.zones]


def world_ids(world: CoreWorld) -> dict[str, set[str]]:
    """The hardware ids the world will build, by kind (the same naming as
    cloud/hardware.py), so a section can check the parts it names before anything runs."""
    ids: dict[str, set[str]] = {k: set() for k in HARDWARE_KINDS}
    for region in world.regions:
        ids["region"].add(region.name)
        zones = [z.name for z in region.zones]
        for i, za in enumerate(zones):
            for zb in zones[i + 1 :]:
                ids["link"].add(f"{za}~{zb}")
        for zone in region.zones:
            ids["zone"].add(zone.name)
            for rack in zone.racks:
                ids["rack"].add(rack.name)
                ids["link"].add(f"{rack.name}-uplink")
                n = 0
                for h in rack.hosts:
                    for _ in range(h.count):
                        n += 1
                        host = h.name if h.count == 1 and h.name else f"{rack.name}-h{n}"
                        ids["host"].add(host)
                        disks = sum(d.count for d in h.disks) if h.disks else 1
                        ids["disk"].update(f"{host}-d{k}" for k in range(1, disks + 1))
    return ids


def known(ids: set[str], limit: int = 6) -> str:
    """A short list of valid ids for an error message."""
    names = sorted(ids)
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "") or "none"
