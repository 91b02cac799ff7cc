"""The counter's simulation: a number that goes up by a step (nothing real to simplify)."""

from __future__ import annotations

from pydantic import Field

from cloudquest.cloud.mechanism import events, metrics
from cloudquest.cloud.world import Strict


class CounterSpec(Strict):
    start: int = Field(default=0, ge=0, le=1000)
    step: int = Field(default=1, ge=1, le=100)


class Counter:
    def __init__(self, cloud, spec: CounterSpec) -> None:
        self.cloud, self.value, self.step = cloud, spec.start, spec.step

    def bump(self, times: int) -> None:
        self.value += self.step * times
        self.cloud.emit("counter.bumped", times=times, value=self.value)

    def metrics(self) -> dict[str, int]:
        return {"counter_value": self.value}


def attach(cloud, spec: CounterSpec) -> Counter:
    counter = Counter(cloud, spec)
    cloud.metric_sources.append(counter.metrics)
    return counter


METRICS = metrics(("counter_value", "the counter's value"))
EVENTS = events(("counter.bumped", "times value", "the counter went up"))
