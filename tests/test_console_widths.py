"""What the console prints fits an 80-column terminal: the wide tables (the hypervisor's
top, explain's host table, the failure timeline of incidents) are laid out to fit, and
help lists each command on its own lines. The console is 80 columns less its rule and
scrollbar, and an answer is indented by two: 76 columns for a line."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def _chapter_session(name: str) -> Session:
    return Session(load_chapter(next(LEVELS.glob(f"*-{name}.yaml"))), 0)


# The widest answers players met (issue 14), each in its chapter's world: every line
# fits, wrapped on purpose where a verdict or a list runs long.
WIDE_ANSWERS = [
    ("isolation", [], "tenants", "shared host:"),
    ("isolation", [], "redteam run", "read-memory"),
    ("ip-assignment", [], "subnet show legacy", "reserved:"),
    ("load-balancer", [], "lb table", "web-a1"),
    ("edge", ["tick 60"], "edge show", "Frankfurt"),
    ("scaling", [], "asg show", "policies:"),
    ("global", ["design apply chapter:example"], "geo show", "us-east-1"),
    ("storage", ["put clicks-01 75GiB"], "storage", "durability:"),
    ("scheduling", [], "tick 70", "scheduler.decided"),
]


@pytest.mark.parametrize(("chapter", "before", "line", "shows"), WIDE_ANSWERS, ids=[w[2] for w in WIDE_ANSWERS])
def test_wide_answers_fit_an_80_column_console(chapter, before, line, shows):
    s = _chapter_session(chapter)
    s.run_script(before)
    out = s.execute(line)
    assert out.ok, out.output
    assert shows in out.output and not too_wide(out.output)


def test_a_long_policy_answer_fits_and_wraps_under_its_text():
    chapter = load_chapter(next(LEVELS.glob("*-security.yaml")))
    s = Session(chapter, 0)
    put = next(line for line in chapter.solution if line.startswith("iam put-policy"))
    out = s.execute(put).output
    assert not too_wide(out)
    s2 = _chapter_session("isolation")
    out = s2.execute("redteam run").output.splitlines()
    row = next(i for i, text in enumerate(out) if "read-memory" in text)
    column = out[row].index("stopped by")
    assert out[row + 1].startswith(" " * column) and out[row + 1][column] != " "  # a hanging indent


def test_fit_leaves_short_lines_and_wraps_long_ones_with_a_hanging_indent():
    from cloudquest.game.console_text import fit

    table = "  pop   city      users\n  fra   Frankfurt Berlin"
    assert fit(table) == table
    long = "reserved: " + ", ".join(f"10.0.0.{i} (a reason)" for i in range(12))
    lines = fit(long).splitlines()
    assert len(lines) > 1 and all(len(x) <= 76 for x in lines)
    assert all(x.startswith(" " * len("reserved: ")) for x in lines[1:])
