"""Every chapter file in levels/ is proven: it loads, its reference solution passes with
no line rejected, and an empty run fails with evidence. New chapters are covered by
adding their file; no test code is needed."""

from __future__ import annotations

import pytest

from cloudquest.game.chapters import chapter_files, load_chapter
from cloudquest.game.session import Session

FILES = chapter_files()


def test_there_are_chapters_and_none_is_broken(catalogue):
    assert not catalogue.problems, "\n".join(map(str, catalogue.problems))
    assert len(catalogue.chapters) == len(FILES) >= 2
    numbers = [c.number for c in catalogue.chapters]
    assert len(numbers) == len(set(numbers)), "two chapters share a number"


@pytest.mark.xdist_group("reference-runs")  # one worker: the runs are shared
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_reference_solution_passes(path, reference_result):
    result = reference_result(path)
    rejected = [f"{t.line}: {t.output}" for t in result.transcript if t.error_kind in ("input", "internal")]
    assert not rejected, rejected
    failing = [f"{o.id}: {o.evidence}" for o in result.objectives if not o.passed]
    assert result.passed, failing


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_empty_run_fails_with_evidence(path):
    chapter = load_chapter(path)
    result = Session(chapter, 0).finish()
    assert not result.passed
    for o in result.objectives:
        assert o.evidence and "t=" in o.evidence


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_objective_and_the_chapter_name_real_skills_and_sections(path):
    chapter = load_chapter(path)
    assert chapter.story.strip()
    assert all(1 <= s <= 20 for s in chapter.sections)
    proved = set()
    for o in chapter.objectives:
        assert o.skills and set(o.skills) <= set(chapter.skills), f"{o.id} proves a skill the chapter does not list"
        proved |= set(o.skills)
    assert proved == set(chapter.skills), "a chapter skill no objective proves"


# Determinism (a second run of the same commands gives the same event log, byte for byte)
# is proven for every chapter by tests/test_console_fuzz.py, whose second run of each
# solution has rejected garbage typed between its lines.
