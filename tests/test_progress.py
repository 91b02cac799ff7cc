"""Progress saves: atomic, and a corrupt save is set aside, never silently lost."""

from __future__ import annotations

import json
import os

import pytest

from cloudquest.game import progress as P
from cloudquest.game.locations import data_home, progress_file
from cloudquest.game.userfiles import UserFileError, write_atomic


def test_home_follows_cloudquest_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDQUEST_HOME", str(tmp_path / "x"))
    assert data_home() == tmp_path / "x"
    assert progress_file() == tmp_path / "x" / "progress.json"


def test_save_and_load_round_trip():
    prog = P.Progress()
    prog.record_run("launch", 3, 3, 1, 20.0, ["resource scheduling"])
    P.save(prog)
    loaded = P.load()
    assert loaded.message is None
    assert loaded.progress.chapters["launch"].completed
    assert loaded.progress.skills_earned() == ["resource scheduling"]


def test_best_result_is_kept_and_a_worse_run_does_not_erase_completion():
    prog = P.Progress()
    prog.record_run("launch", 3, 3, 2, 20.0, ["resource scheduling"])
    prog.record_run("launch", 1, 3, 0, 5.0, ["resource scheduling"])
    cp = prog.chapters["launch"]
    assert cp.completed and cp.best_passed == 3 and cp.attempts == 2 and cp.best_hints == 2
    prog.record_run("launch", 3, 3, 0, 25.0, ["resource scheduling"])
    assert prog.chapters["launch"].best_hints == 0


@pytest.mark.parametrize("garbage", [b"{not json", b"\xff\xfe\x00", b'{"chapters": 5}', b"[]"])
def test_a_corrupt_save_is_moved_aside_with_a_message(garbage):
    path = progress_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(garbage)
    loaded = P.load()
    assert loaded.message and "could not be read" in loaded.message
    kept = path.with_name("progress.json.corrupt-1")
    assert kept.read_bytes() == garbage
    assert not path.exists()
    # a second corrupt save does not overwrite the first one set aside
    path.write_bytes(garbage)
    P.load()
    assert path.with_name("progress.json.corrupt-2").exists()


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "save.json"
    write_atomic(target, "old")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["save.json"]


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "save.json"
    write_atomic(target, json.dumps({"a": 1}))
    write_atomic(target, json.dumps({"b": 2}))
    assert json.loads(target.read_text()) == {"b": 2}


def test_export_format_is_checked():
    with pytest.raises(UserFileError, match="newer CloudQuest"):
        P.parse_export({"format": 99, "chapters": {}}, [])
    prog = P.parse_export(P.Progress().model_dump(mode="json"), [])
    assert prog.chapters == {}
