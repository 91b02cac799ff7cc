"""Every screenshot on file is one a test still takes.

syrupy finds (and fails on) unused snapshots only when the tests run in one process;
under pytest-xdist, as the suite runs by default, it cannot, so this test does. A stale
file is removed by hand, or by ``pytest tests/snapshots -n 0 --snapshot-update``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .support import SIZES

SNAPSHOTS = Path(__file__).resolve().parent / "__snapshots__"


def test_every_screenshot_on_file_is_taken_by_a_test():
    sizes = {f"[{size.id}]" for size in SIZES}
    stale = []
    for svg in sorted(SNAPSHOTS.glob("*/*.svg")):
        name, bracket, size = svg.stem.partition("[")
        try:
            module = importlib.import_module(f"{__package__}.{svg.parent.name}")
        except ModuleNotFoundError:
            module = None
        if not callable(getattr(module, name, None)) or bracket + size not in sizes:
            stale.append(str(svg.relative_to(SNAPSHOTS)))
    assert list(SNAPSHOTS.glob("*/*.svg")), "no screenshots found"
    assert not stale, f"screenshots no test takes: {stale}"
