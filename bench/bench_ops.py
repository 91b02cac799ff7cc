"""Benchmark: the operations mechanisms at the sizes issue 12 names.

Targets:
- metering and rating one simulated month of a 1,000-instance account in under 2 s:
  the month's event log (800 instances running all month, 200 batch instances stopped
  every night and started every morning, a flow per instance logged daily, 100 volumes,
  20 growing buckets with lifecycle rules, 4 NAT gateways, 20 Elastic IPs; 100 instances in public subnets, the public IPv4 pool being a /24) folded by a
  fresh meter into usage records, rated with the default price sheet, and the invoice
  totalled by service, by tag and by day. Building that log (simulating the month) is
  timed on its own line;
- a simulated day of a 200-instance auto scaling group at 1 s ticks in under 2 s: a
  diurnal load from 20,000 to 60,000 requests a second, target tracking at 50 % CPU, a
  120 s warm-up, a minute of start-up per instance; once as the group alone (EC2 health
  checks), once registered with a target group whose two load balancer nodes check every
  target every 30 s (chapter 9's health checks: about 1.15 million checks a day, each an
  event on the clock, which is most of that run's time).

Each line prints wall-clock and CPU seconds (the CPU figure is what to compare on a
shared machine) and a digest of what was computed, so runs can be checked for
determinism.

    python bench/bench_ops.py [--only month|day]

Figures on the development machine (2 shared cores, Python 3.11), CPU seconds:

    simulate a month of a 1,000-instance account          4.0 s  (120,769 events)
    meter and rate that month                              0.72 s (56,250 usage records)
    a day of a 200-instance group, 1 s ticks               0.68 s
    ... registered with a target group (chapter 9's checks) 4.8 s (1.15 M health checks)

The last figure is over the 2 s target, and the reason is the health checks, not the
group: chapter 9's load balancer schedules every check of every target by every node on
the clock, one event each. The group's own work, a day of 86,400 steps with its minute
of metrics and policies, is the 0.68 s above.
"""

from __future__ import annotations

import argparse
import time

from cloudquest.cloud.autoscaling import AutoScalingGroup
from cloudquest.cloud.billing import Billing
from cloudquest.cloud.metering import DAY_MS, HOUR_MS, Meter
from cloudquest.cloud.pricing import Invoice, rate
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter

INSTANCES = 1000
BATCH = 200


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def report(name: str, wall: float, cpu: float, target: float | None, digest: str) -> None:
    verdict = "" if target is None else f"(target < {target:g} s: {'ok' if cpu < target else 'SLOW'})"
    print(f"{name:<52} wall {wall:6.3f} s  cpu {cpu:6.3f} s  {verdict}  {digest}")


def account_world() -> dict:
    zones = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"]
    types = ["small", "medium", "large", "micro"]
    instances = [
        {"name": f"i-{n:04d}", "type": types[n % 4], "zone": zones[n % 4], "subnet": f"pub-{n % 4}" if n % 10 == 0 else f"priv-{n % 4}"}
        for n in range(INSTANCES)
    ]
    teams = ["shop", "search", "data", "platform", "ads"]
    tags = {i["name"]: {"team": teams[n % 5], "env": "prod" if n % 3 else "dev"} for n, i in enumerate(instances)}
    flows = []
    for n, inst in enumerate(instances):
        if n % 3 == 0:
            flows.append({"name": f"f-{n:04d}", "src": inst["name"], "dst": "internet", "gb_per_day": 2})
        elif n % 3 == 1:
            flows.append({"name": f"f-{n:04d}", "src": inst["name"], "dst": f"bucket:data-{n % 20:02d}", "gb_per_day": 5, "gets_per_day": 50_000})
        else:
            flows.append({"name": f"f-{n:04d}", "src": inst["name"], "dst": instances[(n + 1) % INSTANCES]["name"], "gb_per_day": 1})
    flows += [
        {"name": f"logs-{b:02d}", "src": f"i-{b:04d}", "dst": f"bucket:logs-{b:02d}", "gb_per_day": 10, "puts_per_day": 20_000}
        for b in range(20)
    ]
    subnets = []
    for k, z in enumerate(zones):
        subnets.append({"name": f"pub-{k}", "zone": z, "cidr": f"10.0.{k * 16}.0/20", "public": True, "route_table": "public-rt"})
        subnets.append({"name": f"priv-{k}", "zone": z, "cidr": f"10.0.{64 + k * 16}.0/20", "route_table": f"private-rt-{k}"})
    return {
        "view": "billing",
        "tick_ms": 60_000,
        "regions": [
            {
                "name": "us-east-1",
                "zones": [{"name": z, "racks": [{"name": f"r{k}", "hosts": [{"count": 12, "vcpus": 64, "ram_gib": 512, "disks": [{"size_gib": 4000}]}]}]} for k, z in enumerate(zones)],
            }
        ],
        "network": {
            "vpcs": [
                {
                    "name": "main",
                    "cidr": "10.0.0.0/16",
                    "igw": "igw-main",
                    "route_tables": [{"name": "public-rt", "routes": [{"dest": "0.0.0.0/0", "target": "igw-main"}]}]
                    + [{"name": f"private-rt-{k}", "routes": [{"dest": "0.0.0.0/0", "target": f"nat-{k}"}]} for k in range(4)],
                    "subnets": subnets,
                    "nat_gateways": [{"name": f"nat-{k}", "subnet": f"pub-{k}"} for k in range(4)],
                }
            ],
            "eips": [{"name": f"eip-{k:02d}"} for k in range(20)],
        },
        "instances": instances,
        "billing": {
            "interval_s": 86_400,
            "tags": tags,
            "volumes": [{"name": f"vol-{k:03d}", "gib": 100 + k, "zone": zones[k % 4], **({"attached_to": f"i-{k:04d}"} if k % 4 else {})} for k in range(100)],
            "buckets": [{"name": f"data-{b:02d}", "stored_gb": 5_000, "age_days": 200} for b in range(20)]
            + [{"name": f"logs-{b:02d}", "stored_gb": 3_000, "age_days": 300, "expire_days": 90} for b in range(20)],
            "flows": flows,
        },
    }


def simulate_month() -> Session:
    """The month's events: the account runs, and the batch instances stop every night at
    20:00 and start every morning at 06:00 (driven through the control plane's API, as
    a scheduler would, between steps)."""
    session = Session(free_play_chapter(World.model_validate(account_world()), "bench"), 0, sandbox=True)
    cloud = session.cloud
    batch = [f"i-{n:04d}" for n in range(INSTANCES - BATCH, INSTANCES)]
    for day in range(30):
        cloud.advance(day * DAY_MS + 6 * HOUR_MS - cloud.now_ms)
        if day:
            for name in batch:
                cloud.control.start(name)
        cloud.advance(day * DAY_MS + 20 * HOUR_MS - cloud.now_ms)
        for name in batch:
            cloud.control.stop(name)
    cloud.advance(30 * DAY_MS - cloud.now_ms)
    return session


def bench_month() -> None:
    session, wall, cpu = timed(simulate_month)
    log = session.cloud.log
    report("simulate a month of a 1,000-instance account", wall, cpu, None, f"{len(log):,} events, log {log.sha256()[:12]}")
    billing = session.cloud.get(Billing)

    def meter_and_rate():
        meter = Meter(hours_in_month=720)
        meter.feed(log)
        records = meter.records(0, 30 * DAY_MS)
        invoice = Invoice(rate(records, billing.sheet))
        return records, invoice, invoice.total, invoice.by_service(), invoice.by_tag("team"), invoice.by_day()

    (records, invoice, total, services, teams, days), wall, cpu = timed(meter_and_rate)
    digest = f"{len(records):,} usage records, ${total:,.2f}; EC2 ${services['EC2']:,.2f}; {len(teams)} teams; {len(days)} days"
    report("meter and rate that month (one pass over the log)", wall, cpu, 2.0, digest)


def group_world(target_group: bool) -> dict:
    world = {
        "view": "asg",
        "regions": [
            {
                "name": "r",
                "zones": [
                    {"name": "z1", "racks": [{"name": "a1", "hosts": [{"count": 10, "vcpus": 64, "ram_gib": 256}]}]},
                    {"name": "z2", "racks": [{"name": "b1", "hosts": [{"count": 10, "vcpus": 64, "ram_gib": 256}]}]},
                ],
            }
        ],
        "autoscaling": {
            "rps_per_vcpu": 150,
            "init_s": 60,
            "demand": {"base_rps": 20_000, "diurnal": {"peak_rps": 60_000, "peak_at_s": 50_400}, "noise_pct": 3},
            "group": {
                "name": "web",
                "min": 100,
                "max": 250,
                "desired": 200,
                "warmup_s": 120,
                "policies": [{"name": "track", "kind": "target-tracking", "target": 50}],
            },
        },
    }
    if target_group:
        world["loadbalancer"] = {"balancers": [{"name": "front"}]}
        world["autoscaling"]["group"]["target_group"] = "front"
    return world


def bench_day() -> None:
    for target_group, target, label in (
        (False, 2.0, "a day of a 200-instance group, 1 s ticks"),
        (True, None, "... registered with a target group (chapter 9's checks)"),
    ):
        session = Session(free_play_chapter(World.model_validate(group_world(target_group)), "bench"), 0, sandbox=True)

        def day():
            session.cloud.advance(86_400_000)
            return session.cloud.get(AutoScalingGroup)

        group, wall, cpu = timed(day)
        m = group.metrics()
        digest = (
            f"{len(group.minutes)} minutes, desired {min(x.desired for x in group.minutes)}-{max(x.desired for x in group.minutes)}, "
            f"worst p95 {m['asg_worst_p95_ms']:g} ms, {m['asg_instance_hours']:,.0f} instance-h, log {session.cloud.log.sha256()[:12]}"
        )
        report(label, wall, cpu, target, digest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("month", "day"))
    args = parser.parse_args()
    if args.only in (None, "month"):
        bench_month()
    if args.only in (None, "day"):
        bench_day()


if __name__ == "__main__":
    main()
