"""Benchmark: CPU time of `tick 86400` on a fresh world of every chapter (seed 0), and
with ``--after-solution`` on the world the chapter's reference solution leaves (its
commands played first, the whole-run checks such as ``verify`` left out): a busy world,
as a player who has solved the chapter and lets a day pass has it.

Target (issue 14): under 1 s in every chapter. "fast" is the game as shipped (idle time
skipped); "stepped" is the same tick with the fast-forward switched off, one step at a
time: the figure before the fast-forward existed. A stepped run that takes longer than
``--max-stepped`` seconds is stopped and extrapolated from the simulated hours it did
(marked ~). Both runs must end with the same event log: the script says if not.

    python bench/bench_tick.py [--seconds 86400] [--max-stepped 20] [--no-stepped] [--after-solution] [CHAPTER ...]
"""

from __future__ import annotations

import argparse
import time

from cloudquest.game.chapters import chapter_files, load_chapter
from cloudquest.game.session import Session

HOUR_S = 3600
WHOLE_RUN = ("verify", "design verify", "scenario")  # replay whole runs: not part of the world


def session(chapter, after_solution: bool) -> Session:
    s = Session(chapter, 0)
    if after_solution:
        for line in chapter.solution:
            if not line.startswith(WHOLE_RUN):
                s.execute(line)
    return s


def fast_run(chapter, seconds: int, after_solution: bool = False) -> tuple[float, str | None]:
    s = session(chapter, after_solution)
    start = time.process_time()
    out = s.execute(f"tick {seconds}")
    cpu = time.process_time() - start
    if not out.ok:
        assert after_solution, out.output
        return cpu, None
    return cpu, s.cloud.log.sha256()


def stepped_run(chapter, seconds: int, budget_s: float, after_solution: bool = False) -> tuple[float, bool, str | None]:
    """CPU for ``seconds`` stepped (extrapolated if over budget), whether it was, the log's hash."""
    s = session(chapter, after_solution)
    s.cloud.fast_forward = False
    start = time.process_time()
    done = 0
    while done < seconds:
        chunk = min(HOUR_S, seconds - done)
        s.advance(chunk * 1000)
        done += chunk
        cpu = time.process_time() - start
        if cpu > budget_s and done < seconds:
            return cpu * seconds / done, True, None
    return time.process_time() - start, False, s.cloud.log.sha256()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("chapters", nargs="*", help="chapter file names or parts of them (all by default)")
    parser.add_argument("--seconds", type=int, default=86_400)
    parser.add_argument("--max-stepped", type=float, default=20.0, help="stop a stepped run after this much CPU")
    parser.add_argument("--no-stepped", action="store_true", help="measure the fast-forward only")
    parser.add_argument("--after-solution", action="store_true", help="on the world the reference solution leaves")
    args = parser.parse_args()
    where = "after the reference solution" if args.after_solution else "on a fresh world"
    print(f"tick {args.seconds} {where}, seed 0 (CPU seconds)")
    print(f"{'chapter':<24} {'stepped':>9} {'fast':>8}  note")
    for path in chapter_files():
        if args.chapters and not any(c in path.name for c in args.chapters):
            continue
        chapter = load_chapter(path)
        after = args.after_solution
        fast, fast_hash = fast_run(chapter, args.seconds, after)
        if fast_hash is None:  # the tick was refused: the solution ran the clock to its end
            print(f"{path.stem:<24} {'-':>9} {'-':>8}  the solution leaves no time to run on", flush=True)
            continue
        note = "" if fast < 1 else "over the 1 s target"
        stepped_txt = "-"
        if not args.no_stepped:
            stepped, cut, stepped_hash = stepped_run(chapter, args.seconds, args.max_stepped, after)
            stepped_txt = f"{'~' if cut else ''}{stepped:.2f}"
            if stepped_hash is not None and stepped_hash != fast_hash:
                note = "EVENT LOGS DIFFER"
        print(f"{path.stem:<24} {stepped_txt:>9} {fast:>8.2f}  {note}", flush=True)


if __name__ == "__main__":
    main()
