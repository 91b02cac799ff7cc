"""Hardware: regions -> zones -> racks -> hosts -> disks and NICs, and the links between.

This is the bottom of the stack. A region holds availability zones (each one or more
data centres with their own power, cooling and networking, apart from the other zones);
a zone holds racks (one top-of-rack switch and one power feed each, so a rack is a
failure domain of its own); a rack holds hosts (physical servers with sockets of cores,
RAM, local disks and network cards).

Every piece has a health: ``healthy``, ``degraded`` (still serving, but slow or flaky: the
scheduler should avoid it) or ``failed``. A thing is *up* only if it and everything above
it is not failed: a failed rack takes all of its hosts with it, whatever their own health.

Links are objects too: every rack has an uplink to its zone's fabric, and every pair of
zones in a region is joined by a link, so later chapters can cut them. The zones of a
region are meshed (AWS joins them with redundant, low-latency fibre): when one
zone-to-zone link is cut, traffic between those two zones goes round through a third
(:meth:`Hardware.zone_latency_us`).

A mechanism may add parts of its own that fail and repair like hardware: more links (the
routing fabric's cables, in ``links``) and parts of kinds the fleet does not have (the
fabric's switches, the edge network's points of presence), with :meth:`Hardware.add_parts`.
Each has an ``id`` and a ``health``; ``faults.set_health`` and the chaos timeline act on
them as on a disk or a host.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .world import HARDWARE_KINDS, DiskSpec

if TYPE_CHECKING:
    from .world import CoreWorld, HostSpec


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILED = "failed"


@dataclass(eq=False)
class Disk:
    id: str
    host: "Host"
    size_gib: int
    used_gib: int = 0
    health: Health = Health.HEALTHY
    read_ms: float = 5.0
    # Its data is gone (the disk, or a part it is in, was destroyed): set by faults.act
    # until a repair puts new hardware in its place.
    destroyed: bool = False

    @property
    def free_gib(self) -> int:
        return self.size_gib - self.used_gib

    @property
    def up(self) -> bool:
        return self.health is not Health.FAILED and self.host.up


@dataclass(eq=False)
class Nic:
    id: str
    host: "Host"
    gbps: int = 25


@dataclass(eq=False)
class Host:
    """A physical server. ``vcpus`` counts hardware threads (pCPUs), ``ram_mib`` its RAM.

    ``used_vcpus``/``used_ram_mib`` are what the hypervisor has carved out for guests.
    """

    id: str
    rack: "Rack"
    vcpus: int
    ram_mib: int
    disks: list[Disk] = field(default_factory=list)
    nics: list[Nic] = field(default_factory=list)
    health: Health = Health.HEALTHY
    used_vcpus: int = 0
    used_ram_mib: int = 0
    instances: dict[str, Any] = field(default_factory=dict)

    @property
    def zone(self) -> "Zone":
        return self.rack.zone

    @property
    def region(self) -> "Region":
        return self.rack.zone.region

    @property
    def up(self) -> bool:
        return self.health is not Health.FAILED and self.rack.up

    @property
    def ram_gib(self) -> float:
        return self.ram_mib / 1024

    @property
    def disk_gib(self) -> int:
        return sum(d.size_gib for d in self.disks)

    def claim(self, vcpus: int, ram_mib: int) -> None:
        """The hypervisor sets aside a guest's CPU and RAM slices (the scheduler checked
        they fit)."""
        self.used_vcpus += vcpus
        self.used_ram_mib += ram_mib

    def release(self, vcpus: int, ram_mib: int) -> None:
        self.used_vcpus -= vcpus
        self.used_ram_mib -= ram_mib
        if self.used_vcpus < 0 or self.used_ram_mib < 0:
            raise AssertionError(f"host {self.id} released more than it held")


@dataclass(eq=False)
class Rack:
    id: str
    zone: "Zone"
    hosts: list[Host] = field(default_factory=list)
    health: Health = Health.HEALTHY
    uplinks: list["Link"] = field(default_factory=list)

    @property
    def up(self) -> bool:
        if self.health is Health.FAILED or not self.zone.up:
            return False
        return not self.uplinks or any(link.health is not Health.FAILED for link in self.uplinks)


@dataclass(eq=False)
class Zone:
    id: str
    region: "Region"
    racks: list[Rack] = field(default_factory=list)
    health: Health = Health.HEALTHY
    load_pct: int = 0

    @property
    def up(self) -> bool:
        return self.health is not Health.FAILED

    def hosts(self) -> list[Host]:
        return [h for r in self.racks for h in r.hosts]


@dataclass(eq=False)
class Region:
    id: str
    zones: list[Zone] = field(default_factory=list)


@dataclass(eq=False)
class Link:
    """A network link: a rack's uplink to its zone fabric, or a zone-to-zone link."""

    id: str
    a: str
    b: str
    latency_us: int
    gbps: int
    health: Health = Health.HEALTHY


KINDS = HARDWARE_KINDS
DEFAULT_DISK = DiskSpec(size_gib=500)


class Hardware:
    """The physical fleet, indexed by id. Built once from a world spec."""

    def __init__(self) -> None:
        self.regions: dict[str, Region] = {}
        self.zones: dict[str, Zone] = {}
        self.racks: dict[str, Rack] = {}
        self.hosts: dict[str, Host] = {}
        self.disks: dict[str, Disk] = {}
        self.links: dict[str, Link] = {}
        # Parts of kinds a mechanism adds (kind -> id -> part with .id and .health).
        self.parts: dict[str, dict[str, Any]] = {}
        # Bumped on every health change, so derived views (which hosts are down) are
        # recomputed only when something actually changed.
        self.health_version = 0
        self._down: tuple[int, list[Host], int, int] | None = None
        self._zone_latency: tuple[tuple[int, int], dict[tuple[str, str], int | None]] = ((0, 0), {})

    def down_hosts(self) -> list[Host]:
        return self._down_view()[1]

    def _down_view(self) -> tuple[int, list[Host], int, int]:
        if self._down is None or self._down[0] != self.health_version:
            down = [h for h in self.hosts.values() if not h.up]
            cpu = sum(h.vcpus for h in self.hosts.values()) - sum(h.vcpus for h in down)
            ram = sum(h.ram_mib for h in self.hosts.values()) - sum(h.ram_mib for h in down)
            self._down = (self.health_version, down, cpu, ram)
        return self._down

    def table(self, kind: str) -> dict[str, Any]:
        builtin = {
            "region": self.regions,
            "zone": self.zones,
            "rack": self.racks,
            "host": self.hosts,
            "disk": self.disks,
            "link": self.links,
        }.get(kind)
        return builtin if builtin is not None else self.parts[kind]

    def add_parts(self, kind: str, parts: dict[str, Any]) -> None:
        """Let a mechanism's parts of a new kind fail and repair like hardware."""
        if kind in KINDS or kind in self.parts:
            raise ValueError(f"part kind {kind!r} already exists")
        self.parts[kind] = parts

    def fault_kinds(self) -> tuple[str, ...]:
        """Every kind of part that can fail here: the fleet's, then the mechanisms'."""
        from .faults import FAULT_KINDS

        return FAULT_KINDS + tuple(self.parts)

    def find(self, kind: str, ident: str) -> Any:
        return self.table(kind).get(ident)

    def zone_latency_us(self, a: str, b: str) -> int | None:
        """The latency of the shortest path between two zones over the zone-to-zone
        links that are not failed (through other zones of the region when the direct link
        is cut), or None when no path is left. 0 within a zone. (Remembered until a part's
        health changes or a link is added.)"""
        if a == b:
            return 0
        version, known = self._zone_latency
        if version != (self.health_version, len(self.links)):
            known = {}
            self._zone_latency = ((self.health_version, len(self.links)), known)
        if (a, b) not in known:
            known[(a, b)] = self._shortest_zone_path_us(a, b)
        return known[(a, b)]

    def _shortest_zone_path_us(self, a: str, b: str) -> int | None:
        graph: dict[str, list[tuple[str, int]]] = {}
        for link in self.links.values():
            if link.health is Health.FAILED or link.a not in self.zones or link.b not in self.zones:
                continue
            graph.setdefault(link.a, []).append((link.b, link.latency_us))
            graph.setdefault(link.b, []).append((link.a, link.latency_us))
        best = {a: 0}
        queue = [(0, a)]
        while queue:
            cost, zone = heapq.heappop(queue)
            if zone == b:
                return cost
            if cost > best.get(zone, cost):
                continue
            for nxt, latency in graph.get(zone, ()):
                if cost + latency < best.get(nxt, cost + latency + 1):
                    best[nxt] = cost + latency
                    heapq.heappush(queue, (cost + latency, nxt))
        return None

    def totals(self) -> tuple[int, int, int, int]:
        """(pCPUs, used vCPUs, RAM MiB, used RAM MiB) over hosts that are up."""
        _, down, cpu, ram = self._down_view()
        hosts = self.hosts.values()
        used_cpu = sum(h.used_vcpus for h in hosts) - sum(h.used_vcpus for h in down)
        used_ram = sum(h.used_ram_mib for h in hosts) - sum(h.used_ram_mib for h in down)
        return cpu, used_cpu, ram, used_ram


def build_hardware(world: "CoreWorld") -> Hardware:
    """Build the fleet from a world's ``regions``.

    Host entries either name one host (``name``) or stamp out ``count`` identical hosts
    named ``<rack>-h<n>``; disks likewise become ``<host>-d<n>``.
    """
    hw = Hardware()
    for region_spec in world.regions:
        region = Region(region_spec.name)
        hw.regions[region.id] = region
        for zone_spec in region_spec.zones:
            zone = Zone(zone_spec.name, region, load_pct=zone_spec.load_pct)
            zone.health = Health(zone_spec.health)
            region.zones.append(zone)
            hw.zones[zone.id] = zone
            for rack_spec in zone_spec.racks:
                rack = Rack(rack_spec.name, zone)
                rack.health = Health(rack_spec.health)
                zone.racks.append(rack)
                hw.racks[rack.id] = rack
                uplink = Link(f"{rack.id}-uplink", rack.id, zone.id, latency_us=5, gbps=400)
                rack.uplinks.append(uplink)
                hw.links[uplink.id] = uplink
                for host_spec in rack_spec.hosts:
                    for _ in range(host_spec.count):
                        _add_host(hw, rack, host_spec)
        zones = region.zones
        for i, za in enumerate(zones):
            for zb in zones[i + 1 :]:
                link = Link(f"{za.id}~{zb.id}", za.id, zb.id, latency_us=500, gbps=1600)
                hw.links[link.id] = link
    return hw


def _add_host(hw: Hardware, rack: Rack, spec: "HostSpec") -> Host:
    name = spec.name if spec.count == 1 and spec.name else f"{rack.id}-h{len(rack.hosts) + 1}"
    host = Host(name, rack, vcpus=spec.vcpus, ram_mib=int(round(spec.ram_gib * 1024)))
    host.health = Health(spec.health)
    for disk_spec in spec.disks or [DEFAULT_DISK]:
        for _ in range(disk_spec.count):
            disk = Disk(f"{host.id}-d{len(host.disks) + 1}", host, disk_spec.size_gib)
            disk.health = Health(disk_spec.health)
            disk.read_ms = disk_spec.read_ms
            host.disks.append(disk)
            hw.disks[disk.id] = disk
    host.nics.append(Nic(f"{host.id}-nic1", host, gbps=spec.nic_gbps))
    rack.hosts.append(host)
    hw.hosts[host.id] = host
    return host
