"""The fabric view (chapter 12): the leaf-spine tiers of every zone with their link load.

- **Header.** Traffic offered, what is lost now (black-holed flows), ECMP and its hash,
  how a hung switch is noticed, and ``CONVERGING`` while a change waits to be installed.
- **Per zone, two rows.** ``spine``: one cell per spine switch, the load of its busiest
  link as a block (``▁`` to ``█`` for 0-100 %, ``!`` over capacity), ``✘`` when the switch
  is down; ``tor``: each rack's ToR with one cell per uplink (one per spine), the same
  scale, ``✘`` for a dead link. So a spine taken out draws a column of ``✘`` and its load
  moves into the neighbouring columns after convergence.
- **Tiers.** The busiest link of each tier above the racks (spine to zone router,
  between zones, to the region routers, the backbone).
- **Busiest link** by name, and the round trip of the last traceroute.

Load is colour and height: green under 60 %, yellow to 80 %, red above. It reads the
session only and lays itself out to the room, zones first.
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.fabric import Fabric
from .fit import ClockedView, Line, join_lines

BLOCKS = "▁▂▃▄▅▆▇█"


def clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def load_cell(pct: float | None) -> tuple[str, str]:
    """A link's load as one cell: its glyph and style (None: the link is dead)."""
    if pct is None:
        return "✘", "bold red"
    if pct > 100:
        return "!", "bold red"
    glyph = BLOCKS[min(7, int(pct / 12.5))] if pct > 0 else "·"
    return glyph, "green" if pct < 60 else "yellow" if pct <= 80 else "bold red"


def zone_labels(zones: list[str]) -> dict[str, str]:
    """Short zone labels: what follows the last '-' (``eu-central-1a`` -> ``1a``) when
    that is unique, the full names otherwise."""
    short = {z: z.rsplit("-", 1)[-1] for z in zones}
    return short if len(set(short.values())) == len(zones) else {z: z for z in zones}


class FabricView(ClockedView):
    VIEW_TITLE = "fabric"

    def draw(self, width: int) -> Text:
        cloud = self.session.cloud
        self.mark_drawn()
        fabric = cloud.get(Fabric)
        if fabric is None:
            return Text("this world has no routing fabric", style="dim")
        rows = self.layout_rows()
        m = fabric.metrics()
        pct = self._link_pct(fabric)
        lines = [self._head_line(fabric, m, width)]
        zones = list(cloud.hardware.zones.values())
        self._labels = zone_labels([z.id for z in zones])
        label_w = max((len(v) for v in self._labels.values()), default=4)
        zone_lines: list[Line] = []
        for zone in zones:
            zone_lines.extend(self._zone_lines(fabric, zone, pct, label_w, width))
        tail = [self._tier_line(m, width), self._busiest_line(fabric, m, width)]
        room = max(0, rows - len(lines) - len(tail))
        if len(zone_lines) > room:
            zone_lines = zone_lines[: max(0, room - 1)] + [Line(f"… {len(zone_lines) - max(0, room - 1)} more rows (describe)", "dim")]
        return join_lines(lines + zone_lines + tail)

    @staticmethod
    def _link_pct(fabric: Fabric) -> dict[str, float]:
        """Each link's load in percent, the busier direction."""
        out: dict[str, float] = {}
        edges = fabric.graph.edges
        for (a, b), gbps in fabric.load.items():
            lid = edges[a, b]["link"]
            p = 100 * gbps / fabric.links[lid].gbps
            if p > out.get(lid, -1):
                out[lid] = p
        return out

    def _head_line(self, fabric: Fabric, m: dict, width: int) -> Line:
        line = Line(f"t={clock(self.session.cloud.now_ms)} ", "bold")
        line.add(f"{m['fabric_gbps']:g} Gbps ")
        lost = m["fabric_gbps_lost"]
        line.add(f"lost {lost:.1f}" if lost else "lost 0", "bold red" if lost else "green")
        if m["fabric_flows_blackholed"]:
            line.add(f" ({m['fabric_flows_blackholed']} in holes)", "bold red")
        # then what fits, most important first
        extras = []
        if fabric.pending_installs:
            extras.append(("  CONVERGING", "bold yellow"))
        extras.append((f"  ECMP {fabric.hash_fields}" if fabric.ecmp else "  ECMP OFF", "" if fabric.ecmp else "yellow"))
        extras.append((f" {fabric.detection}", "dim"))
        for text, style in extras:
            if line.width + len(text) <= width:
                line.add(text, style)
        return line

    def _zone_lines(self, fabric: Fabric, zone, pct: dict[str, float], label_w: int, width: int) -> list[Line]:
        spines = [s for s in fabric.switches.values() if s.tier == "spine" and s.zone == zone.id]
        spines.sort(key=lambda s: int(s.id.rsplit("-", 1)[1]))
        spine = Line(f"{self._labels[zone.id]:<{label_w}} ", "bold" if zone.up else "dim")
        spine.add("spine ")
        top = 0.0
        for s in spines:
            if not fabric.node_up(s.id):
                spine.add("✘", "bold red")
                continue
            links = [lid for lid in fabric.links if s.id in (fabric.links[lid].a, fabric.links[lid].b)]
            busiest = max((pct.get(lid, 0.0) for lid in links), default=0.0)
            top = max(top, busiest)
            glyph, style = load_cell(busiest)
            spine.add(glyph, style)
        spine.add(f" {top:.0f}%", "dim")
        tor = Line(" " * (label_w + 1))
        tor.add("tor   ")
        for rack in zone.racks:
            name = f"tor-{rack.id}"
            cells = Line(f"{rack.id}", "" if fabric.node_up(name) else "dim")
            for s in spines:
                lid = f"{name}~{s.id}"
                up = fabric.link_up(lid)
                glyph, style = load_cell(pct.get(lid, 0.0) if up else None)
                cells.add(glyph, style)
            if tor.width + cells.width + 1 > width:
                tor.add("+", "dim")
                break
            tor.extend(cells)
            tor.add(" ")
        return [spine, tor]

    def _tier_line(self, m: dict, width: int) -> Line:
        line = Line("tiers ", "bold")
        names = {"spine-zone": "spine>zone", "zone-zone": "zone<>zone", "zone-region": "zone>region", "backbone": "backbone"}
        for key, label in names.items():
            value = m.get(f"fabric_tier_pct.{key}")
            if value is None:
                continue
            text = f"{label} {value:.0f}%  "
            if line.width + len(text) > width:
                break
            line.add(text, "bold red" if value > 80 else "")
        return line

    def _busiest_line(self, fabric: Fabric, m: dict, width: int) -> Line:
        util = fabric.utilisation()
        line = Line("hot ", "bold")
        if util:
            p, a, b, _, _ = util[0]
            line.add(f"{a}>{b} {p:.0f}%", "bold red" if p > 80 else "")
        else:
            line.add("no traffic", "dim")
        trace = f"  trace {m['fabric_rtt_ms']:g}ms" if "fabric_rtt_ms" in m else ""
        if trace and line.width + len(trace) <= width:
            line.add(trace, "dim")
        return line


VIEW = FabricView
