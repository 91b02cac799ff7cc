"""What the console prints fits an 80-column terminal: the wide tables (the hypervisor's
top, explain's host table, the failure timeline of incidents) are laid out to fit, and
help lists each command on its own lines. The console is 80 columns less its rule and
scrollbar, and an answer is indented by two: 76 columns for a line."""

from __future__ import annotations

from pathlib import Path

from cloudquest.game.chapters import load_chapter
from cloudquest.game.session import Session

LEVELS = Path(__file__).resolve().parent.parent / "levels"
WIDTH = 76


def played(name: str, lines: list[str]) -> Session:
    session = Session(load_chapter(next(LEVELS.glob(f"*-{name}.yaml"))), 0)
    session.run_script(lines)
    return session


def too_wide(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > WIDTH]


def test_top_fits_an_80_column_console():
    s = played("hypervisor", ["vm create build-server-01 --vcpus 4 --ram 8 --workload latency-sensitive", "tick 3"])
    top = s.execute("top").output
    tables = [line for line in top.splitlines() if line.startswith(("NAME", "db", "batch", "web", "legacy", "build"))]
    assert len(tables) >= 10 and not too_wide("\n".join(tables))
    assert "STEAL%" in top and "WORKLOAD" in top and "build-server-01" in top


def test_explain_fits_an_80_column_console():
    s = played("scheduling", ["tick 15"])
    out = s.execute("explain req-003").output
    rows = [line for line in out.splitlines() if line.startswith("  ") and ("pass" in line or "<- winner" in line)]
    assert len(rows) > 20 and not too_wide("\n".join(rows))
    assert any(line.rstrip().endswith("<- winner") for line in rows)


def test_the_failure_timeline_is_a_line_per_happening():
    chapter = load_chapter(next(LEVELS.glob("*-failure-design.yaml")))
    design = [line for line in chapter.solution if not line.startswith(("verify", "tick 14370", "incidents"))]
    s = played("failure-design", [*design, "tick 3000"])
    out = s.execute("incidents").output
    heads = [line for line in out.splitlines() if line.startswith("incident ")]
    assert len(heads) == 2
    assert not too_wide(out)
    assert "    t=600s 63 chunks under-replicated" in out.splitlines()


def test_help_puts_each_usage_on_a_line_of_its_own():
    s = played("launch", [])
    out = s.execute("help").output.splitlines()
    usage = out.index("  describe [NAME]")
    assert out[usage + 1].startswith("      describe an instance")
