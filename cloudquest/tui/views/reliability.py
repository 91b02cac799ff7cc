"""The failure-design view: is the service whole, and how did the last hours go?

- **Header.** Load, availability so far (served / offered), cost against the budget.
- **Sparklines**, one cell per simulated minute, newest on the right:
  ``avail`` is that minute's availability on a scale made for nines (``█`` every request
  served, ``▇`` 99.9% or better, ``▆`` 99%, ``▅`` 95%, ``▄`` 90%, ``▃`` half, ``▂`` some,
  ``▁`` none), green, yellow or red; ``short`` is how many chunks were under-replicated,
  scaled to the worst minute shown, so a repair draws a peak that drains back to the floor.
- **Targets.** Each target of the load balancer: one mark per node (``✔`` healthy, ``✘``
  taken out, ``·`` initial, ``-`` the node's zone is down) and whether it really answers,
  so the detection gap shows as ``✔`` beside ``dead``.
- **Data, timeline, incidents.** Objects lost, chunks short and the repair's ETA; the next
  fault due; the latest incidents, newest first, with their time to recover.

It reads the session only (the history is kept by cloud/reliability.py), and lays itself
out to the room: the sparklines and the header first, then the rest as rows allow.
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.loadbalancer import LoadBalancing
from ...cloud.reliability import Reliability
from ...cloud.storage import ObjectStore
from ...cloud.timeline import Timeline
from .fit import ClockedView, short_labels

LABEL = 6
NODE_MARK = {"healthy": ("✔", "green"), "unhealthy": ("✘", "bold red"), "initial": ("·", "dim")}


def availability_cell(pct: float, offered: int) -> tuple[str, str]:
    if not offered:
        return " ", ""
    for floor, glyph, style in (
        (100.0, "█", "green"),
        (99.9, "▇", "green"),
        (99.0, "▆", "yellow"),
        (95.0, "▅", "yellow"),
        (90.0, "▄", "red"),
        (50.0, "▃", "red"),
    ):
        if pct >= floor:
            return glyph, style
    return ("▂", "bold red") if pct > 0 else ("▁", "bold red")


def level_cell(value: int, top: int) -> str:
    if value <= 0 or top <= 0:
        return "▁" if top > 0 else " "
    return "▂▃▄▅▆▇█"[min(6, (value * 7 - 1) // top)]


def clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class ReliabilityView(ClockedView):
    VIEW_TITLE = "failure design"

    def draw(self, width: int) -> Text:
        cloud = self.session.cloud
        self.mark_drawn()
        rows = self.layout_rows()
        m = cloud.metrics()
        rel = cloud.get(Reliability)
        service = cloud.get(LoadBalancing)
        lines: list[Text] = [self._header(m, rel, width)]
        history = rel.history if rel is not None else []
        cells = max(8, width - LABEL - 12)
        shown = history[-cells:]
        lines.append(self._avail_line(shown, m))
        if cloud.get(ObjectStore) is not None:
            lines.append(self._short_line(shown, m))
        rest: list[Text] = []
        if service is not None:
            for lb in service.balancers.values():
                rest.extend(self._targets(service, lb))
        rest.extend(self._data(cloud, m))
        rest.extend(self._incidents(rel, cloud.now_ms))
        room = max(0, rows - len(lines))
        lines.extend(rest[:room] if len(rest) <= room else rest[: max(0, room - 1)] + [Text(f"… {len(rest) - room + 1} more lines (describe)", style="dim")])
        return Text("\n").join(lines)

    # -- parts -------------------------------------------------------------------------
    def _header(self, m, rel, width: int) -> Text:
        t = Text()
        t.append(f"t={clock(self.session.cloud.now_ms)}", style="bold")
        if "availability_pct" in m:
            pct = m["availability_pct"]
            style = "green" if pct >= 99.9 else "yellow" if pct >= 99 else "bold red"
            t.append(f"  {m['load_rps']} rps  avail ")
            t.append(f"{pct:g}%", style=style)
            t.append(f" ({m['requests_failed']} of {m['requests_offered']} failed)", style="dim")
        if rel is not None:
            cost = m["cost_per_hour"]
            budget = rel.config.budget_per_hour
            over = budget is not None and cost > budget
            t.append("  $")
            t.append(f"{cost:.4f}/h", style="bold red" if over else "")
            if budget is not None:
                t.append(f" of ${budget:.2f}" if round(budget, 2) == budget else f" of ${budget:g}", style="dim")
        return t

    def _avail_line(self, shown, m) -> Text:
        t = Text("avail".ljust(LABEL), style="bold")
        for minute in shown:
            glyph, style = availability_cell(minute.availability_pct, minute.offered)
            t.append(glyph, style=style)
        if shown:
            worst = min(shown, key=lambda x: x.availability_pct if x.offered else 101)
            if worst.offered:
                t.append(f" low {worst.availability_pct:.4g}%", style="dim")
        else:
            t.append("(no minute yet)", style="dim")
        return t

    def _short_line(self, shown, m) -> Text:
        t = Text("short".ljust(LABEL), style="bold")
        top = max((x.short for x in shown), default=0)
        for minute in shown:
            t.append(level_cell(minute.short, top), style="magenta" if minute.short else "dim")
        t.append(f" now {m.get('chunks_under_replicated', 0)}", style="bold magenta" if m.get("chunks_under_replicated") else "dim")
        return t

    def _targets(self, service, lb) -> list[Text]:
        labels = short_labels(lb.zones)
        head = Text(f"lb {lb.name} ", style="bold")
        up = lb.nodes_up()
        head.append(" ".join(labels[z] + ("" if z in up else "✘") for z in lb.zones), style="dim")
        hc = lb.health_check
        head.append(f"  checks {hc.interval_s}s x{hc.unhealthy_threshold}", style="dim")
        out = [head]
        if not lb.targets:
            out.append(Text("  no targets registered", style="dim"))
        width = max((len(t) for t in lb.targets), default=0)
        for target in lb.targets.values():
            line = Text(f"  {target.instance:<{width}} ")
            for z in lb.zones:
                glyph, style = NODE_MARK[target.views[z].state] if z in up else ("-", "dim")
                line.append(glyph, style=style)
            probe = service.probe(lb.zones[0], target.instance)
            if not probe.answers:
                line.append(" dead", style="bold red")
            elif probe.latency_ms > service.config.client_timeout_ms:
                line.append(f" slow {probe.latency_ms:g}ms", style="magenta")
            else:
                line.append(" ok", style="green")
            out.append(line)
        return out

    def _data(self, cloud, m) -> list[Text]:
        out = []
        store = cloud.get(ObjectStore)
        if store is not None:
            t = Text("data ", style="bold")
            lost = m.get("objects_lost", 0)
            t.append(f"{m.get('objects', 0)} objects, ")
            t.append(f"{lost} lost", style="bold red" if lost else "green")
            short = m.get("chunks_under_replicated", 0)
            if short:
                status = store.repair_status()
                t.append(f", {short} chunks short", style="magenta")
                if status.eta_s > 0:
                    t.append(f", repair ETA {status.eta_s:.0f}s", style="magenta")
                elif status.suspect_hosts:
                    first = min(at for _, at in status.suspect_hosts)
                    t.append(f", re-copying from {clock(int(first * 1000))}", style="dim")
            out.append(t)
        timeline = cloud.get(Timeline)
        if timeline is not None:
            nxt = timeline.upcoming(1)
            t = Text("next ", style="bold")
            if nxt:
                f = nxt[0]
                t.append(f"{clock(f.at_ms)} {f.action} {f.part} {f.id}", style="yellow")
            else:
                t.append(f"timeline played ({m.get('timeline_fired', 0)} faults)", style="dim")
            out.append(t)
        return out

    def _incidents(self, rel, now_ms: int) -> list[Text]:
        if rel is None or not rel.incidents:
            return []
        out = []
        for inc in reversed(rel.incidents[-3:]):  # newest first
            t = Text(f"#{inc.n} {inc.part} {inc.id} ", style="bold")
            if inc.open:
                t.append(f"open {inc.seconds(now_ms):g}s", style="bold red")
            else:
                t.append(f"whole in {inc.seconds(now_ms):g}s", style="green")
            failed = sum(inc.failed.values())
            if failed:
                t.append(f", {failed} failed", style="dim")
            out.append(t)
        return out


VIEW = ReliabilityView
