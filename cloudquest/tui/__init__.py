"""The terminal game (Textual). It only sends console commands and draws state."""

from __future__ import annotations

from pathlib import Path


def run_app(replay_file: Path | None = None) -> int:
    """Start the terminal game; with ``replay_file``, open that replay."""
    from .app import CloudQuestApp

    app = CloudQuestApp(replay_file=replay_file)
    result = app.run()
    return 0 if result is None else int(result)


__all__ = ["run_app"]
