"""Screenshots of the traffic chapters' views (chapters 8, 12 and 13) at 80x24 and 120x40,
each after a few commands: the load balancer after a backend died, the fabric with a hung
spine black-holing flows, the edge network serving the world with an invalidation on
its way.

Deterministic as the other screenshots are: frozen copies of the three chapters
(tests/tui/fixtures/traffic, so edits to levels/ never change these), seed 0, the clock
paused, no cursor blink, UTC and a pinned clock. Review a changed screenshot in the
report before accepting it with ``pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import pytest

from .support import FIXTURES, SIZES
from .support import make_app as _make_app
from .support import opened as _opened

LEVELS = FIXTURES / "traffic"


def make_app():
    return _make_app(LEVELS)


def opened(ident: str, *lines: str):
    return _opened(LEVELS, ident, *lines)


@pytest.mark.parametrize("size", SIZES)
def test_loadbalancer_view_backend_dead_maglev_table(snap_compare, size):
    """Chapter 8 at t=610 s: cross-zone on, Maglev, faster checks, web-a3 added and warm;
    web-b3's host died at 600 s and both zones have taken it out (✘✘, dead, listed
    first); the strip is the table of the eight backends left."""
    lines = (
        "lb cross-zone on",
        "lb algorithm maglev",
        "lb check timeout 4",
        "lb check interval 5",
        "lb add web-a3",
        "tick 610",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("load-balancer", *lines))


@pytest.mark.parametrize("size", SIZES)
def test_fabric_view_spine_hung_flows_in_holes(snap_compare, size):
    """Chapter 12 at t=605 s: ECMP on the 5-tuple; spine 1 of zone a hung at 600 s and the
    hold timer has not run out: its column of ToR uplinks is ✘, the header counts the
    flows in black holes."""
    lines = ("fabric ecmp on", "fabric hash 5-tuple", "tick 605")
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("routing", *lines))


@pytest.mark.parametrize("size", SIZES)
def test_edge_view_price_class_all_invalidation_under_way(snap_compare, size):
    """Chapter 13 at t=1230 s: price class all (every PoP ●), pages cached an hour, the
    new hero banners published at 1200 s and /hero/* being invalidated until 1260 s."""
    lines = ("edge price-class all", "edge ttl pages min 3600", "tick 1200", "edge invalidate /hero/*", "tick 30")
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("edge", *lines))
