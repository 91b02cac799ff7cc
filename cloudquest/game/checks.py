"""Objective checks: the declarative predicates chapters are graded by.

A check is a metric comparison, "an event of this kind (with these fields) has
happened", optionally only after another event, or ``all`` / ``any`` / ``not`` of
checks. The grader (:mod:`cloudquest.game.objectives`) evaluates them; nothing is ever
``eval``'d. The eight skills of the level's completion check live here too: every
objective and every quiz question names the skills it proves.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_args

from pydantic import ConfigDict, Discriminator, Field, Tag

from ..cloud.world import NAME_PATTERN, Strict

Skill = Literal[
    "virtualization internals",
    "resource scheduling",
    "distributed storage",
    "replication systems",
    "cloud networking internals",
    "scaling automation",
    "isolation layers",
    "reliability engineering",
]
SKILLS: tuple[str, ...] = get_args(Skill)
Op = Literal["==", "!=", "<", "<=", ">", ">="]
Name = Field(pattern=NAME_PATTERN)


# -- objectives -------------------------------------------------------------------------
class MetricCheck(Strict):
    metric: str = Field(description="a metric name, e.g. instances_running")
    op: Op
    value: float


class EventAfter(Strict):
    event: str
    where: dict[str, Union[str, int, float, bool]] = Field(default_factory=dict)


class EventCheck(Strict):
    event: str = Field(description="an event kind, e.g. launch.failed")
    where: dict[str, Union[str, int, float, bool]] = Field(default_factory=dict)
    min_count: int = Field(default=1, ge=1)
    after: EventAfter | None = None


class AllCheck(Strict):
    all: list["Check"] = Field(min_length=1)


class AnyCheck(Strict):
    any: list["Check"] = Field(min_length=1)


class NotCheck(Strict):
    not_: "Check" = Field(alias="not")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("metric", "event", "all", "any", "not"):
            if key in value:
                return key
        return None
    for key, model in (("metric", MetricCheck), ("event", EventCheck), ("all", AllCheck), ("any", AnyCheck)):
        if isinstance(value, model):
            return key
    return "not" if isinstance(value, NotCheck) else None


Check = Annotated[
    Union[
        Annotated[MetricCheck, Tag("metric")],
        Annotated[EventCheck, Tag("event")],
        Annotated[AllCheck, Tag("all")],
        Annotated[AnyCheck, Tag("any")],
        Annotated[NotCheck, Tag("not")],
    ],
    Discriminator(
        _check_kind,
        custom_error_type="check_kind",
        custom_error_message="a check needs one of the keys metric, event, all, any, not",
    ),
]
AllCheck.model_rebuild()
AnyCheck.model_rebuild()
NotCheck.model_rebuild()


class Objective(Strict):
    id: str = Name
    text: str = Field(min_length=1)
    skills: list[Skill] = Field(min_length=1)
    when: Literal["end", "eventually", "always"] = "end"
    check: Check
