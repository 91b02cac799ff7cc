"""The host view: one hypervisor host, its pCPUs and the guests that share them.

What it draws (from :class:`cloudquest.cloud.hypervisor.HostSim`, read only):

- the host: how busy its pCPUs were (``host_cpu_util``), vCPUs promised per pCPU, RAM
  held by the guests against the host's RAM, balloons and host swap;
- one *lane* per pCPU: the last 30 ms slice of the credit scheduler, each character a
  stretch of that slice marked with the letter of the VM that held the pCPU for most of
  it (``·`` idle). The scheduler hands out time rather than laying it on a timeline
  (see :mod:`cloudquest.cloud.credit_scheduler`), so a lane shows *shares* of the slice,
  in the order the scheduler handed them out;
- one row per VM: its letter, CPU in percent of one pCPU (as ``xentop`` counts: a busy
  4-vCPU guest shows 400) with a bar against all its vCPUs, steal in percent of its vCPU
  time with a bar and a mark (``✓`` under 5 %, ``!`` 5-20 %, ``!!`` 20 % or more), and the
  RAM it holds of what it was promised; wider panes add weight, cap, pins, scheduler
  state and a latency-sensitive guest's response time.

Nothing is told by colour alone: every VM has a letter, every bar a number beside it,
every steal level a mark. The layout follows the room: at 80x24 the pane has about 8
rows and 46 columns, so the lanes shrink to one character per pCPU before a VM row is
pushed out of sight.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Any, Callable

from rich.text import Text

from ...cloud.credit_scheduler import SLICE_US
from ...cloud.hypervisor import HostSim
from ...game.view_text import band
from .fit import FittedView, Line, fine_bar, join_lines
from .fleet import BAND_GLYPH, BAND_STYLE

WIDE = 64  # from here: two summary lines, a header row and the optional columns
MAX_LANE_CHARS = 30  # one character per millisecond of a slice is as fine as it gets
IDLE = "·"

VM_STYLES = (
    "bold cyan",
    "bold magenta",
    "bold green",
    "bold yellow",
    "bold blue",
    "bold red",
    "bold bright_cyan",
    "bold bright_magenta",
    "bold bright_green",
    "bold bright_yellow",
)

WORKLOAD_SHORT = {
    "idle": "idle",
    "steady": "steady",
    "cpu-bound": "cpu",
    "bursty": "bursty",
    "latency-sensitive": "latency",
}
STATE_STYLE = {"boost": "bold green", "under": "green", "over": "yellow", "parked": "bold red"}


def gib(value: float) -> str:
    """GiB to one decimal, without a trailing .0."""
    return f"{round(value, 1):g}"


def steal_mark(pct: float) -> tuple[str, str, str]:
    """(mark, word, style) for a steal level; 5 % and 20 % are the levels a guest's
    operator starts to notice and to suffer (and the chapter's objectives). Marks are two
    cells wide and plain ASCII where it matters (a double exclamation glyph turns into a
    wide emoji in some terminals)."""
    if pct < 5:
        return "✓ ", "low", "green"
    if pct < 20:
        return "! ", "high", "yellow"
    return "!!", "severe", "bold red"


def assign_letters(names: list[str], taken: dict[str, str]) -> None:
    """Give each VM a one-character key for the lanes, kept for the session: the first
    character of its name not yet used (so ``db`` is ``d`` and ``vm7`` is ``7`` once ``v``
    and ``m`` are taken), else one of its letters in upper case, else any free letter."""
    used = set(taken.values())
    spare = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    for name in names:
        if name in taken:
            continue
        own = [ch for ch in name if ch.isalnum()]
        pick = next((ch for ch in [*own, *(c.upper() for c in own), *spare] if ch not in used), "?")
        taken[name] = pick
        used.add(pick)


def lane_chars(lane: list[tuple[str, int]], chars: int) -> list[str | None]:
    """Split one pCPU's slice into ``chars`` equal stretches; each goes to the VM that
    held the pCPU longest within it (None: idle held it longest)."""
    span = SLICE_US / chars
    out: list[str | None] = []
    segs: list[tuple[float, float, str | None]] = []
    t = 0.0
    for name, us in lane:
        segs.append((t, t + us, name))
        t += us
    if t < SLICE_US:
        segs.append((t, float(SLICE_US), None))
    i = 0
    for c in range(chars):
        lo, hi = c * span, (c + 1) * span
        while i < len(segs) and segs[i][1] <= lo:
            i += 1
        best, best_len = None, -1.0
        j = i
        while j < len(segs) and segs[j][0] < hi:
            s_lo, s_hi, who = segs[j]
            overlap = min(hi, s_hi) - max(lo, s_lo)
            if overlap > best_len:
                best, best_len = who, overlap
            j += 1
        out.append(best)
    return out


@dataclass
class Column:
    header: str
    width: int
    cell: Callable[[dict[str, Any], Line], None]


class HostView(FittedView):
    VIEW_TITLE = "host"

    def __init__(self, session, **kwargs) -> None:
        super().__init__(session, **kwargs)
        self.letters: dict[str, str] = {}
        self._drawn_state: tuple | None = None

    def reset(self) -> None:
        self.letters = {}
        self._drawn_state = None

    def _state(self) -> tuple:
        sim = self.session.cloud.get(HostSim)
        return (id(sim), getattr(sim, "slices", -1), len(self.session.cloud.log))

    def changed(self) -> bool:
        # The picture moves with the host's slices (CPU, balloons) and with events
        # (VMs created, pinned, re-weighted); nothing else changes it.
        return self._state() != self._drawn_state or self.rows_changed()

    # -- drawing -----------------------------------------------------------------------
    def draw(self, width: int) -> Text:
        self._drawn_state = self._state()
        rows = self.layout_rows()
        sim = self.session.cloud.get(HostSim)
        if sim is None:
            return Text("no hypervisor host in this world\n(its world needs a hypervisor: section)", style="dim")
        top = sim.top()
        metrics = sim.metrics()
        assign_letters([r["name"] for r in top], self.letters)
        wide = width >= WIDE
        styles = {r["name"]: VM_STYLES[i % len(VM_STYLES)] for i, r in enumerate(top)}

        head = self._summary(sim, metrics, width, wide)
        columns = self._columns(top, width, wide, styles) if top else []
        header_rows = 1 if wide and top else 0
        vm_rows = len(top) if top else 1
        budget = rows - len(head) - header_rows - vm_rows
        lines: list[Line] = [*head, *self._lanes(sim, width, budget, styles)]
        if header_rows:
            lines.append(self._header(columns))
        if top:
            lines.extend(self._vm_row(r, columns) for r in top)
        else:
            lines.append(Line("no VMs yet: vm create NAME --vcpus N --ram GIB", "dim"))
        if len(lines) + 1 <= rows:
            lines.append(self._legend(width, wide))
        return join_lines(lines)

    # -- the host ----------------------------------------------------------------------
    def _summary(self, sim, m: dict[str, float], width: int, wide: bool) -> list[Line]:
        util = m["host_cpu_util"]
        word = band(util)
        swap = m["swap_used_gib"]
        held = sim.memory.held_mib / 1024
        ram = sim.ram_mib / 1024
        swap_style = "bold red" if swap else "green"
        swap_mark = "✘" if swap else "✓"
        if not wide:
            line = Line("CPU ")
            line.add(BAND_GLYPH[word], BAND_STYLE[word])
            line.add(f"{util:.0f}%", "bold")
            line.add(f" vCPU {sim.vcpus_total}/{sim.pcpus} RAM {held:.0f}/{ram:g}G swap ")
            line.add(f"{gib(swap)}G", swap_style)
            if swap:
                line.add(" ✘", swap_style)
            return [line]
        cpu = Line("CPU ", "bold")
        fine_bar(cpu, util / 100, 8, BAND_STYLE[word])
        cpu.add(f" {util:5.1f}% ", "bold")
        cpu.add(f"{BAND_GLYPH[word]} {word}", BAND_STYLE[word])
        cpu.add(f"  vCPU {sim.vcpus_total} on {sim.pcpus} pCPUs ")
        cpu.add(f"= {m['vcpu_ratio']:g}x", "yellow" if m["vcpu_ratio"] > 1 else "")
        if sim.sockets > 1 or sim.threads > 1:
            shape = f"{sim.sockets}x{sim.cores}" + (f"x{sim.threads}" if sim.threads > 1 else "")
            cpu.add(f" ({shape})", "dim")
        mem = Line("RAM ", "bold")
        fine_bar(mem, sim.memory.held_mib / sim.ram_mib if sim.ram_mib else 0, 8, "red" if swap else "blue")
        mem.add(f" held {held:.1f}/{ram:g}G", "bold")
        mem.add("  swap ")
        mem.add(f"{gib(swap)}G {swap_mark}", swap_style)
        promised = sim.memory.configured_mib / 1024
        balloons = sum(g.balloon_mib for g in sim.memory.guests.values()) / 1024
        over = m["ram_overcommit"]
        extras = [
            Line("  promised ").add(f"{gib(promised)}G = {over:g}x", "yellow" if over > 1 else ""),
            Line(f"  balloons {gib(balloons)}G"),
        ]
        for extra in extras:  # the less essential figures, only where they fit whole
            if mem.width + extra.width <= width:
                mem.extend(extra)
        return [cpu, mem]

    # -- the pCPU lanes ----------------------------------------------------------------
    def _lanes(self, sim, width: int, budget: int, styles: dict[str, str]) -> list[Line]:
        """The last slice, pCPU by pCPU, in as many rows as the room allows: the most
        characters per lane that fit ``budget`` rows (down to one per pCPU)."""
        p = sim.pcpus
        lanes = sim.sched.pcpu_lanes()
        per_socket = sim.cores * sim.threads
        options = sorted({k for k in (1, 2, 4, 8, 16, 32, per_socket, p) if 1 <= k <= p})
        chosen = None
        for k in options:
            label_w = self._label_width(p, k)
            chars = min(MAX_LANE_CHARS, (width - label_w) // k - 1)
            if chars < 1:
                continue
            chosen = (k, label_w, chars)  # the fewest rows so far, if nothing fits
            if ceil(p / k) <= max(budget, 1):
                break
        if chosen is None:
            return [Line(f"{p} pCPUs: widen the window to see their lanes", "dim")]
        k, label_w, chars = chosen
        letters = self.letters
        out = []
        for start in range(0, p, k):
            end = min(start + k, p) - 1
            line = Line(self._label(start, end, k).ljust(label_w), "dim")
            for cpu in range(start, end + 1):
                if cpu != start:
                    line.add("│" if per_socket < p and cpu % per_socket == 0 else " ", "dim")
                # one piece per run of the same owner
                run_owner, run = None, 0
                for who in lane_chars(lanes[cpu], chars) + ["\0"]:
                    if who == run_owner:
                        run += 1
                        continue
                    if run:
                        if run_owner is None:
                            line.add(IDLE * run, "dim")
                        else:
                            line.add(letters.get(run_owner, "?") * run, styles.get(run_owner, ""))
                    run_owner, run = who, 1
            if k == 1 and width - line.width > 12:
                words = " " + self._lane_words(lanes[start])
                line.add(words[: width - line.width], "dim")
            out.append(line)
        return out

    @staticmethod
    def _label_width(p: int, k: int) -> int:
        last = p - 1
        return len(f"p{last} ") if k == 1 else len(f"{max(0, last - k + 1)}-{last} ")

    @staticmethod
    def _label(start: int, end: int, k: int) -> str:
        return f"p{start} " if k == 1 else f"{start}-{end} "

    @staticmethod
    def _lane_words(lane: list[tuple[str, int]]) -> str:
        used = sum(us for _, us in lane)
        parts = [f"{name} {us / 1000:g}ms" for name, us in lane]
        if used < SLICE_US:
            parts.append(f"idle {(SLICE_US - used) / 1000:g}ms")
        return ", ".join(parts)

    # -- the VMs -----------------------------------------------------------------------
    def _columns(self, top: list[dict[str, Any]], width: int, wide: bool, styles: dict[str, str]) -> list[Column]:
        letters = self.letters
        name_w = min(max(len(r["name"]) for r in top), 10)
        bar_w = 8 if width >= 100 else 6 if wide else 4

        def key(r, line):
            name = r["name"] if len(r["name"]) <= name_w else r["name"][: name_w - 1] + "…"
            line.add(letters.get(r["name"], "?"), styles[r["name"]])
            line.add(" " + name.ljust(name_w))

        def cpu(r, line):
            line.add(f"{r['cpu_pct']:>4.0f}%", "bold")
            share = r["cpu_pct"] / (100 * r["vcpus"]) if r["vcpus"] else 0
            fine_bar(line, share, bar_w, styles[r["name"]].replace("bold ", ""))

        def steal(r, line):
            glyph, _word, style = steal_mark(r["steal_pct"])
            if not wide:
                line.add("st", "dim")
            line.add(f"{r['steal_pct']:>5.1f}%", "bold" if r["steal_pct"] >= 5 else "")
            line.add(glyph, style)
            fine_bar(line, r["steal_pct"] / 100, bar_w, style)

        def mem_text(r) -> str:
            # What the guest holds of what it was promised (less once ballooned).
            held, ram = r["mem_gib"], r["ram_gib"]
            return f"{gib(held)}/{gib(ram)}G" if held != ram else f"{gib(ram)}G"

        def mem(r, line):
            line.add(mem_text(r))

        mem_w = max(len(mem_text(r)) for r in top)
        cpu_w = 5 + bar_w + 2
        steal_w = (0 if wide else 2) + 6 + 2 + bar_w + 2
        essentials = [
            Column("VM".ljust(2 + name_w), 2 + name_w, key),
            Column("CPU%", cpu_w, cpu),
            Column("STEAL%", steal_w, steal),
            Column("RAM", max(mem_w, 3), mem),
        ]
        if not wide:
            return essentials

        def resp(r, line):
            if r["response_ms"] is None:
                line.add("-", "dim")
            else:
                line.add(f"{r['response_ms']:.1f}ms")

        def state(r, line):
            line.add(r["state"], STATE_STYLE.get(r["state"], ""))

        def weight(r, line):
            line.add(str(r["weight"]))

        def cap(r, line):
            line.add(str(r["cap"]) if r["cap"] else "-", "" if r["cap"] else "dim")

        def pins(r, line):
            line.add(r["pins"], "dim" if r["pins"] == "any" else "")

        def vcpus(r, line):
            line.add(str(r["vcpus"]))

        def workload(r, line):
            line.add(WORKLOAD_SHORT.get(r["workload"], r["workload"]), "dim")

        def swap_text(r) -> str:
            return f"{gib(r['swap_gib'])}G x{r['slowdown']:.1f}" if r["swap_gib"] else "0"

        def swapped(r, line):
            line.add(swap_text(r), "bold red" if r["swap_gib"] else "dim")

        pins_w = max(4, max(len(r["pins"]) for r in top))
        # (priority, column): what the player sets first (pins, weight, cap), then the
        # scheduler's state, response time, vCPUs, host swap and workload, as the width allows.
        optional = [
            (5, Column("vCPU", 4, vcpus)),
            (1, Column("WEIGHT", 6, weight)),
            (2, Column("CAP", 4, cap)),
            (0, Column("PINS", pins_w, pins)),
            (3, Column("STATE", 6, state)),
        ]
        swap_w = max(4, max(len(swap_text(r)) for r in top))
        trailing = [
            (4, Column("RESP", 7, resp)),
            (6, Column("SWAP", swap_w, swapped)),
            (7, Column("LOAD", 7, workload)),
        ]
        used = sum(c.width for c in essentials) + len(essentials) - 1
        keep: set[int] = set()
        for prio, col in sorted(optional + trailing, key=lambda pc: pc[0]):
            if used + col.width + 1 <= width:
                keep.add(prio)
                used += col.width + 1
        front = [c for p, c in optional if p in keep]
        back = [c for p, c in trailing if p in keep]
        return [essentials[0], *front, *essentials[1:], *back]

    @staticmethod
    def _header(columns: list[Column]) -> Line:
        return Line(" ".join(col.header.ljust(col.width)[: col.width] for col in columns).rstrip(), "dim bold")

    @staticmethod
    def _vm_row(r: dict[str, Any], columns: list[Column]) -> Line:
        line = Line()
        last = len(columns) - 1
        for i, col in enumerate(columns):
            start = line.width
            col.cell(r, line)
            if i < last:
                line.pad(start + col.width)
                line.add(" ")
        return line

    @staticmethod
    def _legend(width: int, wide: bool) -> Line:
        for legend in (
            "lanes: each pCPU's last 30 ms slice, a letter per VM, · idle;  steal ✓ under 5%  ! 5-20%  !! 20%+",
            "lanes: pCPU's last 30ms, letter=VM, ·idle; steal ✓<5% !<20% !!20%+",
            "lane: pCPU's last 30ms, ·idle; st ✓<5 !<20 !!20+",
        ):
            if len(legend) <= width:
                return Line(legend, "dim")
        return Line("· idle  ✓ !  !! steal", "dim")


VIEW = HostView
