"""Benchmark: chapter 16's day, the global scale capstone.

Targets: one seed's day (the reference design applied at t=0, then 86,400 simulated
seconds at 10 s steps: three regions' groups, DNS and health checks, the database and its
replicas, the outage at 14:00) in under 3 s; ``design verify`` (the design rebuilt on a
fresh world, then the day under seeds 1..5) in under 15 s.

Each line prints wall-clock and CPU seconds (compare the CPU figure on a shared machine)
and the event-log digest, so runs can be checked for determinism.

    python bench/bench_global.py

Figures on the development machine (2 shared cores, Python 3.11), CPU seconds:

    a day of the reference design, seed 0        0.28 s (8,640 steps, 706 events)
    design verify: rebuild + 5 seeds             1.4 s
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(label: str, fn) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    detail = fn()
    print(f"{label:<46} {time.perf_counter() - wall:6.2f} s wall {time.process_time() - cpu:6.2f} s CPU  {detail}")


def main() -> None:
    os.environ["CLOUDQUEST_HOME"] = tempfile.mkdtemp(prefix="cq-bench-")
    from cloudquest.game.chapters import load_chapter
    from cloudquest.game.session import Session

    chapter = load_chapter(ROOT / "levels" / "16-global.yaml")
    s = Session(chapter, 0)
    for line in ("design new global.cq --from example", "design apply global.cq"):
        assert s.execute(line).ok

    def day() -> str:
        s.execute("tick 86400")
        return f"{len(s.cloud.log)} events, sha256 {s.cloud.log.sha256()[:12]}"

    timed("a day of the reference design, seed 0", day)
    v = Session(chapter, 0)
    for line in ("design new global.cq --from example", "design apply global.cq"):
        v.execute(line)

    def verify() -> str:
        out = v.execute("design verify")
        return out.output.splitlines()[1]

    timed("design verify: rebuild + 5 seeds", verify)


if __name__ == "__main__":
    main()
