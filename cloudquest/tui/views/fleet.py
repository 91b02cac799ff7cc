"""The fleet view: zones, racks and hosts with their CPU and RAM, the instances placed on
them, and the launch pipeline's seven steps as they happen.

Utilisation is never shown by colour alone: every bar's length carries the figure, and
every host has a glyph and a word (``· idle  ▂ light  ▄ busy  ▆ high  █ full``; a host
that is down shows ``✘ down``, a degraded one ``~ degraded``). Big fleets (more than
:data:`DENSE_HOSTS` hosts) are drawn one glyph per host, one line per rack.
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.control_plane import STEPS
from ...game.view_text import STEP_SHORT, LaunchHistory, LaunchRow, band
from .base import LiveView

DENSE_HOSTS = 24
WIDE = 60
LAUNCH_ROWS = 3

BAND_GLYPH = {"idle": "·", "light": "▂", "busy": "▄", "high": "▆", "full": "█"}
BAND_STYLE = {"idle": "dim", "light": "green", "busy": "yellow", "high": "dark_orange", "full": "bold red"}
STATE_GLYPH = {"running": "●", "pending": "◌", "impaired": "!"}
STATE_STYLE = {"running": "green", "pending": "yellow", "impaired": "bold red"}


def pct(used: float, total: float) -> int:
    return round(100 * used / total) if total else 0


def host_band(host) -> tuple[str, str, str]:
    """(glyph, word, style) for one host: health first, then how full it is."""
    if not host.up:
        return "✘", "down", "bold red"
    share = max(pct(host.used_vcpus, host.vcpus), pct(host.used_ram_mib, host.ram_mib))
    word = band(share)
    if host.health.value == "degraded" or host.rack.health.value == "degraded" or host.rack.zone.health.value == "degraded":
        return "~", "degraded", "magenta"
    return BAND_GLYPH[word], word, BAND_STYLE[word]


def bar(text: Text, used: float, total: float, width: int) -> None:
    share = used / total if total else 0.0
    filled = min(width, round(share * width))
    if used > 0 and filled == 0:
        filled = 1  # something is there: never draw it as empty
    word = band(pct(used, total))
    text.append("▕", style="dim")
    text.append("█" * filled, style=BAND_STYLE[word])
    text.append("░" * (width - filled), style="dim")
    text.append("▏", style="dim")


class FleetView(LiveView):
    VIEW_TITLE = "fleet"

    def __init__(self, session, **kwargs) -> None:
        super().__init__(session, **kwargs)
        self.history = LaunchHistory()
        self._seen_events = -1

    def reset(self) -> None:
        self.history = LaunchHistory()
        self._seen_events = -1

    def changed(self) -> bool:
        # Everything this view draws changes only through events (placements, steps,
        # faults, releases), so an unchanged log means an unchanged picture.
        return len(self.session.cloud.log) != self._seen_events

    # -- drawing -----------------------------------------------------------------------
    def draw(self, width: int) -> Text:
        cloud = self.session.cloud
        self.history.update(cloud.log)
        self._seen_events = len(cloud.log)
        hw = cloud.hardware
        text = Text()
        hosts = list(hw.hosts.values())
        if not hosts:
            text.append("no hardware in this world", style="dim")
        elif len(hosts) > DENSE_HOSTS:
            self._dense(text, hw, width)
        else:
            self._hosts(text, hw, width)
        self._launches(text, width)
        text.rstrip()
        if width < WIDE:
            return text  # every host says its state in a word; the legend is for the wide view
        text.append("\n\n")
        legend = "· idle ▂ light ▄ busy ▆ high █ full ✘ down ~ degraded"
        if len(legend) > width:
            legend = "·idle ▂light ▄busy ▆high █full ✘down ~degraded"
        text.append(legend, style="dim")
        return text

    def _zone_line(self, text: Text, zone, width: int) -> None:
        hosts = zone.hosts()
        cpu = sum(h.vcpus for h in hosts)
        used = sum(h.used_vcpus for h in hosts)
        ram = sum(h.ram_mib for h in hosts)
        used_ram = sum(h.used_ram_mib for h in hosts)
        share = max(pct(used, cpu), pct(used_ram, ram))
        word = band(share)
        text.append("▣ ", style="bold")
        text.append(zone.id, style="bold")
        if not zone.up:
            text.append("  ✘ DOWN", style="bold red")
        elif zone.health.value != "healthy":
            text.append(f"  ~ {zone.health.value}", style="magenta")
        text.append(f"  vCPU {used}/{cpu}", style="")
        if width >= WIDE:
            text.append(f"  RAM {used_ram / 1024:g}/{ram / 1024:g}G")
        text.append(f"  {BAND_GLYPH[word]} {word}", style=BAND_STYLE[word])
        text.append("\n")

    def _hosts(self, text: Text, hw, width: int) -> None:
        wide = width >= WIDE
        idw = max(len(h) for h in hw.hosts)
        barw = 8 if width >= 96 else 6 if wide else 5
        for zone in hw.zones.values():
            self._zone_line(text, zone, width)
            for rack in zone.racks:
                if wide or not rack.up or rack.health.value != "healthy":
                    line = Text("  rack ", style="dim")
                    line.append(rack.id, style="bold" if wide else "")
                    if not rack.up:
                        line.append("  ✘ DOWN", style="bold red")
                    elif rack.health.value != "healthy":
                        line.append(f"  ~ {rack.health.value}", style="magenta")
                    text.append_text(line)
                    text.append("\n")
                for h in rack.hosts:
                    self._host_line(text, h, idw, barw, wide, width)

    def _host_line(self, text: Text, h, idw: int, barw: int, wide: bool, width: int) -> None:
        line = Text("   " if wide else " ")
        line.append(h.id.ljust(idw), style="bold" if h.up else "dim")
        if wide:
            line.append(" cpu")
            bar(line, h.used_vcpus, h.vcpus, barw)
            line.append(f"{h.used_vcpus}/{h.vcpus}".rjust(6))
            line.append(" ram")
            bar(line, h.used_ram_mib, h.ram_mib, barw)
            line.append(f"{h.used_ram_mib / 1024:g}/{h.ram_gib:g}G".rjust(9))
        else:
            share = max(h.used_vcpus / h.vcpus if h.vcpus else 0, h.used_ram_mib / h.ram_mib if h.ram_mib else 0)
            bar(line, share * 100, 100, barw)
            line.append(f"{h.used_vcpus}/{h.vcpus}c {h.used_ram_mib / 1024:g}/{h.ram_gib:g}G")
        glyph, word, style = host_band(h)
        line.append(f" {glyph} {word}", style=style)
        room = width - line.cell_len - 1
        names = sorted(h.instances.items())
        if names and room > 0:
            line.append(" ")
            shown = 0
            for i, (name, inst) in enumerate(names):
                chunk = f"{STATE_GLYPH.get(inst.state, '?')}{name}"
                rest = len(names) - i - 1
                need = len(chunk) + (len(f" +{rest}") if rest else 0)
                if need > room:
                    break
                line.append(STATE_GLYPH.get(inst.state, "?"), style=STATE_STYLE.get(inst.state, ""))
                line.append(name + " ")
                room -= len(chunk) + 1
                shown += 1
            if shown < len(names):
                line.append(f"+{len(names) - shown}", style="dim")
        text.append_text(line)
        text.append("\n")

    def _dense(self, text: Text, hw, width: int) -> None:
        text.append(f"{len(hw.hosts)} hosts, one glyph each (utilisation, health)\n", style="dim")
        for zone in hw.zones.values():
            self._zone_line(text, zone, width)
            rw = max((len(r.id) for r in zone.racks), default=2)
            for rack in zone.racks:
                line = Text(f"  {rack.id.ljust(rw)} ")
                room = width - line.cell_len - 12
                for i, h in enumerate(rack.hosts):
                    if i >= room:
                        line.append(f"+{len(rack.hosts) - i}", style="dim")
                        break
                    glyph, _word, style = host_band(h)
                    line.append(glyph, style=style)
                used = sum(h.used_vcpus for h in rack.hosts)
                cpu = sum(h.vcpus for h in rack.hosts)
                line.append(f" {pct(used, cpu):>3}% cpu", style="dim")
                if not rack.up:
                    line.append(" ✘ DOWN", style="bold red")
                text.append_text(line)
                text.append("\n")

    def _launches(self, text: Text, width: int) -> None:
        rows = self.history.recent(LAUNCH_ROWS)
        total = len(self.history.recent(0))
        text.append("launch pipeline", style="bold")
        if total > len(rows):
            text.append(f"  (latest {len(rows)} of {total})", style="dim")
        if not rows:
            text.append("  no launches yet: try  launch --name web", style="dim")
        text.append("\n")
        namew = max((len(r.instance) for r in rows), default=3)
        wide = width >= namew + 2 + 7 * 6 + 12
        for row in rows:
            self._launch_line(text, row, namew, wide)

    def _launch_line(self, text: Text, row: LaunchRow, namew: int, wide: bool) -> None:
        text.append(" " + row.instance.ljust(namew) + " ", style="bold")
        current = row.next_step()
        for step in STEPS:
            if step in row.steps:
                glyph, style = "✔", "green"
            elif row.state == "failed" and step == row.failed_step:
                glyph, style = "✘", "bold red"
            elif step == current:
                glyph, style = "▶", "bold yellow"
            else:
                glyph, style = "·", "dim"
            text.append(glyph, style=style)
            if wide:
                text.append(STEP_SHORT[step] + " ", style=style if style != "dim" else "dim")
        if row.state == "failed":
            text.append(f" {row.code or 'failed'}", style="bold red")
        elif row.state == "launching":
            text.append(f" {current}" if not wide else " launching", style="yellow")
        else:
            where = f" on {row.host}" if row.host else ""
            text.append(f" {row.state}{where}", style="green" if row.state == "running" else "dim")
            if row.state == "running":
                passed = row.checks_passed
                text.append(f" {passed}/2 checks", style="green" if passed == 2 else "yellow")
        text.append("\n")


VIEW = FleetView
