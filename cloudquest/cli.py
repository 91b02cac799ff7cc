"""The ``cloudquest`` command: the terminal game by default, headless verbs for scripts,
tests and chapter authors.

Exit codes: 0 success (every objective passed), 1 a run that failed an objective,
2 bad input (unknown chapter, unreadable file, invalid chapter, a replay that does not
match), 130 interrupted (ctrl+c), 141 the reader of the output went away (``| head``).
Bad input is one line on stderr: ``cloudquest: ...`` or ``FILE:LINE: ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED = 130  # ctrl+c (128 + SIGINT)
EXIT_BROKEN_PIPE = 141  # the reader of the output went away (128 + SIGPIPE)


class CliError(Exception):
    """Bad input to the command line: printed as one line, exit code 2."""


def _err(message: str) -> None:
    print(f"cloudquest: {message}", file=sys.stderr)


def _read_script(source: str) -> list[str]:
    """A script's lines, from a file or ``-`` (stdin): UTF-8, at most MAX_SCRIPT_BYTES,
    split on newlines only (see :func:`split_lines`). A pipe or ``/dev/stdin`` works; a
    file that never ends is cut at the limit."""
    from .game.limits import MAX_SCRIPT_BYTES, mib
    from .game.parser import split_lines
    from .game.userfiles import UserFileError, decode_utf8

    name = "stdin" if source == "-" else source
    try:
        if source == "-":
            if sys.stdin is None or sys.stdin.closed:
                raise CliError("cannot read the script from stdin: there is no standard input")
            data = sys.stdin.buffer.read(MAX_SCRIPT_BYTES + 1)
        else:
            with open(source, "rb") as f:
                data = f.read(MAX_SCRIPT_BYTES + 1)
    except OSError as exc:
        raise CliError(f"cannot read script {name}: {exc.strerror or exc}") from None
    if len(data) > MAX_SCRIPT_BYTES:
        raise CliError(f"script {name} is over the limit of {mib(MAX_SCRIPT_BYTES)}")
    try:
        return split_lines(decode_utf8(data, name))
    except UserFileError as exc:
        raise CliError(f"cannot read script {exc}") from None


def _check_record_target(record: str | None) -> None:
    """Refuse a replay path that cannot be written before the run, not after it."""
    if record is None:
        return
    target = Path(record)
    if not target.parent.is_dir():
        raise CliError(f"cannot write the replay {record}: there is no folder {target.parent}")
    if target.is_dir():
        raise CliError(f"cannot write the replay {record}: it is a folder")


def _catalogue():
    from .game.chapters import load_all

    catalogue = load_all()
    for problem in catalogue.problems:
        _err(f"skipped a broken chapter: {problem}")
    return catalogue


def _chapter(ident: str, world: str | None = None):
    from .game.chapters import ChapterError, load_chapter
    from .game.session import SANDBOX_ID

    if ident == SANDBOX_ID:
        if world is None:
            raise CliError("the sandbox needs a world: cloudquest play sandbox --world FILE.yaml")
        return sandbox_chapter(world), True
    if world is not None:
        raise CliError("--world is only for the sandbox (cloudquest play sandbox --world FILE.yaml)")
    path = Path(ident)
    if ident.endswith((".yaml", ".yml")) and path.exists():
        try:
            return load_chapter(path), False
        except ChapterError as exc:
            raise CliError(str(exc)) from None
    catalogue = _catalogue()
    chapter = catalogue.get(ident)
    if chapter is None:
        known = ", ".join(f"{c.number}:{c.id}" for c in catalogue.chapters)
        raise CliError(f"no chapter {ident!r} (chapters: {known}, or sandbox)")
    return chapter, False


def sandbox_chapter(world_path: str):
    """A chapter with the given world, every command and no objectives."""
    from pydantic import ValidationError

    from .game.chapters import describe_errors
    from .game.schema import World
    from .game.session import free_play_chapter
    from .game.yamlfile import YamlError, load_file

    try:
        doc = load_file(world_path)
    except YamlError as exc:
        raise CliError(str(exc)) from None
    data = doc.data
    if isinstance(data, dict) and "world" in data and isinstance(data["world"], dict):
        data = data["world"]  # a chapter file works as a world too
    try:
        world = World.model_validate(data or {})
    except ValidationError as exc:
        raise CliError("\n".join(str(p) for p in describe_errors(exc, doc, World))) from None
    return free_play_chapter(world)


def _print_result(result, chapter, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    from .game.objectives import GLYPH

    if as_json:
        data = result.as_dict()
        data.update(extra or {})
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    print(f"chapter {chapter.number} {chapter.title!r}, seed {result.seed}")
    for t in result.transcript:
        print(f"> {t.line}")
        for line in t.output.splitlines():
            print(f"  {line}")
    if result.objectives:
        print("objectives:")
        for o in result.objectives:
            print(f"  {GLYPH['passed' if o.passed else 'failed']}  {o.id}: {o.text}")
            print(f"          {o.evidence}")
    passed = sum(o.passed for o in result.objectives)
    verdict = "PASSED" if result.passed else "FAILED"
    print(
        f"result: {verdict} ({passed}/{len(result.objectives)} objectives), t={result.end_ms / 1000:g}s, "
        f"{result.events} events, event log sha256 {result.event_log_sha256}"
    )
    for key, value in (extra or {}).items():
        print(f"{key}: {value}")


def cmd_play(args: argparse.Namespace) -> int:
    from .game import progress as progress_mod
    from .game.replay import record
    from .game.session import Session

    chapter, sandbox = _chapter(args.chapter, args.world)
    if args.script is None and not sandbox and not args.json and not args.record and sys.stdout.isatty():
        # No script: play it in the terminal game (a chapter file opens beside the others).
        from .tui import run_app

        path = Path(args.chapter)
        if args.chapter.endswith((".yaml", ".yml")) and path.exists():
            return run_app(chapter_file=path)
        return run_app(chapter=chapter.id)
    _check_record_target(args.record)
    lines = _read_script(args.script) if args.script else []
    session = Session(chapter, args.seed, sandbox=sandbox)
    path = Path(args.chapter)
    if not sandbox and args.chapter.endswith((".yaml", ".yml")) and path.exists():
        from .game.locations import levels_dir

        if path.resolve().parent != levels_dir().resolve():
            session.chapter_file = str(path.resolve())  # its replay finds it here
    session.run_script(lines)
    result = session.finish()
    if args.record:
        try:
            record(session, Path(args.record))
        except OSError as exc:
            raise CliError(f"cannot write the replay {args.record}: {exc.strerror or exc}") from None
    if not sandbox and not args.no_save:
        try:
            saved = progress_mod.record(chapter, result)
        except OSError as exc:
            _err(f"could not save progress: {exc.strerror or exc}")
        else:
            if saved.message:
                _err(saved.message)
            try:  # kept with the game's saved runs, the proof the certificate replays
                from .game.runs import save_run

                save_run(session)
            except OSError as exc:
                _err(f"could not save the run: {exc.strerror or exc}")
    _print_result(result, chapter, args.json)
    return EXIT_OK if result.passed else EXIT_FAILED


def cmd_replay(args: argparse.Namespace) -> int:
    from .game.replay import ReplayError, read, verify

    try:
        replay = read(Path(args.file))
    except ReplayError as exc:
        raise CliError(str(exc)) from None
    if not args.json and sys.stdout.isatty() and not args.headless:
        from .tui import run_app

        return run_app(replay_file=Path(args.file))
    try:
        outcome = verify(replay, _catalogue())
    except ReplayError as exc:
        raise CliError(str(exc)) from None
    extra = {"replay_matches": outcome.matches, "replay_problems": outcome.problems}
    ch = outcome.session.chapter
    _print_result(outcome.result, ch, args.json, extra)
    if not outcome.matches:
        for p in outcome.problems:
            _err(f"replay does not match: {p}")
        return EXIT_BAD_INPUT
    return EXIT_OK if outcome.result.passed else EXIT_FAILED


def cmd_list(args: argparse.Namespace) -> int:
    from .game import progress as progress_mod

    catalogue = _catalogue()
    loaded = progress_mod.load()
    if loaded.message:
        _err(loaded.message)
    prog = loaded.progress
    rows = []
    for c in catalogue.chapters:
        cp = prog.chapters.get(c.id)
        if cp is None:
            state = "new"
        elif cp.completed:
            state = f"completed (best {cp.best_passed}/{cp.objectives}, {cp.best_hints} hints)"
        else:
            state = f"tried {cp.attempts}x (best {cp.best_passed}/{cp.objectives})"
        rows.append({"number": c.number, "id": c.id, "title": c.title, "skills": list(c.skills), "progress": state})
    if args.json:
        print(json.dumps({"chapters": rows, "skills_earned": prog.skills_earned()}, indent=2))
        return EXIT_OK
    for r in rows:
        print(f"{r['number']:>2}  {r['id']:<18} {r['title']:<32} {r['progress']}")
        print(f"    skills: {', '.join(r['skills'])}")
    done = sum(1 for c in catalogue.chapters if prog.chapters.get(c.id, None) and prog.chapters[c.id].completed)
    print(f"{done}/{len(catalogue.chapters)} chapters, {len(prog.skills_earned())}/8 skills")
    return EXIT_OK if not catalogue.problems else EXIT_BAD_INPUT


def cmd_validate(args: argparse.Namespace) -> int:
    from .game.chapters import QUIZ_FILE, ChapterError, chapter_files, load_chapter_located, load_quiz, prove
    from .game.locations import levels_dir
    from .game.quiz import QuizError, check_bank
    from .game.scenarios import ScenarioError, load_scenario, scenario_files

    if args.paths:
        paths = [Path(p) for p in args.paths]
    else:
        paths = [*chapter_files(), levels_dir() / QUIZ_FILE, *scenario_files()]
    bad = 0
    for path in paths:
        try:
            kind = _file_kind(path)
            if kind == "quiz":
                bank = load_quiz(path)
                check_bank(bank)
                print(f"ok    {path}: {len(bank.questions)} questions")
                continue
            if kind == "scenario":
                load_scenario(path)
                print(f"ok    {path}: failure scenario")
                continue
            chapter, doc = load_chapter_located(path)
        except (ChapterError, ScenarioError) as exc:
            bad += 1
            for p in exc.problems:
                print(str(p))
            continue
        except QuizError as exc:
            bad += 1
            print(f"{path}:1: {exc}")
            continue
        problems = [] if args.no_run else prove(chapter, doc)
        if problems:
            bad += 1
            for p in problems:
                print(str(p))
        else:
            proven = "" if args.no_run else ", solution passes, empty run fails"
            print(f"ok    {path}: chapter {chapter.number} {chapter.id}{proven}")
    if bad:
        print(f"{bad} of {len(paths)} files have problems")
        return EXIT_BAD_INPUT
    return EXIT_OK


def _file_kind(path: Path) -> str:
    """What a YAML file is, told by its keys (not its folder or name): the chapter, the
    failure scenario or the quiz bank whose schema names most of them; a chapter when in
    doubt, so the chapter loader says what is wrong."""
    from .game.scenarios import Scenario
    from .game.schema import Chapter, QuizBank
    from .game.yamlfile import YamlError, load_file

    try:
        data = load_file(path).data
    except YamlError:
        return "chapter"
    keys = set(data) if isinstance(data, dict) else set()
    models = {"chapter": Chapter, "scenario": Scenario, "quiz": QuizBank}
    scores = {kind: len(keys & {f.alias or n for n, f in m.model_fields.items()}) for kind, m in models.items()}
    return max(scores, key=lambda kind: scores[kind])


def cmd_schema(args: argparse.Namespace) -> int:
    from .game.schema import Chapter, QuizBank

    model = QuizBank if args.quiz else Chapter
    print(json.dumps(model.model_json_schema(by_alias=True), indent=2))
    return EXIT_OK


def cmd_reference(args: argparse.Namespace) -> int:
    from .game.reference import reference, write_into

    if args.write is None:
        print(reference(), end="")
        return EXIT_OK
    try:
        changed = write_into(Path(args.write))
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"{args.write}: {'reference updated' if changed else 'reference already current'}")
    return EXIT_OK


def cmd_progress(args: argparse.Namespace) -> int:
    from .game import progress as progress_mod
    from .game.userfiles import UserFileError, write_json_atomic

    loaded = progress_mod.load()
    if loaded.message:
        _err(loaded.message)
    prog = loaded.progress
    if args.action == "show":
        print(json.dumps(prog.model_dump(mode="json"), indent=2, sort_keys=True))
        print(f"skills earned: {', '.join(prog.skills_earned()) or 'none yet'}", file=sys.stderr)
        return EXIT_OK
    if args.action == "export":
        if not args.target:
            raise CliError("progress export needs a FILE")
        try:
            write_json_atomic(Path(args.target), prog.model_dump(mode="json"))
        except OSError as exc:
            raise CliError(f"cannot write {args.target}: {exc.strerror or exc}") from None
        print(f"exported progress to {args.target}")
        return EXIT_OK
    if args.action == "import":
        if not args.target:
            raise CliError("progress import needs a FILE")
        try:
            new = progress_mod.read_export(Path(args.target), _catalogue().chapters)
        except UserFileError as exc:
            raise CliError(str(exc)) from None
        if not _confirm(args, f"replace your progress with {args.target}?"):
            print("nothing changed")
            return EXIT_OK
        _change_progress(lambda _current: new)
        aside = f"; kept aside, as chapters this game does not have: {', '.join(sorted(new.unknown))}" if new.unknown else ""
        print(f"imported progress from {args.target}{aside}")
        return EXIT_OK
    if args.action == "reset":
        what = f"chapter {args.target}" if args.target else "ALL progress"
        if args.target and args.target not in prog.chapters:
            raise CliError(f"no progress for chapter {args.target!r} (chapters with progress: {', '.join(prog.chapters) or 'none'})")
        if not _confirm(args, f"reset {what}?"):
            print("nothing changed")
            return EXIT_OK
        def reset(current):
            if not args.target:
                return progress_mod.Progress()
            current.chapters.pop(args.target, None)
            return current

        _change_progress(reset)
        print(f"reset {what}")
        return EXIT_OK
    raise CliError(f"unknown progress action {args.action!r} (show, export, import, reset)")


def _change_progress(change) -> None:
    """Apply a change the player confirmed to the save (under its lock)."""
    from .game import progress as progress_mod

    try:
        saved = progress_mod.update(change)
    except OSError as exc:
        raise CliError(f"cannot save progress: {exc.strerror or exc}") from None
    if saved.message:
        _err(saved.message)


def _confirm(args: argparse.Namespace, question: str) -> bool:
    """Ask on the terminal; no terminal (or stdin closed) needs --yes, end of input is no."""
    if args.yes:
        return True
    if sys.stdin is None or sys.stdin.closed or not sys.stdin.isatty():
        raise CliError(f"{question} needs confirmation: add --yes")
    try:
        answer = input(f"{question} [y/N] ").strip().lower()
    except (EOFError, UnicodeDecodeError):  # end of input, or bytes that are no answer: no
        print()
        return False
    return answer in ("y", "yes")


# -- failure scenarios ------------------------------------------------------------------------
def _scenario(name: str):
    from .game.scenarios import ScenarioError, find

    try:
        return find(name, _catalogue())
    except ScenarioError as exc:
        raise CliError(str(exc).removeprefix("scenario:0: ")) from None


def _design(loaded, design: str | None, chapter_id: str | None) -> tuple[list[str], str]:
    """The commands of a design: a file, ``chapter:ID`` (its reference solution), or the
    scenario's default."""
    from .game.scenarios import default_design

    if design is not None and chapter_id is not None:
        raise CliError("give either --design FILE or --chapter ID, not both")
    if design is not None and design.startswith("chapter:"):
        design, chapter_id = None, design.removeprefix("chapter:")
    if chapter_id is not None:
        chapter = _catalogue().get(chapter_id)
        if chapter is None:
            known = ", ".join(c.id for c in _catalogue().chapters)
            raise CliError(f"no chapter {chapter_id!r} (chapters: {known})")
        return list(chapter.solution), f"chapter {chapter.id}'s reference solution"
    if design is not None:
        return _read_script(design), design
    return default_design(loaded)


def _fmt_metric(value: Any) -> str:
    from .game.scenarios import fmt_metric

    return fmt_metric(value)


def cmd_scenario_missing(args: argparse.Namespace) -> int:
    raise CliError("scenario needs a verb: list, run NAME or compare NAME (see cloudquest scenario --help)")


def cmd_scenario_list(args: argparse.Namespace) -> int:
    from .game.scenarios import load_library

    library = load_library(catalogue=_catalogue())
    for problem in library.problems:
        _err(f"broken scenario: {problem}")
    rows = [
        {
            "name": s.name,
            "title": s.scenario.title,
            "world": s.base_chapter.id if s.base_chapter is not None else "inline",
            "faults": len(s.scenario.timeline),
            "run_s": s.scenario.run_s,
            "file": str(s.path),
        }
        for s in library.scenarios
    ]
    if args.json:
        print(json.dumps({"scenarios": rows, "problems": [str(p) for p in library.problems]}, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:<18} {r['title']:<40} world {r['world']}, {r['faults']} timeline entries, {r['run_s']} s")
    return EXIT_BAD_INPUT if library.problems else EXIT_OK


def _print_scenario_run(r) -> None:
    from .game.objectives import GLYPH

    res = r.result
    print(f"scenario {r.scenario.name} ({r.scenario.scenario.title}), seed {r.seed}, design: {r.design}")
    for line in r.rejected:
        print(f"  warning: design command rejected: {line.splitlines()[0]}")
    print("metrics:")
    reported = r.reported()
    width = max([20, *(len(name) for name in reported)])
    for name, value in reported.items():
        print(f"  {name:<{width}} {_fmt_metric(value)}")
    print(f"incidents ({len(r.incidents)}):")
    for inc in r.incidents:
        print(f"  {inc['evidence']}")
    print("objectives:")
    for o in res.objectives:
        print(f"  {GLYPH['passed' if o.passed else 'failed']}  {o.id}: {o.text}")
        print(f"          {o.evidence}")
    verdict = "SURVIVED" if res.passed else "FAILED"
    print(f"result: {verdict}, t={res.end_ms / 1000:g}s, {res.events} events, event log sha256 {res.event_log_sha256}")


def cmd_scenario_run(args: argparse.Namespace) -> int:
    from .game.scenarios import record_run, run

    _check_record_target(args.record)
    loaded = _scenario(args.name)
    lines, source = _design(loaded, args.design, args.chapter)
    r = run(loaded, lines, args.seed, source)
    if args.record:
        try:
            record_run(r, Path(args.record))
        except OSError as exc:
            raise CliError(f"cannot write the replay {args.record}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps(r.as_dict(), indent=2, sort_keys=True))
    else:
        _print_scenario_run(r)
    return EXIT_OK if r.result.passed else EXIT_FAILED


def cmd_scenario_compare(args: argparse.Namespace) -> int:
    from .game.scenarios import compare, comparison_lines, parse_seeds

    if not args.design or len(args.design) != 2:
        raise CliError("compare needs exactly two designs: --design A --design B (a file, or chapter:ID)")
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    loaded = _scenario(args.name)
    a = _design(loaded, args.design[0], None)
    b = _design(loaded, args.design[1], None)
    comparison = compare(loaded, (args.design[0], a[0]), (args.design[1], b[0]), seeds)
    if args.json:
        print(json.dumps(comparison.as_dict(), indent=2, sort_keys=True))
        return EXIT_OK
    print("\n".join(comparison_lines(comparison)))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """The game in a web browser: one game process per visitor (textual-serve)."""
    from .serve import serve

    if not 0 < args.port < 65536:
        raise CliError(f"--port must be from 1 to 65535, not {args.port}")
    print(f"CloudQuest in your browser: http://{args.host}:{args.port}/  (ctrl+c stops it)", flush=True)
    try:
        serve(args.host, args.port, _class_dir(args), args.public_url, warm=not args.no_warm)
    except OSError as exc:
        raise CliError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return EXIT_OK


def cmd_certificate(args: argparse.Namespace) -> int:
    """The completion check's tally: every saved run replayed, the quiz's best attempt;
    printed, or written as a Markdown or SVG certificate."""
    from .game import progress as progress_mod
    from .game import tally as tally_mod
    from .game.chapters import ChapterError, load_quiz
    from .game.runs import list_runs

    fmt = args.format or (Path(args.out).suffix.lstrip(".").lower() if args.out else "md")
    if fmt not in ("md", "svg"):
        raise CliError(f"no certificate format {fmt!r} (formats: md, svg)")
    loaded = progress_mod.load()
    if loaded.message:
        _err(loaded.message)
    try:
        bank = load_quiz()
    except ChapterError:
        bank = None
    tally = tally_mod.build(_catalogue(), loaded.progress, list_runs(), bank)
    for problem in tally.skipped:
        _err(f"run not counted: {problem}")
    text = tally_mod.render(tally, fmt)
    if args.out:
        try:
            tally_mod.write(Path(args.out), text)
        except OSError as exc:
            raise CliError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"wrote {args.out}: {sum(s.mastered for s in tally.skills)} of {len(tally.skills)} skills mastered")
    else:
        print(text, end="")
    return EXIT_OK if tally.complete else EXIT_FAILED


def cmd_quiz(args: argparse.Namespace) -> int:
    """The completion quiz headless: one question at a time, one answer line each from
    stdin (an option's number, a number, or an order such as 3 1 4 2); a line that is no
    answer is refused with what is valid, and the next line is read."""
    from .game import progress as progress_mod
    from .game.chapters import ChapterError, load_quiz
    from .game.interview import parse_order
    from .game.quiz import QuizError, QuizScore, prepare

    try:
        bank = load_quiz(args.file)
        asked = prepare(bank, args.seed, args.limit)
    except (ChapterError, QuizError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    score = QuizScore()
    stdin = iter(sys.stdin.readline, "")
    for n, q in enumerate(asked, 1):
        print(f"\n[{n}/{len(asked)}] ({', '.join(q.skills)}) {q.text}")
        if q.kind == "order":
            print("Order these steps (type their numbers, first step first):")
        for i, o in enumerate(q.options, 1):
            print(f"  {i}. {o}")
        while True:
            print("> ", end="", flush=True)
            line = next(stdin, None)
            if line is None:
                raise CliError(f"the answers ran out at question {n} of {len(asked)}")
            text = line.strip()
            try:
                if q.kind == "order":
                    response = parse_order(text, len(q.options))
                elif q.kind == "choice":
                    if not text.isdigit() or not 1 <= int(text) <= len(q.options):
                        raise ValueError(f"{text or 'nothing'} is not an option: type a number from 1 to {len(q.options)}")
                    response = int(text) - 1
                else:
                    response = float(text.replace(",", "."))
            except ValueError as exc:
                msg = str(exc) if q.kind != "predict" else f"{text or 'nothing'} is not a number: type one, like 8 or 13.5"
                print(msg)
                continue
            break
        ok = q.grade(response)
        score.add(q, ok)
        print("RIGHT" if ok else "WRONG", "-", q.explanation)
    passed = score.passed(bank.pass_mark_pct)
    print(f"\n{'PASSED' if passed else 'NOT YET'} {score.pct}% ({score.correct}/{score.total} right)")
    for skill, pct in score.skill_pct().items():
        print(f"  {skill}: {pct}%")
    if not args.no_save:
        right = list(score.right)

        def change(progress):
            qp = progress.quiz
            qp.attempts += 1
            if score.pct >= qp.best_pct:
                qp.best_pct = score.pct
                qp.per_skill_pct = score.skill_pct()
                qp.right = right
            qp.passed = qp.passed or passed
            return progress

        progress_mod.update(change)
    return EXIT_OK if passed else EXIT_FAILED


def _class_dir(args: argparse.Namespace):
    from .game.classroom import default_data_dir

    if args.data is None:
        return default_data_dir()
    path = Path(args.data).expanduser()
    if path.exists() and not path.is_dir():
        raise CliError(f"--data {args.data}: not a folder")
    return path


def cmd_class(args: argparse.Namespace) -> int:
    """The teacher's view: every student of a class served by `cloudquest serve`."""
    from .game import classroom
    from .serve import to_csv

    data_dir = _class_dir(args)
    header, rows = classroom.report_rows(classroom.report(data_dir))
    if args.csv:
        sys.stdout.write(to_csv(header, rows))
        return EXIT_OK
    if not rows:
        print(f"no students yet in {classroom.students_dir(data_dir)}")
        return EXIT_OK
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for line in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
    return EXIT_OK


def _seed(text: str) -> int:
    from .game.parser import parse_seed

    try:
        return parse_seed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, not a usage dump
        raise CliError(f"{message} (see cloudquest {self.prog.split()[-1] if ' ' in self.prog else ''} --help)".replace("  ", " "))


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="cloudquest", description="A terminal game about how a cloud works inside.")
    p.add_argument("--version", action="version", version=f"cloudquest {__version__}")
    sub = p.add_subparsers(dest="verb", parser_class=_Parser)

    play = sub.add_parser("play", help="play a chapter: in the terminal game, or headless from a script")
    play.add_argument("chapter", help="chapter id or number, a chapter file, or 'sandbox'")
    play.add_argument("--script", help="file of console commands, or - for stdin (without it, in a terminal, the chapter opens in the game)")
    play.add_argument("--seed", type=_seed, default=0)
    play.add_argument("--json", action="store_true", help="print one JSON object")
    play.add_argument("--record", metavar="FILE", help="write a replay file")
    play.add_argument("--world", metavar="FILE", help="the sandbox's world (YAML, chapter world format)")
    play.add_argument("--no-save", action="store_true", help="do not record the run in your progress")
    play.set_defaults(func=cmd_play)

    rp = sub.add_parser("replay", help="re-run a replay file and check it gives the same events")
    rp.add_argument("file")
    rp.add_argument("--json", action="store_true")
    rp.add_argument("--headless", action="store_true", help="never open the game, even in a terminal")
    rp.set_defaults(func=cmd_replay)

    ls = sub.add_parser("list", help="list chapters and your progress")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    va = sub.add_parser("validate", help="check chapter files (schema, solution passes, empty run fails)")
    va.add_argument("paths", nargs="*")
    va.add_argument("--no-run", action="store_true", help="check the schema only")
    va.set_defaults(func=cmd_validate)

    sc = sub.add_parser("schema", help="print the JSON Schema of a chapter file")
    sc.add_argument("--quiz", action="store_true", help="the quiz bank's schema instead")
    sc.set_defaults(func=cmd_schema)

    ref = sub.add_parser("reference", help="print every world section, command, metric and event kind (Markdown)")
    ref.add_argument("--write", metavar="FILE", help="put it between the reference markers of FILE (docs/authoring.md)")
    ref.set_defaults(func=cmd_reference)

    pr = sub.add_parser("progress", help="show, export, import or reset your progress")
    pr.add_argument("action", choices=("show", "export", "import", "reset"))
    pr.add_argument("target", nargs="?", help="FILE for export/import, CHAPTER for reset")
    pr.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    pr.set_defaults(func=cmd_progress)

    sv = sub.add_parser("serve", help="play in a web browser: serve the game over HTTP (textual-serve)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    sv.add_argument("--data", help="the class's folder: one folder per student (default: classroom/ in your data folder)")
    sv.add_argument("--public-url", help="the address students open, when a reverse proxy stands in front (https://...)")
    sv.add_argument("--no-warm", action="store_true",
                    help="start every game from nothing, not as a fork of the warm game process (slower)")
    sv.set_defaults(func=cmd_serve)

    cl = sub.add_parser("class", help="the teacher's view of a class served by `cloudquest serve`")
    cl.add_argument("action", choices=("show",))
    cl.add_argument("--csv", action="store_true", help="as CSV, for a spreadsheet")
    cl.add_argument("--data", help="the class's folder (as given to `cloudquest serve --data`)")
    cl.set_defaults(func=cmd_class)

    scn = sub.add_parser("scenario", help="failure scenarios: list, run one against a design, compare two designs")
    scn_sub = scn.add_subparsers(dest="scenario_verb", parser_class=_Parser)
    scn.set_defaults(func=cmd_scenario_missing)
    sl = scn_sub.add_parser("list", help="list the scenario library")
    sl.add_argument("--json", action="store_true")
    sl.set_defaults(func=cmd_scenario_list)
    sr = scn_sub.add_parser("run", help="play a scenario against a design headless")
    sr.add_argument("name", help="scenario name, or a scenario file")
    sr.add_argument("--design", metavar="FILE", help="a file of console commands (or chapter:ID)")
    sr.add_argument("--chapter", metavar="ID", help="use this chapter's reference solution as the design")
    sr.add_argument("--seed", type=_seed, default=0)
    sr.add_argument("--json", action="store_true")
    sr.add_argument("--record", metavar="FILE", help="write a replay file")
    sr.set_defaults(func=cmd_scenario_run)
    sp = scn_sub.add_parser("compare", help="run two designs under the same seeds, metric by metric")
    sp.add_argument("name", help="scenario name, or a scenario file")
    sp.add_argument("--design", action="append", metavar="FILE", help="give twice: A then B (a file, or chapter:ID)")
    sp.add_argument("--seeds", default="1..5", help="1..5 (default), 1,3,7 or 4")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=cmd_scenario_compare)
    qz = sub.add_parser("quiz", help="take the completion quiz headless: one answer line per question from stdin")
    qz.add_argument("--seed", type=_seed, default=1, help="the shuffle of questions and options")
    qz.add_argument("--limit", type=int, default=None, help="ask only this many questions")
    qz.add_argument("--file", default=None, help="a quiz bank other than the installed one")
    qz.add_argument("--no-save", action="store_true", help="do not record the attempt in your progress")
    qz.set_defaults(func=cmd_quiz)

    ce = sub.add_parser("certificate", help="the completion check: your skills, what proved each, the runs to replay")
    ce.add_argument("--out", metavar="FILE", help="write the certificate here (its format from --format or the suffix)")
    ce.add_argument("--format", choices=("md", "svg"), help="md (default) or svg")
    ce.set_defaults(func=cmd_certificate)
    return p


def main(argv: list[str] | None = None) -> int:
    from .game.session import WorldError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.verb is None:
            from .tui import run_app

            return run_app()
        code = args.func(args)
        sys.stdout.flush()  # a reader that went away is found out here, not at exit
        return code
    except CliError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except WorldError as exc:
        _err(str(exc))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output went away (`cloudquest progress show | head -1`): stop
        # quietly, as a program killed by SIGPIPE would. Python flushes stdout again at
        # exit, so point it at devnull first (the recipe in Python's signal docs).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
