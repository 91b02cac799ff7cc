"""The network view (chapters 6 and 7): the last traced packet, the subnets by zone, the
route table in focus, and the gateways.

- **Verdict** first, so it is on screen at any size: ``✔ REACHABLE`` or ``✘ DROPPED`` /
  ``✘ REPLY DROPPED`` with the packet, then the hop and the rule that decided.
- **Hops**, one mark each, the request then (after ``⇄``) the reply: ``✔`` passed, ``✘``
  where it died: ``tx`` sent (source check), ``sg`` a security group, ``acl`` a network
  ACL, ``rt`` the route table, ``map`` the mapping service, ``vni`` the encapsulation
  across the underlay (``vni⇆`` when it crosses zones), ``igw``/``nat``/``pcx`` a
  gateway or peering, ``net`` the internet, ``rx`` delivered.
- **Subnets**, one line per zone: each subnet with ``◉`` public (its route table reaches
  an internet gateway) or ``○`` private, and its addresses ``used/free``; ``FULL`` when
  none is left. The subnets the last packet left from and arrived in are drawn reversed;
  ``▸`` marks the subnet in focus (the one last traced from or changed).
- **Route table** of the subnet in focus, most specific route first, blackholes named.
- **Gateways**: internet gateways, NAT gateways with their public address, peerings, and
  Elastic IPs (``idle`` when billed for nothing).
- Below the fold, every hop of the last trace in full.

It reads the session only; the words are shared with ``describe``
(cloudquest/game/network_text.py).
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.network import Network
from ...cloud.packet_tracer import Trace
from ...game.network_text import focus_subnet, hop_line, route_lines, subnet_rows
from .fit import FittedView, Line, join_lines, short_labels

SHORT = {
    "send": "tx", "sg out": "sg", "nacl out": "acl", "route": "rt", "mapping": "map", "encap": "vni",
    "nacl in": "acl", "sg in": "sg", "deliver": "rx", "igw": "igw", "nat": "nat", "internet": "net",
    "peering": "pcx", "address": "addr",
}
VERDICT = {
    "reachable": ("✔ REACHABLE", "bold green"),
    "dropped": ("✘ DROPPED", "bold red"),
    "reply-dropped": ("✘ REPLY DROPPED", "bold red"),
}
LEGEND = "◉ public  ○ private  used/free  ▸ focus"


def wrap(text: str, width: int, indent: str = "  ") -> list[str]:
    """Words onto lines of at most ``width`` cells (a word longer than a line is cut)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width or not line:
            line = candidate[:width]
        else:
            lines.append(line)
            line = (indent + word)[:width]
    if line:
        lines.append(line)
    return lines


class NetworkView(FittedView):
    VIEW_TITLE = "network"

    def __init__(self, session, **kwargs) -> None:
        super().__init__(session, **kwargs)
        self._drawn: tuple = ()

    def _key(self) -> tuple:
        net = self.session.cloud.get(Network)
        return (len(self.session.cloud.log), net.version if net else 0, self.session.cloud.hardware.health_version)

    def changed(self) -> bool:
        return self._key() != self._drawn or self.rows_changed()

    def reset(self) -> None:
        self._drawn = ()

    # -- drawing -----------------------------------------------------------------------
    def draw(self, width: int) -> Text:
        self._drawn = self._key()
        rows = self.layout_rows()
        net = self.session.cloud.get(Network)
        if net is None:
            return Text("this world has no network")
        lines: list[Line] = []
        t = net.last_trace
        lines += self._verdict(t, width)
        if t is not None:
            lines += self._hops(t, width)
        lines += self._zones(net, t, width)
        routes = self._routes(net, width)
        gateways = self._gateways(net, width)
        # The route table before the gateways; what does not fit the pane goes below the
        # fold in the same order (the pane scrolls).
        lines += routes + gateways
        if len(lines) < rows:
            lines.append(Line(LEGEND[:width], "dim"))
        if t is not None:
            lines.append(Line("─" * min(width, 40), "dim"))
            lines.append(Line(f"request {t.request}"[:width], "dim"))
            replying = False
            for n, hop in enumerate(t.hops, 1):
                if hop.leg == "reply" and not replying:
                    replying = True
                    lines.append(Line(f"reply   {t.reply}"[:width], "dim"))
                for part in wrap(hop_line(n, hop).strip(), width, indent="     "):
                    lines.append(Line(part, "" if hop.ok else "bold red"))
        return join_lines(lines)

    def _verdict(self, t: Trace | None, width: int) -> list[Line]:
        if t is None:
            return [Line("no packet traced yet"[:width], "bold"), Line("packet trace SRC DST --port N"[:width], "dim")]
        word, style = VERDICT[t.verdict]
        what = f"{t.src} → {t.dst}" + (f":{t.port}" if t.port is not None else "") + f" {t.proto}"
        first = Line(word, style)
        if first.width + 1 + len(what) <= width:
            first.add(" " + what)
            out = [first]
        else:
            out = [first, Line(what[:width])]
        hop = t.dropped_at
        if hop is not None:
            for part in wrap(f"at {hop.step} {hop.where}: {hop.detail}", width):
                out.append(Line(part, "red"))
        elif t.cross_zone is not None:
            e = t.cross_zone
            for part in wrap(f"VNI {e.vni}: host {e.src} ⇆ {e.dst}", width):
                out.append(Line(part, "green"))
        return out

    def _hops(self, t: Trace, width: int) -> list[Line]:
        lines = [Line()]
        leg = "request"
        for hop in t.hops:
            mark = "✔" if hop.ok else "✘"
            code = SHORT.get(hop.step, hop.step[:4])
            if hop.step == "encap" and any(e.cross_zone for e in t.encaps if e.leg == hop.leg):
                code = "vni⇆"
            piece = f"{mark}{code}"
            sep = " ⇄ " if hop.leg != leg else (" " if lines[-1].width else "")
            leg = hop.leg
            if lines[-1].width + len(sep) + len(piece) > width:
                lines.append(Line())
                sep = "" if sep == " " else sep.lstrip()
            lines[-1].add(sep, "dim")
            lines[-1].add(piece, "green" if hop.ok else "bold red reverse")
        return lines

    def _zones(self, net: Network, t: Trace | None, width: int) -> list[Line]:
        rows = subnet_rows(net)
        if not rows:
            return [Line("no subnets yet"[:width], "dim")]
        touched: set[str] = set()
        if t is not None:
            for flow in t.flows:
                eni = net.enis.get(flow.interface)
                if eni is not None:
                    touched.add(eni.subnet.id)
        focus = focus_subnet(net)
        labels = short_labels(list(net.zones))
        label_w = max((len(v) for v in labels.values()), default=2) + 1
        out: list[Line] = []
        for zone in net.zones:
            mine = [r for r in rows if r.zone == zone]
            line = Line(labels[zone].ljust(label_w), "bold")
            if not mine:
                line.add("no subnets", "dim")
                out.append(line)
                continue
            for r in mine:
                full = r.free <= 0
                cell = ("▸" if focus is not None and focus.id == r.name else "") + f"{r.name}{'◉' if r.public else '○'}"
                count = "FULL" if full else f"{r.used}/{r.free}"
                piece_w = len(cell) + 1 + len(count)
                if line.width > label_w and line.width + 2 + piece_w > width:
                    out.append(line)
                    line = Line(" " * label_w)
                if line.width > label_w:
                    line.add("  ")
                style = "reverse" if r.name in touched else ""
                line.add(cell, style or ("bold" if focus is not None and focus.id == r.name else ""))
                line.add(" ")
                line.add(count, "bold red" if full else "dim")
            out.append(line)
        return out

    def _routes(self, net: Network, width: int) -> list[Line]:
        s = focus_subnet(net)
        if s is None:
            return []
        table = net.route_table_of(s)
        out = [Line(f"routes {table.name} ({s.id})"[:width], "bold")]
        for text in route_lines(net, table):
            black = "BLACKHOLE" in text
            compact = " ".join(text.split())
            out.append(Line(("  " + compact)[:width], "bold red" if black else ""))
        return out

    def _gateways(self, net: Network, width: int) -> list[Line]:
        parts: list[tuple[str, str]] = []
        for g in net.igws.values():
            parts.append((f"{g.name}→{g.vpc or 'detached'}", "" if g.vpc else "yellow"))
        for n in net.nats.values():
            parts.append((f"{n.name}({n.subnet}) {net.eips[n.eip].address}", ""))
        for p in net.peerings.values():
            parts.append((f"{p.name} {p.a}⇆{p.b}", ""))
        for e in net.eips.values():
            if e.nat:
                continue
            idle = net.eip_idle(e)
            who = net.enis[e.eni].instance or e.eni if e.eni and e.eni in net.enis else "-"
            parts.append((f"{e.name}→{who}" + (" idle" if idle else ""), "bold yellow" if idle else ""))
        if not parts:
            return []
        out = [Line("gw ", "bold")]
        for text, style in parts:
            sep = "  " if out[-1].width > 3 else ""
            if out[-1].width + len(sep) + len(text) > width:
                out.append(Line("   "))
                sep = ""
            out[-1].add(sep)
            out[-1].add(text[: width - out[-1].width], style)
        return out


VIEW = NetworkView
