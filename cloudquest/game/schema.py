"""The chapter file schema: pydantic models for every key an author may write.

Every model forbids unknown keys (they are nearly always typos). ``cloudquest schema``
prints the JSON Schema of :class:`Chapter` so editors can complete and check files.
Mechanism chapters add their world section as a field of :class:`World`.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

SKILLS = (
    "virtualization internals",
    "resource scheduling",
    "distributed storage",
    "replication systems",
    "cloud networking internals",
    "scaling automation",
    "isolation layers",
    "reliability engineering",
)
Skill = Literal[
    "virtualization internals",
    "resource scheduling",
    "distributed storage",
    "replication systems",
    "cloud networking internals",
    "scaling automation",
    "isolation layers",
    "reliability engineering",
]
HealthName = Literal["healthy", "degraded", "failed"]
Op = Literal["==", "!=", "<", "<=", ">", ">="]
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,47}$"
Name = Field(pattern=NAME_PATTERN)
OptName = Field(default=None, pattern=NAME_PATTERN)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# -- world ------------------------------------------------------------------------------
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


class SubnetSpec(Strict):
    name: str | None = OptName
    zone: str
    cidr: str
    public: bool = False

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            ipaddress.IPv4Network(v)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 CIDR block like 10.0.1.0/24 ({exc})") from None
        return v


class NetworkSpec(Strict):
    vpc: str = "10.0.0.0/16"
    subnets: list[SubnetSpec] | None = None


class SchedulerSpec(Strict):
    policy: Literal["spread", "pack", "balanced"] = "spread"
    cpu_weight: int = Field(default=1, ge=0, le=100)
    ram_weight: int = Field(default=1, ge=0, le=100)
    cpu_ratio: float = Field(default=1.0, gt=0, le=64)
    ram_ratio: float = Field(default=1.0, gt=0, le=16)
    percentage_of_nodes_to_score: int = Field(default=0, ge=0, le=100)
    sampling: bool = Field(default=False, description="score a kube-scheduler-style sample instead of every host")


class RequestStreamSpec(Strict):
    """Launch requests arriving over time (cloud/fleet.py)."""

    count: int = Field(default=0, ge=0, le=100_000)
    every_ms: int = Field(default=1000, ge=0, le=3_600_000)
    start_ms: int | None = Field(default=None, ge=0, description="first arrival (default: every_ms)")
    mix: dict[str, float] = Field(default_factory=lambda: {"small": 1.0}, description="instance type -> weight")
    prefix: str = Field(default="req", pattern=r"^[a-z][a-z0-9]{0,15}$")
    lifetime_ms: tuple[int, int] | None = Field(default=None, description="[shortest, longest] life of a placed request")

    @field_validator("mix")
    @classmethod
    def _mix(cls, mix: dict[str, float]) -> dict[str, float]:
        from ..cloud.catalogue import CATALOGUE

        for name, weight in mix.items():
            if name not in CATALOGUE:
                raise ValueError(f"unknown instance type {name!r} (types: {', '.join(CATALOGUE)})")
            if weight < 0:
                raise ValueError(f"the weight of {name} must not be negative")
        if sum(mix.values()) <= 0:
            raise ValueError("the mix needs at least one type with a weight above 0")
        return mix

    @field_validator("lifetime_ms")
    @classmethod
    def _lifetime(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not 0 < v[0] <= v[1]:
            raise ValueError("lifetime_ms is [shortest, longest], both above 0")
        return v


class PlacementGroupSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    strategy: Literal["cluster", "spread", "partition"] = "spread"
    partitions: int = Field(default=0, ge=0, le=7, description="partition groups only (default 2)")


class TimedFaultSpec(Strict):
    at_ms: int = Field(ge=0)
    kind: Literal["disk", "host", "rack", "zone", "link"]
    id: str
    health: HealthName = "failed"


class FleetSpec(Strict):
    """A fleet at work: a request stream, placement groups, timed faults (cloud/fleet.py)."""

    requests: RequestStreamSpec = Field(default_factory=RequestStreamSpec)
    fragmentation_ref: str | None = Field(default=None, description="the request size fragmentation is measured by")
    groups: list[PlacementGroupSpec] = Field(default_factory=list)
    faults: list[TimedFaultSpec] = Field(default_factory=list)

    @field_validator("fragmentation_ref")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        from ..cloud.catalogue import CATALOGUE

        if v is not None and v not in CATALOGUE:
            raise ValueError(f"unknown instance type {v!r} (types: {', '.join(CATALOGUE)})")
        return v


# -- failure design: timeline, load balancing, reliability accounting --------------------
FaultPart = Literal["disk", "host", "rack", "zone", "link"]
FaultAction = Literal["fail", "repair", "degrade"]


class RandomFaultsSpec(Strict):
    """A storm: ``count`` distinct parts fail at seeded random times in [from_s, to_s)."""

    action: FaultAction = "fail"
    part: FaultPart = "disk"
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
    """One timed fault (cloud/timeline.py), or a ``random`` storm of them."""

    at_s: float | None = Field(default=None, ge=0)
    action: FaultAction = "fail"
    part: FaultPart | None = None
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


class HealthCheckSpec(Strict):
    """ALB target-group health check settings, AWS's ranges and defaults."""

    interval_s: int = Field(default=30, ge=5, le=300)
    timeout_s: int = Field(default=5, ge=2, le=120)
    healthy_threshold: int = Field(default=5, ge=2, le=10)
    unhealthy_threshold: int = Field(default=2, ge=2, le=10)

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> "HealthCheckSpec":
        if self.timeout_s >= self.interval_s:
            raise ValueError(f"timeout_s ({self.timeout_s}) must be less than interval_s ({self.interval_s})")
        return self


class LoadPointSpec(Strict):
    at_s: float = Field(ge=0)
    rps: int = Field(ge=0, le=10_000_000, description="requests per second from at_s on")


class BalancerSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    zones: list[str] | None = Field(default=None, description="one node per zone (default: every zone of the region)")
    targets: list[str] = Field(default_factory=list, description="instances of the world to register")
    health_check: HealthCheckSpec = Field(default_factory=HealthCheckSpec)


class LoadBalancingSpec(Strict):
    """Load balancers, the load offered to them, and how targets answer (cloud/loadbalancer.py)."""

    load: list[LoadPointSpec] = Field(default_factory=list, description="the load curve, piecewise constant")
    response_ms: float = Field(default=40, gt=0, le=60_000)
    client_timeout_ms: float = Field(default=1000, ge=1, le=600_000)
    degraded_slowdown: float = Field(default=80, ge=1, le=100_000)
    rps_per_vcpu: int = Field(default=25, ge=1, le=1_000_000)
    usd_per_hour: float = Field(default=0.0225, ge=0, le=1000)
    entry: str | None = Field(default=None, description="the load balancer the load arrives at (default: the first)")
    balancers: list[BalancerSpec] = Field(default_factory=list)

    @field_validator("load")
    @classmethod
    def _in_order(cls, load: list[LoadPointSpec]) -> list[LoadPointSpec]:
        times = [p.at_s for p in load]
        if times != sorted(times) or len(set(times)) != len(times):
            raise ValueError("load points must be in time order, one per time")
        return load


class ReliabilitySpec(Strict):
    """Cost and incident accounting (cloud/reliability.py)."""

    budget_per_hour: float | None = Field(default=None, ge=0, description="US$ per hour")
    storage_usd_per_gib_month: float = Field(default=0.045, ge=0, le=1000)
    run_s: int | None = Field(default=None, ge=1, le=30 * 86400, description="how long the exercise runs")


def world_ids(world: "World") -> dict[str, set[str]]:
    """The ids the world will build, by kind (the same naming as cloud/hardware.py)."""
    ids: dict[str, set[str]] = {k: set() for k in ("region", "zone", "rack", "host", "disk", "link")}
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


class InstanceSpec(Strict):
    """An instance that is already running when the chapter starts."""

    name: str = Name
    type: str = "small"
    zone: str | None = None


class HypervisorHostSpec(Strict):
    """The one physical host of the hypervisor chapter: sockets x cores x threads pCPUs."""

    sockets: int = Field(default=2, ge=1, le=8)
    cores: int = Field(default=8, ge=1, le=128, description="cores per socket")
    threads: int = Field(default=1, ge=1, le=2, description="hardware threads per core")
    ram_gib: float = Field(default=64, gt=0, le=65_536)


class VmSpec(Strict):
    """A guest already running on the host when the chapter starts."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    vcpus: int = Field(ge=1, le=1024)
    ram_gib: float = Field(ge=0.5, le=65_536)
    weight: int = Field(default=256, ge=1, le=65535, description="credit scheduler weight (Xen default 256)")
    cap: int = Field(default=0, ge=0, description="ceiling in percent of one pCPU; 0 = none")
    workload: Literal["idle", "steady", "cpu-bound", "bursty", "latency-sensitive"] = "steady"
    load: int | None = Field(default=None, ge=0, le=100, description="percent per vCPU (steady, latency-sensitive)")
    pins: str | int | None = Field(default=None, description="pCPU list such as 0-3,8, or all")
    balloon_gib: float | None = Field(default=None, gt=0, description="RAM the guest keeps (balloon target)")


class HypervisorSpec(Strict):
    host: HypervisorHostSpec = Field(default_factory=HypervisorHostSpec)
    vms: list[VmSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _builds(self) -> "HypervisorSpec":
        # The simulation's own checks (vCPUs per host, caps per vCPU, pins, balloons,
        # duplicate names) so an author gets the same message a player would.
        from ..cloud.errors import CloudError
        from ..cloud.hypervisor import build_host

        try:
            build_host(self.model_dump(mode="python"))
        except CloudError as exc:
            raise ValueError(exc.message) from None
        return self


# -- storage: objects in chunks over the fleet's disks (chapters 4 and 5) -----------------
class StoredObjectSpec(Strict):
    """An object already stored when the chapter starts."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
    size: str = Field(description="its size: 64MiB, 10GiB, 1.5TiB (a bare number is MiB)")

    @field_validator("size")
    @classmethod
    def _size(cls, v: str) -> str:
        from ..cloud.storage import parse_size

        parse_size(v)  # ValueError says what a size looks like
        return v


class ErasureSpec(Strict):
    k: int = Field(ge=1, le=32, description="data fragments")
    m: int = Field(ge=1, le=16, description="parity fragments")


class StorageSpec(Strict):
    """cloud/storage.py: an object store over every disk of the world's hosts."""

    chunk_mib: int = Field(default=64, ge=1, le=2048, description="chunk size (GFS 64, HDFS 128)")
    replication: int = Field(default=3, ge=1, le=16, description="copies per chunk (HDFS 3)")
    placement: Literal["random", "rack-aware", "zone-aware"] = "rack-aware"
    erasure: ErasureSpec | None = Field(default=None, description="Reed-Solomon K+M instead of copies")
    heartbeat_s: float = Field(default=3.0, ge=0.1, le=600)
    heartbeat_timeout_s: float = Field(default=630.0, ge=1, le=86_400, description="HDFS: 2 x 300 s + 10 x 3 s")
    repair_mbps: float = Field(default=100.0, ge=0.1, le=1_000_000, description="re-replication MiB/s, cluster-wide")
    disk_mibps: float = Field(default=200.0, ge=1, le=100_000, description="one disk's read rate")
    degraded_slowdown: float = Field(default=10.0, ge=1, le=10_000, description="how much slower a degraded disk reads")
    hedged_read_ms: float | None = Field(default=None, ge=0, le=60_000, description="hedged reads threshold; null = off")
    afr_pct: float = Field(default=1.70, gt=0, le=100, description="disk annual failure rate (Backblaze 2023: 1.70)")
    objects: list[StoredObjectSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_objects(self) -> "StorageSpec":
        names = [o.name for o in self.objects]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"object names must be unique: {', '.join(dupes)} repeated")
        return self


class World(Strict):
    view: str = Field(default="fleet", description="which live view the game draws for this world")
    tick_ms: int = Field(default=1000, ge=10, le=60_000)
    regions: list[RegionSpec] = Field(default_factory=list)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    instances: list[InstanceSpec] = Field(default_factory=list)
    hypervisor: HypervisorSpec | None = Field(default=None, description="one host carved into VMs (chapter 2)")
    fleet: FleetSpec | None = Field(default=None, description="a fleet at work: request stream, groups, timed faults (chapter 3)")
    loadbalancer: LoadBalancingSpec | None = Field(default=None, description="load balancers and offered load (chapter 9)")
    timeline: list[TimelineEntry] | None = Field(default=None, description="timed faults: a chaos timeline (chapter 9)")
    reliability: ReliabilitySpec | None = Field(default=None, description="cost and incident accounting (chapter 9)")
    storage: StorageSpec | None = Field(default=None, description="an object store over the disks (chapters 4, 5)")

    @model_validator(mode="after")
    def _fleet_refs(self) -> "World":
        if self.fleet is not None and self.fleet.faults:
            ids = world_ids(self)
            for f in self.fleet.faults:
                if f.id not in ids[f.kind]:
                    known = ", ".join(sorted(ids[f.kind])[:6]) or "none"
                    raise ValueError(f"fleet fault at {f.at_ms} ms: no {f.kind} {f.id!r} ({f.kind}s: {known}, ...)")
        return self

    @model_validator(mode="after")
    def _failure_design_refs(self) -> "World":
        """Timeline entries and load balancers name parts and instances that exist."""
        if self.timeline is None and self.loadbalancer is None:
            return self
        ids = world_ids(self)

        def known(kind: str) -> str:
            names = sorted(ids[kind])
            return ", ".join(names[:6]) + (", ..." if len(names) > 6 else "") or "none"

        for n, e in enumerate(self.timeline or []):
            if e.random is not None:
                pool = e.random.among if e.random.among is not None else sorted(ids[e.random.part])
                for ident in pool:
                    if ident not in ids[e.random.part]:
                        raise ValueError(f"timeline entry {n + 1}: no {e.random.part} {ident!r} ({e.random.part}s: {known(e.random.part)})")
                if e.random.count > len(pool):
                    raise ValueError(f"timeline entry {n + 1}: count {e.random.count} is more than the {len(pool)} {e.random.part}s")
            elif e.id not in ids[e.part]:
                raise ValueError(f"timeline entry {n + 1} at {e.at_s:g} s: no {e.part} {e.id!r} ({e.part}s: {known(e.part)})")
        lb = self.loadbalancer
        if lb is not None:
            instances = {i.name for i in self.instances}
            names = [b.name for b in lb.balancers]
            if len(set(names)) != len(names):
                raise ValueError("two load balancers share a name")
            for b in lb.balancers:
                for z in b.zones or []:
                    if z not in ids["zone"]:
                        raise ValueError(f"load balancer {b.name}: no zone {z!r} (zones: {known('zone')})")
                if b.zones is not None and len(b.zones) < 2:
                    raise ValueError(f"load balancer {b.name}: an Application Load Balancer needs at least two zones")
                for t in b.targets:
                    if t not in instances:
                        raise ValueError(
                            f"load balancer {b.name}: target {t!r} is not an instance of this world "
                            f"(instances: {', '.join(sorted(instances)) or 'none'})"
                        )
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> "World":
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
        zones = {z.name for r in self.regions for z in r.zones}
        for s in self.network.subnets or []:
            if s.zone not in zones:
                raise ValueError(f"subnet for zone {s.zone!r}: no such zone (zones: {', '.join(sorted(zones))})")
        for inst in self.instances:
            if inst.zone is not None and inst.zone not in zones:
                raise ValueError(f"instance {inst.name}: no zone {inst.zone!r} (zones: {', '.join(sorted(zones))})")
        return self


# -- objectives -------------------------------------------------------------------------
class MetricCheck(Strict):
    metric: str = Field(description="a metric name, e.g. instances_running")
    op: Op
    value: float


class EventAfter(Strict):
    event: str
    where: dict[str, Union[str, int, float, bool]] = Field(default_factory=dict)


class EventCheck(Strict):
    event: str = Field(description="an event kind, e.g. launch.failed")
    where: dict[str, Union[str, int, float, bool]] = Field(default_factory=dict)
    min_count: int = Field(default=1, ge=1)
    after: EventAfter | None = None


class AllCheck(Strict):
    all: list["Check"] = Field(min_length=1)


class AnyCheck(Strict):
    any: list["Check"] = Field(min_length=1)


class NotCheck(Strict):
    not_: "Check" = Field(alias="not")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("metric", "event", "all", "any", "not"):
            if key in value:
                return key
        return None
    for key, model in (("metric", MetricCheck), ("event", EventCheck), ("all", AllCheck), ("any", AnyCheck)):
        if isinstance(value, model):
            return key
    return "not" if isinstance(value, NotCheck) else None


Check = Annotated[
    Union[
        Annotated[MetricCheck, Tag("metric")],
        Annotated[EventCheck, Tag("event")],
        Annotated[AllCheck, Tag("all")],
        Annotated[AnyCheck, Tag("any")],
        Annotated[NotCheck, Tag("not")],
    ],
    Discriminator(
        _check_kind,
        custom_error_type="check_kind",
        custom_error_message="a check needs one of the keys metric, event, all, any, not",
    ),
]
AllCheck.model_rebuild()
AnyCheck.model_rebuild()
NotCheck.model_rebuild()


class Objective(Strict):
    id: str = Name
    text: str = Field(min_length=1)
    skills: list[Skill] = Field(min_length=1)
    when: Literal["end", "eventually", "always"] = "end"
    check: Check


# -- the chapter ------------------------------------------------------------------------
class Chapter(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    title: str = Field(min_length=1)
    number: int = Field(ge=0, le=99)
    sections: list[int] = Field(min_length=1)
    skills: list[Skill] = Field(min_length=1)
    story: str = Field(min_length=1)
    world: World = Field(default_factory=World)
    commands: list[str] = Field(default_factory=list)
    objectives: list[Objective] = Field(min_length=1)
    hints: list[str] = Field(default_factory=list)
    solution: list[str] = Field(min_length=1)

    @field_validator("objectives")
    @classmethod
    def _objective_ids(cls, objectives: list[Objective]) -> list[Objective]:
        ids = [o.id for o in objectives]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"objective ids must be unique: {', '.join(dupes)} repeated")
        return objectives


# -- the quiz bank ----------------------------------------------------------------------
class Question(Strict):
    """What every quiz question has."""

    id: str = Name
    skills: list[Skill] = Field(min_length=1)
    text: str
    explanation: str


class ChoiceQuestion(Question):
    kind: Literal["choice"]
    options: list[str] = Field(min_length=2, max_length=6)
    answer: int = Field(ge=0, description="index of the right option")

    @model_validator(mode="after")
    def _answer_in_range(self) -> "ChoiceQuestion":
        if self.answer >= len(self.options):
            raise ValueError(f"answer {self.answer} is not an option index (0..{len(self.options) - 1})")
        return self


class PredictQuestion(Question):
    """A numeric question whose answer is computed by running a small world."""

    kind: Literal["predict"]
    world: World = Field(default_factory=World)
    commands: list[str] = Field(default_factory=list)
    metric: str
    tolerance: float = Field(default=0, ge=0)


class QuizBank(Strict):
    pass_mark_pct: int = Field(default=70, ge=0, le=100)
    questions: list[Annotated[Union[ChoiceQuestion, PredictQuestion], Field(discriminator="kind")]] = Field(
        min_length=1
    )


def rebuild_all() -> None:
    """Re-resolve forward references after a mechanism adds a world section."""
    for model in (World, Chapter, PredictQuestion, QuizBank):
        model.model_rebuild(force=True)
