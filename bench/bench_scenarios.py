"""Failure scenarios replayed headless: how many times faster than real time.

Reports:
- the one-hour disk-storm scenario (twelve random disks of 48 failing within the hour)
  played against chapter 9's reference design: six web instances behind a load balancer
  checking every 5 s from three zones, 60 GiB stored three times over 48 disks, 120
  requests a second. Timed twice: the headless run (build the world, play the design,
  run to the end, grade) and the replay of its recording (target: under 1 s, that is
  3,600x real time or better);
- the same for every other scenario in the library, and chapter 9's four-hour run
  (verify's five seeds cost five of those).

Run: python bench/bench_scenarios.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from cloudquest.game.chapters import load_all
from cloudquest.game.replay import read, verify
from cloudquest.game.scenarios import load_library, record_run, run
from cloudquest.game.session import Session

REPEATS = 3


def timed(fn):
    times = []
    out = None
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    catalogue = load_all()
    library = load_library(catalogue=catalogue)
    chapter = catalogue.get("failure-design")
    design = list(chapter.solution)

    storm = library.get("disk-storm")
    sim_s = storm.scenario.run_s
    run_s, r = timed(lambda: run(storm, design, seed=1))
    m = r.result.metrics
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "storm.json"
        record_run(r, path)
        replay = read(path)
        replay_s, outcome = timed(lambda: verify(replay, catalogue, storm.chapter))
        assert outcome.matches, outcome.problems
        size_kib = path.stat().st_size / 1024
    print(f"disk-storm: {sim_s} simulated s, {len(r.incidents)} disks failed, {r.result.events} events")
    print(
        f"  outcome: availability {m['availability_pct']}%, {m['objects_lost']} objects lost, "
        f"{m['bytes_repaired'] / 2**30:.1f} GiB re-replicated, worst recovery {m['time_to_recover_s']} s"
    )
    print(f"  headless run  {run_s:.3f} s  = {sim_s / run_s:,.0f}x real time")
    print(f"  replay        {replay_s:.3f} s  = {sim_s / replay_s:,.0f}x real time  (target < 1 s: "
          f"{'met' if replay_s < 1 else 'MISSED'}); replay file {size_kib:.0f} KiB, hash matches")

    print("other scenarios (headless run, reference design, seed 1):")
    for s in library.scenarios:
        if s.name == "disk-storm":
            continue
        secs, other = timed(lambda s=s: run(s, design, seed=1))
        print(f"  {s.name:<16} {s.scenario.run_s:>6} s simulated in {secs:.3f} s = {s.scenario.run_s / secs:,.0f}x; "
              f"{'survived' if other.result.passed else 'failed'}")

    main_run = [line for line in design if line != "verify"]

    def chapter_run():
        session = Session(chapter, 1)
        session.run_script(main_run)
        return session.finish()

    secs, result = timed(chapter_run)
    print(f"chapter 9 reference run: {result.end_ms / 1000:g} s simulated in {secs:.3f} s = {result.end_ms / 1000 / secs:,.0f}x "
          f"(verify plays it five more times: about {5 * secs:.1f} s)")
    print(json.dumps({"disk_storm_run_s": round(run_s, 4), "disk_storm_replay_s": round(replay_s, 4)}))


if __name__ == "__main__":
    main()
