"""Saves under concurrency: games played at once, and games killed while saving.

Nothing a player earned may be lost: several plays of the real command line against one
``CLOUDQUEST_HOME`` all end up in the save, and a game killed (SIGKILL) at a random
moment while saving leaves a save that loads, with every result it had acknowledged.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import forked_cli

from cloudquest.game import progress as P
from cloudquest.game.chapters import load_all
from cloudquest.game.userfiles import leftover_temps

CATALOGUE = load_all()
# cheap reference solutions; launch twice, so two plays of one chapter race as well
PLAYS = ["big-realization", "launch", "hypervisor", "launch"]
ROUNDS = 3


def test_plays_at_once_all_reach_the_save(tmp_path):
    for n in range(ROUNDS):
        home = tmp_path / f"round-{n}"
        env = {**os.environ, "CLOUDQUEST_HOME": str(home)}
        procs = []
        for chapter_id in PLAYS:
            script = tmp_path / f"{chapter_id}.txt"
            script.write_text("\n".join(CATALOGUE.get(chapter_id).solution) + "\n")
            # a process of its own each, forked from one that has imported the game
            procs.append(forked_cli.start(["play", chapter_id, "--script", str(script)], env))
        for proc in procs:
            code, _, err, _ = proc.wait(timeout=60)
            assert code == 0 and err == b"", err.decode()
        saved = json.loads((home / "progress.json").read_text())["chapters"]
        assert sorted(saved) == sorted(set(PLAYS)), f"round {n}"
        assert all(saved[c]["completed"] for c in PLAYS)
        assert saved["launch"]["attempts"] == PLAYS.count("launch")


# A writer that counts runs of its own chapter as fast as it can, and says so after
# each save returns: what it has said must never be lost.
WRITER = textwrap.dedent(
    """
    import sys
    from cloudquest.game import progress as P
    chapter = sys.argv[1]
    for n in range(1, 100_000):
        P.update(lambda p: (p.record_run(chapter, 1, 1, 0, 1.0, ["distributed storage"]), p)[1])
        print(n, flush=True)
    """
)


def _start_writer(chapter: str, home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, chapter],
        stdout=subprocess.PIPE,
        env={**os.environ, "CLOUDQUEST_HOME": str(home)},
        text=True,
    )


def test_a_game_killed_while_saving_loses_nothing_it_saved(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDQUEST_HOME", str(tmp_path))
    rng = random.Random(20240611)
    acknowledged = {"victim": 0, "survivor": 0}
    for _ in range(4):
        victim = _start_writer("victim", tmp_path)
        survivor = _start_writer("survivor", tmp_path)
        first = victim.stdout.readline()  # it is saving in a loop now
        assert first.strip().isdigit()
        time.sleep(rng.uniform(0, 0.08))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        said = [first, *victim.stdout.read().split()]
        acknowledged["victim"] += int(said[-1])
        time.sleep(rng.uniform(0, 0.05))  # the survivor goes on saving past the kill
        survivor.send_signal(signal.SIGKILL)
        survivor.wait(timeout=10)
        out = survivor.stdout.read().split()
        acknowledged["survivor"] += int(out[-1]) if out else 0

        loaded = P.load()
        assert loaded.message is None, loaded.message  # the save always loads
        for chapter, count in acknowledged.items():
            attempts = loaded.progress.chapters[chapter].attempts if chapter in loaded.progress.chapters else 0
            # every acknowledged save is there; at most one more, written just before a kill
            assert count <= attempts <= count + 1, (chapter, count, attempts)
            acknowledged[chapter] = attempts
    assert not [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    P.save(P.Progress())  # the next save sweeps what killed writers left
    assert leftover_temps(P.load().path) == []
