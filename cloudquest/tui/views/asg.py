"""The auto scaling view (chapter 14): the group's capacity, the load against it, each
instance on its way in or out, and what the policies last decided.

- **Header.** The clock, the desired capacity and its bounds, and the instances by
  lifecycle: ``●`` in service, ``…`` on the way in, ``⏸`` held by a lifecycle hook,
  ``↓`` on the way out.
- **Load.** The demand against what the instances in service can serve, as a bar
  (``█`` load, red when it is above capacity), the last minute's average CPU and p95
  latency, and the worst minute's p95 so far.
- **Curves.** One cell per minute, newest on the right: ``demand`` and ``capacity`` on one
  scale (so a gap between them is visible), and ``p95`` latency (``!`` marks a minute above
  250 ms).
- **Instances.** Those on their way in or out first, each with its step of the scale-out
  (provisioning, volume, network, booting, hook, registering, health checks, starting
  up, warming up) or of the scale-in (draining); then how many more are in service.
  When they do not all fit, one line counts them by step (``⏸6 hook …4 health``).
- **Decision.** The last change of the desired capacity and its cause, then what each
  policy makes of the last minute.
- **Footer.** Flaps, instance-hours and their cost.

It reads the session only and lays itself out to the room: header, load and curves
first, then the decision, then as many instances as fit.
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.autoscaling import STEP_WORDS, AutoScalingGroup, Member
from .fit import ClockedView, Line, fine_bar, join_lines, short_labels

SPARK = "▁▂▃▄▅▆▇█"
MARKS = {
    "Pending": ("…", "yellow"),
    "Pending:Proceed": ("…", "yellow"),
    "Pending:Wait": ("⏸", "magenta"),
    "InService": ("●", "green"),
    "Terminating": ("↓", "cyan"),
    "Terminating:Wait": ("⏸", "cyan"),
}
P95_BOUND_MS = 250
# the steps in the order an instance goes through them (for the one-line summary)
ORDER = ("provision", "volume", "network", "boot", "hook", "register", "health", "start", "warm", "drain")


def clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def spark(values: list[float], top: float) -> str:
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(7, max(0, int(v / top * 7.999)))] for v in values)


class AsgView(ClockedView):
    VIEW_TITLE = "auto scaling"

    def draw(self, width: int) -> Text:
        cloud = self.session.cloud
        self.mark_drawn()
        group = cloud.get(AutoScalingGroup)
        if group is None:
            return Text("this world has no auto scaling group", style="dim")
        rows = self.layout_rows()
        m = group.metrics()
        top = [self._head(group, m, width), self._load(group, m, width), *self._curves(group, width)]
        foot = self._foot(m, width)
        change = self._change(group, width, 2 if rows - len(top) >= 9 else 1)
        policies = self._policies(group, width)
        movers = self._movers(group, width)
        room = max(0, rows - len(top) - len(change) - 1)
        if len(movers) > room:  # one line counting them by step, then as many as fit
            movers = ([self._summary(group, width)] + movers[: room - 1]) if room else []
        elif movers and room - len(movers) >= 1 + min(len(policies), 1):
            movers.append(self._steady(group))
        policies = policies[: max(0, room - len(movers))]
        return join_lines((top + movers + change + policies + [foot])[: max(rows, 3)])

    # -- parts -------------------------------------------------------------------------
    def _head(self, group: AutoScalingGroup, m: dict, width: int) -> Line:
        line = Line(f"t={clock(self.session.cloud.now_ms)} ", "bold")
        line.add(f"desired {group.desired}", "bold")
        line.add(f" ({group.min}-{group.max}) ", "dim")
        for label, value, (glyph, style) in (
            ("in service", m["asg_in_service"], MARKS["InService"]),
            ("coming", group.count("Pending", "Pending:Proceed"), MARKS["Pending"]),
            ("held", m["asg_waiting"], MARKS["Pending:Wait"]),
            ("going", group.count("Terminating"), MARKS["Terminating"]),
        ):
            line.add(glyph, style)
            line.add(f"{value} " + (f"{label} " if width >= 72 else ""))
        return line

    def _load(self, group: AutoScalingGroup, m: dict, width: int) -> Line:
        demand, cap = m["asg_demand_rps"], m["asg_capacity_rps"]
        p95, worst = m["asg_p95_ms"], m["asg_worst_p95_ms"]
        head = f"load {demand:,.0f}/{cap:,.0f} rps "
        tail = f" cpu {m['asg_cpu_pct']:.0f}% p95 {p95:.0f}"
        more = f" worst {worst:.0f}"
        room = width - len(head) - len(tail)
        with_worst = room - len(more) >= 6
        bar_w = min(14, (room - len(more) if with_worst else room) - 2)
        line = Line("load ", "bold").add(head[5:])
        if bar_w >= 3:
            fine_bar(line, demand / cap if cap else (1.0 if demand else 0.0), bar_w, "bold red" if demand > cap else "cyan")
        line.add(f" cpu {m['asg_cpu_pct']:.0f}% p95 ")
        line.add(f"{p95:.0f}", "bold red" if p95 > P95_BOUND_MS else "green")
        if with_worst:
            line.add(" worst ", "dim")
            line.add(f"{worst:.0f}", "bold red" if worst > P95_BOUND_MS else "dim")
        return line

    def _curves(self, group: AutoScalingGroup, width: int) -> list[Line]:
        cells = max(8, width - 10)
        minutes = group.minutes[-cells:]
        if not minutes:
            return [Line(f"curves: one cell a minute ({group.spec.period_s} s), none yet", "dim")]
        top = max(max(x.demand_rps for x in minutes), max(x.capacity_rps for x in minutes))
        demand = Line("demand   ", "bold").add(spark([x.demand_rps for x in minutes], top), "yellow")
        capacity = Line("capacity ", "bold").add(spark([x.capacity_rps for x in minutes], top), "green")
        p95 = Line("p95      ", "bold")
        worst = max(max(x.p95_ms for x in minutes), P95_BOUND_MS)
        for x in minutes:
            if x.p95_ms > P95_BOUND_MS:
                p95.add("!", "bold red")
            else:
                p95.add(spark([x.p95_ms], worst), "cyan")
        return [demand, capacity, p95]

    def _movers(self, group: AutoScalingGroup, width: int) -> list[Line]:
        labels = short_labels(group.zones)
        now = self.session.cloud.now_ms
        moving = [x for x in group.members.values() if x.state not in ("InService", "Terminated")]
        warming = [x for x in group.members.values() if x.state == "InService" and (group.warming(x, now) or group.starting(x, now))]
        return [self._member(group, x, labels, now, width) for x in moving + warming]

    def _steady(self, group: AutoScalingGroup) -> Line:
        now = self.session.cloud.now_ms
        busy = sum(1 for x in group.members.values() if x.state == "InService" and (group.warming(x, now) or group.starting(x, now)))
        return Line(f"  ● {group.count('InService') - busy} more in service", "dim")

    def _summary(self, group: AutoScalingGroup, width: int) -> Line:
        """Instances on the move, counted by step, on one line: ``⏸6 hook …4 health``."""
        now = self.session.cloud.now_ms
        counts: dict[tuple[str, str], int] = {}
        for x in group.members.values():
            if x.state == "Terminated":
                continue
            if x.state == "InService":
                step = "start" if group.starting(x, now) else "warm" if group.warming(x, now) else ""
                if not step:
                    continue
                key = (step, "InService")
            else:
                key = (x.step, x.state)
            counts[key] = counts.get(key, 0) + 1
        line = Line("  ")
        for (step, state), n in sorted(counts.items(), key=lambda kv: ORDER.index(kv[0][0]) if kv[0][0] in ORDER else 99):
            glyph, style = MARKS.get(state, ("?", ""))
            piece = f"{glyph}{n} {step} "
            if line.width + len(piece) > width:
                break
            line.add(glyph, style).add(f"{n} {step} ")
        return line

    def _member(self, group: AutoScalingGroup, x: Member, labels: dict, now: int, width: int) -> Line:
        glyph, style = MARKS.get(x.state, ("?", ""))
        line = Line("  ")
        line.add(glyph, style)
        line.add(f" {x.name:<8} {labels.get(x.zone, x.zone):<3} ")
        if x.state == "InService":
            if group.starting(x, now):
                line.add("starting up, half speed", "yellow")
            else:
                left = (group.warmup_s or 0) * 1000 - (now - (x.in_service_ms or 0))
                line.add(f"warming up {left // 1000} s", "yellow")
        else:
            line.add(STEP_WORDS.get(x.step, x.step), style)
        return line

    def _change(self, group: AutoScalingGroup, width: int, cause_lines: int) -> list[Line]:
        """The last change of the desired capacity and its cause (a policy's reason, a
        scheduled action, the player)."""
        if group.last_change is None:
            return []
        t, was, now, cause = group.last_change
        line = Line(f"{clock(t)} ", "dim")
        line.add(f"desired {was}→{now} ", "bold green" if now > was else "bold cyan")
        return [line, *wrapped(cause, width, cause_lines)]

    def _policies(self, group: AutoScalingGroup, width: int) -> list[Line]:
        """What each policy makes of the last minute."""
        if not group.policies:
            return [Line("no scaling policy: only you and scheduled actions move it"[:width], "dim")]
        return [Line(f"{p.name}: ", "bold").add(p.last[: max(0, width - len(p.name) - 2)]) for p in group.policies.values()]

    def _foot(self, m: dict, width: int) -> Line:
        line = Line("flaps ", "bold")
        line.add(str(m["asg_flaps"]), "bold red" if m["asg_flaps"] else "green")
        failed = m["asg_requests_failed"]
        parts = [(f"  {failed:,} failed", "bold red")] if failed else []
        parts += [(f"  ${m['asg_cost_usd']:.4f}", ""), (f"  {m['asg_instance_hours']:.2f} instance-h", "")]
        for text, style in parts:
            if line.width + len(text) <= width:
                line.add(text, style)
        return line


def wrapped(text: str, width: int, most: int) -> list[Line]:
    """``text`` in lines of ``width``, indented, at most ``most`` of them (cut at a word)."""
    words, lines, current = text.split(), [], "  "
    for word in words:
        if len(current) + len(word) + (current != "  ") > width:
            lines.append(current)
            current = "  "
            if len(lines) == most:
                break
        current += ("" if current == "  " else " ") + word
    else:
        lines.append(current)
    return [Line(x[:width]) for x in lines[:most]]


VIEW = AsgView
