"""Every bound on what a player, a chapter author or a file can hand the game, in one place.

Each number sits far above what honest use needs (the numbers in brackets) and far
below what would hang the game or exhaust the machine. Input past a bound is refused
with one line that names the bound; nothing is read further and nothing changes.
"""

from __future__ import annotations

KiB = 1024
MiB = 1024 * KiB

# -- files ------------------------------------------------------------------------------
MAX_YAML_BYTES = 1 * MiB  # a chapter, scenario, quiz bank or sandbox world (the biggest shipped: 10 KiB)
MAX_YAML_NODES = 100_000  # values in one YAML file (a shipped chapter: about 700)
MAX_NESTING = 64  # levels of mappings and lists, in YAML and JSON alike (a chapter: about 12)
MAX_SAVE_BYTES = 1 * MiB  # the progress save and its exports (a full game: a few KiB)
MAX_REPLAY_BYTES = 16 * MiB  # a replay file (an hour of live play: under 100 KiB)
MAX_REPLAY_COMMANDS = 100_000
MAX_SCRIPT_BYTES = 4 * MiB  # a script of console commands (a reference solution: 1 KiB)
MAX_FILE_NUMBER_CHARS = 32  # one number written in a JSON file (a seed has at most 19 digits)

# -- what a run can be ------------------------------------------------------------------
MAX_SEED = 2**63 - 1
MAX_RUN_S = 30 * 86_400  # the clock stops at 30 simulated days (the longest scenario: 7)
MAX_RUN_MS = MAX_RUN_S * 1000

# -- progress ---------------------------------------------------------------------------
MAX_CHAPTERS_SAVED = 1000  # chapters with progress in one save (the level has 18)
MAX_ATTEMPTS = 10**9


def mib(n: int) -> str:
    """A byte count in MiB, the unit every file limit is given in: 1 MiB, 47.68 MiB."""
    return f"{n / MiB:.4g} MiB"
