"""A corpus of broken chapter files: each must give FILE:LINE: message, never a traceback.

Each file in tests/broken_chapters/ starts with a comment ``# expect: LINE: FRAGMENT``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cloudquest.game.chapters import ChapterError, load_all, load_chapter

CORPUS = sorted((Path(__file__).parent / "broken_chapters").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+): (.+)$")


def _expectation(path: Path) -> tuple[int, str]:
    first = path.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    m = EXPECT.match(first)
    assert m, f"{path.name} needs a first line '# expect: LINE: FRAGMENT'"
    return int(m.group(1)), m.group(2)


def test_the_corpus_is_not_empty():
    assert len(CORPUS) >= 12


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_broken_chapter_is_reported_with_file_and_line(path):
    line, fragment = _expectation(path)
    with pytest.raises(ChapterError) as exc:
        load_chapter(path)
    problems = exc.value.problems
    assert problems
    messages = [f"{p.path}:{p.line}: {p.message}" for p in problems]
    assert any(p.line == line and fragment in p.message for p in problems), messages
    assert all(m.startswith(str(path)) for m in messages)


def test_validate_cli_exits_2_with_file_line_and_no_traceback():
    paths = [str(p) for p in CORPUS]
    out = subprocess.run([sys.executable, "-m", "cloudquest", "validate", *paths], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stdout + out.stderr
    for p in CORPUS:
        line, _ = _expectation(p)
        assert f"{p}:{line}:" in out.stdout


def test_one_broken_chapter_does_not_stop_the_others(tmp_path):
    levels = Path(__file__).resolve().parent.parent / "levels"
    for f in levels.glob("0*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    shutil.copy(CORPUS[0], tmp_path / "50-broken.yaml")
    catalogue = load_all(tmp_path)
    assert len(catalogue.chapters) == len(list(levels.glob("0*.yaml")))
    assert len(catalogue.problems) >= 1 and "50-broken.yaml" in catalogue.problems[0].path


def test_objectives_must_read_metrics_and_events_that_exist(tmp_path):
    """validate names the line of a misspelt event, a where field the event does not
    carry (inside not/after too) and a metric no mechanism publishes."""
    import textwrap

    from cloudquest.game.chapters import ChapterError, load_chapter

    path = tmp_path / "c.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            id: c
            title: C
            number: 50
            sections: [2]
            skills: [resource scheduling]
            story: s
            objectives:
              - id: a
                text: t
                skills: [resource scheduling]
                check: {event: launch.faild}
              - id: b
                text: t
                skills: [resource scheduling]
                check:
                  not: {event: launch.failed, where: {colour: red}}
              - id: c
                text: t
                skills: [resource scheduling]
                check: {event: instance.running, after: {event: launch.requested, where: {size: big}}}
              - id: d
                text: t
                skills: [resource scheduling]
                check: {metric: instances_runing, op: ">", value: 0}
            solution: [status]
            """
        )
    )
    with pytest.raises(ChapterError) as exc:
        load_chapter(path)
    got = [str(p) for p in exc.value.problems]
    assert got == [
        f"{path}:11: no mechanism emits event 'launch.faild' (did you mean 'launch.failed'? see the reference in docs/authoring.md)",
        f"{path}:16: event launch.failed has no field 'colour' (fields: instance, type, zone, step, code, reasons)",
        f"{path}:20: event launch.requested has no field 'size' (fields: instance, id, type, zone)",
        f"{path}:24: no mechanism publishes metric 'instances_runing' (see the reference in docs/authoring.md)",
    ]


def test_a_rejected_solution_line_is_reported_at_its_own_line(tmp_path):
    import textwrap

    from cloudquest.game.chapters import load_chapter_located, prove

    path = tmp_path / "c.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            id: c
            title: C
            number: 50
            sections: [2]
            skills: [resource scheduling]
            story: s
            world:
              regions: [{name: r, zones: [{name: z, racks: [{name: a, hosts: [{vcpus: 4, ram_gib: 8}]}]}]}]
            commands: [launch]
            objectives:
              - id: a
                text: t
                skills: [resource scheduling]
                check: {metric: instances_running, op: ">=", value: 1}
            solution:
              - launch --name web
              - lunch --name db
              - tick 30
            """
        )
    )
    chapter, doc = load_chapter_located(path)
    assert [str(p) for p in prove(chapter, doc)] == [
        f"{path}:17: solution command 'lunch --name db' was rejected: error: unknown command 'lunch' (did you mean 'launch'? type 'help' for the list)"
    ]
