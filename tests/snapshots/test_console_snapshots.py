"""Screenshots of what the console prints at its widest: `help`, the hypervisor's `top`
and chapter 9's failure timeline (`incidents`), each read in the zoomed console (F10)
at 80x24 and 120x40. They prove the console's answers are designed for an 80-column
terminal: tables that fit, lines that wrap under their own column, and a line saying
what is left below.

Deterministic as the other screenshots are: frozen chapters (tests/tui/fixtures), seed
0, the clock paused, UTC and a pinned clock. Review a changed screenshot in the report
before accepting it with ``pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import pytest

from cloudquest.game.chapters import load_all

from .support import FIXTURES, SIZES, make_app, opened


def zoomed(levels, ident: str, *lines: str):
    """A run_before that opens a chapter, enters the lines and zooms the console (F10)."""
    return opened(levels, ident, *lines, keys=("f10",))


@pytest.mark.parametrize("size", SIZES)
def test_help_in_the_zoomed_console(snap_compare, size):
    levels = FIXTURES / "levels"
    assert snap_compare(make_app(levels), terminal_size=size, run_before=zoomed(levels, "launch", "help"))


@pytest.mark.parametrize("size", SIZES)
def test_top_in_the_zoomed_console(snap_compare, size):
    levels = FIXTURES / "compute"
    run_before = zoomed(levels, "hypervisor", "vm create ci --vcpus 4 --ram 8 --workload bursty", "tick 3", "top")
    assert snap_compare(make_app(levels), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_failure_timeline_in_the_zoomed_console(snap_compare, size):
    """Two incidents of chapter 9's chaos timeline, each a headline and what happened
    when, one line each."""
    levels = FIXTURES / "reliability"
    design = load_all(levels).get("failure-design").solution[:17]  # up to registering the web tier
    run_before = zoomed(levels, "failure-design", *design, "tick 1500", "tick 1500", "incidents")
    assert snap_compare(make_app(levels), terminal_size=size, run_before=run_before)
