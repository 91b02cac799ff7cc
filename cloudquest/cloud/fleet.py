"""A fleet at work: launch requests arriving over time, and how well they were placed.

A world switches this on with a ``fleet`` section::

    fleet:
      requests: {count: 200, every_ms: 500, mix: {small: 0.5, large: 0.3, xlarge: 0.2}}
      fragmentation_ref: xlarge            # the "common request" fragmentation is measured by
      groups: [{name: web, strategy: spread}]
      faults: [{at_ms: 60000, kind: host, id: r2-h3, health: degraded}]

The request stream is drawn once, when the world is built, from the session's seeded
generator: request ``n`` arrives at ``start_ms + n * every_ms`` with a type drawn from
``mix``, and (with ``lifetime_ms: [lo, hi]``) is terminated again after a lifetime drawn
from that range, so capacity is freed as well as taken. Each arrival is a RunInstances
call through the control plane: the scheduler places it on the spot, or the call fails
with InsufficientInstanceCapacity and the request counts as rejected (Nova answers
NoValidHost the same way; the game does not retry). Requests not yet arrived are
*pending*: the player can place one by hand (``place``), checked by the same filters.

Zone load: a zone's ``load_pct`` is other tenants' usage, carved out of its hosts when the
world is built (each host within 15 points of the zone's figure), so zones start unequal.

Metrics (all current values, sampled whenever objectives are checked):

- ``placed`` / ``rejected``: launch requests the scheduler placed / could not place
  (stream, player launches and manual placements alike);
- ``fragmentation``: the share of free capacity stranded on hosts too small for the
  reference request (see :func:`fragmentation`);
- ``on_degraded_hosts``: live instances on a host that is, or whose rack or zone is,
  degraded;
- ``zone_imbalance``: the busiest zone's utilisation minus the idlest's, in points;
- ``max_host_util``: the busiest host's utilisation in percent;
- ``hosts_empty``: hosts that are up with nothing allocated on them (no instance and no
  other tenant): what packing keeps free for big requests, or to power down;
- ``requests_pending``, ``requests_placed``, ``requests_rejected``: the stream's own tally;
- per placement group ``G``: ``group_size.G``, ``group_racks.G``, ``group_zones.G``,
  ``group_max_per_rack.G`` (instances one rack failure would take; a group survives any
  single rack failure while this stays below its size, and a spread group keeps it at 1),
  ``group_max_hops.G`` (the longest network path between two members).

Utilisation of a host or zone is the larger of its allocated vCPU and RAM shares, both
against ratio-adjusted capacity (the scheduler's view: 100 means it takes nothing more).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from .mechanism import events, metrics
from .catalogue import CATALOGUE, InstanceType
from .errors import CloudError
from .faults import FaultKind
from .hardware import Health, Host
from .scheduler import (
    Explanation,
    NoValidHost,
    Request,
    Scheduler,
    cpu_capacity,
    is_degraded,
    network_hops,
    ram_capacity,
)

from .world import CoreWorld, HealthName, Strict, known, world_ids

if TYPE_CHECKING:
    from .cloud import Cloud

BACKGROUND_SPREAD_PCT = 15


# -- the world section ----------------------------------------------------------------------
def _known_type(name: str | None) -> str | None:
    if name is not None and name not in CATALOGUE:
        raise ValueError(f"unknown instance type {name!r} (types: {', '.join(CATALOGUE)})")
    return name


class RequestStreamSpec(Strict):
    """Launch requests arriving over time."""

    count: int = Field(default=0, ge=0, le=100_000)
    every_ms: int = Field(default=1000, ge=0, le=3_600_000)
    start_ms: int | None = Field(default=None, ge=0, description="first arrival (default: every_ms)")
    mix: dict[str, float] = Field(default_factory=lambda: {"small": 1.0}, description="instance type -> weight")
    prefix: str = Field(default="req", pattern=r"^[a-z][a-z0-9]{0,15}$")
    lifetime_ms: tuple[int, int] | None = Field(default=None, description="[shortest, longest] life of a placed request")

    @field_validator("mix")
    @classmethod
    def _mix(cls, mix: dict[str, float]) -> dict[str, float]:
        for name, weight in mix.items():
            _known_type(name)
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
    kind: FaultKind
    id: str
    health: HealthName = "failed"


class FleetSpec(Strict):
    """A fleet at work: a request stream, placement groups, timed faults."""

    requests: RequestStreamSpec = Field(default_factory=RequestStreamSpec)
    fragmentation_ref: str | None = Field(default=None, description="the request size fragmentation is measured by")
    groups: list[PlacementGroupSpec] = Field(default_factory=list)
    faults: list[TimedFaultSpec] = Field(default_factory=list)

    @field_validator("fragmentation_ref")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        return _known_type(v)


def check_world(world: CoreWorld, spec: FleetSpec) -> None:
    """Cross-references: every timed fault names a part of the world."""
    if spec.faults:
        ids = world_ids(world)
        for f in spec.faults:
            if f.id not in ids[f.kind]:
                raise ValueError(f"fleet fault at {f.at_ms} ms: no {f.kind} {f.id!r} ({f.kind}s: {known(ids[f.kind])})")


@dataclass(eq=False)
class StreamRequest:
    name: str
    type: InstanceType
    arrive_ms: int
    lifetime_ms: int = 0
    state: str = "pending"  # pending | placed | rejected
    host: str = ""
    how: str = ""  # auto | manual
    error: str = ""


def reference_type(mix: list[tuple[str, float]]) -> InstanceType:
    """The most common type in the mix; on a tie, the larger one."""
    name = max(mix, key=lambda nw: (nw[1], CATALOGUE[nw[0]].vcpus, CATALOGUE[nw[0]].ram_mib))[0]
    return CATALOGUE[name]


def utilisation(used_cpu: int, cap_cpu: int, used_ram: int, cap_ram: int) -> float:
    shares = [used_cpu / cap_cpu if cap_cpu else 0.0, used_ram / cap_ram if cap_ram else 0.0]
    return 100 * max(shares)


def fragmentation(hosts: list[Host], scheduler: Scheduler, ref_vcpus: int, ref_ram_mib: int) -> float:
    """Percent of the free capacity that is stranded.

    Over the hosts a new instance could go to (up and not degraded), free capacity is
    ratio-adjusted capacity minus allocations, per resource. A host's free capacity is
    *stranded* when the reference request (``ref_vcpus``, ``ref_ram_mib``) does not fit
    on it: it is there, but in a piece too small to use. The result is the mean over vCPU
    and RAM of ``stranded / free``, times 100; 0 when nothing is free."""
    cfg = scheduler.config
    free = [0, 0]
    stranded = [0, 0]
    for h in hosts:
        if not h.up or is_degraded(h):
            continue
        fc = max(cpu_capacity(h, cfg) - h.used_vcpus, 0)
        fr = max(ram_capacity(h, cfg) - h.used_ram_mib, 0)
        free[0] += fc
        free[1] += fr
        if fc < ref_vcpus or fr < ref_ram_mib:
            stranded[0] += fc
            stranded[1] += fr
    shares = [s / f for s, f in zip(stranded, free) if f]
    return round(100 * sum(shares) / 2, 2) if shares else 0.0


class Fleet:
    def __init__(self, cloud: "Cloud", spec: FleetSpec) -> None:
        self.cloud = cloud
        self.mix = [(name, float(weight)) for name, weight in spec.requests.mix.items()]
        ref = spec.fragmentation_ref
        self.ref = CATALOGUE[ref] if ref else reference_type(self.mix)
        self.requests: dict[str, StreamRequest] = {}
        self.background: dict[str, tuple[int, int]] = {}
        self.rejections: dict[str, Explanation] = {}
        self.stream_rejected_other = 0
        self._seen = 0
        self._placed = 0
        self._rejected = 0
        sched = cloud.scheduler
        for g in spec.groups:
            sched.create_group(g.name, g.strategy, g.partitions)
        self._background_load()
        self._draw_stream(spec.requests)
        for fault in spec.faults:
            self._schedule_fault(fault)

    # -- the world as it starts --------------------------------------------------------
    def _background_load(self) -> None:
        rng = self.cloud.rng
        for zone in self.cloud.hardware.zones.values():
            if zone.load_pct <= 0:
                continue
            cpu = ram = 0
            for host in zone.hosts():
                pct = min(100, max(0, zone.load_pct + rng.randint(-BACKGROUND_SPREAD_PCT, BACKGROUND_SPREAD_PCT)))
                vcpus = host.vcpus * pct // 100 // 2 * 2  # whole 2-vCPU slices
                ram_mib = host.ram_mib * pct // 100 // 1024 * 1024  # whole GiB
                if vcpus or ram_mib:
                    host.claim(vcpus, ram_mib)
                    self.cloud.scheduler.note(host)
                    self.background[host.id] = (vcpus, ram_mib)
                    cpu += vcpus
                    ram += ram_mib
            self.cloud.emit("fleet.background", zone=zone.id, load_pct=zone.load_pct, vcpus=cpu, ram_mib=ram)

    def _draw_stream(self, spec: RequestStreamSpec) -> None:
        count, every, prefix, lifetime = spec.count, spec.every_ms, spec.prefix, spec.lifetime_ms
        start = every if spec.start_ms is None else spec.start_ms
        total = sum(w for _, w in self.mix)
        width = len(str(count))
        rng = self.cloud.rng
        for n in range(count):
            x = rng.random() * total
            for type_name, weight in self.mix:
                if x < weight:
                    break
                x -= weight
            life = rng.randint(lifetime[0], lifetime[1]) if lifetime else 0
            r = StreamRequest(f"{prefix}-{n + 1:0{width}d}", CATALOGUE[type_name], start + n * every, life)
            self.requests[r.name] = r
            self.cloud.clock.schedule(r.arrive_ms, lambda r=r: self._arrive(r))

    def _schedule_fault(self, fault: TimedFaultSpec) -> None:
        # One implementation of a timed fault: the world timeline's (cloud/timeline.py).
        from .timeline import ACTION_OF, TimedFault, schedule_fault

        health = Health(fault.health)
        schedule_fault(self.cloud, TimedFault(fault.at_ms, ACTION_OF[health], fault.kind, fault.id))

    # -- the stream --------------------------------------------------------------------
    def pending(self) -> list[StreamRequest]:
        return [r for r in self.requests.values() if r.state == "pending"]

    def request_of(self, r: StreamRequest) -> Request:
        t = r.type
        return Request(r.name, t.vcpus, t.ram_mib, t.disk_gib)

    def _arrive(self, r: StreamRequest) -> None:
        if r.state != "pending":
            return
        try:
            self._launch(r, None)
        except CloudError as exc:
            r.state = "rejected"
            r.error = str(exc)
            if exc.code != "InsufficientInstanceCapacity":
                self.stream_rejected_other += 1
            if self.cloud.scheduler.explains:
                self.rejections[r.name] = self.cloud.scheduler.explain(self.request_of(r))

    def _launch(self, r: StreamRequest, host: str | None) -> None:
        control = self.cloud.control
        inst = control.launch(r.name, r.type.name, host=host)
        r.state = "placed"
        r.how = "manual" if host else "auto"
        r.host = inst.host.id if inst.host else ""
        if r.lifetime_ms:

            def depart() -> None:
                if control.instances.get(inst.name) is inst and inst.alive:
                    control.terminate(inst.name)

            self.cloud.clock.schedule_in(r.lifetime_ms, depart)

    def place(self, name: str, host_id: str) -> StreamRequest:
        """Place a pending request on a host of the player's choosing. Checked first by the
        same filters the scheduler uses; a refusal changes nothing."""
        r = self.requests.get(name)
        if r is None:
            shown = ", ".join(x.name for x in self.pending()[:5])
            raise CloudError("InvalidRequest.NotFound", f"no request named {name!r} (pending: {shown or 'none'})")
        if r.state != "pending":
            raise CloudError("IncorrectState", f"request {name} is already {r.state}")
        if host_id not in self.cloud.hardware.hosts:
            raise CloudError("InvalidHostID.NotFound", f"no host named {host_id!r}")
        req = self.request_of(r)
        expl = self.cloud.scheduler.explain(Request(req.name, req.vcpus, req.ram_mib, req.disk_gib, host=host_id))
        row = expl.rows[0]
        if row.reason is not None:
            raise CloudError("InsufficientInstanceCapacity", f"{host_id} fails the {row.reason} filter: {row.detail}")
        self._launch(r, host_id)
        return r

    # -- metrics ---------------------------------------------------------------------
    def _scan_log(self) -> None:
        log = self.cloud.log
        for event in log.since(self._seen):
            if event.kind == "launch.requested":
                self._placed += 1
            elif event.kind == "launch.failed" and event.get("step") == "find_server":
                self._rejected += 1
        self._seen = len(log)

    def metrics(self) -> dict[str, float | int]:
        self._scan_log()
        cloud = self.cloud
        cfg = cloud.scheduler.config
        hosts = list(cloud.hardware.hosts.values())
        max_util = 0.0
        empty = 0
        zone_use: dict[str, list[int]] = {}
        for h in hosts:
            if not h.up:
                continue
            empty += h.used_vcpus == 0 and h.used_ram_mib == 0
            cc, cr = cpu_capacity(h, cfg), ram_capacity(h, cfg)
            max_util = max(max_util, utilisation(h.used_vcpus, cc, h.used_ram_mib, cr))
            z = zone_use.setdefault(h.rack.zone.id, [0, 0, 0, 0])
            z[0] += h.used_vcpus
            z[1] += cc
            z[2] += h.used_ram_mib
            z[3] += cr
        zone_utils = [utilisation(*z) for z in zone_use.values()]
        on_degraded = sum(
            1 for i in cloud.control.instances.values() if i.alive and i.host is not None and is_degraded(i.host)
        )
        states = {"pending": 0, "placed": 0, "rejected": 0}
        for r in self.requests.values():
            states[r.state] += 1
        out: dict[str, float | int] = {
            "placed": self._placed,
            "rejected": self._rejected + self.stream_rejected_other,
            "fragmentation": fragmentation(hosts, cloud.scheduler, self.ref.vcpus, self.ref.ram_mib),
            "on_degraded_hosts": on_degraded,
            "zone_imbalance": round(max(zone_utils) - min(zone_utils), 2) if zone_utils else 0.0,
            "max_host_util": round(max_util, 2),
            "hosts_empty": empty,
            "requests_pending": states["pending"],
            "requests_placed": states["placed"],
            "requests_rejected": states["rejected"],
            "migrations": cloud.log.count("migration.completed"),
        }
        for name, group in cloud.scheduler.groups.items():
            out.update(group_metrics(name, [m.host for m in group.live().values()]))
        return out


def group_metrics(name: str, hosts: list[Host]) -> dict[str, int]:
    per_rack: dict[str, int] = {}
    for h in hosts:
        per_rack[h.rack.id] = per_rack.get(h.rack.id, 0) + 1
    # The longest path between two members is set by the widest domain they span.
    if len({h.rack.zone.id for h in hosts}) > 1:
        hops = network_hops(hosts[0], next(h for h in hosts if h.rack.zone is not hosts[0].rack.zone))
    elif len(per_rack) > 1:
        hops = network_hops(hosts[0], next(h for h in hosts if h.rack is not hosts[0].rack))
    elif len({id(h) for h in hosts}) > 1:
        hops = network_hops(hosts[0], next(h for h in hosts if h is not hosts[0]))
    else:
        hops = 0
    return {
        f"group_size.{name}": len(hosts),
        f"group_racks.{name}": len(per_rack),
        f"group_zones.{name}": len({h.rack.zone.id for h in hosts}),
        f"group_max_per_rack.{name}": max(per_rack.values(), default=0),
        f"group_max_hops.{name}": hops,
    }


# -- live migration -------------------------------------------------------------------------


def migration_ms(ram_mib: int, gbps: int) -> int:
    """One pre-copy pass of the guest's RAM over the NIC (MiB -> megabits at gbps * 1000
    megabits per second). Real live migration repeats the copy for pages the guest
    dirtied meanwhile, then pauses it briefly for the last ones; the game copies once."""
    return max(1, -(-ram_mib * 8_388_608 // (gbps * 1_000_000)))


def migrate(cloud: "Cloud", name: str, host_id: str | None = None) -> tuple[Host, Host, int]:
    """Live-migrate a running instance, as Nova's live migration does: the scheduler picks
    a destination in the same zone (or checks the one given) with the same filters, the
    destination is claimed at once, and the source is released when the copy is done
    (both hold the instance's slices meanwhile, as Nova keeps allocations on both).
    Returns (source, destination, duration in ms)."""
    control = cloud.control
    inst = control.get(name)
    if inst.state != "running":
        raise CloudError("IncorrectInstanceState", f"instance {name} is {inst.state}; only a running instance migrates")
    migrations = control.migrating
    if name in migrations:
        raise CloudError("IncorrectInstanceState", f"instance {name} is already migrating")
    if host_id is not None and host_id not in cloud.hardware.hosts:
        raise CloudError("InvalidHostID.NotFound", f"no host named {host_id!r}")
    src = inst.host
    assert src is not None
    sched = cloud.scheduler
    membership = sched.group_of(name)
    t = inst.type
    req = Request(
        name,
        t.vcpus,
        t.ram_mib,
        t.disk_gib if inst.disk is not None else 0,
        (src.rack.zone.id,),
        group=membership[0].name if membership else "",
        partition=membership[1].partition if membership else 0,
        host=host_id or "",
        ignore_hosts=(src.id,),
    )
    try:
        dst = sched.select(req)
    except NoValidHost as exc:
        where = f"host {host_id}" if host_id else f"zone {src.rack.zone.id}"
        raise CloudError("NoValidHost", f"no other host in {where} can take {name}: filtered out: {exc}") from None
    cloud.api_call("LiveMigrateInstance", instance=name, destination=dst.id)
    dst.claim(t.vcpus, t.ram_mib)
    src_disk = inst.disk if inst.disk_claimed else None
    if src_disk is not None:
        disks = [d for d in dst.disks if d.up and d.free_gib >= t.disk_gib]
        dst_disk = max(disks, key=lambda d: (d.free_gib, -dst.disks.index(d)))
        dst_disk.used_gib += t.disk_gib
        inst.disk = dst_disk
    src.instances.pop(name, None)
    dst.instances[name] = inst
    inst.host = dst
    sched.commit(req, dst, inst)
    duration = migration_ms(t.ram_mib, min(n.gbps for n in src.nics + dst.nics) if src.nics and dst.nics else 25)
    migrations[name] = (src.id, dst.id)
    cloud.emit("migration.started", instance=name, source=src.id, destination=dst.id, duration_ms=duration)

    def done() -> None:
        src.release(t.vcpus, t.ram_mib)
        if src_disk is not None:
            src_disk.used_gib -= t.disk_gib
        sched.note(src)
        migrations.pop(name, None)
        cloud.emit("migration.completed", instance=name, source=src.id, destination=dst.id)

    cloud.clock.schedule_in(duration, done)
    return src, dst, duration


def attach(cloud: "Cloud", spec: FleetSpec) -> Fleet:
    fleet = Fleet(cloud, spec)
    cloud.metric_sources.append(fleet.metrics)
    return fleet


# -- what the mechanism publishes ------------------------------------------------------------
METRICS = metrics(
    ("placed", "launch requests placed"),
    ("rejected", "launch requests no host could take"),
    ("fragmentation", "the share of free capacity stranded on hosts too small"),
    ("on_degraded_hosts", "instances on degraded hardware"),
    ("zone_imbalance", "the busiest zone's utilisation minus the idlest's"),
    ("max_host_util", "the busiest host's utilisation"),
    ("hosts_empty", "hosts up with nothing allocated on them"),
    ("migrations", "live migrations completed"),
    ("requests_pending", "requests of the stream not yet arrived"),
    ("requests_placed", "requests of the stream placed"),
    ("requests_rejected", "requests of the stream rejected"),
    ("group_size.{group}", "instances in a placement group", "placement group {} has no instances yet"),
    ("group_racks.{group}", "racks a placement group spans", "placement group {} has no instances yet"),
    ("group_zones.{group}", "zones a placement group spans", "placement group {} has no instances yet"),
    ("group_max_per_rack.{group}", "the most members of a placement group on one rack", "placement group {} has no instances yet"),
    ("group_max_hops.{group}", "the longest network path between two members of a group", "placement group {} has no instances yet"),
)
EVENTS = events(
    ("fleet.background", "zone load_pct vcpus ram_mib", "other tenants' load was carved out of a zone"),
    ("migration.started", "instance source destination duration_ms", "a live migration began"),
    ("migration.completed", "instance source destination", "a live migration finished"),
)
