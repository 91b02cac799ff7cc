"""The routing fabric: the physical network inside a cloud, as a graph.

Inside a region nothing is one big switch. What the game builds from a world's racks,
zones and regions (the shape the large operators have published: Google's Jupiter,
SIGCOMM 2015; Facebook's data center fabric, 2014; Al-Fares et al., SIGCOMM 2008):

- every host has one link to its rack's **top-of-rack switch** (ToR, or *leaf*);
- every ToR has one uplink to each **spine** switch of its zone: a two-tier *Clos*
  (leaf-spine) fabric, in which any two racks are two hops apart through any spine;
- the spines connect to the zone's **zone routers**; zone routers of one region reach
  each other over the zones' interconnect (the world's ``zone~zone`` links) and reach the
  region's **region routers**, which carry the private **backbone** to other regions
  and hand traffic for the outside world to the **edge routers**, where the public
  internet begins.

Routing follows the shortest (lowest-latency) paths, and where several are equally
short every switch spreads flows over them by **equal-cost multipath** (ECMP): it
hashes fields of the packet header and takes the result modulo its number of equal next
hops, so all packets of one flow follow one path (no reordering) while many flows spread
over all paths. Hashing the whole 5-tuple spreads best; hashing only the addresses puts
every flow between two hosts on one path. Each switch mixes its own seed into the hash,
as real ones do, so choices at successive hops are independent.

A fabric is usually **oversubscribed**: a ToR with 32 hosts at 25 Gbps (800 Gbps down)
and four 100 Gbps uplinks (400 up) is 2:1. Links carry what fits; a link asked for more
than its capacity shares it out, and the rest is dropped.

**Failures and convergence.** A cut cable or a switch losing power is seen at once by
its neighbours (the light goes out); a switch that hangs with its ports still lit is
only noticed when its routing sessions time out: BGP's hold timer, 90 s as RFC 4271
suggests, or BFD's fast hellos (RFC 5880; 3 x 300 ms here). Once noticed, withdrawals
spread and every switch rewrites its tables (``converge_s``). Until then flows whose
path crosses the dead part are black-holed; afterwards ECMP spreads them over what is
left.

Between regions, traffic rides the provider's private backbone; the same two regions
can also be reached over the public internet, whose paths are longer (they follow
whatever peering the ISPs have), jitter more and lose packets. Latency is distance: light
in fibre covers about 200 km per millisecond, and a path is longer than the great
circle by a *stretch* factor.

What the game simplifies: flows are steady streams (Gbps) that start and stop, not
packets; a congested link drops what exceeds its capacity evenly over its flows (real
TCP backs off); routing metrics are link latencies, and a switch's hash is CRC-32 over
the hashed header fields with its seed; one failure is one element; internet paths are
drawn for ``traceroute`` only (the cloud's own traffic never uses them).
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import Field, model_validator

from .hardware import Health, Link
from .mechanism import Metric, events, metrics
from .world import CoreWorld, Strict, known, world_ids

if TYPE_CHECKING:
    import networkx as nx

    from .cloud import Cloud

HashFields = Literal["5-tuple", "3-tuple", "2-tuple"]
HASH_FIELDS: tuple[str, ...] = get_args(HashFields)
Detection = Literal["hold-timer", "bfd"]
DETECTIONS: tuple[str, ...] = get_args(Detection)
FIBRE_KM_PER_MS = 200.0  # light in glass: about two thirds of c
EARTH_KM = 6371.0
BFD_DETECT_S = 0.9  # 3 missed hellos at 300 ms (RFC 5880's detect multiplier x interval)
TIERS = ("host", "tor", "spine", "zone-router", "region-router", "edge-router")
SWITCH_TIERS = TIERS[1:]
# link latencies inside a region, microseconds (a hop's switching plus a short cable)
HOST_US, TOR_US, SPINE_US, ZONE_RTR_US, EDGE_US = 2, 4, 10, 20, 10
MAX_FLOWS = 200_000
LINK_TIER = {
    frozenset(("host", "tor")): "host",
    frozenset(("tor", "spine")): "tor-spine",
    frozenset(("spine", "zone-router")): "spine-zone",
    frozenset(("zone-router",)): "zone-zone",
    frozenset(("zone-router", "region-router")): "zone-region",
    frozenset(("region-router", "edge-router")): "region-edge",
}
_FIVE = struct.Struct(">IHIHB")
_THREE = struct.Struct(">IIB")
_TWO = struct.Struct(">II")


# -- the world section ----------------------------------------------------------------------
class SiteSpec(Strict):
    region: str
    city: str = Field(min_length=1, max_length=40)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class BackboneSpec(Strict):
    a: str
    b: str
    gbps: int = Field(default=400, ge=1, le=1_000_000)


class InternetSpec(Strict):
    stretch: float = Field(default=2.0, ge=1, le=10, description="internet path length over the great circle")
    hop_ms: float = Field(default=0.5, ge=0, le=100, description="queueing and forwarding per ISP router")
    jitter_ms: float = Field(default=8, ge=0, le=1000, description="a probe's extra delay, up to this much")
    loss_pct: float = Field(default=1.0, ge=0, le=100, description="the chance a probe is lost at each ISP hop")


class FlowGroupSpec(Strict):
    """One entry of the traffic matrix: ``flows`` streams from hosts of ``src`` (a host,
    rack, zone or region) to hosts of ``dst``, ``gbps`` in all."""

    name: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{0,31}$")
    src: str
    dst: str
    flows: int = Field(ge=1, le=MAX_FLOWS)
    gbps: float = Field(gt=0, le=1_000_000)
    at_s: float = Field(default=0, ge=0)
    for_s: float | None = Field(default=None, gt=0)
    pairs: int | None = Field(default=None, ge=1, description="use only this many host pairs (elephant flows between a few hosts)")


class FabricSpec(Strict):
    """The routing fabric: leaf-spine per zone, routers, the backbone, the internet."""

    spines_per_zone: int = Field(default=4, ge=1, le=64)
    tor_uplink_gbps: int = Field(default=100, ge=1, le=100_000)
    spine_uplink_gbps: int = Field(default=400, ge=1, le=100_000)
    zone_routers: int = Field(default=2, ge=1, le=16)
    region_routers: int = Field(default=2, ge=1, le=16)
    edge_routers: int = Field(default=2, ge=1, le=16)
    zone_link_gbps: int = Field(default=800, ge=1, le=1_000_000, description="each zone router pair across two zones")
    region_link_gbps: int = Field(default=800, ge=1, le=1_000_000, description="each zone router to region router link")
    ecmp: bool = True
    hash_fields: HashFields = "5-tuple"
    detection: Detection = "hold-timer"
    hold_time_s: float = Field(default=90, ge=3, le=65_535, description="BGP hold time (RFC 4271 suggests 90 s)")
    converge_s: float = Field(default=1.0, ge=0, le=600, description="from a failure noticed to every table rewritten")
    backbone_stretch: float = Field(default=1.5, ge=1, le=10, description="cable path length over the great circle")
    sites: list[SiteSpec] = Field(default_factory=list, description="where each region is")
    backbone: list[BackboneSpec] | None = Field(default=None, description="default: every pair of regions, 400 Gbps")
    internet: InternetSpec = Field(default_factory=InternetSpec)
    flows: list[FlowGroupSpec] = Field(default_factory=list, description="the traffic matrix")

    @model_validator(mode="after")
    def _sites_once(self) -> "FabricSpec":
        regions = [s.region for s in self.sites]
        if len(set(regions)) != len(regions):
            raise ValueError("each region's site may be given once")
        names = [f.name for f in self.flows if f.name]
        if len(set(names)) != len(names):
            raise ValueError("flow group names must be unique")
        return self

    def part_ids(self, world: CoreWorld) -> dict[str, set[str]]:
        """The switches and links this fabric adds, so a timeline may fail them."""
        topo = layout(world, self)
        return {"switch": set(topo.switches), "link": set(topo.links)}


def check_world(world: CoreWorld, spec: FabricSpec) -> None:
    ids = world_ids(world)
    regions = ids["region"]
    for s in spec.sites:
        if s.region not in regions:
            raise ValueError(f"fabric site: no region {s.region!r} (regions: {known(regions)})")
    for b in spec.backbone or []:
        for r in (b.a, b.b):
            if r not in regions:
                raise ValueError(f"fabric backbone: no region {r!r} (regions: {known(regions)})")
        if b.a == b.b:
            raise ValueError("a backbone link joins two different regions")
    if len(regions) > 1:
        missing = sorted(regions - {s.region for s in spec.sites})
        if missing:
            raise ValueError(f"fabric: give a site (city, lat, lon) for every region; missing {', '.join(missing)}")
    groups = ids["host"] | ids["rack"] | ids["zone"] | regions
    for f in spec.flows:
        for end in (f.src, f.dst):
            if end not in groups:
                raise ValueError(f"fabric flows: no host, rack, zone or region {end!r}")


# -- the topology, named from the world -----------------------------------------------------------
@dataclass
class Layout:
    """Every switch and link of the fabric, by name (built from the world alone)."""

    switches: dict[str, tuple[str, str | None, str]] = field(default_factory=dict)  # id -> (tier, zone, region)
    links: dict[str, tuple[str, str, int, float, str, str | None]] = field(default_factory=dict)
    # link id -> (a, b, latency_us, gbps, kind, bundle: the world's own link it rides on)


def great_circle_km(a: SiteSpec, b: SiteSpec) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def layout(world: CoreWorld, spec: FabricSpec) -> Layout:
    out = Layout()

    def link(a: str, b: str, us: int, gbps: float, kind: str = "fabric", bundle: str | None = None) -> None:
        out.links[f"{a}~{b}"] = (a, b, us, gbps, kind, bundle)

    sites = {s.region: s for s in spec.sites}
    for region in world.regions:
        r = region.name
        rrs = [f"rr-{r}-{k}" for k in range(1, spec.region_routers + 1)]
        ers = [f"er-{r}-{k}" for k in range(1, spec.edge_routers + 1)]
        for x in rrs:
            out.switches[x] = ("region-router", None, r)
        for x in ers:
            out.switches[x] = ("edge-router", None, r)
        for x in rrs:
            for y in ers:
                link(x, y, EDGE_US, spec.region_link_gbps)
        zones = [z.name for z in region.zones]
        for zone in region.zones:
            z = zone.name
            spines = [f"spine-{z}-{k}" for k in range(1, spec.spines_per_zone + 1)]
            zrs = [f"zr-{z}-{k}" for k in range(1, spec.zone_routers + 1)]
            for x in spines:
                out.switches[x] = ("spine", z, r)
            for x in zrs:
                out.switches[x] = ("zone-router", z, r)
                for y in rrs:
                    link(x, y, ZONE_RTR_US, spec.region_link_gbps)
            for x in spines:
                for y in zrs:
                    link(x, y, SPINE_US, spec.spine_uplink_gbps)
            for rack in zone.racks:
                tor = f"tor-{rack.name}"
                out.switches[tor] = ("tor", z, r)
                for x in spines:
                    link(tor, x, TOR_US, spec.tor_uplink_gbps, bundle=f"{rack.name}-uplink")
        for i, za in enumerate(zones):
            for zb in zones[i + 1 :]:
                for k in range(1, spec.zone_routers + 1):
                    link(f"zr-{za}-{k}", f"zr-{zb}-{k}", 500, spec.zone_link_gbps, bundle=f"{za}~{zb}")
    regions = [r.name for r in world.regions]
    pairs = (
        [(b.a, b.b, b.gbps) for b in spec.backbone]
        if spec.backbone is not None
        else [(a, b, 400) for i, a in enumerate(regions) for b in regions[i + 1 :]]
    )
    for a, b, gbps in pairs:
        if a in sites and b in sites:
            ms = great_circle_km(sites[a], sites[b]) * spec.backbone_stretch / FIBRE_KM_PER_MS
            for k in range(1, spec.region_routers + 1):
                link(f"rr-{a}-{k}", f"rr-{b}-{k}", max(1, int(round(ms * 1000))), gbps, kind="backbone")
    return out


# -- state ----------------------------------------------------------------------------------------
@dataclass(eq=False)
class Switch:
    id: str
    tier: str
    zone: str | None
    region: str
    health: Health = Health.HEALTHY


class Flow:
    __slots__ = ("id", "group", "src", "dst", "header", "hkey", "gbps", "_path", "hops", "end_ms", "rate")

    def __init__(self, ident: int, group: str, src: str, dst: str, header: tuple[int, int, int, int, int], gbps: float) -> None:
        self.id = ident
        self.group = group
        self.src = src
        self.dst = dst
        self.header = header
        self.hkey = b""
        self.gbps = gbps
        self.path = None
        self.end_ms: int | None = None
        self.rate = 0.0  # delivered Gbps

    @property
    def path(self) -> list[str] | None:
        """The nodes the flow crosses (None: no route)."""
        return self._path

    @path.setter
    def path(self, path: list[str] | None) -> None:
        # its hops (node pairs) are kept beside it: every recompute of the loads reads them
        self._path = path
        self.hops: list[tuple[str, str]] = list(zip(path, path[1:])) if path is not None else []


@dataclass
class Hop:
    node: str
    one_way_us: float
    choices: int = 1  # equal-cost next hops the previous switch chose among
    lost: bool = False
    kind: str = "fabric"


@dataclass
class Trace:
    src: str
    dst: str
    via: str
    hops: list[Hop]
    rtt_ms: float
    paths: int
    header: tuple[int, int, int, int, int]


class Fabric:
    def __init__(self, cloud: "Cloud", spec: FabricSpec) -> None:
        self.cloud = cloud
        self.spec = spec
        self.ecmp = spec.ecmp
        self.hash_fields = spec.hash_fields
        self.detection = spec.detection
        world = cloud.world
        self.layout = layout(world, spec)
        hw = cloud.hardware
        self.switches: dict[str, Switch] = {i: Switch(i, t, z, r) for i, (t, z, r) in self.layout.switches.items()}
        self.links: dict[str, Link] = {}
        self.bundle: dict[str, str] = {}
        self.kind: dict[str, str] = {}
        self.link_between: dict[tuple[str, str], str] = {}
        import networkx as nx  # here, not at the top: most worlds have no fabric, and every start paid 0.1 s for it

        self.graph = nx.Graph()
        for sid, sw in self.switches.items():
            self.graph.add_node(sid, tier=sw.tier)
        self.tor_of: dict[str, str] = {}
        self.addr: dict[str, int] = {}
        for n, host in enumerate(hw.hosts.values()):
            tor = f"tor-{host.rack.id}"
            self.tor_of[host.id] = tor
            self.addr[host.id] = 0x0A000000 + 256 + n
            self.graph.add_node(host.id, tier="host")
            lid = f"{host.id}~{tor}"
            gbps = host.nics[0].gbps if host.nics else 25
            self._add_link(Link(lid, host.id, tor, HOST_US, gbps), "fabric", None)
        for lid, (a, b, us, gbps, kind, bundle) in self.layout.links.items():
            self._add_link(Link(lid, a, b, us, int(gbps)), kind, bundle)
        for lid, link in self.links.items():
            if lid in hw.links:
                raise ValueError(f"fabric link {lid} clashes with a link of the world")
            hw.links[lid] = link
        hw.add_parts("switch", self.switches)
        self.sites = {s.region: s for s in spec.sites}
        self.seed = {n: zlib.crc32(n.encode()) for n in self.graph.nodes}
        # routing state: what the switches have installed, and what is known to be down
        self.version = 0
        self.installed_down: frozenset[str] = frozenset()
        self.known_down: set[str] = set()
        self.seen_down: set[str] = set()
        self._rgraph: nx.Graph | None = None
        self._dist: dict[str, dict[str, int]] = {}
        self._next: dict[tuple[str, str], list[str]] = {}
        self.pending_installs = 0
        self.convergences = 0
        self.last_took_s: float | None = None
        self.down_since: dict[str, int] = {}
        # traffic
        self.flows: dict[int, Flow] = {}
        self._flow_seq = 0
        self.load: dict[tuple[str, str], float] = {}
        self.offered_gbps = 0.0
        self.delivered_gbps = 0.0
        self.blackholed = 0
        self.blackholed_gbps = 0.0
        # Traffic so far, Gbit: offered, black-holed, dropped, up to the last change of
        # the rates, plus the time spent at the rates now. Integrating in whole
        # milliseconds makes one long step the same as many short ones.
        self._gbit_before = (0.0, 0.0, 0.0)
        self._ms_at_rates = 0
        self.last_trace: Trace | None = None
        self._hosts_in: dict[str, list[str]] = {}
        self._refresh_keys()

    def _add_link(self, link: Link, kind: str, bundle: str | None) -> None:
        self.links[link.id] = link
        self.kind[link.id] = kind
        if bundle:
            self.bundle[link.id] = bundle
        self.graph.add_edge(link.a, link.b, us=link.latency_us, link=link.id)
        # the graph's edge attribute again, either way round: read for every hop of every
        # flow when the loads are recomputed, without going through networkx's views
        self.link_between[(link.a, link.b)] = self.link_between[(link.b, link.a)] = link.id

    # -- what is up ------------------------------------------------------------------------------
    def node_up(self, node: str) -> bool:
        """Whether a host or switch forwards packets."""
        sw = self.switches.get(node)
        if sw is not None and sw.health is Health.FAILED:
            return False
        return self.powered(node)

    def powered(self, node: str) -> bool:
        """Whether a node's lights are on: a hung switch (failed, with its building and
        rack still powered) keeps its ports lit, so its neighbours see nothing wrong."""
        hw = self.cloud.hardware
        host = hw.hosts.get(node)
        if host is not None:
            return host.health is not Health.FAILED and host.rack.health is not Health.FAILED and host.rack.zone.up
        sw = self.switches[node]
        if sw.tier == "tor":
            rack = hw.racks[node[4:]]
            return rack.health is not Health.FAILED and rack.zone.up
        return sw.zone is None or hw.zones[sw.zone].up

    def link_up(self, lid: str) -> bool:
        """Whether a link carries packets: it, the world's link it rides on, and both ends."""
        link = self.links[lid]
        return self.link_lit(lid) and self.node_up(link.a) and self.node_up(link.b)

    def link_lit(self, lid: str) -> bool:
        """Whether a link's light is on (what its ends can see at once)."""
        link = self.links[lid]
        if link.health is Health.FAILED:
            return False
        bundle = self.bundle.get(lid)
        if bundle is not None:
            outer = self.cloud.hardware.links.get(bundle)
            if outer is not None and outer.health is Health.FAILED:
                return False
        return self.powered(link.a) and self.powered(link.b)

    def down_now(self) -> set[str]:
        """Every node that does not forward and every link that is dark."""
        down = {n for n in self.graph.nodes if not self.node_up(n)}
        down |= {lid for lid in self.links if not self.link_lit(lid)}
        return down

    # -- routing ---------------------------------------------------------------------------------
    def _routing_graph(self) -> nx.Graph:
        if self._rgraph is None:
            import networkx as nx

            down = self.installed_down
            g = nx.Graph()
            g.add_nodes_from(n for n in self.graph.nodes if n not in down)
            for a, b, d in self.graph.edges(data=True):
                if d["link"] not in down and a not in down and b not in down and self.kind[d["link"]] != "internet":
                    g.add_edge(a, b, us=d["us"], link=d["link"])
            self._rgraph = g
        return self._rgraph

    def _distances(self, target: str) -> dict[str, int]:
        found = self._dist.get(target)
        if found is None:
            import networkx as nx

            g = self._routing_graph()
            found = nx.single_source_dijkstra_path_length(g, target, weight="us") if target in g else {}
            self._dist[target] = found
        return found

    def next_hops(self, node: str, target: str) -> list[str]:
        """The neighbours on a shortest path from ``node`` to ``target``, sorted."""
        key = (node, target)
        found = self._next.get(key)
        if found is None:
            dist = self._distances(target)
            here = dist.get(node)
            g = self._routing_graph()
            found = []
            if here is not None and node in g:
                for v, d in g[node].items():
                    dv = dist.get(v)
                    if dv is not None and dv + d["us"] == here:
                        found.append(v)
                found.sort()
            self._next[key] = found
        return found

    def _refresh_keys(self) -> None:
        for f in self.flows.values():
            f.hkey = self.hash_key(f.header)

    def hash_key(self, header: tuple[int, int, int, int, int]) -> bytes:
        src, sport, dst, dport, proto = header
        if self.hash_fields == "5-tuple":
            return _FIVE.pack(src, sport, dst, dport, proto)
        if self.hash_fields == "3-tuple":
            return _THREE.pack(src, dst, proto)
        return _TWO.pack(src, dst)

    def route(self, src: str, dst: str, hkey: bytes) -> tuple[list[str] | None, int]:
        """The path a flow takes, hop by hop, as the switches' installed tables send it;
        and how many equal-cost paths there were. None when there is no route."""
        target = self.tor_of.get(dst, dst)
        if src == dst:
            return [src], 1
        path = [src]
        u = src
        paths = 1
        if u in self.tor_of:
            if self.tor_of[u] == target and dst in self.tor_of:
                return [src, target, dst], 1
            u = self.tor_of[u]
            if u in self.installed_down or f"{src}~{u}" in self.installed_down:
                return None, 0
            path.append(u)
        ecmp = self.ecmp
        seed = self.seed
        while u != target:
            hops = self.next_hops(u, target)
            if not hops:
                return None, 0
            if len(hops) > 1:
                paths *= len(hops)
                u = hops[zlib.crc32(hkey, seed[u]) % len(hops)] if ecmp else hops[0]
            else:
                u = hops[0]
            path.append(u)
        if dst != target:
            if f"{dst}~{target}" in self.installed_down or dst in self.installed_down:
                return None, 0
            path.append(dst)
        return path, paths

    def link_id(self, a: str, b: str) -> str:
        return self.graph.edges[a, b]["link"]

    def _install(self) -> None:
        """Every switch rewrites its tables from what is known to be down now."""
        self.pending_installs -= 1
        new = frozenset(self.known_down)
        took = 0.0
        if self.down_since:
            took = (self.cloud.now_ms - min(self.down_since.values())) / 1000
        if new == self.installed_down:
            return
        self.installed_down = new
        self._invalidate()
        moved = self._reroute_all()
        self.convergences += 1
        self._recompute()
        self.down_since = {e: t for e, t in self.down_since.items() if e in self.known_down and e not in new}
        self.last_took_s = took
        self.cloud.emit("fabric.converged", flows_moved=moved, blackholed=self.blackholed, took_s=took, down=len(new))

    def _invalidate(self) -> None:
        self.version += 1
        self._rgraph = None
        self._dist = {}
        self._next = {}

    def _reroute_all(self) -> int:
        moved = 0
        for f in self.flows.values():
            path, _ = self.route(f.src, f.dst, f.hkey)
            if path != f.path:
                moved += 1
                f.path = path
        return moved

    # -- failures --------------------------------------------------------------------------------
    def detect_s(self, element: str) -> float:
        """How long until the neighbours notice ``element`` went down: at once when its
        light goes out (a cable, a power loss), later when a switch hangs silently."""
        sw = self.switches.get(element)
        if sw is not None and sw.health is Health.FAILED:
            return self.spec.hold_time_s if self.detection == "hold-timer" else BFD_DETECT_S
        return 0.0

    def on_health(self, kind: str, ident: str, before: Health, after: Health) -> None:
        now_down = self.down_now()
        new_down = now_down - self.seen_down
        new_up = self.seen_down - now_down
        self.seen_down = now_down
        self._recompute()
        if not new_down and not new_up:
            return
        delays: dict[float, list[str]] = {}
        for e in sorted(new_down):
            self.down_since.setdefault(e, self.cloud.now_ms)
            delays.setdefault(self.detect_s(e), []).append(e)
        if new_up:
            delays.setdefault(0.0, []).extend(sorted(new_up))
        root = ident if ident in self.graph.nodes or ident in self.links else None
        for delay, elements in sorted(delays.items()):
            if delay <= 0:
                self._detect(elements, root)  # the light went out: its neighbours know now
            else:
                self.cloud.clock.schedule_in(int(round(delay * 1000)), lambda els=elements: self._detect(els, root))

    def _detect(self, elements: list[str], root: str | None) -> None:
        """The neighbours notice: what is still down is known down, what came back is
        known up; the switches then converge."""
        now_down = self.down_now()
        noticed = [e for e in elements if e in now_down and e not in self.known_down]
        back = [e for e in elements if e not in now_down and e in self.known_down]
        self.known_down.update(noticed)
        self.known_down.difference_update(back)
        if noticed:
            first = root if root in noticed else noticed[0]
            part = "switch" if first in self.switches else "host" if first in self.tor_of else "link"
            since = min(self.down_since.get(e, self.cloud.now_ms) for e in noticed)
            self.cloud.emit(
                "fabric.failure_detected", part=part, id=first, elements=len(noticed), after_s=(self.cloud.now_ms - since) / 1000
            )
        if noticed or back:
            self.pending_installs += 1
            self.cloud.clock.schedule_in(int(round(self.spec.converge_s * 1000)), self._install)

    # -- traffic --------------------------------------------------------------------------------
    def hosts_in(self, group: str) -> list[str]:
        found = self._hosts_in.get(group)
        if found is None:
            hw = self.cloud.hardware
            if group in hw.hosts:
                found = [group]
            elif group in hw.racks:
                found = [h.id for h in hw.racks[group].hosts]
            elif group in hw.zones:
                found = [h.id for h in hw.zones[group].hosts()]
            elif group in hw.regions:
                found = [h.id for z in hw.regions[group].zones for h in z.hosts()]
            else:
                found = []
            self._hosts_in[group] = found
        return found

    def start_group(self, spec: FlowGroupSpec, label: str) -> list[Flow]:
        rng = self.cloud.rng
        srcs, dsts = self.hosts_in(spec.src), self.hosts_in(spec.dst)
        pairs: list[tuple[str, str]] = []
        if spec.pairs is not None:
            # a few hosts talking to a few others, each host in one pair at most
            k = min(spec.pairs, len(srcs), len(dsts))
            pairs = [(s, d) for s, d in zip(rng.sample(srcs, k), rng.sample(dsts, k)) if s != d]
        each = spec.gbps / spec.flows
        made = []
        end = self.cloud.now_ms + int(spec.for_s * 1000) if spec.for_s else None
        for _ in range(min(spec.flows, MAX_FLOWS - len(self.flows))):
            if pairs:
                s, d = pairs[rng.randrange(len(pairs))]
            else:
                s, d = srcs[rng.randrange(len(srcs))], dsts[rng.randrange(len(dsts))]
                if s == d:
                    continue
            header = (self.addr[s], rng.randrange(1024, 65536), self.addr[d], rng.choice((443, 5432, 9000, 8080)), 6)
            self._flow_seq += 1
            f = Flow(self._flow_seq, label, s, d, header, each)
            f.hkey = self.hash_key(header)
            f.path, _ = self.route(s, d, f.hkey)
            f.end_ms = end
            self.flows[f.id] = f
            made.append(f)
        self._recompute()
        self.cloud.emit("fabric.flows_started", group=label, flows=len(made), gbps=round(spec.gbps, 3))
        if end is not None:
            self.cloud.clock.schedule(end, lambda: self.end_group(label))
        return made

    def end_group(self, label: str) -> None:
        gone = [i for i, f in self.flows.items() if f.group == label]
        for i in gone:
            del self.flows[i]
        self._recompute()
        self.cloud.emit("fabric.flows_ended", group=label, flows=len(gone))

    def _recompute(self) -> None:
        """Link loads, black-holed flows and what each flow gets through: a flow whose
        path crosses a dead part gets nothing; a link asked for more than it carries
        gives each of its flows the same share of what it can.

        A path of two nodes or more is whole if each of its hops carries packets (a
        link up has both ends up), so the dark hops are found once, from the links,
        rather than for every hop of every flow; and a flow is squeezed only if one of
        its hops is overloaded."""
        self._settle_rates()
        load: dict[tuple[str, str], float] = {}
        alive: list[tuple[Flow, list[tuple[str, str]]]] = []
        blackholed = 0
        offered = 0.0
        links = self.links
        dark = {hop for hop, lid in self.link_between.items() if not self.link_up(lid)} if self.flows else set()
        for f in self.flows.values():
            offered += f.gbps
            path = f.path
            if path is None:
                blackholed += 1
                f.rate = 0.0
                continue
            hops = f.hops
            if hops:
                ok = not dark or dark.isdisjoint(hops)
            else:
                ok = self.node_up(path[0])  # a flow within one host
            if not ok:
                blackholed += 1
                f.rate = 0.0
                continue
            for hop in hops:
                load[hop] = load.get(hop, 0.0) + f.gbps
            alive.append((f, hops))
        # what an overloaded hop gives each of its flows: the same share of its capacity
        squeeze: dict[tuple[str, str], float] = {}
        for hop, carried in load.items():
            cap = links[self.link_between[hop]].gbps
            if carried > cap:
                squeeze[hop] = cap / carried
        delivered = 0.0
        for f, hops in alive:
            share = 1.0
            if squeeze:
                for hop in hops:
                    if hop in squeeze:
                        share = min(share, squeeze[hop])
            f.rate = f.gbps * share
            delivered += f.rate
        self.load = load
        self.blackholed = blackholed
        self.blackholed_gbps = offered - sum(f.gbps for f, _ in alive)
        self.offered_gbps = offered
        self.delivered_gbps = delivered

    def step(self, dt_ms: int) -> None:
        self._ms_at_rates += dt_ms

    def quiet_until(self, now_ms: int, until_ms: int, sampled: bool) -> int:
        """Between two changes of the routes a step only adds time at the same rates:
        any stretch is one step (the Gbit counters are declared clocked)."""
        return until_ms

    def _rates(self) -> tuple[float, float, float]:
        lost = max(0.0, self.offered_gbps - self.delivered_gbps)
        return self.offered_gbps, self.blackholed_gbps, max(0.0, lost - self.blackholed_gbps)

    def _gbit(self) -> tuple[float, float, float]:
        s = self._ms_at_rates / 1000
        return tuple(before + rate * s for before, rate in zip(self._gbit_before, self._rates()))  # type: ignore[return-value]

    def _settle_rates(self) -> None:
        """Fold the time at the old rates into the totals before the rates change."""
        self._gbit_before, self._ms_at_rates = self._gbit(), 0

    @property
    def gbit_offered(self) -> float:
        return self._gbit()[0]

    @property
    def gbit_blackholed(self) -> float:
        return self._gbit()[1]

    @property
    def gbit_dropped(self) -> float:
        return self._gbit()[2]

    @property
    def gbit_lost(self) -> float:
        return self.gbit_blackholed + self.gbit_dropped

    # -- the player's settings -------------------------------------------------------------------
    def configure(self, setting: str, value: object) -> object:
        was: object
        if setting == "ecmp":
            was, self.ecmp = self.ecmp, bool(value)
        elif setting == "hash_fields":
            if value not in HASH_FIELDS:
                raise ValueError(f"hash fields must be one of {', '.join(HASH_FIELDS)}")
            was, self.hash_fields = self.hash_fields, str(value)
            self._refresh_keys()
        elif setting == "detection":
            if value not in DETECTIONS:
                raise ValueError(f"detection must be one of {', '.join(DETECTIONS)}")
            was, self.detection = self.detection, str(value)
        else:
            raise ValueError(f"no fabric setting {setting!r}")
        self.cloud.emit("fabric.configured", setting=setting, value=value, was=was)
        if setting != "detection":
            moved = self._reroute_all()
            self._recompute()
            return was, moved
        return was, 0

    # -- looking --------------------------------------------------------------------------------
    def utilisation(self) -> list[tuple[float, str, str, float, float]]:
        """(percent, from, to, Gbps, capacity) for every loaded direction, busiest first."""
        out = []
        edges = self.graph.edges
        for (a, b), gbps in self.load.items():
            cap = self.links[edges[a, b]["link"]].gbps
            out.append((100 * gbps / cap, a, b, gbps, cap))
        out.sort(key=lambda x: (-x[0], x[1], x[2]))
        return out

    def tier_of_link(self, a: str, b: str) -> str:
        """The tier a link belongs to, named after what it joins."""
        if self.kind[self.link_id(a, b)] == "backbone":
            return "backbone"
        pair = frozenset((self.graph.nodes[a]["tier"], self.graph.nodes[b]["tier"]))
        return LINK_TIER.get(pair, "region")

    def oversubscription(self) -> dict[str, float]:
        """Per tier, the worst ratio of what can come up from below to what can leave
        above: a ToR's host links against its uplinks, a zone's ToR uplinks against its
        spines' uplinks."""
        hw = self.cloud.hardware
        spec = self.spec
        out: dict[str, float] = {}
        tor = 0.0
        for rack in hw.racks.values():
            down = sum(h.nics[0].gbps if h.nics else 25 for h in rack.hosts)
            up = spec.spines_per_zone * spec.tor_uplink_gbps
            tor = max(tor, down / up)
        spine = 0.0
        for zone in hw.zones.values():
            down = len(zone.racks) * spec.tor_uplink_gbps
            up = spec.zone_routers * spec.spine_uplink_gbps
            spine = max(spine, down / up)
        out["tor"] = round(tor, 2)
        out["spine"] = round(spine, 2)
        return out

    def site_of(self, node: str) -> tuple[str, SiteSpec | None]:
        hw = self.cloud.hardware
        if node in hw.hosts:
            region = hw.hosts[node].region.id
        elif node in self.switches:
            region = self.switches[node].region
        else:
            region = node
        return region, self.sites.get(region)

    def resolve(self, name: str) -> str:
        """A host or switch by name, or a region (its first host)."""
        hw = self.cloud.hardware
        if name in self.graph.nodes:
            return name
        if name in hw.regions:
            hosts = self.hosts_in(name)
            if hosts:
                return hosts[0]
        raise KeyError(name)

    def trace(self, src: str, dst: str, via: str = "backbone") -> Trace:
        """``traceroute``: every hop of a probe flow and its one-way latency so far; over
        the internet, the legs inside each region and the ISP hops between."""
        header = (self.addr.get(src, 0x0A000001), 33434, self.addr.get(dst, 0x0A000002), 33434, 17)
        hkey = self.hash_key(header)
        rng = self.cloud.rng
        if via == "internet":
            (r_src, s_site), (r_dst, d_site) = self.site_of(src), self.site_of(dst)
            if r_src == r_dst or s_site is None or d_site is None:
                raise ValueError("an internet path joins two regions with sites")
            er_a, er_b = f"er-{r_src}-1", f"er-{r_dst}-1"
            first, n1 = self.route(src, er_a, hkey)
            last, n2 = self.route(er_b, dst, hkey)
            if first is None or last is None:
                return Trace(src, dst, via, [], 0.0, 0, header)
            hops = self._walk(first)
            at = hops[-1].one_way_us if hops else 0.0
            km = great_circle_km(s_site, d_site)
            inet = self.spec.internet
            legs = max(4, min(14, 4 + int(km / 1500)))
            total_us = km * inet.stretch / FIBRE_KM_PER_MS * 1000
            for k in range(1, legs + 1):
                jitter = rng.uniform(0, inet.jitter_ms) * 1000
                lost = rng.random() * 100 < inet.loss_pct
                hops.append(Hop(f"isp-{k}", at + total_us * k / legs + k * inet.hop_ms * 1000 + jitter, 1, lost, "internet"))
            at = at + total_us + legs * inet.hop_ms * 1000
            rest = self._walk(last, start_us=at)
            hops.extend(rest[1:])
            paths = n1 * n2
        else:
            path, paths = self.route(src, dst, hkey)
            if path is None:
                return Trace(src, dst, via, [], 0.0, 0, header)
            hops = self._walk(path)
        self._mark_dead(hops)
        answered = [h.one_way_us for h in hops if not h.lost]
        rtt = 2 * max(answered, default=0.0) / 1000
        t = Trace(src, dst, via, hops[1:] if hops and hops[0].node == src else hops, round(rtt, 3), paths, header)
        self.last_trace = t
        r_src, r_dst = self.site_of(src)[0], self.site_of(dst)[0]
        self.cloud.emit(
            "fabric.traced", src=src, dst=dst, via=via, src_region=r_src, dst_region=r_dst, rtt_ms=t.rtt_ms, hops=len(t.hops), paths=paths
        )
        return t

    def _mark_dead(self, hops: list[Hop]) -> None:
        """A probe goes no further than the first dead switch or link on its path (the
        tables still send it there until the fabric converges): no answer from there on."""
        dead = False
        prev = hops[0].node if hops else None
        for hop in hops[1:]:
            node = hop.node
            if node in self.graph.nodes:
                if prev in self.graph.nodes and self.graph.has_edge(prev, node):
                    dead = dead or not self.link_up(self.link_id(prev, node))
                dead = dead or not self.node_up(node)
            if dead:
                hop.lost = True
            prev = node

    def _walk(self, path: list[str], start_us: float = 0.0) -> list[Hop]:
        hops = [Hop(path[0], start_us)]
        at = start_us
        for a, b in zip(path, path[1:]):
            at += self.graph.edges[a, b]["us"]
            choices = len(self.next_hops(a, self.tor_of.get(path[-1], path[-1]))) if a in self.switches else 1
            hops.append(Hop(b, at, max(1, choices), kind=self.kind[self.link_id(a, b)]))
        return hops

    # -- whole? ------------------------------------------------------------------------------------
    def whole(self) -> bool:
        return not self.blackholed and self.delivered_gbps >= self.offered_gbps - 1e-9 and not self.pending_installs

    def metrics(self) -> dict[str, float | int]:
        util = self.utilisation()
        top = util[0][0] if util else 0.0
        out: dict[str, float | int] = {
            "fabric_flows": len(self.flows),
            "fabric_gbps": round(self.offered_gbps, 3),
            "fabric_gbps_lost": round(max(0.0, self.offered_gbps - self.delivered_gbps), 3),
            "fabric_gbit_lost": round(self.gbit_lost, 3),
            "fabric_gbit_blackholed": round(self.gbit_blackholed, 3),
            "fabric_gbit_dropped": round(self.gbit_dropped, 3),
            "fabric_flows_blackholed": self.blackholed,
            "fabric_max_link_pct": round(top, 2),
            "fabric_links_over_80": sum(1 for u in util if u[0] > 80),
            "fabric_converging": self.pending_installs,
            "fabric_convergences": self.convergences,
        }
        tiers: dict[str, float] = {}
        for pct, a, b, _, _ in util:
            tier = self.tier_of_link(a, b)
            tiers[tier] = max(tiers.get(tier, 0.0), pct)
        for tier, pct in tiers.items():
            out[f"fabric_tier_pct.{tier}"] = round(pct, 2)
        for tier, ratio in self.oversubscription().items():
            out[f"fabric_oversubscription.{tier}"] = ratio
        if self.last_took_s is not None:
            out["fabric_last_convergence_s"] = self.last_took_s
        if self.last_trace is not None:
            out["fabric_rtt_ms"] = self.last_trace.rtt_ms
            out["fabric_paths"] = self.last_trace.paths
        return out


def attach(cloud: "Cloud", spec: FabricSpec) -> Fabric:
    fabric = Fabric(cloud, spec)
    fabric.seen_down = fabric.down_now()
    fabric.known_down = set(fabric.seen_down)
    fabric.installed_down = frozenset(fabric.known_down)
    cloud.metric_sources.append(fabric.metrics)
    cloud.add_step_hook(fabric.step, fabric.quiet_until)
    cloud.health_listeners.append(fabric.on_health)
    for n, group in enumerate(spec.flows):
        label = group.name or f"m{n + 1}"
        at = int(round(group.at_s * 1000))
        if at == 0:
            fabric.start_group(group, label)  # the traffic the story starts with
        else:
            cloud.clock.schedule(at, lambda g=group, lab=label: fabric.start_group(g, lab))
    return fabric


# -- what the mechanism publishes ------------------------------------------------------------
METRICS = metrics(
    ("fabric_flows", "flows in the traffic matrix now"),
    ("fabric_gbps", "the traffic offered now, Gbps"),
    ("fabric_gbps_lost", "the traffic lost now (black-holed or dropped), Gbps"),
    Metric("fabric_gbit_lost", "all traffic lost so far, Gbit", clocked=True),
    Metric("fabric_gbit_blackholed", "traffic lost so far on paths through dead parts, Gbit", clocked=True),
    Metric("fabric_gbit_dropped", "traffic lost so far on links asked for more than they carry, Gbit", clocked=True),
    ("fabric_flows_blackholed", "flows whose path crosses a dead part now"),
    ("fabric_max_link_pct", "the busiest link's load, percent of its capacity"),
    ("fabric_links_over_80", "link directions loaded over 80%"),
    ("fabric_converging", "routing changes noticed but not yet installed"),
    ("fabric_convergences", "times the switches rewrote their tables"),
    ("fabric_last_convergence_s", "from the last failure to every table rewritten, seconds"),
    ("fabric_tier_pct.{tier}", "the busiest link's load in one tier"),
    ("fabric_oversubscription.{tier}", "a tier's worst ratio of capacity below to capacity above"),
    ("fabric_rtt_ms", "the round trip of the last traceroute"),
    ("fabric_paths", "equal-cost paths the last traceroute could take"),
)
EVENTS = events(
    ("fabric.flows_started", "group flows gbps", "a group of the traffic matrix started"),
    ("fabric.flows_ended", "group flows", "a group of the traffic matrix ended"),
    ("fabric.failure_detected", "part id elements after_s", "the fabric noticed parts went down (the first named)"),
    ("fabric.converged", "flows_moved blackholed took_s down", "every switch rewrote its tables"),
    ("fabric.configured", "setting value was", "a fabric setting changed"),
    ("fabric.traced", "src dst via src_region dst_region rtt_ms hops paths", "the player traced a path"),
)
