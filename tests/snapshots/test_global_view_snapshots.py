"""Screenshots of the global view (chapter 16) at 80x24 and 120x40: the reference design
half a minute after the primary's region went dark at 14:00, Route 53 has just failed it,
old DNS answers still point there, the replica in eu-west-1 is being promoted.

Deterministic as the other screenshots are: a frozen copy of the chapter
(tests/tui/fixtures/global), seed 0, the clock paused, no cursor blink. Review a changed
screenshot in the report before accepting it with ``pytest tests/snapshots --snapshot-update``.
"""

from __future__ import annotations

import pytest

from .support import FIXTURES, SIZES
from .support import make_app as _make_app
from .support import opened as _opened

LEVELS = FIXTURES / "global"


@pytest.mark.parametrize("size", SIZES)
def test_global_view_region_outage_failing_over(snap_compare, size):
    lines = ("design new global.cq --from example", "design apply global.cq", "tick 50440")
    assert snap_compare(_make_app(LEVELS), terminal_size=size, run_before=_opened(LEVELS, "global", *lines))
