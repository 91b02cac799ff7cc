"""Billing commands: read the meter (usage), the invoice and the cost explorer (cost by),
change prices and tags, and fix what leaks: volumes, lifecycle rules, gateway endpoints,
an instance's size."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...cloud import billing as sim
from ...cloud.catalogue import CATALOGUE
from ...cloud.metering import DAY_MS, HOUR_MS
from ...cloud.pricing import USAGE_TYPES, Invoice
from ..mechanism import Mechanism, keys_of
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()
DIMENSIONS = ("service", "tag", "day", "resource", "usage-type")
SPARK = "▁▂▃▄▅▆▇█"


def _billing(session: "Session") -> sim.Billing:
    billing = session.cloud.get(sim.Billing)
    if billing is None:
        raise CommandError("this world keeps no bill (its world has no billing section)")
    return billing


def usd(value: float) -> str:
    return f"${value:,.2f}" if abs(value) >= 0.005 or value == 0 else f"${value:.4f}"


def qty(value: float, unit: str) -> str:
    if unit == "Requests":
        return f"{value:,.0f} req"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def when(session: "Session", billing: sim.Billing) -> str:
    now = session.cloud.now_ms
    day = min(now // DAY_MS + 1, billing.month_days)
    hours = now / HOUR_MS
    return f"{billing.month} day {day} of {billing.month_days} ({hours:g} h metered)"


def bar(share: float, width: int = 12) -> str:
    full = max(0, min(width, round(share * width)))
    return "█" * full + "·" * (width - full)


# -- reading the meter ----------------------------------------------------------------------
@command(
    "usage",
    "the meter: what each resource used this month, and what it cost",
    args=[Param("thing", "a resource or a service (default: everything)", required=False, complete="billable")],
    details="""Every line is metered from the event log: instance-seconds by type, volume and
bucket GB-months, data out, across zones and through NAT gateways, S3 requests, public
IPv4 hours. With a resource, its usage records, its tags and what it is doing.""",
)
def usage(session: "Session", thing: str | None) -> str:
    billing = _billing(session)
    inv = billing.invoice()
    services = {USAGE_TYPES[u][0].lower(): USAGE_TYPES[u][0] for u in USAGE_TYPES}
    if thing is not None and thing.lower() not in services:
        if thing not in billing.resources() and thing not in inv.by_resource():
            raise CommandError(
                f"no resource or service {thing!r} (services: {', '.join(sorted(set(services.values())))}; "
                f"resources: {', '.join(billing.resources()[:8])}{', ...' if len(billing.resources()) > 8 else ''})"
            )
        if thing not in services:
            return resource_usage(session, billing, inv, thing)
    service = services.get(thing.lower()) if thing else None
    rows: dict[tuple[str, str], list[float]] = {}
    for r in inv.rated:
        if service is not None and r.record.service != service:
            continue
        row = rows.setdefault((r.record.resource, r.record.usage_type), [0.0, 0.0])
        row[0] += r.record.quantity
        row[1] += r.cost
    total = math.fsum(v[1] for v in rows.values())
    head = f"usage{' of ' + service if service else ''}, {when(session, billing)}: {len(rows)} lines, {usd(total)}"
    lines = [head, f"  {'cost':>9}  {'resource':<14} {'usage type':<26} quantity"]
    for (resource, usage_type), (q, cost) in sorted(rows.items(), key=lambda kv: (-kv[1][1], kv[0])):
        lines.append(f"  {usd(cost):>9}  {resource:<14} {usage_type:<26} {qty(q, USAGE_TYPES[usage_type][1])}")
    if not rows:
        lines.append("  nothing metered yet (tick)")
    return "\n".join(lines)


def resource_usage(session: "Session", billing: sim.Billing, inv: Invoice, name: str) -> str:
    cloud = session.cloud
    tags = billing.tags.get(name, {})
    lines = [f"{name}: tags {' '.join(f'{k}={v}' for k, v in sorted(tags.items())) or '(none)'}"]
    inst = cloud.control.instances.get(name)
    if inst is not None and inst.exists:
        t = inst.type
        lines.append(f"  instance {t.name} ({t.vcpus} vCPU, {t.ram_gib:g} GiB), {inst.state}, zone {inst.zone}")
        w = billing.workloads.get(name)
        if w is not None:
            lines.append(
                f"  CloudWatch: CPU average {w.vcpus_avg:g} of {t.vcpus} vCPUs ({100 * w.vcpus_avg / t.vcpus:.0f}%), "
                f"peak {w.vcpus_peak:g}; memory peak {w.ram_gib_peak:g} of {t.ram_gib:g} GiB"
            )
    if name in billing.volumes:
        v = billing.volumes[name]
        on = v.attached_to if v.attached_to and billing.instance(v.attached_to) else None
        lines.append(f"  volume {v.gib} GiB {v.type} in {v.zone}, " + (f"attached to {on}" if on else "attached to nothing"))
    if name in billing.buckets:
        b = billing.buckets[name]
        oldest = -min(b.cohorts) + cloud.now_ms // DAY_MS if b.cohorts else 0
        rule = f"objects expire after {b.expire_days} days" if b.expire_days else "no lifecycle rule: objects are kept for ever"
        keep = f"; the business keeps {b.keep_days} days" if b.keep_days else ""
        lines.append(f"  bucket: {b.gb:,.0f} GB stored, oldest {oldest} days old; {rule}{keep}")
    net = billing.network
    if net is not None and name in net.eips:
        eip = net.eips[name]
        state = "idle: associated with nothing running" if net.eip_idle(eip) else f"in use by {eip.nat or eip.eni}"
        lines.append(f"  Elastic IP {eip.address}, {state}")
    if net is not None and name in net.nats:
        lines.append(f"  NAT gateway in subnet {net.nats[name].subnet}; what went through it this month:")
        by_flow: dict[str, float] = {}
        for e in cloud.log:
            if e.kind == "traffic.transferred" and e.get("via") == name and e.get("path") == "nat":
                key = f"{e.get('flow')} ({e.get('src')} -> {e.get('dst')})"
                by_flow[key] = by_flow.get(key, 0.0) + float(e.get("gb"))
        for key, gb in sorted(by_flow.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {gb:>10,.1f} GB  {key}")
    rows: dict[str, list[float]] = {}
    span: dict[str, list[int]] = {}
    for r in inv.rated:
        if r.record.resource != name:
            continue
        row = rows.setdefault(r.record.usage_type, [0.0, 0.0])
        row[0] += r.record.quantity
        row[1] += r.cost
        s = span.setdefault(r.record.usage_type, [r.record.start_ms, r.record.end_ms])
        s[0], s[1] = min(s[0], r.record.start_ms), max(s[1], r.record.end_ms)
    if rows:
        lines.append("  metered this month:")
    for usage_type, (q, cost) in sorted(rows.items(), key=lambda kv: -kv[1][1]):
        a, b = span[usage_type]
        lines.append(
            f"    {usd(cost):>9}  {usage_type:<26} {qty(q, USAGE_TYPES[usage_type][1]):>14}  "
            f"t={a / HOUR_MS:.0f}h-{b / HOUR_MS:.0f}h"
        )
    total = math.fsum(v[1] for v in rows.values())
    lines.append(f"  {name} so far: {usd(total)}")
    return "\n".join(lines)


@command(
    "invoice",
    "the month's invoice so far, by service and usage type, and next month's forecast",
    details="""Rated with the world's price sheet (price show). The forecast is next month's bill
if nothing changes: the same meter, fed the days to come.""",
)
def invoice(session: "Session") -> str:
    billing = _billing(session)
    inv = billing.invoice()
    sheet = billing.sheet
    lines = [f"invoice, {when(session, billing)}; {sheet.region} list prices of {sheet.date}"]
    by_type = inv.by_usage_type()
    quantities: dict[str, float] = {}
    for r in inv.rated:
        quantities[r.record.usage_type] = quantities.get(r.record.usage_type, 0.0) + r.record.quantity
    for service, cost in inv.by_service().items():
        lines.append(f"  {service:<28} {usd(cost):>10}")
        for usage_type, c in by_type.items():
            if USAGE_TYPES[usage_type][0] == service:
                lines.append(f"    {usage_type:<26} {usd(c):>10}  {qty(quantities[usage_type], USAGE_TYPES[usage_type][1])}")
    lines.append(f"  {'total':<28} {usd(inv.total):>10}")
    lines.append(f"forecast for {billing.next_month} if nothing changes: {usd(billing.forecast().total)}")
    return "\n".join(lines)


@command(
    "cost by",
    "the cost explorer: this month's cost grouped by service, tag, day, resource or usage type",
    args=[
        Param("dimension", "how to group", choices=DIMENSIONS),
        Param("key", "with tag: the tag key (default: every key)", required=False, complete="tag-key"),
    ],
)
def cost_by(session: "Session", dimension: str, key: str | None) -> str:
    billing = _billing(session)
    inv = billing.invoice()
    if key is not None and dimension != "tag":
        raise CommandError(f"only cost by tag takes a key (usage: cost by tag [KEY]); cost by {dimension} takes none")
    if dimension == "tag":
        keys = billing.tag_keys()
        if key is not None and key not in keys:
            raise CommandError(f"no resource has a tag {key!r} (tag keys: {', '.join(keys) or 'none yet; tag RESOURCE KEY VALUE'})")
        return "\n\n".join(_grouped(session, billing, inv.by_tag(k), f"tag {k}") for k in ([key] if key else keys)) or "no tags yet"
    if dimension == "day":
        return _by_day(session, billing, inv)
    groups = {"service": inv.by_service, "resource": inv.by_resource, "usage-type": inv.by_usage_type}[dimension]()
    return _grouped(session, billing, groups, dimension)


def _grouped(session: "Session", billing: sim.Billing, groups: dict[str, float], what: str) -> str:
    total = math.fsum(groups.values())
    width = max((len(k) for k in groups), default=4)
    lines = [f"cost by {what}, {when(session, billing)}: {usd(total)}"]
    for name, cost in groups.items():
        share = cost / total if total else 0.0
        lines.append(f"  {name:<{width}}  {usd(cost):>10}  {bar(share)} {100 * share:4.1f}%")
    return "\n".join(lines)


def _by_day(session: "Session", billing: sim.Billing, inv: Invoice) -> str:
    days = inv.by_day()
    if not days:
        return "no cost yet (tick)"
    top = max(days.values()) or 1.0
    spark = "".join(SPARK[min(7, int(days.get(d, 0.0) / top * 7.999))] for d in range(1, max(days) + 1))
    lines = [f"cost by day, {when(session, billing)}: {usd(inv.total)}", f"  {spark}"]
    row = []
    for d in range(1, max(days) + 1):
        row.append(f"{d:>2} {usd(days.get(d, 0.0)):>8}")
        if len(row) == 5:
            lines.append("  " + "  ".join(row))
            row = []
    if row:
        lines.append("  " + "  ".join(row))
    return "\n".join(lines)


# -- prices and tags ------------------------------------------------------------------------
@command(
    "price show",
    "the price sheet: what each usage type costs",
    args=[Param("usage_type", "one usage type (default: all)", required=False, complete="usage-type")],
)
def price_show(session: "Session", usage_type: str | None) -> str:
    billing = _billing(session)
    sheet = billing.sheet
    if usage_type is not None and usage_type not in USAGE_TYPES:
        raise CommandError(f"no usage type {usage_type!r} (usage types: {', '.join(sorted(USAGE_TYPES))})")
    lines = [f"price sheet: {sheet.region} list prices of {sheet.date}"]
    for u in [usage_type] if usage_type else sorted(USAGE_TYPES):
        lines.append(f"  {u:<28} {sheet.price_text(u)}")
    return "\n".join(lines)


@command(
    "price set",
    "change one flat price of the price sheet (the invoice is re-rated with it)",
    args=[Param("usage_type", "a usage type", complete="usage-type"), Param("price", "US$ per unit (requests: per request)", type=float)],
)
def price_set(session: "Session", usage_type: str, price: float) -> str:
    billing = _billing(session)
    if usage_type not in USAGE_TYPES:
        raise CommandError(f"no usage type {usage_type!r} (usage types: {', '.join(sorted(USAGE_TYPES))})")
    if price < 0:
        raise CommandError(f"a price cannot be negative ({price:g}): it is US$ 0 or more per unit")
    if usage_type in billing.sheet.tiers:
        raise CommandError(f"{usage_type} is priced in tiers; change its tiers in the world's price sheet")
    was = billing.set_price(usage_type, price)
    return f"{usage_type}: {usd(was)} -> {usd(price)} per unit; the month so far is now {usd(billing.invoice().total)}"


@command(
    "tag",
    "set a tag on a resource (CreateTags), or remove it with an empty value",
    args=[
        Param("resource", "an instance, volume, bucket, NAT gateway or Elastic IP", complete="billable"),
        Param("key", "the tag key, e.g. team"),
        Param("value", "its value (\"\" removes the tag)"),
    ],
)
def tag(session: "Session", resource: str, key: str, value: str) -> str:
    billing = _billing(session)
    if resource not in billing.resources():
        raise CommandError(f"no resource {resource!r} to tag (resources: {', '.join(billing.resources())})")
    try:
        sim.check_tag(key, value)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    was = billing.tag(resource, key, value)
    if not value:
        return f"{resource}: tag {key} removed" + (f" (was {was})" if was else " (it had none)")
    return f"{resource}: {key}={value}" + (f" (was {was})" if was else "")


# -- fixing leaks -----------------------------------------------------------------------------
@command("ebs show", "the account's EBS data volumes: size, type, zone, what each is attached to")
def volume_show(session: "Session") -> str:
    billing = _billing(session)
    if not billing.volumes:
        return "no volumes"
    price = billing.sheet.flat
    lines = ["volumes:"]
    for v in billing.volumes.values():
        on = v.attached_to if v.attached_to and billing.instance(v.attached_to) else None
        month = v.gib * price[f"EBS:VolumeUsage.{v.type}"]
        lines.append(f"  {v.name:<14} {v.gib:>6} GiB {v.type}  {v.zone:<11} {'attached to ' + on if on else 'UNATTACHED':<22} {usd(month)}/month")
    return "\n".join(lines)


@command(
    "ebs delete",
    "delete an EBS volume (DeleteVolume): its data is gone, and so is its charge",
    args=[Param("name", "the EBS volume", complete="ebs-volume")],
)
def volume_delete(session: "Session", name: str) -> str:
    billing = _billing(session)
    if name not in billing.volumes:
        raise CommandError(f"no volume named {name!r} (volumes: {', '.join(billing.volumes) or 'none'})")
    vol = billing.delete_volume(name)
    return f"{vol.name} deleted ({vol.gib} GiB {vol.type}); it is billed up to now and no more"


@command("bucket show", "the account's S3 buckets: size, age of the oldest objects, lifecycle rules")
def bucket_show(session: "Session") -> str:
    billing = _billing(session)
    if not billing.buckets:
        return "no buckets"
    today = session.cloud.now_ms // DAY_MS
    lines = ["buckets:"]
    for b in billing.buckets.values():
        oldest = today - min(b.cohorts) if b.cohorts else 0
        rule = f"expire after {b.expire_days} d" if b.expire_days else "kept for ever"
        keep = f", must keep {b.keep_days} d" if b.keep_days else ""
        lines.append(f"  {b.name:<16} {b.gb:>10,.0f} GB  oldest {oldest:>4} d  {rule}{keep}")
    return "\n".join(lines)


@command(
    "bucket lifecycle",
    "set a bucket's lifecycle rule: objects expire DAYS days after they were written (or off)",
    args=[Param("bucket", "the bucket", complete="bucket"), Param("days", "days to keep, 1-3650, or off")],
    details="S3 applies lifecycle rules once a day: objects past their age go at the next midnight.",
)
def bucket_lifecycle(session: "Session", bucket: str, days: str) -> str:
    billing = _billing(session)
    if bucket not in billing.buckets:
        raise CommandError(f"no bucket named {bucket!r} (buckets: {', '.join(billing.buckets) or 'none'})")
    if days == "off":
        number = None
    else:
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            raise CommandError(f"days must be a whole number from 1 to 3650, or off, not {days!r}")
        number = int(days)
    was = billing.set_lifecycle(bucket, number)
    now = f"objects expire {number} days after they were written" if number else "no expiry: objects are kept for ever"
    return f"{bucket}: {now} (was {f'{was} days' if was else 'none'}); S3 applies it at the next midnight"


@command(
    "endpoint create",
    "create an S3 gateway endpoint for route tables: their S3 traffic goes through it, free",
    args=[Param("name", "a name for it"), Param("route_tables", "ROUTE_TABLE or a comma-separated list", complete="route-table")],
    details="""A gateway endpoint adds a route to S3's address ranges to each route table you
name; instances in subnets using those tables reach S3 through it instead of a NAT
gateway, and AWS charges nothing for it.""",
)
def endpoint_create(session: "Session", name: str, route_tables: str) -> str:
    billing = _billing(session)
    tables = [t.strip() for t in route_tables.split(",") if t.strip()]
    if not tables:
        raise CommandError("name at least one route table (usage: endpoint create NAME ROUTE_TABLE[,ROUTE_TABLE...])")
    net = billing.network
    known_tables = sorted(net.route_tables) if net is not None else []
    for t in tables:
        if t not in known_tables:
            raise CommandError(f"no route table {t!r} (route tables: {', '.join(known_tables) or 'none'})")
    endpoint = billing.create_endpoint(name, tables)
    return f"endpoint {endpoint.name}: S3 traffic from subnets using {', '.join(tables)} now goes through it, free"


@command("endpoint delete", "delete a gateway endpoint", args=[Param("name", "the endpoint", complete="vpc-endpoint")])
def endpoint_delete(session: "Session", name: str) -> str:
    billing = _billing(session)
    if name not in billing.endpoints:
        raise CommandError(f"no endpoint named {name!r} (endpoints: {', '.join(billing.endpoints) or 'none'})")
    billing.delete_endpoint(name)
    return f"endpoint {name} deleted: S3 traffic takes the route tables' default route again"


@command(
    "resize",
    "give a stopped instance another type (ModifyInstanceAttribute); start it again after",
    args=[Param("instance", "a stopped instance", complete="instance"), Param("type", "the new type", choices=tuple(CATALOGUE))],
    details="EC2 changes a type only while the instance is stopped: stop it, resize it, start it.\n"
    + "\n".join(f"{t.name:<7} {t.vcpus} vCPU {t.ram_gib:>5g} GiB  ${t.price_per_hour:g} an hour" for t in CATALOGUE.values()),
)
def resize(session: "Session", instance: str, type: str) -> str:
    billing = _billing(session)
    inst = session.cloud.control.instances.get(instance)
    if inst is None or not inst.exists:
        raise CommandError(f"no instance named {instance!r} (instances: {', '.join(billing.resources())})")
    if inst.state != "stopped":
        raise CommandError(f"{instance} is {inst.state}: stop it first (stop {instance}); a type changes only while stopped")
    if inst.type.name == type:
        raise CommandError(f"{instance} is already a {type}")
    was = inst.type
    session.cloud.control.modify_type(instance, type)
    t = CATALOGUE[type]
    line = f"{instance}: {was.name} -> {t.name} ({t.vcpus} vCPU, {t.ram_gib:g} GiB, {usd(t.price_per_hour)}/h); start it again (start {instance})"
    w = billing.workloads.get(instance)
    if w is not None and sim.fits(w, type):
        line += f"\nwarning: {sim.fits(w, type)}"
    return line


# -- the view in words ------------------------------------------------------------------------
def billing_text(session: "Session") -> str:
    billing = session.cloud.get(sim.Billing)
    if billing is None:
        return "this world keeps no bill"
    inv = billing.invoice()
    forecast = billing.forecast()
    lines = [f"billing, {when(session, billing)}: {usd(inv.total)} so far; {billing.next_month} forecast {usd(forecast.total)}"]
    for service, cost in inv.by_service().items():
        lines.append(f"  {service:<14} {usd(cost):>10}  {billing.next_month} {usd(forecast.by_service().get(service, 0.0)):>10}")
    days = inv.by_day()
    if days:
        top = max(days.values()) or 1.0
        spark = "".join(SPARK[min(7, int(days.get(d, 0.0) / top * 7.999))] for d in range(1, max(days) + 1))
        lines.append(f"  cost by day: {spark}")
    unmet = billing.needs_unmet()
    lines.append("business needs: all met" if not unmet else "business needs NOT met: " + "; ".join(unmet))
    return "\n".join(lines)


def _status(session: "Session", thing: str | None) -> str | None:
    billing = session.cloud.get(sim.Billing)
    if billing is None:
        return None
    if thing is not None:
        return resource_usage(session, billing, billing.invoice(), thing) if thing in billing.resources() else None
    return f"billing: {usd(billing.invoice().total)} so far this month, {when(session, billing)}"


MECHANISM = Mechanism(
    name="billing",
    summary="the billing engine: an account's month metered from the event log, rated, invoiced (chapter 15)",
    section=sim.BillingSpec,
    attach=sim.attach,
    needs=("network",),
    check=sim.check_world,
    commands=command,
    ids={
        "billable": lambda s: s.cloud.get(sim.Billing).resources() if s.cloud.get(sim.Billing) else [],
        "ebs-volume": keys_of(sim.Billing, "volumes"),
        "bucket": keys_of(sim.Billing, "buckets"),
        "vpc-endpoint": keys_of(sim.Billing, "endpoints"),
        "tag-key": lambda s: s.cloud.get(sim.Billing).tag_keys() if s.cloud.get(sim.Billing) else [],
        "usage-type": lambda s: sorted(USAGE_TYPES),
    },
    status=_status,
    metrics=sim.METRICS,
    events=sim.EVENTS,
    views={"billing": billing_text},
)
