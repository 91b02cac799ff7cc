"""Benchmark: CPU time of `tick 86400` on a fresh world of every chapter (seed 0).

Target (issue 14): under 1 s in every chapter. "fast" is the game as shipped (idle time
skipped); "stepped" is the same tick with the fast-forward switched off, one step at a
time: the figure before the fast-forward existed. A stepped run that takes longer than
``--max-stepped`` seconds is stopped and extrapolated from the simulated hours it did
(marked ~). Both runs must end with the same event log: the script says if not.

    python bench/bench_tick.py [--seconds 86400] [--max-stepped 20] [--no-stepped] [CHAPTER ...]
"""

from __future__ import annotations

import argparse
import time

from cloudquest.game.chapters import chapter_files, load_chapter
from cloudquest.game.session import Session

HOUR_S = 3600


def fast_run(chapter, seconds: int) -> tuple[float, str]:
    s = Session(chapter, 0)
    start = time.process_time()
    out = s.execute(f"tick {seconds}")
    cpu = time.process_time() - start
    assert out.ok, out.output
    return cpu, s.cloud.log.sha256()


def stepped_run(chapter, seconds: int, budget_s: float) -> tuple[float, bool, str | None]:
    """CPU for ``seconds`` stepped (extrapolated if over budget), whether it was, the log's hash."""
    s = Session(chapter, 0)
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
    args = parser.parse_args()
    print(f"tick {args.seconds} on a fresh world, seed 0 (CPU seconds)")
    print(f"{'chapter':<24} {'stepped':>9} {'fast':>8}  note")
    for path in chapter_files():
        if args.chapters and not any(c in path.name for c in args.chapters):
            continue
        chapter = load_chapter(path)
        fast, fast_hash = fast_run(chapter, args.seconds)
        note = "" if fast < 1 else "over the 1 s target"
        stepped_txt = "-"
        if not args.no_stepped:
            stepped, cut, stepped_hash = stepped_run(chapter, args.seconds, args.max_stepped)
            stepped_txt = f"{'~' if cut else ''}{stepped:.2f}"
            if stepped_hash is not None and stepped_hash != fast_hash:
                note = "EVENT LOGS DIFFER"
        print(f"{path.stem:<24} {stepped_txt:>9} {fast:>8.2f}  {note}", flush=True)


if __name__ == "__main__":
    main()
