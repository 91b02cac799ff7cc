"""The network's two hot paths.

Reports:
- tracing one packet (and its reply) through 200 firewall rules: 50 in the sender's
  security group, 50 in each of the two subnets' network ACLs, 50 in the receiver's
  group, each list matching only at its last rule (target: under 1 ms per trace), both
  as a probe (no trace kept) and as a player's trace (flow logs, event);
- address assignment for 10,000 launches into one /16 subnet: the network's part of
  RunInstances for each (the interface created with the lowest free private address,
  registered with the mapping service, then attached and given its security group), and
  how the per-launch cost grows from 1,000 to 10,000 launches (target: under 1 s for
  10,000, and less than 2x growth).

Run: python bench/bench_network.py
"""

from __future__ import annotations

import statistics
import time

from cloudquest.cloud.catalogue import CATALOGUE
from cloudquest.cloud.control_plane import Instance
from cloudquest.cloud.network import Network
from cloudquest.game.session import new_cloud

RULES_EACH = 50


def _world_200_rules() -> dict:
    def sg(name: str, direction: str, match: str) -> dict:
        misses = [{"dir": direction, "proto": "tcp", "ports": str(1000 + i), "peer": "192.168.0.0/16"} for i in range(RULES_EACH - 1)]
        return {"name": name, "default_egress": False, "rules": [*misses, {"dir": direction, "proto": "tcp", "ports": "443", "peer": match}]}

    def acl(name: str) -> dict:
        rules = []
        for direction in ("in", "out"):
            rules += [
                {"number": 10 + i, "dir": direction, "action": "deny", "proto": "tcp", "ports": str(2000 + i), "cidr": "192.168.0.0/16"}
                for i in range(RULES_EACH - 1)
            ]
            rules.append({"number": 1000, "dir": direction, "action": "allow", "proto": "all", "cidr": "10.0.0.0/16"})
        return {"name": name, "rules": rules}

    return {
        "regions": [
            {"name": "r", "zones": [
                {"name": z, "racks": [{"name": f"{z}-k", "hosts": [{"count": 2, "vcpus": 64, "ram_gib": 256}]}]} for z in ("za", "zb")
            ]}
        ],
        "network": {"vpcs": [{
            "name": "v", "cidr": "10.0.0.0/16",
            "security_groups": [sg("out-sg", "out", "10.0.2.0/24"), sg("in-sg", "in", "10.0.1.0/24")],
            "nacls": [acl("acl-a"), acl("acl-b")],
            "subnets": [
                {"name": "a", "zone": "za", "cidr": "10.0.1.0/24", "nacl": "acl-a"},
                {"name": "b", "zone": "zb", "cidr": "10.0.2.0/24", "nacl": "acl-b"},
            ],
        }]},
    }


def trace_us(commit: bool, n: int = 2000) -> float:
    cloud = new_cloud(_world_200_rules())
    cloud.control.launch("src", "small", subnet="a", security_groups=["out-sg"], instant=True)
    cloud.control.launch("dst", "small", subnet="b", security_groups=["in-sg"], instant=True)
    net = cloud.get(Network)
    t = net.trace("src", "dst", "tcp", 443, commit=commit)
    assert t.verdict == "reachable", t.headline()
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            net.trace("src", "dst", "tcp", 443, commit=commit)
        runs.append((time.perf_counter() - t0) / n)
    return statistics.median(runs) * 1e6


def assignment_seconds(n: int) -> float:
    world = {
        "regions": [{"name": "r", "zones": [{"name": "za", "racks": [{"name": "k", "hosts": [{"count": 1, "vcpus": 64, "ram_gib": 256}]}]}]}],
        "network": {"vpcs": [{"name": "v", "cidr": "10.0.0.0/16", "subnets": [{"name": "big", "zone": "za", "cidr": "10.0.0.0/16"}]}]},
    }
    runs = []
    for _ in range(3):
        cloud = new_cloud(world)
        net = cloud.get(Network)
        instances = [Instance(f"i{k}", f"i-{k:08x}", CATALOGUE["nano"], "za", subnet="big") for k in range(n)]
        t0 = time.perf_counter()
        for inst in instances:
            net.launch_zones("za", ["za"], subnet="big", name=inst.name)
            net.reserve(inst)
            net.assign_nic(inst)
            net.configure_firewall(inst)
        runs.append(time.perf_counter() - t0)
        assert net.subnets["big"].free == 65536 - 5 - n
        assert len({i.private_ip for i in instances}) == n
    return statistics.median(runs)


def main() -> None:
    probe, kept = trace_us(commit=False), trace_us(commit=True)
    print(f"trace through {4 * RULES_EACH} rules, there and back: {probe:7.1f} us as a probe, {kept:7.1f} us as a player's trace  "
          f"(target < 1000 us)  {'OK' if max(probe, kept) < 1000 else 'MISSED'}")
    small, big = assignment_seconds(1_000), assignment_seconds(10_000)
    ratio = (big / 10_000) / (small / 1_000)
    print(f"address assignment, 1,000 launches into a /16:  {small:.3f} s  ({1e6 * small / 1_000:5.1f} us per launch)")
    print(f"address assignment, 10,000 launches into a /16: {big:.3f} s  ({1e6 * big / 10_000:5.1f} us per launch)  "
          f"(target < 1 s)  {'OK' if big < 1 else 'MISSED'}")
    print(f"per-launch cost ratio 10,000/1,000: {ratio:.2f}x  (target < 2x)  {'OK' if ratio < 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
