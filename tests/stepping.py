"""Watching the cloud's steps: how long each call of a step hook is."""

from __future__ import annotations

from collections.abc import Callable

from cloudquest.cloud.cloud import Cloud


def step_lengths(cloud: Cloud, hook: Callable[[int], None] | None = None) -> list[int]:
    """The lengths ``hook`` (by default the cloud's first step hook) is called with from
    now on, filled in as the cloud runs. The hook is wrapped in place and keeps its
    quiet_until, so the fast-forward skips as it would without the wrapper."""
    at = 0 if hook is None else cloud.step_hooks.index(hook)
    inner = cloud.step_hooks[at]
    lengths: list[int] = []

    def counted(dt_ms: int) -> None:
        lengths.append(dt_ms)
        inner(dt_ms)

    cloud.step_hooks[at] = counted
    if inner in cloud.quiet_hooks:
        cloud.quiet_hooks[counted] = cloud.quiet_hooks.pop(inner)
    return lengths
