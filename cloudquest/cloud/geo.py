"""Global scale: one service run from several regions, as the large clouds let you build it.

The capstone mechanism (the level's section 17). A cloud scales across the planet because
it is *distributed*, *automated*, *virtualized*, *replicated* and *programmable*; this
module puts each of the five in the player's hands and measures it, on top of the
mechanisms of the earlier chapters:

- **Regions and users.** The world's regions (cloud/hardware.py: zones, racks, hosts)
  sit in cities; users on several continents send a day of traffic, each continent's
  load a seeded demand curve with its own evening peak (cloud/autoscaling.py's
  :class:`~cloudquest.cloud.autoscaling.Demand`). Latency is distance, the edge
  chapter's model (cloud/edge.py): light in fibre covers about 200 km per millisecond,
  a user's internet path is 1.6 times the great circle plus 5 ms of last mile, and the
  provider's backbone between regions 1.5 times it.
- **Distributed: DNS latency routing and health checks.** Each continent's users resolve
  the service's name through Route 53. With *latency-based routing* the answer is the
  region with the lowest latency to them among the healthy ones; with a *simple* record
  it is the one region the record names. A Route 53 health check probes each region's
  endpoint every 30 s (or 10 s, the "fast" interval) and declares it unhealthy after 3
  failures in a row (the default failure threshold; Route 53 Developer Guide, "How
  Amazon Route 53 determines whether a health check is healthy"), healthy again after
  as many passes. If every record is unhealthy, Route 53 answers as if all were
  healthy. Clients keep an answer for the record's TTL, so after a change the old
  answer fades out over one TTL.
- **Automated: one auto scaling group per region.** Target tracking on average CPU in
  the way chapter 14 models it (3 one-minute datapoints above the target to scale out,
  15 below 90 % of it to scale in; capacity x CPU / target, rounded up). A scale-out
  is a real launch through the control plane (scheduler, hypervisor, network, boot),
  so the new instance serves only once its guest has booted.
- **Virtualized.** Every instance is a VM the scheduler places on a shared host within
  its allocation limits (cloud/scheduler.py); the mechanism counts the VMs per busy
  host and any host over its limit.
- **Replicated: a database with cross-region replicas.** Writes go to the primary;
  reads are served by a copy in the request's region if there is one, else by the
  primary across the backbone. Replication is *asynchronous*, the way Aurora Global
  Database, DynamoDB global tables and S3 cross-region replication work: a replica's
  lag is the one-way backbone latency plus the time to apply the change (seeded, a few
  hundred ms; AWS quotes "typically under a second" for Aurora Global Database). When
  the primary's region goes dark, what the replicas had not received is lost to the
  service: the **RPO** is the lag of the best replica at that instant (with no replica,
  the newest copy outside the region is the nightly snapshot: every write since it).
  With failover set to ``auto`` the runbook (a CloudWatch alarm on the health check,
  as AWS's guidance for Aurora Global Database has you build) promotes the replica in
  the healthy region nearest the old primary after ``promote_s``; with ``manual``
  writes wait for someone to type ``db promote``. The **RTO** is the time from the
  outage until the service is whole again (every request served).
- **Programmable.** Nothing here: the game replays the player's design file on a fresh
  world and compares event logs (cloudquest/game/commands/geo.py).

The day: 10-second steps. Within a step each continent's requests go to the region DNS
sent them to (the old answer's share fading over the TTL); a region serves up to
``rps_per_vcpu`` requests a second per vCPU of its instances in service, and what is
above that fails; a request's time is the network there and back, the server's time in
an M/M/1 queue (mean S / (1 - utilisation), spread exponentially: ten quantiles per
step), and the database's (local, or a backbone round trip). The 95th percentile per
continent is over the whole day so far, failed requests counted as slower than any.

**Cost** accrues per step: each billed instance (running or impaired) at its catalogue
price, Route 53 health checks ($0.50 a month each for an AWS endpoint, $1.00 more for
the 10 s interval), and replication's inter-region transfer ($0.02 per GB, each replica
receiving every write). ``geo_cost_per_hour`` is the average over the run so far.

Where the game simplifies: one health checker per region stands for Route 53's fleet
of checkers (which call a region unhealthy when more than 82 % of them... fail, Route
53's own rule, is summarised as "threshold failures in a row"); every client of a
continent stands in one city; a region's load balancer is perfect (requests spread
evenly over the instances in service, no health-check lag inside the region); DNS
query charges and the load balancers' price are left out; instances are billed at
their sticker price (no burstable CPU credits, which chapter 9 covers); the promotion
time is a round figure; a failed-over old primary rejoins as a replica the moment its
region is back (Aurora detaches it and you add it back); an auto scaling group does not
replace impaired instances (their region is down: there is nowhere to put them).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from .autoscaling import TRACKING_IN_DATAPOINTS, TRACKING_IN_SHARE, TRACKING_OUT_DATAPOINTS, Demand, DemandSpec, mm1_latency_ms
from .catalogue import CATALOGUE
from .edge import BACKBONE_STRETCH, FIBRE_KM_PER_MS, great_circle_km
from .errors import CloudError
from .faults import set_health
from .hardware import Health
from .mechanism import Metric, events, metrics
from .world import CoreWorld, Strict, known

if TYPE_CHECKING:
    from .cloud import Cloud

NAME = r"^[a-z][a-z0-9-]{0,31}$"
USER_STRETCH = 1.6  # a user's internet path against the great circle (the edge chapter's figure)
LAST_MILE_MS = 5.0
DB_MS = 2.0  # a query answered by a copy in the same region
MINUTE_MS = 60_000
HEALTH_INTERVALS = (10, 30)  # Route 53: standard 30 s, fast 10 s
DEFAULT_INTERVAL_S, DEFAULT_THRESHOLD = 30, 3  # Route 53's defaults
USD_HEALTH_CHECK_MONTH = 0.50  # Route 53, a health check of an AWS endpoint
USD_FAST_INTERVAL_MONTH = 1.00  # ... the 10 s interval, an optional feature
USD_PER_GB_INTER_REGION = 0.02  # EC2 data transfer between regions (us-east-1 to another region)
HOURS_PER_MONTH = 730
QUANTILES = tuple((i + 0.5) / 10 for i in range(10))  # ten equal slices of an exponential
EXP_POINTS = tuple(-math.log(1 - q) for q in QUANTILES)
HIST_MS = 4000  # latency histogram: 1 ms bins; anything slower (or failed) in the last
POLICIES = ("latency", "simple")
FAILOVER = ("auto", "manual")
HAND_KINDS = ("scheduler.configured",)  # other mechanisms' settings a player may change by hand
WHOLE_FAILED = 0.5  # a step with fewer failed requests than this counts as whole


# -- the world section ----------------------------------------------------------------------
class SiteSpec(Strict):
    region: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,47}$", description="a region of the world")
    city: str = Field(min_length=1, max_length=40)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ContinentSpec(Strict):
    continent: str = Field(pattern=NAME, description="the name its latency is reported under")
    city: str = Field(min_length=1, max_length=40, description="where its users stand")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    demand: DemandSpec


class OutageSpec(Strict):
    at_s: int = Field(ge=1, le=30 * 86_400)
    for_s: int = Field(ge=1, le=30 * 86_400)
    region: str = Field(default="primary", description="a region, or 'primary': wherever the database's primary is then")


class GeoSpec(Strict):
    sites: list[SiteSpec] = Field(min_length=2, max_length=8)
    users: list[ContinentSpec] = Field(min_length=1, max_length=8)
    outage: OutageSpec | None = None
    rps_per_vcpu: int = Field(default=50, ge=1, le=100_000)
    service_ms: float = Field(default=8, gt=0, le=10_000, description="a request's server time on an idle instance")
    timeout_ms: float = Field(default=3000, gt=0, le=60_000)
    write_pct: float = Field(default=2, ge=0, le=100, description="the share of requests that write")
    write_kib: float = Field(default=2, ge=0, le=1024, description="what one write sends to each replica")
    apply_ms: int = Field(default=150, ge=0, le=60_000, description="a replica's time to apply a change")
    apply_jitter_ms: int = Field(default=400, ge=0, le=60_000)
    promote_s: int = Field(default=60, ge=0, le=3600, description="how long promoting a replica takes")
    snapshot_every_s: int = Field(default=86_400, ge=60, description="the nightly snapshot copied to another region")
    budget_per_hour: float | None = Field(default=None, ge=0)
    run_s: int = Field(default=86_400, ge=60, le=30 * 86_400)
    designs: dict[str, str] = Field(default_factory=dict, description="design files `design new --from NAME` writes")

    @model_validator(mode="after")
    def _unique(self) -> "GeoSpec":
        for what, names in (("site", [s.region for s in self.sites]), ("continent", [u.continent for u in self.users])):
            dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
            if dup is not None:
                raise ValueError(f"{what} {dup!r} is listed twice")
        return self


def check_world(world: CoreWorld, spec: GeoSpec) -> None:
    regions = [r.name for r in world.regions]
    for s in spec.sites:
        if s.region not in regions:
            raise ValueError(f"geo site {s.region!r} is not a region of the world (regions: {known(set(regions))})")
    if spec.outage is not None and spec.outage.region != "primary" and spec.outage.region not in regions:
        raise ValueError(f"the outage's region {spec.outage.region!r} is not a region of the world")


def user_rtt_ms(a: SiteSpec | ContinentSpec, b: SiteSpec | ContinentSpec) -> float:
    """A user's round trip to a region over the internet."""
    return 2 * great_circle_km(a.lat, a.lon, b.lat, b.lon) * USER_STRETCH / FIBRE_KM_PER_MS + LAST_MILE_MS


def backbone_rtt_ms(a: SiteSpec, b: SiteSpec) -> float:
    """A round trip between two regions over the provider's backbone."""
    return 2 * great_circle_km(a.lat, a.lon, b.lat, b.lon) * BACKBONE_STRETCH / FIBRE_KM_PER_MS


# -- state ------------------------------------------------------------------------------------
@dataclass(eq=False)
class Tier:
    """A region's web tier: an auto scaling group over the region's zones."""

    region: str
    type: str
    min: int
    max: int
    target_pct: float | None
    desired: int
    members: list[str] = field(default_factory=list)
    launched: int = 0
    above: int = 0
    below: int = 0
    cpu_pct: float = 0.0
    minute_load: float = 0.0  # request-seconds offered this minute
    minute_cap: float = 0.0  # request-seconds it could serve
    served: float = 0.0  # requests served over the run
    load_rps: float = 0.0  # offered in the last step
    capacity_rps: float = 0.0
    scale_outs: int = 0


@dataclass(eq=False)
class Check:
    """Route 53's view of one region's endpoint."""

    region: str
    phase_ms: int
    healthy: bool = True
    streak: int = 0  # checks in a row that disagree with ``healthy``


@dataclass(eq=False)
class Database:
    name: str
    primary: str
    type: str
    failover: str = "manual"
    replicas: dict[str, float] = field(default_factory=dict)  # region -> lag in ms
    promoting: tuple[str, int] | None = None  # (region, done at ms)
    blocked: bool = False  # the runbook found no replica to promote (said once)
    writes: float = 0.0
    instances: dict[str, str] = field(default_factory=dict)  # region -> instance name


@dataclass(eq=False)
class Answer:
    """What one continent's resolvers hold."""

    region: str | None = None
    old: str | None = None
    changed_ms: int = 0


@dataclass(eq=False)
class Outage:
    region: str
    at_ms: int
    rpo_s: float | None = None
    writes_lost: float = 0.0
    recovered_ms: int | None = None
    back_ms: int | None = None  # when the region came back


class GlobalService:
    def __init__(self, cloud: "Cloud", spec: GeoSpec) -> None:
        self.cloud = cloud
        self.spec = spec
        self.sites = {s.region: s for s in spec.sites}
        self.users = spec.users
        self.demand = [Demand(u.demand, random.Random(cloud.rng.getrandbits(64))) for u in spec.users]
        self.lag_rng = random.Random(cloud.rng.getrandbits(64))
        self.user_rtt = {(u.continent, r): user_rtt_ms(u, s) for u in spec.users for r, s in self.sites.items()}
        self.rtt = {(a, b): backbone_rtt_ms(sa, sb) for a, sa in self.sites.items() for b, sb in self.sites.items()}
        self.tiers: dict[str, Tier] = {}
        self.db: Database | None = None
        self.policy = "simple"
        self.ttl_s = 60
        self.checks_on = False
        self.interval_s = DEFAULT_INTERVAL_S
        self.threshold = DEFAULT_THRESHOLD
        phase_rng = random.Random(cloud.rng.getrandbits(64))
        self.checks = {r: Check(r, phase_rng.randrange(HEALTH_INTERVALS[-1] * 1000)) for r in self.sites}
        self.answers = {u.continent: Answer() for u in spec.users}
        self.auto_instances: set[str] = set()
        self.hist = {u.continent: [0.0] * (HIST_MS + 1) for u in spec.users}
        self.offered = {u.continent: 0.0 for u in spec.users}
        self.failed = {u.continent: 0.0 for u in spec.users}
        self.cost_usd = 0.0
        self.outages: list[Outage] = []
        self.region_up = {r: True for r in self.sites}
        self.changed_ms: dict[str, int] = {}
        self.serving_max = 0
        self.dns_failovers = 0
        self.hand_changes = 0
        self._repairing = False
        self._hand_seen = 0
        self._p95: tuple[int, dict[str, float]] | None = None
        self.last_failed_rps = 0.0
        # set by the game (the cloud cannot see commands or replay designs)
        self.design_status = None  # () -> (seeds passed, programmable 0/1)

    # -- the player's API (each call checks first, then changes, and is logged) -----------
    def _region(self, region: str) -> None:
        if region not in self.sites:
            raise CloudError("InvalidParameterValue", f"no region {region!r} here (regions: {', '.join(self.sites)})")

    def _note_hand(self) -> None:
        if self.cloud.now_ms > 0:
            self.hand_changes += 1

    def deploy(self, region: str, type_name: str, min_: int, max_: int, target_pct: float | None) -> Tier:
        self._region(region)
        if type_name not in CATALOGUE:
            raise CloudError("InvalidParameterValue", f"unknown instance type {type_name!r} (types: {', '.join(CATALOGUE)})")
        if not 0 <= min_ <= max_:
            raise CloudError("ValidationError", f"min {min_} must be at most max {max_}")
        if region in self.tiers:
            raise CloudError("AlreadyExists", f"region {region} already has a web tier (one per region)")
        tier = Tier(region, type_name, min_, max_, target_pct, desired=min_)
        self.tiers[region] = tier
        self._note_hand()
        self.cloud.api_call("CreateAutoScalingGroup", group=f"web-{region}", type=type_name)
        self.cloud.emit(
            "geo.tier_deployed", region=region, type=type_name, min=min_, max=max_, target_pct=target_pct or 0
        )
        self._fill(tier, "the group was created")
        self._resolve()
        return tier

    def set_dns(self, policy: str | None = None, ttl_s: int | None = None, checks: bool | None = None,
                interval_s: int | None = None, threshold: int | None = None) -> None:
        if policy is not None and policy not in POLICIES:
            raise CloudError("InvalidParameterValue", f"routing policy must be one of {', '.join(POLICIES)}")
        if interval_s is not None and interval_s not in HEALTH_INTERVALS:
            raise CloudError("InvalidParameterValue", "a health check's interval is 10 or 30 seconds")
        if threshold is not None and not 1 <= threshold <= 10:
            raise CloudError("InvalidParameterValue", "a health check's failure threshold is 1 to 10")
        changed = []
        for key, value in (("policy", policy), ("ttl_s", ttl_s), ("checks_on", checks), ("interval_s", interval_s),
                           ("threshold", threshold)):
            if value is not None:
                setattr(self, key, value)
                changed.append(f"{key}={value}")
        self._note_hand()
        self.cloud.api_call("ChangeResourceRecordSets", setting=",".join(changed))
        self.cloud.emit("geo.dns_configured", policy=self.policy, ttl_s=self.ttl_s, checks=int(self.checks_on),
                        interval_s=self.interval_s, threshold=self.threshold)
        if checks is not None:
            for c in self.checks.values():
                c.healthy, c.streak = True, 0
        self._resolve()

    def create_db(self, name: str, primary: str, type_name: str) -> Database:
        self._region(primary)
        if self.db is not None:
            raise CloudError("AlreadyExists", f"the service already has its database {self.db.name!r}")
        if type_name not in CATALOGUE:
            raise CloudError("InvalidParameterValue", f"unknown instance type {type_name!r} (types: {', '.join(CATALOGUE)})")
        inst = self._launch_db(name, primary, type_name)
        self.db = Database(name, primary, type_name, instances={primary: inst})
        self._note_hand()
        self.cloud.emit("geo.db_created", db=name, primary=primary, type=type_name)
        return self.db

    def _launch_db(self, name: str, region: str, type_name: str) -> str:
        zones = [z for z in self.cloud.hardware.regions[region].zones if z.up]
        if not zones:
            raise CloudError("InsufficientInstanceCapacity", f"region {region} has no zone up")
        inst_name = f"db-{name}-{region}"
        self.cloud.control.launch(inst_name, type_name, zones[0].id)
        return inst_name

    def _database(self, name: str) -> Database:
        if self.db is None or self.db.name != name:
            have = f"the database is {self.db.name!r}" if self.db else "there is no database yet (db create)"
            raise CloudError("DBClusterNotFoundFault", f"no database {name!r}: {have}")
        return self.db

    def add_replica(self, name: str, region: str) -> None:
        db = self._database(name)
        self._region(region)
        if region == db.primary or region in db.replicas:
            raise CloudError("AlreadyExists", f"{name} already has a copy in {region}")
        db.instances[region] = self._launch_db(name, region, db.type)
        db.replicas[region] = self._lag(db.primary, region)
        self._note_hand()
        self.cloud.emit("geo.replica_added", db=name, region=region, lag_ms=round(db.replicas[region]))

    def set_failover(self, name: str, mode: str) -> None:
        db = self._database(name)
        if mode not in FAILOVER:
            raise CloudError("InvalidParameterValue", f"failover is one of {', '.join(FAILOVER)}")
        db.failover = mode
        self._note_hand()
        self.cloud.emit("geo.failover_set", db=name, mode=mode)

    def promote(self, name: str, region: str, cause: str = "operator") -> None:
        db = self._database(name)
        if region not in db.replicas:
            have = ", ".join(db.replicas) or "none"
            raise CloudError("InvalidParameterValue", f"{name} has no replica in {region} (replicas: {have})")
        if not self.region_up[region]:
            raise CloudError("InvalidDBClusterStateFault", f"region {region} is down: its replica cannot be promoted")
        if db.promoting is not None:
            raise CloudError("InvalidDBClusterStateFault", f"{name} is already being promoted in {db.promoting[0]}")
        if cause == "operator":
            self._note_hand()
        done = self.cloud.now_ms + self.spec.promote_s * 1000
        db.promoting = (region, done)
        self.cloud.emit("geo.promoting", db=name, region=region, by=cause, done_at_s=done / 1000)
        self.cloud.clock.schedule(done, lambda: self._promoted(db, region))

    def _promoted(self, db: Database, region: str) -> None:
        if db.promoting is None or db.promoting[0] != region:
            return
        old = db.primary
        db.promoting = None
        del db.replicas[region]
        db.primary = region
        db.replicas[old] = self._lag(region, old)
        self.cloud.emit("geo.promoted", db=db.name, region=region, was=old)

    # -- data ---------------------------------------------------------------------------
    def _lag(self, a: str, b: str) -> float:
        jitter = self.lag_rng.randrange(self.spec.apply_jitter_ms + 1)
        return self.rtt[(a, b)] / 2 + self.spec.apply_ms + jitter

    def writable(self) -> bool:
        db = self.db
        return db is not None and db.promoting is None and self.region_up[db.primary]

    def copy_in(self, region: str) -> bool:
        db = self.db
        return db is not None and (region == db.primary or region in db.replicas) and self.region_up[region]

    # -- the tiers ----------------------------------------------------------------------
    def _live(self, tier: Tier) -> list[str]:
        insts = self.cloud.control.instances
        return [n for n in tier.members if insts[n].state in ("pending", "running", "impaired")]

    def _fill(self, tier: Tier, cause: str) -> None:
        live = self._live(tier)
        region = self.cloud.hardware.regions[tier.region]
        while len(live) < tier.desired:
            zones = [z.id for z in region.zones if z.up]
            if not zones:
                return
            insts = self.cloud.control.instances
            per_zone = {z: sum(1 for n in live if insts[n].zone == z) for z in zones}
            zone = min(zones, key=lambda z: (per_zone[z], zones.index(z)))
            tier.launched += 1
            name = f"web-{tier.region}-{tier.launched}"
            try:
                self.cloud.control.launch(name, tier.type, zone)
            except CloudError as exc:
                self.cloud.emit("geo.launch_failed", region=tier.region, zone=zone, code=exc.code)
                return
            if self.cloud.now_ms > 0:
                self.auto_instances.add(name)
            tier.members.append(name)
            live.append(name)
        while len(live) > tier.desired:
            insts = self.cloud.control.instances
            per_zone: dict[str, int] = {}
            for n in live:
                per_zone[insts[n].zone] = per_zone.get(insts[n].zone, 0) + 1
            zone = max(per_zone, key=lambda z: (per_zone[z], z))
            victim = [n for n in live if insts[n].zone == zone][-1]
            self.auto_instances.add(victim)
            self.cloud.control.terminate(victim)
            live.remove(victim)

    def _scale(self, tier: Tier, now: int) -> None:
        """One CloudWatch minute: the group's average CPU, and target tracking's alarms."""
        cpu = 100 * tier.minute_load / tier.minute_cap if tier.minute_cap else (100.0 if tier.minute_load else 0.0)
        tier.cpu_pct = round(min(cpu, 100.0), 1)
        tier.minute_load = tier.minute_cap = 0.0
        if tier.target_pct is None:
            return
        target = tier.target_pct
        tier.above = tier.above + 1 if tier.cpu_pct > target else 0
        tier.below = tier.below + 1 if tier.cpu_pct < target * TRACKING_IN_SHARE else 0
        serving = sum(1 for n in tier.members if self._serving(n))
        new = tier.desired
        if tier.above >= TRACKING_OUT_DATAPOINTS and serving:
            new = max(tier.desired, math.ceil(serving * tier.cpu_pct / target))
            tier.above = 0
        elif tier.below >= TRACKING_IN_DATAPOINTS:
            new = min(tier.desired, math.ceil(max(serving, 1) * tier.cpu_pct / target))
            tier.below = 0
        new = max(tier.min, min(tier.max, new))
        if new != tier.desired:
            was, tier.desired = tier.desired, new
            if new > was:
                tier.scale_outs += 1
            self.cloud.emit("geo.tier_scaled", region=tier.region, desired=new, was=was, cpu_pct=tier.cpu_pct)
        self._fill(tier, "target tracking")

    def _serving(self, name: str) -> bool:
        inst = self.cloud.control.instances[name]
        return inst.state == "running" and inst.booted

    # -- faults -------------------------------------------------------------------------
    def _start_outage(self, spec: OutageSpec) -> None:
        region = spec.region
        if region == "primary":
            region = self.db.primary if self.db is not None else next(iter(self.tiers), next(iter(self.sites)))
        self.cloud.emit("geo.outage", region=region, for_s=spec.for_s)
        for zone in self.cloud.hardware.regions[region].zones:
            if zone.up:
                set_health(self.cloud, "zone", zone.id, Health.FAILED, cause="outage")
        self.cloud.clock.schedule_in(spec.for_s * 1000, lambda: self._end_outage(region))

    def _end_outage(self, region: str) -> None:
        self._repairing = True
        try:
            for zone in self.cloud.hardware.regions[region].zones:
                if not zone.up:
                    set_health(self.cloud, "zone", zone.id, Health.HEALTHY, cause="outage")
        finally:
            self._repairing = False

    def on_health(self, kind: str, ident: str, before: Health, after: Health) -> None:
        if kind == "zone" and after is Health.HEALTHY and not self._repairing and self.cloud.now_ms > 0:
            self.hand_changes += 1  # a region brought back by hand proves nothing
        now = self.cloud.now_ms
        for name, region in self.cloud.hardware.regions.items():
            if name not in self.sites:
                continue
            up = any(z.up for z in region.zones)
            if up == self.region_up[name]:
                continue
            self.region_up[name] = up
            self.changed_ms[name] = now
            if not up:
                self._region_lost(name, now)
            else:
                for o in self.outages:
                    if o.region == name and o.back_ms is None:
                        o.back_ms = now
                db = self.db
                if db is not None and name in db.replicas:
                    db.replicas[name] = self._lag(db.primary, name)

    def _region_lost(self, region: str, now: int) -> None:
        outage = Outage(region, now)
        self.outages.append(outage)
        db = self.db
        if db is None or db.primary != region:
            outage.rpo_s = 0.0
            return
        rate = self._write_rps(now)
        alive = {r: lag for r, lag in db.replicas.items() if self.region_up[r]}
        if alive:
            best = min(alive, key=lambda r: (alive[r], r))
            outage.rpo_s = round(alive[best] / 1000, 3)
            copy = f"replica in {best}"
        else:
            since = now % (self.spec.snapshot_every_s * 1000)
            outage.rpo_s = round(since / 1000, 3)
            copy = f"the snapshot of t={(now - since) / 1000:g}s"
        outage.writes_lost = round(rate * outage.rpo_s)
        self.cloud.emit("geo.primary_lost", db=db.name, region=region, rpo_s=outage.rpo_s,
                        writes_lost=int(outage.writes_lost), newest_copy=copy)

    def _write_rps(self, t_ms: int, demand_rps: float | None = None) -> float:
        """Writes per second at ``t_ms``: their share of every city's requests (whose
        total the step passes as ``demand_rps``, having read each city's demand once)."""
        if demand_rps is None:
            demand_rps = sum(d.at(t_ms) for d in self.demand)
        return demand_rps * self.spec.write_pct / 100

    # -- DNS ----------------------------------------------------------------------------
    def _healthy(self, region: str) -> bool:
        return not self.checks_on or self.checks[region].healthy

    def _resolve(self, at_ms: int | None = None) -> None:
        at = self.cloud.now_ms if at_ms is None else at_ms
        regions = [r for r in self.tiers]
        for u in self.users:
            ans = self.answers[u.continent]
            want: str | None = None
            if regions:
                if self.policy == "simple":
                    want = regions[0]
                else:
                    pool = [r for r in regions if self._healthy(r)] or regions  # all unhealthy: answer as if healthy
                    want = min(pool, key=lambda r: (self.user_rtt[(u.continent, r)], r))
            if want != ans.region:
                ans.old, ans.region, ans.changed_ms = ans.region, want, at
                if at > 0 and ans.old is not None:
                    self.cloud.emit("geo.dns_changed", continent=u.continent, to=want or "", was=ans.old)

    def _health_checks(self, start: int, end: int) -> None:
        if not self.checks_on or not self.tiers:
            return
        iv = self.interval_s * 1000
        changed_at: int | None = None
        for region in self.tiers:
            c = self.checks[region]
            ok = self.tiers[region].capacity_rps > 0 or any(self._serving(n) for n in self.tiers[region].members)
            if ok == c.healthy:
                c.streak = 0
                continue
            lo = max(start, self.changed_ms.get(region, 0))  # a check before the change saw the old state
            first = lo + (c.phase_ms - lo) % iv
            n = 0 if first >= end else (end - 1 - first) // iv + 1
            if c.streak + n >= self.threshold:
                at = first + (self.threshold - c.streak - 1) * iv
                c.healthy, c.streak = ok, 0
                self.cloud.emit("geo.health_changed", region=region, healthy=int(ok), detected_s=at / 1000)
                changed_at = at if changed_at is None else min(changed_at, at)
            else:
                c.streak += n
        db = self.db
        if db is not None and db.failover == "auto" and db.promoting is None and not self.checks[db.primary].healthy:
            # the runbook acts on the alarm, and checks the writer before it fails over
            writer = self.cloud.control.instances.get(db.instances.get(db.primary, ""))
            if writer is None or writer.state != "running":
                self._auto_failover(db)
        if changed_at is not None:
            before = {k: a.region for k, a in self.answers.items()}
            self._resolve(changed_at)
            self.dns_failovers += sum(1 for k, a in self.answers.items() if a.region != before[k])

    def _auto_failover(self, db: Database) -> None:
        alive = [r for r in db.replicas if self.region_up[r]]
        if not alive:
            if not db.blocked:
                db.blocked = True
                self.cloud.emit("geo.failover_impossible", db=db.name, region=db.primary)
            return
        best = min(alive, key=lambda r: (self.rtt[(db.primary, r)], r))
        self.promote(db.name, best, cause="runbook")

    # -- the day, one step at a time ---------------------------------------------------
    def step(self, dt_ms: int) -> None:
        cloud = self.cloud
        end = cloud.now_ms
        start = end - dt_ms
        mid = start + dt_ms // 2
        insts = cloud.control.instances
        spec = self.spec
        # each city's requests per second at the middle of the step, read three times below
        rates = [d.at(mid) for d in self.demand]
        demand_rps = sum(rates)
        for tier in self.tiers.values():
            vcpus = 0
            for n in tier.members:
                i = insts[n]
                if i.state == "running" and i.booted:
                    vcpus += i.type.vcpus
            tier.capacity_rps = vcpus * spec.rps_per_vcpu
            tier.load_rps = 0.0
        self._health_checks(start, end)
        # where each continent's requests go: the new answer, and what old caches still say
        routes: list[tuple[int, str, float]] = []  # (continent index, region, rps)
        ttl_ms = self.ttl_s * 1000
        for k, u in enumerate(self.users):
            rps = rates[k]
            ans = self.answers[u.continent]
            if ans.region is None:
                routes.append((k, "", rps))
                continue
            old_share = 0.0
            if ans.old is not None and ttl_ms and mid - ans.changed_ms < ttl_ms:
                old_share = max(0.0, 1 - (mid - ans.changed_ms) / ttl_ms)
            if old_share:
                routes.append((k, ans.old, rps * old_share))
            routes.append((k, ans.region, rps * (1 - old_share)))
        for _, region, rps in routes:
            if region in self.tiers:
                self.tiers[region].load_rps += rps
        seconds = dt_ms / 1000
        write_share = spec.write_pct / 100
        db = self.db
        writable = self.writable()
        step_failed = 0.0
        serving = 0
        for tier in self.tiers.values():
            if tier.load_rps > 0 and tier.capacity_rps > 0:
                serving += 1
            tier.minute_load += tier.load_rps * seconds
            tier.minute_cap += tier.capacity_rps * seconds
        self.serving_max = max(self.serving_max, serving)
        for k, region, rps in routes:
            u = self.users[k]
            n = rps * seconds
            cont = u.continent
            self.offered[cont] += n
            tier = self.tiers.get(region)
            if tier is None or tier.capacity_rps <= 0 or db is None:
                self.failed[cont] += n
                step_failed += n
                continue
            util = tier.load_rps / tier.capacity_rps
            ok_share = min(1.0, 1 / util) if util > 0 else 1.0
            app = mm1_latency_ms(spec.service_ms, min(util, 0.95), spec.timeout_ms)
            net = self.user_rtt[(cont, region)]
            local = self.copy_in(region)
            reads_ms = DB_MS if local else (self.rtt[(region, db.primary)] + DB_MS if self.region_up[db.primary] else None)
            writes_ms = (self.rtt[(region, db.primary)] + DB_MS) if writable else None
            lost = n * (1 - ok_share)
            hist = self.hist[cont]
            waits = [app * x for x in EXP_POINTS]  # the app's time at each point, for reads and writes
            for share, data_ms in ((1 - write_share, reads_ms), (write_share, writes_ms)):
                m = n * ok_share * share
                if m <= 0:
                    continue
                if data_ms is None:
                    lost += m
                    continue
                tier.served += m
                w = m / len(EXP_POINTS)
                base = net + data_ms
                for wait in waits:
                    idx = int(base + wait)
                    hist[idx if idx < HIST_MS else HIST_MS] += w
            self.failed[cont] += lost
            step_failed += lost
        self.last_failed_rps = step_failed / seconds if seconds else 0.0
        self._p95 = None
        # an outage is over for the users once a whole step loses nothing
        for o in self.outages:
            if o.recovered_ms is None and step_failed < WHOLE_FAILED and start >= o.at_ms:
                o.recovered_ms = end
                self.cloud.emit("geo.recovered", region=o.region, rto_s=(end - o.at_ms) / 1000,
                                region_back=int(o.back_ms is not None))
        # replication lag, and a minute's scaling decisions
        if end // MINUTE_MS != start // MINUTE_MS:
            if db is not None:
                for r in db.replicas:
                    if self.region_up[r] and self.region_up[db.primary]:
                        db.replicas[r] = self._lag(db.primary, r)
            for tier in self.tiers.values():
                self._scale(tier, end)
        if db is not None and writable:
            db.writes += demand_rps * write_share * seconds
        self._bill(dt_ms, mid, demand_rps)

    def _bill(self, dt_ms: int, mid: int, demand_rps: float) -> None:
        self.cost_usd += self.cost_now_per_hour(mid, demand_rps) * dt_ms / 3_600_000

    def cost_now_per_hour(self, t_ms: int | None = None, demand_rps: float | None = None) -> float:
        insts = sum(i.type.price_per_hour for i in self.cloud.control.instances.values() if i.state in ("running", "impaired"))
        checks = 0.0
        if self.checks_on:
            per = USD_HEALTH_CHECK_MONTH + (USD_FAST_INTERVAL_MONTH if self.interval_s == 10 else 0)
            checks = per * len(self.tiers) / HOURS_PER_MONTH
        transfer = 0.0
        if self.db is not None and self.db.replicas:
            t = self.cloud.now_ms if t_ms is None else t_ms
            gb_per_hour = self._write_rps(t, demand_rps) * 3600 * self.spec.write_kib / (1 << 20)
            transfer = gb_per_hour * len(self.db.replicas) * USD_PER_GB_INTER_REGION
        return insts + checks + transfer

    # -- what the views and objectives read --------------------------------------------
    def p95(self) -> dict[str, float]:
        now = self.cloud.now_ms
        if self._p95 is not None and self._p95[0] == now:
            return self._p95[1]
        out: dict[str, float] = {}
        for u in self.users:
            hist = self.hist[u.continent]
            total = self.offered[u.continent]
            if total <= 0:
                out[u.continent] = 0.0
                continue
            want, acc, value = 0.95 * total, 0.0, float(HIST_MS)
            for ms, n in enumerate(hist):
                acc += n
                if acc >= want:
                    value = float(ms)
                    break
            out[u.continent] = value
        self._p95 = (now, out)
        return out

    def packing(self) -> tuple[float, int]:
        """VMs per host in use, and hosts allocated beyond the scheduler's limits."""
        cfg = self.cloud.scheduler.config
        used = [h for h in self.cloud.hardware.hosts.values() if h.instances]
        vms = sum(len([i for i in h.instances.values() if i.state in ("pending", "running", "impaired")]) for h in used)
        over = sum(1 for h in used if h.used_vcpus > h.vcpus * cfg.cpu_ratio or h.used_ram_mib > h.ram_mib * cfg.ram_ratio)
        return (round(vms / len(used), 2) if used else 0.0), over

    def rpo_s(self) -> float:
        return max((o.rpo_s or 0.0 for o in self.outages), default=0.0)

    def rto_s(self) -> float:
        now = self.cloud.now_ms
        return max(((o.recovered_ms if o.recovered_ms is not None else now) - o.at_ms for o in self.outages), default=0) / 1000

    def availability(self) -> float:
        offered = sum(self.offered.values())
        return round(100 * (1 - sum(self.failed.values()) / offered), 3) if offered else 0.0

    def hand_count(self) -> int:
        """Changes made by hand once the run was under way (the player's API calls and
        repairs after t=0; the groups' own launches are the automation's)."""
        log = self.cloud.log
        for e in log.since(self._hand_seen):
            if e.kind in HAND_KINDS and e.t_ms > 0:
                self.hand_changes += 1
        self._hand_seen = len(log)
        return self.hand_changes

    def metrics(self) -> dict[str, float | int]:
        vms, over = self.packing()
        out: dict[str, float | int] = {
            "geo_requests": round(sum(self.offered.values())),
            "geo_failed": round(sum(self.failed.values())),
            "geo_availability_pct": self.availability(),
            "geo_regions_serving": self.serving_max,
            "geo_dns_latency": int(self.policy == "latency"),
            "geo_dns_failovers": self.dns_failovers,
            "geo_health_checks": int(self.checks_on) * len(self.tiers),
            "geo_instances": sum(len(self._live(t)) for t in self.tiers.values()),
            "geo_vms_per_host": vms,
            "geo_hosts_over_limit": over,
            "geo_replicas": len(self.db.replicas) if self.db else 0,
            "geo_replication_lag_ms": round(max(self.db.replicas.values(), default=0)) if self.db else 0,
            "geo_outages": len(self.outages),
            "geo_rpo_s": self.rpo_s(),
            "geo_rto_s": self.rto_s(),
            "geo_recovered_in_outage": int(bool(self.outages) and all(
                o.recovered_ms is not None and (o.back_ms is None or o.recovered_ms < o.back_ms) for o in self.outages)),
            "geo_hand_changes": self.hand_count(),
            "geo_cost_per_hour": round(self.cost_usd / (self.cloud.now_ms / 3_600_000), 4) if self.cloud.now_ms else 0.0,
            "geo_cost_now_per_hour": round(self.cost_now_per_hour(), 4),
        }
        for cont, value in self.p95().items():
            out[f"geo_p95_ms.{cont}"] = value
        passed, programmable = self.design_status() if self.design_status is not None else (0, 0)
        out["design_verify_passed"] = passed
        out["design_programmable"] = programmable
        return out


def attach(cloud: "Cloud", spec: GeoSpec) -> GlobalService:
    svc = GlobalService(cloud, spec)
    cloud.metric_sources.append(svc.metrics)
    cloud.step_hooks.append(svc.step)
    cloud.health_listeners.append(svc.on_health)
    if spec.outage is not None:
        outage = spec.outage
        cloud.clock.schedule(outage.at_s * 1000, lambda: svc._start_outage(outage))
    return svc


METRICS = metrics(
    ("geo_requests", "requests the users sent so far"),
    ("geo_failed", "requests that failed (no region, no capacity, no database)"),
    ("geo_availability_pct", "the share of requests served so far (percent)"),
    ("geo_p95_ms.{continent}", "95th percentile latency of one continent's requests over the run so far (ms; failures count as slowest)"),
    ("geo_regions_serving", "the most regions that served users at once"),
    ("geo_dns_latency", "1 when DNS routes users by latency"),
    ("geo_dns_failovers", "continents DNS moved to another region after a health check changed"),
    ("geo_health_checks", "Route 53 health checks watching the regions"),
    ("geo_instances", "web instances live in every region's group"),
    ("geo_vms_per_host", "VMs per host in use (the hypervisor's sharing)"),
    ("geo_hosts_over_limit", "hosts allocated beyond the scheduler's CPU or RAM ratio"),
    ("geo_replicas", "cross-region replicas of the database"),
    ("geo_replication_lag_ms", "the worst replica's lag now (ms)"),
    ("geo_outages", "regions that went dark"),
    ("geo_rpo_s", "the most data lost when a primary's region went dark, in seconds of writes (RPO)"),
    ("geo_rto_s", "the longest time from a region going dark until every request was served again (RTO; still counting while open)"),
    ("geo_recovered_in_outage", "1 when every outage was recovered while its region was still dark (automation, not the region's return)"),
    ("geo_hand_changes", "changes made by hand after the run began (API calls, repairs)"),
    Metric("geo_cost_per_hour", "what the service cost per hour on average so far (US$)", clocked=True),
    Metric("geo_cost_now_per_hour", "what the service costs per hour as it stands (US$)", clocked=True),
    ("design_verify_passed", "seeds the last design verify passed, while the design is unchanged"),
    ("design_programmable", "1 when the last design verify rebuilt this world from the design file alone"),
)
EVENTS = events(
    ("geo.tier_deployed", "region type min max target_pct", "a region's web tier (auto scaling group) was created"),
    ("geo.tier_scaled", "region desired was cpu_pct", "target tracking changed a region's desired capacity"),
    ("geo.launch_failed", "region zone code", "a group could not launch an instance"),
    ("geo.dns_configured", "policy ttl_s checks interval_s threshold", "the DNS record or its health checks changed"),
    ("geo.health_changed", "region healthy detected_s", "Route 53 changed its mind about a region"),
    ("geo.dns_changed", "continent to was", "a continent's DNS answer changed"),
    ("geo.db_created", "db primary type", "the database was created"),
    ("geo.replica_added", "db region lag_ms", "a cross-region replica was added"),
    ("geo.failover_set", "db mode", "the database's failover mode changed"),
    ("geo.outage", "region for_s", "the scenario took a region down"),
    ("geo.primary_lost", "db region rpo_s writes_lost newest_copy", "the primary's region went dark; writes not yet copied are lost"),
    ("geo.failover_impossible", "db region", "no replica in a healthy region to promote"),
    ("geo.promoting", "db region by done_at_s", "a replica is being promoted to primary"),
    ("geo.promoted", "db region was", "a replica became the primary"),
    ("geo.recovered", "region rto_s region_back", "every request is served again after an outage"),
)
