from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEVELS = ROOT / "levels"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own empty user data folder."""
    home = tmp_path / "cq-home"
    monkeypatch.setenv("CLOUDQUEST_HOME", str(home))
    return home
