"""The storage console (chapters 4 and 5): commands drive the store, bad input is one line
that changes nothing, the `set` family, and the chapters reward the right designs."""

from __future__ import annotations

import pytest

from cloudquest.game.chapters import load_chapter
from cloudquest.game.registry import table
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter
from cloudquest.cloud.storage import ObjectStore

from conftest import LEVELS
from storage_worlds import cluster_world


def storage_session(**kw) -> Session:
    world = World.model_validate(cluster_world(**kw))
    return Session(free_play_chapter(world), 0, sandbox=True)


def test_put_get_locate_df_ls_delete_drive_the_store():
    s = storage_session(zones=3, racks=2, hosts=2, storage={"chunk_mib": 64})
    store = s.cloud.get(ObjectStore)
    out = s.execute("put photos 200MiB")
    assert out.ok and "4 chunks of 64 MiB" in out.output and "3x replication" in out.output
    assert "photos" in store.objects
    out = s.execute("get photos")
    assert out.ok and "325.0 ms" in out.output
    out = s.execute("locate photos")
    assert out.ok and out.output.count("copy") == 12 and "spread: 2 racks: 4 chunks" in out.output
    out = s.execute("locate photos --chunk 3")
    assert out.ok and out.output.count("copy") == 3
    out = s.execute("df --sort fill")
    assert out.ok and "24 disks" in out.output
    assert "protected" in s.execute("ls").output
    assert "photos" in s.execute("status photos").output
    assert s.execute("delete photos").ok and not store.objects


def test_the_set_family_is_one_help_page_and_changes_new_writes():
    s = storage_session(racks=3, hosts=4, storage={"chunk_mib": 64})
    store = s.cloud.get(ObjectStore)
    sets = sorted(v for v in table() if v.startswith("set "))
    assert {"set replication", "set placement", "set erasure", "set chunk", "set repair-bandwidth"} <= set(sets)
    page = s.execute("help set").output
    assert all(f"usage: {v}" in page for v in sets)
    assert "3x replication (3.00x) -> RS-6-3 (1.50x)" in s.execute("set erasure 6 3").output
    assert "rack-aware -> zone-aware" in s.execute("set placement zone-aware").output
    assert "64 MiB -> 48 MiB" in s.execute("set chunk 48MiB").output
    s.execute("put ec 480MiB")
    obj = store.objects["ec"]
    assert (obj.scheme.label, obj.placement, len(obj.chunks)) == ("RS-6-3", "zone-aware", 10)
    assert "RS-6-3 (1.50x) -> 2x replication" in s.execute("set replication 2").output
    assert "hedged reads off -> 50 ms" in s.execute("set hedged-read 50").output
    assert "off" in s.execute("set hedged-read off").output
    assert s.cloud.log.count("storage.set") == 6


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("put x lots", "'lots' is not a size"),
        ("put bad*name 1GiB", "object name 'bad*name'"),
        ("put a 1GiB", "object a already exists"),
        ("put y 1GiB --from nohost", "no host named 'nohost'"),
        ("get nope", "no object named 'nope'"),
        ("delete nope", "no object named 'nope'"),
        ("locate a --chunk 99", "a has chunks 0..15, not 99"),
        ("set replication 0", "at least 1"),
        ("set placement diagonal", "policy must be one of random, rack-aware, zone-aware"),
        ("set erasure 6", "missing M"),
        ("set erasure six 3", "K must be a whole number or off"),
        ("set erasure off 3", "takes no M"),
        ("set erasure 40 3", "erasure K must be from 1 to 32"),
        ("set chunk 3.5MiB", "whole number of MiB"),
        ("set chunk 4GiB", "chunk size must be from 1 to 2048"),
        ("set hedged-read soon", "number of ms or off"),
        ("set repair-bandwidth 0", "at least 0.1"),
        ("set frobnicate 3", "unknown set command 'frobnicate'"),
        ("decommission rack z0r0", "kind must be one of disk, host"),
        ("decommission disk zz", "no disk named 'zz'"),
        ("balance 200", "at most 100"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(line, fragment):
    s = storage_session(storage={"chunk_mib": 64})
    s.execute("put a 1GiB")
    store = s.cloud.get(ObjectStore)
    before = (len(s.cloud.log), s.cloud.log.sha256(), store.config, sorted(store.objects), store.bytes_raw)
    out = s.execute(line)
    assert not out.ok and out.error_kind == "input", out.output
    assert fragment in out.output and "\n" not in out.output and "Traceback" not in out.output
    after = (len(s.cloud.log), s.cloud.log.sha256(), store.config, sorted(store.objects), store.bytes_raw)
    assert after == before


def test_a_full_cluster_is_an_api_error_that_changes_nothing():
    s = storage_session(racks=1, hosts=3, disks=1, size_gib=1, storage={"chunk_mib": 64})
    before = len(s.cloud.log)
    out = s.execute("put big 2GiB")
    assert not out.ok and out.error_kind == "api" and "InsufficientCapacity" in out.output
    assert len(s.cloud.log) == before and not s.cloud.get(ObjectStore).objects


def test_reading_lost_or_missing_data_is_an_api_error():
    """destroy loses the only copy for good; fail only hides it until the disk is back."""
    for action, word in (("destroy", "lost"), ("fail", "missing")):
        s = storage_session(racks=2, hosts=2, storage={"chunk_mib": 64, "replication": 1})
        s.execute("put solo 64MiB")
        disk = s.cloud.get(ObjectStore).objects["solo"].chunks[0].pieces[0]
        s.execute(f"{action} disk {disk}")
        out = s.execute("get solo")
        assert not out.ok and out.error_kind == "api" and "BlockMissing" in out.output and word in out.output
        assert ("LOST" in s.execute("ls").output) == (action == "destroy")
        s.execute(f"repair disk {disk}")
        assert s.execute("get solo").ok == (action == "fail")


def test_storage_shows_detection_repair_and_durability():
    s = storage_session(racks=3, hosts=3, storage={"chunk_mib": 16})
    s.execute("put a 2GiB")
    s.execute("fail host z0r0-h1")
    out = s.execute("storage").output
    assert "z0r0-h1: no heartbeat; declared dead at t=630s" in out
    s.execute("tick 631")
    out = s.execute("storage").output
    assert "dead hosts (their pieces written off): z0r0-h1" in out
    assert "chunks queued" in out and "durability:" in out and "Backblaze 2023" in out
    s.execute("tick 600")
    assert "the last incident took" in s.execute("storage").output


def test_decommission_moves_pieces_away_then_reports_empty():
    s = storage_session(racks=2, hosts=3, storage={"chunk_mib": 16, "repair_mibps": 64})
    s.execute("put a 1GiB")
    store = s.cloud.get(ObjectStore)
    out = s.execute("decommission host z0r0-h1")
    assert out.ok and "chunks to copy away" in out.output
    s.execute("tick 120")
    assert not any(store.on_disk[d.id] for d in s.cloud.hardware.hosts["z0r0-h1"].disks)
    assert "decommissioned (empty, out of service)" in s.execute("storage").output
    assert s.execute("recommission host z0r0-h1").ok and not store.draining


# -- the chapters reward the right designs ---------------------------------------------------
def _play(chapter_file: str, lines: list[str]):
    chapter = load_chapter(LEVELS / chapter_file)
    session = Session(chapter, 0)
    session.run_script(lines)
    return {o.id: o.passed for o in session.finish().objectives}


CH4_PUTS = [f"put clicks-0{i} 75GiB" for i in range(1, 9)]


def test_chapter_4_decommissioning_the_slow_disk_also_keeps_reads_fast():
    got = _play("04-storage.yaml", ["set chunk 64MiB", *CH4_PUTS, "balance", "tick 70", "decommission disk a2-h1-d1", "tick 2400"])
    assert got == {"dataset-stored": True, "no-full-disk": True, "lean-metadata": True, "fast-reads-slow-disk": True}


def test_chapter_4_defaults_fail_for_the_reasons_the_story_gives():
    got = _play("04-storage.yaml", [*CH4_PUTS, "tick 70"])
    # 1 GiB chunks: little metadata, but five-second pieces spread unevenly and the slow
    # disk's queue takes minutes; random hosts: small disks full
    assert got == {"dataset-stored": True, "no-full-disk": False, "lean-metadata": True, "fast-reads-slow-disk": False}
    got = _play("04-storage.yaml", ["set chunk 32MiB", *CH4_PUTS, "balance", "set hedged-read 50", "tick 70"])
    assert got["lean-metadata"] is False and got["fast-reads-slow-disk"] is True
    # hedging hides the slow disk, but 75 one-gigabyte pieces cannot spread evenly over 18 disks
    got = _play("04-storage.yaml", [*CH4_PUTS, "balance", "set hedged-read 50", "tick 70"])
    assert got["no-full-disk"] is True and got["fast-reads-slow-disk"] is False


CH5_PUTS = [f"put events-{i} 30GiB" for i in range(1, 5)]


@pytest.mark.parametrize(
    "settings, expected",
    [
        ([], (False, False, False)),  # two random copies: a rack takes both copies of some chunk
        (["set replication 3", "set placement rack-aware"], (True, False, False)),  # HDFS: racks, not zones
        (["set replication 3", "set placement zone-aware"], (True, True, False)),  # 3.0x, no par
        (["set erasure 6 3", "set placement rack-aware"], (True, False, False)),  # 4 fragments can share a zone
    ],
)
def test_chapter_5_grades_each_design_as_the_story_predicts(settings, expected):
    got = _play("05-replication.yaml", [*settings, *CH5_PUTS, "tick 10800"])
    assert (got["survive-disk-host-rack"], got["survive-zone"], got["par-three-losses-at-half"]) == expected
