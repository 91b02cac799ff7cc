"""Benchmark: what one redraw of the compute chapters' live views costs.

The live clock at 16x redraws a view after every step, and the whole tick (simulation,
objectives, events, view, repaint) should stay under 16 ms at 120x40 (bench_tui.py
measures that end to end). This measures the views' own share, without Textual: one
``draw`` (the picture as styled text, laid out to the pane) for

- the host view (chapter 2) after its reference solution, with the host stepped one
  second between redraws, as at the live clock;
- the scheduling view (chapter 3) mid-stream with an explain table, one second of the
  request stream between redraws;
- the scheduling view on sandbox fleets of 1,000 and 10,000 hosts (the map turns into
  per-zone counts), next to what the fleet's own metrics cost there (the grader pays
  that on every tick anyway).

Pane sizes are the view's share of an 80x24 terminal (46 x 8) and of 120x40 (69 x 15).

    /work/venv/bin/python bench/bench_compute_views.py
"""

from __future__ import annotations

import statistics
import time

from cloudquest.game.chapters import load_all
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter
from cloudquest.tui.views.host import HostView
from cloudquest.tui.views.scheduling import SchedulingView
from cloudquest.cloud.fleet import Fleet

PANES = ((46, 8, "80x24"), (69, 15, "120x40"))
REDRAWS = 60


def timed_draws(view, session, width: int, step_ms: int, n: int) -> list[float]:
    out = []
    for _ in range(n):
        session.advance(step_ms)
        t0 = time.perf_counter()
        view._prepare(view.draw(width), width)
        out.append(time.perf_counter() - t0)
    return out


def report(label: str, times: list[float]) -> None:
    times = sorted(times)
    med = statistics.median(times) * 1000
    p95 = times[int(0.95 * (len(times) - 1))] * 1000
    print(f"{label:<58} median {med:6.2f} ms  p95 {p95:6.2f} ms")


def chapter_view(chapter_id: str, view_cls, lines: list[str], width: int, rows: int):
    s = Session(load_all().get(chapter_id), 0)
    s.run_script(lines)
    view = view_cls(s)
    view.rows_available = lambda: rows
    view.draw(width)  # the first draw also works out the explain table
    return s, view


def big_fleet(hosts: int, zones: int = 4, rack_hosts: int = 40) -> dict:
    racks = hosts // rack_hosts // zones
    return {
        "view": "scheduling",
        "regions": [
            {
                "name": "r1",
                "zones": [
                    {
                        "name": f"z{z}",
                        "racks": [
                            {"name": f"z{z}-r{r}", "hosts": [{"count": rack_hosts, "vcpus": 32, "ram_gib": 128}]}
                            for r in range(racks)
                        ],
                    }
                    for z in range(zones)
                ],
            }
        ],
        "fleet": {"requests": {"count": 5000, "every_ms": 10, "mix": {"small": 0.6, "large": 0.4}}},
    }


def main() -> None:
    hyper = load_all().get("hypervisor")
    for width, rows, size in PANES:
        s, view = chapter_view("hypervisor", HostView, list(hyper.solution), width, rows)
        report(f"host view, 6 VMs on 16 pCPUs, pane {width}x{rows} ({size})", timed_draws(view, s, width, 1000, REDRAWS))
    for width, rows, size in PANES:
        s, view = chapter_view("scheduling", SchedulingView, ["tick 20", "explain req-045"], width, rows)
        report(f"scheduling view, 35 hosts, pane {width}x{rows} ({size})", timed_draws(view, s, width, 1000, REDRAWS))
    for hosts in (1_000, 10_000):
        s = Session(free_play_chapter(World.model_validate(big_fleet(hosts))), 0, sandbox=True)
        s.run_script(["tick 5", "explain req-0600"])
        view = SchedulingView(s)
        view.rows_available = lambda: 15
        view.draw(69)
        n = 20 if hosts > 1000 else REDRAWS
        report(f"scheduling view, {hosts:,} hosts, pane 69x15 (120x40)", timed_draws(view, s, 69, 100, n))
        fleet = s.cloud.get(Fleet)
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            fleet.metrics()
            t.append(time.perf_counter() - t0)
        report(f"  of which the fleet's own metrics ({hosts:,} hosts)", t)


if __name__ == "__main__":
    main()
