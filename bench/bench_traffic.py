"""Benchmark: the traffic mechanisms at the sizes issue 10 names.

Targets:
- a Maglev lookup table for M = 65,537 and 1,000 backends built in under 0.5 s
  (offsets and skips from the names' hashes, then the paper's populate);
- 1,000,000 flow lookups in under 1 s (a 5-tuple hashed, its table entry read);
- the ECMP paths of 10,000 flows across a fabric of 1,000 hosts in under 1 s (from cold
  routing tables: the shortest-path distances are computed as the flows need them);
- a simulated hour of one edge location with 100,000 objects and 1,000 requests per
  simulated second in under 5 s (Zipf 0.8, a PoP cache that holds about 80% of the
  catalogue in front of a regional cache, one-day TTLs, 5 s steps as in chapter 13).

Each line prints wall-clock and CPU seconds (the CPU figure is what to compare on a
shared machine) and a digest of what was computed, so runs can be checked for
determinism.

    python bench/bench_traffic.py [--only maglev|lookups|ecmp|edge]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time

from cloudquest.cloud import maglev
from cloudquest.cloud.fabric import Fabric
from cloudquest.cloud.edge import EdgeNetwork
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def report(name: str, wall: float, cpu: float, target: float, digest: str) -> None:
    verdict = "ok" if cpu < target else "SLOW"
    print(f"{name:<44} wall {wall:6.3f} s  cpu {cpu:6.3f} s  (target < {target:g} s: {verdict})  {digest}")


def bench_maglev() -> maglev.Table:
    names = [f"backend-{i:04d}" for i in range(1000)]

    def build() -> maglev.Table:
        return maglev.Table.build([(n, *maglev.offset_skip(n, 65_537)) for n in names], 65_537)

    table, wall, cpu = timed(build)
    counts = table.counts().values()
    report("maglev table, M=65,537, 1,000 backends", wall, cpu, 0.5, f"entries {min(counts)}-{max(counts)} each")
    return table


def bench_lookups(table: maglev.Table) -> None:
    rng = random.Random(1)
    flows = [(0x64400000 + rng.getrandbits(22), rng.randrange(1024, 65536), 0x0A00000A, 443, 6) for _ in range(1_000_000)]
    flow_hash, backend = maglev.flow_hash, table.backend

    def look() -> list[str]:
        return [backend(flow_hash(*f)) for f in flows]

    got, wall, cpu = timed(look)
    digest = hashlib.sha256("".join(got[::997]).encode()).hexdigest()[:12]
    report("1,000,000 flow lookups", wall, cpu, 1.0, f"digest {digest}")


def bench_ecmp() -> None:
    racks_per_zone = (9, 8, 8)  # 25 racks of 40 hosts
    zones = [
        {"name": f"z{z}", "racks": [{"name": f"z{z}r{r}", "hosts": [{"count": 40, "vcpus": 8, "ram_gib": 32}]} for r in range(n)]}
        for z, n in enumerate(racks_per_zone)
    ]
    world = {"view": "fabric", "regions": [{"name": "r1", "zones": zones}], "fabric": {"spines_per_zone": 8}}
    session = Session(free_play_chapter(World.model_validate(world)), 0, sandbox=True)
    fabric = session.cloud.get(Fabric)
    hosts = list(session.cloud.hardware.hosts)
    assert len(hosts) == 1000, len(hosts)
    rng = random.Random(2)
    pairs = []
    for _ in range(10_000):
        a, b = rng.sample(hosts, 2)
        pairs.append((a, b, fabric.hash_key((fabric.addr[a], rng.randrange(1024, 65536), fabric.addr[b], 443, 6))))

    def route() -> list:
        return [fabric.route(a, b, key)[0] for a, b, key in pairs]

    paths, wall, cpu = timed(route)
    hops = sum(len(p) - 1 for p in paths)
    report("ECMP paths, 10,000 flows, 1,000 hosts", wall, cpu, 1.0, f"{hops} hops, {len(fabric.switches)} switches")


def bench_edge() -> None:
    world = {
        "view": "edge",
        "tick_ms": 5000,
        "edge": {
            "origin": {"city": "Ashburn", "lat": 39.04, "lon": -77.49},
            "regional_caches": [{"name": "rec-fra", "city": "Frankfurt", "lat": 50.11, "lon": 8.68, "cache_gib": 100}],
            "pops": [{"name": "fra", "city": "Frankfurt", "lat": 50.11, "lon": 8.68, "regional": "rec-fra", "cache_gib": 8}],
            "users": [{"city": "Berlin", "area": "europe", "lat": 52.52, "lon": 13.40, "rps": 1000}],
            "content": [{"name": "objects", "path": "/o/*", "objects": 100_000, "size_kib": 100, "share_pct": 100, "zipf": 0.8, "max_age_s": 86_400}],
        },
    }
    session = Session(free_play_chapter(World.model_validate(world)), 0, sandbox=True)
    edge = session.cloud.get(EdgeNetwork)
    _, wall, cpu = timed(lambda: session.execute("tick 3600"))
    m = edge.metrics()
    report(
        "an hour of one edge, 100,000 objects, 1,000 rps",
        wall,
        cpu,
        5.0,
        f"{m['edge_requests']} requests, hit {m['edge_hit_ratio']}%, origin {m['edge_origin_requests']}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("maglev", "lookups", "ecmp", "edge"))
    args = parser.parse_args()
    table = None
    if args.only in (None, "maglev", "lookups"):
        table = bench_maglev()
    if args.only in (None, "lookups"):
        bench_lookups(table)
    if args.only in (None, "ecmp"):
        bench_ecmp()
    if args.only in (None, "edge"):
        bench_edge()


if __name__ == "__main__":
    main()
