"""The billing engine: an account's month metered from the event log, rated and invoiced.

Billing in a cloud is a metering system. Nobody counts money while the cloud runs; every
service reports what each resource used (instance-seconds, GB provisioned per hour,
bytes moved, requests), and the bill is computed afterwards from those reports. This
module is the account side of that pipeline for the billing chapter:

- **the account's resources** that the rest of the cloud does not model: EBS data
  volumes (attached or not), S3 buckets with lifecycle rules, S3 gateway endpoints, the
  traffic each workload sends (``flows``: so many GB a day from an instance to the
  internet, to a bucket or to another instance), what each instance really uses
  (``workloads``: CloudWatch's CPU and memory figures), and tags;
- **what happens, as events**: every ``interval_s`` each flow's traffic for that stretch
  is logged (``traffic.transferred``) with the path it took *at that moment*, read from
  the network (a route to a NAT gateway, to an internet gateway, or a gateway endpoint
  for S3); every midnight S3 applies lifecycle rules (``bucket.expired``). A month is a
  few thousand events, not millions of steps;
- **metering** (:mod:`.metering`) folds the log into usage records, and **rating**
  (:mod:`.pricing`) prices them with the world's price sheet into an invoice, by
  service, by tag and by day;
- a **forecast** of next month's bill if nothing changes, by feeding a copy of the meter
  the events the days up to the end of next month would log (the same code that logs
  them for real), so a fix shows in the forecast the moment it is made.

Paths and what they cost (AWS's rules): an instance in a public subnet with a public
address reaches the internet through the internet gateway (data out is charged, data in
is free) and S3 for free; one in a private subnet goes through a NAT gateway, which
charges per GB processed even for traffic to S3 in the same region, unless the subnet's
route table has an S3 **gateway endpoint**, which is free. Traffic between instances in
different zones is charged in each direction.

Where the game simplifies: one account, one region; the traffic of a stretch is logged
at its end with the path of that moment; an S3 lifecycle rule is applied at the next
midnight (S3 does it asynchronously, and stops charging for expired objects at once);
a bucket's objects are counted in daily cohorts; an endpoint is a property of route
tables here, not a prefix-list route the packet tracer follows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from .catalogue import CATALOGUE
from .errors import CloudError
from .events import Event
from .mechanism import Metric, events, metrics
from .metering import DAY_MS, HOUR_MS, Meter
from .network import Network
from .pricing import DEFAULT_PRICES, DEFAULT_TIERS, INF, PRICES_DATE, REGION, USAGE_TYPES, Invoice, PriceSheet, PricingError, check_tiers, rate
from .world import CoreWorld, Strict, known

if TYPE_CHECKING:
    from .cloud import Cloud
    from .control_plane import Instance

RESOURCE = r"^[a-z][a-z0-9-]{0,47}$"
BUCKET = r"^[a-z0-9][a-z0-9.-]{2,62}$"  # S3's bucket naming rules, in short
TAG_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.:/-]{0,63}$")
TAG_VALUE = re.compile(r"^[A-Za-z0-9 _.:/=+@-]{0,128}$")
VOLUME_TYPES = ("gp3", "gp2", "st1", "sc1")
MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
BOOT_MS = 15_000  # a forecast counts an instance still booting as running from this soon
INTERNET = "internet"


# -- the world section ----------------------------------------------------------------------
class TierSpec(Strict):
    upto: float | None = Field(default=None, gt=0, description="the month's running total up to which the price holds (none: no bound)")
    price: float = Field(ge=0, le=1_000_000)


class PriceSheetSpec(Strict):
    """The price sheet: AWS's us-east-1 list prices unless the world says otherwise."""

    date: str = Field(default=PRICES_DATE, pattern=r"^[0-9]{4}-[0-9]{2}$", description="when these prices were listed")
    region: str = REGION
    prices: dict[str, float] = Field(default_factory=dict, description="usage type -> US$ per unit")
    tiers: dict[str, list[TierSpec]] = Field(default_factory=dict, description="usage type -> its tiers")

    @field_validator("prices")
    @classmethod
    def _known_prices(cls, prices: dict[str, float]) -> dict[str, float]:
        for key, value in prices.items():
            if key not in USAGE_TYPES:
                raise ValueError(f"no usage type {key!r} (usage types: {', '.join(sorted(USAGE_TYPES))})")
            if key in DEFAULT_TIERS:
                raise ValueError(f"{key} is priced in tiers: give it under tiers")
            if not 0 <= value <= 1_000_000:
                raise ValueError(f"the price of {key} must be from 0 to 1000000 US$, not {value:g}")
        return prices

    @field_validator("tiers")
    @classmethod
    def _known_tiers(cls, tiers: dict[str, list[TierSpec]]) -> dict[str, list[TierSpec]]:
        for key, rows in tiers.items():
            if key not in USAGE_TYPES:
                raise ValueError(f"no usage type {key!r} (usage types: {', '.join(sorted(USAGE_TYPES))})")
            try:
                check_tiers(key, tuple((INF if r.upto is None else r.upto, r.price) for r in rows))
            except PricingError as exc:
                raise ValueError(str(exc)) from None
        return tiers

    def sheet(self) -> PriceSheet:
        sheet = PriceSheet(dict(DEFAULT_PRICES), dict(DEFAULT_TIERS), self.date, self.region)
        for key, value in self.prices.items():
            sheet = sheet.with_price(key, value)
        for key, rows in self.tiers.items():
            sheet = sheet.with_tiers(key, [(INF if r.upto is None else r.upto, r.price) for r in rows])
        return sheet


class VolumeSpec(Strict):
    name: str = Field(pattern=RESOURCE)
    gib: int = Field(ge=1, le=65_536)
    type: Literal["gp3", "gp2", "st1", "sc1"] = "gp3"
    zone: str
    attached_to: str | None = Field(default=None, description="a world instance it is attached to")


class BucketSpec(Strict):
    name: str = Field(pattern=BUCKET)
    stored_gb: float = Field(default=0, ge=0, le=10_000_000)
    age_days: int = Field(default=1, ge=1, le=3650, description="the stored data was written evenly over this many days")
    expire_days: int | None = Field(default=None, ge=1, le=3650, description="a lifecycle rule: objects expire this many days after they were written")
    keep_days: int | None = Field(default=None, ge=1, le=3650, description="the business needs objects kept at least this long")


class FlowSpec(Strict):
    """Traffic a workload sends every day: from an instance (or the internet) to the
    internet, an instance, or ``bucket:NAME``."""

    name: str = Field(pattern=RESOURCE)
    src: str
    dst: str
    gb_per_day: float = Field(default=0, ge=0, le=1_000_000)
    puts_per_day: int = Field(default=0, ge=0, le=10**10)
    gets_per_day: int = Field(default=0, ge=0, le=10**10)


class WorkloadSpec(Strict):
    """What an instance really uses (CloudWatch): its business needs this much."""

    instance: str
    vcpus_avg: float = Field(gt=0, le=1024)
    vcpus_peak: float = Field(gt=0, le=1024)
    ram_gib_peak: float = Field(gt=0, le=65_536)


class EndpointSpec(Strict):
    name: str = Field(pattern=RESOURCE)
    service: Literal["s3"] = "s3"
    route_tables: list[str] = Field(min_length=1)


class BillingSpec(Strict):
    """An account's month: its resources, its traffic, its prices."""

    month: str = Field(default=PRICES_DATE, pattern=MONTH, description="the billing month the run begins on its first day, YYYY-MM")
    interval_s: int = Field(default=3600, description="how often each flow's traffic is logged")
    prices: PriceSheetSpec = Field(default_factory=PriceSheetSpec)
    tags: dict[str, dict[str, str]] = Field(default_factory=dict, description="resource -> {key: value}")
    volumes: list[VolumeSpec] = Field(default_factory=list)
    buckets: list[BucketSpec] = Field(default_factory=list)
    flows: list[FlowSpec] = Field(default_factory=list)
    workloads: list[WorkloadSpec] = Field(default_factory=list)
    endpoints: list[EndpointSpec] = Field(default_factory=list)

    @field_validator("interval_s")
    @classmethod
    def _divides_a_day(cls, v: int) -> int:
        if v < 60 or v > 86_400 or 86_400 % v:
            raise ValueError(f"interval_s must divide a day (86400 s) and be at least 60, not {v}")
        return v

    @field_validator("tags")
    @classmethod
    def _tag_syntax(cls, tags: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for resource, pairs in tags.items():
            for key, value in pairs.items():
                check_tag(key, value)
        return tags

    @model_validator(mode="after")
    def _unique(self) -> "BillingSpec":
        for what, names in (
            ("volume", [v.name for v in self.volumes]),
            ("bucket", [b.name for b in self.buckets]),
            ("flow", [f.name for f in self.flows]),
            ("endpoint", [e.name for e in self.endpoints]),
            ("workload", [w.instance for w in self.workloads]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"two of the {what}s are named {dupes[0]!r}")
        return self


def check_tag(key: str, value: str) -> None:
    if not TAG_KEY.match(key or ""):
        raise ValueError(f"bad tag key {key!r} (a letter, then letters, digits or _.:/-, up to 64)")
    if not TAG_VALUE.match(value or ""):
        raise ValueError(f"bad tag value {value!r} for {key} (letters, digits, spaces and _.:/=+@-, up to 128)")


def check_world(world: CoreWorld, spec: BillingSpec) -> None:
    """What the section names exists: instances, zones, buckets, route tables."""
    instances = {i.name for i in world.instances}
    zones = set(world.zone_names())
    buckets = {b.name for b in spec.buckets}
    net = getattr(world, "network", None)
    tables: set[str] = set()
    nats: set[str] = set()
    eips: set[str] = set()
    if net is not None and net.vpcs is not None:
        for v in net.vpcs:
            tables |= {t.name for t in v.route_tables} | {f"rtb-{v.name}"}
            nats |= {n.name for n in v.nat_gateways}
        eips = {e.name for e in net.eips}
    for v in spec.volumes:
        if v.zone not in zones:
            raise ValueError(f"volume {v.name}: no zone {v.zone!r} (zones: {known(zones)})")
        if v.attached_to is not None and v.attached_to not in instances:
            raise ValueError(f"volume {v.name}: no world instance {v.attached_to!r} (instances: {known(instances)})")
    for f in spec.flows:
        for end, where in ((f.src, "from"), (f.dst, "to")):
            if end in (INTERNET,) or end in instances:
                continue
            if end.startswith("bucket:") and end.split(":", 1)[1] in buckets:
                if where == "from":
                    raise ValueError(f"flow {f.name}: a flow starts at an instance or the internet, not a bucket")
                continue
            raise ValueError(
                f"flow {f.name}: {end!r} is no instance, bucket:NAME or internet of this world "
                f"(instances: {known(instances)}; buckets: {known(buckets)})"
            )
        if f.src == INTERNET and f.dst == INTERNET:
            raise ValueError(f"flow {f.name}: from the internet to the internet is not this account's traffic")
        if f.src == INTERNET and f.dst.startswith("bucket:"):
            raise ValueError(f"flow {f.name}: uploads from the internet go to an instance here")
    for w in spec.workloads:
        if w.instance not in instances:
            raise ValueError(f"workload for {w.instance!r}: no such world instance (instances: {known(instances)})")
        if w.vcpus_peak < w.vcpus_avg:
            raise ValueError(f"workload for {w.instance}: vcpus_peak ({w.vcpus_peak:g}) is below vcpus_avg ({w.vcpus_avg:g})")
    for e in spec.endpoints:
        for t in e.route_tables:
            if t not in tables:
                raise ValueError(f"endpoint {e.name}: no route table {t!r} (route tables: {known(tables)})")
    resources = instances | {v.name for v in spec.volumes} | buckets | nats | eips
    for resource in spec.tags:
        if resource not in resources:
            raise ValueError(f"tags: no resource {resource!r} (resources: {known(resources)})")


# -- the state -------------------------------------------------------------------------------
@dataclass
class Volume:
    name: str
    gib: int
    type: str
    zone: str
    attached_to: str | None


@dataclass
class BucketState:
    name: str
    cohorts: dict[int, float]  # the day objects were written (0 = the first day) -> GB
    expire_days: int | None
    keep_days: int | None

    @property
    def gb(self) -> float:
        return math.fsum(self.cohorts.values())


@dataclass
class Endpoint:
    name: str
    service: str
    route_tables: list[str]


@dataclass
class Flow:
    name: str
    src: str
    dst: str
    gb_per_day: float
    puts_per_day: int
    gets_per_day: int


@dataclass
class Workload:
    instance: str
    vcpus_avg: float
    vcpus_peak: float
    ram_gib_peak: float


@dataclass
class Cached:
    key: tuple = ()
    value: object = None


class Billing:
    """The account: its resources, their traffic, the meter over the log, the invoice."""

    def __init__(self, cloud: "Cloud", spec: BillingSpec) -> None:
        self.cloud = cloud
        self.month = spec.month
        self.month_days = days_in(spec.month)
        self.next_month = next_month(spec.month)
        self.next_days = days_in(self.next_month)
        self.interval_ms = spec.interval_s * 1000
        self.sheet = spec.prices.sheet()
        self.version = 0  # bumped by every change of the account (prices, tags, resources)
        self.volumes = {v.name: Volume(v.name, v.gib, v.type, v.zone, v.attached_to) for v in spec.volumes}
        self.buckets = {b.name: BucketState(b.name, _cohorts(b), b.expire_days, b.keep_days) for b in spec.buckets}
        self.flows = [Flow(f.name, f.src, f.dst, f.gb_per_day, f.puts_per_day, f.gets_per_day) for f in spec.flows]
        self.workloads = {w.instance: Workload(w.instance, w.vcpus_avg, w.vcpus_peak, w.ram_gib_peak) for w in spec.workloads}
        self.endpoints = {e.name: Endpoint(e.name, e.service, list(e.route_tables)) for e in spec.endpoints}
        self.tags: dict[str, dict[str, str]] = {}
        self.meter = Meter(hours_in_month=24 * self.month_days)
        self.last_paths: dict[str, tuple[str, str]] = {}
        self._invoice = Cached()
        self._forecast = Cached()

    # -- the network's answer: which path a flow takes now ------------------------------------
    @property
    def network(self) -> Network | None:
        return self.cloud.get(Network)

    def instance(self, name: str) -> "Instance | None":
        inst = self.cloud.control.instances.get(name)
        return inst if inst is not None and inst.exists else None

    def _route_out(self, inst: "Instance") -> tuple[str, str]:
        """Where an instance's traffic for outside the VPC goes: ("igw", name),
        ("nat", name), or ("none", why)."""
        net = self.network
        if net is None or inst.subnet not in net.subnets:
            return "none", "no subnet"
        subnet = net.subnets[inst.subnet]
        table = net.route_table_of(subnet)
        route = next((r for r in table.routes if r.dest.prefixlen == 0), None)
        if route is None or net.route_state(table, route) != "active":
            return "none", f"{table.name} has no route to the internet"
        kind = net.target_kind(route.target)
        if kind == "igw":
            return ("igw", route.target) if inst.public_ip else ("none", f"{inst.name} has no public address")
        if kind == "nat":
            nat = net.nats[route.target]
            return ("nat", nat.name) if net.is_public(net.subnets[nat.subnet]) else ("none", f"{nat.name} has no way out")
        return "none", f"{table.name} sends the internet to {route.target}"

    def _endpoint_for(self, inst: "Instance") -> Endpoint | None:
        net = self.network
        if net is None or inst.subnet not in net.subnets:
            return None
        table = net.route_table_of(net.subnets[inst.subnet]).name
        return next((e for e in self.endpoints.values() if table in e.route_tables), None)

    def path(self, flow: Flow, assume_running: bool = False) -> tuple[str, str]:
        """(path, via) the flow's traffic takes now; ("dropped", why) when it has none.
        ``assume_running``: an instance still booting counts as running."""
        up = ("running", "pending") if assume_running else ("running",)
        if flow.src == INTERNET:
            dst = self.instance(flow.dst)
            if dst is None or dst.state not in up:
                return "dropped", f"{flow.dst} is not running"
            if not dst.public_ip:
                return "dropped", f"{flow.dst} has no public address"
            return "inbound", ""
        src = self.instance(flow.src)
        if src is None or src.state not in up:
            return "dropped", f"{flow.src} is not running"
        if flow.dst.startswith("bucket:"):
            endpoint = self._endpoint_for(src)
            if endpoint is not None:
                return "endpoint", endpoint.name
            kind, via = self._route_out(src)
            return {"igw": ("s3-direct", via), "nat": ("nat", via)}.get(kind, ("dropped", via))
        if flow.dst == INTERNET:
            kind, via = self._route_out(src)
            return {"igw": ("internet", via), "nat": ("nat", via)}.get(kind, ("dropped", via))
        dst = self.instance(flow.dst)
        if dst is None or dst.state not in up:
            return "dropped", f"{flow.dst} is not running"
        return ("same-zone", "") if dst.zone == src.zone else ("cross-zone", "")

    # -- what happens, as events ----------------------------------------------------------------
    def paths(self, assume_running: bool = False) -> dict[str, tuple[str, str]]:
        return {flow.name: self.path(flow, assume_running) for flow in self.flows}

    def traffic_events(
        self, t_ms: int, length_ms: int, flows: list[Flow], paths: dict[str, tuple[str, str]], buckets: dict[str, BucketState], emit
    ) -> None:
        """The traffic of ``flows`` over the stretch of ``length_ms`` ending at ``t_ms``
        (within one day), along ``paths``. Requests are whole: a flow's count up to a
        moment is rounded down, and a stretch gets the difference, so none is lost."""
        share = length_ms / DAY_MS
        day = (t_ms - 1) // DAY_MS
        for flow in flows:
            path, via = paths[flow.name]
            gb = flow.gb_per_day * share
            moved = path != "dropped"
            puts = _between(flow.puts_per_day, t_ms - length_ms, t_ms) if moved else 0
            gets = _between(flow.gets_per_day, t_ms - length_ms, t_ms) if moved else 0
            if moved and puts and flow.dst.startswith("bucket:"):
                bucket = buckets.get(flow.dst[7:])
                if bucket is not None:
                    bucket.cohorts[day] = bucket.cohorts.get(day, 0.0) + gb
            emit(
                "traffic.transferred", t_ms,
                flow=flow.name, src=flow.src, dst=flow.dst, gb=round(gb, 6), path=path, via=via,
                puts=puts, gets=gets, seconds=length_ms / 1000,
            )  # fmt: skip

    @staticmethod
    def midnight_events(t_ms: int, buckets: dict[str, BucketState], emit) -> None:
        """S3 applies lifecycle rules: objects written on day w expire at the midnight
        after they are ``expire_days`` old (S3 rounds an expiry up to midnight UTC)."""
        today = t_ms // DAY_MS
        for bucket in buckets.values():
            if bucket.expire_days is None:
                continue
            due = [w for w in bucket.cohorts if w <= today - bucket.expire_days - 1]
            if not due:
                continue
            gb = math.fsum(bucket.cohorts.pop(w) for w in sorted(due))
            emit("bucket.expired", t_ms, bucket=bucket.name, gb=round(gb, 6), days=len(due), expire_days=bucket.expire_days)

    def _emit(self, kind: str, t_ms: int, /, **data: object) -> None:
        self.cloud.emit(kind, **data)

    def _on_interval(self) -> None:
        self.last_paths = self.paths()
        self.traffic_events(self.cloud.now_ms, self.interval_ms, self.flows, self.last_paths, self.buckets, self._emit)
        self.cloud.clock.schedule_in(self.interval_ms, self._on_interval)

    def _on_midnight(self) -> None:
        self.midnight_events(self.cloud.now_ms, self.buckets, self._emit)
        self.cloud.clock.schedule_in(DAY_MS, self._on_midnight)

    # -- the meter and the invoice ------------------------------------------------------------
    def caught_up(self) -> Meter:
        self.meter.catch_up(self.cloud.log)
        return self.meter

    def invoice(self) -> Invoice:
        """Month to date: every usage from t=0 to now, rated with the price sheet."""
        key = (len(self.cloud.log), self.cloud.now_ms, self.version)
        if self._invoice.key != key:
            records = self.caught_up().records(0, self.cloud.now_ms)
            self._invoice = Cached(key, Invoice(rate(records, self.sheet)))
        return self._invoice.value  # type: ignore[return-value]

    def _state_key(self) -> tuple:
        """What next month's forecast depends on: the account, the network, each
        instance's state and type, and whether next month has begun. Not the clock
        otherwise: with nothing changed, a later forecast is the same one (the days
        between now and next month unfold the same way, whenever they are counted)."""
        net = self.network
        instances = tuple((i.name, i.state, i.type.name) for i in self.cloud.control.instances.values())
        now = self.cloud.now_ms
        return (self.version, net.version if net is not None else 0, instances, now if now > self.month_days * DAY_MS else 0)

    def forecast(self) -> Invoice:
        """Next month's bill if nothing changes: a copy of the meter fed the events the
        days from now to the end of next month would log (an instance still booting
        counts as running), and next month's records rated on their own."""
        cloud = self.cloud
        key = self._state_key()
        if self._forecast.key == key:
            return self._forecast.value  # type: ignore[return-value]
        now = cloud.now_ms
        start = max(now, self.month_days * DAY_MS)
        end = start + self.next_days * DAY_MS
        meter = self.caught_up().fork()
        meter.hours_in_month = 24 * self.next_days
        buckets = {n: BucketState(b.name, dict(b.cohorts), b.expire_days, b.keep_days) for n, b in self.buckets.items()}
        coming: list[Event] = []

        def emit(kind: str, t_ms: int, /, **data: object) -> None:
            coming.append(Event(t_ms, len(coming), kind, tuple(sorted(data.items()))))

        for inst in cloud.control.instances.values():
            if inst.state == "pending":
                emit("instance.running", now + BOOT_MS, instance=inst.name, host="", zone=inst.zone or "")
        paths = self.paths(assume_running=True)
        # Next month's usage is what matters. Of the days before it, only what the buckets
        # will hold when it starts: their writes go a day at a time (each day's objects
        # are one cohort). In next month, a bucket's GB-months depend on when each write
        # happened, so those flows go stretch by stretch, as they do for real; the other
        # flows' usage depends only on how much moved each day: one stretch a day.
        growing = [f for f in self.flows if f.dst.startswith("bucket:") and f.puts_per_day]
        steady = [f for f in self.flows if f not in growing]
        day_from = now
        midnight = (now // DAY_MS + 1) * DAY_MS
        while midnight <= start:
            self.traffic_events(midnight, midnight - day_from, growing, paths, buckets, emit)
            self.midnight_events(midnight, buckets, emit)
            day_from, midnight = midnight, midnight + DAY_MS
        t = (max(now, start) // self.interval_ms + 1) * self.interval_ms
        while t <= end:
            self.traffic_events(t, t - max(day_from, t - self.interval_ms), growing, paths, buckets, emit)
            if t % DAY_MS == 0 or t == end:
                self.traffic_events(t, t - day_from, steady, paths, buckets, emit)
                day_from = t
            if t % DAY_MS == 0:
                self.midnight_events(t, buckets, emit)
            t += self.interval_ms
        coming.sort(key=lambda e: (e.t_ms, e.seq))
        meter.feed(coming)
        invoice = Invoice(rate(meter.records(start, end), self.sheet))
        self._forecast = Cached(key, invoice)
        return invoice

    # -- the business: what must keep working ---------------------------------------------------
    def needs_unmet(self) -> list[str]:
        """What the business needs that does not work now, one line each."""
        out = []
        for flow in self.flows:
            path, why = self.path(flow, assume_running=True)
            if path == "dropped":
                out.append(f"flow {flow.name} ({flow.src} -> {flow.dst}) has no path: {why}")
        for w in self.workloads.values():
            inst = self.instance(w.instance)
            if inst is None or inst.state not in ("running", "pending"):
                out.append(f"{w.instance} is not running (state {inst.state if inst else 'gone'})")
                continue
            why = fits(w, inst.type.name)
            if why:
                out.append(f"{w.instance} as a {inst.type.name}: {why}")
        for b in self.buckets.values():
            if b.keep_days is not None and b.expire_days is not None and b.expire_days < b.keep_days:
                out.append(f"bucket {b.name} expires objects after {b.expire_days} days; the business keeps them {b.keep_days}")
        return out

    # -- the API ------------------------------------------------------------------------------
    def set_price(self, usage_type: str, price: float) -> float:
        try:
            sheet = self.sheet.with_price(usage_type, price)
        except PricingError as exc:
            raise CloudError("ValidationError", str(exc)) from None
        was = self.sheet.flat[usage_type]
        self.sheet = sheet
        self.version += 1
        self.cloud.emit("price.changed", usage_type=usage_type, price=price, was=was)
        return was

    def tag(self, resource: str, key: str, value: str) -> str:
        if resource not in self.resources():
            raise CloudError("InvalidID", f"no resource {resource!r} to tag (resources: {known(set(self.resources()))})")
        try:
            check_tag(key, value)
        except ValueError as exc:
            raise CloudError("InvalidParameterValue", str(exc)) from None
        was = self.tags.get(resource, {}).get(key, "")
        self._set_tag(resource, key, value)
        self.cloud.api_call("CreateTags" if value else "DeleteTags")
        return was

    def _set_tag(self, resource: str, key: str, value: str) -> None:
        self.version += 1
        was = self.tags.get(resource, {}).get(key, "")
        if value:
            self.tags.setdefault(resource, {})[key] = value
        else:
            self.tags.get(resource, {}).pop(key, None)
        self.cloud.emit("tags.changed", resource=resource, key=key, value=value, was=was)

    def tag_keys(self) -> list[str]:
        return sorted({k for tags in self.tags.values() for k in tags})

    def resources(self) -> list[str]:
        names = [n for n, i in self.cloud.control.instances.items() if i.exists]
        names += list(self.volumes) + list(self.buckets)
        net = self.network
        if net is not None:
            names += list(net.nats) + list(net.eips)
        return sorted(set(names))

    def delete_volume(self, name: str) -> Volume:
        vol = self.volumes.get(name)
        if vol is None:
            raise CloudError("InvalidVolume.NotFound", f"no volume named {name!r} (volumes: {known(set(self.volumes))})")
        if vol.attached_to is not None and self.instance(vol.attached_to) is not None:
            raise CloudError("VolumeInUse", f"{name} is attached to {vol.attached_to}: detach it first (its data would go)")
        del self.volumes[name]
        self.version += 1
        self.cloud.api_call("DeleteVolume")
        self.cloud.emit("volume.deleted", volume=name, gib=vol.gib)
        return vol

    def set_lifecycle(self, bucket: str, days: int | None) -> int | None:
        b = self.buckets.get(bucket)
        if b is None:
            raise CloudError("NoSuchBucket", f"no bucket named {bucket!r} (buckets: {known(set(self.buckets))})")
        if days is not None and not 1 <= days <= 3650:
            raise CloudError("InvalidArgument", f"an expiration is from 1 to 3650 days, not {days}")
        was = b.expire_days
        b.expire_days = days
        self.version += 1
        self.cloud.api_call("PutBucketLifecycleConfiguration")
        self.cloud.emit("bucket.lifecycle", bucket=bucket, expire_days=days or 0, was=was or 0)
        return was

    def create_endpoint(self, name: str, route_tables: list[str]) -> Endpoint:
        net = self.network
        if not re.match(RESOURCE, name or ""):
            raise CloudError("InvalidParameterValue", f"bad endpoint name {name!r} (lower-case letters, digits and '-')")
        if name in self.endpoints:
            raise CloudError("InvalidParameterValue", f"an endpoint named {name!r} exists")
        tables = set(net.route_tables) if net is not None else set()
        for t in route_tables:
            if t not in tables:
                raise CloudError("InvalidRouteTableId.NotFound", f"no route table {t!r} (route tables: {known(tables)})")
        for e in self.endpoints.values():
            both = set(e.route_tables) & set(route_tables)
            if both:
                raise CloudError("RouteAlreadyExists", f"route table {sorted(both)[0]} already has S3 endpoint {e.name}")
        vpcs = {net.route_tables[t].vpc for t in route_tables} if net is not None else set()
        if len(vpcs) > 1:
            raise CloudError("InvalidParameterValue", "an endpoint serves the route tables of one VPC")
        endpoint = Endpoint(name, "s3", list(route_tables))
        self.endpoints[name] = endpoint
        self.version += 1
        self.cloud.api_call("CreateVpcEndpoint")
        self.cloud.emit("endpoint.created", endpoint=name, service="s3", vpc=next(iter(vpcs), ""), route_tables=",".join(route_tables))
        return endpoint

    def delete_endpoint(self, name: str) -> Endpoint:
        endpoint = self.endpoints.pop(name, None)
        self.version += 1
        if endpoint is None:
            raise CloudError("InvalidVpcEndpointId.NotFound", f"no endpoint named {name!r} (endpoints: {known(set(self.endpoints))})")
        self.cloud.api_call("DeleteVpcEndpoints")
        self.cloud.emit("endpoint.deleted", endpoint=name)
        return endpoint

    # -- metrics --------------------------------------------------------------------------------
    def metrics(self) -> dict[str, float | int]:
        inv = self.invoice()
        by_service = inv.by_service()
        net = self.network
        out: dict[str, float | int] = {
            "billing_month_to_date_usd": round(inv.total, 4),
            "billing_next_month_usd": round(self.forecast().total, 4),
            "billing_day": self.cloud.now_ms // DAY_MS + 1,
            "billing_needs_unmet": len(self.needs_unmet()),
            "billing_unattached_volumes": sum(1 for v in self.volumes.values() if self.instance(v.attached_to or "") is None),
            "billing_idle_addresses": sum(1 for e in net.eips.values() if net.eip_idle(e)) if net is not None else 0,
        }
        for service in ("EC2", "EBS", "VPC", "S3", "Data Transfer"):
            out[f"billing_usd.{service.lower().replace(' ', '_')}"] = round(by_service.get(service, 0.0), 4)
        return out


def _between(per_day: int, start_ms: int, end_ms: int) -> int:
    """Whole requests of a daily rate between two moments (rounded down at each end)."""
    return per_day * end_ms // DAY_MS - per_day * start_ms // DAY_MS


def days_in(month: str) -> int:
    """Days in a month written YYYY-MM (the Gregorian calendar's leap years)."""
    year, m = int(month[:4]), int(month[5:7])
    if m == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def next_month(month: str) -> str:
    year, m = int(month[:4]), int(month[5:7])
    return f"{year + m // 12:04d}-{m % 12 + 1:02d}"


def fits(w: Workload, type_name: str) -> str:
    """Why a workload does not fit an instance type ("" when it does)."""
    t = CATALOGUE[type_name]
    if t.ram_gib < w.ram_gib_peak:
        return f"its memory peak {w.ram_gib_peak:g} GiB does not fit {t.ram_gib:g} GiB"
    if t.vcpus < w.vcpus_peak:
        return f"its CPU peak {w.vcpus_peak:g} vCPU does not fit {t.vcpus} vCPUs"
    return ""


def _cohorts(b: BucketSpec) -> dict[int, float]:
    """What a bucket holds when the story starts, as daily cohorts written before day 0."""
    if not b.stored_gb:
        return {}
    per_day = b.stored_gb / b.age_days
    return {-d: per_day for d in range(b.age_days, 0, -1)}


def attach(cloud: "Cloud", spec: BillingSpec) -> Billing:
    """World key ``billing``: list what the account already holds (at t=0), then log
    each flow's traffic every ``interval_s`` and apply lifecycle rules every midnight."""
    billing = Billing(cloud, spec)
    for v in billing.volumes.values():
        cloud.emit("billing.inventory", resource=v.name, what="volume", type=v.type, gib=v.gib, zone=v.zone)
    net = billing.network
    if net is not None:
        for nat in net.nats.values():
            cloud.emit("billing.inventory", resource=nat.name, what="nat", zone=net.subnets[nat.subnet].zone)
        for eip in net.eips.values():
            cloud.emit("billing.inventory", resource=eip.name, what="eip", address=eip.address, holder=eip.nat or "")
    for b in billing.buckets.values():
        cloud.emit("billing.inventory", resource=b.name, what="bucket", gb=round(b.gb, 6))
    for resource, pairs in spec.tags.items():
        for key, value in pairs.items():
            billing._set_tag(resource, key, value)
    cloud.metric_sources.append(billing.metrics)
    cloud.clock.schedule(billing.interval_ms, billing._on_interval)
    cloud.clock.schedule(DAY_MS, billing._on_midnight)
    return billing


# -- what the mechanism publishes ------------------------------------------------------------
METRICS = metrics(
    Metric("billing_month_to_date_usd", "the invoice so far this month, US$", clocked=True),
    ("billing_next_month_usd", "next month's bill if nothing changes (the forecast), US$"),
    Metric("billing_day", "the day of the billing month", clocked=True),
    ("billing_needs_unmet", "business needs not met now: flows without a path, workloads that do not fit, logs kept too briefly"),
    ("billing_unattached_volumes", "volumes attached to no instance"),
    ("billing_idle_addresses", "Elastic IPs held by nothing running"),
    Metric("billing_usd.{service}", "one service's cost so far this month, US$", clocked=True),
)
EVENTS = events(
    ("billing.inventory", "resource what type gib zone address holder gb", "a resource the account held when the story began"),
    ("traffic.transferred", "flow src dst gb path via puts gets seconds", "a stretch of a flow's traffic, and the path it took"),
    ("bucket.expired", "bucket gb days expire_days", "S3 lifecycle expired old objects"),
    ("bucket.lifecycle", "bucket expire_days was", "a bucket's lifecycle rule changed (0: none)"),
    ("volume.deleted", "volume gib", "a volume was deleted"),
    ("tags.changed", "resource key value was", "a resource's tag was set or removed"),
    ("endpoint.created", "endpoint service vpc route_tables", "a gateway endpoint was created"),
    ("endpoint.deleted", "endpoint", "a gateway endpoint was deleted"),
    ("price.changed", "usage_type price was", "a price of the price sheet changed"),
)
