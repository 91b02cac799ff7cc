"""The terminal game (Textual). It only sends console commands and draws state."""

from __future__ import annotations

from pathlib import Path


def run_app(replay_file: Path | None = None, chapter_file: Path | None = None, chapter: str | None = None) -> int:
    """Start the terminal game; with ``replay_file``, open that replay; with
    ``chapter_file`` (a chapter YAML file) or ``chapter`` (an installed chapter's id or
    number), open that chapter."""
    from .app import CloudQuestApp

    app = CloudQuestApp(replay_file=replay_file, chapter_file=chapter_file, start_chapter=chapter)
    result = app.run()
    return 0 if result is None else int(result)


__all__ = ["run_app"]
