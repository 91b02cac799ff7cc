"""The chapter file schema: pydantic models for every key an author may write.

Every model forbids unknown keys (they are nearly always typos). ``cloudquest schema``
prints the JSON Schema of :class:`Chapter` so editors can complete and check files.

:class:`World` is built from the registered mechanisms (:mod:`cloudquest.game.mechanism`):
the core every world has (:class:`~cloudquest.cloud.world.CoreWorld`) plus one optional
section per mechanism, each validated by the mechanism's own model and checked against
the rest of the world by the mechanism's own ``check``. A world is validated once; the
cloud is built from the validated model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, create_model, field_validator, model_validator

from ..cloud.world import CoreWorld, Strict
from .checks import (  # noqa: F401  (re-exported: chapter files' objectives)
    SKILLS,
    AllCheck,
    AnyCheck,
    Check,
    EventAfter,
    EventCheck,
    MetricCheck,
    Name,
    NotCheck,
    Objective,
    Op,
    Skill,
    _check_kind,
)
from .mechanism import mechanisms, view_texts


# -- the world ------------------------------------------------------------------------------
def _check_sections(world: Any) -> Any:
    """Each present section against the rest of the world, and the view's name."""
    views = view_texts()
    if world.view not in views:
        raise ValueError(f"view: no live view {world.view!r} (views: {', '.join(sorted(views))})")
    for m in mechanisms():
        section = getattr(world, m.name, None) if m.section is not None else None
        if section is not None and m.check is not None:
            m.check(world, section)
    return world


def _world_model() -> type[CoreWorld]:
    fields: dict[str, Any] = {}
    for m in mechanisms():
        if m.section is None:
            continue
        if m.always:
            fields[m.name] = (m.section, Field(default_factory=m.section, description=m.summary))
        else:
            fields[m.name] = (m.section | None, Field(default=None, description=m.summary))
    return create_model(
        "World",
        __base__=CoreWorld,
        __doc__="The cloud a chapter starts from: the core, and one section per mechanism it uses.",
        __validators__={"_sections": model_validator(mode="after")(_check_sections)},
        **fields,
    )


World = _world_model()


# -- the chapter ------------------------------------------------------------------------
class Chapter(Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    title: str = Field(min_length=1)
    number: int = Field(ge=0, le=99)
    sections: list[int] = Field(min_length=1)
    skills: list[Skill] = Field(min_length=1)
    story: str = Field(min_length=1)
    world: World = Field(default_factory=World)
    commands: list[str] = Field(default_factory=list)
    objectives: list[Objective] = Field(min_length=1)
    hints: list[str] = Field(default_factory=list)
    solution: list[str] = Field(min_length=1)

    @field_validator("objectives")
    @classmethod
    def _objective_ids(cls, objectives: list[Objective]) -> list[Objective]:
        ids = [o.id for o in objectives]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"objective ids must be unique: {', '.join(dupes)} repeated")
        return objectives



# -- the quiz bank ----------------------------------------------------------------------
class Question(Strict):
    """What every quiz question has."""

    id: str = Name
    skills: list[Skill] = Field(min_length=1)
    text: str
    explanation: str


class ChoiceQuestion(Question):
    kind: Literal["choice"]
    options: list[str] = Field(min_length=2, max_length=6)
    answer: int = Field(ge=0, description="index of the right option")

    @model_validator(mode="after")
    def _answer_in_range(self) -> "ChoiceQuestion":
        if self.answer >= len(self.options):
            raise ValueError(f"answer {self.answer} is not an option index (0..{len(self.options) - 1})")
        return self


class PredictQuestion(Question):
    """A numeric question whose answer is computed by running a small world."""

    kind: Literal["predict"]
    world: World = Field(default_factory=World)
    commands: list[str] = Field(default_factory=list)
    metric: str
    tolerance: float = Field(default=0, ge=0)


class CauseQuestion(ChoiceQuestion):
    """"Explain it like an interview": an excerpt of an event log, and the cause to pick."""

    kind: Literal["cause"]  # type: ignore[assignment]
    log: str = Field(min_length=1, description="the event-log excerpt, one event a line, as the log pane shows it")


class OrderQuestion(Question):
    """"Explain it like an interview": put the steps of a mechanism in the order they happen."""

    kind: Literal["order"]
    steps: list[str] = Field(min_length=3, max_length=6, description="the steps, in the right order (asked shuffled)")

    @field_validator("steps")
    @classmethod
    def _distinct(cls, steps: list[str]) -> list[str]:
        if len(set(steps)) != len(steps):
            raise ValueError("steps must be distinct: a repeated step makes two right orders")
        return steps


AnyQuestion = Annotated[
    Union[ChoiceQuestion, PredictQuestion, CauseQuestion, OrderQuestion], Field(discriminator="kind")
]


class QuizBank(Strict):
    pass_mark_pct: int = Field(default=70, ge=0, le=100)
    questions: list[AnyQuestion] = Field(min_length=1)
