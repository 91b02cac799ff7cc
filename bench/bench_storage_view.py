"""Benchmark: the storage view's cost per live tick while a failure is being repaired.

``bench_tui.py`` times one live tick of every chapter as the chapter starts, when the
storage chapters hold nothing. This times the storage view where it works hardest: the
cluster full (chapter 4: the reference dataset, 600 GiB in 64 MiB chunks, 28,800 pieces;
chapter 5: 120 GiB as RS-6-3, 17,280 fragments), a failure under way (a disk, then a
host past its heartbeat timeout) so every step re-copies chunks, logs repairs and moves
both sparklines; the object in focus located.

Per tick, as ``bench_tui.py`` measures it: the CPU time from one step of the live clock
(``Session.advance``; the view, objectives and events redrawn) to the frame that shows
it, headless at 120x40 and 80x24; and the view's ``draw`` alone. Target: under 16 ms.

    /work/venv/bin/python bench/bench_storage_view.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tui import PaintClock, measured_step, ms, open_chapter, p95  # noqa: E402

SETUPS = {
    "storage": (
        ["set chunk 64MiB", *[f"put clicks-{i:02d} 75GiB" for i in range(1, 9)], "balance", "locate clicks-03 --chunk 7"],
        ["fail disk a1-h2-d1"],
    ),
    "replication": (
        ["set erasure 6 3", "set placement zone-aware", *[f"put events-{i} 30GiB" for i in range(1, 5)], "locate events-1 --chunk 2"],
        ["tick 1540"],  # the disk at 60 s repaired; b1-h2 (failed at 900 s) declared dead at 1530 s: its re-copy runs
    ),
}


async def tick_cost(chapter_id: str, size: tuple[int, int], ticks: int) -> tuple[list[float], list[float], list[float], str]:
    """(CPU cost, latency) from one live step to the frame showing it, and draw alone."""
    from cloudquest.tui.app import CloudQuestApp

    app = CloudQuestApp(live_clock=False)
    cost, latency, draws = [], [], []
    async with app.run_test(size=size) as pilot:
        screen = await open_chapter(app, pilot, chapter_id)
        setup, failure = SETUPS[chapter_id]
        for line in [*setup, *failure]:
            out = screen.session.execute(line)
            assert out.ok, (line, out.output)
        screen.refresh_all()
        await pilot.pause()
        view = screen.view
        paints = PaintClock(app)
        queue0 = screen.session.cloud.metrics()["repair_queue"]
        for _ in range(ticks):
            await measured_step(pilot, screen, paints, cost, latency)
            d0 = time.perf_counter()
            view.draw(view.content_size.width)
            draws.append(time.perf_counter() - d0)
        m = screen.session.cloud.metrics()
        note = (
            f"{type(view).__name__}, repair queue {queue0} -> {m['repair_queue']} chunks, "
            f"{m['chunks_under_replicated']} under-replicated at the end"
        )
    return cost, latency, draws, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer ticks")
    args = parser.parse_args()
    os.environ["CLOUDQUEST_HOME"] = tempfile.mkdtemp(prefix="cq-bench-")
    ticks = 30 if args.quick else 100
    print(f"headless; Python {sys.version.split()[0]}; {ticks} live ticks each")
    for chapter_id in SETUPS:
        for size in ((120, 40), (80, 24)):
            cost, latency, draws, note = asyncio.run(tick_cost(chapter_id, size, ticks))
            med = statistics.median(cost)
            verdict = "ok" if med < 0.016 else "OVER 16 ms"
            print(
                f"chapter {chapter_id} at {size[0]}x{size[1]} ({note}): one live tick costs median {ms(med)}, "
                f"p95 {ms(p95(cost))} of CPU to the frame showing it (latency median {ms(statistics.median(latency))}); "
                f"the view's draw alone median {ms(statistics.median(draws))}  [{verdict}]"
            )

if __name__ == "__main__":
    main()
