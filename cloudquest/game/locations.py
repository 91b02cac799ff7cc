"""Every path CloudQuest reads or writes, in one place.

User data (progress, replays, the player's own chapters in ``levels/``) lives in the platform's user data directory, or under
``$CLOUDQUEST_HOME`` when that is set (tests and portable installs use it). Bundled
content (``levels/``, ``assets/``) is found inside the installed package, or beside the
package in a source checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def data_home() -> Path:
    env = os.environ.get("CLOUDQUEST_HOME")
    path = Path(env).expanduser() if env else Path(user_data_dir("cloudquest", appauthor=False))
    return path


def progress_file() -> Path:
    return data_home() / "progress.json"


def replays_dir() -> Path:
    return data_home() / "replays"


def user_levels_dir() -> Path:
    """The player's own chapters, loaded beside the shipped ones ("your chapters")."""
    return data_home() / "levels"


def designs_dir() -> Path:
    """The player's design files (chapter 16): scripts of console commands."""
    return data_home() / "designs"


def _bundled(name: str) -> Path:
    installed = PACKAGE_DIR / "_bundled" / name
    if installed.is_dir():
        return installed
    return PACKAGE_DIR.parent / name


def levels_dir() -> Path:
    return _bundled("levels")
