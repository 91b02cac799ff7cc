"""The headless command line: play, replay, list, validate, schema, progress."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import forked_cli
import pytest

from cloudquest.cli import main

LEVELS = Path(__file__).resolve().parent.parent / "levels"


def run_cli(*args, stdin: str | None = None, cwd=None):
    """The command line in a process of its own, forked from one that has imported the
    game (``forked_cli``); the entry points themselves are started for real below."""
    return forked_cli.completed(*args, stdin=stdin, cwd=cwd)


@pytest.fixture
def launch_script(tmp_path, catalogue) -> Path:
    """Chapter 1's reference solution as a script file."""
    path = tmp_path / "launch.txt"
    path.write_text("\n".join(catalogue.get("launch").solution) + "\n")
    return path


@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    """`cloudquest validate --no-run` of the shipped levels, run once for the tests that
    read it: every chapter, the quiz bank (its predict questions computed) and every
    scenario loaded and checked. Proving each chapter (solution passes, empty run fails)
    is tests/test_chapters.py's, in process, on runs the suite shares."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLOUDQUEST_HOME", str(tmp_path_factory.mktemp("cq-home")))
        return run_cli("validate", "--no-run")


def test_play_solution_json_has_the_promised_keys_and_exit_0(launch_script):
    out = run_cli("play", "launch", "--script", str(launch_script), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("chapter", "seed", "passed", "objectives", "metrics", "transcript", "event_log_sha256"):
        assert key in data
    assert data["passed"] is True and data["chapter"] == "launch"
    assert {"id", "text", "passed", "evidence"} <= set(data["objectives"][0])
    assert data["transcript"][0]["command"].startswith("launch")
    assert "InsufficientInstanceCapacity" in data["transcript"][0]["output"]


def test_play_empty_script_fails_with_exit_1_and_evidence(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    out = run_cli("play", "launch", "--script", str(empty))
    assert out.returncode == 1
    assert "✘ FAIL" in out.stdout and "never reached by the end" in out.stdout


def test_play_reads_the_script_from_stdin(catalogue):
    chapter = catalogue.get("launch")
    out = run_cli("play", "1", "--script", "-", "--json", stdin="\n".join(chapter.solution))
    assert out.returncode == 0 and json.loads(out.stdout)["passed"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["play", "no-such-chapter", "--script", "-"], "no chapter 'no-such-chapter' (chapters: 0:big-realization, 1:launch"),
        (["play", "launch", "--script", "/no/such/file"], "cannot read script /no/such/file"),
        (["play", "launch", "--seed", "abc"], "a seed is a whole number from 0 to"),
        (["play", "sandbox"], "the sandbox needs a world"),
        (["replay", "/no/such/replay.json"], "cannot read"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, fragment):
    out = run_cli(*args, stdin="")
    assert out.returncode == 2
    assert fragment in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_record_then_replay_gives_the_same_hash(tmp_path, launch_script):
    rec = tmp_path / "run.json"
    out = run_cli("play", "launch", "--script", str(launch_script), "--seed", "9", "--json", "--record", str(rec))
    original = json.loads(out.stdout)["event_log_sha256"]
    again = run_cli("replay", str(rec), "--json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["event_log_sha256"] == original and data["replay_matches"] is True


def test_an_edited_replay_is_refused_clearly(tmp_path, launch_script):
    rec = tmp_path / "run.json"
    run_cli("play", "launch", "--script", str(launch_script), "--record", str(rec))
    data = json.loads(rec.read_text())
    data["commands"].insert(1, {"t_ms": 0, "line": "terminate legacy-1"})
    rec.write_text(json.dumps(data))
    out = run_cli("replay", str(rec))
    assert out.returncode == 2
    assert "replay does not match: event log differs" in out.stderr


def test_not_a_replay_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{\"hello\": 1}")
    out = run_cli("replay", str(bad), "--json")
    assert out.returncode == 2 and "not a CloudQuest replay" in out.stderr


def test_list_shows_chapters_and_progress(launch_script):
    run_cli("play", "launch", "--script", str(launch_script))
    out = run_cli("list", "--json")
    data = json.loads(out.stdout)
    rows = {r["id"]: r for r in data["chapters"]}
    assert rows["launch"]["progress"].startswith("completed")
    assert rows["big-realization"]["progress"] == "new"
    assert "resource scheduling" in data["skills_earned"]


@pytest.mark.xdist_group("validate")  # one worker: one validate run
def test_validate_the_shipped_levels_checks_every_file(validated):
    out = validated
    assert out.returncode == 0, out.stdout
    for level in LEVELS.glob("*.yaml"):
        assert f"ok    {level}" in out.stdout, level.name


def test_validate_proves_a_chapter_by_playing_it():
    out = run_cli("validate", str(LEVELS / "00-big-realization.yaml"))
    assert out.returncode == 0, out.stdout
    assert "chapter 0 big-realization, solution passes, empty run fails" in out.stdout


def test_schema_is_json_schema_of_a_chapter():
    out = run_cli("schema")
    schema = json.loads(out.stdout)
    assert set(schema["required"]) >= {"id", "title", "number", "objectives", "solution"}
    assert schema["additionalProperties"] is False


def test_sandbox_enables_every_command_and_has_no_objectives(tmp_path):
    world = tmp_path / "world.yaml"
    world.write_text(
        "regions:\n  - name: r\n    zones:\n      - name: z\n        racks: [{name: k, hosts: [{count: 2, vcpus: 8, ram_gib: 32}]}]\n"
    )
    out = run_cli("play", "sandbox", "--world", str(world), "--script", "-", "--json", stdin="launch --name a\ntrace a\ntick 20\n")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["objectives"] == [] and all(t["ok"] for t in data["transcript"])


def test_sandbox_world_errors_have_file_and_line(tmp_path):
    world = tmp_path / "world.yaml"
    world.write_text("regions:\n  - name: r\n    zones:\n      - name: z\n        rackz: []\n")
    out = run_cli("play", "sandbox", "--world", str(world))
    assert out.returncode == 2 and f"{world}:5: unknown key 'rackz'" in out.stderr


def test_progress_export_import_reset(tmp_path, capsys, launch_script):
    assert main(["play", "launch", "--script", str(launch_script)]) == 0
    export = tmp_path / "export.json"
    assert main(["progress", "export", str(export)]) == 0
    assert main(["progress", "reset", "--yes"]) == 0
    assert main(["list", "--json"]) == 0
    assert main(["progress", "import", str(export), "--yes"]) == 0
    capsys.readouterr()
    main(["list", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert {r["id"]: r for r in data["chapters"]}["launch"]["progress"].startswith("completed")
    assert main(["progress", "reset", "launch", "--yes"]) == 0


def test_progress_reset_without_yes_asks_and_refuses_without_a_terminal(tmp_path):
    out = run_cli("progress", "reset", stdin="")
    assert out.returncode == 2 and "needs confirmation: add --yes" in out.stderr


def test_progress_import_of_garbage_changes_nothing(tmp_path, capsys, launch_script):
    main(["play", "launch", "--script", str(launch_script)])
    junk = tmp_path / "junk.json"
    junk.write_text("[1, 2, 3]")
    assert main(["progress", "import", str(junk), "--yes"]) == 2
    capsys.readouterr()
    main(["list", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert {r["id"]: r for r in data["chapters"]}["launch"]["progress"].startswith("completed")


def test_installed_wheel_bundles_levels_and_assets(tmp_path):
    """A non-editable install must find levels/ and assets/ (they ship inside the wheel).
    The wheel is built offline with the build backend the [test] extra installs
    (hatchling), so a packaging regression fails here rather than being skipped."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(root)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, f"cannot build the wheel: {out.stderr}"
    import zipfile

    wheel = next(tmp_path.glob("cloudquest-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for level in LEVELS.glob("*.yaml"):
        assert f"cloudquest/_bundled/levels/{level.name}" in names
    assert any(n.startswith("cloudquest/_bundled/assets/") for n in names)
    # Installed where the source tree is not, the game finds its chapters inside itself.
    target = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    probe = "from cloudquest.game.locations import levels_dir; from cloudquest.game.chapters import load_all; print(levels_dir()); print(len(load_all().chapters))"
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    where, count = out.stdout.split()
    assert Path(where) == target / "cloudquest" / "_bundled" / "levels"
    assert int(count) == len(list(LEVELS.glob("[0-9]*.yaml")))


@pytest.mark.xdist_group("validate")  # one worker: one validate run
def test_validate_checks_scenario_files_too(tmp_path, validated):
    out = validated
    assert "scenarios/disk-storm.yaml: failure scenario" in out.stdout
    bad = tmp_path / "scenarios" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text((LEVELS / "scenarios" / "zone-outage.yaml").read_text().replace("title:", "titel:", 1))
    out = run_cli("validate", str(bad))
    assert out.returncode == 2 and f"{bad}:" in out.stdout and "unknown key 'titel'" in out.stdout


def test_validate_tells_a_file_by_its_keys_not_its_folder(tmp_path):
    scenario = tmp_path / "elsewhere" / "my-outage.yaml"
    scenario.parent.mkdir()
    shutil.copy(LEVELS / "scenarios" / "zone-outage.yaml", scenario)
    chapter = tmp_path / "scenarios" / "01-launch.yaml"
    chapter.parent.mkdir()
    shutil.copy(LEVELS / "01-launch.yaml", chapter)
    out = run_cli("validate", "--no-run", str(scenario), str(chapter))
    assert out.returncode == 0, out.stdout
    assert f"ok    {scenario}: failure scenario" in out.stdout
    assert f"ok    {chapter}: chapter 1 launch" in out.stdout
