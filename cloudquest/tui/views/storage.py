"""The storage view (chapters 4 and 5): every disk of the cluster, where the object in
focus sits, and a failure and its repair as they unfold.

- **Settings and data.** The scheme new writes get (copies or Reed-Solomon K+M, with its
  overhead), the placement policy and chunk size; then what is stored, its real overhead
  on disk, objects lost, the fullest disk, read p99, durability in nines and how many more
  losses the weakest chunk survives.
- **The disk map**, zone by zone, rack by rack, host by host. Each disk is a glyph that
  carries its state without colour: a healthy disk is a block as tall as the disk is full
  (``·▁▂▃▄▅▆▇█``, green, yellow from 70 %, red from 85 %), ``~`` slow (fail-slow:
  degraded), ``✘`` failed, ``?`` its host is silent (no heartbeat, not yet declared
  dead), ``†`` its host was declared dead, ``↓`` decommissioning, ``○`` decommissioned.
  With room, one line per rack and each disk's fill in percent (rounded up, so a disk
  over a limit never reads as at it); in the densest form one line per zone, one glyph
  per disk and the zone's fullest disk. Fill is the hardware's own accounting (whole GiB
  in use). The disks holding the chunk in focus are drawn reversed and, where there is a
  column for it, marked ``◆`` (a copy or data fragment) or ``◇`` (a parity fragment).
- **History.** ``under``: chunks below full strength, scaled to the worst moment shown,
  so a failure draws a cliff and the repair a slope back to the floor; ``repair``: bytes
  re-copied per cell against the repair bandwidth (``█`` = at the limit). Both cover the
  whole run while it fits (the cell length grows from seconds to minutes) and are rebuilt
  from the event log, so a ``tick 3600`` draws its hour, not only its end.
- **Focus.** The object last put, read or located, with the chunk ``locate --chunk``
  named, or the slowest chunk of the last ``get``, or chunk 0: its pieces, their disks
  and how many hosts, racks and zones they span.
- **Repair.** What is queued and its ETA at the repair bandwidth, hosts waiting out the
  heartbeat timeout, hosts declared dead.

The view lays itself out to the pane: the settings, the map, both sparklines and the focus
first (the map as dense as the rows require; a map taller than the pane goes below the
sparklines), then the rest as rows allow; below the fold, every host with a bar per disk
and its piece count. It only reads the session; the history, focus and disk-state logic
live in :mod:`cloudquest.game.view_text`, shared with ``describe``. A live tick redraws
it: the store's repair status (a walk of the whole queue) is asked only when the work
may have grown, and lines are built as plain strings with merged spans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from rich.text import Span, Text

from ...cloud.storage import MiB, ObjectStore, format_bytes
from ...game.view_text import (
    LatestObject,
    RepairHistory,
    disk_conditions,
    focus_pieces,
    hms,
    span_text,
    spread_of,
)
from .fit import FittedView, short_labels

FILL = "▁▂▃▄▅▆▇█"
LEVEL = "▁▂▃▄▅▆▇█"
# condition -> (glyph, style); "ok" disks draw their fill instead.
STATE = {
    "slow": ("~", "bold magenta"),
    "failed": ("✘", "bold red"),
    "silent": ("?", "bold yellow"),
    "dead": ("†", "bold red"),
    "draining": ("↓", "cyan"),
    "drained": ("○", "dim cyan"),
}
WORD = {"ok": "ok", "slow": "slow", "failed": "FAILED", "silent": "silent", "dead": "DEAD", "draining": "draining", "drained": "drained"}
LABEL = 7  # "under  ", "repair "
DETAIL_HOSTS = 64  # below the fold: at most this many host lines
LEGEND = "·▁▄█ fill  ~ slow  ✘ failed  ? silent  † dead  ↓ draining  ◆◇ focus"
LEGEND_SHORT = "~slow ✘failed ?silent †dead ↓drain ◆focus"


def fill_style(pct: float) -> str:
    if pct >= 85:
        return "bold red"
    if pct >= 70:
        return "yellow"
    return "green"


def disk_glyph(condition: str, pct: float) -> tuple[str, str]:
    """The glyph and style of one disk: its state when not ok, else its fill."""
    if condition != "ok":
        return STATE[condition]
    if pct <= 0:
        return "·", "dim"
    return FILL[min(7, int(pct * 8 / 100.0001))], fill_style(pct)


def pct_text(pct: float) -> str:
    """Whole percent, rounded up: 85.2 % shows as 86, so a disk over a limit never reads
    as at it."""
    return str(min(100, math.ceil(pct - 1e-9)))


def level(value: float, top: float) -> int:
    if value <= 0 or top <= 0:
        return 0
    return min(7, 1 + int(value * 7 / top - 1e-9))


class Row:
    """One line of styled text built from plain pieces and spans, joined at the end (much
    cheaper than growing a Rich ``Text`` piece by piece). One cell per character."""

    __slots__ = ("parts", "spans", "width")

    def __init__(self, s: str = "", style: str = "") -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.width = 0
        if s:
            self.add(s, style)

    def add(self, s: str, style: str = "") -> "Row":
        if s:
            end = self.width + len(s)
            if style:
                spans = self.spans
                if spans and spans[-1].end == self.width and spans[-1].style == style:
                    spans[-1] = Span(spans[-1].start, end, style)  # one span, not two
                else:
                    spans.append(Span(self.width, end, style))
            self.parts.append(s)
            self.width = end
        return self

    def extend(self, other: "Row") -> "Row":
        at = self.width
        self.spans.extend(Span(s.start + at, s.end + at, s.style) for s in other.spans)
        self.parts.extend(other.parts)
        self.width += other.width
        return self

    @property
    def plain(self) -> str:
        return "".join(self.parts)


def join_rows(rows: list[Row]) -> Text:
    parts: list[str] = []
    spans: list[Span] = []
    at = 0
    for i, row in enumerate(rows):
        if i:
            parts.append("\n")
            at += 1
        parts.extend(row.parts)
        spans.extend(Span(s.start + at, s.end + at, s.style) for s in row.spans)
        at += row.width
    return Text("".join(parts), spans=spans)


def chips(items: list[tuple[int, str, str]], width: int, sep: str = " · ") -> Row:
    """A line of (priority, text, style) pieces: the least important dropped until the
    rest fit, the order kept."""
    keep = list(items)
    while keep and sum(len(t) for _, t, _ in keep) + len(sep) * (len(keep) - 1) > width:
        worst = max(range(len(keep)), key=lambda i: (keep[i][0], i))
        del keep[worst]
    row = Row()
    for i, (_, t, style) in enumerate(keep):
        if i:
            row.add(sep, "dim")
        row.add(t, style)
    return row


@dataclass(frozen=True)
class RepairNow:
    """What the repair is doing, as the store's ``repair_status`` last said, carried
    forward by the bytes repaired since (see :meth:`StorageView._repair_state`)."""

    queued: int
    waiting: int  # pieces lost, reported at the next heartbeat
    stalled: int  # no readable source
    blocked: int  # no host can take a piece
    pending: int  # bytes left to copy
    suspects: tuple[tuple[str, float], ...]  # silent hosts, declared dead at (s)
    moves: int  # the history's fault-like events when asked
    done: int  # bytes repaired when asked

    @property
    def suspect_hosts(self) -> tuple[tuple[str, float], ...]:
        return self.suspects


class StorageView(FittedView):
    VIEW_TITLE = "storage"

    def __init__(self, session, **kwargs) -> None:
        super().__init__(session, **kwargs)
        self.latest = LatestObject()
        self.history = RepairHistory()
        self._repair: RepairNow | None = None
        self._drawn: tuple | None = None

    def reset(self) -> None:
        self.latest = LatestObject()
        self.history = RepairHistory()
        self._repair = None
        self._drawn = None

    def _key(self) -> tuple:
        cloud = self.session.cloud
        return (len(cloud.log), cloud.now_ms, len(self.session.transcript))

    def changed(self) -> bool:
        return self._key() != self._drawn or self.rows_changed()

    # -- the picture ---------------------------------------------------------------------
    def draw(self, width: int) -> Text:
        session = self.session
        cloud = session.cloud
        self._drawn = self._key()
        store = cloud.get(ObjectStore)
        if store is None:
            return Text("this world has no storage cluster", style="dim")
        rows = self.layout_rows()
        self.latest.update(session)
        self.history.update(session)
        m = store.metrics()
        hw = cloud.hardware
        # fill from the hardware's own accounting (whole GiB in use, kept current by the
        # store): no per-disk report objects to build on every tick
        fills = {d.id: 100.0 * d.used_gib / d.size_gib if d.size_gib else 0.0 for d in hw.disks.values()}
        states = disk_conditions(store)
        found = focus_pieces(store, self.latest.current)
        marks: dict[str, str] = {}
        if found is not None:
            for p in found[2]:
                if p.disk is not None:
                    marks[p.disk] = "◇" if p.role == "parity" else "◆"

        settings, data = self._settings(store, width), self._data(m)
        head = [chips(settings, width), chips(data, width)]
        status = self._repair_state(store, m)
        spark = self._sparklines(store, m, status, width)
        focus = self._focus(store, found, width)
        zones = list(hw.zones.values())
        zlabel = self._zone_labels(zones)
        room = rows - len(head) - len(spark) - 1
        bars = self._bars(store, zones, fills, states, marks, width)
        detail: list[Row] = []
        if len(bars) <= room:
            disk_map = bars
        else:
            detail = bars
            cells = self._cells(zones, zlabel, fills, states, marks, width, room)
            if cells is not None:
                disk_map = cells
            else:
                disk_map = self._dense(zones, zlabel, fills, states, marks, width)
                if len(disk_map) > room:
                    # short of rows: the settings and the data share one line
                    head = [chips(settings + [(p + 2 if p else 0, t, st) for p, t, st in data], width)]
        if len(disk_map) > rows - len(head) - len(spark) - 1:
            # a map taller than the pane: time and focus first, the map below them
            out = head + spark + focus[:1] + disk_map
        else:
            out = head + disk_map + spark + focus[:1]
        lines = self._status(store, m, status, width)
        extra = lines + focus[1:] if lines else focus[1:]
        spare = rows - len(out)
        if spare > 0:
            out += extra[:spare]
            extra = extra[spare:]
            if len(out) < rows and width >= 20:
                out.append(Row(LEGEND if len(LEGEND) <= width else LEGEND_SHORT, "dim"))
        out += extra
        if detail:
            out.append(Row("disks by host: fill, pieces, state", "bold"))
            out += detail
        return join_rows(out)

    # -- header --------------------------------------------------------------------------
    def _settings(self, store, width: int) -> list[tuple[int, str, str]]:
        cfg = store.config
        s = cfg.scheme
        scheme = f"{s.n} copies" if not s.erasure else f"{s.label} ({s.k} data + {s.m} parity)"
        if s.erasure and width < 60:
            scheme = s.label
        items = [
            (0, scheme, "bold"),
            (0, f"{s.overhead:.2f}x", "bold"),
            (0, cfg.placement, "bold"),
            (1, f"chunk {format_bytes(cfg.chunk_bytes).replace(' ', '')}", ""),
            (3, f"repair {cfg.repair_mibps:g}MiB/s", "dim"),
            (4, f"dead after {cfg.heartbeat_timeout_s:g}s", "dim"),
        ]
        if cfg.hedged_read_ms is not None:
            items.append((2, f"hedge {cfg.hedged_read_ms:g}ms", ""))
        return items

    def _data(self, m: dict) -> list[tuple[int, str, str]]:
        lost = m["objects_lost"]
        unavailable = m["objects_unavailable"]
        fill = m["max_disk_fill_pct"]
        n = m["objects"]
        items = [
            (0, f"{n} obj {format_bytes(m['bytes_stored']).replace(' ', '')}" if n else "empty", ""),
            (1, f"{m['storage_overhead']:.2f}x raw" if n else "", ""),
            (0, f"lost {lost}", "bold red" if lost else "green"),
            (2, f"fullest {fill:.3g}%", fill_style(fill)),
            (2, f"p99 {m['read_p99_ms']:g}ms", ""),
            (3, f"{m['durability_nines']:g} nines", ""),
            (4, f"survives {m['failures_tolerated']} more", ""),
        ]
        if unavailable:
            items.insert(3, (0, f"{unavailable} unreadable", "bold yellow"))
        return [i for i in items if i[1]]

    # -- the disk map --------------------------------------------------------------------
    @staticmethod
    def _zone_labels(zones) -> dict[str, str]:
        ids = [z.id for z in zones]
        if len(ids) == 1:
            return {ids[0]: ids[0].rsplit("-", 1)[-1]}
        return short_labels(ids)

    @staticmethod
    def _mark(row: Row, disk: str, glyph: str, style: str, marks: dict[str, str]) -> None:
        row.add(glyph, f"{style} reverse" if disk in marks else style)

    def _cells(self, zones, zlabel, fills, states, marks, width: int, room: int) -> list[Row] | None:
        """One line per rack: each disk a marker column, its glyph and its percent. None
        when the racks do not fit the width or the lines the room."""
        zw = max(len(v) for v in zlabel.values())
        rw = max((len(r.id) for z in zones for r in z.racks), default=1)
        racks = [r for z in zones for r in z.racks]
        if len(racks) > room or any(zw + 1 + rw + sum(1 + 5 * len(h.disks) for h in r.hosts) > width for r in racks):
            return None
        out = []
        for z in zones:
            for i, rack in enumerate(z.racks):
                row = Row((zlabel[z.id] if i == 0 else "").ljust(zw) + " ", "bold" if i == 0 else "")
                row.add(rack.id.ljust(rw), "bold" if rack.up else "dim")
                for h in rack.hosts:
                    row.add(" ")
                    for d in h.disks:
                        mark = marks.get(d.id)
                        row.add(mark or " ", "bold" if mark else "")
                        pct = fills[d.id]
                        glyph, style = disk_glyph(states[d.id], pct)
                        figure = pct_text(pct).rjust(3)
                        if mark or states[d.id] != "ok":
                            self._mark(row, d.id, glyph, style, marks)
                            row.add(figure, style if states[d.id] == "ok" else "dim")
                        else:
                            row.add(glyph + figure, style)
                out.append(row)
        return out

    def _dense(self, zones, zlabel, fills, states, marks, width: int) -> list[Row]:
        """One line per zone (wrapped by rack when wide): one glyph per disk, hosts apart;
        hosts beyond the width counted as +N."""
        zw = max(len(v) for v in zlabel.values())
        out = []
        for z in zones:
            row = Row(zlabel[z.id].ljust(zw), "bold")
            for rack in z.racks:
                seg = 1 + len(rack.id) + sum(1 + len(h.disks) for h in rack.hosts)
                if row.width + seg > width and row.width > zw:
                    out.append(row)
                    row = Row(" " * zw)
                row.add(" " + rack.id, "bold" if rack.up else "dim")
                hosts = rack.hosts
                for i, h in enumerate(hosts):
                    rest = len(hosts) - i - 1
                    if row.width + 1 + len(h.disks) + (len(f" +{rest}") if rest else 0) > width:
                        row.add(f" +{len(hosts) - i}", "dim")
                        break
                    row.add(" ")
                    for d in h.disks:
                        glyph, style = disk_glyph(states[d.id], fills[d.id])
                        self._mark(row, d.id, glyph, style, marks)
            # no room for a percent per disk: the zone's fullest disk instead
            fullest = max((fills[d.id] for h in z.hosts() for d in h.disks), default=0.0)
            tail = f"  max {pct_text(fullest)}%"
            if row.width + len(tail) <= width:
                row.add(tail, fill_style(fullest))
            out.append(row)
        return out

    def _bars(self, store, zones, fills, states, marks, width: int) -> list[Row]:
        """Every host on a line of its own under its zone and rack: per disk its glyph, its
        percent and a bar (and with room its piece count), then the host's state in a word.
        Pieces of one style are written together: a live tick redraws this every step."""
        hosts = [h for z in zones for r in z.racks for h in r.hosts]
        if not hosts:
            return [Row("no disks in this world", "dim")]
        hw_ = max(len(h.id) for h in hosts)
        per = max(len(h.disks) for h in hosts) or 1
        room = width - 2 - hw_ - 8  # indent, host id, state word
        cell = max(9, room // per)
        show_pieces = cell >= 22
        bar_w = max(2, cell - (8 + (6 if show_pieces else 0)))
        out: list[Row] = []
        drawn = 0
        for z in zones:
            out.append(Row("▣ " + z.id, "bold").add("" if z.up else "  ✘ DOWN", "bold red"))
            for rack in z.racks:
                out.append(Row(" rack " + rack.id, "dim").add("" if rack.up else "  ✘ DOWN", "bold red"))
                for h in rack.hosts:
                    drawn += 1
                    if drawn > DETAIL_HOSTS:
                        continue
                    row = Row("  " + h.id.ljust(hw_), "bold" if h.up else "dim")
                    worst = "ok"
                    for d in h.disks:
                        pct = fills[d.id]
                        state = states[d.id]
                        if state != "ok" and worst == "ok":
                            worst = state
                        glyph, style = disk_glyph(state, pct)
                        mark = marks.get(d.id)
                        row.add(" " + (mark or " "), "bold" if mark else "")
                        full = round(min(1.0, pct / 100) * bar_w)
                        if pct > 0 and full == 0:
                            full = 1
                        bar_style = fill_style(pct) if state == "ok" else "dim"
                        figure = f"{pct_text(pct):>3}% " + "█" * full
                        if mark or style != bar_style:
                            self._mark(row, d.id, glyph, style, marks)
                            row.add(figure, bar_style)
                        else:
                            row.add(glyph + figure, bar_style)
                        row.add("░" * (bar_w - full) + (f" {len(store.on_disk[d.id]):>4}p" if show_pieces else ""), "dim")
                    row.add(f" {WORD[worst]}", STATE.get(worst, ("", "green"))[1])
                    out.append(row)
        if drawn > DETAIL_HOSTS:
            out.append(Row(f"… {drawn - DETAIL_HOSTS} more hosts (df lists every disk)", "dim"))
        return out

    # -- time ----------------------------------------------------------------------------
    def _sparklines(self, store, m: dict, status, width: int) -> list[Row]:
        cloud = self.session.cloud
        now = cloud.now_ms
        now_under = m["chunks_under_replicated"]
        u_tail = f" {now_under} now"
        r_tail = " " + self._repair_now(store, m, status, width)
        # a fixed room for the figures after the lines, so the lines do not jitter as
        # "wait 10m20s" becomes "wait 9m35s"
        cells = max(4, width - LABEL - max(16, len(u_tail), len(r_tail)))
        start, cell, n = self.history.window(now, cloud.tick_ms, cells)
        scale = f" ({span_text(cell)}/cell)"
        if n and LABEL + cells + len(u_tail) + len(scale) <= width:
            u_tail += scale
        under = self.history.under_cells(start, cell, n)
        done = self.history.repair_cells(start, cell, n)
        top = max(under, default=0)
        u = Row("under".ljust(LABEL), "bold")
        for v in under:
            u.add(LEVEL[level(v, top)], "magenta" if v else "dim")
        r = Row("repair".ljust(LABEL), "bold")
        cap = store.config.repair_mibps * MiB
        for i, b in enumerate(done):
            a = start + i * cell
            secs = (min(a + cell, now) - a) / 1000
            rate = b / secs if secs > 0 else 0.0
            r.add(LEVEL[level(rate, cap)], "cyan" if b else "dim")
        if not n:
            note = " (no time has passed yet)"
            if LABEL + len(u_tail) + len(note) <= width:
                u_tail += note
        else:
            u.add(" " * (cells - n))
            r.add(" " * (cells - n))
        u.add(u_tail, "bold magenta" if now_under else "dim")
        r.add(r_tail, "cyan" if m["repair_queue"] else "dim")
        return [u, r]

    def _repair_state(self, store, m: dict) -> "RepairNow | None":
        """The repair's state without walking the queue on every tick.

        The store's ``repair_status`` sums the bytes of every queued chunk (a walk of the
        whole queue). It is asked again only when the work may have grown: the queue is
        longer than last asked, or a fault, return, write-off or delete happened since (the
        history counts those). Otherwise the queue only drains, and what is left is what
        was left then minus what the repair events have copied since."""
        if not (m["chunks_under_replicated"] or m["repair_queue"]):
            self._repair = None
            return None
        queue = m["repair_queue"]
        done = self.history.repaired_by(self.session.cloud.now_ms)
        was = self._repair
        if was is None or queue > was.queued or self.history.moves != was.moves or done < was.done:
            r = store.repair_status()
            self._repair = RepairNow(
                r.queued, r.waiting_report, r.stalled, r.blocked, r.bytes_pending, r.suspect_hosts, self.history.moves, done
            )
            return self._repair
        self._repair = replace(was, queued=queue, pending=max(0, was.pending - (done - was.done)), done=done)
        return self._repair

    def _repair_now(self, store, m: dict, status, width: int) -> str:
        """What repair is doing now, after the sparkline: idle, how long until a silent
        host is written off, or the share of this incident's copying done and its ETA."""
        queue = m["repair_queue"]
        if not queue:
            if not m["chunks_under_replicated"]:
                return "idle"
            # nothing to copy yet: a heartbeat report, a host's timeout, or a source is due
            suspects = status.suspect_hosts if status is not None else ()
            if suspects:
                due = int(min(at for _, at in suspects) * 1000) - self.session.cloud.now_ms
                return f"wait {span_text(max(0, due))}"
            return "waiting"
        now = self.session.cloud.now_ms
        start = store.incident_start_ms
        done = self.history.repaired_by(now) - (self.history.repaired_by(start - 1) if start is not None else 0)
        pending = status.pending if status is not None else 0
        total = done + pending
        pct = 100 * done / total if total else 0
        eta = span_text(int(pending / (store.config.repair_mibps * MiB)) * 1000 + 1000)
        return f"{pct:.0f}% ETA {eta}" if width >= 40 else f"{pct:.0f}%"

    # -- focus and status ----------------------------------------------------------------
    def _focus(self, store, found, width: int) -> list[Row]:
        touched = self.latest.current
        if touched is None:
            return [Row("◆ put, get or locate an object to see its pieces", "dim")]
        if found is None:
            return [Row(f"◆ {touched.name} is gone (deleted)", "dim")]
        obj, index, pieces = found
        hosts, racks, zones = spread_of(store, pieces)
        missing = sum(1 for p in pieces if p.disk is None)
        bad = sum(1 for p in pieces if p.disk is not None and p.condition not in ("ok", "slow", "draining", "drained"))
        items = [(0, f"{len(pieces)} pieces", "")]
        if missing or bad:
            items.append((0, f"{missing + bad} down", "bold red"))
        items.append((1, f"{hosts}h {racks}r {zones}z" if width < 60 else f"{hosts} hosts {racks} racks {zones} zones", ""))
        if touched.verb == "get":
            items.insert(0, (0, f"get {touched.latency_ms:g}ms", "yellow"))
            items.append((2, f"slowest {touched.slowest_disk}", "yellow"))
        row = Row("◆ ", "bold").add(f"{obj.name}#{index}", "bold reverse").add(" ")
        row.extend(chips(items, width - row.width, sep=", "))
        out = [row]
        # the pieces by name, as many lines as the room below allows
        cur = Row("  ")
        for p in pieces:
            where = p.disk or "missing"
            if p.condition != "ok":
                where += f" {WORD.get(p.condition, p.condition)}"
            if cur.width + len(p.label) + len(where) + 2 > width and cur.width > 2:
                out.append(cur)
                cur = Row("  ")
            style = "" if p.condition in ("ok", "slow") else "bold red" if p.condition != "silent" else "yellow"
            cur.add(" " if cur.width > 2 else "").add(p.label, "dim").add(" " + where, style)
        if cur.width > 2:
            out.append(cur)
        return out

    @staticmethod
    def _suspects(suspects, now: int, width: int) -> Row:
        """``? host host +N silent: dead at 0:25:30 (in 9m30s)``, shortened to the width."""
        hosts = [h for h, _ in suspects]
        at = int(min(a for _, a in suspects) * 1000)
        for tail in (f"silent: dead at {hms(at)} (in {span_text(at - now)})", f"silent, dead at {hms(at)}", "silent"):
            row = Row("? ", "bold yellow")
            for i, h in enumerate(hosts):
                rest = len(hosts) - i - 1
                more = len(f"+{rest} ") if rest else 0
                if row.width + len(h) + 1 + more + len(tail) > width and i:
                    row.add(f"+{len(hosts) - i} ", "yellow")
                    break
                row.add(h + " ", "yellow")
            row.add(tail, "yellow")
            if row.width <= width:
                return row
        return row

    def _status(self, store, m: dict, r, width: int) -> list[Row]:
        out = []
        now = self.session.cloud.now_ms
        if r is not None:
            items = [] if not (r.queued or r.waiting or r.stalled or r.blocked) else [
                (0, f"queued {r.queued}", "cyan"),
                (1, f"{format_bytes(r.pending)} to copy", ""),
                (2, f"{r.waiting} await heartbeat", "dim") if r.waiting else None,
                (2, f"{r.stalled} no source", "bold red") if r.stalled else None,
                (2, f"{r.blocked} no room", "bold red") if r.blocked else None,
            ]
            if items:
                out.append(chips([i for i in items if i], width))
            if r.suspect_hosts:
                out.append(self._suspects(r.suspect_hosts, now, width))
        if store.dead_hosts:
            dead = list(store.dead_hosts)
            row = Row("† dead:", "bold red")
            for i, h in enumerate(dead):
                if row.width + len(h) + 6 > width:
                    row.add(f" +{len(dead) - i}", "red")
                    break
                row.add(" " + h, "red")
            out.append(row)
        lost = [o.name for o in store.objects.values() if o.lost_chunks]
        if lost:
            row = Row(f"✘ {len(lost)} lost: ", "bold red")
            row.add(", ".join(lost), "red")
            out.append(row)
        return out


VIEW = StorageView
