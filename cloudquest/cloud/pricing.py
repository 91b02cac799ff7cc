"""Rating: usage records priced with a price sheet, and the invoice built from them.

A cloud bill is made in two stages. *Metering* (:mod:`.metering`) turns what happened
into usage records: this resource, these tags, this stretch of time, this quantity of
this usage type. *Rating* prices each record with the price sheet, and the *invoice*
adds the rated records up by service, by tag and by day. AWS's Cost and Usage Report is
exactly these rows (``lineItem/UsageType``, ``lineItem/ResourceId``, ``resourceTags``,
``lineItem/UsageStartDate``, ``lineItem/UsageAmount``, ``lineItem/UnblendedCost``).

The default price sheet is AWS's public on-demand list for US East (N. Virginia),
us-east-1, as published in 2024 (the public IPv4 charge began on 1 February 2024):

- EC2 Linux on-demand, per hour, billed **per second with a 60-second minimum** each
  time an instance starts (EC2 pricing page, "Per Second Billing"): t3.nano $0.0052,
  micro $0.0104, small $0.0208, medium $0.0416, large $0.0832, xlarge $0.1664;
- EBS volumes per GB-month provisioned, prorated by the hour: gp3 $0.08, gp2 $0.10,
  st1 $0.045, sc1 $0.015;
- S3 Standard storage per GB-month, **tiered** on the month's total: $0.023 for the
  first 50 TB, $0.022 for the next 450 TB, $0.021 above 500 TB; requests $0.005 per
  1,000 PUT/COPY/POST/LIST (tier 1) and $0.0004 per 1,000 GET (tier 2);
- data transfer out to the internet, **tiered** on the month's total: the first 100 GB
  free (aggregated over the account since December 2021), then $0.09 per GB for the next
  10 TB, $0.085 for the next 40 TB, $0.07 for the next 100 TB and $0.05 above;
  **inbound transfer is free**; between Availability Zones $0.01 per GB in each
  direction;
- NAT gateway $0.045 per hour (each partial hour a full hour) and $0.045 per GB
  processed; an S3 or DynamoDB **gateway endpoint is free**;
- public IPv4 $0.005 per address per hour, in use or idle.

A tiered price applies to the month's running total of a usage type: the records are
rated in time order, each filling the tiers from where the one before stopped, so the
first GBs of the month are the expensive ones whatever resource used them.

Where the game simplifies: one region and one account; no free tier beyond the 100 GB of
transfer; no Savings Plans, Reserved Instances or Spot; prices kept as binary floats
(the invoice's total is the exactly rounded sum of the rated records, ``math.fsum``);
the GB of a usage record is the binary gigabyte, 2^30 bytes, as AWS meters storage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .catalogue import CATALOGUE

if TYPE_CHECKING:
    from .metering import UsageRecord

PRICES_DATE = "2024-06"
REGION = "us-east-1"
INF = math.inf

# usage type -> (service, unit, what it is)
USAGE_TYPES: dict[str, tuple[str, str, str]] = {
    **{f"BoxUsage:{t}": ("EC2", "Hrs", f"a t3.{t} instance running") for t in CATALOGUE},
    "EBS:VolumeUsage.gp3": ("EBS", "GB-Mo", "gp3 volume storage provisioned"),
    "EBS:VolumeUsage.gp2": ("EBS", "GB-Mo", "gp2 volume storage provisioned"),
    "EBS:VolumeUsage.st1": ("EBS", "GB-Mo", "st1 volume storage provisioned"),
    "EBS:VolumeUsage.sc1": ("EBS", "GB-Mo", "sc1 volume storage provisioned"),
    "TimedStorage-ByteHrs": ("S3", "GB-Mo", "S3 Standard storage"),
    "Requests-Tier1": ("S3", "Requests", "S3 PUT, COPY, POST and LIST requests"),
    "Requests-Tier2": ("S3", "Requests", "S3 GET requests"),
    "NatGateway-Hours": ("VPC", "Hrs", "a NAT gateway provisioned"),
    "NatGateway-Bytes": ("VPC", "GB", "data processed by a NAT gateway"),
    "GatewayEndpoint-Bytes": ("VPC", "GB", "data through an S3 gateway endpoint (free)"),
    "PublicIPv4:InUseAddress": ("VPC", "Hrs", "a public IPv4 address in use"),
    "PublicIPv4:IdleAddress": ("VPC", "Hrs", "a public IPv4 address held by nothing running"),
    "DataTransfer-Out-Bytes": ("Data Transfer", "GB", "data out to the internet"),
    "DataTransfer-In-Bytes": ("Data Transfer", "GB", "data in from the internet (free)"),
    "DataTransfer-Regional-Bytes": ("Data Transfer", "GB", "data between Availability Zones, each direction"),
}
SERVICES = ("EC2", "EBS", "VPC", "S3", "Data Transfer")

# Flat prices in US$ per unit of each usage type (requests: per request).
DEFAULT_PRICES: dict[str, float] = {
    **{f"BoxUsage:{t.name}": t.price_per_hour for t in CATALOGUE.values()},
    "EBS:VolumeUsage.gp3": 0.08,
    "EBS:VolumeUsage.gp2": 0.10,
    "EBS:VolumeUsage.st1": 0.045,
    "EBS:VolumeUsage.sc1": 0.015,
    "Requests-Tier1": 0.005 / 1000,
    "Requests-Tier2": 0.0004 / 1000,
    "NatGateway-Hours": 0.045,
    "NatGateway-Bytes": 0.045,
    "GatewayEndpoint-Bytes": 0.0,
    "PublicIPv4:InUseAddress": 0.005,
    "PublicIPv4:IdleAddress": 0.005,
    "DataTransfer-In-Bytes": 0.0,
    "DataTransfer-Regional-Bytes": 0.01,
}
TB = 1024  # GB
# Tiered prices: (the month's running total up to which the price holds, price per unit).
DEFAULT_TIERS: dict[str, tuple[tuple[float, float], ...]] = {
    "TimedStorage-ByteHrs": ((50 * TB, 0.023), (500 * TB, 0.022), (INF, 0.021)),
    "DataTransfer-Out-Bytes": (
        (100, 0.0),
        (100 + 10 * TB, 0.09),
        (100 + 50 * TB, 0.085),
        (100 + 150 * TB, 0.07),
        (INF, 0.05),
    ),
}


class PricingError(ValueError):
    """A price sheet that cannot price: one line saying what and what is allowed."""


@dataclass(frozen=True)
class PriceSheet:
    """What each usage type costs: a flat price or tiers on the month's total."""

    flat: dict[str, float]
    tiers: dict[str, tuple[tuple[float, float], ...]]
    date: str = PRICES_DATE
    region: str = REGION

    @classmethod
    def default(cls) -> "PriceSheet":
        return cls(dict(DEFAULT_PRICES), dict(DEFAULT_TIERS))

    def with_price(self, usage_type: str, price: float) -> "PriceSheet":
        """A copy with one flat price changed (PricingError if it cannot be)."""
        check_price(usage_type, price)
        if usage_type in self.tiers:
            raise PricingError(f"{usage_type} is priced in tiers; change its tiers in the world's price sheet")
        return PriceSheet({**self.flat, usage_type: float(price)}, self.tiers, self.date, self.region)

    def with_tiers(self, usage_type: str, tiers: Iterable[tuple[float, float]]) -> "PriceSheet":
        tiers = tuple((float(upto), float(price)) for upto, price in tiers)
        check_tiers(usage_type, tiers)
        flat = {k: v for k, v in self.flat.items() if k != usage_type}
        return PriceSheet(flat, {**self.tiers, usage_type: tiers}, self.date, self.region)

    def price_text(self, usage_type: str) -> str:
        """The price of one usage type in words: "$0.045 per hour", "$0.005 per 1,000
        requests", "per GB: $0 to 100, $0.09 to 10,340, ..."."""
        unit = USAGE_TYPES[usage_type][1]
        per = {"Hrs": "hour", "Requests": "request"}.get(unit, unit)
        if usage_type in self.tiers:
            parts = [
                f"${price:g} " + ("above" if upto == INF else f"to {upto:,.0f}") for upto, price in self.tiers[usage_type]
            ]
            return f"per {per} of the month: " + ", ".join(parts)
        price = self.flat[usage_type]
        if unit == "Requests":
            return f"${price * 1000:g} per 1,000 requests"
        return f"${price:g} per {per}"


def check_price(usage_type: str, price: float) -> None:
    if usage_type not in USAGE_TYPES:
        raise PricingError(f"no usage type {usage_type!r} (usage types: {', '.join(sorted(USAGE_TYPES))})")
    if isinstance(price, bool) or not isinstance(price, (int, float)) or math.isnan(price) or math.isinf(price):
        raise PricingError(f"the price of {usage_type} must be a number of US$, not {price!r}")
    if price < 0:
        raise PricingError(f"the price of {usage_type} cannot be negative ({price:g}); a price is US$ 0 or more")


def check_tiers(usage_type: str, tiers: tuple[tuple[float, float], ...]) -> None:
    if not tiers:
        raise PricingError(f"{usage_type}: give at least one tier")
    last = 0.0
    for upto, price in tiers:
        check_price(usage_type, price)
        if upto <= last:
            raise PricingError(f"{usage_type}: tier bounds must rise (a tier to {upto:g} follows one to {last:g})")
        last = upto
    if last != INF:
        raise PricingError(f"{usage_type}: the last tier must have no upper bound")


def tier_cost(tiers: tuple[tuple[float, float], ...], start: float, end: float) -> float:
    """What the quantity from ``start`` to ``end`` of the month's running total costs."""
    cost, low = 0.0, 0.0
    for upto, price in tiers:
        a, b = max(start, low), min(end, upto)
        if b > a:
            cost += (b - a) * price
        if upto >= end:
            break
        low = upto
    return cost


@dataclass(frozen=True, slots=True)
class Rated:
    """A usage record and what it costs."""

    record: "UsageRecord"
    cost: float


def rate(records: Iterable["UsageRecord"], sheet: PriceSheet) -> list[Rated]:
    """Price every record. Flat prices multiply; tiered ones fill the month's tiers in
    time order (ties by resource), so the result does not depend on the input's order."""
    out: list[Rated] = []
    tiered: dict[str, list["UsageRecord"]] = {}
    flat = sheet.flat
    for r in records:
        if r.usage_type in sheet.tiers:
            tiered.setdefault(r.usage_type, []).append(r)
            continue
        price = flat.get(r.usage_type)
        if price is None:
            raise PricingError(f"the price sheet has no price for {r.usage_type}")
        out.append(Rated(r, r.quantity * price))
    for usage_type, recs in sorted(tiered.items()):
        tiers = sheet.tiers[usage_type]
        total = 0.0
        for r in sorted(recs, key=lambda r: (r.start_ms, r.end_ms, r.resource)):
            out.append(Rated(r, tier_cost(tiers, total, total + r.quantity)))
            total += r.quantity
    return out


@dataclass
class Invoice:
    """Rated records added up. Every total is the exactly rounded sum (``math.fsum``) of
    the rated records it covers, so the groupings agree with the total."""

    rated: list[Rated]

    @property
    def total(self) -> float:
        return math.fsum(r.cost for r in self.rated)

    def by(self, key) -> dict[str, float]:
        groups: dict[str, list[float]] = {}
        for r in self.rated:
            groups.setdefault(key(r.record), []).append(r.cost)
        return {k: math.fsum(v) for k, v in sorted(groups.items(), key=lambda kv: -math.fsum(kv[1]))}

    def by_service(self) -> dict[str, float]:
        return self.by(lambda rec: rec.service)

    def by_usage_type(self) -> dict[str, float]:
        return self.by(lambda rec: rec.usage_type)

    def by_resource(self) -> dict[str, float]:
        return self.by(lambda rec: rec.resource)

    def by_tag(self, key: str) -> dict[str, float]:
        """Cost per value of one tag key; resources without it under "(untagged)"."""
        return self.by(lambda rec: dict(rec.tags).get(key, "(untagged)"))

    def by_day(self, day_ms: int = 86_400_000) -> dict[int, float]:
        """Cost per day of the month (day 1 starts at t=0)."""
        groups: dict[int, list[float]] = {}
        for r in self.rated:
            groups.setdefault(r.record.start_ms // day_ms + 1, []).append(r.cost)
        return {d: math.fsum(v) for d, v in sorted(groups.items())}

    def quantities(self) -> dict[tuple[str, str], float]:
        """Usage per (usage type, resource)."""
        out: dict[tuple[str, str], float] = {}
        for r in self.rated:
            key = (r.record.usage_type, r.record.resource)
            out[key] = out.get(key, 0.0) + r.record.quantity
        return out


def instance_seconds_billed(run_ms: int) -> int:
    """Linux on-demand per-second billing: whole seconds, at least 60 for each start."""
    return max(60, -(-run_ms // 1000))


__all__ = [
    "DEFAULT_PRICES",
    "DEFAULT_TIERS",
    "Invoice",
    "PriceSheet",
    "PricingError",
    "Rated",
    "SERVICES",
    "USAGE_TYPES",
    "instance_seconds_billed",
    "rate",
    "tier_cost",
]
