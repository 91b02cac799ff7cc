"""Screenshots of the storage view (chapters 4 and 5) at 80x24 and 120x40, each after a
few commands: a disk lost while two objects are being read, and an erasure-coded layout
waiting out a silent host's heartbeat timeout.

Deterministic as the other screenshots are: frozen copies of the two chapters
(tests/tui/fixtures/storage, so edits to levels/ never change these), seed 0, the clock
paused, no cursor blink (the app turns it off when headless), UTC and a pinned clock for
anything dated. Review a changed screenshot in the report before accepting it with
``pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import pytest

from .support import FIXTURES, SIZES
from .support import make_app as _make_app
from .support import opened as _opened

LEVELS = FIXTURES / "storage"


def make_app():
    return _make_app(LEVELS)


def opened(ident: str, *lines: str):
    return _opened(LEVELS, ident, *lines)


@pytest.mark.parametrize("size", SIZES)
def test_storage_view_disk_lost_then_read(snap_compare, size):
    """Chapter 4: two objects in 64 MiB chunks, disk a1-h2-d1 failed, 20 s of repair at
    100 MiB/s, then a read: the failed disk's ✘, the repair's slope and its ETA, the read's
    slowest chunk marked on the map."""
    lines = (
        "set chunk 64MiB",
        "put clicks-01 75GiB",
        "put clicks-02 75GiB",
        "fail disk a1-h2-d1",
        "tick 20",
        "get clicks-01",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("storage", *lines))


@pytest.mark.parametrize("size", SIZES)
def test_replication_view_erasure_coded_host_silent(snap_compare, size):
    """Chapter 5 under RS-6-3, zone-aware: at t=960 s the disk lost at 60 s is repaired,
    host b1-h2 (failed at 900 s) is silent and waits out its 630 s timeout; the nine
    fragments of events-1's chunk 2 are marked, six ◆ data and three ◇ parity."""
    lines = (
        "set erasure 6 3",
        "set placement zone-aware",
        "put events-1 30GiB",
        "put events-2 30GiB",
        "tick 960",
        "locate events-1 --chunk 2",
    )
    assert snap_compare(make_app(), terminal_size=size, run_before=opened("replication", *lines))
