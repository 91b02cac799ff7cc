"""Storage internals: objects cut into chunks over many disks, the read and write paths,
locate/df, the balancer and draining, bad input, metrics and determinism."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from cloudquest.cloud import CloudError, Health
from cloudquest.game.session import new_cloud
from cloudquest.cloud.storage import ObjectStore
from cloudquest.cloud.faults import set_health
from cloudquest.cloud.storage import (
    GiB,
    MiB,
    SETTINGS,
    StorageConfig,
    StorageSpec,
    configure,
    format_bytes,
    parse_size,
)

from storage_worlds import all_chunks, cluster, cluster_world, piece_hosts

METRICS = (
    "objects",
    "chunks",
    "bytes_stored",
    "bytes_raw",
    "max_disk_fill_pct",
    "read_p99_ms",
    "objects_lost",
    "chunks_under_replicated",
    "storage_overhead",
    "repair_seconds",
    "durability_nines",
)


def test_storage_attaches_from_the_world_section():
    cloud, store = cluster()
    assert cloud.get(ObjectStore) is store
    assert set(METRICS) <= set(cloud.metrics())
    assert cloud.metrics()["objects"] == 0 and cloud.metrics()["storage_overhead"] == 0


# -- chunking: GFS 64 MiB chunks, HDFS 128 MiB blocks -----------------------------------------
def test_an_object_is_cut_into_fixed_size_chunks_with_a_short_last_one():
    cloud, store = cluster(storage={"chunk_mib": 64})
    r = store.put("photo", "200MiB")
    assert r.chunks == 4
    assert [c.size for c in store.object_info("photo").chunks] == [64 * MiB] * 3 + [8 * MiB]
    m = store.metrics()
    assert m["bytes_stored"] == 200 * MiB and m["bytes_raw"] == 3 * 200 * MiB and m["chunks"] == 4


@pytest.mark.parametrize("chunk_mib,chunks", [(64, 160), (128, 80), (1, 10240)])
def test_chunk_size_sets_the_chunk_count(chunk_mib, chunks):
    # GFS (Ghemawat et al., SOSP 2003) chose 64 MiB chunks; HDFS's dfs.blocksize is 128 MiB.
    cloud, store = cluster(storage={"chunk_mib": chunk_mib})
    assert store.put("ten", "10GiB").chunks == chunks
    assert store.metrics()["metadata_bytes"] == 150 * (1 + chunks)  # ~150 B per item in the NameNode


def test_each_setting_applies_to_objects_written_after_it():
    cloud, store = cluster(storage={"chunk_mib": 64})
    store.put("old", "256MiB")
    store.set("chunk", "128MiB")
    store.set("replication", 2)
    store.put("new", "256MiB")
    old, new = store.object_info("old"), store.object_info("new")
    assert (len(old.chunks), old.scheme.width) == (4, 3)
    assert (len(new.chunks), new.scheme.width) == (2, 2)


# -- the write path ---------------------------------------------------------------------------
def test_put_writes_each_chunk_to_the_most_empty_disk_of_each_chosen_host():
    cloud, store = cluster(racks=2, hosts=2, disks=2, storage={"chunk_mib": 64, "replication": 1})
    store.put("a", "64MiB", writer="z0r0-h1")
    assert store.object_info("a").chunks[0].pieces == ["z0r0-h1-d1"]
    store.put("b", "64MiB", writer="z0r0-h1")
    assert store.object_info("b").chunks[0].pieces == ["z0r0-h1-d2"]  # d1 now holds more


def test_write_latency_is_a_pipeline_not_three_transfers():
    cloud, store = cluster(storage={"chunk_mib": 64, "replication": 3})
    r = store.put("a", "64MiB")
    one_transfer = 5 + 64 / 200 * 1000  # access + 64 MiB at 200 MiB/s
    assert r.write_ms == pytest.approx(one_transfer + 2 * 0.5)


def test_put_is_all_or_nothing_when_the_cluster_is_full():
    cloud, store = cluster(racks=1, hosts=3, disks=1, size_gib=1, storage={"chunk_mib": 64})
    store.put("fits", "512MiB")
    before = (store.metrics(), [(u.disk, u.used_bytes) for u in store.df()], len(cloud.log))
    with pytest.raises(CloudError) as err:
        store.put("too-big", "1GiB")
    assert err.value.code == "InsufficientCapacity"
    assert "needs 3 hosts" in err.value.message
    assert (store.metrics(), [(u.disk, u.used_bytes) for u in store.df()], len(cloud.log)) == before
    assert "too-big" not in store.objects


def test_disk_used_gib_includes_stored_pieces_for_everyone_else():
    cloud, store = cluster(racks=1, hosts=3, disks=1, storage={"chunk_mib": 64})
    store.put("a", "1536MiB")  # 1.5 GiB per host
    assert [d.used_gib for d in cloud.hardware.disks.values()] == [2, 2, 2]  # rounded up
    store.delete("a")
    assert [d.used_gib for d in cloud.hardware.disks.values()] == [0, 0, 0]


# -- the read path ----------------------------------------------------------------------------
def test_read_latency_is_access_time_plus_transfer():
    cloud, store = cluster(storage={"chunk_mib": 64})
    store.put("a", "64MiB")
    assert store.get("a").latency_ms == pytest.approx(5 + 64 / 200 * 1000)


def test_a_disk_reads_one_piece_after_another_so_no_layout_beats_the_disks_rate():
    """A hard disk has one actuator: it serves one request at a time, each paying its
    access time (seek and rotation) before its transfer. Seagate's Exos X18 product manual
    gives 4.16 ms average latency and 270 MB/s sustained transfer; the game rounds to 5 ms
    and 200 MiB/s. So 15 GiB over 18 disks cannot arrive in less than 15 GiB / (18 x
    200 MiB/s) = 4.27 s, and cutting it into tiny chunks adds one access time per piece."""
    def read_ms(chunk_mib: int) -> float:
        cloud, store = cluster(racks=3, hosts=2, disks=3, storage={"chunk_mib": chunk_mib, "replication": 1})
        store.put("big", "15GiB")
        return store.get("big").latency_ms

    floor_ms = 15 * 1024 / (18 * 200) * 1000
    at_64 = read_ms(64)
    assert floor_ms <= at_64 < 1.5 * floor_ms
    at_1 = read_ms(1)  # 15,360 pieces: 5 ms of seeking for every 5 ms of transfer
    assert at_1 > 1.8 * floor_ms and at_1 > at_64


def test_an_object_arrives_when_its_busiest_disk_has_read_its_queue_and_a_slow_disk_shows():
    cloud, store = cluster(racks=2, hosts=3, storage={"chunk_mib": 16, "replication": 1})
    store.put("a", "320MiB")  # 20 chunks over 12 disks
    per_piece = 5 + 16 / 200 * 1000
    queue = Counter(c.pieces[0] for c in store.object_info("a").chunks)
    r = store.get("a")
    assert r.latency_ms == pytest.approx(max(queue.values()) * per_piece)
    assert r.queue == max(queue.values()) and r.disks == len(queue)
    victim = store.object_info("a").chunks[7].pieces[0]
    set_health(cloud, "disk", victim, Health.DEGRADED)
    r = store.get("a")
    assert r.slowest_disk == victim
    assert r.latency_ms == pytest.approx(queue[victim] * per_piece * 10)  # fail-slow: 10x by default
    last = max(c.index for c in store.object_info("a").chunks if c.pieces[0] == victim)
    assert r.slowest_chunk == last  # the last piece in the slow disk's queue arrives last
    ev = [e for e in cloud.log if e.kind == "storage.get"][-1]
    assert ev.get("slowest_disk") == victim and ev.get("queue") == queue[victim]


def test_a_hot_disk_with_a_slow_access_time_sets_the_tail():
    world = cluster_world(racks=1, hosts=1, disks=1, storage={"chunk_mib": 16, "replication": 1})
    hosts = world["regions"][0]["zones"][0]["racks"][0]["hosts"]
    hosts.append({"name": "old", "vcpus": 16, "ram_gib": 64, "disks": [{"size_gib": 1000, "read_ms": 200.0}]})
    cloud = new_cloud(world, seed=3)
    store = cloud.get(ObjectStore)
    for i in range(20):
        store.put(f"o{i}", "16MiB")
    fast = 5 + 16 / 200 * 1000
    slow = 200 + 16 / 200 * 1000
    lats = {round(store.get(f"o{i}").latency_ms, 6) for i in range(20)}
    assert lats == {fast, slow}
    assert store.metrics()["read_p99_ms"] == pytest.approx(slow, abs=0.1)


def test_read_p99_is_the_nearest_rank_over_every_object():
    cloud, store = cluster(racks=2, hosts=5, disks=1, storage={"chunk_mib": 16, "replication": 1})
    for i in range(100):
        store.put(f"o{i:03d}", "16MiB")
    lats = sorted(store.get(n).latency_ms for n in store.objects)
    assert store.metrics()["read_p99_ms"] == pytest.approx(lats[98], abs=0.1)
    # slow down exactly one object's disk: p99 (rank 99 of 100) may ignore one outlier
    one = store.object_info("o000").chunks[0].pieces[0]
    on_it = sum(1 for o in store.objects.values() if o.chunks[0].pieces[0] == one)
    set_health(cloud, "disk", one, Health.DEGRADED)
    p99 = store.metrics()["read_p99_ms"]
    if on_it >= 2:
        assert p99 > lats[98] * 5
    else:
        assert p99 == pytest.approx(lats[98], abs=0.1)


def test_hedged_reads_hide_a_slow_replica():
    """HDFS hedged reads: after the threshold, race another replica and take the first."""
    cloud, store = cluster(racks=2, hosts=3, storage={"chunk_mib": 16, "replication": 3})
    store.put("a", "16MiB")
    first = store.get("a").slowest_disk
    set_health(cloud, "disk", first, Health.DEGRADED)
    normal = 5 + 16 / 200 * 1000
    assert store.get("a").latency_ms == pytest.approx(normal * 10)
    store.set("hedged_read_ms", 150)
    assert store.get("a").latency_ms == pytest.approx(150 + normal)


def test_erasure_coded_reads_gather_k_data_fragments_and_fall_back_to_parity():
    cloud, store = cluster(racks=3, hosts=4, storage={"chunk_mib": 48, "erasure": [6, 3]})
    store.put("ec", "48MiB")
    c = store.object_info("ec").chunks[0]
    frag_ms = 5 + 8 / 200 * 1000
    r = store.get("ec")
    assert r.latency_ms == pytest.approx(frag_ms) and r.degraded_reads == 0
    assert r.slowest_disk in c.pieces[:6]  # data fragments only
    set_health(cloud, "disk", c.pieces[2], Health.FAILED)
    r = store.get("ec")
    assert r.degraded_reads == 1 and r.latency_ms == pytest.approx(frag_ms)


def test_reads_skip_copies_on_hosts_that_are_down():
    cloud, store = cluster(racks=2, hosts=3, storage={"chunk_mib": 16})
    store.put("a", "160MiB")
    c = store.object_info("a").chunks[0]
    for h in piece_hosts(store, c)[:2]:
        set_health(cloud, "host", h.id, Health.FAILED)
    assert store.get("a").chunks == 10


# -- locate and df ------------------------------------------------------------------------------
def test_locate_lists_every_piece_with_its_failure_domains():
    cloud, store = cluster(zones=2, racks=2, hosts=2, storage={"chunk_mib": 64})
    store.put("a", "200MiB")
    where = store.locate("a")
    assert len(where) == 4 * 3
    hw = cloud.hardware
    for p in where:
        d = hw.disks[p.disk]
        assert (p.host, p.rack, p.zone) == (d.host.id, d.host.rack.id, d.host.rack.zone.id)
        assert p.role == "replica" and p.state == "ok"
    assert sorted({p.chunk for p in where}) == [0, 1, 2, 3]
    set_health(cloud, "host", where[0].host, Health.FAILED)
    assert store.locate("a")[0].state == "unreachable"


def test_locate_names_erasure_roles_and_missing_fragments():
    cloud, store = cluster(racks=3, hosts=4, storage={"chunk_mib": 48, "erasure": [6, 3]})
    store.put("ec", "48MiB")
    roles = [p.role for p in store.locate("ec")]
    assert roles == ["data"] * 6 + ["parity"] * 3
    set_health(cloud, "disk", store.locate("ec")[7].disk, Health.FAILED)
    states = [p.state for p in store.locate("ec")]
    assert states[7] == "missing" and states.count("ok") == 8


def test_df_reports_fill_per_disk_and_the_maximum_metric_agrees():
    cloud, store = cluster(racks=1, hosts=3, disks=2, size_gib=10, storage={"chunk_mib": 64})
    store.put("a", "3GiB")
    df = store.df()
    assert len(df) == 6
    assert sum(u.stored_bytes for u in df) == 9 * GiB
    for u in df:
        assert u.fill_pct == pytest.approx(100 * u.used_bytes / u.size_bytes, abs=0.01)
    assert store.metrics()["max_disk_fill_pct"] == pytest.approx(max(u.fill_pct for u in df), abs=0.01)


def test_delete_frees_every_piece():
    cloud, store = cluster(storage={"chunk_mib": 16})
    store.put("a", "1GiB")
    store.put("b", "100MiB")
    freed = store.delete("a")
    assert freed == 3 * GiB
    m = store.metrics()
    assert (m["objects"], m["bytes_stored"], m["bytes_raw"]) == (1, 100 * MiB, 300 * MiB)
    assert sum(len(v) for v in store.on_disk.values()) == len(store.object_info("b").chunks) * 3
    with pytest.raises(CloudError, match="no object named 'a'"):
        store.get("a")


# -- the balancer and draining --------------------------------------------------------------
def _uneven():
    """Disks of 100 GiB and 1000 GiB: uniform random placement fills the small ones first."""
    world = cluster_world(racks=3, hosts=3, disks=1, size_gib=1000, storage={"chunk_mib": 64, "placement": "random"})
    for rack in world["regions"][0]["zones"][0]["racks"]:
        rack["hosts"] = [
            {"count": 2, "vcpus": 16, "ram_gib": 64, "disks": [{"size_gib": 1000}]},
            {"count": 1, "vcpus": 16, "ram_gib": 64, "disks": [{"size_gib": 100}]},
        ]
    return new_cloud(world, seed=5)


def test_balancer_brings_every_disk_within_the_threshold_of_the_average():
    cloud = _uneven()
    store = cloud.get(ObjectStore)
    store.put("dataset", "600GiB")
    assert store.metrics()["max_disk_fill_pct"] > 85
    raw = store.metrics()["bytes_raw"]
    moves, moved = store.balance(10)
    df = store.df()
    avg = 100 * sum(u.used_bytes for u in df) / sum(u.size_bytes for u in df)
    assert moves > 0 and moved == moves * 64 * MiB
    assert all(u.fill_pct <= avg + 10 for u in df)
    assert store.metrics()["bytes_raw"] == raw
    for c in all_chunks(store):  # the balancer keeps every rule
        hosts = piece_hosts(store, c)
        assert len({h.id for h in hosts}) == 3


def test_draining_a_disk_moves_its_pieces_off_at_repair_speed():
    """HDFS decommissioning: the node stops taking writes, its replicas are copied
    elsewhere by the replication monitor, then it holds nothing."""
    cloud, store = cluster(racks=2, hosts=3, storage={"chunk_mib": 16, "replication": 2, "repair_mibps": 16})
    store.put("a", "1GiB")
    disk = max(store.on_disk, key=lambda d: len(store.on_disk[d]))
    n = len(store.on_disk[disk])
    assert store.drain("disk", disk) == n
    assert store.metrics()["chunks_under_replicated"] == 0  # still readable while draining
    cloud.advance(n * 1000 + 1000)  # 16 MiB per second
    assert not store.on_disk[disk]
    assert cloud.log.count("storage.drained") == 1
    m = store.metrics()
    assert m["chunks_under_replicated"] == 0 and m["bytes_raw"] == 2 * GiB
    store.put("b", "160MiB")
    assert all(disk not in c.pieces for c in store.object_info("b").chunks)


# -- bad input changes nothing ----------------------------------------------------------------
@pytest.mark.parametrize(
    "text,expected",
    [("64MiB", 64 * MiB), ("1.5GiB", 3 * GiB // 2), ("2TB", 2 * 10**12), ("512", 512 * MiB), ("10 gib", 10 * GiB)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-5MiB", "0", "12 parsecs", "1e9"])
def test_parse_size_rejects_with_a_clear_line(text):
    with pytest.raises(ValueError) as err:
        parse_size(text)
    assert "\n" not in str(err.value)


def test_format_bytes():
    assert format_bytes(64 * MiB) == "64 MiB" and format_bytes(1536 * MiB) == "1.5 GiB"


@pytest.mark.parametrize(
    "name,value,fragment",
    [
        ("replication", 0, "replication must be from 1 to 16"),
        ("replication", 2.5, "whole number"),
        ("placement", "rack", "random, rack-aware, zone-aware"),
        ("erasure", "6", "K M"),
        ("erasure", (0, 3), "erasure K must be from 1"),
        ("chunk", "3.5MiB", "whole number of MiB"),
        ("chunk_mib", 4096, "chunk size must be from 1 to 2048"),
        ("colour", "blue", "no storage setting 'colour'"),
        ("repair_mibps", "fast", "must be a number"),
    ],
)
def test_bad_settings_are_rejected_and_change_nothing(name, value, fragment):
    cloud, store = cluster()
    before = store.config
    with pytest.raises(CloudError) as err:
        store.set(name, value)
    assert fragment in err.value.message and "\n" not in err.value.message
    assert store.config is before


def test_erasure_and_replication_settings_replace_each_other():
    cfg = configure(StorageConfig(), "erasure", "RS-6-3")
    assert cfg.scheme.label == "RS-6-3" and cfg.scheme.overhead == 1.5
    cfg = configure(cfg, "replication", 2)
    assert cfg.erasure is None and cfg.scheme.label == "2x replication"
    assert configure(cfg, "erasure", "off").erasure is None
    assert set(SETTINGS) >= {"chunk_mib", "replication", "placement", "erasure", "repair_mibps", "heartbeat_timeout_s"}


def test_world_sections_are_validated():
    with pytest.raises(ValidationError, match="replicas"):
        StorageSpec.model_validate({"replicas": 3})
    cfg = StorageSpec.model_validate({"chunk_mib": 128, "erasure": {"k": 6, "m": 3}, "heartbeat_timeout_s": 630}).config()
    assert cfg.chunk_mib == 128 and cfg.erasure == (6, 3)


@pytest.mark.parametrize(
    "call,code",
    [
        (lambda s: s.put("bad name", "1MiB"), "InvalidParameterValue"),
        (lambda s: s.put("x", "lots"), "InvalidParameterValue"),
        (lambda s: s.put("a", "1MiB"), "ObjectExists"),
        (lambda s: s.put("y", "1MiB", writer="nope"), "InvalidParameterValue"),
        (lambda s: s.get("missing"), "NoSuchKey"),
        (lambda s: s.delete("missing"), "NoSuchKey"),
        (lambda s: s.locate("missing"), "NoSuchKey"),
        (lambda s: s.drain("rack", "z0r0"), "InvalidParameterValue"),
        (lambda s: s.drain("disk", "nope"), "InvalidParameterValue"),
    ],
)
def test_bad_calls_raise_one_clear_error_and_change_nothing(call, code):
    cloud, store = cluster(storage={"chunk_mib": 16})
    store.put("a", "100MiB")
    before = (store.metrics(), len(cloud.log), sorted(store.objects))
    with pytest.raises(CloudError) as err:
        call(store)
    assert err.value.code == code and "\n" not in err.value.message
    assert (store.metrics(), len(cloud.log), sorted(store.objects)) == before


def test_world_objects_are_written_at_start():
    world = cluster_world(storage={"chunk_mib": 64, "objects": [{"name": "logs", "size": "1GiB"}, {"name": "db", "size": 640}]})
    cloud = new_cloud(world, seed=2)
    m = cloud.metrics()
    assert m["objects"] == 2 and m["chunks"] == 16 + 10


# -- determinism ------------------------------------------------------------------------------
def _run(seed):
    cloud, store = cluster(seed=seed, racks=3, hosts=3, storage={"chunk_mib": 16, "repair_mibps": 64})
    store.put("a", "1GiB")
    store.set("erasure", (3, 2))
    store.put("b", "500MiB")
    set_health(cloud, "rack", "z0r1", Health.FAILED)
    cloud.advance(700_000)
    set_health(cloud, "disk", next(iter(store.on_disk)), Health.FAILED)
    cloud.advance(60_000)
    store.get("a")
    return cloud.log.sha256(), cloud.metrics()


def test_same_seed_same_event_log_byte_for_byte():
    assert _run(7) == _run(7)
    assert _run(7)[0] != _run(8)[0]
