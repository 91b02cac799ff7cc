"""The load balancer view (chapter 8): the nodes per zone, the backends with their health
and load, and the Maglev table as a strip.

- **Header.** The load offered, availability so far, the imbalance (busiest backend over
  the average, 1.00 is even), and connections broken and lost by changes.
- **Nodes.** Per zone, one mark per node: ``●`` serving, ``○`` joining (a scale-out the
  balancer asked for), ``✘`` its zone is down; the zone's node load in percent; the
  zones the DNS answer names.
- **Table.** The Maglev lookup table of the backends the first zone sees healthy, shrunk
  to the width: each cell is the backend that owns that stretch of slots, by its letter,
  so a backend's share is its letter's share of the strip and a change shows as letters
  moving. The rule in use and M follow.
- **Backends.** Each with its letter, one health mark per zone (``✔`` healthy, ``✘``
  taken out, ``·`` initial, ``-`` not in rotation), a bar of its request rate against its
  capacity, its rate and open connections, and what is wrong (``dead``, ``cold``,
  ``drain``). Dead and unhealthy backends come first when the pane is short.

It reads the session only, and lays itself out to the room: header, nodes and the strip
first, then as many backends as fit (the others counted), then the totals.
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.balancer import Balancer
from .fit import ClockedView, Line, fine_bar, join_lines, short_labels

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta", "bright_green")
MARK = {"healthy": ("✔", "green"), "unhealthy": ("✘", "bold red"), "initial": ("·", "dim")}


def clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class LoadBalancerView(ClockedView):
    VIEW_TITLE = "load balancer"

    def draw(self, width: int) -> Text:
        cloud = self.session.cloud
        self.mark_drawn()
        lb = cloud.get(Balancer)
        if lb is None:
            return Text("this world has no distributed load balancer", style="dim")
        rows = self.layout_rows()
        m = lb.metrics()
        letters = {name: LETTERS[i % len(LETTERS)] for i, name in enumerate(lb.backends)}
        colours = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(lb.backends)}
        top = [self._head_line(lb, m, width), self._node_line(lb), self._strip_line(lb, letters, colours, width)]
        lines = self._backend_lines(lb, letters, colours, width)
        foot = self._foot_line(m, width)
        room = max(0, rows - len(top) - 1)
        if len(lines) > room:
            shown = lines[: max(0, room - 1)]
            more = Line(f"  +{len(lines) - len(shown)} more backends (lb backends)", "dim")
            lines = shown + [more]
        return join_lines(top + lines + [foot])

    # -- parts -------------------------------------------------------------------------
    def _head_line(self, lb: Balancer, m: dict, width: int) -> Line:
        line = Line(f"t={clock(self.session.cloud.now_ms)} ", "bold")
        line.add(f"{m['lb_rps']} rps ")
        pct = m["lb_availability_pct"]
        line.add("avail ")
        line.add("100%" if pct >= 100 else f"{pct:.2f}%", "green" if pct >= 99.9 else "yellow" if pct >= 99 else "bold red")
        imb = m["lb_imbalance"]
        line.add(" imb ")
        line.add(f"{imb:.2f}", "green" if imb <= 1.15 else "yellow" if imb <= 1.5 else "bold red")
        if width >= 60:
            line.add(f"  {lb.algorithm}, cross-zone {'on' if lb.cross_zone else 'off'}", "dim")
        return line

    def _node_line(self, lb: Balancer) -> Line:
        labels = short_labels(lb.zones)
        line = Line("nodes ", "bold")
        dns = set(lb.dns_zones())
        for z in lb.zones:
            up = lb.cloud.hardware.zones[z].up
            line.add(labels[z] + (" " if z in dns else "? "), "" if up else "dim")
            for n in lb.nodes[z]:
                if not up:
                    line.add("✘", "bold red")
                elif n.state == "pending":
                    line.add("○", "yellow")
                else:
                    line.add("●", "green")
            util = lb.zone_util_pct(z)
            line.add(f" {util:.0f}%  ", "bold red" if util >= 100 else "yellow" if util >= lb.spec.scale_out_pct else "dim")
        return line

    def _strip_line(self, lb: Balancer, letters: dict, colours: dict, width: int) -> Line:
        names, fail_open = lb.candidates(lb.zones[0])
        label = Line("table ", "bold")
        tail = f" M={lb.table_size}" + (" OPEN" if fail_open else "")
        cells = max(8, width - label.width - len(tail) - 2)
        if not names:
            return label.add("(no backend)", "dim")
        t = lb.table(names)
        label.add("▕", "dim")
        run_name, run = None, 0
        for i in range(cells):
            owner = t.names[t.entries[i * lb.table_size // cells]]
            if owner != run_name and run:
                label.add(letters[run_name] * run, colours[run_name])
                run = 0
            run_name = owner
            run += 1
        if run:
            label.add(letters[run_name] * run, colours[run_name])
        label.add("▏", "dim")
        label.add(tail, "bold red" if fail_open else "dim")
        return label

    def _backend_lines(self, lb: Balancer, letters: dict, colours: dict, width: int) -> list[Line]:
        now = lb.cloud.now_ms
        name_w = max((len(n) for n in lb.backends), default=4)
        # letter, name, marks, bar frame, "  669r   883c", " cold 25%"
        bar_w = max(3, min(16, width - (name_w + len(lb.zones) + 29)))
        rows: list[tuple[int, Line]] = []
        for b in lb.backends.values():
            line = Line()
            line.add(letters[b.name], colours[b.name])
            line.add(f" {b.name:<{name_w}} ")
            for z in lb.zones:
                if b.state == "spare":
                    line.add("-", "dim")
                else:
                    glyph, style = MARK[b.views[z].state]
                    line.add(glyph, style)
            line.add(" ")
            rate = round(b.rate)
            fine_bar(line, rate / b.capacity_rps if b.capacity_rps else 0, bar_w, "red" if rate > b.capacity_rps else "cyan")
            line.add(f"{rate:5d}r {b.conns:5d}c")
            rank = 2
            if not lb.answers(b):
                line.add(" dead", "bold red")
                rank = 0
            elif b.state == "draining":
                line.add(f" drain {max(0, (b.drain_until_ms - now) // 1000)}s", "cyan")
                rank = 1
            elif b.state == "spare":
                line.add(" spare", "dim")
                rank = 3
            elif lb.warm_share(b, now) < 1:
                line.add(f" cold {lb.warm_share(b, now) * 100:.0f}%", "yellow")
                rank = 1
            elif any(v.state != "healthy" for v in b.views.values()):
                rank = 1
            rows.append((rank, line))
        rows.sort(key=lambda r: r[0])  # stable: the world's order within a rank
        return [line for _, line in rows]

    def _foot_line(self, m: dict, width: int) -> Line:
        opened, broken, lost, fed = m["lb_connections"], m["lb_connections_broken"], m["lb_connections_lost"], m["lb_dead_traffic_s"]
        words = f"{opened} open, {broken} broken, {lost} lost; dead fed {fed:g}s"
        if len("conns ") + len(words) > width:
            words = f"{opened} open {broken} broke {lost} lost fed {fed:g}s"
        line = Line("conns ", "bold")
        line.add(words, "yellow" if broken else "")
        return line


VIEW = LoadBalancerView
