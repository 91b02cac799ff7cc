"""The terminal game (Textual). It only sends console commands and draws state."""

from __future__ import annotations

from pathlib import Path


def run_app(replay_file: Path | None = None) -> int:
    """Start the terminal game. Until the app lands, say what works headless."""
    import sys

    print(
        "The terminal game is not built yet. Headless play works now:\n"
        "  cloudquest list\n"
        "  cloudquest play launch --script FILE\n",
        file=sys.stderr,
    )
    return 2
