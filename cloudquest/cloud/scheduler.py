"""Resource scheduling: which physical host runs this instance?

Real schedulers (OpenStack Nova's filter scheduler, Kubernetes' kube-scheduler) work in
two phases: *filter* out every host that cannot take the request, then *score* the ones
left and take the best. Scores here use kube-scheduler's NodeResourcesFit formulas on a
0-100 integer scale, where "requested" already includes the incoming instance:

- least-allocated (spread): ``(capacity - requested) * 100 // capacity`` per resource;
- most-allocated (pack): ``requested * 100 // capacity`` per resource;

each averaged over CPU and RAM with integer weights. Ties go to the host that comes first
in fleet order, so placement is deterministic.

At scale kube-scheduler does not score every node: once a fleet is large it stops
looking after ``percentageOfNodesToScore`` of the nodes have passed the filters
(adaptive default ``50 - nodes/125`` percent, at least 5% and at least 100 nodes), and
starts the next search where the last one stopped so every node gets its turn. Small
fleets (100 hosts or fewer) are always scored in full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .hardware import Hardware, Health, Host

MAX_SCORE = 100
MIN_FEASIBLE_TO_FIND = 100


class NoValidHost(Exception):
    """No host passed the filters. ``reasons`` counts the filter that stopped each host."""

    def __init__(self, reasons: dict[str, int]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())))
        self.reasons = reasons


@dataclass(frozen=True)
class Request:
    name: str
    vcpus: int
    ram_mib: int
    disk_gib: int = 0
    zones: tuple[str, ...] = ()  # allowed zones; empty = any zone


@dataclass
class SchedulerConfig:
    policy: str = "spread"  # spread (least-allocated) | pack (most-allocated)
    cpu_weight: int = 1
    ram_weight: int = 1
    cpu_ratio: float = 1.0  # Nova's cpu_allocation_ratio
    ram_ratio: float = 1.0  # Nova's ram_allocation_ratio
    percentage_of_nodes_to_score: int = 0  # 0 = kube-scheduler's adaptive default


def cpu_capacity(host: Host, cfg: SchedulerConfig) -> int:
    return int(host.vcpus * cfg.cpu_ratio)


def ram_capacity(host: Host, cfg: SchedulerConfig) -> int:
    return int(host.ram_mib * cfg.ram_ratio)


def filter_host(host: Host, req: Request, cfg: SchedulerConfig) -> str | None:
    """Return the name of the first filter the host fails, or None if it passes."""
    if not host.up:
        return "host_down"
    if host.health is Health.DEGRADED:
        return "host_degraded"
    if req.zones and host.rack.zone.id not in req.zones:
        return "zone"
    if host.used_vcpus + req.vcpus > cpu_capacity(host, cfg):
        return "cpu"
    if host.used_ram_mib + req.ram_mib > ram_capacity(host, cfg):
        return "ram"
    if req.disk_gib and not any(d.up and d.free_gib >= req.disk_gib for d in host.disks):
        return "disk"
    return None


def resource_score(capacity: int, requested: int, policy: str) -> int:
    if capacity <= 0 or requested > capacity:
        return 0
    if policy == "pack":
        return requested * MAX_SCORE // capacity
    return (capacity - requested) * MAX_SCORE // capacity


def score_host(host: Host, req: Request, cfg: SchedulerConfig) -> int:
    cpu = resource_score(cpu_capacity(host, cfg), host.used_vcpus + req.vcpus, cfg.policy)
    ram = resource_score(ram_capacity(host, cfg), host.used_ram_mib + req.ram_mib, cfg.policy)
    total_weight = cfg.cpu_weight + cfg.ram_weight
    return (cpu * cfg.cpu_weight + ram * cfg.ram_weight) // total_weight if total_weight else 0


def feasible_to_find(n_hosts: int, percentage: int) -> int:
    """kube-scheduler's numFeasibleNodesToFind."""
    if n_hosts <= MIN_FEASIBLE_TO_FIND or percentage >= 100:
        return n_hosts
    if percentage <= 0:
        percentage = max(5, 50 - n_hosts // 125)
    return max(MIN_FEASIBLE_TO_FIND, n_hosts * percentage // 100)


@dataclass
class Scheduler:
    hardware: Hardware
    config: SchedulerConfig = field(default_factory=SchedulerConfig)
    _order: list[Host] = field(default_factory=list)
    _next_start: int = 0

    def hosts(self) -> list[Host]:
        if len(self._order) != len(self.hardware.hosts):
            self._order = list(self.hardware.hosts.values())
        return self._order

    def select(self, req: Request) -> Host:
        """Filter, then score; raise :class:`NoValidHost` if nothing fits."""
        hosts = self.hosts()
        restricted = bool(req.zones) and len(req.zones) < len(self.hardware.zones)
        if restricted:
            hosts = [h for z in req.zones if z in self.hardware.zones for h in self.hardware.zones[z].hosts()]
            start = 0
        else:
            start = self._next_start % len(hosts) if hosts else 0
        want = feasible_to_find(len(hosts), self.config.percentage_of_nodes_to_score)
        best: Host | None = None
        best_score = -1
        found = 0
        reasons: dict[str, int] = {}
        n = len(hosts)
        examined = 0
        for i in range(n):
            host = hosts[(start + i) % n]
            examined += 1
            reason = filter_host(host, req, self.config)
            if reason is not None:
                reasons[reason] = reasons.get(reason, 0) + 1
                continue
            found += 1
            score = score_host(host, req, self.config)
            if score > best_score:
                best, best_score = host, score
            if found >= want:
                break
        if not restricted and n:
            self._next_start = (start + examined) % n
        if best is None:
            raise NoValidHost(reasons)
        return best
