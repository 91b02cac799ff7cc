""""Explain it like an interview": the quiz's two question kinds that senior interviews use.

- ``order``: the steps of a mechanism (a launch, a scale-out, a repair, a packet's path),
  shown shuffled; the player puts them in the order they happen. Graded exactly: an
  interviewer who hears "health check, then register" knows the candidate has not seen
  one happen.
- ``cause``: an excerpt of an event log and a symptom; the player picks the cause. It is
  a multiple-choice question (options, answer, explanation, and the length rules of the
  bank) whose text carries the log lines it asks about.

The shuffle comes from the quiz's seeded generator, so an attempt repeats exactly. A
shuffle that happens to give the right order is rotated by one: the player always has
something to do.
"""

from __future__ import annotations

import random
import re

from .schema import CauseQuestion, OrderQuestion

INTERVIEW_KINDS = ("order", "cause")


def cause_text(q: CauseQuestion) -> str:
    lines = "\n".join(f"  {line}" for line in q.log.strip().splitlines())
    return f"{q.text}\nThe event log:\n{lines}"


def shuffled_steps(q: OrderQuestion, rng: random.Random) -> tuple[list[str], list[int]]:
    """The steps as shown, and the right order as indices into what is shown."""
    order = list(range(len(q.steps)))
    rng.shuffle(order)
    if order == sorted(order):
        order = order[1:] + order[:1]
    shown = [q.steps[i] for i in order]
    return shown, [order.index(i) for i in range(len(q.steps))]


def parse_order(text: str, n: int) -> list[int]:
    """``"3 1 4 2"`` (or ``3,1,4,2`` or ``3142``) -> 0-based indices. ValueError names what is valid."""
    raw = text.strip()
    parts = re.split(r"[\s,;>-]+", raw) if re.search(r"[\s,;>-]", raw) else list(raw)
    parts = [p for p in parts if p]
    want = f"give each of the numbers 1-{n} once, first step first, like {' '.join(str(i) for i in _example(n))}"
    if len(parts) != n or not all(p.isdigit() for p in parts):
        raise ValueError(f"{raw or 'nothing'!s} is not an order: {want}")
    picks = [int(p) - 1 for p in parts]
    if sorted(picks) != list(range(n)):
        raise ValueError(f"{raw} is not an order: {want}")
    return picks


def _example(n: int) -> list[int]:
    return [2, 1, *range(3, n + 1)] if n >= 2 else [1]


def order_text(options: list[str], picks: list[int]) -> str:
    return "\n".join(f"  {n}. {options[i]}" for n, i in enumerate(picks, 1))
