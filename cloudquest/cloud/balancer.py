"""A distributed load balancer from the inside: nodes, a shared hashing rule, health.

A cloud load balancer is not one box. What the game models, and where it comes from:

- **Nodes per zone.** The balancer runs as *nodes*, one or more in each zone it is
  enabled in. A DNS lookup of its name returns one address per zone (AWS: each
  Application or Network Load Balancer node's IP; the record's TTL is 60 s, so a client
  keeps using an answer for up to a minute). In front of a zone's nodes, routers spread
  flows over them by ECMP: the flow's 5-tuple hashed, modulo the number of nodes. The
  balancer **scales itself**: when its nodes run hot it asks for one more node per zone,
  and the node joins after a delay (AWS has long said scaling takes "1 to 7 minutes";
  the world sets it). A node that joins re-spreads the zone's flows: roughly half of
  them now arrive at a node that has never seen them.
- **The backend for a flow.** Four rules, the ones a user picks in AWS plus Google's:

  ============== ========================================================================
  round-robin    ALB's default: each new request to the next backend in turn
  least-         ALB's ``least_outstanding_requests``: to the backend with the fewest
  outstanding    requests in flight (here: in proportion to how fast each answers)
  flow-hash      NLB: the 5-tuple's hash modulo the number of healthy backends
  maglev         Maglev (NSDI 2016): the 5-tuple's hash into a lookup table every node
                 builds alike (cloud/maglev.py), plus a connection table per node
  ============== ========================================================================

  Round robin and least outstanding requests are *proxy* rules (an ALB node terminates
  the client's TCP connection): a flow that ECMP moves to another node loses its state
  and breaks. The two hashing rules are *forwarding* rules: the new node computes the
  backend itself, so the flow survives if the answer is the same as before. With
  ``flow-hash`` the answer changes for most flows as soon as the backend list has
  changed (modulo N); with ``maglev`` only for the table entries that moved (about 1/N).
- **Cross-zone load balancing.** On (ALB's default), every node spreads over every
  zone's backends; off (NLB's default), a node uses only its own zone's. Since DNS
  spreads clients evenly over zones, two backends in one zone and six in another then
  get 25% and 8.3% of the traffic each (AWS's own example uses 2 and 8).
- **Health checks** with ALB's settings and ranges (cloud/loadbalancer.py holds them:
  every 30 s, timeout 5 s, out after 2 failures, back after 5 passes). A dead backend
  keeps getting traffic until the checks notice. When no backend is healthy the balancer
  **fails open** and uses them all.
- **Deregistration delay** (connection draining): a backend taken out receives no new
  flows, and its open ones may finish for ``deregistration_delay_s`` (AWS default 300 s,
  0-3600); those still open then are closed.
- **Slow start** (ALB, round robin only, 30-900 s): a backend that turns healthy gets a
  share that grows linearly from nothing to its full share, while its caches warm up
  (``warmup_s``: a cold backend starts at a quarter of its capacity).

**Connections are counted as a fluid, not one by one.** Connections open at the rate
``load / conn_rps / connection_s`` and each lasts an exponentially distributed time (mean
``connection_s``): an M/M/inf queue, whose expected number open follows ``dN/dt =
arrivals - N / connection_s``, solved exactly over each step, and is ``load / conn_rps``
in the steady state (Little's law). The balancer keeps these expected counts in
*cohorts*: the connections of one zone pinned to one backend by one hashing rule (the
backend list, and for Maglev the table size, they were hashed with); a proxy rule pins
nothing, so its cohorts are a zone each. DNS spreads new connections evenly over the zones
of its answer, ECMP evenly over a zone's nodes, and a hashing rule over the backends by
its exact share of the hash space (1/N for ``flow-hash``, a backend's entries over M in
the real Maglev table). When a change moves flows, the share that moves is exact over
the hash space: ECMP's from k to k' nodes counts residues of the hash modulo lcm(k, k');
``flow-hash``'s from one backend list to another, modulo the lcm of their lengths;
Maglev's, the table entries of a backend that the new table gives to another. Counts a
player reads (connections open, broken, lost) are these expected values, rounded.

Each step's requests are whole numbers: the offered load spread over the nodes and the
backends in proportion to their connections (or, for a proxy rule, each node's requests
in proportion to the backends' weights), the whole requests left over going to the
largest remainders.

Because nothing here is drawn at random, an undisturbed balancer settles into a steady
state in which every step is the same: a cohort within ``FLOW_EPS`` connections of its
steady count is set to it (and one below that, with no arrivals, is gone), a rate
average within ``RATE_EPS`` of its input likewise. The cloud's fast-forward may then run
hours as one step (:meth:`Balancer.quiet_until`). Health checks that cannot change a
backend's state (a healthy backend that answers, a dead one already taken out) sleep
rather than fire every interval, and are woken, with the checks they slept through
counted, when the hardware's health or the check settings change.

Where the game simplifies: counts are expected values, so two runs with other seeds see
the same traffic (only the health checks' phases are drawn); which node a flow reaches
(ECMP) is taken as independent of which backend its hash picks, and a cohort whose flows
were re-hashed by a new node keeps the rule it was first hashed with; a change that
moves a fraction of a connection counts it in whole connections, rounded, at that
moment; the nodes of one zone share one health checker (real nodes each check); round
robin and least outstanding spread the requests of a step (a proxy picks per request);
requests are counted per step; a refused connection counts as one failed request; nodes
fail only with their zone.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, TypeVar, get_args

from pydantic import Field, field_validator, model_validator

from . import maglev
from .errors import CloudError
from .hardware import Health
from .loadbalancer import (
    SETTING_ALIASES,
    ErrorRuns,
    HealthCheck,
    HealthCheckSpec,
    LoadPointSpec,
    load_at,
    load_between,
    load_points,
)
from .mechanism import Metric, events, metrics
from .world import CoreWorld, Strict, known, world_ids

if TYPE_CHECKING:
    from .cloud import Cloud

Algorithm = Literal["round-robin", "least-outstanding", "flow-hash", "maglev"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)
HASHING = ("flow-hash", "maglev")  # forwarding rules: the backend follows from the flow
DEREGISTRATION_LIMITS = (0, 3600, 300)  # AWS target group attribute, seconds
SLOW_START_LIMITS = (30, 900)  # AWS: 30-900 s, or 0 (off)
FAIL_REASONS = ("dead_backend", "slow", "overload", "node_overload", "no_node", "no_backend")
BACKEND_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
COLD_SHARE = 0.25  # a cold backend's capacity, as a share of its warm capacity
EMA_S = 30.0  # the time constant of each backend's request-rate average
MAX_CONNECTIONS = 200_000
FLOW_EPS = 0.01  # connections: a cohort this close to its steady count is at it
RATE_EPS = 0.01  # requests per second: an average this close to its input is at it
WEIGHT_SCALE = 1000  # connection counts weigh requests in thousandths of a connection
K = TypeVar("K", bound=Hashable)
# How a cohort was hashed: ("flow-hash", backends) or ("maglev", backends, table size);
# None for connections no rule pinned (a proxy rule, or no backend to hash to).
Rule = tuple
Cohort = tuple[str, "str | None", "Rule | None"]  # zone, backend, rule


# -- the world section ----------------------------------------------------------------------
class BackendSpec(Strict):
    name: str = Field(pattern=BACKEND_PATTERN)
    host: str = Field(description="the host it runs on (it fails with the host)")
    capacity_rps: int = Field(default=800, ge=1, le=1_000_000)
    in_service: bool = Field(default=True, description="registered from the start (false: a spare for `lb add`)")
    offset: int | None = Field(default=None, ge=0, description="fix its Maglev offset (default: from its name's hash)")
    skip: int | None = Field(default=None, ge=1, description="fix its Maglev skip (default: from its name's hash)")


class BalancerSpec(Strict):
    """A distributed load balancer: its nodes, its backends and the load offered to it."""

    name: str = Field(default="front", pattern=BACKEND_PATTERN)
    zones: list[str] | None = Field(default=None, description="zones with nodes (default: every zone of the first region)")
    nodes_per_zone: int = Field(default=1, ge=1, le=32)
    max_nodes_per_zone: int = Field(default=8, ge=1, le=64)
    node_capacity_rps: int = Field(default=5000, ge=1, le=10_000_000)
    scale_out_pct: int = Field(default=75, ge=10, le=100, description="node load that makes the balancer add a node")
    scale_in_pct: int = Field(default=20, ge=0, le=90, description="node load under which it removes one (after 5 minutes)")
    scale_delay_s: int = Field(default=180, ge=0, le=3600, description="how long a new node takes to join")
    algorithm: Algorithm = "round-robin"
    cross_zone: bool = True
    table_size: int = Field(default=maglev.DEFAULT_TABLE_SIZE, ge=2, le=maglev.MAX_TABLE_SIZE)
    health_check: HealthCheckSpec = Field(default_factory=HealthCheckSpec)
    deregistration_delay_s: int = Field(default=DEREGISTRATION_LIMITS[2], ge=DEREGISTRATION_LIMITS[0], le=DEREGISTRATION_LIMITS[1])
    slow_start_s: int = Field(default=0, ge=0, le=SLOW_START_LIMITS[1])
    warmup_s: int = Field(default=0, ge=0, le=3600, description="how long a fresh backend runs cold (a quarter of its capacity, rising)")
    load: list[LoadPointSpec] = Field(default_factory=list, description="requests per second offered, piecewise constant")
    connection_s: float = Field(default=30, gt=0, le=86_400, description="mean connection lifetime")
    conn_rps: float = Field(default=2, gt=0, le=10_000, description="requests per second on one connection")
    response_ms: float = Field(default=20, gt=0, le=60_000)
    client_timeout_ms: float = Field(default=1000, ge=1, le=600_000)
    degraded_slowdown: float = Field(default=80, ge=1, le=100_000)
    dns_ttl_s: int = Field(default=60, ge=0, le=86_400)
    backends: list[BackendSpec] = Field(default_factory=list)

    @field_validator("table_size")
    @classmethod
    def _prime(cls, v: int) -> int:
        if not maglev.is_prime(v):
            raise ValueError(f"table_size must be a prime number (Maglev needs one), not {v}; {maglev.next_prime(v)} is the next prime")
        return v

    @field_validator("load")
    @classmethod
    def _in_order(cls, load: list[LoadPointSpec]) -> list[LoadPointSpec]:
        times = [p.at_s for p in load]
        if times != sorted(times) or len(set(times)) != len(times):
            raise ValueError("load points must be in time order, one per time")
        return load

    @model_validator(mode="after")
    def _consistent(self) -> "BalancerSpec":
        names = [b.name for b in self.backends]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"backend names must be unique: {', '.join(dupes)}")
        if self.slow_start_s and self.slow_start_s < SLOW_START_LIMITS[0]:
            raise ValueError(f"slow_start_s must be 0 (off) or from {SLOW_START_LIMITS[0]} to {SLOW_START_LIMITS[1]}")
        if self.slow_start_s and self.algorithm != "round-robin":
            raise ValueError("slow start works with the round-robin algorithm only (as on an ALB)")
        if self.scale_in_pct >= self.scale_out_pct:
            raise ValueError("scale_in_pct must be below scale_out_pct")
        if self.nodes_per_zone > self.max_nodes_per_zone:
            raise ValueError("nodes_per_zone is more than max_nodes_per_zone")
        for b in self.backends:
            if (b.offset is None) != (b.skip is None):
                raise ValueError(f"backend {b.name}: give both offset and skip, or neither")
            if b.offset is not None and not (b.offset < self.table_size and 1 <= b.skip < self.table_size):
                raise ValueError(f"backend {b.name}: offset must be below {self.table_size} and skip from 1 to {self.table_size - 1}")
        return self


def check_world(world: CoreWorld, spec: BalancerSpec) -> None:
    """Cross-references: zones and hosts the balancer names exist."""
    ids = world_ids(world)
    for z in spec.zones or []:
        if z not in ids["zone"]:
            raise ValueError(f"balancer: no zone {z!r} (zones: {known(ids['zone'])})")
    if spec.zones is not None and len(set(spec.zones)) != len(spec.zones):
        raise ValueError("balancer: each zone may be named once")
    for b in spec.backends:
        if b.host not in ids["host"]:
            raise ValueError(f"balancer backend {b.name}: no host {b.host!r} (hosts: {known(ids['host'])})")


# -- state ------------------------------------------------------------------------------------
@dataclass(eq=False)
class View:
    """One zone's health checker's opinion of one backend."""

    state: str = "initial"  # initial | healthy | unhealthy
    passes: int = 0
    failures: int = 0
    generation: int = 0


@dataclass(eq=False)
class Backend:
    name: str
    host: str
    zone: str
    capacity_rps: int
    offset: int
    skip: int
    state: str = "spare"  # spare | in-service | draining
    views: dict[str, View] = field(default_factory=dict)
    fresh_since_ms: int | None = None  # when it came into rotation cold (slow start, warm-up); None: warm
    drain_until_ms: int = 0
    flows: float = 0.0  # connections pinned to it (hashing rules), expected
    sent: int = 0
    served: int = 0
    failed: int = 0
    rate: float = 0.0  # requests per second, averaged over about EMA_S
    ema: float = 0.0

    @property
    def conns(self) -> int:
        return round(self.flows)


@dataclass(eq=False)
class Node:
    id: str
    zone: str
    state: str = "active"  # pending | active
    ready_ms: int = 0
    handled: int = 0  # requests in the last step
    flows: float = 0.0  # connections ECMP sends it, expected

    @property
    def conns(self) -> int:
        return round(self.flows)


@dataclass(frozen=True)
class Change:
    """What one change of the backend set did to the hashing."""

    entries_moved: int
    table_size: int
    connections_moved: int
    connections: int


@dataclass
class Lookup:
    key: int
    slot: int
    backend: str | None
    node: str | None


@dataclass
class StepResult:
    """What one step did with its requests: the counters it adds (a steady stretch adds
    the same again for each of its steps)."""

    offered: int
    served: int
    failed: dict[str, int]
    backends: dict[str, tuple[int, int, int]]  # name -> sent, served, failed
    dead_fed: tuple[str, ...]  # backends that were sent requests and do not answer

    @property
    def total_failed(self) -> int:
        return sum(self.failed.values())


@lru_cache(maxsize=256)
def ecmp_moved_share(before: int, after: int) -> float:
    """The share of flows ECMP sends to another node when a zone goes from ``before``
    nodes to ``after`` (hash mod k, nodes joining at the end and leaving from it):
    exact over the residues of the hash modulo lcm(before, after)."""
    if before == after or not before or not after:
        return 0.0
    span = math.lcm(before, after)
    return sum(1 for h in range(span) if h % before != h % after) / span


# -- the balancer -----------------------------------------------------------------------------
class Balancer:
    def __init__(self, cloud: "Cloud", spec: BalancerSpec) -> None:
        self.cloud = cloud
        self.spec = spec
        self.name = spec.name
        self.load = load_points(spec.load)
        hw = cloud.hardware
        if spec.zones:
            self.zones = list(spec.zones)
        else:
            first = next(iter(hw.regions.values()), None)
            self.zones = [z.id for z in first.zones] if first else []
        self.algorithm: str = spec.algorithm
        self.cross_zone = spec.cross_zone
        self.table_size = spec.table_size
        self.health_check: HealthCheck = spec.health_check.health_check()
        self.deregistration_delay_s = spec.deregistration_delay_s
        self.slow_start_s = spec.slow_start_s
        self.min_nodes = spec.nodes_per_zone
        self.nodes: dict[str, list[Node]] = {z: [] for z in self.zones}
        self._node_seq: dict[str, int] = dict.fromkeys(self.zones, 0)
        for z in self.zones:
            for _ in range(spec.nodes_per_zone):
                self._new_node(z, active=True)
        self.backends: dict[str, Backend] = {}
        self.fixed_offsets: set[str] = set()  # backends whose offset and skip the world fixed
        for b in spec.backends:
            if b.offset is not None and b.skip is not None:
                off, skip = b.offset, b.skip
                self.fixed_offsets.add(b.name)
            else:
                off, skip = maglev.offset_skip(b.name, self.table_size)
            self.backends[b.name] = Backend(b.name, b.host, hw.hosts[b.host].zone.id, b.capacity_rps, off, skip)
        # the open connections, expected, by cohort (zone, backend, rule); see the module
        self.flows: dict[Cohort, float] = {}
        self.open_flows = 0.0
        self.unpinned_flows = 0.0  # open connections no backend is pinned to
        self._spread: dict[str, int] = {z: len(self.active_nodes(z)) for z in self.zones}  # nodes each zone's flows are on
        self._refused = 0.0  # refused connections not yet counted (a fraction of one)
        self._offer_milli = 0
        self._last_dt_ms = cloud.tick_ms
        self._ema_weight = 0.0
        self._tables: dict[tuple[str, ...], maglev.Table] = {}
        self._candidates: dict[str, tuple[tuple[str, ...], bool]] = {}
        self._cand_key = -1
        self._shares: dict[Rule, dict[str, float]] = {}
        self._breaks: dict[tuple[Rule, Rule | None], dict[str, float]] = {}
        self._arrival_key: tuple | None = None
        self._arrival_shares: tuple[dict[Cohort, float], float] = ({}, 0.0)
        self.version = 0  # bumped whenever candidates may have changed
        self.dns_history: list[tuple[int, tuple[str, ...]]] = [(0, tuple(self.zones))]
        # accounting
        self.offered = 0
        self.served = 0
        self.failed: dict[str, int] = dict.fromkeys(FAIL_REASONS, 0)
        self.last_failed = 0
        self.last_offered = 0
        self.last_failed_by: dict[str, int] = dict.fromkeys(FAIL_REASONS, 0)
        self.broken = 0  # connections moved to another backend by a change (reset)
        self.lost = 0  # connections that died with their backend or node
        self.dead_traffic_ms = 0
        self.last_change: Change | None = None
        self.lookup: Lookup | None = None
        self.fail_open: set[str] = set()
        self._errors = ErrorRuns(cloud, "balancer", FAIL_REASONS)
        self._low_since: dict[str, int | None] = dict.fromkeys(self.zones, None)
        # the steady state (see quiet_until): the last full step changed nothing, and the
        # log had this length after it
        self._last_step: StepResult | None = None
        self._steady = False
        self._steady_log = -1
        self._steady_from = 0  # when that step began
        # Health checks asleep, by (backend, zone): while their answer cannot change a
        # backend's state they stop firing (see _check); kept is the chain's generation,
        # and the last check's time and result (None: the checker's zone was down), from
        # which the ones slept through follow. Off, checks fire every interval (the tests
        # compare, as with the cloud's fast_forward).
        self._asleep: dict[tuple[str, str], tuple[Backend, View, int, int, bool | None]] = {}
        self.checks_sleep = True
        self._stepped_to = 0  # the end of the last step: every clock action due by then has run

    # -- set-up ---------------------------------------------------------------------------
    def start(self) -> None:
        """Put the world's in-service backends in service and open the connections the
        starting load keeps open (at time 0, as the world is built): the steady count."""
        serving = {s.name for s in self.spec.backends if s.in_service}
        for b in self.backends.values():
            if b.name in serving:  # the service was running before the story starts: warm and healthy
                self._enter_service(b, healthy=True)
        rps = self.rps_at(0)
        if rps:
            shares, _ = self._arrivals(self.dns_zones(0))
            steady = min(MAX_CONNECTIONS, rps / self.spec.conn_rps)
            self.flows = {key: share * steady for key, share in shares.items()}
            self._tally()
        self._settle_rates(rps)

    def _settle_rates(self, rps: float) -> None:
        """The request rate each backend has had while the service ran before the story
        starts: its share of the open connections (hashing rules), or an even share of
        its nodes' requests (proxy rules)."""
        total = self.open_flows
        if not total or not rps:
            return
        rates = dict.fromkeys(self.backends, 0.0)
        if self.algorithm in HASHING:
            for b in self.backends.values():
                rates[b.name] = rps * b.flows / total
        else:
            for zone in self.zones:
                names, _ = self.candidates(zone)
                node_share = sum(n.flows for n in self.nodes[zone]) / total
                for name in names:
                    rates[name] += rps * node_share / len(names)
        for b in self.backends.values():
            b.ema = b.rate = rates[b.name]
        self._ema_weight = 1.0

    def _new_node(self, zone: str, active: bool) -> Node:
        self._node_seq[zone] += 1
        node = Node(f"{zone}-n{self._node_seq[zone]}", zone, "active" if active else "pending")
        self.nodes[zone].append(node)
        return node

    # -- the offered load -------------------------------------------------------------------
    def rps_at(self, t_ms: int) -> int:
        return load_at(self.load, t_ms)

    def _integrate(self, start_ms: int, end_ms: int) -> int:
        """Milli-requests offered in [start, end) by the load curve."""
        return load_between(self.load, start_ms, end_ms)

    # -- which zones, nodes and backends ------------------------------------------------------
    def active_nodes(self, zone: str) -> list[Node]:
        if not self.cloud.hardware.zones[zone].up:
            return []
        return [n for n in self.nodes[zone] if n.state == "active"]

    def dns_zones(self, now_ms: int | None = None) -> tuple[str, ...]:
        """The zones a client resolving the name now may use: the answer as it was one TTL
        ago (clients cache it), which may still name a zone that has since gone dark."""
        now = self.cloud.now_ms if now_ms is None else now_ms
        cutoff = now - self.spec.dns_ttl_s * 1000
        answer = self.dns_history[0][1]
        for t, zones in self.dns_history:
            if t > cutoff:
                break
            answer = zones
        return answer

    def _dns_now(self) -> tuple[str, ...]:
        zones = []
        for z in self.zones:
            if not self.active_nodes(z):
                continue
            if not self.cross_zone and not any(b.state == "in-service" and b.zone == z for b in self.backends.values()):
                continue  # no targets in the zone: its address leaves the answer
            zones.append(z)
        return tuple(zones)

    def _note_dns(self) -> None:
        now_zones = self._dns_now()
        if now_zones != self.dns_history[-1][1]:
            self.dns_history.append((self.cloud.now_ms, now_zones))
            if len(self.dns_history) > 64:
                del self.dns_history[1]

    def in_service(self) -> list[Backend]:
        return [b for b in self.backends.values() if b.state == "in-service"]

    def candidates(self, zone: str) -> tuple[tuple[str, ...], bool]:
        """The backends a node in ``zone`` sends new flows to, and whether it is failing
        open (none healthy: all of them, whatever their health)."""
        key = self.version
        if key != self._cand_key:
            self._candidates = {}
            self._cand_key = key
        found = self._candidates.get(zone)
        if found is None:
            pool = [b for b in self.in_service() if self.cross_zone or b.zone == zone]
            healthy = tuple(b.name for b in pool if b.views[zone].state == "healthy")
            found = (healthy, False) if healthy else (tuple(b.name for b in pool), bool(pool))
            self._candidates[zone] = found
        return found

    def table(self, names: tuple[str, ...]) -> maglev.Table:
        """The Maglev table over these backends, in the order they were configured."""
        found = self._tables.get(names)
        if found is None:
            order = sorted(names, key=list(self.backends).index)
            found = maglev.Table.build([(n, self.backends[n].offset, self.backends[n].skip) for n in order], self.table_size)
            if len(self._tables) > 32:
                self._tables.clear()
            self._tables[names] = found
        return found

    def ecmp(self, key: int, zone: str) -> Node | None:
        nodes = self.active_nodes(zone)
        if not nodes:
            return None
        return nodes[(key >> 7) % len(nodes)]

    # -- hashing rules as shares of the hash space ------------------------------------------
    def rule(self, zone: str) -> Rule | None:
        """The rule a node in ``zone`` hashes new flows with now (None: it pins none)."""
        if self.algorithm not in HASHING:
            return None
        names, _ = self.candidates(zone)
        return self._rule_for(names) if names else None

    def _rule_for(self, names: tuple[str, ...]) -> Rule:
        """The hashing rule of now over these backends."""
        return ("maglev", names, self.table_size) if self.algorithm == "maglev" else ("flow-hash", names)

    def shares(self, rule: Rule) -> dict[str, float]:
        """The share of the hash space a rule gives each backend: 1/N modulo N, a
        backend's entries over M in a Maglev table."""
        found = self._shares.get(rule)
        if found is None:
            names = rule[1]
            if rule[0] == "flow-hash":
                found = {n: 1 / len(names) for n in names}
            else:
                found = {n: c / rule[2] for n, c in self.table(names).counts().items()}
            if len(self._shares) > 64:
                self._shares.clear()
            self._shares[rule] = found
        return found

    def break_shares(self, old: Rule, new: Rule | None) -> dict[str, float]:
        """Of the flows ``old`` sends to each backend, the share ``new`` sends elsewhere."""
        key = (old, new)
        found = self._breaks.get(key)
        if found is not None:
            return found
        names = old[1]
        if new is None:
            found = dict.fromkeys(names, 1.0)
        elif old == new:
            found = dict.fromkeys(names, 0.0)
        elif old[0] == new[0] == "flow-hash":  # exact over residues mod lcm of the two lengths
            a, b = old[1], new[1]
            total, moved = dict.fromkeys(a, 0), dict.fromkeys(a, 0)
            for k in range(math.lcm(len(a), len(b))):
                x = a[k % len(a)]
                total[x] += 1
                moved[x] += b[k % len(b)] != x
            found = {x: moved[x] / total[x] for x in a}
        elif old[0] == new[0] == "maglev" and old[2] == new[2] == self.table_size:  # entry by entry
            t1 = self.table(old[1])
            total, moved = t1.counts(), t1.moved_by(self.table(new[1]))
            found = {x: moved[x] / total[x] if total[x] else 1.0 for x in names}
        else:  # hash mod N against a table, or tables of two sizes: independent residues
            now = self.shares(new)
            found = {x: 1 - now.get(x, 0.0) for x in names}
        if len(self._breaks) > 64:
            self._breaks.clear()
        self._breaks[key] = found
        return found

    # -- connections --------------------------------------------------------------------------
    def _arrivals(self, zones: tuple[str, ...]) -> tuple[dict[Cohort, float], float]:
        """Where new connections go, as shares of them: DNS spreads them evenly over the
        zones of its answer, and a hashing rule over its backends. The second value is
        the share refused (a zone still in the answer whose nodes are gone)."""
        key = (self.version, zones, self.algorithm, self.table_size)
        if key == self._arrival_key:
            return self._arrival_shares
        shares: dict[Cohort, float] = {}
        refused = 0.0 if zones else 1.0
        for zone in zones:
            if not self.active_nodes(zone):
                refused += 1 / len(zones)
                continue
            rule = self.rule(zone)
            if rule is None:
                shares[(zone, None, None)] = 1 / len(zones)
                continue
            for name, share in self.shares(rule).items():
                if share:
                    shares[(zone, name, rule)] = share / len(zones)
        self._arrival_key, self._arrival_shares = key, (shares, refused)
        return shares, refused

    def _flow(self, now: int, dt_ms: int, offered_milli: int) -> tuple[bool, int]:
        """The connections over one step that offered ``offered_milli`` milli-requests:
        each cohort moves toward the count its arrivals keep open, ``steady + (open -
        steady) * exp(-dt / lifetime)``, the exact solution of the M/M/inf equation over
        the step. Returns whether any count changed, and how many connections were
        refused."""
        spec = self.spec
        life_ms = spec.connection_s * 1000
        mean_open = min(MAX_CONNECTIONS, offered_milli / dt_ms / spec.conn_rps) if dt_ms else 0.0
        shares, refused_share = self._arrivals(self.dns_zones(now))
        refused = 0
        if refused_share and mean_open:
            self._refused += mean_open * refused_share * dt_ms / life_ms  # arrivals over the step
            refused = int(self._refused)
            self._refused -= refused
        keep = math.exp(-dt_ms / life_ms)
        changed = False
        out: dict[Cohort, float] = {}
        for key, count in self.flows.items():
            steady = mean_open * shares.get(key, 0.0)
            if count == steady:
                out[key] = count
                continue
            changed = True
            count = steady + (count - steady) * keep
            if abs(count - steady) <= FLOW_EPS:
                count = steady
            if count:
                out[key] = count
        for key, share in shares.items():
            if key not in out and key not in self.flows and mean_open:
                steady = mean_open * share
                count = steady * (1 - keep)
                out[key] = steady if abs(count - steady) <= FLOW_EPS else count
                changed = True
        if changed:
            self.flows = out
            self._tally()
        return changed, refused

    def _tally(self) -> None:
        """Each backend's and node's connections, from the cohorts."""
        backends = self.backends
        for b in backends.values():
            b.flows = 0.0
        per_zone = dict.fromkeys(self.zones, 0.0)
        unpinned = 0.0
        for (zone, name, _), count in self.flows.items():
            per_zone[zone] += count
            if name is None:
                unpinned += count
            else:
                backends[name].flows += count
        self.unpinned_flows = unpinned
        self.open_flows = sum(per_zone.values())
        for zone in self.zones:
            active = self.active_nodes(zone)
            each = per_zone[zone] / len(active) if active else 0.0
            for n in self.nodes[zone]:
                n.flows = each if n in active else 0.0

    def reroute(self, cause: str) -> tuple[int, int]:
        """Re-spread the open connections after the nodes or the backends changed: ECMP
        sends a share of each zone's flows to another node, which for a hashing rule asks
        the rule again (and breaks the flow if the answer differs); a proxy's moved flows
        break; flows on a dead backend, or in a zone with no node, are lost. Returns
        (connections broken, connections lost), rounded."""
        broken = lost = 0.0
        hashing = self.algorithm in HASHING
        moved: dict[str, float | None] = {}
        for z in self.zones:
            k = len(self.active_nodes(z))
            moved[z] = ecmp_moved_share(self._spread[z], k) if k else None
            self._spread[z] = k
        out: dict[Cohort, float] = {}

        def keep(key: Cohort, count: float) -> None:
            if count > 0:
                out[key] = out.get(key, 0.0) + count

        for (zone, name, rule), count in self.flows.items():
            m = moved[zone]
            if m is None:  # its zone has no node left
                lost += count
            elif not hashing:  # a proxy's connection state stayed on the old node
                broken += count * m
                keep((zone, None, None), count * (1 - m))
            elif name is None or rule is None:  # no backend when it opened: try again
                now_rule = self.rule(zone)
                if now_rule is None:
                    keep((zone, None, None), count)
                else:
                    for n, share in self.shares(now_rule).items():
                        keep((zone, n, now_rule), count * share)
            else:
                b = self.backends[name]
                if b.state == "draining":
                    keep((zone, name, rule), count)
                elif b.state != "in-service" or not self.answers(b):
                    lost += count  # it died with its backend
                else:
                    # the new node has no entry for these flows: it asks the hashing rule
                    f = m * self.break_shares(rule, self.rule(zone)).get(name, 1.0) if m else 0.0
                    broken += count * f
                    keep((zone, name, rule), count * (1 - f))
        self.flows = out
        self._tally()
        broken_n, lost_n = round(broken), round(lost)
        self.broken += broken_n
        self.lost += lost_n
        if broken_n or lost_n:
            self.cloud.emit("balancer.connections_reset", broken=broken_n, lost=lost_n, cause=cause)
        return broken_n, lost_n


    # -- what a backend does with a request ----------------------------------------------------
    def answers(self, b: Backend) -> bool:
        host = self.cloud.hardware.hosts[b.host]
        return host.up

    def latency_ms(self, b: Backend) -> float:
        host = self.cloud.hardware.hosts[b.host]
        parts = (host, host.rack, host.rack.zone)
        slow = any(p.health is Health.DEGRADED for p in parts)
        return self.spec.response_ms * (self.spec.degraded_slowdown if slow else 1.0)

    def warm_share(self, b: Backend, now: int) -> float:
        """How much of its capacity a backend has: a fresh one starts cold."""
        w = self.spec.warmup_s
        if not w or b.fresh_since_ms is None:
            return 1.0
        age = (now - b.fresh_since_ms) / 1000
        return 1.0 if age >= w else COLD_SHARE + (1 - COLD_SHARE) * age / w

    def slow_start_weight(self, b: Backend, now: int) -> float:
        s = self.slow_start_s
        if not s or self.algorithm != "round-robin" or b.fresh_since_ms is None:
            return 1.0
        age = (now - b.fresh_since_ms) / 1000
        return 1.0 if age >= s else max(age / s, 0.01)

    # -- one step ---------------------------------------------------------------------------
    def step(self, dt_ms: int) -> None:
        self._stepped_to = self.cloud.now_ms
        if dt_ms > self.cloud.tick_ms:  # a steady stretch quiet_until allowed: its steps are alike
            self._repeat(dt_ms)
            return
        now = self.cloud.now_ms
        start = now - dt_ms
        logged = len(self.cloud.log)
        carried = (self._offer_milli, self._refused)
        self._last_dt_ms = dt_ms
        self._drain_due(now)
        self._scale(now)
        milli = self._integrate(start, now)
        moved, refused = self._flow(now, dt_ms, milli)
        self._offer_milli += milli
        offered, self._offer_milli = divmod(self._offer_milli, 1000)
        result = self._route(offered, dt_ms, now)
        if refused:  # a refused connection counts as one failed request
            result.offered += refused
            result.failed["no_node"] += refused
        self._count(result, 1, dt_ms)
        self.last_offered, self.last_failed = result.offered, result.total_failed
        self.last_failed_by = result.failed
        moved = self._average(dt_ms, result) or moved
        self._errors.note(result.total_failed, result.failed)
        self._last_step = result
        self._steady = (
            dt_ms == self.cloud.tick_ms
            and not moved
            and carried == (self._offer_milli, self._refused)
            and len(self.cloud.log) == logged
            and self._settled(now)
        )
        self._steady_log = len(self.cloud.log)
        self._steady_from = start

    def _count(self, result: StepResult, steps: int, dt_ms: int) -> None:
        """Add ``steps`` steps of ``result`` to the counters."""
        self.offered += steps * result.offered
        self.served += steps * result.served
        for k, v in result.failed.items():
            self.failed[k] += steps * v
        for name, (sent, served, failed) in result.backends.items():
            b = self.backends[name]
            b.sent += steps * sent
            b.served += steps * served
            b.failed += steps * failed
        if result.dead_fed:
            self.dead_traffic_ms += steps * dt_ms

    def _average(self, dt_ms: int, result: StepResult) -> bool:
        """Each backend's request rate (what ``result`` sent it), averaged over about
        EMA_S; whether any moved."""
        alpha = min(1.0, dt_ms / 1000 / EMA_S)
        # an average that starts from nothing reads low at first: divide by the weight it
        # has gathered so far (the bias correction of an exponential moving average)
        weight = self._ema_weight + alpha * (1 - self._ema_weight)
        if 1 - weight <= 1e-9:
            weight = 1.0
        moved = weight != self._ema_weight
        self._ema_weight = weight
        for b in self.backends.values():
            sent = result.backends[b.name][0] if b.name in result.backends else 0
            rate = sent * 1000 / dt_ms if dt_ms else 0.0
            ema = b.ema + alpha * (rate - b.ema)
            if abs(ema - rate) <= RATE_EPS:
                ema = rate
            if ema != b.ema:
                moved = True
                b.ema = ema
            b.rate = ema / weight
        return moved

    def _settled(self, now: int) -> bool:
        """Nothing that a step reads moves with the clock alone (but the load, which
        :meth:`quiet_until` watches): no node about to leave, no backend draining or
        warming up, and the DNS answer clients cache is the latest."""
        if any(since is not None for since in self._low_since.values()):
            return False
        for b in self.backends.values():
            if b.state == "draining":
                return False
            if b.state == "in-service" and (self.warm_share(b, now) < 1 or self.slow_start_weight(b, now) < 1):
                return False
        return len(self.dns_history) == 1 or now - self.dns_history[-1][0] >= self.spec.dns_ttl_s * 1000

    def quiet_until(self, now_ms: int, until_ms: int, sampled: bool) -> int:
        """After a full step that changed nothing (every count at its steady value, no
        event, nothing timed under way), every step up to the next change of the load is
        the same: they run as one (``step`` adds its counters once per step). The counters
        that then grow are declared clocked, so a grader that reads them is stepped."""
        if not self._steady or len(self.cloud.log) != self._steady_log:
            return now_ms
        tick = self.cloud.tick_ms
        to = until_ms - until_ms % tick
        for p in self.load:  # the next change of the load after the step that was steady
            if p.at_ms > self._steady_from:
                to = min(to, p.at_ms - p.at_ms % tick)
                break
        return max(to, now_ms)

    def _repeat(self, dt_ms: int) -> None:
        tick = self.cloud.tick_ms
        steps, rest = divmod(dt_ms, tick)
        last = self._last_step
        if rest or last is None or not self._steady:
            raise RuntimeError(f"the balancer was asked to run {dt_ms} ms as one step outside a steady state")
        self._count(last, steps, tick)
        if self._errors.since is not None:
            self._errors.count += steps * last.total_failed

    def _route(self, offered: int, dt_ms: int, now: int) -> StepResult:
        """One step's requests, spread over the nodes and then the backends in
        proportion to the connections each carries (hashing rules), or by each node
        over its backends (proxy rules)."""
        failed = dict.fromkeys(FAIL_REASONS, 0)
        nodes = [n for z in self.zones for n in self.nodes[z]]
        for n in nodes:
            n.handled = 0
        result = StepResult(offered, 0, failed, {}, ())
        if not offered:
            return result
        node_weights = [(n, _weight(n.flows)) for n in nodes]
        if not any(w for _, w in node_weights):
            failed["no_node"] += offered
            return result
        per_node = _split(offered, node_weights)
        sent: dict[str, int] = {}
        if self.algorithm in HASHING:
            weights = [(b.name, _weight(b.flows)) for b in self.backends.values()] + [("", _weight(self.unpinned_flows))]
            for name, q in _split(offered, weights).items():
                if not name:
                    failed["no_backend"] += q  # connections with no backend to go to
                elif q:
                    sent[name] = q
        else:
            for i, (n, q) in enumerate(per_node.items()):
                if not q:
                    continue
                names, _ = self.candidates(n.zone)
                if not names:
                    failed["no_backend"] += q
                    continue
                weights = []
                for name in names:
                    b = self.backends[name]
                    if self.algorithm == "least-outstanding":
                        w = 1000.0 / self.latency_ms(b) if self.answers(b) else 1000.0 / self.spec.client_timeout_ms
                    else:
                        w = self.slow_start_weight(b, now)
                    weights.append((name, round(w * 1_000_000)))
                turn = i % len(weights)  # each node leaves its odd requests to other backends
                for name, share in _split(q, weights[turn:] + weights[:turn]).items():
                    if share:
                        sent[name] = sent.get(name, 0) + share
        # nodes forward what they can
        node_cap = self.spec.node_capacity_rps * dt_ms // 1000
        over = 0
        for n, q in per_node.items():
            n.handled = q
            over += max(0, q - node_cap)
        served = 0
        dead = []
        for name, q in sent.items():
            b = self.backends[name]
            if not self.answers(b):
                failed["dead_backend"] += q
                dead.append(name)
                result.backends[name] = (q, 0, q)
                continue
            if self.latency_ms(b) > self.spec.client_timeout_ms:
                failed["slow"] += q
                result.backends[name] = (q, 0, q)
                continue
            cap = int(b.capacity_rps * self.warm_share(b, now) * dt_ms / 1000)
            ok = min(q, cap)
            failed["overload"] += q - ok
            result.backends[name] = (q, ok, q - ok)
            served += ok
        if over and served:
            cut = min(over, served)
            failed["node_overload"] += cut
            served -= cut
        result.served = served
        result.dead_fed = tuple(dead)
        return result

    # -- node scaling ----------------------------------------------------------------------
    def zone_util_pct(self, zone: str) -> float:
        nodes = self.active_nodes(zone)
        if not nodes:
            return 0.0
        cap = self.spec.node_capacity_rps * len(nodes)
        rate = sum(n.handled for n in nodes) * 1000 / max(self._last_dt_ms, 1)
        return round(100 * rate / cap, 1)

    def _scale(self, now: int) -> None:
        for zone in self.zones:
            if not self.cloud.hardware.zones[zone].up:
                continue
            nodes = self.nodes[zone]
            active = [n for n in nodes if n.state == "active"]
            pending = [n for n in nodes if n.state == "pending"]
            util = self.zone_util_pct(zone)
            want_more = util >= self.spec.scale_out_pct or len(active) + len(pending) < self.min_nodes
            if want_more and not pending and len(nodes) < self.spec.max_nodes_per_zone:
                node = self._new_node(zone, active=False)
                node.ready_ms = now + self.spec.scale_delay_s * 1000
                self.cloud.emit("balancer.node_requested", zone=zone, node=node.id, util_pct=util, ready_at_s=node.ready_ms / 1000)
                self.cloud.clock.schedule(node.ready_ms, lambda n=node: self._join(n))
            if util < self.spec.scale_in_pct and len(active) > self.min_nodes and not pending:
                since = self._low_since[zone]
                if since is None:
                    self._low_since[zone] = now
                elif now - since >= 300_000:
                    self._leave(active[-1])
                    self._low_since[zone] = None
            else:
                self._low_since[zone] = None

    def _join(self, node: Node) -> None:
        if node.state != "pending" or node not in self.nodes[node.zone]:
            return
        node.state = "active"
        self.version += 1
        self._note_dns()
        broken, lost = self.reroute(f"node {node.id} joined")
        self.cloud.emit("balancer.node_joined", zone=node.zone, node=node.id, nodes=len(self.active_nodes(node.zone)), connections_broken=broken)

    def _leave(self, node: Node) -> None:
        self.nodes[node.zone].remove(node)
        self.version += 1
        broken, lost = self.reroute(f"node {node.id} left")
        self.cloud.emit("balancer.node_removed", zone=node.zone, node=node.id, nodes=len(self.active_nodes(node.zone)), connections_broken=broken)

    def reserve(self, per_zone: int) -> int:
        """Keep at least this many nodes per zone (AWS: capacity reservation); missing
        ones are requested now and join after the scaling delay."""
        if not 1 <= per_zone <= self.spec.max_nodes_per_zone:
            raise CloudError("ValidationError", f"nodes per zone must be from 1 to {self.spec.max_nodes_per_zone}, not {per_zone}")
        was = self.min_nodes
        self.min_nodes = per_zone
        self.cloud.emit("balancer.configured", setting="min_nodes_per_zone", value=per_zone, was=was)
        requested = 0
        now = self.cloud.now_ms
        for zone in self.zones:
            while len(self.nodes[zone]) < per_zone:
                node = self._new_node(zone, active=False)
                node.ready_ms = now + self.spec.scale_delay_s * 1000
                self.cloud.emit("balancer.node_requested", zone=zone, node=node.id, util_pct=self.zone_util_pct(zone), ready_at_s=node.ready_ms / 1000)
                self.cloud.clock.schedule(node.ready_ms, lambda n=node: self._join(n))
                requested += 1
        return requested

    # -- health checks ----------------------------------------------------------------------
    def _enter_service(self, b: Backend, healthy: bool = False) -> None:
        """Register a backend: a new one starts ``initial`` and gets traffic once a check
        passes; one that was serving before the story starts is healthy and warm."""
        b.state = "in-service"
        b.fresh_since_ms = None
        # a new generation, so that checks of an earlier time in service stay stopped
        gen = {z: v.generation + 1 for z, v in b.views.items()}
        b.views = {
            z: View(state="healthy", passes=self.health_check.healthy_threshold, generation=gen.get(z, 0))
            if healthy
            else View(generation=gen.get(z, 0))
            for z in self.zones
        }
        for zone in self.zones:
            self._start_checks(b, zone)
        self._changed()

    def _start_checks(self, b: Backend, zone: str) -> None:
        view = b.views[zone]
        token = view.generation
        interval_ms = self.health_check.interval_s * 1000
        first = self.cloud.now_ms + 1 + self.cloud.rng.randrange(interval_ms)
        self.cloud.clock.schedule(first, lambda: self._check(b, zone, token))

    def _check(self, b: Backend, zone: str, token: int) -> None:
        view = b.views.get(zone)
        if view is None or view.generation != token or b.state == "spare":
            return
        cloud = self.cloud
        hc = self.health_check
        ok: bool | None = None  # None: the zone's checker is down with its nodes
        if cloud.hardware.zones[zone].up:
            ok = self.answers(b) and self.latency_ms(b) <= hc.timeout_s * 1000
            if ok:
                self._record(b, zone, token, True, "")
            else:  # no answer in time: the checker knows only when the timeout expires
                reason = "Target.Timeout" if self.answers(b) else "Target.FailedHealthChecks"
                cloud.clock.schedule_in(hc.timeout_s * 1000, lambda: self._record(b, zone, token, False, reason))
        if self.checks_sleep and (ok is None or view.state == ("healthy" if ok else "unhealthy")):
            # the next checks can only say the same again: they sleep until a change
            self._asleep[(b.name, zone)] = (b, view, token, cloud.now_ms, ok)
        else:
            cloud.clock.schedule_in(hc.interval_s * 1000, lambda: self._check(b, zone, token))

    def _wake(self) -> None:
        """Wake the sleeping checks after something they read changed: the checks slept
        through count as the same result again, and the chain goes on at its own phase.
        A check due at this very moment has already run when the change comes from the
        player between two steps (every clock action due by the step's end has run), and
        runs after it when the change is itself a clock action of this moment."""
        now, interval = self.cloud.now_ms, self.health_check.interval_s * 1000
        last_old = now if now <= self._stepped_to else now - 1  # the last check that saw the old answer
        asleep, self._asleep = self._asleep, {}
        for (name, zone), (b, view, token, at, ok) in asleep.items():
            if b.views.get(zone) is not view or view.generation != token or b.state == "spare":
                continue  # taken out of service, or its checks restarted, while it slept
            missed = max(0, (last_old - at) // interval)
            if missed > 0 and ok is not None:
                if ok:
                    view.passes, view.failures = view.passes + missed, 0
                else:
                    view.passes, view.failures = 0, view.failures + missed
            nxt = at + (missed + 1) * interval
            self.cloud.clock.schedule(nxt, lambda b=b, zone=zone, token=token: self._check(b, zone, token))

    def _record(self, b: Backend, zone: str, token: int, ok: bool, reason: str) -> None:
        view = b.views.get(zone)
        if view is None or view.generation != token or b.state == "spare":
            return  # taken out of service, or its checks restarted, while the check waited
        if not self.cloud.hardware.zones[zone].up:
            return  # the checker went dark while it waited
        verdict = self.health_check.judge(view, ok)
        if verdict is not None:
            self._mark(b, zone, view, verdict, reason)

    def _mark(self, b: Backend, zone: str, view: View, state: str, reason: str) -> None:
        was = any(v.state == "healthy" for v in b.views.values())
        view.state = state
        now = any(v.state == "healthy" for v in b.views.values())
        if now and not was:
            b.fresh_since_ms = self.cloud.now_ms  # back in rotation, with cold caches
        extra = {"reason": reason} if reason else {}
        self.cloud.emit(f"balancer.backend_{state}", backend=b.name, zone=zone, **extra)
        self._changed()
        self.reroute(f"{b.name} {state} in {zone}")

    def _changed(self) -> None:
        """The candidates may have changed: recompute them (and the fail-open state)."""
        self.version += 1
        self._note_dns()
        opened = {z for z in self.zones if self.candidates(z)[1]}
        for z in sorted(opened - self.fail_open):
            self.cloud.emit("balancer.fail_open", zone=z, open=True)
        for z in sorted(self.fail_open - opened):
            self.cloud.emit("balancer.fail_open", zone=z, open=False)
        self.fail_open = opened

    def set_health_check(self, setting: str, value: int) -> tuple[int, int]:
        new = self.health_check.changed(setting, value)
        key = SETTING_ALIASES.get(setting, setting)
        old = getattr(self.health_check, key)
        self.health_check = new
        self.cloud.emit("balancer.configured", setting=key, value=getattr(new, key), was=old)
        if key == "interval_s":
            self._wake()  # the sleeping checks counted up to now, then every chain restarts
            for b in self.backends.values():
                if b.state == "spare":
                    continue
                for zone in self.zones:
                    b.views[zone].generation += 1
                    self._start_checks(b, zone)
        else:  # a check's verdict may now differ (a slow backend and a new timeout)
            self._wake()
        return old, getattr(new, key)

    def on_health(self, kind: str, ident: str, before: Health, after: Health) -> None:
        """A part's health changed: the checks may now see another answer, the DNS answer
        may lose a zone, and a zone's flows may have lost their nodes."""
        self._wake()
        self.version += 1
        self._note_dns()
        if kind == "zone" and ident in self.nodes:
            self.reroute(f"zone {ident} {after.value}")

    # -- the player's changes ----------------------------------------------------------------
    def backend(self, name: str) -> Backend:
        b = self.backends.get(name)
        if b is None:
            raise CloudError("InvalidTarget", f"no backend named {name!r} (backends: {', '.join(self.backends) or 'none'})")
        return b

    def _moved_if(self, names_after: Iterable[str]) -> Change:
        """What a new healthy backend set would move: Maglev table entries (or, under
        flow-hash, hash values modulo the backend count, counted over the same M), and
        open connections whose hash would now lead to another backend than the one they
        are on. A proxy rule (round robin, least outstanding) pins no flow: 0."""
        wanted = set(names_after)
        after = tuple(n for n in self.backends if n in wanted)
        before, _ = self.candidates(self.zones[0]) if self.zones else ((), False)
        size = self.table_size
        if self.algorithm == "flow-hash":
            if not before or not after:
                entries = size
            else:
                entries = sum(1 for k in range(size) if before[k % len(before)] != after[k % len(after)])
        else:
            old = self.table(before) if before else None
            new = self.table(after) if after else None
            entries = size if old is None or new is None else old.moved(new)
        moved = 0.0
        if self.algorithm in HASHING:
            rule_after = self._rule_for(after) if after else None
            for (_, name, rule), count in self.flows.items():
                if name is not None and rule is not None:
                    moved += count * self.break_shares(rule, rule_after).get(name, 1.0)
        return Change(entries, size, round(moved), round(self.open_flows))

    def add(self, name: str) -> Change:
        b = self.backend(name)
        if b.state == "in-service":
            raise CloudError("DuplicateTarget", f"{name} is already in service")
        zone = self.zones[0]
        change = self._moved_if(list(self.candidates(zone)[0]) + [name])
        was = b.state
        self._enter_service(b)
        self.last_change = change
        self.cloud.emit(
            "balancer.backend_added", backend=name, was=was, entries_moved=change.entries_moved, connections_moved=change.connections_moved
        )
        return change

    def remove(self, name: str) -> Change:
        b = self.backend(name)
        if b.state != "in-service":
            raise CloudError("InvalidTarget", f"{name} is not in service (it is {b.state})")
        zone = self.zones[0]
        change = self._moved_if([n for n in self.candidates(zone)[0] if n != name])
        b.state = "draining"
        b.drain_until_ms = self.cloud.now_ms + self.deregistration_delay_s * 1000
        self._wake()  # its sleeping checks counted up to now
        for v in b.views.values():
            v.generation += 1  # its checks stop
        self._changed()
        self.last_change = change
        self.cloud.emit(
            "balancer.backend_removed",
            backend=name,
            entries_moved=change.entries_moved,
            connections_moved=change.connections_moved,
            draining_s=self.deregistration_delay_s,
        )
        self._drain_due(self.cloud.now_ms)
        return change

    def _drain_due(self, now: int) -> None:
        for b in self.backends.values():
            if b.state == "draining" and (now >= b.drain_until_ms or not b.conns):
                closed = b.conns
                self.flows = {key: count for key, count in self.flows.items() if key[1] != b.name}
                self._tally()
                b.state = "spare"
                b.fresh_since_ms = None
                self.broken += closed
                self.version += 1
                self.cloud.emit("balancer.backend_drained", backend=b.name, connections_closed=closed)

    def configure(self, setting: str, value: object) -> object:
        """algorithm, cross_zone, table_size, deregistration_delay_s, slow_start_s."""
        was: object
        if setting == "algorithm":
            if value not in ALGORITHMS:
                raise CloudError("ValidationError", f"no algorithm {value!r} (algorithms: {', '.join(ALGORITHMS)})")
            if self.slow_start_s and value != "round-robin":
                raise CloudError("ValidationError", "slow start works with round-robin only: set slow-start 0 first")
            was, self.algorithm = self.algorithm, str(value)
            # connections keep their backend; the rule applies to new flows, and to
            # flows that reach a node that has not seen them
            out: dict[Cohort, float] = {}
            for (zone, name, rule), count in self.flows.items():
                if self.algorithm not in HASHING:
                    key: Cohort = (zone, None, None)
                    out[key] = out.get(key, 0.0) + count
                elif name is None and self.rule(zone) is not None:
                    now_rule = self.rule(zone)
                    for n, share in self.shares(now_rule).items():  # type: ignore[arg-type]
                        key = (zone, n, now_rule)
                        out[key] = out.get(key, 0.0) + count * share
                else:
                    out[(zone, name, rule)] = out.get((zone, name, rule), 0.0) + count
            self.flows = out
            self._tally()
        elif setting == "cross_zone":
            was, self.cross_zone = self.cross_zone, bool(value)
        elif setting == "table_size":
            size = int(value)  # type: ignore[arg-type]
            if not maglev.is_prime(size) or not 7 <= size <= maglev.MAX_TABLE_SIZE:
                raise CloudError(
                    "ValidationError",
                    f"the table size must be a prime from 7 to {maglev.MAX_TABLE_SIZE}, not {size} (the next prime is {maglev.next_prime(max(size, 7))})",
                )
            if self.fixed_offsets:
                raise CloudError("ValidationError", "this world fixes its backends' offsets and skips for its table size; it cannot change")
            was, self.table_size = self.table_size, size
            for b in self.backends.values():
                b.offset, b.skip = maglev.offset_skip(b.name, size)
            self._tables.clear()
            self._shares.clear()
            self._breaks.clear()
        elif setting == "deregistration_delay_s":
            lo, hi, _ = DEREGISTRATION_LIMITS
            v = int(value)  # type: ignore[arg-type]
            if not lo <= v <= hi:
                raise CloudError("ValidationError", f"the deregistration delay must be from {lo} to {hi} s (AWS's range), not {v}")
            was, self.deregistration_delay_s = self.deregistration_delay_s, v
        elif setting == "slow_start_s":
            v = int(value)  # type: ignore[arg-type]
            lo, hi = SLOW_START_LIMITS
            if v and not lo <= v <= hi:
                raise CloudError("ValidationError", f"slow start must be 0 (off) or from {lo} to {hi} s (AWS's range), not {v}")
            if v and self.algorithm != "round-robin":
                raise CloudError("ValidationError", f"slow start works with round-robin only (the algorithm is {self.algorithm})")
            was, self.slow_start_s = self.slow_start_s, v
        else:
            raise CloudError("ValidationError", f"no setting {setting!r}")
        self.cloud.emit("balancer.configured", setting=setting, value=value, was=was)
        self._changed()
        return was

    def look_up(self, key: int | None = None, slot: int | None = None) -> Lookup:
        """Where a flow (by its 5-tuple's hash) or a Maglev table slot leads, as the first
        zone's nodes see it."""
        zone = self.zones[0]
        names, _ = self.candidates(zone)
        if slot is None:
            if key is None:
                raise CloudError("ValidationError", "look up a flow or a slot")
            slot = key % self.table_size
        if not 0 <= slot < self.table_size:
            raise CloudError("ValidationError", f"a slot is from 0 to {self.table_size - 1}, not {slot}")
        backend: str | None = None
        if names:
            if key is not None and self.algorithm == "flow-hash":
                backend = names[key % len(names)]
            elif key is None or self.algorithm == "maglev":
                t = self.table(names)
                backend = t.names[t.entries[slot]]
        node = self.ecmp(key, zone) if key is not None else None
        self.lookup = Lookup(key if key is not None else -1, slot, backend, node.id if node else None)
        self.cloud.emit("balancer.looked_up", slot=slot, backend=backend or "", algorithm=self.algorithm)
        return self.lookup

    # -- whole again? --------------------------------------------------------------------
    def whole(self) -> bool:
        """No request failed in the last step, and no backend in rotation is dead."""
        if self.last_failed:
            return False
        for zone in self.zones:
            if not self.active_nodes(zone):
                continue
            names, _ = self.candidates(zone)
            if any(not self.answers(self.backends[n]) for n in names):
                return False
        return True

    # -- metrics ------------------------------------------------------------------------
    def imbalance(self) -> float:
        """The busiest in-service backend's request rate over the average of those that
        answer (1.0 is perfectly even)."""
        rates = [b.rate for b in self.in_service() if self.answers(b)]
        if not rates or not sum(rates):
            return 1.0
        return round(max(rates) / (sum(rates) / len(rates)), 3)

    def metrics(self) -> dict[str, float | int]:
        failed = sum(self.failed.values())
        nodes = sum(len(self.active_nodes(z)) for z in self.zones)
        pending = sum(1 for z in self.zones for n in self.nodes[z] if n.state == "pending")
        out: dict[str, float | int] = {
            "lb_rps": self.rps_at(self.cloud.now_ms),
            "lb_requests": self.offered,
            "lb_served": self.served,
            "lb_failed": failed,
            "lb_availability_pct": round(100 * self.served / self.offered, 4) if self.offered else 100.0,
            "lb_imbalance": self.imbalance(),
            "lb_connections": round(self.open_flows),
            "lb_connections_broken": self.broken,
            "lb_connections_lost": self.lost,
            "lb_dead_traffic_s": self.dead_traffic_ms / 1000,
            "lb_nodes": nodes,
            "lb_nodes_pending": pending,
            "lb_node_util_pct": max((self.zone_util_pct(z) for z in self.zones), default=0.0),
            "lb_backends_in_service": len(self.in_service()),
            "lb_backends_healthy": sum(1 for b in self.in_service() if all(v.state == "healthy" for v in b.views.values())),
            "lb_table_size": self.table_size,
            "lb_table_moved": self.last_change.entries_moved if self.last_change else 0,
            "lb_connections_moved": self.last_change.connections_moved if self.last_change else 0,
            "lb_failing_open": len(self.fail_open),
        }
        for reason in FAIL_REASONS:
            out[f"lb_failed_{reason}"] = self.failed[reason]
        if self.lookup is not None:
            out["lb_lookup_slot"] = self.lookup.slot
            out["lb_lookup_backend"] = list(self.backends).index(self.lookup.backend) if self.lookup.backend else -1
        for b in self.backends.values():
            out[f"lb_backend_rps.{b.name}"] = round(b.rate, 1)
        return out


def _weight(count: float) -> int:
    """A fluid connection count as an integer weight for :func:`_split`."""
    return round(count * WEIGHT_SCALE)


def _split(total: int, weights: list[tuple[K, int]]) -> dict[K, int]:
    """``total`` split in proportion to integer weights, the remainder to the largest
    fractional parts (ties in the order given): deterministic, and sums to ``total``."""
    wsum = sum(w for _, w in weights)
    out: dict[K, int] = {k: 0 for k, _ in weights}
    if total <= 0 or wsum <= 0:
        return out
    rema = []
    given = 0
    for i, (k, w) in enumerate(weights):
        q, r = divmod(total * w, wsum)
        out[k] += q
        given += q
        rema.append((-r, i, k))
    rema.sort()
    for _, _, k in rema[: total - given]:
        out[k] += 1
    return out


def attach(cloud: "Cloud", spec: BalancerSpec) -> Balancer:
    lb = Balancer(cloud, spec)
    cloud.metric_sources.append(lb.metrics)
    cloud.add_step_hook(lb.step, lb.quiet_until)
    lb.start()
    cloud.health_listeners.append(lb.on_health)
    return lb


# -- what the mechanism publishes ------------------------------------------------------------
METRICS = metrics(
    Metric("lb_rps", "the requests per second offered now", clocked=True),
    # the counters grow with the clock in a steady state, which the fast-forward skips
    Metric("lb_requests", "requests offered so far", clocked=True),
    Metric("lb_served", "requests served", clocked=True),
    Metric("lb_failed", "requests failed", clocked=True),
    Metric("lb_failed_{reason}", "requests failed for one reason", clocked=True),
    Metric("lb_availability_pct", "the share of requests served", clocked=True),
    ("lb_imbalance", "the busiest backend's request rate over the average (1 = even)"),
    ("lb_connections", "connections open"),
    ("lb_connections_broken", "connections reset because a change sent them to another backend or node"),
    ("lb_connections_lost", "connections that died with their backend or zone"),
    Metric("lb_dead_traffic_s", "seconds during which a dead backend still received requests", clocked=True),
    ("lb_nodes", "balancer nodes running"),
    ("lb_nodes_pending", "balancer nodes on their way"),
    ("lb_node_util_pct", "the busiest zone's node load"),
    ("lb_backends_in_service", "backends in service"),
    ("lb_backends_healthy", "backends every zone believes healthy"),
    ("lb_table_size", "the Maglev table's size M"),
    ("lb_table_moved", "table entries the last backend change moved"),
    ("lb_connections_moved", "open connections whose hash leads elsewhere after the last backend change"),
    ("lb_failing_open", "zones failing open (no healthy backend, so all of them)"),
    ("lb_lookup_slot", "the table slot of the last lookup"),
    ("lb_lookup_backend", "the backend of the last lookup, numbered from 0 in the world's order"),
    ("lb_backend_rps.{backend}", "one backend's request rate (averaged over about 30 s)"),
)
EVENTS = events(
    ("balancer.configured", "setting value was", "a balancer setting changed"),
    ("balancer.backend_healthy", "backend zone", "a zone's nodes put a backend in rotation"),
    ("balancer.backend_unhealthy", "backend zone reason", "a zone's nodes took a backend out"),
    ("balancer.backend_added", "backend was entries_moved connections_moved", "a backend was registered"),
    ("balancer.backend_removed", "backend entries_moved connections_moved draining_s", "a backend was deregistered (draining)"),
    ("balancer.backend_drained", "backend connections_closed", "a draining backend's delay ended"),
    ("balancer.connections_reset", "broken lost cause", "open connections were broken or lost by a change"),
    ("balancer.node_requested", "zone node util_pct ready_at_s", "the balancer asked for one more node"),
    ("balancer.node_joined", "zone node nodes connections_broken", "a new node joined and ECMP re-spread the zone's flows"),
    ("balancer.node_removed", "zone node nodes connections_broken", "an idle node was removed"),
    ("balancer.fail_open", "zone open", "a zone's nodes began (or stopped) failing open"),
    ("balancer.errors_started", "failed cause", "requests began failing"),
    ("balancer.errors_stopped", "failed lasted_s", "requests stopped failing"),
    ("balancer.looked_up", "slot backend algorithm", "the player looked up where a flow or slot leads"),
)
