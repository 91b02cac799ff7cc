"""The scheduling view: the fleet as the scheduler sees it, the request stream, placement
groups, and the last decision the player read with ``explain``.

- **Fleet map.** Every host is a glyph for its utilisation of what the scheduler may
  allocate on it (the larger of its vCPU and RAM shares after the allocation ratios, as
  the ``max_host_util`` and ``zone_imbalance`` metrics count): ``· idle  ▂ light  ▄ busy
  ▆ high  █ full``, coloured to match; a degraded host (or one in a degraded rack or
  zone) is ``~`` and a down one ``✘``, whatever its load, because the scheduler's first
  filters throw them out. With room, one line per rack with each host's percentage and
  ``◆`` on hosts holding a placement-group member; with less, one line per zone.
- **Tally.** Policy and weights, placed, rejected, fragmentation, instances on degraded
  hosts, and (when wide) empty hosts.
- **Placement groups.** Size, racks and zones spanned, and the most members on one rack
  (what a single rack failure takes).
- **Pending requests.** How many, and the next ones in arrival order.
- **explain.** The last decision read with ``explain``: the winner, then the other hosts
  that passed by total, each with its CPU, RAM and affinity scores, and what the filters
  threw out. It is the table the command printed (the command keeps it: see
  ``game.view_text.remember_explained``), so a replay scrubbed to a later moment still
  shows the decision as it was read.

The layout follows the room (about 46 x 8 at 80x24): rack lines give way to zone lines,
and those to per-zone counts for big fleets, before the explain table loses rows; it
always keeps its verdict (winner, total, what was filtered out) and the best three hosts,
scrolling below the pane if it must.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from ...cloud.fleet import Fleet, group_metrics
from ...cloud.hardware import Health, Rack, Zone
from ...game.view_text import LatestExplain, band
from .fit import FittedView, Line, join_lines, short_labels
from .fleet import BAND_GLYPH, BAND_STYLE

WIDE = 64
GROUP_MARK = "◆"
MAX_GROUP_LINES = 3
EXPLAIN_MIN_HOSTS = 3  # the table always shows the winner and the next two (scrolling if it must)
COND_GLYPH = {"down": ("✘", "bold red"), "degraded": ("~", "bold magenta")}
BAND_ORDER = ("idle", "light", "busy", "high", "full")


@dataclass
class RackScan:
    rack: Rack
    up: bool
    marks: list[tuple[str, str, int]]  # per host: glyph, style, utilisation %


@dataclass
class ZoneScan:
    zone: Zone
    pct: int  # the zone's hosts that are up, taken together (as zone_imbalance counts)
    counts: dict[str, int]  # hosts per band word, or "degraded" / "down"
    racks: list[RackScan]


def scan(hw, cfg) -> list[ZoneScan]:
    """Every host's mark in one pass: health first (``✘`` down, ``~`` degraded, counting
    its rack and zone), then its utilisation of what the scheduler may allocate after the
    allocation ratios. The same rules as ``view_text.host_condition`` and
    ``host_utilisation``, worked rack by rack so a 10,000-host fleet stays quick."""
    cr, rr = cfg.cpu_ratio, cfg.ram_ratio
    failed, degraded = Health.FAILED, Health.DEGRADED
    out = []
    for zone in hw.zones.values():
        zone_deg = zone.health is degraded
        counts: dict[str, int] = {}
        racks = []
        uc = cc = ur = crr = 0
        for rack in zone.racks:
            rack_up = rack.up
            rack_deg = zone_deg or rack.health is degraded
            marks = []
            for h in rack.hosts:
                cap_c, cap_r = int(h.vcpus * cr), int(h.ram_mib * rr)
                share = max(h.used_vcpus / cap_c if cap_c else 0.0, h.used_ram_mib / cap_r if cap_r else 0.0)
                pct = round(100 * share)
                if not rack_up or h.health is failed:
                    key = "down"
                    glyph, style = COND_GLYPH[key]
                else:
                    uc += h.used_vcpus
                    cc += cap_c
                    ur += h.used_ram_mib
                    crr += cap_r
                    if rack_deg or h.health is degraded:
                        key = "degraded"
                        glyph, style = COND_GLYPH[key]
                    else:
                        key = band(pct)
                        glyph, style = BAND_GLYPH[key], BAND_STYLE[key]
                counts[key] = counts.get(key, 0) + 1
                marks.append((glyph, style, pct))
            racks.append(RackScan(rack, rack_up, marks))
        zone_pct = round(100 * max(uc / cc if cc else 0.0, ur / crr if crr else 0.0))
        out.append(ZoneScan(zone, zone_pct, counts, racks))
    return out


def fit_parts(parts: list[Line], width: int, sep: str = "  ") -> Line:
    """Join parts in order of importance, leaving out (whole) the ones that do not fit."""
    line = Line()
    for part in parts:
        extra = (len(sep) if line.width else 0) + part.width
        if line.width + extra <= width:
            if line.width:
                line.add(sep)
            line.extend(part)
    return line


def part(*pieces: str | tuple[str, str]) -> Line:
    """A piece of a line from plain strings and (string, style) pairs."""
    line = Line()
    for piece in pieces:
        if isinstance(piece, tuple):
            line.add(*piece)
        else:
            line.add(piece)
    return line


# What kind of decision an explain table is (the command's own wording, shortened).
HOW_TAGS = (
    ("pending", "if it arrived now"),
    ("rejected", "rejected on arrival"),
    ("the decision that placed it", "its placement"),
    ("no record", "one like it, now"),
)


def how_tag(how: str) -> str:
    return next((tag for prefix, tag in HOW_TAGS if how.startswith(prefix)), how)


class SchedulingView(FittedView):
    VIEW_TITLE = "scheduling"

    def __init__(self, session, **kwargs) -> None:
        super().__init__(session, **kwargs)
        self.explained = LatestExplain()
        self._drawn_events = -1
        self._member_hosts: set[str] = set()

    def reset(self) -> None:
        self.explained = LatestExplain()
        self._drawn_events = -1

    def changed(self) -> bool:
        # Placements, departures, faults, settings and explains are all events.
        return len(self.session.cloud.log) != self._drawn_events or self.rows_changed()

    # -- drawing -----------------------------------------------------------------------
    def draw(self, width: int) -> Text:
        session = self.session
        cloud = session.cloud
        self._drawn_events = len(cloud.log)
        rows = self.layout_rows()
        self.explained.update(session)
        wide = width >= WIDE
        cfg = cloud.scheduler.config
        fleet = cloud.get(Fleet)
        sched = cloud.scheduler
        live = {name: g.live() for name, g in sched.groups.items()}
        self._member_hosts = {m.host.id for members in live.values() for m in members.values()}
        # The stream's tally and the groups' figures, from the mechanism's own metrics.
        if fleet is not None:
            metrics = fleet.metrics()
        else:
            metrics = {}
            for name, members in live.items():
                metrics.update(group_metrics(name, [m.host for m in members.values()]))

        head = self._summary(cfg, metrics, fleet, width, wide)
        groups = self._groups(cloud.scheduler, metrics, width)
        pending = [self._pending(fleet, width)] if fleet is not None else []
        fixed = len(head) + len(groups) + len(pending)
        ex = self.explained.current
        legend = 1 if rows >= 12 else 0  # the key to the glyphs, where it costs little
        # title, filters, header and the first hosts: the map gets simpler before these go
        wanted = (3 + EXPLAIN_MIN_HOSTS if ex is not None and ex.explanation is not None else 1) + legend
        fleet_map = self._map(cloud.hardware, cfg, width, rows - fixed - wanted)
        explain = self._explain(width, wide, rows - fixed - len(fleet_map) - legend)

        lines = [*head, *fleet_map, *groups, *pending, *explain]
        if len(lines) < rows:
            lines.append(self._legend(width))
        return join_lines(lines)

    # -- the tally ---------------------------------------------------------------------
    def _summary(self, cfg, m: dict, fleet, width: int, wide: bool) -> list[Line]:
        policy = Line(cfg.policy, "bold")
        if cfg.policy != "balanced":
            policy.add(f" cpu:ram {cfg.cpu_weight}:{cfg.ram_weight}")
        overcommit = max(cfg.cpu_ratio, cfg.ram_ratio) > 1
        ratios = Line(f"ratio {cfg.cpu_ratio:g}/{cfg.ram_ratio:g}", "yellow" if overcommit else "")
        rejected = m.get("rejected", 0)
        degraded = m.get("on_degraded_hosts", 0)
        frag = m.get("fragmentation", 0)

        def tally(placed: str, rej: str, fr: str, deg: str) -> list[Line]:
            return [
                part(placed, (str(m.get("placed", 0)), "bold")),
                part(rej, (str(rejected), "bold red" if rejected else "green"), (" ✘" if rejected else "", "bold red")),
                part(fr, (f"{frag:.0f}%" if not wide else f"{frag:g}%", "bold")),
                part(deg, (str(degraded), "bold magenta" if degraded else "green")),
            ]

        if not wide:
            parts = [policy]
            if fleet is not None:
                parts += tally("placed ", "rej ", "frag ", "on~ ")
            return [fit_parts([*parts, ratios], width, sep=" ")]
        first = fit_parts(
            [part("policy ").extend(policy), ratios, Line(f"zone imbalance {m.get('zone_imbalance', 0):g} pts")]
            + ([Line(f"empty hosts {m.get('hosts_empty', 0)}")] if fleet is not None else []),
            width,
        )
        if fleet is None:
            return [first]
        return [first, fit_parts(tally("placed ", "rejected ", "fragmentation ", "on degraded hosts "), width)]

    # -- the fleet map -----------------------------------------------------------------
    def _map(self, hw, cfg, width: int, budget: int) -> list[Line]:
        zones = list(hw.zones.values())
        if not zones:
            return [Line("no hardware in this world", "dim")]
        labels = short_labels([z.id for z in zones])
        zw = max(len(v) for v in labels.values())
        racks = [r for z in zones for r in z.racks]
        rw = max((len(r.id) for r in racks), default=1)
        scans = scan(hw, cfg)
        # Richest first: a line per rack with percentages, then a glyph per host on a
        # line per zone, then counts per zone (fleets too big for a glyph each).
        rack_lines = 1 + len(racks)
        cell = 5  # glyph, percentage (3), group mark or space
        widest_rack = max((len(r.hosts) for r in racks), default=0)
        if rack_lines <= budget and zw + 1 + rw + 1 + widest_rack * cell <= width:
            return self._by_rack(scans, labels, zw, rw, width)
        zone_need = max(zw + 6 + sum(len(r.id) + 1 + len(r.hosts) + 1 for r in z.racks) for z in zones)
        if zone_need <= width:
            return [self._zone_glyphs(z, labels[z.zone.id], zw) for z in scans]
        return [self._zone_counts(z, labels[z.zone.id], zw) for z in scans]

    @staticmethod
    def _zone_head(z: ZoneScan, label: str, zw: int) -> Line:
        line = Line(label.ljust(zw) + " ", "bold")
        zone = z.zone
        if not zone.up:
            return line.add("✘DOWN", "bold red")
        word = band(z.pct)
        if zone.health.value == "degraded":
            line.add("~", "bold magenta")
        else:
            line.add(BAND_GLYPH[word], BAND_STYLE[word])
        return line.add(f"{z.pct:>3}%", "bold")

    @staticmethod
    def _rack_style(rack, healthy: str) -> str:
        if not rack.up:
            return "bold red"
        return "bold magenta" if rack.health.value == "degraded" else healthy

    def _by_rack(self, scans: list[ZoneScan], labels, zw: int, rw: int, width: int) -> list[Line]:
        out = [fit_parts([Line("zones", "dim")] + [self._zone_head(z, labels[z.zone.id], 0) for z in scans], width)]
        members = self._member_hosts
        for z in scans:
            for i, r in enumerate(z.racks):
                rack = r.rack
                line = Line((labels[z.zone.id] if i == 0 else "").ljust(zw) + " ", "bold")
                line.add(rack.id.ljust(rw), self._rack_style(rack, ""))
                line.add(" ")
                for h, (glyph, style, pct) in zip(rack.hosts, r.marks):
                    line.add(glyph, style)
                    line.add(f"{pct:>3}", style if style.startswith("bold") else "")
                    line.add(GROUP_MARK, "bold cyan") if h.id in members else line.add(" ")
                if not r.up:
                    line.add(" ✘ rack down", "bold red")
                elif rack.health.value == "degraded":
                    line.add(" ~ rack degraded", "bold magenta")
                out.append(line)
        return out

    def _zone_glyphs(self, z: ZoneScan, label: str, zw: int) -> Line:
        line = self._zone_head(z, label, zw)
        for r in z.racks:
            style = self._rack_style(r.rack, "dim")
            line.add(" ")
            line.add(r.rack.id + (" " if r.up else "✘"), style)
            for glyph, hstyle, _pct in r.marks:
                line.add(glyph, hstyle)
        return line

    def _zone_counts(self, z: ZoneScan, label: str, zw: int) -> Line:
        line = self._zone_head(z, label, zw)
        line.add(f" {sum(z.counts.values())}h")
        for key in (*BAND_ORDER, "degraded", "down"):
            if key in z.counts:
                glyph, style = COND_GLYPH.get(key, (BAND_GLYPH.get(key, "?"), BAND_STYLE.get(key, "")))
                line.add(" ")
                line.add(glyph, style)
                line.add(str(z.counts[key]))
        return line

    # -- groups and the stream ---------------------------------------------------------
    def _groups(self, sched, m: dict, width: int) -> list[Line]:
        out = []
        names = list(sched.groups)
        for name in names[:MAX_GROUP_LINES]:
            group = sched.groups[name]
            size = len(group.live())
            per_rack = m.get(f"group_max_per_rack.{name}", 0)
            racks = m.get(f"group_racks.{name}", 0)
            zones = m.get(f"group_zones.{name}", 0)
            ok = per_rack <= 1
            line = Line(GROUP_MARK + " ", "bold cyan").add(name, "bold").add(" ")
            parts = [
                Line(f"{group.strategy}: {size} on {racks} rack{'s' if racks != 1 else ''}"),
                part(("≤", "bold"), (f"{per_rack}/rack", "bold"), (" ✓" if ok else " !", "green" if ok else "yellow")),
                Line(f"{zones} zone{'s' if zones != 1 else ''}"),
                Line(f"{m.get(f'group_max_hops.{name}', 0)} hops", "dim"),
            ]
            out.append(line.extend(fit_parts(parts, width - line.width, sep=", ")))
        if len(names) > MAX_GROUP_LINES:
            out[-1].add(f" +{len(names) - MAX_GROUP_LINES} more", "dim")
        return out

    @staticmethod
    def _pending(fleet, width: int) -> Line:
        pending = fleet.pending()
        line = Line("pending ", "dim").add(str(len(pending)), "bold")
        if not pending:
            return line.add(": the stream has all arrived", "dim")
        line.add(" next")
        for r in pending:
            t = r.type
            chunk = f" {r.name} {t.vcpus}c{t.ram_gib:g}G"
            if line.width + len(chunk) > width:
                break
            line.add(chunk)
        return line

    # -- explain -----------------------------------------------------------------------
    def _explain(self, width: int, wide: bool, budget: int) -> list[Line]:
        ex = self.explained.current
        if ex is None:
            return [Line("explain NAME: every host's filters and scores here", "dim")]
        expl = ex.explanation
        title = Line("explain ", "bold").add(ex.name, "bold cyan")
        if expl is None:
            return [title.add(f": {ex.how}", "dim")]
        win = expl.winner_row
        if win is not None:
            title.add(" → ").add(win.host, "bold green").add(f" total {win.total}")
        else:
            title.add(" → no host passed", "bold red")
        # what kind of decision this is, then the policy and time, as far as they fit
        for extra in (f" ({how_tag(ex.how)})", f"  {expl.policy}, t={ex.asked_ms / 1000:g}s"):
            if title.width + len(extra) <= width:
                title.add(extra, "dim")
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(expl.reasons.items()))
        filtered = Line(f"filtered out: {reasons}" if reasons else "filtered out: none", "yellow" if reasons else "dim")
        rows = ex.ordered()
        # The verdict (title, filters) first; the table below it gets the rows left, and
        # never fewer than EXPLAIN_MIN_HOSTS hosts: on a short pane they scroll.
        room = min(len(rows), max(budget - 3, EXPLAIN_MIN_HOSTS))
        if room < len(rows):
            more = len(rows) - room
            for suffix in (f"  (+{more} more hosts in the console)", f" (+{more} more)", f" +{more}"):
                if filtered.width + len(suffix) <= width:
                    filtered.add(suffix, "dim")
                    break
        out = [title, filtered]
        if not rows:
            return out
        shown = rows[:room]
        hw = max(4, max(len(r.host) for r in shown))
        rw = max(4, max(len(r.rack) for r in shown))
        cpu_head, ram_head = ("cpu%", "ram%") if expl.policy == "balanced" else ("cpu", "ram")
        out.append(Line(f"{'host'.ljust(hw)} {'rack'.ljust(rw)} {cpu_head:>4} {ram_head:>4} {'aff':>4} {'total':>5}", "dim bold"))
        for r in shown:
            line = Line(r.host.ljust(hw) + " ", "bold" if r.host == expl.winner else "")
            line.add(r.rack.ljust(rw) + " ", "dim")
            if r.passed:
                aff = f"+{r.affinity}" if r.affinity else ""
                line.add(f"{r.cpu:>4} {r.ram:>4} {aff:>4} ")
                line.add(f"{r.total:>5}", "bold")
                if r.host == expl.winner:
                    line.add(" ◀ winner", "bold green")
            else:
                line.add("✘ ", "bold red").add(r.reason or "", "red")
                detail = f" {r.detail}"
                if line.width + len(detail) <= width:
                    line.add(detail, "dim")
            out.append(line)
        return out

    @staticmethod
    def _legend(width: int) -> Line:
        for legend in (
            "· idle ▂ light ▄ busy ▆ high █ full (after ratios)  ~ degraded  ✘ down  ◆ group member",
            "· idle ▂ light ▄ busy ▆ high █ full ~ degraded ✘ down ◆ group",
            "·idle ▂light ▄busy ▆high █full ~degr ✘down",
        ):
            if len(legend) <= width:
                return Line(legend, "dim")
        return Line("▂▄▆█ use ~ degraded ✘ down", "dim")


VIEW = SchedulingView
