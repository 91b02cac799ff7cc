"""Mutation testing of the modules where a silent bug would teach a wrong lesson or lose a
player's work (issue 17), with mutmut (configured in pyproject.toml, [tool.mutmut]).

    pip install -e ".[mutation]"
    python tools/mutation.py                   # every area: mutate, test each mutant, report
    python tools/mutation.py --area IPAM       # one area only (repeat --area for more)
    python tools/mutation.py --children 2      # mutmut's child processes (default 1)
    python tools/mutation.py --report          # the report of the last run only

Not part of the quick suite: a full run takes one to two hours with one child process. Each area
below is a set of mutmut mutant names (fnmatch patterns): in the two big modules only the
functions the area names are mutated results counted (the scheduler's scores, not its
index; replication's placement, not its durability model). The report counts, per area,
mutants killed, survived (a test should fail and none did), and those with no test
reaching them; the kill rate is killed / all tried. Mutants judged equivalent are listed
with their reason in docs/testing.md.
"""

from __future__ import annotations

import argparse
import fnmatch
import subprocess
import sys
from collections import Counter

AREAS: dict[str, list[str]] = {
    "event log": ["cloudquest.cloud.events.*"],
    "clock": ["cloudquest.cloud.clock.*"],
    "grader": ["cloudquest.game.objectives.*"],
    "progress": ["cloudquest.game.progress.*"],
    "IPAM": ["cloudquest.cloud.ipam.*"],
    "replication placement": [
        "cloudquest.cloud.replication.x_max_nodes_per_rack__*",
        "cloudquest.cloud.replication.xǁPlacementǁ*",
    ],
    "credit scheduler": ["cloudquest.cloud.credit_scheduler.*"],
    "scheduler scores": [
        f"cloudquest.cloud.scheduler.x_{name}__*"
        for name in (
            "cpu_capacity",
            "ram_capacity",
            "least_requested_score",
            "most_requested_score",
            "balanced_score",
            "resource_scores",
            "score_host",
            "feasible_to_find",
        )
    ],
    "replay check": ["cloudquest.game.replay.*"],
}


def area_of(name: str) -> str | None:
    for area, patterns in AREAS.items():
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return area
    return None


def report() -> int:
    out = subprocess.run(["mutmut", "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    counts: dict[str, Counter] = {area: Counter() for area in AREAS}
    survivors: list[str] = []
    for line in out.splitlines():
        name, _, status = line.strip().partition(": ")
        area = area_of(name)
        if area is None:
            continue
        counts[area][status] += 1
        if status in ("survived", "no tests"):
            survivors.append(f"{status:9} {name}")
    print(f"{'area':24} {'tried':>6} {'killed':>7} {'survived':>9} {'no test':>8} {'timeout':>8} {'kill rate':>10}")
    for area, c in counts.items():
        tried = sum(c[s] for s in ("killed", "survived", "no tests", "timeout", "suspicious"))
        killed = c["killed"] + c["timeout"]  # a mutant that hangs the tests is caught too
        rate = f"{100 * killed / tried:.1f} %" if tried else "-"
        print(f"{area:24} {tried:6} {c['killed']:7} {c['survived']:9} {c['no tests']:8} {c['timeout']:8} {rate:>10}")
        if c["not checked"]:
            print(f"{'':24} ({c['not checked']} not checked yet)")
    if survivors:
        print("\nsurvivors (mutmut show NAME for the change):")
        print("\n".join(survivors))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Mutation testing of CloudQuest's key areas (mutmut).")
    parser.add_argument("--report", action="store_true", help="only print the report of the last run")
    parser.add_argument("--area", action="append", choices=list(AREAS), help="run only this area (repeatable)")
    parser.add_argument("--children", type=int, default=1, help="mutmut's --max-children (default 1)")
    args = parser.parse_args(argv)
    if not args.report:
        areas = args.area or list(AREAS)
        patterns = [p for area in areas for p in AREAS[area]]
        subprocess.run(["mutmut", "run", "--max-children", str(args.children), *patterns], check=False)
    return report()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
