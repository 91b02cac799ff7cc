"""Storage and replication commands (chapters 4 and 5): put, get, delete, ls, locate, df,
the ``set`` family, storage, balance, decommission, recommission.

The ``set`` verb is a family of two-word commands (``set replication 3``, ``set
placement zone-aware``, ...), each registered on its own with its own typed arguments,
so ``help set`` lists them all, completion offers their values, and another chapter adds
a setting by registering ``set <name>`` in its own module. Each setting here changes the
store's configuration through ``cloudquest.cloud.storage.configure``, which validates it
before anything changes.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from ...cloud import storage as storage_module
from ...cloud.errors import CloudError
from ...cloud.replication import POLICIES
from ...cloud.storage import (
    MAX_CHUNK_MIB,
    MAX_CHUNKS_PER_PUT,
    MIN_CHUNK_MIB,
    MiB,
    ObjectStore,
    configure,
    format_bytes,
    parse_size,
)
from ..console_text import fitted
from ..mechanism import Mechanism
from ..parser import CommandError, parse_number, shown
from ..registry import CommandSet, Param
from ..view_text import storage_text

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()
LOCATE_ROWS = 8  # chunks listed by `locate` unless --chunk picks one
DF_ROWS = 60


def _store(session: "Session") -> ObjectStore:
    store = session.cloud.get(ObjectStore)
    if store is None:
        raise CommandError("this world has no storage cluster (its world has no storage section)")
    return store


def _object(store: ObjectStore, name: str):
    obj = store.objects.get(name)
    if obj is None:
        known = ", ".join(list(store.objects)[:8]) + (", ..." if len(store.objects) > 8 else "")
        raise CommandError(f"no object named {name!r} (objects: {known or 'none yet; put one'})")
    return obj


def _input(exc: CloudError) -> CommandError:
    return CommandError(exc.message)


# -- the data path --------------------------------------------------------------------------
@command(
    "put",
    "store an object: cut it into chunks and write each to hosts chosen by the placement policy",
    args=[Param("name", "object name (letters, digits, . _ - /)"), Param("size", "its size: 64MiB, 10GiB, 1.5TiB (a bare number is MiB)")],
    options=[Param("from", "write from this host (rack-aware puts the first copy here, as HDFS does)", complete="host")],
    details="""The object is cut into chunks of the current chunk size (set chunk). For each chunk
the placement policy picks hosts (set placement); copies stream down a pipeline from
host to host (or K+M erasure-coded fragments are written in parallel), and each host
writes its piece to its emptiest healthy disk. All or nothing: if one chunk cannot be
placed, nothing is written.""",
)
def put(session: "Session", name: str, size: str, **opts: str | None) -> str:
    store = _store(session)
    writer = opts.get("from")
    try:
        nbytes = parse_size(size)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if name in store.objects:
        raise CommandError(f"object {name} already exists (delete it first, or pick another name)")
    if writer is not None and writer not in session.cloud.hardware.hosts:
        raise CommandError(f"no host named {writer!r} to write from (see: status)")
    try:
        r = store.put(name, nbytes, writer=writer)
    except CloudError as exc:
        if exc.code == "InvalidParameterValue":
            raise _input(exc) from None
        raise
    obj = store.objects[name]
    pipeline = " -> ".join(r.first_chunk)
    how = "pipeline" if not obj.scheme.erasure else "fragments"
    return (
        f"put {name}: {format_bytes(r.size)} in {r.chunks} chunk{'s' if r.chunks != 1 else ''} of "
        f"{format_bytes(obj.chunk_bytes)}, {r.scheme} ({r.placement}); {format_bytes(r.raw_bytes)} on disk "
        f"({r.raw_bytes / r.size:.2f}x)\n"
        f"  chunk 0 {how}: {pipeline}\n"
        f"  modelled write time {r.write_ms / 1000:.1f} s (chunks one after another, as an HDFS client writes)"
    )


@command(
    "get",
    "read an object: its disks work in parallel, each one piece after another; the busiest sets the time",
    args=[Param("name", "an object", complete="object")],
    details="""Every piece is asked for at once. A disk has one actuator: it reads the pieces asked
of it one after another, each costing its access time (5 ms) plus the transfer
(200 MiB/s), while the disks work in parallel. So the object arrives when its busiest
disk has worked through its queue, and tiny chunks pay one access time each.""",
)
def get(session: "Session", name: str) -> str:
    store = _store(session)
    _object(store, name)
    r = store.get(name)
    degraded = f"; {r.degraded_reads} chunk(s) read with a piece missing" if r.degraded_reads else ""
    return (
        f"get {name}: {format_bytes(r.size)} in {r.chunks} chunks from {r.disks} disks in parallel, "
        f"{r.latency_ms:.1f} ms\n"
        f"  busiest disk {r.slowest_disk}: {r.queue} piece{'s' if r.queue != 1 else ''} one after another; "
        f"chunk {r.slowest_chunk} arrived last{degraded}"
    )


@command("delete", "delete an object and free its pieces", args=[Param("name", "an object", complete="object")])
def delete(session: "Session", name: str) -> str:
    store = _store(session)
    obj = _object(store, name)
    freed = store.delete(name)
    return f"deleted {name}: {len(obj.chunks)} chunks, {format_bytes(freed)} of disk freed"


def _state(store: ObjectStore, obj) -> str:
    if obj.lost_chunks:
        return f"LOST ({obj.lost_chunks} chunk{'s' if obj.lost_chunks != 1 else ''} gone)"
    if obj.unavailable_chunks:
        return f"unavailable ({obj.unavailable_chunks} chunks unreadable now)"
    weak = sum(1 for c in obj.chunks if c.live < obj.scheme.width)
    if weak:
        return f"at risk ({weak} chunks below {obj.scheme.width} pieces)"
    return "protected"


@command("ls", "list the stored objects with their layout and state")
def ls(session: "Session") -> str:
    store = _store(session)
    if not store.objects:
        return "no objects yet (put NAME SIZE)"
    rows = [f"{'object':<18} {'size':>10} {'chunks':>7} {'chunk':>8}  {'scheme':<16} {'placement':<11} state"]
    for obj in store.objects.values():
        rows.append(
            f"{obj.name:<18} {format_bytes(obj.size):>10} {len(obj.chunks):>7} {format_bytes(obj.chunk_bytes):>8}  "
            f"{obj.scheme.label:<16} {obj.placement:<11} {_state(store, obj)}"
        )
    return "\n".join(rows)


def _spread(store: ObjectStore, obj) -> str:
    hw = store.hw
    racks: Counter[int] = Counter()
    zones: Counter[int] = Counter()
    for c in obj.chunks:
        hosts = [hw.disks[d].host for d in c.pieces if d is not None]
        racks[len({h.rack.id for h in hosts})] += 1
        zones[len({h.rack.zone.id for h in hosts})] += 1

    def fmt(counter: Counter[int], word: str) -> str:
        return ", ".join(f"{n} {word}{'s' if n != 1 else ''}: {k} chunk{'s' if k != 1 else ''}" for n, k in sorted(counter.items()))

    return f"  spread: {fmt(racks, 'rack')}; {fmt(zones, 'zone')}"


@command(
    "locate",
    "where every piece of an object is: disk, host, rack, zone",
    args=[Param("name", "an object", complete="object")],
    options=[Param("chunk", "show only this chunk (0 = the first)", type=int, min=0, max=MAX_CHUNKS_PER_PUT)],
)
def locate(session: "Session", name: str, chunk: int | None = None) -> str:
    store = _store(session)
    obj = _object(store, name)
    if chunk is not None and chunk >= len(obj.chunks):
        raise CommandError(f"{name} has chunks 0..{len(obj.chunks) - 1}, not {chunk}")
    pieces = store.locate(name)
    shown = [p for p in pieces if (p.chunk == chunk if chunk is not None else p.chunk < LOCATE_ROWS)]
    lines = [f"{name}: {len(obj.chunks)} chunks x {obj.scheme.width} pieces ({obj.scheme.label}, {obj.placement})"]
    lines.append(f"  {'chunk':>5} {'piece':<9} {'disk':<14} {'host':<11} {'rack':<8} {'zone':<12} state")
    for p in shown:
        role = f"{p.role}{p.slot}" if p.role != "replica" else f"copy{p.slot + 1}"
        lines.append(
            f"  {p.chunk:>5} {role:<9} {p.disk or '-':<14} {p.host or '-':<11} {p.rack or '-':<8} {p.zone or '-':<12} {p.state}"
        )
    if chunk is None and len(obj.chunks) > LOCATE_ROWS:
        lines.append(f"  ... {len(obj.chunks) - LOCATE_ROWS} more chunks (locate {name} --chunk N)")
    lines.append(_spread(store, obj))
    return "\n".join(lines)


@command(
    "df",
    "how full every disk is, and with how many pieces",
    options=[Param("sort", "order of the rows", choices=("disk", "fill"), default="disk")],
)
def df(session: "Session", sort: str = "disk") -> str:
    store = _store(session)
    rows = store.df()
    if sort == "fill":
        rows = sorted(rows, key=lambda u: (-u.fill_pct, u.disk))
    lines = [f"{'disk':<14} {'rack':<8} {'zone':<12} {'used':>10} {'size':>10} {'fill':>7} {'pieces':>7}  state"]
    for u in rows[:DF_ROWS]:
        state = "draining" if u.draining else (u.health if u.up else f"{u.health}, down")
        bar = "#" * int(u.fill_pct // 10)
        lines.append(
            f"{u.disk:<14} {u.rack:<8} {u.zone:<12} {format_bytes(u.used_bytes):>10} {format_bytes(u.size_bytes):>10} "
            f"{u.fill_pct:>6.1f}% {u.pieces:>7}  {state:<10} {bar}"
        )
    if len(rows) > DF_ROWS:
        lines.append(f"... {len(rows) - DF_ROWS} more disks (df --sort fill shows the fullest first)")
    total = sum(u.size_bytes for u in rows)
    used = sum(u.used_bytes for u in rows)
    fullest = max(rows, key=lambda u: u.fill_pct)
    lines.append(
        f"{len(rows)} disks: {format_bytes(used)} of {format_bytes(total)} used ({100 * used / total:.1f}% on average); "
        f"fullest {fullest.disk} at {fullest.fill_pct:.1f}%"
    )
    return "\n".join(lines)


# -- the set family -------------------------------------------------------------------------
def _apply(session: "Session", setting: str, value: object) -> str:
    store = _store(session)
    try:
        configure(store.config, setting, value)  # validate first: a rejected set changes nothing
    except CloudError as exc:
        raise _input(exc) from None
    before = store.config
    after = store.set(setting, value)
    note = "applies to objects written from now on (existing objects keep their layout)"
    if setting in ("repair_mibps", "heartbeat_timeout_s", "hedged_read_ms"):
        note = "applies at once"
    return f"{_describe_change(before, after, setting)}; {note}\n  now: {after.describe()}"


def _describe_change(before, after, setting: str) -> str:
    if setting in ("replication", "erasure"):
        return f"scheme {before.scheme.label} ({before.scheme.overhead:.2f}x) -> {after.scheme.label} ({after.scheme.overhead:.2f}x)"
    old, new = getattr(before, setting), getattr(after, setting)
    label = {"chunk_mib": "chunk size", "repair_mibps": "repair bandwidth", "heartbeat_timeout_s": "heartbeat timeout",
             "hedged_read_ms": "hedged reads"}.get(setting, setting.replace("_", " "))
    fmt = {
        "chunk_mib": lambda v: f"{v} MiB",
        "repair_mibps": lambda v: f"{v:g} MiB/s",
        "heartbeat_timeout_s": lambda v: f"{v:g} s",
        "hedged_read_ms": lambda v: "off" if v is None else f"{v:g} ms",
    }.get(setting, str)
    return f"{label} {fmt(old)} -> {fmt(new)}"


@command(
    "set replication",
    "keep N whole copies of every chunk (turns erasure coding off)",
    args=[Param("n", "copies per chunk", type=int, min=1, max=16)],
    details="HDFS's dfs.replication defaults to 3, as GFS did: 3.0x raw, survives any two losses.",
)
def set_replication(session: "Session", n: int) -> str:
    return _apply(session, "replication", n)


@command(
    "set placement",
    "choose where pieces go: random, rack-aware (HDFS) or zone-aware",
    args=[Param("policy", "placement policy", choices=POLICIES)],
    details="""random     distinct hosts, nothing more
rack-aware copies: HDFS BlockPlacementPolicyDefault (2nd copy off the 1st's rack, 3rd
           beside the 2nd); erasure fragments: spread evenly over racks
zone-aware one piece per availability zone while zones last, then spread over racks""",
)
def set_placement(session: "Session", policy: str) -> str:
    return _apply(session, "placement", policy)


@command(
    "set erasure",
    "Reed-Solomon K+M instead of copies: any K of K+M fragments rebuild a chunk (or: off)",
    args=[Param("k", "data fragments K, or off"), Param("m", "parity fragments M", type=int, min=1, max=16, required=False)],
    details="HDFS's RS-6-3 policy: 6 data + 3 parity, 1.5x raw, survives any three losses;\nrebuilding one fragment reads six. `set erasure off` goes back to copies.",
)
def set_erasure(session: "Session", k: str, m: int | None) -> str:
    if k.lower() in ("off", "none"):
        if m is not None:
            raise CommandError("set erasure off takes no M (usage: set erasure K M, or set erasure off)")
        return _apply(session, "erasure", None)
    try:
        k_int = int(parse_number(k, "K", whole=True))
    except CommandError:
        raise CommandError(f"K must be a whole number or off (digits 0-9, like 6), not {shown(k)} (usage: set erasure K M)") from None
    if m is None:
        raise CommandError("missing M, the parity fragments (usage: set erasure K M, e.g. set erasure 6 3)")
    return _apply(session, "erasure", (k_int, m))


@command(
    "set chunk",
    "the chunk size for new objects",
    args=[Param("size", f"a whole number of MiB from {MIN_CHUNK_MIB} to {MAX_CHUNK_MIB} (64MiB, 128MiB, 1GiB)")],
    details="GFS used 64 MiB chunks, HDFS uses 128 MiB blocks. Bigger chunks mean less metadata\n(about 150 bytes per chunk in the NameNode) but less parallelism when reading.",
)
def set_chunk(session: "Session", size: str) -> str:
    return _apply(session, "chunk_mib", size)


@command(
    "set repair-bandwidth",
    "how much re-replication traffic the cluster may spend, in MiB/s",
    args=[Param("mibps", "MiB per second, cluster-wide", type=float, min=0.1, max=1_000_000)],
)
def set_repair_bandwidth(session: "Session", mibps: float) -> str:
    return _apply(session, "repair_mibps", mibps)


@command(
    "set heartbeat-timeout",
    "seconds of silence before a host is declared dead and its data re-replicated",
    args=[Param("seconds", "HDFS: 630 (2 x 300 s recheck + 10 x 3 s heartbeat)", type=float, min=1, max=86_400)],
)
def set_heartbeat_timeout(session: "Session", seconds: float) -> str:
    return _apply(session, "heartbeat_timeout_s", seconds)


@command(
    "set hedged-read",
    "race another piece when a read takes longer than this many ms (or: off)",
    args=[Param("ms", "threshold in ms, or off")],
    details="HDFS's dfs.client.hedged.read.threshold.millis (off unless a thread pool is configured).",
)
def set_hedged_read(session: "Session", ms: str) -> str:
    if ms.lower() in ("off", "none"):
        return _apply(session, "hedged_read_ms", None)
    try:
        value = parse_number(ms, "the threshold", whole=False)
    except CommandError:
        raise CommandError(f"the threshold must be a number of ms or off (digits 0-9, like 50 or 2.5), not {shown(ms)}") from None
    return _apply(session, "hedged_read_ms", value)


# -- operating the cluster ----------------------------------------------------------------------
@command("storage", "the storage cluster: settings, health, repair progress, durability")
@fitted
def storage(session: "Session") -> str:
    store = _store(session)
    m = store.metrics()
    r = store.repair_status()
    lines = [f"settings: {store.config.describe()}"]
    lines.append(
        f"data: {m['objects']} objects, {format_bytes(m['bytes_stored'])} stored, {format_bytes(m['bytes_raw'])} raw "
        f"({m['storage_overhead']:g}x); {m['chunks']} chunks; read p99 {m['read_p99_ms']:g} ms; "
        f"metadata {format_bytes(m['metadata_bytes'])}"
    )
    lines.append(
        f"protection: {m['chunks_under_replicated']} chunks under-replicated, {m['failures_tolerated']} more losses "
        f"tolerated by the weakest chunk, {m['objects_unavailable']} objects unreadable now, {m['objects_lost']} lost"
    )
    for host, at in r.suspect_hosts:
        lines.append(f"  {host}: no heartbeat; declared dead at t={at:g}s unless it comes back")
    if r.dead_hosts:
        lines.append(f"  dead hosts (their pieces written off): {', '.join(r.dead_hosts)}")
    busy = [d for d in r.draining if not store.draining[d]]
    done = [d for d in r.draining if store.draining[d]]
    if busy:
        lines.append(f"  decommissioning: {', '.join(busy)}")
    if done:
        lines.append(f"  decommissioned (empty, out of service): {', '.join(done)}")
    if r.respread or r.stuck:
        lines.append(
            f"placement repair: {r.respread + r.stuck} chunks badly distributed (all their pieces, but crowded into "
            f"one failure domain); {r.respread} queued behind every under-replicated chunk, {r.stuck} with nowhere better"
        )
    if r.queued or r.waiting_report or r.stalled or r.blocked:
        lines.append(
            f"repair: {r.queued} chunks queued ({format_bytes(r.bytes_pending)} to copy, about {r.eta_s:.0f} s at "
            f"{store.config.repair_mibps:g} MiB/s); {r.waiting_report} waiting for the next heartbeat; "
            f"{r.stalled} with no readable source; {r.blocked} with no host that can take them"
        )
    elif r.incident_started_s is not None:
        lines.append(f"repair: nothing to copy yet; exposed since t={r.incident_started_s:g}s")
    elif session.cloud.log.count("storage.protected"):
        lines.append(f"repair: idle; the last incident took {m['repair_seconds']:g} s to fully protect again")
    else:
        lines.append("repair: idle; no incident yet")
    window = store.repair_window_hours() * 3600
    lines.append(
        f"durability: {m['durability_nines']:g} nines a year, from disk AFR {store.config.afr_pct:g}% "
        f"(Backblaze 2023) and a {window:.0f} s repair window (timeout + re-copying the fullest disk), "
        "if disks fail independently (racks and zones are what placement is for)"
    )
    return "\n".join(lines)


@command(
    "balance",
    "even out the disks (HDFS's balancer and disk balancer in one): fullest to emptiest",
    args=[Param("threshold", "percentage points from the average a disk may be (HDFS default 10)", type=float, min=0, max=100, required=False, default=10.0)],
    details="""Never onto a host that holds a piece of the same chunk, never reducing the racks or
zones a chunk spans. HDFS splits this in two: the Balancer (hdfs balancer) evens out
DataNodes, and the disk balancer (hdfs diskbalancer) the disks inside one DataNode;
here one command evens out every disk of the cluster. Real balancing runs for hours
at dfs.datanode.balance.bandwidthPerSec; here it is done at once.""",
)
def balance(session: "Session", threshold: float = 10.0) -> str:
    store = _store(session)
    before = store.metrics()["max_disk_fill_pct"]
    moves, moved = store.balance(threshold)
    after = store.metrics()["max_disk_fill_pct"]
    if not moves:
        return f"balanced already: every disk is within {threshold:g} points of the average (fullest {after:g}%)"
    return f"moved {moves} pieces ({format_bytes(moved)}); fullest disk {before:g}% -> {after:g}%"


DRAIN_KIND = Param("kind", "what to decommission", choices=("disk", "host"))
DRAIN_ID = Param("id", "its id", complete="id-of-kind")


@command(
    "decommission",
    "take a disk or host out of service: its pieces are copied elsewhere, then it holds nothing",
    args=[DRAIN_KIND, DRAIN_ID],
    details="""As HDFS decommissions a DataNode: no new writes, and the replication monitor copies
its pieces away at the repair bandwidth. Its copies still serve reads meanwhile.
HDFS decommissions whole DataNodes only; a single disk leaves by hot-swap
reconfiguration (dfs.datanode.data.dir changed, hdfs dfsadmin -reconfig datanode),
after which its blocks are re-replicated from the other copies. Here one disk drains
the way a DataNode does.""",
)
def decommission(session: "Session", kind: str, id: str) -> str:
    store = _store(session)
    if session.cloud.hardware.find(kind, id) is None:
        known = ", ".join(list(session.cloud.hardware.table(kind))[:8])
        raise CommandError(f"no {kind} named {id!r} ({kind}s: {known}, ...)")
    n = store.drain(kind, id)
    pending = sum(c.piece for d in ([id] if kind == "disk" else [x.id for x in session.cloud.hardware.hosts[id].disks]) for c in store.on_disk[d])
    eta = pending / (store.config.repair_mibps * MiB)
    return f"decommissioning {kind} {id}: {n} chunks to copy away ({format_bytes(pending)}, about {eta:.0f} s at {store.config.repair_mibps:g} MiB/s)"


@command("recommission", "put a decommissioned disk or host back in service", args=[DRAIN_KIND, DRAIN_ID])
def recommission(session: "Session", kind: str, id: str) -> str:
    store = _store(session)
    if session.cloud.hardware.find(kind, id) is None:
        known = ", ".join(list(session.cloud.hardware.table(kind))[:8])
        raise CommandError(f"no {kind} named {id!r} ({kind}s: {known}, ...)")
    store.undrain(kind, id)
    return f"{kind} {id} is back in service: it takes new pieces again"


# -- status ---------------------------------------------------------------------------------------
def _status(session: "Session", thing: str | None) -> str | None:
    store = session.cloud.get(ObjectStore)
    if store is None:
        return None
    if thing is None:
        m = store.metrics()
        return (
            f"storage: {m['objects']} object{'s' if m['objects'] != 1 else ''}, {format_bytes(m['bytes_stored'])} stored ({m['storage_overhead']:g}x raw), "
            f"fullest disk {m['max_disk_fill_pct']:g}%, {m['chunks_under_replicated']} chunks under-replicated, "
            f"{m['objects_lost']} objects lost (storage for more)"
        )
    obj = store.objects.get(thing)
    if obj is None:
        return None
    return (
        f"object {obj.name}: {format_bytes(obj.size)}, {len(obj.chunks)} chunks of {format_bytes(obj.chunk_bytes)}, "
        f"{obj.scheme.label} ({obj.placement}); {_state(store, obj)}"
    )


def _objects(session: "Session") -> list[str]:
    store = session.cloud.get(ObjectStore)
    return list(store.objects) if store is not None else []


MECHANISM = Mechanism(
    name="storage",
    summary="an object store over the disks: chunks, replicas or erasure codes, repair (chapters 4, 5)",
    section=storage_module.StorageSpec,
    attach=storage_module.attach,
    commands=command,
    ids={"object": _objects},
    status=_status,
    metrics=storage_module.METRICS,
    events=storage_module.EVENTS,
    views={"storage": storage_text},
)
