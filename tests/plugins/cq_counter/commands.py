"""The counter's console command and its record."""

from __future__ import annotations

from cloudquest.game.mechanism import Mechanism
from cloudquest.game.parser import CommandError
from cloudquest.game.registry import CommandSet, Param

from . import sim

command = CommandSet()


@command("count", "bump the counter", args=[Param("times", "how many times", type=int, min=1, max=100)])
def count(session, times: int) -> str:
    counter = session.cloud.get(sim.Counter)
    if counter is None:
        raise CommandError("this world has no counter (its world has no counter section)")
    counter.bump(times)
    return f"counter at {counter.value}"


def counter_text(session) -> str:
    return f"counter at {session.cloud.get(sim.Counter).value}"


MECHANISM = Mechanism(
    name="counter",
    summary="a counter that goes up",
    section=sim.CounterSpec,
    attach=sim.attach,
    commands=command,
    metrics=sim.METRICS,
    events=sim.EVENTS,
    views={"counter": counter_text},
    widgets={"counter": "cq_counter.view:CounterView"},
)
