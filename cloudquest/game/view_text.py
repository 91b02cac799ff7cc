"""Plain-text summaries of the live views, for ``describe`` with no argument.

The terminal game draws one live view per chapter, chosen by the world's ``view`` key
(``fleet``, ``host``, ...). A player who uses a screen reader, or who wants to copy what
the view shows, types ``describe`` and gets the same picture as text. The text is built
here, in the game layer, from the session's state, so a headless run prints exactly what
the terminal game prints (the console is one road).

A mechanism that adds a view adds its summary with one line::

    VIEW_TEXT["host"] = host_view_text

Views without a summary fall back to the world summary plus every metric.

:class:`LaunchHistory` reads the launch pipeline's events (``api.call RunInstances``,
``launch.step``, ``launch.failed``, ``instance.running``) incrementally; the fleet view
of the terminal game uses it too, so the picture and the text agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from ..cloud.control_plane import STEPS
from ..cloud.events import EventLog
from ..cloud.fleet import utilisation
from ..cloud.scheduler import cpu_capacity, is_degraded, ram_capacity

if TYPE_CHECKING:
    from ..cloud.scheduler import Explanation, HostOutcome
    from .session import Session

ViewText = Callable[["Session"], str]
VIEW_TEXT: dict[str, ViewText] = {}

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
    view = session.chapter.world.view
    fn = VIEW_TEXT.get(view)
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
            elif kind in ("launch.step", "launch.failed", "instance.running", "instance.terminated"):
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


VIEW_TEXT["fleet"] = fleet_text


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
    fleet = cloud.extensions.get("fleet")
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
            f"zone imbalance {m.get('zone_imbalance', 0):g} points"
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


VIEW_TEXT["scheduling"] = scheduling_text
