"""Every screenshot is taken in UTC, with saved runs named and dated by a pinned clock."""

from __future__ import annotations

import time

import pytest

from .support import PINNED


@pytest.fixture(autouse=True)
def _deterministic(monkeypatch):
    import cloudquest.game.runs as runs

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(runs, "CLOCK", lambda: PINNED)
    yield
    monkeypatch.undo()
    time.tzset()
