"""Hostile input through the real command line: one clear line, the documented exit code,
nothing half-written and nothing lost.

Every case runs the command line in a process of its own (forked from one that has
imported the game, see ``forked_cli``; a fresh interpreter where it must be) with its own
``CLOUDQUEST_HOME``,
a timeout, and an address-space limit (``RLIMIT_AS``), and must finish in under five
seconds, print no traceback, exit with the code the README documents and say what is
wrong in one line. The small files are in ``tests/hostile/``; the huge ones (a 50 MB
chapter, 100,000 levels of nesting, 300,000 chapters) are made at test time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import forked_cli
import pytest

from cloudquest.game.chapters import load_all

CORPUS = Path(__file__).parent / "hostile"
LEVELS = Path(__file__).resolve().parent.parent / "levels"
MEMORY_LIMIT = 1 << 30  # address space; a run of the game needs about a tenth of it
MAX_SECONDS = 5.0


@dataclass
class Ran:
    code: int
    out: str
    err: str
    seconds: float


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(*args: str, home: Path, stdin: bytes = b"", env: dict[str, str] | None = None, preexec: Callable | None = None, close_stdin: bool = False) -> Ran:
    """The command line with ``args``: forked from a process that has imported the game
    (see ``forked_cli``); with ``preexec`` (which must run before a fresh interpreter
    starts) in a subprocess of its own."""
    environ = {**os.environ, "CLOUDQUEST_HOME": str(home), **(env or {})}
    if preexec is None:
        code, out, err, seconds = forked_cli.run(list(args), environ, stdin=stdin, memory=MEMORY_LIMIT, close_stdin=close_stdin)
    else:
        def setup() -> None:
            _limit_memory()
            preexec()

        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "cloudquest", *args], input=stdin, capture_output=True, timeout=30, env=environ, preexec_fn=setup)
        code, out, err, seconds = done.returncode, done.stdout, done.stderr, time.perf_counter() - start
    ran = Ran(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), seconds)
    assert "Traceback" not in ran.out + ran.err, ran.err
    assert ran.seconds < MAX_SECONDS, f"took {ran.seconds:.1f} s"
    return ran


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {text!r}"
    return lines[0]


# -- making the huge files -------------------------------------------------------------------
def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def make_huge_chapter(path: Path) -> None:
    """50 MB of valid chapter text (a story that goes on and on)."""
    text = (LEVELS / "01-launch.yaml").read_text()
    filler = "  The control plane claims CPU and RAM, then a disk block, then a network card.\n"
    with path.open("w") as f:
        f.write(text.replace("story: |\n", "story: |\n" + filler * (50_000_000 // len(filler)), 1))


def make_many_chapters(n: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_text(json.dumps({"format": 1, "chapters": {f"made-up-{i}": {} for i in range(n)}}))

    return make


# -- the cases ---------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    args: list[str]  # "{file}" is the case's file, "{tmp}" a scratch folder
    code: int
    says: str  # what the one line must name
    file: str | None = None  # a file in tests/hostile/
    make: Callable[[Path], None] | None = None  # or a file made at test time
    suffix: str = ".json"
    save: bool = False  # the file goes in as the player's save
    stdin: bytes = b""
    env: dict[str, str] = field(default_factory=dict)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


SAVE_CASES = [
    Case("save-5000-digit-number", ["list"], 0, "a number of 5000 characters", file="save-5000-digit-number.json", save=True),
    Case("save-newer-format", ["list"], 0, "written by a newer CloudQuest: format 99", file="save-newer-format.json", save=True),
    Case("save-deep-nesting", ["list"], 0, "nested more than 64 levels deep", make=lambda p: p.write_text(deep_json(100_000)), save=True),
    Case("save-is-a-fifo", ["list"], 0, "the save is a pipe, not a regular file", make=_fifo, save=True),
    Case("save-links-to-dev-zero", ["list"], 0, "the save is a device or socket", make=_dev_zero, save=True),
    Case("save-too-big", ["list"], 0, "the limit is 1 MiB", make=make_many_chapters(100_000), save=True),
]

IMPORT = ["progress", "import", "{file}", "--yes"]
IMPORT_CASES = [
    Case("import-negative-attempts", IMPORT, 2, "chapters.launch.attempts: Input should be greater than or equal to 0", file="import-negative-attempts.json"),
    Case("import-best-999", IMPORT, 2, "chapters.launch.best_passed: Input should be less than or equal to 100", file="import-best-999.json"),
    Case("import-best-over-objectives", IMPORT, 2, "chapter launch: 9 objectives counted; it has 3", file="import-best-over-objectives.json"),
    Case("import-quiz-1000", IMPORT, 2, "quiz.best_pct: Input should be less than or equal to 100", file="import-quiz-1000.json"),
    Case("import-control-keys", IMPORT, 2, "chapters.'la\\x00unch'.[key]: String should match pattern", file="import-control-keys.json"),
    Case("import-unearned-skill", IMPORT, 2, "chapter launch: it does not teach isolation layers", file="import-unearned-skill.json"),
    Case("import-string-number", IMPORT, 2, "chapters.launch.attempts: Input should be a valid integer", file="import-string-number.json"),
    Case("import-5000-digit-number", IMPORT, 2, "a number of 5000 characters", file="save-5000-digit-number.json"),
    Case("import-newer-format", IMPORT, 2, "made by a newer CloudQuest (format 99; this one reads format 1)", file="save-newer-format.json"),
    Case("import-deep-nesting", IMPORT, 2, "nested more than 64 levels deep", make=lambda p: p.write_text(deep_json(100_000))),
    Case("import-300000-chapters", IMPORT, 2, "the limit is 1 MiB", make=make_many_chapters(300_000)),
    Case("import-1001-chapters", IMPORT, 2, "chapters: Dictionary should have at most 1000 items", make=make_many_chapters(1001)),
    Case("import-fifo", IMPORT, 2, "the export is a pipe, not a regular file", make=_fifo),
]

REPLAY = ["replay", "{file}", "--headless"]
REPLAY_CASES = [
    Case("replay-bad-world", REPLAY, 2, "the replay's world is not valid: world.regions.0.zones.0.racks", file="replay-bad-world.json"),
    Case("replay-scenario-list", REPLAY, 2, "scenario: Input should be a valid string", file="replay-scenario-list.json"),
    Case("replay-5000-digit-seed", REPLAY, 2, "a number of 5000 characters", file="replay-5000-digit-seed.json"),
    Case("replay-seed-fraction", REPLAY, 2, "seed: Input should be a valid integer", file="replay-seed-fraction.json"),
    Case("replay-far-future", REPLAY, 2, "t_ms: Input should be less than or equal to 2592000000", file="replay-far-future.json"),
    Case("replay-deep-nesting", REPLAY, 2, "nested more than 64 levels deep", make=lambda p: p.write_text('{"format": "cloudquest-replay", "x": ' + deep_json(100_000) + "}")),
    Case("replay-links-to-dev-zero", REPLAY, 2, "the replay is a device or socket", make=_dev_zero),
]

VALIDATE = ["validate", "--no-run", "{file}"]
CHAPTER_CASES = [
    Case("alias-bomb", VALIDATE, 2, "too many values once aliases are expanded", file="alias-bomb.yaml"),
    Case("recursive-alias", VALIDATE, 2, "nested more than 64 levels deep once aliases are expanded", file="recursive-alias.yaml"),
    Case("python-tag", VALIDATE, 2, "the tag !!python/object/apply:os.system is not allowed", file="python-tag.yaml"),
    Case("number-5000-digits", VALIDATE, 2, "a number of 5000 characters", file="number-5000-digits.yaml"),
    Case("impossible-date", VALIDATE, 2, "cannot read '2024-13-45' as !!timestamp", file="impossible-date.yaml"),
    Case("yaml-20000-levels", VALIDATE, 2, "nested more than 64 levels deep", suffix=".yaml",
         make=lambda p: p.write_text("id: deep\nworld: " + "[" * 20_000 + "]" * 20_000 + "\n")),
    Case("yaml-20000-block-levels", VALIDATE, 2, "nested more than 64 levels deep", suffix=".yaml",
         make=lambda p: p.write_text("".join("  " * i + "- \n" for i in range(300)))),
    Case("chapter-50-mb", VALIDATE, 2, "the limit is 1 MiB", suffix=".yaml", make=make_huge_chapter),
    Case("chapter-is-a-fifo", VALIDATE, 2, "the file is a pipe, not a regular file", suffix=".yaml", make=_fifo),
    Case("sandbox-world-python-tag", ["play", "sandbox", "--world", "{file}"], 2, "the tag !!python/object/apply:os.system", file="python-tag.yaml"),
    Case("world-subnet-29", ["play", "sandbox", "--world", "{file}"], 2, "subnet 10.0.0.0/29: a /29 is too small; AWS allows /16 to /28", file="world-subnet-29.yaml"),
    Case("world-200000-hosts", ["play", "sandbox", "--world", "{file}"], 2, "the world has 200000 hosts; a world may have at most 20000", file="world-200000-hosts.yaml"),
    Case("world-unplaceable-object", ["play", "sandbox", "--world", "{file}"], 2, "the world of sandbox cannot be built: InsufficientCapacity: world section storage: chunk 0 of logs needs 3 hosts", file="world-unplaceable-object.yaml"),
]

SEEDS = ["scenario", "compare", "zone-outage", "--design", "chapter:failure-design", "--design", "chapter:failure-design", "--seeds"]
CLI_CASES = [
    Case("seeds-past-64-bits", [*SEEDS, "1..18446744073709551616"], 2, "seeds must look like 1..5"),
    Case("seeds-spaced", [*SEEDS, "1 .. 5"], 2, "seeds must look like 1..5"),
    Case("seeds-arabic-indic", [*SEEDS, "\u0661..\u0665"], 2, "seeds must look like 1..5"),
    Case("seeds-empty-item", [*SEEDS, "1,,3"], 2, "seeds must look like 1..5"),
    Case("seed-fraction", ["play", "launch", "--seed", "1.5"], 2, "a seed is a whole number from 0 to"),
    Case("record-into-missing-folder", ["play", "launch", "--script", "-", "--record", "{tmp}/no/such/dir/r.json"], 2, "there is no folder"),
    Case("script-not-utf8-stdin", ["play", "launch", "--script", "-"], 2, "cannot read script stdin:2: not UTF-8 text (byte 0xff)",
         stdin=b"status\n\xff\xfe\n", env={"PYTHONIOENCODING": "utf-8"}),
    Case("script-not-utf8-file", ["play", "launch", "--script", "{file}"], 2, "script-not-utf8.txt:2: not UTF-8 text", file="script-not-utf8.txt"),
    Case("script-endless", ["play", "launch", "--script", "/dev/zero"], 2, "script /dev/zero is over the limit of 4 MiB"),
    Case("reset-with-stdin-closed", ["progress", "reset"], 2, "needs confirmation: add --yes"),
]

ALL = SAVE_CASES + IMPORT_CASES + REPLAY_CASES + CHAPTER_CASES + CLI_CASES


def _place(case: Case, tmp: Path, home: Path) -> Path | None:
    if case.file is None and case.make is None:
        return None
    name = case.file or f"{case.id}{case.suffix}"
    target = home / "progress.json" if case.save else tmp / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if case.file is not None:
        shutil.copy(CORPUS / case.file, target)
    else:
        case.make(target)
    return target


def _kept(path: Path) -> bytes | str:
    """What a save holds, to check it is kept: its bytes, or what a link or FIFO is."""
    if path.is_symlink():
        return f"link to {os.readlink(path)}"
    if path.is_fifo():
        return "fifo"
    return path.read_bytes()


def test_every_corpus_file_is_used():
    used = {c.file for c in ALL if c.file} | {script for _, script, _ in CONSOLE_CASES}
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(used)


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_hostile_input_is_one_clear_line(case: Case, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    path = _place(case, tmp_path, home)
    before = _kept(path) if case.save else None
    args = [a.replace("{file}", str(path)).replace("{tmp}", str(tmp_path)) for a in case.args]
    ran = run_cli(*args, home=home, stdin=case.stdin, env=case.env, close_stdin=case.id == "reset-with-stdin-closed")
    assert ran.code == case.code, ran.out + ran.err
    if args[0] == "validate":  # validate reports FILE:LINE: ... on stdout, then a count
        assert ran.err == ""
        assert any(line.startswith(f"{path}:") and case.says in line for line in ran.out.splitlines()), ran.out
        return
    line = one_line(ran.err)
    assert line.startswith("cloudquest: ") and case.says in line, line
    if case.save:  # set aside whole, and a fresh save started
        kept = [p for p in home.iterdir() if p.name.startswith("progress.json.")]
        assert [p.name for p in kept if not p.name.endswith(".lock")] in (["progress.json.corrupt-1"], ["progress.json.newer-1"])
        assert _kept(next(p for p in kept if not p.name.endswith(".lock"))) == before
        assert not (home / "progress.json").exists()
    elif case.args[:2] == ["progress", "import"]:  # nothing written
        assert not (home / "progress.json").exists()
    if case.id == "record-into-missing-folder":
        assert not (tmp_path / "no").exists()


# -- console lines -------------------------------------------------------------------------------
def _transcript(ran: Ran) -> list[dict]:
    return json.loads(ran.out)["transcript"]


CONSOLE_CASES = [
    ("storage", "script-huge-numbers.txt", ["size: a number of 400 digits (at most 15)"] * 2),
    ("launch", "script-odd-numbers.txt", ["seconds must be a number in digits 0-9"] * 4),
    ("launch", "script-unicode-line-breaks.txt", ["unknown command 'status\\u2028launch'", "unknown command 'status\\x0claunch'",
                                                  "unknown command 'status\\x0blaunch'", "unknown command 'status\\x85launch'"]),
]


@pytest.mark.parametrize("chapter, script, says", CONSOLE_CASES, ids=[c[1].removesuffix(".txt") for c in CONSOLE_CASES])
def test_hostile_console_lines_are_refused_one_by_one(chapter, script, says, tmp_path):
    ran = run_cli("play", chapter, "--script", str(CORPUS / script), "--json", "--no-save", home=tmp_path)
    assert ran.code == 1  # the run is played and graded (it fails its objectives)
    transcript = _transcript(ran)
    assert [t.get("error") for t in transcript] == ["input"] * len(says)  # one line each: nothing smuggled in
    for t, fragment in zip(transcript, says):
        assert fragment in t["output"] and "\n" not in t["output"]
    data = json.loads(ran.out)
    assert data["end_s"] == 0 and not [m for m in data["metrics"] if "smuggled" in m]


# -- the terminal: a closed pipe, end of input at a prompt ----------------------------------------
@pytest.mark.parametrize(
    "args",
    [["progress", "show"], ["schema"], ["scenario", "list"], ["play", "storage", "--script", "-", "--no-save"]],
    ids=["progress-show", "schema", "scenario-list", "play"],
)
def test_a_reader_that_goes_away_ends_the_command_quietly(args, tmp_path):
    """``cloudquest ... | head -1``: exit 141 (as SIGPIPE would), nothing on stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudquest", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CLOUDQUEST_HOME": str(tmp_path)},
        preexec_fn=_limit_memory,
    )
    proc.stdout.close()  # the reader is gone before a byte is written (head -1 after its line)
    proc.stdin.write(b"help\n" * 50)
    proc.stdin.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 141
    assert err.strip() in ("", "skills earned: none yet"), err


def test_end_of_input_at_the_reset_prompt_changes_nothing(tmp_path):
    import pty

    solution = "\n".join(load_all().get("launch").solution) + "\n"
    run_cli("play", "launch", "--script", "-", home=tmp_path, stdin=solution.encode())
    saved = (tmp_path / "progress.json").read_bytes()
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudquest", "progress", "reset"],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CLOUDQUEST_HOME": str(tmp_path)},
    )
    os.close(follower)
    os.write(leader, b"\x04")  # ctrl+d: end of input at the prompt
    out, err = proc.communicate(timeout=30)
    os.close(leader)
    assert proc.returncode == 0 and b"Traceback" not in err
    assert b"nothing changed" in out
    assert (tmp_path / "progress.json").read_bytes() == saved


# -- a folder the game may not write -------------------------------------------------------------
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, PR_CAPBSET_DROP = 1, 2, 3, 24


def _without_root_overrides() -> None:
    """Root writes into any folder; drop the capabilities that let it (from the bounding
    set, so the game started next runs without them) and a read-only folder is one."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            os._exit(77)


@pytest.fixture
def read_only_home(tmp_path):
    """A save folder the game may not write, and how to start the game so it cannot."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    as_player = _without_root_overrides if os.geteuid() == 0 else None
    if as_player is not None:
        probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=as_player)
        if probe.returncode == 77:
            pytest.skip("running as root without the right to drop root's file-permission override")
    yield folder, as_player
    folder.chmod(0o755)


def test_read_only_folder_keeps_a_corrupt_save_and_says_so(read_only_home):
    folder, as_player = read_only_home
    (folder / "progress.json").write_bytes(b"{not json")
    folder.chmod(0o555)
    ran = run_cli("list", home=folder, preexec=as_player)
    assert ran.code == 0
    assert "nor moved aside (Permission denied); it is left as it is" in one_line(ran.err)
    assert (folder / "progress.json").read_bytes() == b"{not json"


@pytest.mark.parametrize(
    "args, code, says",
    [
        (["play", "launch", "--script", "-"], 0, "cloudquest: could not save progress: Permission denied"),
        (["progress", "reset", "--yes"], 2, "cloudquest: cannot save progress: Permission denied"),
        (["progress", "import", "{export}", "--yes"], 2, "cloudquest: cannot save progress: Permission denied"),
    ],
)
def test_read_only_folder_is_one_line_and_nothing_changes(read_only_home, args, code, says, tmp_path):
    folder, as_player = read_only_home
    good = {"format": 1, "chapters": {"launch": {"attempts": 1}}}
    (folder / "progress.json").write_text(json.dumps(good))
    export = folder / "export.json"
    export.write_text(json.dumps({"format": 1, "chapters": {}}))
    folder.chmod(0o555)
    solution = "\n".join(load_all().get("launch").solution) + "\n"
    ran = run_cli(*[a.replace("{export}", str(export)) for a in args], home=folder, stdin=solution.encode(), preexec=as_player)
    assert ran.code == code
    assert one_line(ran.err) == says
    assert json.loads((folder / "progress.json").read_text()) == good
