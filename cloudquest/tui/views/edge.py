"""The edge view (chapter 13): a strip of the world, west to east, with every point of
presence, its hit ratio and who it serves, and the latency each area's users see.

- **Header.** The price class, the origin shield, the eviction policy, the overall hit
  ratio and the origin's load (requests per second over the last five minutes).
- **The strip.** PoPs placed by longitude. The first row is each PoP's state and name:
  ``●`` serving, ``○`` outside the price class (not used), ``✘`` down; the second its hit
  ratio in percent; the third how many user cities it serves now (``-`` none).
- **Latency.** p95 per user area over the last five minutes, in ms (red above 100).
- **Content.** Each group's TTL as CloudFront computes it, and how late the most
  outdated copy a user got was (for content the origin changes); invalidations under way.

It reads the session only; ``describe`` prints the same in words.
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.edge import EdgeNetwork
from ...cloud.hardware import Health
from .fit import ClockedView, Line, join_lines


def clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def short_time(seconds: float) -> str:
    s = int(seconds)
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


class EdgeView(ClockedView):
    VIEW_TITLE = "edge"

    def draw(self, width: int) -> Text:
        cloud = self.session.cloud
        self.mark_drawn()
        edge = cloud.get(EdgeNetwork)
        if edge is None:
            return Text("this world has no edge network", style="dim")
        rows = self.layout_rows()
        m = edge.metrics()
        lines = [self._head_line(edge, m, width)]
        lines.extend(self._strip(edge, width))
        lines.append(self._latency_line(edge, m, width))
        lines.extend(self._content_lines(edge, width))
        if len(lines) > rows:
            lines = lines[:rows]
        return join_lines(lines)

    def _head_line(self, edge: EdgeNetwork, m: dict, width: int) -> Line:
        line = Line(f"t={clock(self.session.cloud.now_ms)} ", "bold")
        line.add(f"class {edge.price_class} ")
        hit = m["edge_hit_ratio"]
        line.add("hit ")
        line.add(f"{hit:.1f}%", "green" if hit >= 90 else "yellow" if hit >= 75 else "bold red")
        line.add(f" origin {m['edge_origin_rps']:g}/s")
        if width >= 60:
            line.add(f"  shield {edge.shield or 'off'}, {edge.eviction}", "dim")
        return line

    def _strip(self, edge: EdgeNetwork, width: int) -> list[Line]:
        """Three rows of PoPs placed west to east by longitude, never overlapping."""
        pops = sorted(edge.pops.values(), key=lambda p: (p.spec.lon, p.id))
        served: dict[str, int] = {}
        for u in edge.users:
            if u.pop:
                served[u.pop] = served.get(u.pop, 0) + 1
        cell = max(len(p.id) for p in pops) + 2
        span = max(1, width - cell)
        places: list[int] = []
        for p in pops:
            at = int((p.spec.lon + 180) / 360 * span)
            if places and at < places[-1] + cell:
                at = places[-1] + cell
            places.append(at)
        overflow = places[-1] + cell - width if places else 0
        if overflow > 0:  # squeeze back from the east
            places = [max(0, x - overflow) for x in places]
            for i in range(len(places) - 2, -1, -1):
                places[i] = min(places[i], places[i + 1] - cell)
            places = [max(0, x) for x in places]
        names, ratios, users = Line(), Line(), Line()
        for p, at in zip(pops, places):
            for row in (names, ratios, users):
                row.pad(at)
            if p.health is Health.FAILED:
                glyph, style = "✘", "bold red"
            elif not edge.enabled(p):
                glyph, style = "○", "dim"
            else:
                glyph, style = "●", "green"
            names.add(glyph, style)
            names.add(p.id, "bold" if style == "green" else "dim")
            ratio = edge.hit_ratio(p)
            ratios.add(f"{ratio:.0f}%" if p.requests else "-", "" if p.requests else "dim")
            n = served.get(p.id, 0)
            users.add(f"{n}u" if n else "-", "cyan" if n else "dim")
        return [names, ratios, users]

    def _latency_line(self, edge: EdgeNetwork, m: dict, width: int) -> Line:
        values = [(area, m[f"edge_p95_ms.{area}"]) for area in edge.hist]
        full = 4 + sum(len(f"{a} {v:g}ms ") for a, v in values)
        line = Line("p95 ", "bold")
        for area, v in values:
            label = area if full <= width else area[:3]
            if line.width + len(f"{label} {v:.0f} ") > width:
                break
            line.add(label + " ")
            line.add(f"{v:g}ms " if full <= width else f"{v:.0f} ", "bold red" if v > 100 else "green")
        return line

    def _content_lines(self, edge: EdgeNetwork, width: int) -> list[Line]:
        ttl = Line("ttl ", "bold")
        stale = Line("late ", "bold")
        for g in edge.groups:
            text = f"{g.name} {short_time(g.ttl_s) if g.ttl_s else 'none'} "
            if ttl.width + len(text) <= width:
                ttl.add(text, "yellow" if not g.ttl_s else "")
            if g.spec.changes_every_s or g.spec.changes_at_s:
                late = g.stale_max_s
                stale.add(f"{g.name} {late:g}s ", "bold red" if late > max(g.ttl_s, 60) else "")
        out = [ttl]
        if stale.width > 5:
            out.append(stale)
        now = self.session.cloud.now_ms
        pending = [i for i in edge.invalidations if i.done_ms > now]
        if pending:
            inv = Line("invalidating ", "bold")
            inv.add(", ".join(f"{i.path} until {clock(i.done_ms)}" for i in pending), "yellow")
            out.append(inv)
        return out


VIEW = EdgeView
