"""Plain-text summaries of the live views, for ``describe`` with no argument.

The terminal game draws one live view per chapter, chosen by the world's ``view`` key
(``fleet``, ``host``, ...). A player who uses a screen reader, or who wants to copy what
the view shows, types ``describe`` and gets the same picture as text. The text is built
in the game layer, from the session's state, so a headless run prints exactly what
the terminal game prints (the console is one road).

A mechanism's record names each of its views with its text (``views={"storage":
storage_text}``); the texts of the launch, scheduling and storage views are here.
Views without a text fall back to the world summary plus every metric.

:class:`LaunchHistory` reads the launch pipeline's events (``api.call RunInstances``,
``launch.step``, ``launch.failed``, ``instance.running``, the status checks) incrementally; the fleet view
of the terminal game uses it too, so the picture and the text agree.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from ..cloud.control_plane import STEPS
from ..cloud.events import EventLog
from ..cloud.fleet import Fleet, utilisation
from ..cloud.storage import ObjectStore
from ..cloud.scheduler import cpu_capacity, is_degraded, ram_capacity

if TYPE_CHECKING:
    from ..cloud.scheduler import Explanation, HostOutcome
    from .session import Session


# Short names for the seven launch steps, for narrow screens and one-line summaries.
STEP_SHORT = {
    "find_server": "find",
    "allocate_cpu": "cpu",
    "allocate_ram": "ram",
    "allocate_disk": "disk",
    "assign_nic": "nic",
    "configure_firewall": "fw",
    "boot": "boot",
}


def describe_view(session: "Session") -> str:
    """What the chapter's live view shows, as plain text."""
    from .mechanism import view_texts

    fn = view_texts().get(session.chapter.world.view)
    if fn is not None:
        return fn(session)
    return metrics_text(session)


def metrics_text(session: "Session") -> str:
    from .commands.core import world_summary

    metrics = session.cloud.metrics()
    lines = [world_summary(session), "metrics:"]
    for name in sorted(metrics):
        value = metrics[name]
        lines.append(f"  {name} = {value:g}" if isinstance(value, float) else f"  {name} = {value}")
    return "\n".join(lines)


# -- the launch pipeline, read from the log ------------------------------------------------
@dataclass
class LaunchRow:
    """One RunInstances call and how far its seven steps got."""

    instance: str
    requested_ms: int
    zone: str = ""
    steps: dict[str, int] = field(default_factory=dict)  # step -> time it finished
    host: str = ""
    state: str = "launching"  # launching | running | failed | terminated
    failed_step: str = ""
    code: str = ""
    reason: str = ""
    booted: bool = False  # the guest OS answers (EC2's `running` comes before it)
    checks: dict[str, str] = field(default_factory=dict)  # status check -> its latest result

    @property
    def checks_passed(self) -> int:
        return sum(1 for v in self.checks.values() if v == "ok")

    @property
    def instant(self) -> bool:
        """Launched whole at once: an instance the world starts with, not a player's."""
        return len(self.steps) == len(STEPS) and all(t == self.requested_ms for t in self.steps.values())

    def next_step(self) -> str | None:
        if self.state != "launching":
            return None
        for step in STEPS:
            if step not in self.steps:
                return step
        return None


class LaunchHistory:
    """Every launch attempt in the log, oldest first, updated from new events only."""

    def __init__(self) -> None:
        self.rows: list[LaunchRow] = []
        self._latest: dict[str, LaunchRow] = {}
        self._seen = 0

    def update(self, log: EventLog) -> bool:
        """Read events since the last call; True if anything changed."""
        changed = False
        for e in log.since(self._seen):
            kind = e.kind
            if kind == "api.call" and e.get("action") == "RunInstances":
                row = LaunchRow(str(e.get("instance", "")), e.t_ms, zone=str(e.get("zone", "") or ""))
                self.rows.append(row)
                self._latest[row.instance] = row
                changed = True
            elif kind in (
                "launch.step", "launch.failed", "instance.running", "instance.terminated", "instance.booted",
                "instance.status_check",
            ):  # fmt: skip
                row = self._latest.get(str(e.get("instance", "")))
                if row is None:
                    continue
                changed = True
                if kind == "launch.step":
                    row.steps[str(e.get("step"))] = e.t_ms
                    if e.get("step") == "find_server":
                        row.host = str(e.get("host", ""))
                        row.zone = str(e.get("zone", "") or row.zone)
                elif kind == "launch.failed":
                    row.state = "failed"
                    row.failed_step = str(e.get("step", ""))
                    row.code = str(e.get("code", ""))
                    row.reason = str(e.get("reasons", ""))
                elif kind == "instance.running":
                    row.state = "running"
                elif kind == "instance.booted":
                    row.booted = True
                elif kind == "instance.status_check":
                    row.checks[str(e.get("check"))] = str(e.get("status"))
                elif row.state != "failed":
                    row.state = "terminated"
        self._seen = len(log)
        return changed

    def recent(self, limit: int) -> list[LaunchRow]:
        """The player's latest launches (not the world's starting instances), newest last."""
        mine = [r for r in self.rows if not r.instant]
        return mine[-limit:] if limit else mine


def launch_line(row: LaunchRow) -> str:
    done = [s for s in STEPS if s in row.steps]
    parts = [f"{STEP_SHORT[s]} {row.steps[s] / 1000:.3f}s" for s in done]
    where = f" on {row.host}" if row.host else ""
    if row.state == "failed":
        status = f"failed at {row.failed_step}: {row.code}"
        if row.reason:
            status += f" ({row.reason})"
    elif row.state == "launching":
        status = f"launching{where}, next step {row.next_step()}"
    elif row.state == "running":
        guest = "guest booted" if row.booted else "guest booting"
        status = f"running{where}, {guest}, status checks {row.checks_passed}/2 passed"
    else:
        status = f"{row.state}{where}"
    steps = f"; steps {len(done)}/{len(STEPS)} done" + (f": {', '.join(parts)}" if parts else "")
    return f"{row.instance}: {status}{steps}"


def _pct(used: float, total: float) -> int:
    return round(100 * used / total) if total else 0


def band(pct: float) -> str:
    """A word for a utilisation level, so no one has to read it from a colour."""
    if pct >= 100:
        return "full"
    if pct >= 80:
        return "high"
    if pct >= 50:
        return "busy"
    if pct > 0:
        return "light"
    return "idle"


def fleet_text(session: "Session") -> str:
    """The fleet view in words: zones, racks, hosts with their CPU and RAM use and the
    instances on them, then the latest launches and their seven steps."""
    cloud = session.cloud
    hw = cloud.hardware
    lines = [f"fleet view at t={cloud.now_ms / 1000:g}s (chapter {session.chapter.id}, seed {session.seed})"]
    if not hw.zones:
        lines.append("no hardware in this world")
    for zone in hw.zones.values():
        hosts = zone.hosts()
        cpu = sum(h.vcpus for h in hosts)
        used = sum(h.used_vcpus for h in hosts)
        ram = sum(h.ram_mib for h in hosts)
        used_ram = sum(h.used_ram_mib for h in hosts)
        up = "" if zone.up else ", DOWN"
        lines.append(
            f"zone {zone.id} (region {zone.region.id}): {zone.health.value}{up}; "
            f"vCPU {used}/{cpu} ({_pct(used, cpu)}%), RAM {used_ram / 1024:g}/{ram / 1024:g} GiB ({_pct(used_ram, ram)}%)"
        )
        for rack in zone.racks:
            lines.append(f"  rack {rack.id}: {rack.health.value}" + ("" if rack.up else ", DOWN"))
            for h in rack.hosts:
                cpu_pct = _pct(h.used_vcpus, h.vcpus)
                state = h.health.value + ("" if h.up else ", down")
                names = ", ".join(f"{n} ({i.state})" for n, i in sorted(h.instances.items())) or "none"
                lines.append(
                    f"    host {h.id}: {state}; vCPU {h.used_vcpus}/{h.vcpus} ({cpu_pct}%, {band(cpu_pct)}), "
                    f"RAM {h.used_ram_mib / 1024:g}/{h.ram_gib:g} GiB ({_pct(h.used_ram_mib, h.ram_mib)}%); "
                    f"instances: {names}"
                )
    history = LaunchHistory()
    history.update(cloud.log)
    recent = history.recent(5)
    if recent:
        lines.append("latest launches (oldest first):")
        lines.extend(f"  {launch_line(r)}" for r in recent)
    else:
        lines.append("no launches yet")
    return "\n".join(lines)




# -- the scheduling view: fleet map, request stream, placement groups, the last explain ----
@dataclass
class Explained:
    """The decision the player last asked ``explain`` about: the table the command printed
    (see :func:`remember_explained`)."""

    name: str
    asked_ms: int  # when the player typed explain
    at_ms: int  # when this table was worked out
    explanation: "Explanation | None"
    how: str

    def ordered(self) -> list["HostOutcome"]:
        """The winner, then every host that passed by total (fleet order on ties), then the
        hosts a filter stopped, in fleet order."""
        expl = self.explanation
        if expl is None:
            return []
        passed = [r for r in expl.rows if r.passed]
        passed.sort(key=lambda r: (r.host != expl.winner, -(r.total or 0)))
        return passed + [r for r in expl.rows if not r.passed]


# The table each session's last `explain` printed, kept by the command itself, so a view
# drawn later (a replay scrubbed to a later moment) shows the decision as it was read,
# not as it would be now. Weak keys: a finished session takes its entry with it.
_EXPLAINED: "WeakKeyDictionary[Session, Explained]" = WeakKeyDictionary()


def remember_explained(session: "Session", name: str, explanation: "Explanation", how: str) -> None:
    """Called by the ``explain`` command with the table it printed."""
    now = session.cloud.now_ms
    _EXPLAINED[session] = Explained(name, now, now, explanation, how)


class LatestExplain:
    """The session's last explained decision: the one the ``explain`` command kept, or,
    for a session that has the ``scheduler.explained`` event but no kept table, the same
    lookup worked out when the event is first seen."""

    def __init__(self) -> None:
        self.current: Explained | None = None
        self._seen = 0

    def update(self, session: "Session") -> bool:
        kept = _EXPLAINED.get(session)
        log = session.cloud.log
        last = None
        for e in log.since(self._seen):
            if e.kind == "scheduler.explained":
                last = e
        self._seen = len(log)
        if kept is not None:
            changed = kept is not self.current
            self.current = kept
            return changed
        if last is None:
            return False
        # The command's own lookup (pending request, rejection, recorded decision), so
        # the view never disagrees with what `explain` printed.
        from .commands.scheduling import _explanation
        from .parser import CommandError

        name = str(last.get("name", ""))
        try:
            expl, how = _explanation(session, name)
        except CommandError as exc:
            expl, how = None, str(exc)
        self.current = Explained(name, last.t_ms, session.cloud.now_ms, expl, how)
        return True


def host_utilisation(host, cfg) -> int:
    """A host's use of what the scheduler may allocate on it (after allocation ratios):
    the larger of its vCPU and RAM shares, in percent (100: it takes nothing more)."""
    return round(utilisation(host.used_vcpus, cpu_capacity(host, cfg), host.used_ram_mib, ram_capacity(host, cfg)))


def zone_utilisation(zone, cfg) -> int:
    """The zone's hosts that are up, taken together, as the ``zone_imbalance`` metric
    counts them."""
    used_cpu = cap_cpu = used_ram = cap_ram = 0
    for h in zone.hosts():
        if h.up:
            used_cpu += h.used_vcpus
            cap_cpu += cpu_capacity(h, cfg)
            used_ram += h.used_ram_mib
            cap_ram += ram_capacity(h, cfg)
    return round(utilisation(used_cpu, cap_cpu, used_ram, cap_ram))


def host_condition(host) -> str:
    """down | degraded | healthy, counting the host's rack and zone."""
    if not host.up:
        return "down"
    return "degraded" if is_degraded(host) else "healthy"


def scheduling_text(session: "Session") -> str:
    """The scheduling view in words: the scheduler's settings and tally, every host's
    utilisation and health by zone and rack, placement groups, the next requests, and the
    last decision read with ``explain``."""
    cloud = session.cloud
    sched = cloud.scheduler
    cfg = sched.config
    fleet = cloud.get(Fleet)
    m = cloud.metrics()
    lines = [
        f"scheduling view at t={cloud.now_ms / 1000:g}s (chapter {session.chapter.id}, seed {session.seed})",
        f"scheduler: policy {cfg.policy}; weights cpu {cfg.cpu_weight} ram {cfg.ram_weight}; "
        f"allocation ratios cpu {cfg.cpu_ratio:g} ram {cfg.ram_ratio:g}",
    ]
    if fleet is not None:
        lines.append(
            f"requests: {m.get('requests_pending', 0)} pending, {m.get('placed', 0)} placed, {m.get('rejected', 0)} rejected; "
            f"fragmentation {m.get('fragmentation', 0):g}%, on degraded hosts {m.get('on_degraded_hosts', 0)}, "
            f"zone imbalance {m.get('zone_imbalance', 0):g} points, empty hosts {m.get('hosts_empty', 0)}"
        )
    lines.append("hosts (utilisation of what the scheduler may allocate, after ratios):")
    for zone in cloud.hardware.zones.values():
        zone_util = zone_utilisation(zone, cfg)
        state = "" if zone.up else ", DOWN"
        lines.append(f"zone {zone.id}: {zone.health.value}{state}; utilisation {zone_util}% ({band(zone_util)})")
        for rack in zone.racks:
            cells = []
            for h in rack.hosts:
                cond = host_condition(h)
                note = "" if cond == "healthy" else f" {cond}"
                cells.append(f"{h.id} {host_utilisation(h, cfg)}%{note}")
            state = "" if rack.up else " DOWN"
            lines.append(f"  rack {rack.id}{state}: " + ", ".join(cells))
    for name in sched.groups:
        group = sched.groups[name]
        members = group.live()
        racks = sorted({mem.host.rack.id for mem in members.values()})
        per_rack = m.get(f"group_max_per_rack.{name}", 0)
        lines.append(
            f"placement group {name} ({group.strategy}): {len(members)} instance(s) on racks "
            f"{', '.join(racks) or 'none'}; one rack holds at most {per_rack}"
        )
    if fleet is not None:
        pending = fleet.pending()
        nxt = ", ".join(f"{r.name} ({r.type.name}, t={r.arrive_ms / 1000:g}s)" for r in pending[:5])
        lines.append(f"pending requests: {len(pending)}" + (f"; next: {nxt}" if nxt else ""))
    latest = LatestExplain()
    latest.update(session)
    lines.extend(explained_text(latest.current))
    return "\n".join(lines)


def explained_text(ex: "Explained | None", limit: int = 10) -> list[str]:
    if ex is None:
        return ["last explain: none yet (explain NAME shows every host's filters and scores)"]
    expl = ex.explanation
    if expl is None:
        return [f"last explain: {ex.name}: {ex.how}"]
    win = expl.winner_row
    when = f"asked at t={ex.asked_ms / 1000:g}s" + (f", worked out at t={ex.at_ms / 1000:g}s" if ex.at_ms != ex.asked_ms else "")
    head = f"last explain: {ex.name} ({when}), policy {expl.policy}: "
    head += f"winner {win.host} with total {win.total}" if win else "no host passed every filter"
    out = [head, f"  {ex.how}"]
    rows = ex.ordered()
    for r in rows[:limit]:
        if r.passed:
            aff = f" affinity {r.affinity}" if r.affinity else ""
            mark = " <- winner" if r.host == expl.winner else ""
            out.append(f"  {r.host} (rack {r.rack}): pass, cpu {r.cpu} ram {r.ram}{aff} total {r.total}{mark}")
        else:
            out.append(f"  {r.host} (rack {r.rack}): {r.reason}: {r.detail}")
    if len(rows) > limit:
        out.append(f"  ... {len(rows) - limit} more hosts (explain {ex.name} prints them all)")
    if expl.reasons:
        out.append("  filtered out: " + ", ".join(f"{k} {v}" for k, v in sorted(expl.reasons.items())))
    return out




# -- the storage view: the disk map, the object last touched, under-replication and repair ---
# Shared by the terminal game's storage view and by `describe`, so the picture and the
# words always agree on what a disk's state is, which object is in focus and what the
# history of a failure looks like.

FOCUS_VERBS = ("put", "get", "locate")
# Every event after which the count of under-replicated chunks may have moved by an
# amount the event does not state (a fault, a return, a write-off, a delete).
UNDER_MOVES = frozenset(
    {
        "fault.injected",
        "fault.repaired",
        "storage.disk_lost",
        "storage.heartbeat_lost",
        "storage.host_dead",
        "storage.host_rejoined",
        "storage.object_lost",
        "storage.delete",
    }
)
# Sparkline cell lengths (ms): the shortest that fits the whole run is used, so a short run
# is drawn in seconds and a long one in minutes; after the longest the line scrolls.
HISTORY_CELLS_MS = (
    5_000, 10_000, 15_000, 30_000,
    60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000,
)  # fmt: skip


def hms(ms: int) -> str:
    s = int(ms) // 1000
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def span_text(ms: int) -> str:
    """A duration in its largest whole unit: 30s, 2m, 1h, 1h30m."""
    s = int(ms) // 1000
    if s < 60 or s % 60:
        return f"{s}s" if s < 60 else f"{s // 60}m{s % 60:02d}s"
    m = s // 60
    if m < 60 or m % 60:
        return f"{m}m" if m < 60 else f"{m // 60}h{m % 60:02d}m"
    return f"{m // 60}h"


def disk_condition(store, disk) -> str:
    """One word for a disk as the storage cluster sees it, the worst that applies:

    - ``failed``: the disk died; its pieces are gone (reported at the next heartbeat);
    - ``dead``: its host was declared dead after the heartbeat timeout; every piece on it
      is written off and re-copied elsewhere;
    - ``silent``: its host stopped heartbeating and the timeout has not run out yet: its
      pieces cannot be read but are still counted on (no repair starts);
    - ``drained`` / ``draining``: decommissioned, or being emptied at the repair bandwidth;
    - ``slow``: the disk or its host is degraded (fail-slow): reads take
      ``degraded_slowdown`` times longer;
    - ``ok``.
    """
    from ..cloud.hardware import Health

    if disk.health is Health.FAILED:
        return "failed"
    host = disk.host
    if host.id in store.dead_hosts:
        return "dead"
    if not host.up:
        return "silent"
    if disk.id in store.draining:
        return "drained" if store.draining[disk.id] else "draining"
    if disk.health is Health.DEGRADED or host.health is Health.DEGRADED:
        return "slow"
    return "ok"


def disk_conditions(store) -> dict[str, str]:
    """:func:`disk_condition` for every disk, each host's part worked out once."""
    from ..cloud.hardware import Health

    out: dict[str, str] = {}
    dead, draining = store.dead_hosts, store.draining
    for h in store.hw.hosts.values():
        host = "dead" if h.id in dead else "silent" if not h.up else "slow" if h.health is Health.DEGRADED else "ok"
        for d in h.disks:
            if d.health is Health.FAILED:
                out[d.id] = "failed"
            elif host in ("dead", "silent"):
                out[d.id] = host
            elif d.id in draining:
                out[d.id] = "drained" if draining[d.id] else "draining"
            elif host == "slow" or d.health is Health.DEGRADED:
                out[d.id] = "slow"
            else:
                out[d.id] = "ok"
    return out


@dataclass
class TouchedObject:
    """The object the player last put, read or located, and the chunk to show: the one
    ``locate --chunk`` named, the slowest one of a ``get`` (it set the read's latency),
    otherwise chunk 0 (the one ``put`` prints the pipeline of)."""

    name: str
    verb: str
    t_ms: int
    chunk: int = 0
    slowest_disk: str = ""
    latency_ms: float = 0.0


class LatestObject:
    """Follows the transcript for successful ``put``, ``get`` and ``locate`` lines (a
    ``locate`` leaves no event, so the console's own record is the one that knows)."""

    def __init__(self) -> None:
        self.current: TouchedObject | None = None
        self._lines = 0
        self._events = 0
        self._gets: dict[str, tuple[int, str, float]] = {}

    def update(self, session: "Session") -> bool:
        from .parser import CommandError
        from .registry import parse

        log = session.cloud.log
        if len(log) != self._events:
            for e in log.since(self._events):
                if e.kind == "storage.get":
                    self._gets[str(e.get("object"))] = (
                        int(e.get("chunk", 0)),
                        str(e.get("slowest_disk", "")),
                        float(e.get("latency_ms", 0.0)),
                    )
            self._events = len(log)
        transcript = session.transcript
        if len(transcript) == self._lines:
            return False
        changed = False
        for out in transcript[self._lines :]:
            if not out.ok or out.line.split(None, 1)[:1] not in (["put"], ["get"], ["locate"]):
                continue
            try:
                parsed = parse(out.line, session.enabled)
            except CommandError:
                continue
            if parsed is None or parsed.spec.verb not in FOCUS_VERBS:
                continue
            name = str(parsed.values.get("name", ""))
            touched = TouchedObject(name, parsed.spec.verb, out.t_ms, int(parsed.values.get("chunk") or 0))
            if touched.verb == "get" and name in self._gets:
                touched.chunk, touched.slowest_disk, touched.latency_ms = self._gets[name]
            self.current = touched
            changed = True
        self._lines = len(transcript)
        return changed


@dataclass(frozen=True)
class FocusPiece:
    slot: int
    role: str  # replica | data | parity
    disk: str | None  # None: the piece is missing (lost, not rebuilt yet)
    condition: str  # disk_condition of its disk, or "missing"

    @property
    def label(self) -> str:
        return f"copy{self.slot + 1}" if self.role == "replica" else f"{self.role[0]}{self.slot}"


def focus_pieces(store, touched: TouchedObject | None) -> tuple[object, int, list[FocusPiece]] | None:
    """(object, chunk index, its pieces) for the object in focus, or None if it is gone."""
    if touched is None:
        return None
    obj = store.objects.get(touched.name)
    if obj is None or not obj.chunks:
        return None
    index = min(max(touched.chunk, 0), len(obj.chunks) - 1)
    c = obj.chunks[index]
    disks = store.hw.disks
    width = max(len(c.pieces), obj.scheme.width)
    out = []
    for slot in range(width):
        d = c.pieces[slot] if slot < len(c.pieces) else None
        cond = disk_condition(store, disks[d]) if d is not None else "missing"
        out.append(FocusPiece(slot, obj.scheme.role(slot), d, cond))
    return obj, index, out


def spread_of(store, pieces: list[FocusPiece]) -> tuple[int, int, int]:
    """(hosts, racks, zones) the present pieces of one chunk span."""
    hosts = [store.hw.disks[p.disk].host for p in pieces if p.disk is not None]
    return len({h.id for h in hosts}), len({h.rack.id for h in hosts}), len({h.rack.zone.id for h in hosts})


class RepairHistory:
    """How many chunks were under-replicated, and how many bytes repair copied, over
    simulated time: what the storage view draws as its two sparklines.

    Rebuilt from the event log, so one ``tick 3600`` draws the whole hour, not only its
    end. Repair is exact: every ``storage.repaired`` event carries its bytes, and a chunk
    leaves the under-replicated count when one brings it back to full width. The rise at
    a failure is not in any event, so it is worked out: ``storage.at_risk`` states the
    count when an incident opens, ``storage.protected`` that it is back to zero, and the
    store's own count at each update closes the span; whatever the repairs do not explain
    happened at the first fault-like event of the span (:data:`UNDER_MOVES`). That is
    exact whenever one failure (or one return) falls between two of those fixed points,
    as in every chapter's timeline; two failures inside one incident and one ``tick``
    are drawn as one step at the first of them.
    """

    def __init__(self) -> None:
        self.under_t: list[int] = [0]
        self.under_v: list[int] = [0]
        self.repair_t: list[int] = []
        self.repair_cum: list[int] = []
        self.peak = (0, 0)  # (chunks, at ms)
        self.repairs = 0  # storage.repaired events seen
        self.moves = 0  # fault-like events seen (UNDER_MOVES, at_risk, protected, drains)
        self._seen = 0
        self._value = 0

    # -- reading the log ---------------------------------------------------------------
    def update(self, session: "Session") -> bool:
        store = session.cloud.get(ObjectStore)
        log = session.cloud.log
        now = session.cloud.now_ms
        if store is None:
            return False
        count = store.chunks_under
        if len(log) == self._seen and count == self._value:
            return False
        span: list[list] = []  # [t, delta or None (unknown)]
        for e in log.since(self._seen):
            kind = e.kind
            if kind == "storage.repaired":
                self._repaired(e.t_ms, int(e.get("bytes", 0)))
                if int(e.get("was", 0)) < int(e.get("of", 0)) <= int(e.get("live", 0)):
                    span.append([e.t_ms, -1])
            elif kind == "storage.at_risk":
                self.moves += 1
                self._close(span, int(e.get("chunks", 0)), e.t_ms)
            elif kind == "storage.protected":
                self.moves += 1
                self._close(span, 0, e.t_ms)
            elif kind in UNDER_MOVES:
                self.moves += 1
                span.append([e.t_ms, None])
            elif kind in ("storage.drain", "storage.undrain", "storage.drained", "storage.balanced"):
                self.moves += 1
        self._seen = len(log)
        self._close(span, count, now)
        return True

    def _close(self, span: list[list], end: int, t_end: int) -> None:
        v = self._value
        gap = end - v - sum(d for _, d in span if d is not None)
        if gap:
            unknown = next((item for item in span if item[1] is None), None)
            if unknown is not None:
                unknown[1] = gap
            else:
                span.append([t_end, gap])
        for t, d in span:
            if d:
                v = max(0, v + d)
                self._point(t, v)
        if v != end:
            self._point(t_end, end)
        span.clear()
        self._value = end

    def _point(self, t: int, v: int) -> None:
        if self.under_t[-1] == t:
            self.under_v[-1] = v
        elif self.under_v[-1] != v:
            self.under_t.append(t)
            self.under_v.append(v)
        if v > self.peak[0]:
            self.peak = (v, t)

    def _repaired(self, t: int, nbytes: int) -> None:
        self.repairs += 1
        total = (self.repair_cum[-1] if self.repair_cum else 0) + nbytes
        if self.repair_t and self.repair_t[-1] == t:
            self.repair_cum[-1] = total
        else:
            self.repair_t.append(t)
            self.repair_cum.append(total)

    # -- reading it back ---------------------------------------------------------------
    @staticmethod
    def window(now_ms: int, tick_ms: int, cells: int) -> tuple[int, int, int]:
        """(start ms, cell ms, cells): the whole run when the cells can hold it, in the
        shortest cell that is a whole number of steps (repair happens at step ends, so a
        shorter cell would draw a comb); else the latest cells of the longest length."""
        cells = max(1, cells)
        fits = [c for c in HISTORY_CELLS_MS if c % tick_ms == 0] or [tick_ms]
        cell = next((c for c in fits if c * cells >= now_ms), fits[-1])
        total = -(-now_ms // cell)
        shown = min(cells, total)
        return (total - shown) * cell, cell, shown

    def value_at(self, t: int) -> int:
        """Chunks under-replicated just after time ``t``."""
        return self.under_v[bisect_right(self.under_t, t) - 1]

    def under_cells(self, start: int, cell: int, n: int) -> list[int]:
        """The most chunks under-replicated at any moment of each cell (a, a + cell]."""
        T, V = self.under_t, self.under_v
        out = []
        for i in range(n):
            a = start + i * cell
            lo = bisect_right(T, a)
            hi = bisect_right(T, a + cell)
            v = V[lo - 1]
            if hi > lo:
                v = max(v, max(V[lo:hi]))
            out.append(v)
        return out

    def repaired_by(self, t: int) -> int:
        """Bytes repaired up to and including time ``t``."""
        i = bisect_right(self.repair_t, t)
        return self.repair_cum[i - 1] if i else 0

    def repair_cells(self, start: int, cell: int, n: int) -> list[int]:
        """Bytes repaired in each cell (a, a + cell]."""
        if not self.repair_t:
            return [0] * n
        edges = [self.repaired_by(start + i * cell) for i in range(n + 1)]
        return [edges[i + 1] - edges[i] for i in range(n)]


def storage_text(session: "Session") -> str:
    """The storage view in words: settings, what is stored and how safe it is, every disk
    (zone, rack, host) with its fill and state, where the object last touched sits, the
    repair in progress and the history of under-replication and repair."""
    from ..cloud.storage import format_bytes

    cloud = session.cloud
    store = cloud.get(ObjectStore)
    lines = [f"storage view at t={hms(cloud.now_ms)} (chapter {session.chapter.id}, seed {session.seed})"]
    if store is None:
        return "\n".join([*lines, "this world has no storage cluster"])
    m = store.metrics()
    lines.append(f"settings for new writes: {store.config.describe()}")
    lines.append(
        f"data: {m['objects']} objects, {format_bytes(m['bytes_stored'])} stored, {format_bytes(m['bytes_raw'])} on disk "
        f"({m['storage_overhead']:g}x); {m['objects_lost']} lost, {m['objects_unavailable']} unreadable now; fullest disk "
        f"{m['max_disk_fill_pct']:g}%; read p99 {m['read_p99_ms']:g} ms; {m['durability_nines']:g} nines; "
        f"the weakest chunk survives {m['failures_tolerated']} more losses"
    )
    usage = {u.disk: u for u in store.df()}
    lines.append("disks (fill, pieces, state):")
    for zone in cloud.hardware.zones.values():
        lines.append(f"  zone {zone.id}" + ("" if zone.up else " (down)"))
        for rack in zone.racks:
            lines.append(f"    rack {rack.id}" + ("" if rack.up else " (down)"))
            for h in rack.hosts:
                disks = "; ".join(
                    f"{d.id} {usage[d.id].fill_pct:g}% {usage[d.id].pieces} pieces {disk_condition(store, d)}" for d in h.disks
                )
                lines.append(f"      host {h.id}: {disks or 'no disks'}")
    latest = LatestObject()
    latest.update(session)
    lines.extend(focus_text(store, latest.current))
    lines.extend(repair_text(store, m))
    history = RepairHistory()
    history.update(session)
    start, cell, n = history.window(cloud.now_ms, cloud.tick_ms, 30)
    if n:
        under = history.under_cells(start, cell, n)
        done = history.repair_cells(start, cell, n)
        lines.append(
            f"history, one figure per {span_text(cell)} from t={hms(start)}: chunks under-replicated "
            + " ".join(str(v) for v in under)
        )
        lines.append("  MiB repaired per figure: " + " ".join(f"{b / (1 << 20):.0f}" for b in done))
        peak, at = history.peak
        if peak:
            lines.append(f"  most chunks under-replicated at once: {peak} at t={hms(at)}")
    return "\n".join(lines)


def focus_text(store, touched: TouchedObject | None) -> list[str]:
    if touched is None:
        return ["object in focus: none yet (put, get or locate an object to see where its pieces are)"]
    found = focus_pieces(store, touched)
    if found is None:
        return [f"object in focus: {touched.name} is gone (deleted)"]
    obj, index, pieces = found
    hosts, racks, zones = spread_of(store, pieces)
    why = f"{touched.verb} at t={hms(touched.t_ms)}"
    if touched.verb == "get":
        why += f", {touched.latency_ms:g} ms, slowest chunk {index} from {touched.slowest_disk}"
    out = [
        f"object in focus: {obj.name} chunk {index} of {len(obj.chunks)} ({why}); {obj.scheme.label} {obj.placement}; "
        f"its pieces span {hosts} hosts, {racks} racks, {zones} zones"
    ]
    disks = store.hw.disks
    for p in pieces:
        if p.disk is None:
            out.append(f"  {p.label}: missing (to be rebuilt)")
        else:
            h = disks[p.disk].host
            out.append(f"  {p.label}: {p.disk} (host {h.id}, rack {h.rack.id}, zone {h.rack.zone.id}) {p.condition}")
    return out


def repair_text(store, m: dict) -> list[str]:
    from ..cloud.storage import format_bytes

    out = [f"under-replicated chunks: {m['chunks_under_replicated']}; repair queue: {m['repair_queue']} chunks"]
    if m["chunks_under_replicated"] or m["repair_queue"]:
        r = store.repair_status()
        if r.queued or r.waiting_report or r.stalled or r.blocked:
            out.append(
                f"repair: {format_bytes(r.bytes_pending)} to copy, about {r.eta_s:.0f} s at {store.config.repair_mibps:g} MiB/s; "
                f"{r.waiting_report} waiting for the next heartbeat, {r.stalled} with no readable source, "
                f"{r.blocked} with no host to take them"
            )
        elif r.suspect_hosts:
            out.append("repair: nothing to copy until a silent host is declared dead (its pieces still count)")
        for host, at in r.suspect_hosts:
            out.append(f"  {host}: silent; declared dead at t={hms(int(at * 1000))} unless it comes back")
    if store.dead_hosts:
        out.append(f"dead hosts (pieces written off): {', '.join(store.dead_hosts)}")
    return out


