from __future__ import annotations

import compileall
import gc
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ROOT / "levels"

# pytest rewrites every test module's asserts on import (about 2 s per xdist worker) and
# keeps the result only when Python may write bytecode: with PYTHONDONTWRITEBYTECODE set,
# as on some machines, every worker of every run would rewrite them all again.
sys.dont_write_bytecode = False


def _quicker_idle_checks() -> None:
    """Textual's test pilot decides the app is idle by sleeping in steps of 20 ms until a
    step passes with under 1 ms of CPU: every pause of every terminal-game test costs at
    least 20 ms of a worker doing nothing, and the suite pauses thousands of times. Steps
    of 5 ms (idle under 0.5 ms of CPU) tell the same thing a quarter as slowly: workers
    (loading, replays) are waited for by name, not by this clock."""
    import textual._wait as wait

    wait.SLEEP_GRANULARITY = 0.005
    wait.SLEEP_IDLE = 0.0005


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: one worker more than the cores. The terminal-game tests spend part of
    their time waiting for the app to go idle, and a third worker fills it (on two idle
    cores, with the collector tuned as below: 141 s with two workers, 135 s with four,
    111-119 s with three)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores + 1


def pytest_configure(config):
    _quicker_idle_checks()
    # Many tests start the command line in a subprocess. Compile the package once, up
    # front, so every start (and every xdist worker) reads bytecode: with
    # PYTHONDONTWRITEBYTECODE set, as on some machines, each would recompile every module.
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(ROOT / "cloudquest", quiet=2)


def pytest_collection_finish(session):
    """Once the suite is collected, its modules, the game's and Textual's are there for
    good: the cyclic garbage collector need not walk them again (``gc.freeze``), and it
    runs every 50,000 allocations instead of every 700. The terminal-game tests and the
    simulation make millions of short-lived objects while the shared reference runs keep
    millions alive, which every full collection walked again: on two cores the suite
    went from 256 s of CPU (147 s) to 188 s (111 s)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own empty user data folder."""
    home = tmp_path / "cq-home"
    monkeypatch.setenv("CLOUDQUEST_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def catalogue():
    """The shipped chapters (levels/), loaded once per test session. Tests only read it."""
    from cloudquest.game.chapters import load_all

    return load_all()


@pytest.fixture(scope="session")
def reference_session():
    """A chapter file's reference solution played once per test session (seed 0): the
    session as it ends (its log, its cloud). failure-design's solution ends in `verify`,
    which replays the whole design under five more seeds: the slowest lines of the suite,
    so played once. Tests that share it run on one xdist worker (group reference-runs)."""
    from cloudquest.game.chapters import load_chapter
    from cloudquest.game.session import Session

    sessions = {}

    def played(path: Path):
        if path not in sessions:
            chapter = load_chapter(path)
            session = Session(chapter, 0)
            session.run_script(list(chapter.solution))
            sessions[path] = session
        return sessions[path]

    return played


@pytest.fixture(scope="session")
def reference_result(reference_session):
    """The finished run of :func:`reference_session`."""
    results = {}

    def result(path: Path):
        if path not in results:
            results[path] = reference_session(path).finish()
        return results[path]

    return result


@pytest.fixture(scope="session")
def scenario_run(catalogue):
    """A library scenario played once per test session against its default design (its
    chapter's reference solution) at seed 1: the run the scenario tests check and the one
    whose events and metrics the mechanism records must declare. Tests that share it run
    on one xdist worker (group reference-runs). Tests only read it."""
    from cloudquest.game.scenarios import default_design, load_library, run

    library = load_library(catalogue=catalogue)
    runs = {}

    def played(name: str):
        if name not in runs:
            loaded = library.get(name)
            lines, source = default_design(loaded)
            runs[name] = run(loaded, lines, seed=1, design=source)
        return runs[name]

    return played
