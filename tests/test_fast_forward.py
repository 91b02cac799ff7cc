"""Skipping idle time changes nothing: a run with the cloud's fast-forward gives the
same event log (byte for byte), metrics, objective verdicts and command output as the
same run stepped one tick at a time (``Cloud.fast_forward = False``).

Every chapter file is played twice over a few command scripts: an idle world (with a
tick that ends off a step boundary), and the chapter's own solution with its ticks cut
short and a host failed and repaired in the middle. The ticks are short so the stepped
runs stay quick; ``bench/bench_tick.py`` measures the long ones.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudquest.cloud.hypervisor import WORKLOAD_NAMES, HostSim
from cloudquest.game.chapters import chapter_files, load_chapter
from cloudquest.game.session import Session

CHAPTERS = chapter_files()
SKIPPED = ("verify", "design verify", "scenario")  # replays of whole runs: covered elsewhere


def _ticks_cut(line: str, cap_s: float) -> str:
    words = line.split()
    if words[:1] == ["tick"] and len(words) == 2:
        return f"tick {min(float(words[1]), cap_s):g}"
    return line


def _scripts(chapter, probe: Session) -> dict[str, list[str]]:
    step_s = probe.cloud.tick_ms / 1000
    cap = max(20.0, 4 * step_s)
    solution = [_ticks_cut(line, cap) for line in chapter.solution if not line.startswith(SKIPPED)]
    half = len(solution) // 2
    hosts = probe.ids("host")
    fault = [f"fail host {hosts[0]}", f"tick {cap:g}", f"repair host {hosts[0]}"] if hosts else []
    return {
        "idle": [f"tick {step_s / 4:g}", f"tick {8 * cap + step_s / 2:g}", "status"],
        "solution+fault": solution[:half] + fault + [f"tick {cap:g}"] + solution[half:] + [f"tick {4 * cap:g}"],
    }


def _play(chapter, lines: list[str], fast: bool) -> dict:
    s = Session(chapter, 0, sandbox=True)
    s.cloud.fast_forward = fast
    s.run_script(lines)
    return s.finish().as_dict()


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_fast_forward_gives_what_stepping_gives(path):
    chapter = load_chapter(path)
    for name, lines in _scripts(chapter, Session(chapter, 0, sandbox=True)).items():
        fast, stepped = _play(chapter, lines, True), _play(chapter, lines, False)
        assert fast["event_log_sha256"] == stepped["event_log_sha256"], name
        assert fast["metrics"] == stepped["metrics"], name
        assert fast["objectives"] == stepped["objectives"], name
        assert fast["transcript"] == stepped["transcript"], name


def test_an_idle_day_is_skipped_not_stepped():
    """The hook that proves the skip happens: the quiet chapters' day is a handful of
    steps, not 86,400."""
    chapter = load_chapter(next(p for p in CHAPTERS if p.stem.startswith("00")))
    s = Session(chapter, 0)
    samples = []
    s.sample = lambda: samples.append(s.cloud.now_ms)  # type: ignore[method-assign]
    s.advance(86_400_000)
    assert s.cloud.now_ms == 86_400_000
    assert len(samples) < 500


def test_a_clocked_metric_still_graded_every_step():
    """An open objective that reads time_s must see every step: no skipping then."""
    chapter = load_chapter(next(p for p in CHAPTERS if p.stem.startswith("00")))
    s = Session(chapter, 0)
    s.grader.watched_metrics = lambda: {"time_s"}  # type: ignore[method-assign]
    samples = []
    s.sample = lambda: samples.append(s.cloud.now_ms)  # type: ignore[method-assign]
    s.advance(600_000)
    assert len(samples) >= 600


# -- the hypervisor's cycle, on its own -------------------------------------------------

STEADY = [w for w in WORKLOAD_NAMES if w != "bursty"]


def _host(spec: list[tuple], seed: int) -> HostSim:
    sim = HostSim(sockets=1, cores=8, ram_gib=64, seed=seed)
    for i, (vcpus, weight, cap, workload, load, pins) in enumerate(spec):
        adjustable = workload in ("steady", "latency-sensitive")
        sim.create_vm(
            f"vm-{i}", vcpus, 2, weight=weight, cap=min(cap, 100 * vcpus), workload=workload,
            load=load if adjustable else None, pins=pins,
        )
    return sim


def _readings(sim: HostSim) -> tuple:
    return (
        sim.slices, sim.metrics(), sim.top(), sim.sched.pcpu_lanes(), sim.sched.next_ticket,
        [(vm.ticket, vm.credit, vm.cum_run_us, vm.cum_steal_us, vm.cum_wants_us, list(vm.checkpoints)) for vm in sim._order],
        list(sim.checkpoints), [d.name for d in sim.sched.active],
    )


vm_spec = st.tuples(
    st.integers(1, 4),
    st.sampled_from([64, 256, 512]),
    st.sampled_from([0, 0, 50, 150]),
    st.sampled_from(STEADY),
    st.integers(0, 100),
    st.sampled_from([None, None, "0-1", "2-5", "0-7"]),
)


@settings(max_examples=12, deadline=None)
@given(st.lists(vm_spec, min_size=1, max_size=5), st.integers(200, 2500), st.integers(0, 3))
def test_the_host_jumps_along_its_cycle_exactly(spec, slices, seed):
    fast, slow = _host(spec, seed), _host(spec, seed)
    random.Random(seed)  # the host's own generator is never drawn without a bursty guest
    fast.run_slices(slices)
    fast.run_slices(slices)  # the second time, the cycle is already known
    for _ in range(2 * slices):
        slow._slice()
    slow._check_swap()
    assert _readings(fast) == _readings(slow)


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_only_declared_clocked_metrics_move_with_the_clock_alone(path):
    """What the skip relies on: with nothing happening, a metric changes only if its
    mechanism declared it clocked (Metric(..., clocked=True))."""
    from cloudquest.game.mechanism import metric_of

    chapter = load_chapter(path)
    s = Session(chapter, 0, sandbox=True)
    s.run_script(_scripts(chapter, s)["solution+fault"][:-1])
    clock = s.cloud.clock
    before = s.cloud.metrics()
    clock.now_ms += 3_600_000  # the clock alone: no step, no action
    try:
        after = s.cloud.metrics()
    finally:
        clock.now_ms -= 3_600_000
    moved = sorted(k for k in before if after.get(k) != before[k])
    undeclared = [k for k in moved if not (metric_of(k) and metric_of(k)[1].clocked)]
    assert not undeclared
