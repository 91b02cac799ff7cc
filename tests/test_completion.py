"""The completion check (chapter 17): every skill backed from the files, the interview
kinds graded automatically, the tally's mastery rule, and a certificate whose run hashes
replay to the same event logs."""

from __future__ import annotations


import pytest
from pydantic import ValidationError

from cloudquest.cli import main
from cloudquest.game import progress as progress_mod
from cloudquest.game import tally as tally_mod
from cloudquest.game.chapters import load_all, load_quiz
from cloudquest.game.interview import INTERVIEW_KINDS, parse_order
from cloudquest.game.locations import replays_dir
from cloudquest.game.quiz import prepare
from cloudquest.game.replay import read, verify
from cloudquest.game.schema import SKILLS, OrderQuestion

BANK = load_quiz()


@pytest.mark.parametrize("skill", SKILLS)
def test_every_skill_is_backed_by_two_graded_objectives_eight_questions_and_an_interview(skill, catalogue):
    objectives = [f"{c.id}:{o.id}" for c in catalogue.chapters for o in c.objectives if skill in o.skills]
    questions = [q for q in BANK.questions if skill in q.skills]
    assert len(objectives) >= tally_mod.MIN_OBJECTIVES, objectives
    assert len(questions) >= 8, [q.id for q in questions]
    assert any(q.kind in INTERVIEW_KINDS for q in questions), f"no interview question for {skill}"


def test_an_order_question_is_shown_shuffled_and_graded_exactly():
    asked = [q for q in prepare(BANK, 7) if q.kind == "order"]
    assert len(asked) >= 7
    for q in asked:
        source = next(b for b in BANK.questions if b.id == q.id)
        assert [q.options[i] for i in q.answer] == source.steps  # the answer is the right order
        assert q.answer != list(range(len(q.options)))  # never shown already in order
        assert q.grade(list(q.answer))
        assert not q.grade(list(reversed(q.answer)))
    assert prepare(BANK, 7) == prepare(BANK, 7)  # the seed repeats it


@pytest.mark.parametrize("text", ["", "1 2", "1 1 2", "a b c", "1 2 4", "0 1 2"])
def test_an_order_that_is_not_one_is_refused_naming_what_is_valid(text):
    with pytest.raises(ValueError, match=r"give each of the numbers 1-3 once"):
        parse_order(text, 3)


def test_orders_are_read_with_spaces_commas_or_packed():
    assert parse_order("3 1 2", 3) == parse_order("3,1,2", 3) == parse_order("312", 3) == [2, 0, 1]


def test_a_repeated_step_is_refused_by_the_schema():
    with pytest.raises(ValidationError, match="steps must be distinct"):
        OrderQuestion(id="x", kind="order", skills=["resource scheduling"], text="t", explanation="e",
                      steps=["a", "b", "a"])


def test_a_cause_question_shows_its_log_excerpt():
    q = next(q for q in prepare(BANK, 1) if q.id == "iv-cause-rack")
    assert q.kind == "choice" and "The event log:\n  t=0.000s storage.put" in q.text


def test_the_mastery_rule_needs_both_objectives_and_quiz():
    s = tally_mod.SkillTally("resource scheduling", [("scheduling", "place-all")], 100)
    assert not s.mastered  # one objective is not enough
    s.objectives.append(("scheduling", "low-fragmentation"))
    assert s.mastered
    s.quiz_pct = 60
    assert not s.mastered  # two slips in five is more than one in three
    s.quiz_pct = 67
    assert s.mastered


def _answers(seed: int, limit: int) -> str:
    lines = []
    for q in prepare(BANK, seed, limit):
        if q.kind == "choice":
            lines.append(str(q.answer + 1))
        elif q.kind == "order":
            lines.append(" ".join(str(i + 1) for i in q.answer))
        else:
            lines.append(f"{q.answer:g}")
    return "\n".join(lines) + "\n"


def test_the_exported_certificate_replays_to_the_same_results(tmp_path, monkeypatch, capsys):
    catalogue = load_all()
    chapter = catalogue.get("hypervisor")
    script = tmp_path / "design.txt"
    script.write_text("\n".join(chapter.solution) + "\n")
    assert main(["play", "hypervisor", "--script", str(script)]) == 0
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("nonsense\n" + _answers(5, 6)))
    assert main(["quiz", "--seed", "5", "--limit", "6"]) == 0
    out = capsys.readouterr().out
    assert "nonsense is not" in out and "PASSED 100%" in out
    cert = tmp_path / "cert.md"
    main(["certificate", "--out", str(cert)])
    text = cert.read_text()
    assert "hypervisor:quiet-db" in text and tally_mod.RULE in text
    pairs = tally_mod.run_hashes(text)
    assert pairs and {f for f, _ in pairs} <= {p.name for p in replays_dir().glob("*.json")}
    for name, sha in pairs:
        outcome = verify(read(replays_dir() / name), catalogue)
        assert outcome.matches and outcome.result.event_log_sha256 == sha
    quiz = progress_mod.load().progress.quiz
    assert quiz.right and set(quiz.right) <= {q.id for q in BANK.questions}
    assert main(["certificate", "--out", str(tmp_path / "cert.svg")]) in (0, 1)
    assert (tmp_path / "cert.svg").read_text().startswith("<svg")


def test_a_bad_certificate_format_is_one_line(capsys):
    assert main(["certificate", "--format", "pdf"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "md" in err and "svg" in err
