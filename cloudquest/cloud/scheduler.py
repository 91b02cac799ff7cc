"""Resource scheduling: which physical host runs this instance?

Real schedulers (OpenStack Nova's filter scheduler, Kubernetes' kube-scheduler) work in
two phases: *filter* out every host that cannot take the request, then *score* the ones
left and take the best.

Filters, in the order they are tried (the first one a host fails is its reason):

- ``host_down``, ``host_degraded``: hardware health. A host is skipped when it, its rack
  or its zone is failed (down) or degraded (a gray failure: still up, but flaky);
- ``source_host``: a live migration never "moves" an instance onto the host it is on;
- ``zone``: the request allows only some zones;
- placement-group rules, as EC2 states them: ``cluster_zone`` (a cluster group lives in
  one availability zone), ``spread_rack`` (a spread group puts each instance on its own
  rack), ``spread_zone_limit`` (at most 7 running instances per zone per spread group),
  ``partition_rack`` (a rack that holds one partition's instances holds no other's);
- ``cpu``, ``ram``: free capacity *after allocation ratios*. Nova lets a host promise
  more vCPUs (``cpu_allocation_ratio``) or RAM (``ram_allocation_ratio``) than it has,
  betting that guests never all peak at once; the capacity is ``physical * ratio``;
- ``disk``: one of the host's disks has room for the root volume.

Scores use kube-scheduler's formulas on a 0-100 integer scale, where "requested" already
includes the incoming instance (``pkg/scheduler/framework/plugins/noderesources``):

- ``spread`` = LeastAllocated: ``(capacity - requested) * 100 // capacity`` per resource;
- ``pack`` = MostAllocated: ``requested * 100 // capacity`` per resource (requested
  clamped to capacity);

each combined as ``sum(score * weight) // sum(weights)`` over CPU and RAM; and

- ``balanced`` = NodeResourcesBalancedAllocation: with the requested fractions
  ``f = min(requested / capacity, 1)``, ``int((1 - std(f)) * 100)``; for two resources
  ``std = |f_cpu - f_ram| / 2``. Weights do not apply to it, as in kube-scheduler.

A cluster placement group adds an affinity score (100 on a rack that already holds one
of its instances, 0 elsewhere) to the total, the way kube-scheduler adds the weighted
scores of its plugins; so instances of a cluster group land close together.

Ties go to the host that comes first in fleet order, so placement is deterministic.

Speed. kube-scheduler stays fast on big clusters by scoring only a sample of the feasible
nodes (``percentageOfNodesToScore``); Nova asks its Placement service, which answers
"which providers have this much free?" from database indexes. Here the scores come from
a few numbers per host, so fleets above 100 hosts keep a *capacity index* instead: per
request shape (vCPUs, RAM) and zone, a heap of hosts ordered by the score the request
would give them, refreshed only for the hosts a placement or a release touched. The
best host is then found in logarithmic time, and it is the *exact* best: the same host
a full scan would choose. kube-scheduler's sampling stays available
(``sampling: true``) to show what it trades: speed for a good-enough host.
Whoever changes a host's allocations outside :meth:`Scheduler.commit` calls
:meth:`Scheduler.note`; health changes call :meth:`Scheduler.invalidate`. The index also
re-checks every winner against the live host, so a stale entry can cost optimality but
never a wrong placement.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .hardware import Hardware, Health, Host

MAX_SCORE = 100
MIN_FEASIBLE_TO_FIND = 100
# Fleets this small are always scored host by host (kube-scheduler scores every node of
# a cluster of at most minFeasibleNodesToFind = 100 nodes).
FULL_SCORE_HOSTS = 100

POLICIES = ("spread", "pack", "balanced")
STRATEGIES = ("cluster", "spread", "partition")
# EC2: "A rack spread placement group can have a maximum of seven running instances per
# Availability Zone per group"; "a partition placement group can have a maximum of seven
# partitions per Availability Zone".
SPREAD_MAX_PER_ZONE = 7
MAX_PARTITIONS = 7
CLUSTER_AFFINITY = 100
MAX_WEIGHT = 100
MAX_CPU_RATIO = 64.0
MAX_RAM_RATIO = 16.0

GROUP_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class NoValidHost(Exception):
    """No host passed the filters. ``reasons`` counts the filter that stopped each host."""

    def __init__(self, reasons: dict[str, int]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) or "no hosts")
        self.reasons = reasons


@dataclass(frozen=True)
class Request:
    """What one instance asks for. ``host`` forces one host (Nova's requested host,
    microversion 2.74: the filters still run on it); ``ignore_hosts`` are hosts the
    request must avoid (a migration's source); ``partition`` picks a partition of a
    partition group (1..N; 0 lets the scheduler choose)."""

    name: str
    vcpus: int
    ram_mib: int
    disk_gib: int = 0
    zones: tuple[str, ...] = ()  # allowed zones; empty = any zone
    group: str = ""
    partition: int = 0
    host: str = ""
    ignore_hosts: tuple[str, ...] = ()


@dataclass
class SchedulerConfig:
    policy: str = "spread"  # spread (least-allocated) | pack (most-allocated) | balanced
    cpu_weight: int = 1
    ram_weight: int = 1
    cpu_ratio: float = 1.0  # Nova's cpu_allocation_ratio
    ram_ratio: float = 1.0  # Nova's ram_allocation_ratio
    percentage_of_nodes_to_score: int = 0  # with sampling: 0 = kube-scheduler's adaptive default
    sampling: bool = False  # score a kube-style sample instead of using the capacity index

    def key(self) -> tuple[Any, ...]:
        return (self.policy, self.cpu_weight, self.ram_weight, self.cpu_ratio, self.ram_ratio)


def check_setting(name: str, value: Any) -> Any:
    """Validate one scheduler setting; return it converted, or raise ``ValueError`` with
    what is wrong and what is allowed."""
    if name == "policy":
        if value not in POLICIES:
            raise ValueError(f"unknown policy {value!r} (policies: {', '.join(POLICIES)})")
        return value
    if name in ("cpu_weight", "ram_weight"):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WEIGHT:
            raise ValueError(f"{name.replace('_', ' ')} must be a whole number from 0 to {MAX_WEIGHT}, not {value!r}")
        return value
    if name in ("cpu_ratio", "ram_ratio"):
        top = MAX_CPU_RATIO if name == "cpu_ratio" else MAX_RAM_RATIO
        try:
            ratio = float(value)
        except (TypeError, ValueError):
            ratio = float("nan")
        if not 0 < ratio <= top:
            raise ValueError(f"{name.replace('_', ' ')} must be above 0 and at most {top:g}, not {value!r}")
        return ratio
    if name == "percentage_of_nodes_to_score":
        if not isinstance(value, int) or not 0 <= value <= 100:
            raise ValueError(f"percentage of nodes to score must be 0..100, not {value!r}")
        return value
    if name == "sampling":
        return bool(value)
    raise ValueError(f"unknown scheduler setting {name!r} (settings: {', '.join(SchedulerConfig.__dataclass_fields__)})")


def cpu_capacity(host: Host, cfg: SchedulerConfig) -> int:
    return int(host.vcpus * cfg.cpu_ratio)


def ram_capacity(host: Host, cfg: SchedulerConfig) -> int:
    return int(host.ram_mib * cfg.ram_ratio)


def is_degraded(host: Host) -> bool:
    rack = host.rack
    return Health.DEGRADED in (host.health, rack.health, rack.zone.health)


def schedulable(host: Host) -> bool:
    return host.up and not is_degraded(host)


def network_hops(a: Host, b: Host) -> int:
    """Switch-to-switch hops between two hosts in a leaf-spine fabric: 0 on one host, 2
    through one top-of-rack switch, 4 through the zone's spine, 6 across zones."""
    if a is b:
        return 0
    if a.rack is b.rack:
        return 2
    if a.rack.zone is b.rack.zone:
        return 4
    return 6


# -- kube-scheduler's score functions (pkg/scheduler/framework/plugins/noderesources) ----


def least_requested_score(requested: int, capacity: int) -> int:
    """least_allocated.go ``leastRequestedScore``."""
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_SCORE // capacity


def most_requested_score(requested: int, capacity: int) -> int:
    """most_allocated.go ``mostRequestedScore``: requested is clamped to capacity."""
    if capacity == 0:
        return 0
    return min(requested, capacity) * MAX_SCORE // capacity


def balanced_score(requested: Iterable[int], capacity: Iterable[int]) -> int:
    """balanced_allocation.go ``balancedResourceScorer``, float for float."""
    fractions = []
    for r, c in zip(requested, capacity):
        if c == 0:
            continue
        fractions.append(min(r / c, 1.0))
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = (sum((f - mean) * (f - mean) for f in fractions) / len(fractions)) ** 0.5
    return int((1 - std) * MAX_SCORE)


def resource_scores(cap_cpu: int, cap_ram: int, req_cpu: int, req_ram: int, cfg: SchedulerConfig) -> tuple[int, int, int]:
    """(cpu, ram, total) for ``requested`` = already used + the incoming instance.

    For spread and pack, cpu/ram are the per-resource scores and total their weighted
    mean (integer division, as kube-scheduler does). For balanced, cpu/ram are the
    requested fractions in percent (shown, not summed) and total the balance score."""
    if cfg.policy == "balanced":
        cpu = req_cpu * 100 // cap_cpu if cap_cpu else 0
        ram = req_ram * 100 // cap_ram if cap_ram else 0
        return cpu, ram, balanced_score((req_cpu, req_ram), (cap_cpu, cap_ram))
    fn = most_requested_score if cfg.policy == "pack" else least_requested_score
    cpu = fn(req_cpu, cap_cpu)
    ram = fn(req_ram, cap_ram)
    weights = cfg.cpu_weight + cfg.ram_weight
    total = (cpu * cfg.cpu_weight + ram * cfg.ram_weight) // weights if weights else 0
    return cpu, ram, total


def score_host(host: Host, req: Request, cfg: SchedulerConfig) -> int:
    """The policy's score (without placement-group affinity) for ``req`` on ``host``."""
    return resource_scores(
        cpu_capacity(host, cfg),
        ram_capacity(host, cfg),
        host.used_vcpus + req.vcpus,
        host.used_ram_mib + req.ram_mib,
        cfg,
    )[2]


def feasible_to_find(n_hosts: int, percentage: int) -> int:
    """kube-scheduler's numFeasibleNodesToFind: all of a small cluster; otherwise the
    percentage (adaptive default ``50 - nodes/125``, at least 5) of the nodes, at least
    100. ``percentage`` is 0 to 100 (the settings check it); 100 is every node."""
    if n_hosts <= MIN_FEASIBLE_TO_FIND:
        return n_hosts
    if percentage <= 0:
        percentage = max(5, 50 - n_hosts // 125)
    return max(MIN_FEASIBLE_TO_FIND, n_hosts * percentage // 100)


# -- placement groups ---------------------------------------------------------------------


@dataclass(eq=False)
class Member:
    host: Host
    partition: int = 0
    ref: Any = None  # the instance; a member lives while its host still holds it


@dataclass(eq=False)
class PlacementGroup:
    """An EC2 placement group: ``cluster`` (one zone, packed close together for low
    latency), ``spread`` (every instance on its own rack, at most 7 per zone), or
    ``partition`` (instances in numbered partitions; partitions share no rack)."""

    name: str
    strategy: str
    partitions: int = 0
    members: dict[str, Member] = field(default_factory=dict)

    def live(self) -> dict[str, Member]:
        dead = [n for n, m in self.members.items() if m.ref is not None and m.host.instances.get(n) is not m.ref]
        for n in dead:
            del self.members[n]
        return self.members


@dataclass
class _Context:
    """What one request needs, worked out once before the hosts are looked at."""

    req: Request
    cfg: SchedulerConfig
    zones: frozenset[str] | None
    group: PlacementGroup | None = None
    cluster_zone: str | None = None
    member_racks: frozenset[str] = frozenset()
    zone_counts: dict[str, int] = field(default_factory=dict)
    rack_owner: dict[str, int] = field(default_factory=dict)
    partition: int = 0

    @property
    def affinity(self) -> bool:
        return self.group is not None and self.group.strategy == "cluster" and bool(self.member_racks)


@dataclass
class HostOutcome:
    """One row of :meth:`Scheduler.explain`."""

    host: str
    rack: str
    zone: str
    reason: str | None  # the first filter failed, None if the host passed
    detail: str = ""
    cpu: int | None = None
    ram: int | None = None
    affinity: int | None = None
    total: int | None = None

    @property
    def passed(self) -> bool:
        return self.reason is None


@dataclass
class Explanation:
    request: Request
    policy: str
    rows: list[HostOutcome]
    winner: str | None
    reasons: dict[str, int]
    partition: int = 0

    @property
    def winner_row(self) -> HostOutcome | None:
        for row in self.rows:
            if row.host == self.winner:
                return row
        return None


# -- the capacity index -------------------------------------------------------------------


class _CapacityIndex:
    """Per request shape (vCPUs, RAM MiB) and zone: a heap of ``(-score, position,
    version)`` over the schedulable hosts the shape fits on. A host's version goes up
    whenever it is re-indexed; entries with an old version are skipped when they surface
    (lazy deletion), and a heap is compacted when it holds too many of them."""

    def __init__(self, hosts: list[Host], cfg: SchedulerConfig) -> None:
        self.hosts = hosts
        self.pos = {h.id: i for i, h in enumerate(hosts)}
        self.zone = [h.rack.zone.id for h in hosts]
        self.zone_size: dict[str, int] = {}
        for z in self.zone:
            self.zone_size[z] = self.zone_size.get(z, 0) + 1
        self.ver = [0] * len(hosts)
        self.ok = [schedulable(h) for h in hosts]
        self.dirty: set[int] = set()
        self.shapes: dict[tuple[int, int], dict[str, list[tuple[int, int, int]]]] = {}
        self.configure(cfg)

    def configure(self, cfg: SchedulerConfig) -> None:
        self.cfg = cfg
        self.key = cfg.key()
        self.cap_cpu = [cpu_capacity(h, cfg) for h in self.hosts]
        self.cap_ram = [ram_capacity(h, cfg) for h in self.hosts]
        self.shapes.clear()

    def refresh_health(self) -> None:
        self.ok = [schedulable(h) for h in self.hosts]
        self.ver = [v + 1 for v in self.ver]
        self.dirty.clear()
        self.shapes.clear()

    def score(self, i: int, rc: int, rr: int) -> int | None:
        """The request shape's score on host ``i``, or None if it does not fit."""
        h = self.hosts[i]
        uc = h.used_vcpus + rc
        ur = h.used_ram_mib + rr
        cc = self.cap_cpu[i]
        cr = self.cap_ram[i]
        if uc > cc or ur > cr:
            return None
        return resource_scores(cc, cr, uc, ur, self.cfg)[2]

    def _build(self, shape: tuple[int, int]) -> dict[str, list[tuple[int, int, int]]]:
        rc, rr = shape
        heaps: dict[str, list[tuple[int, int, int]]] = {z: [] for z in self.zone_size}
        for i in range(len(self.hosts)):
            if not self.ok[i]:
                continue
            s = self.score(i, rc, rr)
            if s is not None:
                heaps[self.zone[i]].append((-s, i, self.ver[i]))
        for heap in heaps.values():
            heapq.heapify(heap)
        self.shapes[shape] = heaps
        return heaps

    def reindex(self, i: int) -> None:
        self.ver[i] += 1
        ver = self.ver[i]
        ok = self.ok[i] = schedulable(self.hosts[i])
        if not ok:
            return
        zone = self.zone[i]
        for (rc, rr), heaps in self.shapes.items():
            s = self.score(i, rc, rr)
            if s is None:
                continue
            heap = heaps[zone]
            heapq.heappush(heap, (-s, i, ver))
            if len(heap) > 2 * self.zone_size[zone] + 32:
                heap[:] = [e for e in heap if e[2] == self.ver[e[1]]]
                heapq.heapify(heap)

    def sync(self) -> None:
        if self.dirty:
            for i in sorted(self.dirty):
                self.reindex(i)
            self.dirty.clear()

    def heaps_for(self, rc: int, rr: int) -> dict[str, list[tuple[int, int, int]]]:
        heaps = self.shapes.get((rc, rr))
        return heaps if heaps is not None else self._build((rc, rr))


# -- the scheduler ------------------------------------------------------------------------


@dataclass
class Scheduler:
    hardware: Hardware
    config: SchedulerConfig = field(default_factory=SchedulerConfig)
    groups: dict[str, PlacementGroup] = field(default_factory=dict)
    # Every placement in a small fleet (FULL_SCORE_HOSTS hosts or fewer) scores every host
    # and keeps its explanation: `explain` shows it, and the launch logs it.
    record_decisions: bool = True
    decisions: dict[str, Explanation] = field(default_factory=dict)
    index_min_hosts: int = FULL_SCORE_HOSTS + 1
    _order: list[Host] = field(default_factory=list)
    _next_start: int = 0
    _index: _CapacityIndex | None = None
    _last: Explanation | None = None
    decided: Explanation | None = None  # the explanation of the latest committed placement

    @property
    def explains(self) -> bool:
        """Whether placements keep their explanation (a small fleet, read host by host)."""
        return self.record_decisions and len(self.hardware.hosts) <= FULL_SCORE_HOSTS

    # -- fleet ---------------------------------------------------------------------------
    def hosts(self) -> list[Host]:
        if len(self._order) != len(self.hardware.hosts):
            self._order = list(self.hardware.hosts.values())
            self._index = None
        return self._order

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change settings after checking all of them; return the old values."""
        checked = {name: check_setting(name, value) for name, value in settings.items()}
        old = {name: getattr(self.config, name) for name in checked}
        for name, value in checked.items():
            setattr(self.config, name, value)
        return old

    def note(self, host: Host) -> None:
        """``host``'s allocations changed: re-index it before the next decision."""
        if self._index is not None:
            i = self._index.pos.get(host.id)
            if i is not None:
                self._index.dirty.add(i)

    def invalidate(self) -> None:
        """Hardware health changed somewhere: re-check every host before the next decision."""
        if self._index is not None:
            self._index.refresh_health()

    # -- placement groups ----------------------------------------------------------------
    def create_group(self, name: str, strategy: str, partitions: int = 0) -> PlacementGroup:
        if not GROUP_NAME_RE.match(name or ""):
            raise ValueError(f"bad group name {name!r} (lower-case letters, digits and '-', starting with a letter)")
        if name in self.groups:
            raise ValueError(f"a placement group named {name!r} already exists")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r} (strategies: {', '.join(STRATEGIES)})")
        if strategy == "partition":
            partitions = partitions or 2
            if not 1 <= partitions <= MAX_PARTITIONS:
                raise ValueError(f"a partition group has 1 to {MAX_PARTITIONS} partitions, not {partitions}")
        elif partitions:
            raise ValueError(f"only a partition group has partitions, not a {strategy} group")
        group = PlacementGroup(name, strategy, partitions)
        self.groups[name] = group
        return group

    def delete_group(self, name: str) -> None:
        group = self._group(name)
        if group.live():
            raise ValueError(f"placement group {name!r} still holds {len(group.members)} instance(s)")
        del self.groups[name]

    def _group(self, name: str) -> PlacementGroup:
        group = self.groups.get(name)
        if group is None:
            raise ValueError(f"no placement group named {name!r} (groups: {', '.join(self.groups) or 'none'})")
        return group

    def _context(self, req: Request) -> _Context:
        ctx = _Context(req, self.config, frozenset(req.zones) if req.zones else None)
        if not req.group:
            return ctx
        group = self._group(req.group)
        ctx.group = group
        members = [(n, m) for n, m in group.live().items() if n != req.name]
        if group.strategy == "cluster":
            if members:
                ctx.cluster_zone = members[0][1].host.rack.zone.id
                ctx.member_racks = frozenset(m.host.rack.id for _, m in members)
        elif group.strategy == "spread":
            ctx.member_racks = frozenset(m.host.rack.id for _, m in members)
            for _, m in members:
                z = m.host.rack.zone.id
                ctx.zone_counts[z] = ctx.zone_counts.get(z, 0) + 1
        else:
            for _, m in members:
                ctx.rack_owner[m.host.rack.id] = m.partition
            if req.partition:
                if not 1 <= req.partition <= group.partitions:
                    raise ValueError(f"group {group.name} has partitions 1..{group.partitions}, not {req.partition}")
                ctx.partition = req.partition
            else:
                # EC2 spreads instances evenly over the partitions when none is named.
                counts = [0] * (group.partitions + 1)
                for _, m in members:
                    counts[m.partition] += 1
                ctx.partition = min(range(1, group.partitions + 1), key=lambda p: (counts[p], p))
        return ctx

    # -- filters and scores ----------------------------------------------------------------
    def _filter(self, host: Host, ctx: _Context) -> str | None:
        """The first filter ``host`` fails, or None if it passes every one."""
        req = ctx.req
        if not host.up:
            return "host_down"
        if is_degraded(host):
            return "host_degraded"
        if req.ignore_hosts and host.id in req.ignore_hosts:
            return "source_host"
        zone = host.rack.zone.id
        if ctx.zones is not None and zone not in ctx.zones:
            return "zone"
        group = ctx.group
        if group is not None:
            if group.strategy == "cluster":
                if ctx.cluster_zone is not None and zone != ctx.cluster_zone:
                    return "cluster_zone"
            elif group.strategy == "spread":
                if host.rack.id in ctx.member_racks:
                    return "spread_rack"
                if ctx.zone_counts.get(zone, 0) >= SPREAD_MAX_PER_ZONE:
                    return "spread_zone_limit"
            else:
                owner = ctx.rack_owner.get(host.rack.id)
                if owner is not None and owner != ctx.partition:
                    return "partition_rack"
        cfg = ctx.cfg
        if host.used_vcpus + req.vcpus > cpu_capacity(host, cfg):
            return "cpu"
        if host.used_ram_mib + req.ram_mib > ram_capacity(host, cfg):
            return "ram"
        if req.disk_gib and not any(d.up and d.free_gib >= req.disk_gib for d in host.disks):
            return "disk"
        return None

    def _scores(self, host: Host, ctx: _Context) -> tuple[int, int, int, int]:
        """(cpu, ram, affinity, total) for a host that passed the filters."""
        cpu, ram, total = resource_scores(
            cpu_capacity(host, ctx.cfg),
            ram_capacity(host, ctx.cfg),
            host.used_vcpus + ctx.req.vcpus,
            host.used_ram_mib + ctx.req.ram_mib,
            ctx.cfg,
        )
        affinity = 0
        if ctx.affinity and host.rack.id in ctx.member_racks:
            affinity = CLUSTER_AFFINITY
        return cpu, ram, affinity, total + affinity

    def _detail(self, host: Host, ctx: _Context, reason: str) -> str:
        req, cfg = ctx.req, ctx.cfg
        rack = host.rack
        if reason == "host_down":
            what = next(
                (f"{k} {t.id}" for k, t in (("host", host), ("rack", rack), ("zone", rack.zone)) if not t.up),
                f"rack {rack.id} uplink",
            )
            return f"{what} is down"
        if reason == "host_degraded":
            what = next(f"{k} {t.id}" for k, t in (("host", host), ("rack", rack), ("zone", rack.zone)) if t.health is Health.DEGRADED)
            return f"{what} is degraded"
        if reason == "source_host":
            return "the instance is already here"
        if reason == "zone":
            return f"zone {rack.zone.id} not allowed ({', '.join(sorted(ctx.zones or ()))})"
        if reason == "cluster_zone":
            return f"group {ctx.group.name} lives in {ctx.cluster_zone}"  # type: ignore[union-attr]
        if reason == "spread_rack":
            return f"rack {rack.id} already holds an instance of {ctx.group.name}"  # type: ignore[union-attr]
        if reason == "spread_zone_limit":
            return f"{ctx.group.name} already runs {SPREAD_MAX_PER_ZONE} instances in {rack.zone.id}"  # type: ignore[union-attr]
        if reason == "partition_rack":
            return f"rack {rack.id} belongs to partition {ctx.rack_owner.get(rack.id)}, not {ctx.partition}"
        if reason == "cpu":
            cap = cpu_capacity(host, cfg)
            return f"needs {req.vcpus} vCPU, {max(cap - host.used_vcpus, 0)} of {cap} free"
        if reason == "ram":
            cap = ram_capacity(host, cfg)
            return f"needs {req.ram_mib / 1024:g} GiB, {max(cap - host.used_ram_mib, 0) / 1024:g} of {cap / 1024:g} free"
        if reason == "disk":
            best = max((d.free_gib for d in host.disks if d.up), default=0)
            return f"needs {req.disk_gib} GiB of disk, largest free {best}"
        return reason

    # -- decisions -----------------------------------------------------------------------
    def select(self, req: Request) -> Host:
        """Filter, then score; raise :class:`NoValidHost` if nothing fits. Nothing changes
        until the caller claims the host and calls :meth:`commit`."""
        ctx = self._context(req)
        self._last = None
        if req.host:
            return self._select_forced(ctx)
        hosts = self.hosts()
        if self.explains:
            expl = self._explain(ctx)
            self._last = expl
            if expl.winner is None:
                raise NoValidHost(expl.reasons)
            return self.hardware.hosts[expl.winner]
        if len(hosts) < self.index_min_hosts:
            return self._select_scan(ctx, hosts)
        if self.config.sampling:
            return self._select_sampled(ctx, hosts)
        return self._select_indexed(ctx, hosts)

    def _select_forced(self, ctx: _Context) -> Host:
        host = self.hardware.hosts.get(ctx.req.host)
        if host is None:
            raise NoValidHost({"unknown_host": 1})
        reason = self._filter(host, ctx)
        if reason is not None:
            raise NoValidHost({reason: 1})
        if self.explains:
            self._last = self._explain(ctx)
        return host

    def _select_scan(self, ctx: _Context, hosts: list[Host]) -> Host:
        best: Host | None = None
        best_total = -1
        reasons: dict[str, int] = {}
        for host in hosts:
            reason = self._filter(host, ctx)
            if reason is not None:
                reasons[reason] = reasons.get(reason, 0) + 1
                continue
            total = self._scores(host, ctx)[3]
            if total > best_total:
                best, best_total = host, total
        if best is None:
            raise NoValidHost(reasons)
        return best

    def _select_sampled(self, ctx: _Context, hosts: list[Host]) -> Host:
        """kube-scheduler's way: stop once ``numFeasibleNodesToFind`` hosts have passed
        the filters, and start the next search where this one stopped."""
        n = len(hosts)
        start = self._next_start % n
        want = feasible_to_find(n, self.config.percentage_of_nodes_to_score)
        best: Host | None = None
        best_total = -1
        found = examined = 0
        reasons: dict[str, int] = {}
        for k in range(n):
            host = hosts[(start + k) % n]
            examined += 1
            reason = self._filter(host, ctx)
            if reason is not None:
                reasons[reason] = reasons.get(reason, 0) + 1
                continue
            found += 1
            total = self._scores(host, ctx)[3]
            if total > best_total:
                best, best_total = host, total
            if found >= want:
                break
        self._next_start = (start + examined) % n
        if best is None:
            raise NoValidHost(reasons)
        return best

    def _select_indexed(self, ctx: _Context, hosts: list[Host]) -> Host:
        index = self._index
        if index is None or index.hosts is not hosts:
            index = self._index = _CapacityIndex(hosts, self.config)
        elif index.key != self.config.key():
            index.configure(self.config)
        index.sync()
        req = ctx.req
        heaps = index.heaps_for(req.vcpus, req.ram_mib)
        zones = list(heaps)
        if ctx.zones is not None:
            zones = [z for z in zones if z in ctx.zones]
        if ctx.cluster_zone is not None:
            zones = [z for z in zones if z == ctx.cluster_zone]
        best: tuple[int, int] | None = None  # (total, position), best = highest total, lowest position
        if ctx.affinity:
            # Hosts beside the group's instances score +100: look at those racks in full.
            for rack_id in sorted(ctx.member_racks):
                for host in self.hardware.racks[rack_id].hosts:
                    if self._filter(host, ctx) is None:
                        cand = (self._scores(host, ctx)[3], index.pos[host.id])
                        if best is None or (cand[0], -cand[1]) > (best[0], -best[1]):
                            best = cand
        aside: list[tuple[str, tuple[int, int, int]]] = []
        found: tuple[int, int] | None = None
        rc, rr = req.vcpus, req.ram_mib
        while True:
            top: tuple[int, int, int] | None = None
            top_zone = ""
            for z in zones:
                heap = heaps[z]
                while heap and heap[0][2] != index.ver[heap[0][1]]:
                    heapq.heappop(heap)
                if heap and (top is None or heap[0] < top):
                    top, top_zone = heap[0], z
            if top is None:
                break
            neg, i, _ = top
            host = index.hosts[i]
            live = index.score(i, rc, rr) if schedulable(host) else None
            if live is None or live != -neg:
                # The host changed without a note: index it afresh and look again.
                index.reindex(i)
                continue
            heapq.heappop(heaps[top_zone])
            aside.append((top_zone, top))
            if self._filter(host, ctx) is None:
                found = (self._scores(host, ctx)[3], i)
                break
        for z, entry in aside:
            heapq.heappush(heaps[z], entry)
        if found is not None and (best is None or (found[0], -found[1]) > (best[0], -best[1])):
            best = found
        if best is None:
            # Nothing in the index: a full scan names the reasons (and, should a change
            # have slipped past the index, still finds the host).
            return self._select_scan(ctx, hosts)
        return index.hosts[best[1]]

    def commit(self, req: Request, host: Host, ref: Any = None) -> None:
        """The caller has claimed ``host`` for ``req``: record group membership (``ref``
        is the instance; the membership ends when the host no longer holds it), keep the
        decision's explanation, and re-index the host."""
        if req.group:
            group = self._group(req.group)
            partition = 0
            if group.strategy == "partition":
                ctx = self._context(req)
                partition = ctx.rack_owner.get(host.rack.id, ctx.partition)
            group.members[req.name] = Member(host, partition, ref)
        if self._last is not None and self._last.request == req:
            self.decisions[req.name] = self._last
            self.decided = self._last
        self._last = None
        self.note(host)

    def group_of(self, name: str) -> tuple[PlacementGroup, Member] | None:
        for group in self.groups.values():
            member = group.live().get(name)
            if member is not None:
                return group, member
        return None

    # -- explain -------------------------------------------------------------------------
    def explain(self, req: Request) -> Explanation:
        """Every host's filter outcome and, for hosts that passed, their scores and total,
        plus the winner: the full, exact version of the decision :meth:`select` makes
        (with ``sampling`` on, select may settle for a host from its sample)."""
        return self._explain(self._context(req))

    def _explain(self, ctx: _Context) -> Explanation:
        req = ctx.req
        if req.host:
            host = self.hardware.hosts.get(req.host)
            candidates = [host] if host is not None else []
        else:
            candidates = self.hosts()
        rows: list[HostOutcome] = []
        reasons: dict[str, int] = {}
        best: HostOutcome | None = None
        for host in candidates:
            row = HostOutcome(host.id, host.rack.id, host.rack.zone.id, self._filter(host, ctx))
            if row.reason is not None:
                reasons[row.reason] = reasons.get(row.reason, 0) + 1
                row.detail = self._detail(host, ctx, row.reason)
            else:
                row.cpu, row.ram, row.affinity, row.total = self._scores(host, ctx)
                if best is None or row.total > best.total:  # type: ignore[operator]
                    best = row
            rows.append(row)
        if req.host and not candidates:
            reasons["unknown_host"] = 1
        return Explanation(req, ctx.cfg.policy, rows, best.host if best else None, reasons, ctx.partition)


def place_all(
    scheduler: Scheduler,
    requests: Iterable[Request],
    claim: Callable[[Host, Request], None] | None = None,
) -> tuple[int, int]:
    """Place requests one after another (select, claim, commit); return (placed, rejected).
    The default claim carves the slices straight out of the host, as the hypervisor does."""
    placed = rejected = 0
    for req in requests:
        try:
            host = scheduler.select(req)
        except NoValidHost:
            rejected += 1
            continue
        if claim is None:
            host.used_vcpus += req.vcpus
            host.used_ram_mib += req.ram_mib
        else:
            claim(host, req)
        scheduler.commit(req, host)
        placed += 1
    return placed, rejected
