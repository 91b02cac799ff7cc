"""Skipping idle time changes nothing: a run with the cloud's fast-forward gives the
same event log (byte for byte), metrics, objective verdicts and command output as the
same run stepped one tick at a time (``Cloud.fast_forward = False``).

Every chapter file is played twice over a few command scripts: an idle world (with a
tick that ends off a step boundary), and the chapter's own solution with its ticks cut
short and a host failed and repaired in the middle. The ticks are short so the stepped
runs stay quick; ``bench/bench_tick.py`` measures the long ones.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudquest.game.chapters import chapter_files, load_chapter
from cloudquest.game.mechanism import metric_of
from cloudquest.game.session import Session
from hypervisor_worlds import host_readings, spec_host, vm_spec
from stepping import step_lengths

CHAPTERS = chapter_files()
SKIPPED = ("verify", "design verify", "scenario")  # replays of whole runs: covered elsewhere


def _ticks_cut(line: str, cap_s: float) -> str:
    words = line.split()
    if words[:1] == ["tick"] and len(words) == 2:
        return f"tick {min(float(words[1]), cap_s):g}"
    return line


def _idle(step_s: float, cap: float) -> list[str]:
    return [f"tick {step_s / 4:g}", f"tick {8 * cap + step_s / 2:g}", "status"]


def _with_fault(chapter, hosts: list[str], step_s: float, cap: float) -> list[str]:
    solution = [_ticks_cut(line, cap) for line in chapter.solution if not line.startswith(SKIPPED)]
    half = len(solution) // 2
    fault = [f"fail host {hosts[0]}", f"tick {cap:g}", f"repair host {hosts[0]}"] if hosts else []
    return solution[:half] + fault + [f"tick {cap:g}"] + solution[half:] + [f"tick {4 * cap:g}"]


def _play(chapter, lines: list[str], fast: bool) -> Session:
    s = Session(chapter, 0, sandbox=True)
    s.cloud.fast_forward = fast
    s.run_script(lines)
    return s


def _same(fast: Session, stepped: Session, script: str) -> None:
    a, b = fast.finish().as_dict(), stepped.finish().as_dict()
    assert a["event_log_sha256"] == b["event_log_sha256"], script
    assert a["metrics"] == b["metrics"], script
    assert a["objectives"] == b["objectives"], script
    assert a["transcript"] == b["transcript"], script


def _undeclared_clocked_metrics(s: Session) -> list[str]:
    """With nothing happening, a metric may change only if its mechanism declared it
    clocked (Metric(..., clocked=True)): what the skip relies on to grade."""
    clock = s.cloud.clock
    before = s.cloud.metrics()
    clock.now_ms += 3_600_000  # the clock alone: no step, no action
    try:
        after = s.cloud.metrics()
    finally:
        clock.now_ms -= 3_600_000
    moved = [k for k in before if after.get(k) != before[k]]
    return [k for k in moved if not (metric_of(k) and metric_of(k)[1].clocked)]


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_fast_forward_gives_what_stepping_gives(path):
    chapter = load_chapter(path)
    step_s = chapter.world.tick_ms / 1000
    cap = max(20.0, 4 * step_s)  # short ticks: the stepped runs stay quick
    idle = _idle(step_s, cap)
    fast = _play(chapter, idle, True)
    _same(fast, _play(chapter, idle, False), "idle")
    script = _with_fault(chapter, fast.ids("host"), step_s, cap)
    fast = _play(chapter, script, True)
    _same(fast, _play(chapter, script, False), "solution+fault")
    assert not _undeclared_clocked_metrics(fast)


def test_an_idle_day_is_skipped_not_stepped():
    """The hook that proves the skip happens: the quiet chapters' day is a handful of
    steps, not 86,400."""
    chapter = load_chapter(next(p for p in CHAPTERS if p.stem.startswith("00")))
    s = Session(chapter, 0)
    samples = []
    s.sample_step = lambda: samples.append(s.cloud.now_ms)  # type: ignore[method-assign]
    s.advance(86_400_000)
    assert s.cloud.now_ms == 86_400_000
    assert 0 < len(samples) < 500  # sampled, but a handful of times


def test_a_clocked_metric_still_graded_every_step():
    """An open objective that reads time_s must see every step: no skipping then."""
    chapter = load_chapter(next(p for p in CHAPTERS if p.stem.startswith("00")))
    s = Session(chapter, 0)
    s.grader.watched_metrics = lambda: {"time_s"}  # type: ignore[method-assign]
    samples = []
    s.sample_step = lambda: samples.append(s.cloud.now_ms)  # type: ignore[method-assign]
    s.advance(600_000)
    assert len(samples) >= 600


# -- the hypervisor's cycle, on its own -------------------------------------------------

@settings(max_examples=8, deadline=None)
@given(st.lists(vm_spec, min_size=1, max_size=5), st.integers(200, 2500), st.integers(0, 3))
def test_the_host_jumps_along_its_cycle_exactly(spec, slices, seed):
    fast, slow = spec_host(spec, seed), spec_host(spec, seed)
    fast.run_slices(slices)
    fast.run_slices(slices)  # the second time, the cycle is already known
    for _ in range(2 * slices):
        slow._slice()
    slow._check_swap()
    assert host_readings(fast) == host_readings(slow)



# -- chapter 9: the load balancer, its health checks, the credits and the incidents --------------


def _chapter_9():
    return load_chapter(next(p for p in CHAPTERS if p.stem.startswith("09")))


def test_a_day_after_chapter_9s_solution_is_skipped_not_stepped():
    """Six targets behind a load balancer under a steady load, their health checks
    asleep, their CPU credits spent: the day runs as a handful of steps."""
    chapter = _chapter_9()
    s = Session(chapter, 0)
    s.run_script([line for line in chapter.solution if not line.startswith(SKIPPED)])
    calls = step_lengths(s.cloud)
    s.execute("tick 86400")
    assert sum(calls) == 86_400_000
    assert len(calls) < 200


def test_chapter_9_skipped_gives_what_stepping_gives_through_faults_and_changes():
    """Long steady stretches between a host failed and repaired, a setting changed, an
    instance terminated and a target deregistered: the same as stepping, and skipped."""
    chapter = _chapter_9()
    solution = [_ticks_cut(line, 1800) for line in chapter.solution if not line.startswith(SKIPPED)]
    script = solution + [
        "tick 3600", "fail host a1-h1", "tick 95", "repair host a1-h1", "tick 1800.5",
        "lb set web timeout 3", "tick 900", "terminate web-c2", "tick 1200",
        "lb deregister web web-b1", "tick 3600",
    ]
    fast = Session(chapter, 0, sandbox=True)
    calls = step_lengths(fast.cloud)
    fast.run_script(script)
    _same(fast, _play(chapter, script, False), "chapter 9 with faults")
    assert len(calls) < sum(calls) / 1000 / 4, len(calls)
