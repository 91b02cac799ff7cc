"""Launch throughput through the whole control plane, and replay speed.

Reports:
- launches per second into a 1,000-host and a 10,000-host fleet (RunInstances through
  scheduling, claims, the six timed steps and boot), and the ratio of per-launch cost
  between the two (target: grows less than 3x for a 10x larger fleet);
- the time to replay a 1,000-command script (target: under 1 s).

Run: python bench/bench_launch.py
"""

from __future__ import annotations

import statistics
import time

from cloudquest.game.session import new_cloud
from cloudquest.game.replay import ReplayFile, rerun
from cloudquest.game.session import Session, free_play_chapter

HOSTS_PER_RACK = 20
ZONES = ("z1", "z2", "z3")


def fleet(n_hosts: int) -> dict:
    racks_total = n_hosts // HOSTS_PER_RACK
    zones = []
    for zi, z in enumerate(ZONES):
        racks = [
            {"name": f"{z}-r{r}", "hosts": [{"count": HOSTS_PER_RACK, "vcpus": 64, "ram_gib": 256, "disks": [{"size_gib": 4000}]}]}
            for r in range(racks_total // len(ZONES) + (1 if zi < racks_total % len(ZONES) else 0))
        ]
        zones.append({"name": z, "racks": racks})
    subnets = [{"zone": z, "cidr": f"10.0.{64 * i}.0/18"} for i, z in enumerate(ZONES)]  # 16,379 usable each
    return {"regions": [{"name": "r", "zones": zones}], "network": {"vpc": "10.0.0.0/16", "subnets": subnets}}


def launches_per_second(n_hosts: int, n_launches: int, repeats: int = 3) -> tuple[float, int]:
    world = fleet(n_hosts)
    rates = []
    for seed in range(repeats):
        cloud = new_cloud(world, seed)
        hosts = len(cloud.hardware.hosts)
        t0 = time.perf_counter()
        for _ in range(n_launches):
            cloud.control.launch(None, "small")
        cloud.advance(20_000)  # every pipeline runs to boot
        elapsed = time.perf_counter() - t0
        running = cloud.metrics()["instances_running"]
        assert running == n_launches, running
        rates.append(n_launches / elapsed)
    return statistics.median(rates), hosts


def replay_seconds(n_commands: int = 1000) -> float:
    world = fleet(200)
    from cloudquest.game.schema import Objective, World

    # Objectives are graded as in a real chapter, one of them at every tick.
    objectives = [
        Objective.model_validate(o)
        for o in (
            {"id": "a", "text": "a", "skills": ["resource scheduling"], "when": "always",
             "check": {"metric": "instances_impaired", "op": "==", "value": 0}},
            {"id": "b", "text": "b", "skills": ["resource scheduling"], "when": "eventually",
             "check": {"event": "launch.failed"}},
            {"id": "c", "text": "c", "skills": ["resource scheduling"],
             "check": {"metric": "instances_running", "op": ">=", "value": 100}},
        )
    ]
    chapter = free_play_chapter(World.model_validate(world), "bench")
    chapter.objectives = objectives
    lines = []
    for i in range(n_commands):
        kind = i % 10
        if kind < 5:
            lines.append(f"launch --name w{i} --type {('nano', 'small', 'medium', 'large')[i % 4]}")
        elif kind < 7:
            lines.append("tick 2")
        elif kind == 7:
            lines.append(f"terminate w{i - 7}")
        elif kind == 8:
            lines.append(f"describe w{i - 3}")
        else:
            lines.append("status")
    live = Session(chapter, 1, sandbox=True)
    live.run_script(lines)
    record = ReplayFile.from_dict(live.replay_record(), "bench")
    t0 = time.perf_counter()
    again = rerun(chapter, record, sandbox=True)
    elapsed = time.perf_counter() - t0
    assert again.cloud.log.sha256() == live.cloud.log.sha256()
    return elapsed


def main() -> None:
    n = 5000
    small_rate, small_hosts = launches_per_second(1_000, n)
    big_rate, big_hosts = launches_per_second(10_000, n)
    ratio = small_rate / big_rate
    print(f"launches/s into {small_hosts:>6} hosts: {small_rate:10.0f}  ({1e6 / small_rate:6.1f} us per launch)")
    print(f"launches/s into {big_hosts:>6} hosts: {big_rate:10.0f}  ({1e6 / big_rate:6.1f} us per launch)")
    print(f"per-launch cost ratio 10k/1k hosts: {ratio:.2f}x  (target < 3x)  {'OK' if ratio < 3 else 'MISSED'}")
    t = replay_seconds()
    print(f"replay of a 1,000-command script: {t:.3f} s  (target < 1 s)  {'OK' if t < 1 else 'MISSED'}")


if __name__ == "__main__":
    main()
