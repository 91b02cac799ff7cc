"""The billing view (chapter 15): the running meter by service, the forecast beside it,
cost by day, the biggest lines of the invoice, and the business's needs.

- **Header.** The billing month and day, the invoice so far, and next month's forecast
  if nothing changes.
- **Services.** One row each, biggest first: a bar of its share of the month so far,
  its cost so far, and next month's forecast for it (``▼`` less than its run rate so
  far, ``▲`` more, ``=`` the same; ``→`` before a whole day has been metered).
- **Cost by day.** One cell per day of the month so far (``▁`` to ``█``).
- **Top lines.** The largest usage lines so far: resource, usage type, cost.
- **Needs.** ``✔ needs met`` or ``✘`` and what the business lacks (a flow with no
  path, a workload that no longer fits, logs kept too briefly).

It reads the session only; it lays itself out to the room: header, services and the
days first, then as many top lines as fit, the needs last.
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.billing import Billing
from ...cloud.metering import DAY_MS
from .fit import ClockedView, Line, fine_bar, join_lines

SPARK = "▁▂▃▄▅▆▇█"
SHORT = {"Data Transfer": "Transfer"}


def usd(value: float) -> str:
    return f"${value:,.2f}"


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_name(month: str, year: bool = True) -> str:
    """2024-06 -> Jun 2024 (or Jun)."""
    name = MONTHS[int(month[5:7]) - 1]
    return f"{name} {month[:4]}" if year else name


class BillingView(ClockedView):
    VIEW_TITLE = "billing"

    REDRAW_MS = 60_000

    def draw(self, width: int) -> Text:
        cloud = self.session.cloud
        self.mark_drawn()
        billing = cloud.get(Billing)
        if billing is None:
            return Text("this world keeps no bill", style="dim")
        rows = self.layout_rows()
        inv = billing.invoice()
        forecast = billing.forecast()
        top = [self._head(billing, inv.total, forecast.total, width)]
        top += self._services(billing, inv, forecast, width)
        top.append(self._days(billing, inv, width))
        needs = self._needs(billing, width)
        lines = self._top_lines(inv, width)
        room = max(0, rows - len(top) - len(needs))
        return join_lines(top + lines[:room] + needs)

    # -- parts -------------------------------------------------------------------------
    def _head(self, billing: Billing, so_far: float, ahead: float, width: int) -> Line:
        now = self.session.cloud.now_ms
        day = min(now // DAY_MS + 1, billing.month_days)
        wide = width >= 60
        this, nxt = month_name(billing.month, wide), month_name(billing.next_month, wide)
        line = Line(f"{this} day {day}/{billing.month_days} " if wide else f"{this} {day}/{billing.month_days} ", "bold")
        line.add("so far ")
        line.add(usd(so_far), "bold")
        line.add(f" · {nxt} forecast " if width >= 44 else f" · {nxt} ")
        line.add(usd(ahead), "bold yellow")
        return line

    def _services(self, billing: Billing, inv, forecast, width: int) -> list[Line]:
        by_service = inv.by_service()
        ahead = forecast.by_service()
        names = list(by_service) + [s for s in ahead if s not in by_service]
        total = max(inv.total, 1e-9)
        elapsed_days = max(self.session.cloud.now_ms / DAY_MS, 1e-9)
        bar_w = max(4, min(16, width - 36))
        out = []
        for name in names:
            cost = by_service.get(name, 0.0)
            line = Line(f"{SHORT.get(name, name):<8} ", "bold")
            fine_bar(line, cost / total, bar_w, "cyan")
            line.add(f" {usd(cost):>9} ")
            nxt = ahead.get(name, 0.0)
            if elapsed_days >= 1:  # against the run rate so far: ▼ next month costs less
                pace = cost / elapsed_days * billing.next_days
                arrow, style = ("▼", "green") if nxt < 0.95 * pace else ("▲", "yellow") if nxt > 1.05 * pace else ("=", "dim")
            else:
                arrow, style = "→", "dim"
            line.add(arrow, style)
            line.add(f" {usd(nxt):>9}", "dim")
            out.append(line)
        return out

    def _days(self, billing: Billing, inv, width: int) -> Line:
        days = inv.by_day()
        line = Line("by day   ", "bold")
        if not days:
            return line.add("nothing metered yet (tick)", "dim")
        last = max(days)
        values = [days.get(d, 0.0) for d in range(1, last + 1)][-(width - 24) :]
        top = max(values) or 1.0
        line.add("".join(SPARK[min(7, int(v / top * 7.999))] for v in values), "cyan")
        full = self.session.cloud.now_ms // DAY_MS  # the last whole day metered
        if full >= 1:
            line.add(f" day {full}: {usd(days.get(full, 0.0))}", "dim")
        return line

    def _top_lines(self, inv, width: int) -> list[Line]:
        rows: dict[tuple[str, str], float] = {}
        for r in inv.rated:
            key = (r.record.resource, r.record.usage_type)
            rows[key] = rows.get(key, 0.0) + r.cost
        out = []
        for (resource, usage_type), cost in sorted(rows.items(), key=lambda kv: (-kv[1], kv[0]))[:12]:
            if cost < 0.005:
                break
            line = Line(f"  {usd(cost):>9} ", "dim")
            line.add(f"{resource:<13} ")
            line.add(usage_type[: max(8, width - 27)], "dim")
            out.append(line)
        return out

    def _needs(self, billing: Billing, width: int) -> list[Line]:
        unmet = billing.needs_unmet()
        if not unmet:
            return [Line("✔ ", "green").add("the shop's needs are all met")]
        line = Line("✘ ", "bold red").add(f"{len(unmet)} need{'s' if len(unmet) > 1 else ''} unmet: ", "bold red")
        line.add(unmet[0][: max(10, width - line.width)])
        return [line]


VIEW = BillingView
