"""Metering: the event log turned into usage records, the first stage of a cloud bill.

A cloud is measured infrastructure. Every service writes down what each resource used,
and a billing pipeline adds it up; AWS's meters report hourly (the Cost and Usage
Report's rows are hours or days of one usage type of one resource). Here the meter has
no bookkeeping of its own: it reads the one event log, the same one grading and replays
read, and folds it into what each resource did and for how long:

- **instances** from the control plane's events: RunInstances (``launch.requested``),
  ``instance.running``, ``instance.unreachable`` / ``instance.recovered``,
  ``instance.stopped``, StartInstances, ``instance.terminated``, ``launch.failed``,
  ``instance.modified`` (a new type while stopped). Every second of an instance's life
  belongs to exactly one state (pending, running, impaired, stopped, terminated,
  failed); running and impaired ones are billed (AWS bills an instance whose host is
  down until it stops), **per second with a 60-second minimum each time it starts**;
- **public IPv4 addresses**: Elastic IPs from allocation to release (idle while
  associated with nothing), NAT gateways' addresses, and the addresses an instance is
  given at launch until it stops or ends (``launch.step``, ``address.public``,
  ``network.changed``);
- **NAT gateways** by the hour (a partial hour is a full hour, as AWS bills them);
- **volumes** (GB provisioned x hours) and **buckets** (GB stored x hours), both turned
  into GB-months by dividing by the hours of the billing month, the way S3's pricing
  page turns byte-hours into GB-months;
- **traffic**: each ``traffic.transferred`` event is data moved between two places over
  a stretch of time, and the path it took decides its usage types: out to the internet,
  in from it (free), across zones (charged in each direction), through a NAT gateway
  (processed bytes), through a gateway endpoint (free), and the S3 requests it made.

Resources that exist before the story starts are listed once, at t=0, by
``billing.inventory`` events; tags come from ``tags.changed`` events.

Records are cut at day boundaries (day 1 is the first 24 hours of the run), so a cost
explorer can show cost by day, and each carries its resource, the resource's tags, its
time range, its quantity and its unit.

Where the game simplifies: a record carries the tags its resource has when the
records are read, not when the usage happened; public IPv4 hours are prorated to the
millisecond; an instance still running when the records are read is billed at least
a minute already.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .pricing import USAGE_TYPES, instance_seconds_billed

if TYPE_CHECKING:
    from .events import Event

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
BILLED_STATES = ("running", "impaired")
STATES = ("pending", "running", "impaired", "stopped", "terminated", "failed")
PATHS = ("internet", "inbound", "nat", "endpoint", "s3-direct", "same-zone", "cross-zone", "dropped")


@dataclass(frozen=True, slots=True)
class UsageRecord:
    service: str
    usage_type: str
    resource: str
    tags: tuple[tuple[str, str], ...]
    start_ms: int
    end_ms: int
    quantity: float
    unit: str

    @property
    def day(self) -> int:
        return self.start_ms // DAY_MS + 1


def record(usage_type: str, resource: str, start_ms: int, end_ms: int, quantity: float, tags=()) -> UsageRecord:
    service, unit, _ = USAGE_TYPES[usage_type]
    return UsageRecord(service, usage_type, resource, tuple(tags), start_ms, end_ms, quantity, unit)


def day_pieces(start_ms: int, end_ms: int) -> Iterator[tuple[int, int]]:
    """[start, end) cut at day boundaries."""
    while start_ms < end_ms:
        cut = min(end_ms, (start_ms // DAY_MS + 1) * DAY_MS)
        yield start_ms, cut
        start_ms = cut


@dataclass
class Lifecycle:
    """One instance from RunInstances to its end: its states and its billed runs."""

    name: str
    type: str
    zone: str
    state: str
    since_ms: int
    born_ms: int
    timeline: list[tuple[str, int, int]] = field(default_factory=list)  # closed (state, start, end)
    runs: list[tuple[str, int, int]] = field(default_factory=list)  # closed (type, start, end) billed runs
    run_start: int | None = None
    run_type: str = ""
    restarting: bool = False  # a StartInstances in flight: a failure goes back to stopped

    def move(self, state: str, t_ms: int) -> None:
        if state == self.state:
            return
        if t_ms > self.since_ms:  # a state left the moment it began leaves no span
            self.timeline.append((self.state, self.since_ms, t_ms))
        billed_before, billed_after = self.state in BILLED_STATES, state in BILLED_STATES
        if billed_after and not billed_before:
            self.run_start, self.run_type = t_ms, self.type
        elif billed_before and not billed_after and self.run_start is not None:
            self.runs.append((self.run_type, self.run_start, t_ms))
            self.run_start = None
        self.state, self.since_ms = state, t_ms

    @property
    def ended(self) -> bool:
        return self.state in ("terminated", "failed")

    def states_until(self, until_ms: int) -> list[tuple[str, int, int]]:
        """Every (state, start, end) from RunInstances to ``until_ms``: no gap, no overlap."""
        return self.timeline + ([(self.state, self.since_ms, until_ms)] if until_ms > self.since_ms else [])

    def runs_until(self, until_ms: int) -> list[tuple[str, int, int]]:
        open_run = [(self.run_type, self.run_start, until_ms)] if self.run_start is not None and until_ms > self.run_start else []
        return self.runs + open_run


@dataclass
class Held:
    """Something billed by the hour while it exists: a volume, a NAT gateway, a public
    address. ``spans`` are closed (label, start, end) stretches; ``label`` the current one."""

    kind: str  # volume | nat | address
    name: str
    label: str  # volume: its usage type; address: InUse | Idle
    since_ms: int
    size: float = 0.0  # a volume's GB
    holder: str = ""  # an address's interface or NAT gateway
    spans: list[tuple[str, int, int]] = field(default_factory=list)
    ended: bool = False

    def relabel(self, label: str, t_ms: int) -> None:
        if label != self.label:
            self.spans.append((self.label, self.since_ms, t_ms))
            self.label, self.since_ms = label, t_ms

    def end(self, t_ms: int) -> None:
        if not self.ended:
            self.spans.append((self.label, self.since_ms, t_ms))
            self.ended = True

    def spans_until(self, until_ms: int) -> list[tuple[str, int, int]]:
        if self.ended:
            return self.spans
        return self.spans + ([(self.label, self.since_ms, until_ms)] if until_ms > self.since_ms else [])


@dataclass
class Bucket:
    name: str
    gb: float
    since_ms: int
    segments: list[tuple[float, int, int]] = field(default_factory=list)  # (GB, start, end)

    def resize(self, gb: float, t_ms: int) -> None:
        if t_ms > self.since_ms:
            self.segments.append((self.gb, self.since_ms, t_ms))
        self.gb, self.since_ms = max(0.0, gb), max(t_ms, self.since_ms)

    def segments_until(self, until_ms: int) -> list[tuple[float, int, int]]:
        return self.segments + ([(self.gb, self.since_ms, until_ms)] if until_ms > self.since_ms else [])


class Meter:
    """Folds events into usage. Feed it the log (again and again: it reads only what is
    new), then ask for the records of a window of time."""

    def __init__(self, hours_in_month: float = 720.0) -> None:
        self.hours_in_month = float(hours_in_month)
        self.instances: dict[str, Lifecycle] = {}  # the current lifecycle of each name
        self.ended: list[Lifecycle] = []  # lifecycles of names since reused
        self.held: dict[tuple[str, str], Held] = {}
        self.gone: list[Held] = []
        self.buckets: dict[str, Bucket] = {}
        self.tags: dict[str, dict[str, str]] = {}
        # (usage type, resource, day) -> [first start, last end, quantity]
        self.traffic: dict[tuple[str, str, int], list] = {}
        self.eip_address: dict[str, str] = {}  # Elastic IP name -> address
        self.seen = 0
        self.last_ms = 0

    # -- reading the log -------------------------------------------------------------------
    def feed(self, events: Iterable["Event"]) -> None:
        for e in events:
            self.last_ms = e.t_ms
            handler = _HANDLERS.get(e.kind)
            if handler is not None:
                handler(self, e)
            self.seen += 1

    def catch_up(self, log) -> None:
        """Read what the log gained since the last call."""
        if len(log) > self.seen:
            self.feed(log.since(self.seen))

    def fork(self) -> "Meter":
        """An independent copy with the traffic so far left out, to feed the events of
        days that have not happened (a forecast): what resources exist and since when,
        and what the buckets hold, carry over."""
        traffic, self.traffic = self.traffic, {}
        try:
            return copy.deepcopy(self)
        finally:
            self.traffic = traffic

    # -- instances -------------------------------------------------------------------------
    def _launch(self, e: "Event") -> None:
        name = str(e.get("instance"))
        old = self.instances.get(name)
        if old is not None:
            self.ended.append(old)
        self.instances[name] = Lifecycle(name, str(e.get("type")), str(e.get("zone") or ""), "pending", e.t_ms, e.t_ms)

    def _move(self, e: "Event", state: str) -> None:
        life = self.instances.get(str(e.get("instance")))
        if life is None or life.ended:
            return
        if state == "failed" and life.restarting:
            state = "stopped"  # a StartInstances that failed: stopped again, as before
        if state in ("running", "stopped"):
            life.restarting = False
        life.move(state, e.t_ms)
        if state in ("terminated", "failed"):
            self._instance_ended(life, e.t_ms)
        elif state in ("running", "stopped"):
            # its Elastic IPs are idle while it is stopped (AWS's IdleAddress)
            for (kind, key), held in self.held.items():
                if kind == "address" and held.holder == f"eni-{life.name}":
                    held.relabel("InUse" if state == "running" else "Idle", e.t_ms)

    def _api(self, e: "Event") -> None:
        if e.get("action") == "StartInstances":
            life = self.instances.get(str(e.get("instance")))
            if life is not None and life.state == "stopped":
                life.restarting = True
                life.move("pending", e.t_ms)

    def _unreachable(self, e: "Event") -> None:
        life = self.instances.get(str(e.get("instance")))
        if life is not None and life.state == "running":
            life.move("impaired", e.t_ms)

    def _recovered(self, e: "Event") -> None:
        life = self.instances.get(str(e.get("instance")))
        if life is not None and life.state == "impaired":
            life.move("running", e.t_ms)

    def _modified(self, e: "Event") -> None:
        life = self.instances.get(str(e.get("instance")))
        if life is not None:
            life.type = str(e.get("type"))

    # -- public addresses -------------------------------------------------------------------
    def _address(self, key: str, t_ms: int, label: str, holder: str = "", name: str = "") -> Held:
        """An address held from now: an Elastic IP by its name, an instance's own address
        by the address (its records name the instance)."""
        found = self.held.get(("address", key))
        if found is not None and not found.ended:
            found.holder = holder or found.holder
            found.relabel(label, t_ms)
            return found
        held = Held("address", name or key, label, t_ms, holder=holder)
        self.held[("address", key)] = held
        return held

    def _drop(self, kind: str, key: str, t_ms: int) -> None:
        held = self.held.pop((kind, key), None)
        if held is not None:
            held.end(t_ms)
            self.gone.append(held)

    def _assigned(self, e: "Event") -> None:
        if e.get("step") != "assign_nic":
            return
        address = str(e.get("public_ip") or "")
        if not address:
            return
        eip = next((n for n, a in self.eip_address.items() if a == address), None)
        if eip is not None:  # an Elastic IP named for this instance in the world
            self._address(eip, e.t_ms, "InUse", holder=f"eni-{e.get('instance')}")
        else:
            self._address(address, e.t_ms, "InUse", holder=str(e.get("instance")), name=str(e.get("instance")))

    def _public(self, e: "Event") -> None:
        was = str(e.get("was") or "")
        if e.get("reason") in ("stop", "eip-associate") and was and was not in self.eip_address.values():
            self._drop("address", was, e.t_ms)

    def _instance_ended(self, life: Lifecycle, t_ms: int) -> None:
        for (kind, key), held in list(self.held.items()):
            if kind != "address":
                continue
            if held.holder == life.name and key not in self.eip_address and key != life.name:
                self._drop("address", key, t_ms)
            elif held.holder == f"eni-{life.name}":
                held.holder = ""
                held.relabel("Idle", t_ms)

    def _network(self, e: "Event") -> None:
        action, name = e.get("action"), str(e.get("resource"))
        if action == "AllocateAddress":
            self.eip_address[name] = str(e.get("detail"))
            self._address(name, e.t_ms, "Idle")
        elif action == "ReleaseAddress":
            self._drop("address", name, e.t_ms)
            self.eip_address.pop(name, None)
        elif action == "AssociateAddress":
            detail = str(e.get("detail"))
            holder = detail.split("-> ", 1)[1].split(" ", 1)[0] if "-> " in detail else "?"
            self._address(name, e.t_ms, "InUse", holder=holder)
        elif action == "DisassociateAddress":
            held = self.held.get(("address", name))
            if held is not None:
                held.holder = ""
                held.relabel("Idle", e.t_ms)
        elif action == "CreateNatGateway":
            self.held[("nat", name)] = Held("nat", name, "NatGateway-Hours", e.t_ms)
            self.eip_address[f"{name}-eip"] = str(e.get("detail")).rsplit(", ", 1)[-1]
            self._address(f"{name}-eip", e.t_ms, "InUse", holder=name)
        elif action == "DeleteNatGateway":
            self._drop("nat", name, e.t_ms)
            held = self.held.get(("address", f"{name}-eip"))
            if held is not None:
                held.holder = ""
                held.relabel("Idle", e.t_ms)

    # -- the billing mechanism's own resources ------------------------------------------------
    def _inventory(self, e: "Event") -> None:
        kind, name = str(e.get("what")), str(e.get("resource"))
        if kind == "volume":
            vol = Held("volume", name, f"EBS:VolumeUsage.{e.get('type')}", e.t_ms, size=float(e.get("gib")))
            self.held[("volume", name)] = vol
        elif kind == "nat":
            self.held[("nat", name)] = Held("nat", name, "NatGateway-Hours", e.t_ms)
        elif kind == "eip":
            self.eip_address[name] = str(e.get("address"))
            holder = str(e.get("holder") or "")
            self._address(name, e.t_ms, "InUse" if holder else "Idle", holder=holder)
        elif kind == "bucket":
            self.buckets[name] = Bucket(name, float(e.get("gb") or 0), e.t_ms)

    def _volume_deleted(self, e: "Event") -> None:
        self._drop("volume", str(e.get("volume")), e.t_ms)

    def _expired(self, e: "Event") -> None:
        bucket = self.buckets.get(str(e.get("bucket")))
        if bucket is not None:
            bucket.resize(bucket.gb - float(e.get("gb")), e.t_ms)

    def _tagged(self, e: "Event") -> None:
        tags = self.tags.setdefault(str(e.get("resource")), {})
        value = str(e.get("value") or "")
        if value:
            tags[str(e.get("key"))] = value
        else:
            tags.pop(str(e.get("key")), None)

    def _traffic(self, e: "Event") -> None:
        d = dict(e.data)
        gb = float(d.get("gb") or 0)
        end = e.t_ms
        start = end - int(float(d.get("seconds") or 0) * 1000)
        src, dst, path, via = str(d.get("src")), str(d.get("dst")), str(d.get("path")), str(d.get("via") or "")
        add = self._add_traffic
        if path == "internet":
            add("DataTransfer-Out-Bytes", src, start, end, gb)
        elif path == "inbound":
            add("DataTransfer-In-Bytes", dst, start, end, gb)
        elif path == "nat":
            add("NatGateway-Bytes", via, start, end, gb)
            if not dst.startswith("bucket:"):
                add("DataTransfer-Out-Bytes", via, start, end, gb)
        elif path == "endpoint":
            add("GatewayEndpoint-Bytes", via, start, end, gb)
        elif path == "cross-zone":
            add("DataTransfer-Regional-Bytes", src, start, end, gb)
            add("DataTransfer-Regional-Bytes", dst, start, end, gb)
        if path != "dropped" and dst.startswith("bucket:"):
            bucket_name = dst[7:]
            puts, gets = int(d.get("puts") or 0), int(d.get("gets") or 0)
            bucket = self.buckets.get(bucket_name)
            if bucket is not None and puts:
                bucket.resize(bucket.gb + gb, end)
            if puts:
                add("Requests-Tier1", bucket_name, start, end, float(puts))
            if gets:
                add("Requests-Tier2", bucket_name, start, end, float(gets))

    def _add_traffic(self, usage_type: str, resource: str, start: int, end: int, quantity: float) -> None:
        """Add to the day's total of one usage type of one resource (a day's traffic is one
        record, as a daily Cost and Usage Report has it)."""
        key = (usage_type, resource, (end - 1) // DAY_MS)
        row = self.traffic.get(key)
        if row is None:
            self.traffic[key] = [start, end, quantity]
        else:
            row[0], row[1], row[2] = min(row[0], start), max(row[1], end), row[2] + quantity

    # -- the records ---------------------------------------------------------------------
    def lifecycles(self) -> list[Lifecycle]:
        return self.ended + list(self.instances.values())

    def records(self, start_ms: int, end_ms: int) -> list[UsageRecord]:
        """Every usage in [start, end), cut at day boundaries, with its resource's tags."""
        out: list[UsageRecord] = []
        tags = {name: tuple(sorted(t.items())) for name, t in self.tags.items()}
        none: tuple = ()
        month_ms = self.hours_in_month * HOUR_MS
        for life in self.lifecycles():
            for type_name, s, e in life.runs_until(end_ms):
                billed_ms = instance_seconds_billed(e - s) * 1000
                extra = billed_ms - (e - s)
                last = e if e <= end_ms else None
                for a, b in day_pieces(max(s, start_ms), min(e, end_ms)):
                    ms = b - a + (extra if b == last else 0)
                    out.append(record(f"BoxUsage:{type_name}", life.name, a, b, ms / HOUR_MS, tags.get(life.name, none)))
        for held in [*self.held.values(), *self.gone]:
            for label, s, e in held.spans_until(end_ms):
                if held.kind == "nat":
                    out.extend(self._nat_hours(held.name, s, e, start_ms, end_ms, tags.get(held.name, none)))
                    continue
                usage_type = label if held.kind == "volume" else f"PublicIPv4:{label}Address"
                for a, b in day_pieces(max(s, start_ms), min(e, end_ms)):
                    qty = held.size * (b - a) / month_ms if held.kind == "volume" else (b - a) / HOUR_MS
                    out.append(record(usage_type, held.name, a, b, qty, tags.get(held.name, none)))
        for bucket in self.buckets.values():
            for gb, s, e in bucket.segments_until(end_ms):
                for a, b in day_pieces(max(s, start_ms), min(e, end_ms)):
                    if gb > 0:
                        out.append(record("TimedStorage-ByteHrs", bucket.name, a, b, gb * (b - a) / month_ms, tags.get(bucket.name, none)))
        for (usage_type, resource, _), (s, e, qty) in self.traffic.items():
            if start_ms < e <= end_ms:
                out.append(record(usage_type, resource, max(s, start_ms), e, qty, tags.get(resource, none)))
        return out

    @staticmethod
    def _nat_hours(name: str, s: int, e: int, start_ms: int, end_ms: int, tags) -> list[UsageRecord]:
        """Each clock hour the gateway existed in, counted whole, on the day it began."""
        days: dict[int, int] = {}
        for h in range(s // HOUR_MS, (e - 1) // HOUR_MS + 1):
            t = max(s, h * HOUR_MS)
            if start_ms <= t < end_ms:
                days[t // DAY_MS] = days.get(t // DAY_MS, 0) + 1
        return [
            record("NatGateway-Hours", name, max(start_ms, d * DAY_MS), min(end_ms, (d + 1) * DAY_MS), float(n), tags)
            for d, n in sorted(days.items())
        ]


_HANDLERS = {
    "launch.requested": Meter._launch,
    "instance.running": lambda m, e: m._move(e, "running"),
    "instance.stopped": lambda m, e: m._move(e, "stopped"),
    "instance.terminated": lambda m, e: m._move(e, "terminated"),
    "launch.failed": lambda m, e: m._move(e, "failed"),
    "instance.unreachable": Meter._unreachable,
    "instance.recovered": Meter._recovered,
    "instance.modified": Meter._modified,
    "api.call": Meter._api,
    "launch.step": Meter._assigned,
    "address.public": Meter._public,
    "network.changed": Meter._network,
    "billing.inventory": Meter._inventory,
    "volume.deleted": Meter._volume_deleted,
    "bucket.expired": Meter._expired,
    "tags.changed": Meter._tagged,
    "traffic.transferred": Meter._traffic,
}
METERED_KINDS = tuple(_HANDLERS)


def gb_months(byte_hours: int, hours_in_month: float) -> float:
    """Byte-hours to GB-months, as S3's pricing page converts them (GB = 2^30 bytes)."""
    return byte_hours / (1 << 30) / hours_in_month
