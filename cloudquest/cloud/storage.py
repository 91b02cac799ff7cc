"""Distributed object storage: objects cut into chunks, chunks spread over many disks.

Cloud storage is not one big disk. It is a cluster in the style of the Google File
System (2003) and HDFS: a metadata server (GFS's *master*, HDFS's *NameNode*) keeps the
namespace and, for every chunk, which servers hold its pieces; the data servers
(*chunkservers*, *DataNodes*) keep the bytes on their local disks.

- **Write path** (``put``): the object is cut into fixed-size chunks (GFS used 64 MiB
  chunks, HDFS uses 128 MiB blocks; ``chunk_mib`` here). For every chunk the metadata
  server picks target hosts with the placement policy (:mod:`.replication`); the client
  streams the chunk down a pipeline of those hosts (or writes K+M erasure-coded
  fragments, :mod:`.erasure`), and each host puts its piece on one of its disks (the
  one with the most free space, like HDFS's available-space volume choosing policy).
- **Read path** (``get``): the client asks where the chunks are, then asks the data
  servers for every chunk at once (as parallel ranged GETs do). A disk has one actuator:
  it serves the pieces asked of it *one after another*, each costing its access time
  (seek and rotation, ``Disk.read_ms``) plus the transfer at ``disk_mibps``, while the
  disks work in parallel. An object therefore arrives when its *busiest disk* has worked
  through its queue: its read time is bounded below by its size over the disks' total
  rate, and tiny chunks pay one access time each. A replicated chunk is read from one
  copy (HDFS sorts equally distant replicas in a shuffled order; here a fixed
  pseudo-random pick per chunk), an erasure-coded one from its K data fragments, parity
  standing in for missing ones. With hedged reads on (HDFS
  ``dfs.client.hedged.read.threshold.millis``), a piece whose disk would take longer
  than the threshold is asked of another copy once the threshold has passed; that copy
  joins the back of its disk's queue and the slow read is cancelled.
- **Failure detection**: DataNodes heartbeat every 3 s. A failed *disk* (volume) is
  noticed by its own DataNode and reported at the next heartbeat; a host that goes
  silent is declared *dead* only after ``2 * heartbeat.recheck-interval + 10 *
  heartbeat.interval`` = 2 * 300 s + 10 * 3 s = 630 s (10.5 minutes), so a reboot does not
  set off a storm of copying. Until then its pieces are unreachable but still counted on.
- **Re-replication**: once pieces are written off, chunks below their target enter a
  priority queue, fewest live pieces first (HDFS's ``LowRedundancyBlocks`` puts blocks
  with one replica left at the top), and are copied (or rebuilt from K fragments) onto
  new hosts chosen by the same policy, never a host that already holds a piece, with
  the cluster's repair bandwidth (``repair_mibps``) as the limit. Between the failure and
  the end of repair the data is exposed: a second failure then can lose it.
- **Coming back**: a piece written off is not necessarily gone. A host that lost power,
  or a volume that dropped out, still has its data (see :mod:`.faults`: ``fail`` is an
  outage, ``destroy`` a hardware loss). When it is back the DataNode re-registers and
  sends a full block report: every piece it still holds is counted again; a piece whose
  place was taken by a copy made meanwhile is *excess*, and the one in the more crowded
  failure domain is deleted (HDFS's ``chooseReplicasToDelete`` prefers a rack holding
  more than one replica).
- **Placement repair**: a chunk at full strength whose pieces break the placement policy
  (all copies in one rack after repairs had nowhere else to go; four of nine fragments
  in one zone) is *badly distributed*. HDFS queues such blocks too (priority
  ``QUEUE_REPLICAS_BADLY_DISTRIBUTED``, after every under-replicated block) and moves a
  replica into another failure domain; here a piece moves from its most crowded domain
  to the least crowded one that can take it, at the repair bandwidth. The policy is
  HDFS's ``verifyBlockPlacement``: copies span at least min(2, copies) racks, erasure
  fragments as many racks as there are fragments (both: or every live rack); zone-aware
  chunks hold at most ceil(pieces / live zones) pieces in a zone.

Lost, missing and unavailable: a chunk is *unavailable* while fewer than ``need`` of its
pieces can be read now. It is *missing* (HDFS's word) when fewer than ``need`` are
counted by the metadata server but enough still exist on hardware that is down: it
comes back when that hardware does. It is *lost* once fewer than ``need`` of its pieces
exist anywhere (the rest destroyed). An object is lost when any of its chunks is;
``objects_lost`` counts every object that lost data during the run.

Where the game simplifies:
- HDFS checks for dead nodes every recheck interval, so death is declared 630-930 s
  after the last heartbeat; here exactly ``heartbeat_timeout_s`` after the failure. A
  returning DataNode's block report arrives the moment it is back;
- by default (``dfs.datanode.failed.volumes.tolerated`` = 0) one failed volume takes
  its whole DataNode down; here the DataNode keeps serving from its other disks, as
  when operators tolerate failed volumes;
- ``put`` and ``balance`` happen at once (the write latency is computed and reported,
  not waited for); only repair, placement repair and draining take simulated time;
- ``read_p99_ms`` reads every object on its own: the queues of different objects' reads
  do not add up; a degraded (fail-slow) disk or host is ``degraded_slowdown`` times
  slower: Gunawi et al., "Fail-Slow at Scale" (FAST 2018), report slow-but-alive
  disks, NICs and processors running far below their rated speed, in the worst cases by
  orders of magnitude.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic import Field, field_validator, model_validator

from .mechanism import Metric, events, metrics
from .erasure import MAX_DATA, MAX_PARITY, ErasureCode
from .errors import CloudError
from .hardware import Disk, Health, Host
from .replication import (
    BACKBLAZE_2023_AFR_PCT,
    MAX_REPLICATION,
    POLICIES,
    Placement,
    Replication,
    Scheme,
    annual_loss_probability,
    nines,
)
from .world import Strict

if TYPE_CHECKING:
    from .cloud import Cloud

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40

MIN_CHUNK_MIB = 1  # HDFS dfs.namenode.fs-limits.min-block-size is 1 MiB
MAX_CHUNK_MIB = 2048
MAX_CHUNKS_PER_PUT = 2_000_000
# Cloudera's sizing rule of thumb: every file, directory and block is an object of
# about 150 bytes in the NameNode's heap; that is why chunks are big.
METADATA_BYTES_PER_ITEM = 150
OBJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")

_UNITS = {
    "": MiB,  # a bare number is MiB, the unit chunks are counted in
    "b": 1,
    "k": KiB, "kb": 1000, "kib": KiB,
    "m": MiB, "mb": 1000**2, "mib": MiB,
    "g": GiB, "gb": 1000**3, "gib": GiB,
    "t": TiB, "tb": 1000**4, "tib": TiB,
}  # fmt: skip
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(text: str | int | float) -> int:
    """``"64MiB"``, ``"1.5GiB"``, ``"2TB"``, ``512`` (MiB) -> bytes. ValueError if bad."""
    if isinstance(text, bool):
        raise ValueError("a size is a number with a unit, like 64MiB or 10GiB")
    if isinstance(text, (int, float)):
        value, unit = float(text), ""
    else:
        m = _SIZE.match(text)
        if not m:
            raise ValueError(f"{text!r} is not a size (try 64MiB, 10GiB, 1.5TiB; a bare number is MiB)")
        value, unit = float(m.group(1)), m.group(2).lower()
    if unit not in _UNITS:
        raise ValueError(f"unknown size unit {unit!r} (units: B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)")
    size = int(round(value * _UNITS[unit]))
    if size <= 0:
        raise ValueError("a size must be more than zero bytes")
    return size


def format_bytes(n: float) -> str:
    for unit, div in (("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if abs(n) >= div:
            return f"{n / div:.4g} {unit}"
    return f"{int(n)} B"


# -- the world section ----------------------------------------------------------------------
class StoredObjectSpec(Strict):
    """An object already stored when the chapter starts."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")
    size: str | int | float = Field(description="its size: 64MiB, 10GiB, 1.5TiB (a bare number is MiB)")

    @field_validator("size")
    @classmethod
    def _size(cls, v: str | int | float) -> str | int | float:
        parse_size(v)  # ValueError says what a size looks like
        return v


class ErasureSpec(Strict):
    k: int = Field(ge=1, le=MAX_DATA, description="data fragments")
    m: int = Field(ge=1, le=MAX_PARITY, description="parity fragments")


class StorageSpec(Strict):
    """An object store over every disk of the world's hosts."""

    chunk_mib: int = Field(default=64, ge=MIN_CHUNK_MIB, le=MAX_CHUNK_MIB, description="chunk size (GFS 64, HDFS 128)")
    replication: int = Field(default=3, ge=1, le=MAX_REPLICATION, description="copies per chunk (HDFS 3)")
    placement: Literal["random", "rack-aware", "zone-aware"] = "rack-aware"
    erasure: ErasureSpec | None = Field(default=None, description="Reed-Solomon K+M instead of copies")
    heartbeat_s: float = Field(default=3.0, ge=0.1, le=600)
    heartbeat_timeout_s: float = Field(default=630.0, ge=1, le=86_400, description="HDFS: 2 x 300 s + 10 x 3 s")
    repair_mibps: float = Field(default=100.0, ge=0.1, le=1_000_000, description="re-replication MiB/s, cluster-wide")
    disk_mibps: float = Field(default=200.0, ge=1, le=100_000, description="one disk's read rate")
    degraded_slowdown: float = Field(default=10.0, ge=1, le=10_000, description="how much slower a degraded disk reads")
    hedged_read_ms: float | None = Field(default=None, ge=0, le=60_000, description="hedged reads threshold; null = off")
    afr_pct: float = Field(default=1.70, gt=0, le=100, description="disk annual failure rate (Backblaze 2023: 1.70)")
    objects: list[StoredObjectSpec] = Field(default_factory=list)

    @field_validator("erasure", mode="before")
    @classmethod
    def _erasure_forms(cls, v: Any) -> Any:
        """``{k: 6, m: 3}``, ``[6, 3]``, ``RS-6-3`` or ``6 3`` (as ``set erasure`` takes it)."""
        if isinstance(v, dict):
            return v
        try:
            km = _erasure(v)
        except CloudError as exc:
            raise ValueError(exc.message) from None
        return None if km is None else {"k": km[0], "m": km[1]}

    @model_validator(mode="after")
    def _unique_objects(self) -> "StorageSpec":
        names = [o.name for o in self.objects]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"object names must be unique: {', '.join(dupes)} repeated")
        return self

    def config(self) -> "StorageConfig":
        return StorageConfig(
            chunk_mib=self.chunk_mib,
            replication=self.replication,
            placement=self.placement,
            erasure=(self.erasure.k, self.erasure.m) if self.erasure is not None else None,
            heartbeat_s=self.heartbeat_s,
            heartbeat_timeout_s=self.heartbeat_timeout_s,
            repair_mibps=self.repair_mibps,
            disk_mibps=self.disk_mibps,
            degraded_slowdown=self.degraded_slowdown,
            hedged_read_ms=self.hedged_read_ms,
            afr_pct=self.afr_pct,
        )


# -- configuration -------------------------------------------------------------------------
@dataclass(frozen=True)
class StorageConfig:
    """The world's ``storage`` section. Layout settings apply to objects written after
    they change; each object keeps the chunk size, scheme and policy it was written with
    (as an HDFS file keeps its block size and an EC file its policy)."""

    chunk_mib: int = 64
    replication: int = 3
    placement: str = "rack-aware"
    erasure: tuple[int, int] | None = None  # (K, M); replaces replication when set
    heartbeat_s: float = 3.0  # dfs.heartbeat.interval
    heartbeat_timeout_s: float = 630.0  # 2 * recheck (300 s) + 10 * heartbeat (3 s)
    repair_mibps: float = 100.0  # MiB/s of re-replication traffic, cluster-wide
    disk_mibps: float = 200.0  # sequential read rate of one disk (a modern HDD)
    degraded_slowdown: float = 10.0
    hedged_read_ms: float | None = None  # None = hedged reads off (HDFS default)
    afr_pct: float = BACKBLAZE_2023_AFR_PCT

    @property
    def scheme(self) -> Scheme:
        if self.erasure is not None:
            return ErasureCode(*self.erasure)
        return Replication(self.replication)

    @property
    def chunk_bytes(self) -> int:
        return self.chunk_mib * MiB

    def describe(self) -> str:
        hedge = f"{self.hedged_read_ms:g} ms" if self.hedged_read_ms is not None else "off"
        return (
            f"chunk {self.chunk_mib} MiB, {self.scheme.label} ({self.scheme.overhead:.2f}x), "
            f"placement {self.placement}; heartbeat timeout {self.heartbeat_timeout_s:g} s, "
            f"repair {self.repair_mibps:g} MiB/s, hedged reads {hedge}"
        )


def _bad(message: str) -> CloudError:
    return CloudError("InvalidParameterValue", message)


def _number(name: str, value: Any, lo: float, hi: float, integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise _bad(f"{name} must be a number from {lo:g} to {hi:g}, not {value!r}") from None
    if integer:
        if value != int(value):
            raise _bad(f"{name} must be a whole number from {lo:g} to {hi:g}, not {value:g}")
        value = int(value)
    if not (lo <= value <= hi) or value != value:
        raise _bad(f"{name} must be from {lo:g} to {hi:g}, not {value:g}")
    return value


def _erasure(value: Any) -> tuple[int, int] | None:
    if value in (None, "off", "none", False):
        return None
    if isinstance(value, str):
        m = re.match(r"^(?:rs-)?(\d+)[-+ ](\d+)$", value.strip().lower())
        if not m:
            raise _bad(f"erasure must be K M (e.g. 6 3, or RS-6-3) or off, not {value!r}")
        value = (int(m.group(1)), int(m.group(2)))
    if isinstance(value, dict):
        value = (value.get("k"), value.get("m"))
    try:
        k, m = value
    except (TypeError, ValueError):
        raise _bad(f"erasure must be K M (e.g. 6 3) or off, not {value!r}") from None
    k = _number("erasure K", k, 1, MAX_DATA, integer=True)
    m = _number("erasure M", m, 1, MAX_PARITY, integer=True)
    return (k, m)


# name -> (normaliser, one-line help). The game's ``set`` verb lists these.
SETTINGS: dict[str, tuple[Any, str]] = {
    "chunk_mib": (
        lambda v: _number("chunk size", v, MIN_CHUNK_MIB, MAX_CHUNK_MIB, integer=True),
        f"chunk size in MiB ({MIN_CHUNK_MIB}..{MAX_CHUNK_MIB}; GFS 64, HDFS 128)",
    ),
    "replication": (
        lambda v: _number("replication", v, 1, MAX_REPLICATION, integer=True),
        f"copies per chunk (1..{MAX_REPLICATION}; HDFS default 3)",
    ),
    "placement": (None, "random | rack-aware | zone-aware"),
    "erasure": (_erasure, "Reed-Solomon K M (e.g. 6 3 = HDFS RS-6-3), or off"),
    "heartbeat_s": (lambda v: _number("heartbeat interval", v, 0.1, 600), "seconds between heartbeats (HDFS 3)"),
    "heartbeat_timeout_s": (
        lambda v: _number("heartbeat timeout", v, 1, 86_400),
        "seconds of silence before a host is declared dead (HDFS 630)",
    ),
    "repair_mibps": (lambda v: _number("repair bandwidth", v, 0.1, 1_000_000), "re-replication MiB/s, cluster-wide"),
    "disk_mibps": (lambda v: _number("disk read rate", v, 1, 100_000), "one disk's read rate in MiB/s"),
    "degraded_slowdown": (
        lambda v: _number("degraded slowdown", v, 1, 10_000),
        "how many times slower a degraded disk reads",
    ),
    "hedged_read_ms": (
        lambda v: None if v in (None, "off", "none") else _number("hedged read threshold", v, 0, 60_000),
        "race a second piece after this many ms, or off (HDFS default off)",
    ),
    "afr_pct": (lambda v: _number("annual failure rate", v, 0.0001, 100), "disk annual failure rate % (Backblaze 2023: 1.70)"),
}


def _placement(v: Any) -> str:
    if v not in POLICIES:
        raise _bad(f"placement must be one of {', '.join(POLICIES)}, not {v!r}")
    return str(v)


SETTINGS["placement"] = (_placement, SETTINGS["placement"][1])
ALIASES = {"chunk": "chunk_mib", "chunk_size": "chunk_mib", "hedged_read": "hedged_read_ms", "hedge": "hedged_read_ms"}
def configure(cfg: StorageConfig, name: str, value: Any) -> StorageConfig:
    """A copy of ``cfg`` with one setting changed; CloudError (changing nothing) if bad."""
    key = ALIASES.get(name, name)
    if key not in SETTINGS:
        raise _bad(f"no storage setting {name!r} (settings: {', '.join(SETTINGS)})")
    if key == "chunk_mib" and isinstance(value, str):
        try:
            size = parse_size(value)
        except ValueError as exc:
            raise _bad(str(exc)) from None
        if size % MiB:
            raise _bad(f"chunk size must be a whole number of MiB, not {value}")
        value = size // MiB
    normalise, _ = SETTINGS[key]
    new = replace(cfg, **{key: normalise(value)})
    if key == "replication":
        new = replace(new, erasure=None)  # choosing copies turns erasure coding off
    return new


# -- state -------------------------------------------------------------------------------
STALE = object()  # a chunk's cached read latency must be recomputed


class Chunk:
    """One chunk of an object and where its pieces are.

    ``pieces[slot]`` is the disk id holding that replica (replication) or fragment
    (erasure coding: slot i is fragment i; data first, then parity), or None where a
    piece is missing. ``reg`` counts the pieces the metadata server counts, ``live``
    those readable now, ``dormant`` pieces it wrote off that still exist on hardware
    that is down (they come back with a block report), ``doomed`` pieces it still
    counts on a silent host whose disks were in fact destroyed.
    """

    __slots__ = (
        "id", "obj", "index", "size", "piece", "pieces", "reg", "live", "dormant", "doomed", "q", "hold_until",
        "gkey", "m", "lat",
    )  # fmt: skip

    def __init__(self, cid: int, obj: "StoredObject", index: int, size: int, piece: int) -> None:
        self.id = cid
        self.obj = obj
        self.index = index
        self.size = size
        self.piece = piece
        self.pieces: list[str | None] = []
        self.reg = 0
        self.live = 0
        self.dormant = 0
        self.doomed = 0
        self.q: Any = None  # which repair container holds it (None = none)
        self.hold_until = 0
        self.gkey: tuple[str, ...] | None = None  # its readable disks: its placement group
        self.m: int | None = None  # live - need as last counted (None: lost or new)
        self.lat: Any = STALE  # cached read: (reads, degraded), None (unreadable) or STALE

    @property
    def name(self) -> str:
        return f"{self.obj.name}#{self.index}"


@dataclass(eq=False)
class StoredObject:
    name: str
    size: int
    chunk_bytes: int
    scheme: Scheme
    placement: str
    created_ms: int
    chunks: list[Chunk] = field(default_factory=list)
    lost_chunks: int = 0
    unavailable_chunks: int = 0
    ever_lost: bool = False

    @property
    def raw_bytes(self) -> int:
        return sum(c.piece * c.reg for c in self.chunks)


@dataclass(frozen=True)
class PieceLocation:
    chunk: int
    slot: int
    role: str  # replica | data | parity
    disk: str | None
    host: str | None
    rack: str | None
    zone: str | None
    state: str  # ok | unreachable | draining | missing
    bytes: int


@dataclass(frozen=True)
class DiskUsage:
    disk: str
    host: str
    rack: str
    zone: str
    size_bytes: int
    used_bytes: int
    stored_bytes: int
    pieces: int
    fill_pct: float
    health: str
    up: bool
    draining: bool


@dataclass(frozen=True)
class PutResult:
    name: str
    size: int
    chunks: int
    scheme: str
    placement: str
    raw_bytes: int
    write_ms: float
    first_chunk: tuple[str, ...]  # disks of chunk 0, in pipeline order


@dataclass(frozen=True)
class ReadResult:
    name: str
    size: int
    chunks: int
    latency_ms: float
    slowest_chunk: int  # the chunk that arrived last (it set the read's time)
    slowest_disk: str  # the busiest disk: the one whose queue finished last
    degraded_reads: int  # chunks read with a piece missing (parity or another copy)
    queue: int = 1  # pieces the busiest disk read, one after another
    disks: int = 1  # disks that worked in parallel


class RepairPlan(NamedTuple):
    """One planned repair (a NamedTuple: plans are made by the hundred thousand)."""

    chunk: str
    live: int
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    bytes: int


@dataclass(frozen=True)
class RepairStatus:
    queued: int  # chunks waiting for bandwidth
    waiting_report: int  # pieces lost but not yet reported (next heartbeat)
    stalled: int  # unreadable now: no source to copy from
    blocked: int  # no host can take a new piece
    bytes_pending: int
    eta_s: float
    incident_started_s: float | None
    suspect_hosts: tuple[tuple[str, float], ...]  # (host, declared dead at s) if still silent
    dead_hosts: tuple[str, ...]
    draining: tuple[str, ...]
    respread: int = 0  # badly distributed chunks queued for placement repair
    stuck: int = 0  # badly distributed chunks no host can improve now


class ObjectStore:
    """The metadata server and the data servers' disks of one storage cluster.

    Public API (what commands and other chapters call):
    ``put``, ``get``, ``delete``, ``locate``, ``df``, ``set``, ``drain``/``undrain``,
    ``balance``, ``plan_repair``, ``repair_status``, ``durability``, ``metrics``,
    and the reactions wired to the cloud: ``on_health_change`` (a health listener)
    and ``step`` (a step hook that spends repair bandwidth).
    """

    def __init__(self, cloud: "Cloud", config: StorageConfig) -> None:
        self.cloud = cloud
        self.hw = cloud.hardware
        self.config = config
        self.placement = Placement(self.hw, cloud.rng)
        self.objects: dict[str, StoredObject] = {}
        self._next_id = 0
        disks = self.hw.disks
        self.on_disk: dict[str, dict[Chunk, None]] = {d: {} for d in disks}
        self.stored: dict[str, int] = dict.fromkeys(disks, 0)
        self._cap: dict[str, int] = {d.id: d.size_gib * GiB for d in disks.values()}
        self._charged_gib: dict[str, int] = dict.fromkeys(disks, 0)
        self._readable: dict[str, bool] = {d.id: d.up for d in disks.values()}
        # pieces written off that still exist on a disk that is down: disk -> {chunk: slot}
        self.dormant: dict[str, dict[Chunk, int]] = {d: {} for d in disks}
        # destroyed disks of silent hosts whose pieces still count until the host is dead
        self._doomed: set[str] = set()
        self.draining: dict[str, bool] = {}  # disk -> "drained" already announced
        self.dead_hosts: dict[str, int] = {}  # host -> when declared dead (ms)
        self._down_since: dict[str, int] = {}  # host -> when it went silent (ms)
        self._host_ok: dict[str, list[Disk]] | None = None
        # counters, kept exact as pieces come and go
        self.n_chunks = 0
        self.bytes_stored = 0
        self.bytes_raw = 0
        self.chunks_lost = 0
        self.chunks_unavailable = 0
        self.chunks_under = 0
        self.objects_lost = 0
        self.objects_unavailable = 0
        self.pieces_repaired = 0
        self.bytes_repaired = 0
        # the repair queue: margin (live - need) -> ordered set of chunks
        self._buckets: dict[int, dict[Chunk, None]] = {}
        self._held: dict[Chunk, None] = {}
        self._stalled: dict[Chunk, None] = {}
        self._blocked: dict[Chunk, None] = {}
        # placement repair: chunks at full strength whose pieces break the policy
        self._respread: dict[Chunk, None] = {}  # queued, behind every under-replicated chunk
        self._stuck: dict[Chunk, None] = {}  # no move would improve them now
        self._domains: tuple[int, int] | None = None  # (live racks, live zones) as last seen
        self._rescan_due = False
        self._credit = 0.0
        self._busy_since: int | None = None  # when the repair queue last became non-empty
        self.incident_start_ms: int | None = None
        self.repair_seconds = 0.0
        # durability: (pieces, need) -> {distinct readable disk set: chunks on it}
        self._groups: dict[tuple[int, int], dict[tuple[str, ...], int]] = {}
        self._margins: dict[int, int] = {}  # live - need -> chunks, for failures_tolerated
        self._regroup_due: dict[Chunk, None] = {}  # regrouped lazily, when asked
        # read latency per object, recomputed only for objects that changed
        self._latency: dict[str, tuple[float, int, str, int] | None] = {}
        self._dirty: dict[str, None] = {}
        self._p99: float | None = None
        for h in self.hw.hosts.values():
            if not h.up:  # down when the world starts: never in service, holds nothing
                self.dead_hosts[h.id] = 0
        self._domains = self._live_domains()

    # -- small helpers --------------------------------------------------------------------
    def _now(self) -> int:
        return self.cloud.clock.now_ms

    def _capacity(self, d: Disk) -> int:
        return self._cap[d.id]

    def _used(self, d: Disk) -> int:
        """Bytes in use on the disk: other users' GiB (instance root volumes) plus ours."""
        return (d.used_gib - self._charged_gib[d.id]) * GiB + self.stored[d.id]

    def _free(self, d: Disk) -> int:
        return self._capacity(d) - self._used(d)

    def _account(self, disk_id: str, delta: int) -> None:
        self.stored[disk_id] += delta
        self.bytes_raw += delta
        # keep Disk.used_gib honest for everyone else (the launch pipeline reads it)
        gib = -(-self.stored[disk_id] // GiB)
        d = self.hw.disks[disk_id]
        d.used_gib += gib - self._charged_gib[disk_id]
        self._charged_gib[disk_id] = gib

    def _piece_ms(self, disk_id: str, nbytes: int) -> float:
        """A piece's service time: the disk's access time plus the transfer, slowed
        down on a degraded disk or host (asked for every piece read: written flat)."""
        d = self.hw.disks[disk_id]
        cfg = self.config
        transfer = nbytes / (cfg.disk_mibps * MiB) * 1000
        slow = cfg.degraded_slowdown if d.health is Health.DEGRADED or d.host.health is Health.DEGRADED else 1.0
        return (d.read_ms + transfer) * slow

    def _eligible(self) -> dict[str, list[Disk]]:
        """Hosts that may take new pieces, with their disks that may: cached per health
        version. Up, not degraded, not dead, and the disk healthy and not draining."""
        if self._host_ok is None:
            ok: dict[str, list[Disk]] = {}
            for h in self.hw.hosts.values():
                if not h.up or h.health is not Health.HEALTHY or h.id in self.dead_hosts:
                    continue
                disks = [d for d in h.disks if d.health is Health.HEALTHY and d.id not in self.draining]
                if disks:
                    ok[h.id] = disks
            self._host_ok = ok
        return self._host_ok

    def _good(self, nbytes: int, avoid: set[str], fit: dict[str, list], free: dict[str, list[list]]):
        """The placement test for one piece: eligible host, no piece of this chunk on it
        yet, and a disk with room. ``free`` maps a host to ``[disk, bytes free]`` entries
        for its eligible disks, filled lazily; callers take promised space off an entry,
        so one put or one repair plan never promises the same space twice. The entry the
        piece would use (the disk with most free space) is left in ``fit``."""
        eligible = self._eligible()
        cap, stored, charged = self._cap, self.stored, self._charged_gib

        def good(h: Host) -> bool:
            hid = h.id
            if hid in avoid:
                return False
            entries = free.get(hid)
            if entries is None:
                entries = free[hid] = [
                    [d, cap[d.id] - (d.used_gib - charged[d.id]) * GiB - stored[d.id]] for d in eligible.get(hid, ())
                ]
            best = None
            best_free = nbytes - 1
            for e in entries:
                if e[1] > best_free:
                    best, best_free = e, e[1]
            if best is None:
                return False
            fit[hid] = best
            return True

        return good

    def _touch(self, obj: StoredObject | None = None) -> None:
        """Mark read latencies stale: one object's, or every chunk of every object's."""
        if obj is None:
            for o in self.objects.values():
                for c in o.chunks:
                    c.lat = STALE
            self._dirty = dict.fromkeys(self.objects)
        else:
            self._dirty[obj.name] = None
        self._p99 = None

    def _stale(self, c: Chunk) -> None:
        c.lat = STALE
        self._dirty[c.obj.name] = None
        self._p99 = None

    def _count_margin(self, c: Chunk, new: int | None) -> None:
        old = c.m
        if old == new:
            return
        margins = self._margins
        if old is not None:
            margins[old] -= 1
            if not margins[old]:
                del margins[old]
        if new is not None:
            margins[new] = margins.get(new, 0) + 1
        c.m = new

    def _regroup(self, c: Chunk) -> None:
        """Move the chunk to the placement group of its readable disks (lost: none)."""
        need = c.obj.scheme.need
        new = None if c.reg < need else tuple(sorted(d for d in c.pieces if d is not None and self._readable[d]))
        old = c.gkey
        if new == old:
            return
        if old is not None:
            g = self._groups[(len(old), need)]
            if g[old] == 1:
                del g[old]
            else:
                g[old] -= 1
        if new is not None:
            g = self._groups.setdefault((len(new), need), {})
            g[new] = g.get(new, 0) + 1
        c.gkey = new

    # -- chunk bookkeeping ----------------------------------------------------------------
    @staticmethod
    def _classify(c: Chunk) -> tuple[bool, bool, bool]:
        """(lost, unavailable, under-replicated). Lost: too few pieces exist anywhere."""
        s = c.obj.scheme
        if c.reg + c.dormant - c.doomed < s.need:
            return (True, False, False)
        live = c.live
        return (False, live < s.need, live < s.width)

    def _settle(self, c: Chunk, before: tuple[bool, bool, bool]) -> None:
        """Update the counters after ``c`` changed from state ``before``, then requeue.
        (The hot path of a rack failure: written flat, with the common cases first.)"""
        obj = c.obj
        scheme = obj.scheme
        need = scheme.need
        lost = c.reg + c.dormant - c.doomed < need
        after = (True, False, False) if lost else (False, c.live < need, c.live < scheme.width)
        self._regroup_due[c] = None
        c.lat = STALE  # read latency: recompute this chunk, and its object's maximum
        self._dirty[obj.name] = None
        self._p99 = None
        margin = None if lost else c.live - need
        if margin != c.m:
            self._count_margin(c, margin)
        if after != before:
            if after[0] != before[0]:
                self.chunks_lost += 1 if after[0] else -1
                obj.lost_chunks += 1 if after[0] else -1
                if after[0] and not obj.ever_lost:
                    obj.ever_lost = True
                    self.objects_lost += 1
                    self.cloud.emit("storage.object_lost", object=obj.name, chunk=c.index, scheme=obj.scheme.label)
            if after[1] != before[1]:
                self.chunks_unavailable += 1 if after[1] else -1
                was = obj.unavailable_chunks > 0
                obj.unavailable_chunks += 1 if after[1] else -1
                now = obj.unavailable_chunks > 0
                if now != was:
                    self.objects_unavailable += 1 if now else -1
            if after[2] != before[2]:
                self.chunks_under += 1 if after[2] else -1
        if c.q is not None or (not lost and (c.reg if not self.draining else self._effective(c)) < scheme.width):
            self._requeue(c)
        if (self._respread or self._stuck) and (c.reg < scheme.width or c.live < c.reg):
            self._respread.pop(c, None)  # short of pieces: repair comes first, placement after
            self._stuck.pop(c, None)

    def _effective(self, c: Chunk) -> int:
        """Pieces that count toward the target: those not on a draining disk."""
        if not self.draining:
            return c.reg
        draining = self.draining
        return sum(1 for d in c.pieces if d is not None and d not in draining)

    def _unqueue(self, c: Chunk) -> None:
        q = c.q
        if q is None:
            return
        if q == "held":
            self._held.pop(c, None)
        elif q == "stalled":
            self._stalled.pop(c, None)
        elif q == "blocked":
            self._blocked.pop(c, None)
        else:
            self._buckets[q].pop(c, None)
        c.q = None

    def _requeue(self, c: Chunk, blocked: bool = False) -> None:
        if c.q is not None:
            self._unqueue(c)
        s = c.obj.scheme
        if c.reg < s.need or (c.reg if not self.draining else self._effective(c)) >= s.width:
            return
        if c.hold_until > self.cloud.clock.now_ms:
            c.q = "held"
            self._held[c] = None
        elif c.live < s.need:
            c.q = "stalled"
            self._stalled[c] = None
        elif blocked:
            c.q = "blocked"
            self._blocked[c] = None
        else:
            margin = c.live - s.need
            c.q = margin
            self._buckets.setdefault(margin, {})[c] = None
            if self._busy_since is None:
                self._busy_since = self.cloud.clock.now_ms

    def _add_piece(self, c: Chunk, slot: int | None, disk_id: str) -> None:
        if slot is None:
            slot = next((i for i, d in enumerate(c.pieces) if d is None), len(c.pieces))
        if slot == len(c.pieces):
            c.pieces.append(disk_id)
        else:
            c.pieces[slot] = disk_id
        self.on_disk[disk_id][c] = None
        self._account(disk_id, c.piece)
        c.reg += 1
        if self._readable[disk_id]:
            c.live += 1

    def _remove_piece(self, c: Chunk, slot: int) -> None:
        disk_id = c.pieces[slot]
        assert disk_id is not None
        c.pieces[slot] = None
        del self.on_disk[disk_id][c]
        self._account(disk_id, -c.piece)
        c.reg -= 1
        if self._readable[disk_id]:
            c.live -= 1
        if disk_id in self._doomed:  # a destroyed piece still counted: it stops counting as doomed too
            c.doomed -= 1

    # -- write path -----------------------------------------------------------------------
    def put(self, name: str, size: int | str, writer: str | None = None) -> PutResult:
        """Store an object of ``size`` bytes (or a size string) under the current settings.

        All-or-nothing: every chunk's targets are chosen (with space reserved) before
        anything is written; if any chunk cannot be placed, nothing changes.
        """
        if not isinstance(name, str) or not OBJECT_NAME.match(name):
            raise _bad(f"object name {name!r} must be 1-128 letters, digits, '.', '_', '-' or '/'")
        if name in self.objects:
            raise CloudError("ObjectExists", f"object {name} already exists (delete it first)")
        if isinstance(size, str):
            try:
                size = parse_size(size)
            except ValueError as exc:
                raise _bad(str(exc)) from None
        if size <= 0:
            raise _bad("an object must hold at least one byte")
        host_w: Host | None = None
        if writer is not None:
            host_w = self.hw.hosts.get(writer)
            if host_w is None:
                raise _bad(f"no host named {writer!r} to write from")
        cfg = self.config
        scheme = cfg.scheme
        chunk_bytes = cfg.chunk_bytes
        n = -(-size // chunk_bytes)
        if n > MAX_CHUNKS_PER_PUT:
            raise _bad(f"{n} chunks is too many for one object (at most {MAX_CHUNKS_PER_PUT}; raise the chunk size)")
        free: dict[str, list[list]] = {}
        plans: list[tuple[int, int, list[str]]] = []
        for i in range(n):
            csize = min(chunk_bytes, size - i * chunk_bytes)
            piece = scheme.piece_bytes(csize)
            disks = self._choose(scheme, cfg.placement, piece, [], set(), free, host_w, True, scheme.width)
            if len(disks) < scheme.width:
                usable = len(self._eligible())
                raise CloudError(
                    "InsufficientCapacity",
                    f"chunk {i} of {name} needs {scheme.width} hosts with {format_bytes(piece)} free "
                    f"under {cfg.placement} placement; found {len(disks)} ({usable} hosts can take writes)",
                )
            plans.append((csize, piece, disks))
        obj = StoredObject(name, size, chunk_bytes, scheme, cfg.placement, self._now())
        write_ms = 0.0
        for i, (csize, piece, disks) in enumerate(plans):
            c = Chunk(self._next_id, obj, i, csize, piece)
            self._next_id += 1
            for slot, disk_id in enumerate(disks):
                self._add_piece(c, slot, disk_id)
            obj.chunks.append(c)
            self._settle(c, (False, False, False))
            self._check_placement(c)
            write_ms += self._write_ms(scheme, piece, disks)
        self.objects[name] = obj
        self.n_chunks += n
        self.bytes_stored += size
        self._touch(obj)
        self._after_change()
        self.cloud.emit(
            "storage.put",
            object=name,
            bytes=size,
            chunks=n,
            scheme=scheme.label,
            placement=cfg.placement,
            write_ms=round(write_ms, 1),
        )
        return PutResult(name, size, n, scheme.label, cfg.placement, obj.raw_bytes, write_ms, tuple(plans[0][2]))

    def _write_ms(self, scheme: Scheme, piece: int, disks: list[str]) -> float:
        """A replicated chunk streams down a pipeline, packet by packet, so it costs one
        transfer plus a hop per extra replica; EC fragments are written in parallel."""
        slowest = max(self._piece_ms(d, piece) for d in disks)
        hops = 0 if scheme.erasure else len(disks) - 1
        return slowest + 0.5 * hops

    def _choose(
        self,
        scheme: Scheme,
        policy: str,
        piece: int,
        chosen: list[Host],
        avoid: set[str],
        free: dict[str, list[list]],
        writer: Host | None,
        new_block: bool,
        count: int,
    ) -> list[str]:
        """Hosts by policy, then on each host the disk with the most free space, whose
        space is then promised (taken off ``free``). ``avoid`` must already hold the
        hosts in ``chosen``."""
        fit: dict[str, list] = {}
        good = self._good(piece, avoid, fit, free)
        hosts = self.placement.choose(policy, scheme.erasure, count, chosen, good, writer, new_block)
        out = []
        for h in hosts:
            entry = fit[h.id]
            entry[1] -= piece
            out.append(entry[0].id)
        return out

    # -- read path ------------------------------------------------------------------------
    def _chunk_read(self, c: Chunk) -> tuple[tuple[tuple[str, float, bool], ...], bool] | None:
        """How one chunk is read: ((disk, service ms, hedged?), ...) for each piece the
        client reads, and whether the read is degraded; None if it cannot be read."""
        s = c.obj.scheme
        up = self._readable
        readable = [(slot, d) for slot, d in enumerate(c.pieces) if d is not None and up[d]]
        if len(readable) < s.need:
            return None
        if s.erasure:
            # the data fragments first, parity standing in for missing ones: readable is
            # in slot order, so that is its first K; degraded if a parity slot is in them
            preferred = readable[: s.need]
            degraded = preferred[-1][0] >= s.need
        else:
            pick = (c.id * 2654435761) % len(readable)  # a fixed "shuffled" replica order
            preferred = [readable[pick]]
            degraded = c.reg < s.width or len(readable) < c.reg
        hedge = self.config.hedged_read_ms
        # the copies a hedged read may go to (only needed when reads are hedged)
        others = [p[1] for p in readable if p not in preferred] if hedge is not None else []
        reads: list[tuple[str, float, bool]] = []
        for _, d in preferred:
            ms = self._piece_ms(d, c.piece)
            if hedge is not None and ms > hedge and others:
                alt_ms, alt = min((self._piece_ms(o, c.piece), o) for o in others)
                if hedge + alt_ms < ms:  # the other copy, asked at the threshold, wins
                    others.remove(alt)
                    reads.append((alt, alt_ms, True))
                    continue
            reads.append((d, ms, False))
        return tuple(reads), degraded

    def _object_read(self, obj: StoredObject) -> tuple[float, int, str, int, int, int] | None:
        """(latency ms, the chunk that arrived last, the busiest disk, degraded chunk reads,
        pieces the busiest disk read, disks used), or None if some chunk cannot be read.

        Every piece is asked for at once; each disk serves its queue one piece after
        another while the disks work in parallel, so a disk finishes after the sum of
        its pieces' service times. Hedged reads are asked at the threshold and join the
        back of their disk's queue. Cached per object until something about it changes."""
        if obj.name in self._latency and obj.name not in self._dirty:
            return self._latency[obj.name]
        # per disk: [own pieces' ms, hedged pieces' ms, chunk of its last own piece, of its
        # last hedged piece (None: none hedged), pieces]; one record, so each piece read
        # costs one lookup. The sums add in chunk order, as the disk serves its queue.
        queues: dict[str, list] = {}
        queue_of = queues.get
        degraded = 0
        result: tuple[float, int, str, int, int, int] | None = None
        for c in obj.chunks:
            r = c.lat
            if r is STALE:  # only chunks that changed are planned again
                r = c.lat = self._chunk_read(c)
            if r is None:
                break
            reads, deg = r
            if deg:
                degraded += 1
            index = c.index
            for d, ms, h in reads:
                q = queue_of(d)
                if q is None:
                    q = queues[d] = [0.0, 0.0, None, None, 0]
                if h:
                    q[1] += ms
                    q[3] = index
                else:
                    q[0] += ms
                    q[2] = index
                q[4] += 1
        else:
            threshold = self.config.hedged_read_ms or 0.0
            worst_ms, worst_disk = -1.0, ""
            for d, (own_ms, hedged_ms, _, last_hedged, _) in queues.items():
                done = max(own_ms, threshold) + hedged_ms if last_hedged is not None else own_ms
                if done > worst_ms or (done == worst_ms and d < worst_disk):
                    worst_ms, worst_disk = done, d
            _, _, last_own, last_hedged, pieces = queues[worst_disk]
            last = last_hedged if last_hedged is not None else last_own
            result = (worst_ms, last, worst_disk, degraded, pieces, len(queues))
        self._latency[obj.name] = result
        self._dirty.pop(obj.name, None)
        return result

    def get(self, name: str) -> ReadResult:
        obj = self._object(name)
        r = self._object_read(obj)
        if r is None:
            bad = next(c for c in obj.chunks if self._chunk_read(c) is None)
            need = obj.scheme.need
            if bad.reg + bad.dormant - bad.doomed < need:
                why = "lost: too few pieces are left anywhere"
            elif bad.reg < need:
                why = "missing: its pieces are on hardware that is down; they come back with it"
            else:
                why = "unavailable: its pieces are on hosts that are down"
            raise CloudError(
                "BlockMissing",
                f"cannot read {name}: chunk {bad.index} has {bad.live} readable of {need} needed ({why})",
            )
        lat, idx, disk, degraded, queue, disks = r
        self.cloud.emit(
            "storage.get", object=name, latency_ms=round(lat, 1), slowest_disk=disk, chunk=idx, queue=queue, disks=disks
        )
        return ReadResult(name, obj.size, len(obj.chunks), lat, idx, disk, degraded, queue, disks)

    def _object(self, name: str) -> StoredObject:
        obj = self.objects.get(name)
        if obj is None:
            known = ", ".join(list(self.objects)[:6]) + (", ..." if len(self.objects) > 6 else "")
            raise CloudError("NoSuchKey", f"no object named {name!r} (objects: {known or 'none'})")
        return obj

    def delete(self, name: str) -> int:
        """Remove an object and free its pieces. Returns the raw bytes freed."""
        obj = self._object(name)
        freed = 0
        for c in obj.chunks:
            before = self._classify(c)
            self._unqueue(c)
            for slot, d in enumerate(c.pieces):
                if d is not None:
                    self._remove_piece(c, slot)
                    freed += c.piece
            # the chunk leaves every count it was in
            self._regroup_due.pop(c, None)
            self._regroup(c)
            self._count_margin(c, None)
            if before[0]:
                self.chunks_lost -= 1
            if before[1]:
                self.chunks_unavailable -= 1
            if before[2]:
                self.chunks_under -= 1
        if obj.unavailable_chunks > 0:
            self.objects_unavailable -= 1
        del self.objects[name]
        self._latency.pop(name, None)
        self._dirty.pop(name, None)
        self._p99 = None
        self.n_chunks -= len(obj.chunks)
        self.bytes_stored -= obj.size
        self._unblock()
        self._after_change()
        self.cloud.emit("storage.delete", object=name, freed_bytes=freed)
        return freed

    # -- where things are ---------------------------------------------------------------
    def locate(self, name: str) -> list[PieceLocation]:
        obj = self._object(name)
        out = []
        for c in obj.chunks:
            width = max(len(c.pieces), obj.scheme.width)
            for slot in range(width):
                d_id = c.pieces[slot] if slot < len(c.pieces) else None
                role = obj.scheme.role(slot)
                if d_id is None:
                    if obj.scheme.erasure or slot < obj.scheme.width:
                        out.append(PieceLocation(c.index, slot, role, None, None, None, None, "missing", c.piece))
                    continue
                d = self.hw.disks[d_id]
                state = "draining" if d_id in self.draining else ("ok" if self._readable[d_id] else "unreachable")
                out.append(
                    PieceLocation(c.index, slot, role, d_id, d.host.id, d.host.rack.id, d.host.rack.zone.id, state, c.piece)
                )
        return out

    def object_info(self, name: str) -> StoredObject:
        return self._object(name)

    def df(self) -> list[DiskUsage]:
        out = []
        for d in self.hw.disks.values():
            cap = self._capacity(d)
            used = self._used(d)
            out.append(
                DiskUsage(
                    d.id,
                    d.host.id,
                    d.host.rack.id,
                    d.host.rack.zone.id,
                    cap,
                    used,
                    self.stored[d.id],
                    len(self.on_disk[d.id]),
                    round(100 * used / cap, 2) if cap else 0.0,
                    d.health.value,
                    d.up,
                    d.id in self.draining,
                )
            )
        return out

    # -- settings -------------------------------------------------------------------------
    def set(self, name: str, value: Any) -> StorageConfig:
        """Change one setting (see :data:`SETTINGS`); layout settings apply to new writes."""
        self.config = configure(self.config, name, value)
        self._touch()  # read settings (disk rate, hedging, slowdown) change every latency
        key = ALIASES.get(name, name)
        shown = self.config.scheme.label if key in ("replication", "erasure") else getattr(self.config, key)
        self.cloud.emit("storage.set", setting=key, value=str(shown))
        return self.config

    # -- operator actions -----------------------------------------------------------------
    def drain(self, kind: str, ident: str) -> int:
        """Decommission a disk or host: it takes no new pieces, and its pieces are copied
        elsewhere by the repair loop (at repair bandwidth) and then dropped from it, as
        HDFS decommissioning does. Returns the number of chunks queued."""
        disks = self._scope_disks(kind, ident, ("disk", "host"))
        queued = 0
        for d in disks:
            self.draining.setdefault(d.id, False)
        self._host_ok = None
        for d in disks:
            for c in list(self.on_disk[d.id]):
                self._requeue(c)
                queued += 1
        self.cloud.emit("storage.drain", part=kind, id=ident, chunks=queued)
        self._check_drained()
        return queued

    def undrain(self, kind: str, ident: str) -> None:
        disks = self._scope_disks(kind, ident, ("disk", "host"))
        for d in disks:
            self.draining.pop(d.id, None)
        self._host_ok = None
        for d in disks:
            for c in list(self.on_disk[d.id]):
                self._requeue(c)
        self._unblock()
        self.cloud.emit("storage.undrain", part=kind, id=ident)

    def _scope_disks(self, kind: str, ident: str, kinds: tuple[str, ...]) -> list[Disk]:
        if kind not in kinds:
            raise _bad(f"cannot drain a {kind} (kinds: {', '.join(kinds)})")
        thing = self.hw.find(kind, ident)
        if thing is None:
            known = sorted(self.hw.table(kind))
            shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
            raise _bad(f"no {kind} named {ident!r} ({kind}s: {shown or 'none'})")
        return [thing] if kind == "disk" else list(thing.disks)

    def _check_drained(self) -> None:
        """Announce, once, each draining disk that holds nothing any more."""
        for disk_id, announced in self.draining.items():
            if not announced and not self.on_disk[disk_id]:
                self.draining[disk_id] = True
                self.cloud.emit("storage.drained", disk=disk_id)

    def balance(self, threshold_pct: float = 10.0, max_moves: int = 100_000) -> tuple[int, int]:
        """HDFS's Balancer: move pieces from disks fuller than the average by more than
        ``threshold_pct`` points (HDFS's default threshold is 10%) to the emptiest disks,
        never onto a host that holds a piece of the same chunk and never reducing the
        number of racks or zones a chunk spans. Returns (moves, bytes moved).

        Real balancing runs for hours at ``dfs.datanode.balance.bandwidthPerSec``; here
        it happens at once.
        """
        threshold_pct = _number("balance threshold", threshold_pct, 0, 100)
        eligible = self._eligible()
        disks = [d for ds in eligible.values() for d in ds]
        if len(disks) < 2:
            return 0, 0
        cap = {d.id: self._capacity(d) for d in disks}
        total_cap = sum(cap.values())
        avg = 100 * sum(self._used(d) for d in disks) / total_cap
        moves = moved = 0
        # every disk's fill, read many times per move; a move changes only its two disks'
        fills = {d.id: 100 * self._used(d) / cap[d.id] for d in disks}

        def fill(d: Disk) -> float:
            return fills[d.id]

        limit = avg + threshold_pct
        while moves < max_moves:
            over = [d for d in disks if fill(d) > limit]
            if not over:
                break
            src = max(over, key=lambda d: (fill(d), d.id))
            progressed = False
            for c in reversed(list(self.on_disk[src.id])):  # newest pieces first
                if fill(src) <= limit or moves >= max_moves:
                    break
                slot = c.pieces.index(src.id)
                target = self._balance_target(c, slot, src, disks, fill, avg)
                if target is None:
                    continue
                before = self._classify(c)
                self._remove_piece(c, slot)
                self._add_piece(c, slot, target.id)
                self._settle(c, before)
                for d in (src, target):
                    fills[d.id] = 100 * self._used(d) / cap[d.id]
                moves += 1
                moved += c.piece
                progressed = True
            if not progressed:
                disks.remove(src)  # nothing on it can move anywhere useful
                if len(disks) < 2:
                    break
        self.cloud.emit("storage.balanced", moves=moves, bytes=moved, threshold_pct=threshold_pct)
        return moves, moved

    def _balance_target(self, c: Chunk, slot: int, src: Disk, disks: list[Disk], fill, avg: float) -> Disk | None:
        others = [self.hw.disks[d].host for i, d in enumerate(c.pieces) if d is not None and i != slot]
        hosts = {h.id for h in others}
        racks = {h.rack.id for h in others}
        zones = {h.rack.zone.id for h in others}
        best: Disk | None = None
        best_key: tuple[float, str] | None = None  # the emptiest disk so far: (fill, id)
        for d in disks:
            h = d.host
            if d is src or h.id in hosts:
                continue
            f = fill(d)
            if f >= avg or self._free(d) < c.piece:
                continue
            # keep the spread: same rack as before, or a rack (zone) the chunk is not in
            if h.rack is not src.host.rack and h.rack.id in racks:
                continue
            if h.rack.zone is not src.host.rack.zone and h.rack.zone.id in zones:
                continue
            if best_key is None or (f, d.id) < best_key:
                best, best_key = d, (f, d.id)
        return best

    # -- failure detection (a health listener) ------------------------------------------
    def on_health_change(self, kind: str, ident: str, before: Health, after: Health) -> None:
        """React to ``faults.act``: the pieces on a destroyed disk are gone; those on a
        failed disk are written off at the next heartbeat but kept (they come back with
        the disk); pieces on a host that went down become unreachable, and the host is
        declared dead if it stays silent for ``heartbeat_timeout_s``; a host back before
        that brings its pieces back, and one back after it sends a block report."""
        self._host_ok = None
        self.placement.invalidate()
        hosts: dict[str, Host] = {}
        scope = self._disks_in_scope(kind, ident)
        for d in scope:
            was = self._readable[d.id]
            up = d.up
            if d.destroyed:
                self._lose(d)
            elif d.id in self._doomed and up:  # back with new, empty disks: nothing to report
                self._drop_disk(d.id, intact=False)
            elif d.health is Health.FAILED and self.on_disk[d.id]:
                self._volume_failed(d)
            if up != was:
                self._readable[d.id] = up
                delta = 1 if up else -1
                # the index is insertion-ordered, so this order is the same every run
                for c in list(self.on_disk[d.id]):
                    st = self._classify(c)
                    c.live += delta
                    self._settle(c, st)
            else:  # slower or faster, not gone: only read latencies change
                for c in self.on_disk[d.id]:
                    self._stale(c)
            hosts[d.host.id] = d.host
        for h in hosts.values():
            self._watch(h)
        back = [d for d in scope if d.up and self.dormant[d.id] and d.host.id not in self.dead_hosts]
        if back:
            self._block_report(back)
        if after is not Health.FAILED:
            self._unblock()
        self._check_domains()
        self._after_change()

    def _disks_in_scope(self, kind: str, ident: str) -> list[Disk]:
        hw = self.hw
        if kind == "disk" and ident in hw.disks:
            return [hw.disks[ident]]
        if kind == "host" and ident in hw.hosts:
            return list(hw.hosts[ident].disks)
        if kind == "rack" and ident in hw.racks:
            return [d for h in hw.racks[ident].hosts for d in h.disks]
        if kind == "zone" and ident in hw.zones:
            return [d for h in hw.zones[ident].hosts() for d in h.disks]
        return list(hw.disks.values())  # a link: recheck everything

    def _volume_failed(self, d: Disk) -> None:
        """A volume dropped out: its DataNode reports it at the next heartbeat and the
        metadata server writes its pieces off (repair of these chunks waits that long),
        but the data is still on the disk and comes back if the disk does."""
        report_ms = int(self.config.heartbeat_s * 1000)
        n = self._drop_disk(d.id, self._now() + report_ms, intact=True)
        self.cloud.clock.schedule_in(report_ms, self._release_held)
        self.cloud.emit("storage.disk_lost", disk=d.id, pieces=n, report_in_s=report_ms / 1000, destroyed=False)

    def _lose(self, d: Disk) -> None:
        """The disk's data is gone (it, or a part it is in, was destroyed): pieces written
        off earlier are erased. Pieces still counted are gone too, but the metadata server
        learns it only from the DataNode: at its next heartbeat if the host is up (they are
        written off then, repair waiting for the report), or, when the host itself went
        silent, not before it is declared dead (they stay counted, doomed, until then)."""
        erased = self.dormant[d.id]
        registered = len(self.on_disk[d.id])
        if not erased and not registered or d.id in self._doomed:
            return
        self.dormant[d.id] = {}
        for c in erased:
            if self.objects.get(c.obj.name) is not c.obj:
                c.dormant -= 1  # its object was deleted meanwhile
                continue
            st = self._classify(c)
            c.dormant -= 1
            self._settle(c, st)
        report_ms = 0
        if registered and d.host.up:
            report_ms = int(self.config.heartbeat_s * 1000)
            self._drop_disk(d.id, self._now() + report_ms, intact=False)
            self.cloud.clock.schedule_in(report_ms, self._release_held)
        elif registered:
            since = self._down_since.get(d.host.id, self._now())
            report_ms = max(0, since + int(self.config.heartbeat_timeout_s * 1000) - self._now())
            self._doomed.add(d.id)
            for c in self.on_disk[d.id]:
                st = self._classify(c)
                c.doomed += 1
                self._settle(c, st)
        self.cloud.emit(
            "storage.disk_lost", disk=d.id, pieces=registered + len(erased), report_in_s=report_ms / 1000, destroyed=True
        )

    def _drop_disk(self, disk_id: str, hold_until: int = 0, intact: bool = False) -> int:
        """Stop counting every piece on a disk: destroyed with it (``intact`` False), or
        written off with its host or volume while still on it (``intact``: kept as
        dormant, to come back with a block report). The hot path of a rack failure, so
        the space is accounted once per disk."""
        chunks = self.on_disk[disk_id]
        undoom = disk_id in self._doomed
        self._doomed.discard(disk_id)
        # A doomed disk's pieces were destroyed with it: there is nothing left to keep,
        # whatever state the disk is found in when they are written off.
        intact = intact and not undoom
        if not chunks:
            return 0
        self.on_disk[disk_id] = {}
        readable = self._readable[disk_id]
        dormant = self.dormant[disk_id]
        classify, settle = self._classify, self._settle
        total = 0
        for c in chunks:
            st = classify(c)
            slot = c.pieces.index(disk_id)
            c.pieces[slot] = None
            c.reg -= 1
            if readable:
                c.live -= 1
            if intact:
                dormant[c] = slot
                c.dormant += 1
            elif undoom:
                c.doomed -= 1
            total += c.piece
            if hold_until > c.hold_until:
                c.hold_until = hold_until
            settle(c, st)
        self._account(disk_id, -total)
        return len(chunks)

    def _release_held(self) -> None:
        now = self._now()
        for c in [c for c in self._held if c.hold_until <= now]:
            self._requeue(c)

    def _watch(self, h: Host) -> None:
        now = self._now()
        if not h.up:
            if h.id not in self._down_since and h.id not in self.dead_hosts:
                self._down_since[h.id] = now
                at = now + int(self.config.heartbeat_timeout_s * 1000)
                self.cloud.clock.schedule(at, lambda h=h, token=now: self._declare_dead(h, token))
                self.cloud.emit("storage.heartbeat_lost", host=h.id, dead_at_s=at / 1000)
        else:
            self._down_since.pop(h.id, None)
            if self.dead_hosts.pop(h.id, None) is not None:
                empty = not any(self.dormant[d.id] for d in h.disks)
                self.cloud.emit("storage.host_rejoined", host=h.id, empty=empty)

    def _declare_dead(self, h: Host, token: int) -> None:
        if self._down_since.get(h.id) != token or h.up:
            return  # it came back (or went down again later: a newer timer is running)
        del self._down_since[h.id]
        self.dead_hosts[h.id] = self._now()
        self._host_ok = None
        dropped = sum(self._drop_disk(d.id, intact=not (d.destroyed or d.id in self._doomed)) for d in h.disks)
        self.cloud.emit("storage.host_dead", host=h.id, pieces=dropped, silent_s=(self._now() - token) / 1000)
        self._check_domains()
        self._after_change()

    # -- coming back: block reports ----------------------------------------------------------
    def _block_report(self, disks: list[Disk]) -> None:
        """DataNodes back in service report the pieces still on their disks: each one is
        counted again, or deleted as excess where a copy made meanwhile took its place."""
        by_host: dict[str, list[int]] = {}
        names: dict[str, list[str]] = {}
        for d in disks:
            returned, excess = self._report(d)
            row = by_host.setdefault(d.host.id, [0, 0])
            row[0] += returned
            row[1] += excess
            names.setdefault(d.host.id, []).append(d.id)
        for host, (returned, excess) in by_host.items():
            self.cloud.emit(
                "storage.block_report", host=host, disks=",".join(names[host]), returned=returned, excess=excess
            )

    def _report(self, d: Disk) -> tuple[int, int]:
        pieces = self.dormant[d.id]
        self.dormant[d.id] = {}
        returned = excess = 0
        for c, slot in pieces.items():
            if self.objects.get(c.obj.name) is not c.obj:
                c.dormant -= 1
                excess += 1  # its object was deleted meanwhile: the DataNode deletes it too
                continue
            st = self._classify(c)
            c.dormant -= 1
            keep = self._returning_slot(c, slot, d)
            if keep is None:
                excess += 1
            else:
                self._add_piece(c, keep, d.id)
                returned += 1
            self._settle(c, st)
            self._check_placement(c)
        return returned, excess

    def _domain_load(self, c: Chunk, d: Disk, skip: int | None) -> tuple[int, ...]:
        """How crowded ``d``'s failure domain is with the chunk's other pieces (all but
        slot ``skip``): by zone then rack for zone-aware chunks, by rack otherwise."""
        disks = self.hw.disks
        rack, zone = d.host.rack, d.host.rack.zone
        in_rack = in_zone = 0
        for i, x in enumerate(c.pieces):
            if x is None or i == skip:
                continue
            h = disks[x].host
            in_rack += h.rack is rack
            in_zone += h.rack.zone is zone
        return (in_zone, in_rack) if c.obj.placement == "zone-aware" else (in_rack,)

    def _returning_slot(self, c: Chunk, slot: int, d: Disk) -> int | None:
        """Where a reported piece goes back (evicting a newer copy that sits in a more
        crowded failure domain), or None if it is excess and deleted."""
        disks = self.hw.disks
        if any(x is not None and disks[x].host is d.host for x in c.pieces):
            return None  # its host got a new copy while the volume was out
        s = c.obj.scheme
        if s.erasure:
            if slot >= len(c.pieces) or c.pieces[slot] is None:
                return slot
            other = c.pieces[slot]
            assert other is not None
            if self._domain_load(c, d, slot) < self._domain_load(c, disks[other], slot):
                self._remove_piece(c, slot)  # fragment `slot` twice: the crowded one goes
                return slot
            return None
        if c.reg < s.width:
            return next((i for i, x in enumerate(c.pieces) if x is None), len(c.pieces))
        worst = max(
            (i for i, x in enumerate(c.pieces) if x is not None),
            key=lambda i: (self._domain_load(c, disks[c.pieces[i]], i), -i),
        )
        if self._domain_load(c, d, worst) < self._domain_load(c, disks[c.pieces[worst]], worst):
            self._remove_piece(c, worst)  # one copy too many: delete from the crowded domain
            return worst
        return None

    # -- placement repair ------------------------------------------------------------------
    def _live_domains(self) -> tuple[int, int]:
        """(racks, zones) with a host up that storage has not declared dead."""
        racks: set[str] = set()
        zones: set[str] = set()
        dead = self.dead_hosts
        for h in self.hw.hosts.values():
            if h.up and h.id not in dead:
                racks.add(h.rack.id)
                zones.add(h.rack.zone.id)
        return len(racks), len(zones)

    def _badly_distributed(self, c: Chunk) -> bool:
        """HDFS's ``verifyBlockPlacement``, for a chunk at full strength: copies span at
        least min(2, copies) racks, erasure fragments as many racks as fragments, either
        way or every live rack; a zone-aware chunk has at most ceil(pieces / live zones)
        pieces in any zone."""
        s = c.obj.scheme
        policy = c.obj.placement
        if policy == "random" or c.reg < s.width or c.live < c.reg:
            return False
        disks = self.hw.disks
        hosts = [disks[x].host for x in c.pieces if x is not None]
        racks_live, zones_live = self._domains or self._live_domains()
        if policy == "rack-aware":
            racks = len({h.rack.id for h in hosts})
            required = s.width if s.erasure else min(2, s.width)
            return racks < required and racks < racks_live
        per_zone: dict[str, int] = {}
        for h in hosts:
            per_zone[h.rack.zone.id] = per_zone.get(h.rack.zone.id, 0) + 1
        return max(per_zone.values()) > -(-s.width // max(1, zones_live))

    def _check_placement(self, c: Chunk) -> None:
        if self._badly_distributed(c):
            if c not in self._respread and c not in self._stuck:
                self._respread[c] = None
                if self._busy_since is None:
                    self._busy_since = self._now()
        else:
            self._respread.pop(c, None)
            self._stuck.pop(c, None)

    def _check_domains(self) -> None:
        """Racks or zones came back: the placement policy may ask for a wider spread now,
        so every chunk is checked again at the next repair step (racks or zones going
        only loosen it; the queued chunks are checked again before they move)."""
        now = self._live_domains()
        before = self._domains
        self._domains = now
        if before is not None and (now[0] > before[0] or now[1] > before[1]):
            self._rescan_due = True

    def _rescan(self) -> None:
        self._rescan_due = False
        for obj in self.objects.values():
            if obj.placement != "random":
                for c in obj.chunks:
                    self._check_placement(c)

    def _respread_plan(self, c: Chunk, free: dict[str, list[list]]) -> tuple[int, str] | None:
        """(slot to move, disk to move it to), from the chunk's most crowded failure domain
        to a host the policy picks; None if no host would leave it better spread."""
        disks = self.hw.disks
        s = c.obj.scheme
        slots = [i for i, x in enumerate(c.pieces) if x is not None]
        src = max(slots, key=lambda i: (self._domain_load(c, disks[c.pieces[i]], i), -i))
        avoid = {disks[x].host.id for x in c.pieces if x is not None}
        present = [disks[c.pieces[i]].host for i in slots if i != src]
        source = disks[c.pieces[src]].host
        targets = self._choose(s, c.obj.placement, c.piece, present, avoid, free, source, False, 1)
        if not targets:
            return None
        if self._domain_load(c, disks[targets[0]], src) >= self._domain_load(c, disks[c.pieces[src]], src):
            return None
        return src, targets[0]

    def _respread_one(self, c: Chunk) -> int:
        """Move one piece of a badly distributed chunk; the bytes copied (0: no move)."""
        if not self._badly_distributed(c):
            self._respread.pop(c, None)
            return 0
        plan = self._respread_plan(c, {})
        if plan is None:
            self._respread.pop(c, None)
            self._stuck[c] = None
            return 0
        slot, target = plan
        was = c.pieces[slot]
        st = self._classify(c)
        self._remove_piece(c, slot)
        self._add_piece(c, slot, target)
        self._settle(c, st)
        self.bytes_repaired += c.piece
        self.cloud.emit("storage.respread", chunk=c.name, moved=was, to=target, bytes=c.piece)
        self._respread.pop(c, None)
        self._check_placement(c)
        return c.piece

    def _unblock(self) -> None:
        for c in list(self._blocked):
            self._requeue(c)
        if self._stuck:  # capacity or hosts came back: a move may be possible now
            self._respread.update(self._stuck)
            self._stuck.clear()
            if self._busy_since is None:
                self._busy_since = self._now()

    def _after_change(self) -> None:
        """Open or close the current incident: from the first piece lost or unreachable
        to every surviving chunk back at full strength."""
        now = self._now()
        if self.chunks_under and self.incident_start_ms is None:
            self.incident_start_ms = now
            self.cloud.emit("storage.at_risk", chunks=self.chunks_under)
        elif not self.chunks_under and self.incident_start_ms is not None:
            self.repair_seconds = (now - self.incident_start_ms) / 1000
            self.incident_start_ms = None
            self.cloud.emit("storage.protected", repair_seconds=self.repair_seconds, lost=self.objects_lost)

    # -- repair (a step hook) ---------------------------------------------------------------
    def _next_queued(self) -> Chunk | None:
        for margin in sorted(self._buckets):
            bucket = self._buckets[margin]
            if bucket:
                return next(iter(bucket))
        return None

    def _repair_jobs(self, c: Chunk) -> tuple[list[int | None], list[int]]:
        """(slots to rebuild (None = a new replica), slots to move off draining disks)."""
        s = c.obj.scheme
        if self.draining:
            draining = [i for i, d in enumerate(c.pieces) if d is not None and d in self.draining]
        else:
            draining = []
        if s.erasure:
            missing: list[int | None] = [i for i in range(s.width) if i >= len(c.pieces) or c.pieces[i] is None]
            return missing, draining
        return [None] * (s.width - self._effective(c)), draining

    def _repair_bytes(self, c: Chunk, rebuild: int, move: int) -> int:
        """Network bytes: a new copy streams one replica; rebuilding EC fragments reads K
        fragments once (a whole chunk) and writes each new one; a move copies one piece."""
        s = c.obj.scheme
        if s.erasure:
            return (s.need * c.piece if rebuild else 0) + (rebuild + move) * c.piece
        return rebuild * c.piece

    def _plan(self, c: Chunk, free: dict[str, list[list]]) -> tuple[list[int | None], list[int], list[str]]:
        s = c.obj.scheme
        if s.erasure or self.draining:
            missing, draining = self._repair_jobs(c)
            if not s.erasure:
                draining = []  # extra copies are made by `missing`; the draining one is dropped after
        else:  # the common case, copies with nothing draining: just count the gap
            missing, draining = [None] * (s.width - c.reg), []
        disks, readable, draining_disks = self.hw.disks, self._readable, self.draining
        avoid: set[str] = set()  # never a second piece on a host that has one
        present: list[Host] = []  # pieces that count, for the policy's rack/zone rules
        source: Host | None = None  # the node the copy is made from (HDFS's "writer")
        for d in c.pieces:
            if d is None:
                continue
            h = disks[d].host
            avoid.add(h.id)
            if d not in draining_disks:
                present.append(h)
            if source is None and readable[d]:
                source = h
        targets = self._choose(
            s, c.obj.placement, c.piece, present, avoid, free, source, False, len(missing) + len(draining)
        )
        return missing, draining, targets

    def step(self, dt_ms: int) -> None:
        """Spend ``dt_ms`` worth of repair bandwidth on the most-at-risk chunks, then on
        re-spreading badly distributed ones."""
        now = self._now()
        if self._rescan_due and self._next_queued() is None:
            self._rescan()
        if self._next_queued() is None and not self._respread:
            self._credit, self._busy_since = 0.0, None
            return
        # bandwidth counts only from when there was something to copy
        busy_ms = now - max(now - dt_ms, self._busy_since if self._busy_since is not None else now - dt_ms)
        self._credit += self.config.repair_mibps * MiB * busy_ms / 1000
        changed = False
        while True:
            c = self._next_queued()
            if c is None:
                changed |= self._respread_with_credit()
                break
            missing, draining = self._repair_jobs(c)
            cost = self._repair_bytes(c, len(missing), len(draining) if c.obj.scheme.erasure else 0)
            if self._credit < cost:
                break
            missing, draining, targets = self._plan(c, {})
            if not targets:
                self._requeue(c, blocked=True)
                continue
            self._credit -= self._commit(c, missing, draining, targets)
            changed = True
        if changed:
            self._check_drained()
            self._after_change()

    def quiet_until(self, now_ms: int, until_ms: int, sampled: bool) -> int:
        """With nothing to re-replicate, re-spread or rescan, a step only clears the
        repair credit: any stretch is one step. (Held chunks come back through the
        clock, which the cloud's fast-forward stops at.)"""
        if self._rescan_due or self._respread or self._next_queued() is not None:
            return now_ms
        return until_ms

    def _respread_with_credit(self) -> bool:
        """Placement repair, once nothing is under-replicated: one piece at a time while
        the bandwidth lasts. True if a piece moved."""
        moved = False
        while self._respread:
            c = next(iter(self._respread))
            if self._credit < c.piece:
                return moved
            cost = self._respread_one(c)
            self._credit -= cost
            moved |= cost > 0
        if self._rescan_due:
            self._rescan()
            if self._respread:
                return moved
        self._credit, self._busy_since = 0.0, None
        return moved

    def _commit(self, c: Chunk, missing: list[int | None], draining: list[int], targets: list[str]) -> int:
        s = c.obj.scheme
        st = self._classify(c)
        was = c.live
        jobs: list[tuple[str, int | None]] = [("rebuild", slot) for slot in missing] + [("move", slot) for slot in draining]
        done_rebuild = done_move = 0
        for (job, slot), disk_id in zip(jobs, targets):
            if job == "move":
                assert slot is not None
                self._remove_piece(c, slot)
                done_move += 1
            else:
                done_rebuild += 1
            self._add_piece(c, slot, disk_id)
        if not s.erasure and self._effective(c) >= s.width:
            for slot, d in enumerate(c.pieces):
                if d is not None and d in self.draining:
                    self._remove_piece(c, slot)
        if len(targets) < len(jobs):
            self._settle(c, st)
            self._requeue(c, blocked=True)
        else:
            self._settle(c, st)
            self._check_placement(c)  # whole again: is it where the policy wants it?
        cost = self._repair_bytes(c, done_rebuild, done_move)
        self.pieces_repaired += len(targets)
        self.bytes_repaired += cost
        self.cloud.emit(
            "storage.repaired",
            chunk=c.name,
            was=was,
            live=c.live,
            of=s.width,
            to=",".join(targets),
            bytes=cost,
        )
        return cost

    def plan_repair(self) -> list[RepairPlan]:
        """Plan every queued repair in priority order without doing any: sources and
        targets per chunk, with the space each target will use reserved as it goes."""
        free: dict[str, list[list]] = {}
        out: list[RepairPlan] = []
        readable = self._readable
        for margin in sorted(self._buckets):
            for c in list(self._buckets[margin]):
                missing, draining, targets = self._plan(c, free)
                sources = tuple([d for d in c.pieces if d is not None and readable[d]][: c.obj.scheme.need])
                cost = self._repair_bytes(c, len(missing), len(draining))
                out.append(RepairPlan(c.name, c.live, sources, tuple(targets), cost))
        return out

    def repair_status(self) -> RepairStatus:
        queued = [c for b in self._buckets.values() for c in b]
        pending = 0
        for c in queued:
            missing, draining = self._repair_jobs(c)
            pending += self._repair_bytes(c, len(missing), len(draining))
        now = self._now()
        suspects = tuple(
            (h, (since + self.config.heartbeat_timeout_s * 1000) / 1000)
            for h, since in self._down_since.items()
            if since + self.config.heartbeat_timeout_s * 1000 > now
        )
        return RepairStatus(
            queued=len(queued),
            waiting_report=len(self._held),
            stalled=len(self._stalled),
            blocked=len(self._blocked),
            bytes_pending=pending,
            eta_s=pending / (self.config.repair_mibps * MiB),
            incident_started_s=None if self.incident_start_ms is None else self.incident_start_ms / 1000,
            suspect_hosts=suspects,
            dead_hosts=tuple(self.dead_hosts),
            draining=tuple(self.draining),
            respread=len(self._respread),
            stuck=len(self._stuck),
        )

    # -- durability ----------------------------------------------------------------------
    def repair_window_hours(self) -> float:
        """How long a failure leaves chunks exposed: detection (the heartbeat timeout)
        plus re-copying the fullest disk's pieces at the repair bandwidth."""
        fullest = max(self.stored.values(), default=0)
        seconds = self.config.heartbeat_timeout_s + fullest / (self.config.repair_mibps * MiB)
        return seconds / 3600

    def durability(self) -> float:
        """Estimated annual durability of the current layout, in nines (see
        :func:`~cloudquest.cloud.replication.annual_loss_probability`): each distinct
        set of disks holding a chunk's readable pieces is one placement group."""
        for c in self._regroup_due:
            if c.obj.name in self.objects:
                self._regroup(c)
        self._regroup_due.clear()
        counts = {k: len(g) for k, g in self._groups.items() if g}
        p_loss = annual_loss_probability(counts, self.config.afr_pct, self.repair_window_hours())
        return round(nines(p_loss), 2)

    def read_p99_ms(self) -> float:
        """The 99th percentile (nearest rank) of every readable object's GET latency as
        the layout stands now: each object read once, its chunks in parallel."""
        if self._p99 is None:
            lats = sorted(r[0] for r in (self._object_read(o) for o in self.objects.values()) if r is not None)
            self._p99 = round(lats[max(0, math.ceil(0.99 * len(lats)) - 1)], 1) if lats else 0.0
        return self._p99

    def failures_tolerated(self) -> int:
        """How many more pieces the weakest surviving chunk can lose and still be read:
        2 for healthy three-way copies, 3 for healthy RS-6-3, 0 for a chunk down to its
        last copy (0 too when nothing is stored)."""
        return max(0, min(self._margins)) if self._margins else 0

    # -- what the store publishes to other mechanisms ------------------------------------
    def unreadable(self) -> tuple[int, int]:
        """(objects that cannot be read in full right now, objects stored)."""
        if not self.objects or not (self.chunks_unavailable or self.chunks_lost):
            return 0, 0
        bad = sum(1 for o in self.objects.values() if o.unavailable_chunks or o.lost_chunks)
        return bad, len(self.objects)

    def protected(self) -> bool:
        """Every object readable and every chunk at full redundancy."""
        return not (self.chunks_under or self.objects_unavailable or self.chunks_unavailable)

    # -- metrics -------------------------------------------------------------------------
    def metrics(self) -> dict[str, float | int]:
        fill = max((100 * self._used(d) / self._capacity(d) for d in self.hw.disks.values() if d.size_gib), default=0.0)
        incident = (
            (self._now() - self.incident_start_ms) / 1000 if self.incident_start_ms is not None else self.repair_seconds
        )
        return {
            "objects": len(self.objects),
            "chunks": self.n_chunks,
            "bytes_stored": self.bytes_stored,
            "bytes_raw": self.bytes_raw,
            "max_disk_fill_pct": round(fill, 2),
            "read_p99_ms": self.read_p99_ms(),
            "objects_lost": self.objects_lost,
            "objects_unavailable": self.objects_unavailable,
            "chunks_lost": self.chunks_lost,
            "chunks_under_replicated": self.chunks_under,
            "failures_tolerated": self.failures_tolerated(),
            "storage_overhead": round(self.bytes_raw / self.bytes_stored, 3) if self.bytes_stored else 0.0,
            "repair_seconds": round(incident, 3),
            "repair_queue": sum(len(b) for b in self._buckets.values()),
            "bytes_repaired": self.bytes_repaired,
            "durability_nines": self.durability(),
            "hosts_dead": len(self.dead_hosts),
            "chunks_misplaced": len(self._respread) + len(self._stuck),
            "metadata_bytes": METADATA_BYTES_PER_ITEM * (len(self.objects) + self.n_chunks),
        }


def attach(cloud: "Cloud", spec: StorageSpec) -> ObjectStore:
    """World key ``storage``: build the store, wire its metrics, repair loop and failure
    detector into the cloud, and write any ``objects`` the world starts with."""
    store = ObjectStore(cloud, spec.config())
    cloud.metric_sources.append(store.metrics)
    cloud.add_step_hook(store.step, store.quiet_until)
    cloud.health_listeners.append(store.on_health_change)
    for obj in spec.objects:
        store.put(obj.name, obj.size if isinstance(obj.size, str) else parse_size(obj.size))  # a bare number is MiB
    return store


# -- what the mechanism publishes ------------------------------------------------------------
METRICS = metrics(
    ("objects", "objects stored"),
    ("chunks", "chunks stored"),
    ("bytes_stored", "bytes of data stored"),
    ("bytes_raw", "bytes on disk, every copy or fragment"),
    ("max_disk_fill_pct", "the fullest disk's fill"),
    ("read_p99_ms", "the 99th percentile read latency"),
    ("objects_lost", "objects that lost data for good (too few pieces left anywhere)"),
    ("objects_unavailable", "objects that cannot be read right now"),
    ("chunks_lost", "chunks lost"),
    ("chunks_under_replicated", "chunks below full redundancy"),
    ("failures_tolerated", "failures the weakest chunk can still survive"),
    ("storage_overhead", "raw bytes per stored byte"),
    Metric("repair_seconds", "how long the latest repair took (counting while a repair runs)", clocked=True),
    ("repair_queue", "chunks waiting for repair"),
    ("bytes_repaired", "bytes re-replicated"),
    ("durability_nines", "estimated annual durability, in nines"),
    ("hosts_dead", "hosts storage has declared dead"),
    ("chunks_misplaced", "chunks at full strength whose pieces break the placement policy (badly distributed)"),
    ("metadata_bytes", "the metadata server's memory for the namespace"),
)
EVENTS = events(
    ("storage.put", "object bytes chunks scheme placement write_ms", "an object was written"),
    ("storage.get", "object chunk latency_ms slowest_disk queue disks", "an object was read: disks in parallel, each one piece after another"),
    ("storage.delete", "object freed_bytes", "an object was deleted"),
    ("storage.set", "setting value", "a storage setting changed"),
    ("storage.disk_lost", "disk pieces report_in_s destroyed", "a disk failed (data kept) or was destroyed under stored pieces"),
    ("storage.heartbeat_lost", "host dead_at_s", "a host stopped sending heartbeats"),
    ("storage.host_dead", "host pieces silent_s", "storage declared a host dead"),
    ("storage.host_rejoined", "host empty", "a host declared dead came back (empty if its disks were destroyed)"),
    ("storage.block_report", "host disks returned excess", "a DataNode back in service reported its pieces: counted again, or deleted as excess"),
    ("storage.respread", "chunk moved to bytes", "placement repair moved a piece of a badly distributed chunk"),
    ("storage.at_risk", "chunks", "chunks fell below full redundancy"),
    ("storage.repaired", "chunk to bytes live of was", "a chunk's missing piece was rebuilt"),
    ("storage.protected", "repair_seconds lost", "every chunk is at full redundancy again"),
    ("storage.object_lost", "object chunk scheme", "an object lost data for good"),
    ("storage.balanced", "moves bytes threshold_pct", "the balancer evened out the disks"),
    ("storage.drain", "part id chunks", "a part began to be emptied"),
    ("storage.drained", "disk", "a disk was emptied"),
    ("storage.undrain", "part id", "a part was put back in service"),
)
