"""Benchmark: the scheduler placing requests into big fleets.

Targets (issue 4):
- 100,000 placements into a 10,000-host fleet in under 10 s on one core;
- the cost of one placement at 10,000 hosts under 3x its cost at 1,000 hosts.

Both fleets are filled to the same level (10 requests per host, about half the vCPUs),
so the comparison is per placement at equal load. The fleet: 4 zones, racks of 40 hosts
in three sizes (32/128, 48/192, 64/256 vCPU/GiB); the requests: the catalogue's t3 sizes
in a fixed mix drawn from a seeded generator. Each run prints the placements per second
and a digest of where everything went, so runs can be compared for determinism.

    /work/venv/bin/python bench/bench_scheduler.py [--policy spread|pack|balanced] [--sampling]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time

from cloudquest.cloud.catalogue import CATALOGUE
from cloudquest.cloud.hardware import build_hardware
from cloudquest.cloud.scheduler import Request, Scheduler, SchedulerConfig, place_all

SIZES = ((32, 128), (48, 192), (64, 256))
MIX = (("nano", 10), ("micro", 10), ("small", 30), ("medium", 20), ("large", 20), ("xlarge", 10))
ZONES = 4
RACK_HOSTS = 40


def fleet(hosts: int) -> dict:
    racks = hosts // RACK_HOSTS
    zones = []
    for z in range(ZONES):
        zone_racks = []
        for r in range(z, racks, ZONES):
            vcpus, ram = SIZES[r % len(SIZES)]
            zone_racks.append({"name": f"z{z}-r{r}", "hosts": [{"count": RACK_HOSTS, "vcpus": vcpus, "ram_gib": ram}]})
        zones.append({"name": f"z{z}", "racks": zone_racks})
    return {"regions": [{"name": "r1", "zones": zones}]}


def requests(count: int, seed: int = 1) -> list[Request]:
    rng = random.Random(seed)
    names = [n for n, w in MIX for _ in range(w)]
    out = []
    for i in range(count):
        t = CATALOGUE[rng.choice(names)]
        out.append(Request(f"r{i}", t.vcpus, t.ram_mib, 0))
    return out


def run(hosts: int, count: int, policy: str, sampling: bool) -> tuple[float, int, int, str]:
    hw = build_hardware(fleet(hosts))
    sched = Scheduler(hw, SchedulerConfig(policy=policy, sampling=sampling))
    reqs = requests(count)
    t0 = time.perf_counter()
    placed, rejected = place_all(sched, reqs)
    elapsed = time.perf_counter() - t0
    digest = hashlib.sha256(
        ";".join(f"{h.id}:{h.used_vcpus}:{h.used_ram_mib}" for h in hw.hosts.values()).encode()
    ).hexdigest()[:12]
    return elapsed, placed, rejected, digest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--policy", default="spread", choices=("spread", "pack", "balanced"))
    parser.add_argument("--sampling", action="store_true", help="kube-scheduler sampling instead of the index")
    parser.add_argument("--count", type=int, default=100_000, help="placements into the big fleet")
    args = parser.parse_args()
    mode = "sampling" if args.sampling else "capacity index"
    print(f"policy {args.policy}, {mode}")

    big_hosts, big_n = 10_000, args.count
    small_hosts, small_n = 1_000, args.count // 10
    t_big, placed, rejected, digest = run(big_hosts, big_n, args.policy, args.sampling)
    print(
        f"{big_n:>7,} requests into {big_hosts:,} hosts: {t_big:6.2f} s "
        f"({big_n / t_big:,.0f}/s), placed {placed:,}, rejected {rejected:,}, digest {digest}  [target < 10 s]"
    )
    t_small, placed_s, rejected_s, digest_s = run(small_hosts, small_n, args.policy, args.sampling)
    print(
        f"{small_n:>7,} requests into {small_hosts:,} hosts: {t_small:6.2f} s "
        f"({small_n / t_small:,.0f}/s), placed {placed_s:,}, rejected {rejected_s:,}, digest {digest_s}"
    )
    per_big = t_big / big_n * 1e6
    per_small = t_small / small_n * 1e6
    print(
        f"per placement: {per_small:.1f} us at {small_hosts:,} hosts, {per_big:.1f} us at {big_hosts:,} hosts: "
        f"x{per_big / per_small:.2f}  [target < 3x]"
    )


if __name__ == "__main__":
    main()
