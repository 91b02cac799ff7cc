"""The chaos timeline's record: timed faults played against a world (chapter 9, the
failure scenarios). It has no commands of its own: its faults are the core's ``fail``,
``repair`` and ``degrade``, fired on schedule."""

from __future__ import annotations

from ...cloud import timeline as timeline_module
from ..mechanism import Mechanism

MECHANISM = Mechanism(
    name="timeline",
    summary="timed faults: a chaos timeline (chapter 9)",
    section=list[timeline_module.TimelineEntry],
    attach=timeline_module.attach,
    check=timeline_module.check_entries,
    metrics=timeline_module.METRICS,
    events=timeline_module.EVENTS,
)
