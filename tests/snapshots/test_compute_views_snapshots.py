"""Screenshots of the compute chapters' live views at 80x24 and 120x40: the host view
(chapter 2) and the scheduling view (chapter 3), each after a few commands.

Deterministic as the other screenshots are: frozen copies of the two chapters
(tests/tui/fixtures/compute, so edits to levels/ never change these), seed 0, the clock
paused, no cursor blink (the app turns it off when headless), UTC and a pinned clock for
anything dated. Review a changed screenshot in the report before accepting it with
``pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import pytest

from .support import FIXTURES, SIZES
from .support import make_app as _make_app
from .support import opened as _opened

LEVELS = FIXTURES / "compute"


def make_app():
    return _make_app(LEVELS)


def opened(ident: str, *lines: str):
    return _opened(LEVELS, ident, *lines)


@pytest.mark.parametrize("size", SIZES)
def test_host_view_noisy_neighbour(snap_compare, size):
    """db and batch pinned together: batch fills pCPUs 0-7, db's steal over 20 %."""
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("hypervisor", "tick 3"))


@pytest.mark.parametrize("size", SIZES)
def test_host_view_overcommitted(snap_compare, size):
    """Six VMs on 16 pCPUs after unpinning batch: lanes over the whole host, the RAM
    overcommitted and the host swapping until legacy's balloon gives pages back."""
    lines = (
        "pin batch all",
        "vm create ci --vcpus 4 --ram 8 --workload bursty",
        "vm create api --vcpus 4 --ram 8 --workload steady --load 30",
        "balloon legacy 4",
        "tick 2",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("hypervisor", *lines))


@pytest.mark.parametrize("size", SIZES)
def test_scheduling_view_with_group_and_explain(snap_compare, size):
    """The fleet after 15 s of the stream, a spread group of two, and one request explained."""
    lines = (
        "group create web --strategy spread",
        "launch --name web-1 --type medium --group web",
        "launch --name web-2 --type medium --group web",
        "tick 15",
        "explain req-031",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("scheduling", *lines))
