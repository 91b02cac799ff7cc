"""Failure scenarios: named chaos timelines to replay against a design.

A scenario file in ``levels/scenarios/`` names a world (a chapter's, by id, or one
written inline), a fault timeline, an optional load curve that replaces the world's,
how long it runs, and what counts as surviving it (by default: at least 99.9%
availability and no object lost)::

    name: rack-power-loss
    title: A rack loses power
    description: |
      ...
    world: failure-design          # or an inline world mapping
    timeline:
      - {at_s: 900, action: fail, part: rack, id: b1, for_s: 1800}
    load: [{at_s: 0, rps: 120}]
    run_s: 3600
    report:                        # optional: what to report and compare (default below)
      - {metric: availability_pct, better: higher}

Playing one builds a chapter around the scenario (the world with the scenario's timeline,
load and run length, every command enabled, the scenario's objectives) and runs a
*design* in it: a file of console commands, or a chapter's reference solution. The run
is an ordinary session, so it is graded, hashed and replayable like any other; its
replay file carries the scenario's name (and its world, for viewers that know only
sandbox replays).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, ValidationError

from ..cloud.loadbalancer import LoadPointSpec
from ..cloud.reliability import Reliability
from ..cloud.timeline import TimelineEntry
from .chapters import SCENARIO_DIR, Catalogue, ChapterError, LoadProblem, check_reads, load_all, load_validated
from .locations import levels_dir
from .parser import parse_seed, shown
from .schema import Chapter, Objective, Strict, World
from .session import RunResult, Session

SCENARIO_ID_PREFIX = "scenario-"
# What a scenario reports and compares, and which way is better.
REPORTED = (
    ("availability_pct", "higher"),
    ("objects_lost", "lower"),
    ("cost_per_hour", "lower"),
    ("time_to_recover_s", "lower"),
    ("incidents_open", "lower"),
    ("requests_failed", "lower"),
)
DEFAULT_OBJECTIVES: list[dict[str, Any]] = [
    {
        "id": "available",
        "text": "Serve at least 99.9% of the requests offered",
        "skills": ["reliability engineering"],
        "check": {"metric": "availability_pct", "op": ">=", "value": 99.9},
    },
    {
        "id": "nothing-lost",
        "text": "Lose no object",
        "skills": ["replication systems", "reliability engineering"],
        "check": {"metric": "objects_lost", "op": "==", "value": 0},
    },
]


def _world_kind(value: Any) -> str:
    return "ref" if isinstance(value, str) else "inline"


WorldRef = Annotated[
    Union[Annotated[str, Tag("ref")], Annotated[World, Tag("inline")]],
    Discriminator(_world_kind),
]


class ReportedMetric(Strict):
    metric: str = Field(description="a metric the scenario's world reports")
    better: Literal["higher", "lower"]


class Scenario(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    world: WorldRef = Field(description="a chapter id whose world to use, or an inline world")
    timeline: list[TimelineEntry] = Field(min_length=1)
    load: list[LoadPointSpec] | None = Field(default=None, description="replaces the world's load curve")
    run_s: int = Field(ge=1, le=7 * 86400)
    design: list[str] = Field(default_factory=list, description="the design played when none is given")
    objectives: list[Objective] | None = Field(default=None, description="default: 99.9% available, nothing lost")
    report: list[ReportedMetric] | None = Field(
        default=None, description="the metrics to report and compare (default: availability, objects lost, cost, recovery)"
    )


class ScenarioError(Exception):
    def __init__(self, problems: list[LoadProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class LoadedScenario:
    scenario: Scenario
    path: Path
    chapter: Chapter  # the chapter the scenario plays as
    base_chapter: Chapter | None  # the chapter whose world it borrows

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def reported(self) -> tuple[tuple[str, str], ...]:
        """What this scenario reports and compares, and which way is better."""
        if self.scenario.report is None:
            return REPORTED
        return tuple((r.metric, r.better) for r in self.scenario.report)


def scenarios_dir() -> Path:
    return levels_dir() / SCENARIO_DIR


def scenario_files(directory: Path | None = None) -> list[Path]:
    return sorted((directory or scenarios_dir()).glob("*.yaml"))


def load_scenario(path: str | Path, catalogue: Catalogue | None = None) -> LoadedScenario:
    """Load, validate and build one scenario, or raise :class:`ScenarioError` with every
    problem as FILE:LINE: what is wrong."""
    try:
        scenario, doc = load_validated(path, Scenario, "a scenario file must be a mapping (name, title, world, ...)")
    except ChapterError as exc:
        raise ScenarioError(exc.problems) from None
    base: Chapter | None = None
    if isinstance(scenario.world, str):
        catalogue = catalogue or load_all()
        base = catalogue.get(scenario.world)
        if base is None:
            known = ", ".join(c.id for c in catalogue.chapters)
            raise ScenarioError(
                [LoadProblem(doc.path, doc.line_of(("world",)), f"world: no chapter {scenario.world!r} (chapters: {known})")]
            )
        world = base.world
    else:
        world = scenario.world
    data = world.model_dump(mode="python")
    data["timeline"] = [e.model_dump(mode="python") for e in scenario.timeline]
    if scenario.load is not None:
        data["loadbalancer"] = dict(data.get("loadbalancer") or {})
        data["loadbalancer"]["load"] = [p.model_dump(mode="python") for p in scenario.load]
    data["reliability"] = dict(data.get("reliability") or {})
    data["reliability"]["run_s"] = scenario.run_s
    try:
        built = World.model_validate(data)
    except ValidationError as exc:
        # the borrowed world is valid, so what fails is what the scenario added
        problems = []
        for err in exc.errors():
            text = err["msg"].removeprefix("Value error, ")
            where = "timeline" if "timeline" in text else "load" if "load" in text else "world"
            entry = re.search(r"timeline entry (\d+)", text)
            loc: tuple = ("timeline", int(entry.group(1)) - 1) if entry else (where,)
            problems.append(LoadProblem(doc.path, doc.line_of(loc), f"{where}: {text}"))
        raise ScenarioError(problems) from None
    from .mechanism import metric_of

    for n, r in enumerate(scenario.report or []):
        if metric_of(r.metric) is None:
            raise ScenarioError([LoadProblem(doc.path, doc.line_of(("report", n)), f"report: no metric {r.metric!r} (see the authors' reference)")])
    objectives = scenario.objectives
    reads = [p for i, o in enumerate(objectives or []) for p in check_reads(o.check, doc, ("objectives", i, "check"))]
    if reads:
        raise ScenarioError(reads)
    if objectives is None:
        objectives = [Objective.model_validate(o) for o in DEFAULT_OBJECTIVES]
    chapter = Chapter.model_construct(
        id=SCENARIO_ID_PREFIX + scenario.name,
        title=f"Scenario: {scenario.title}",
        number=99,
        sections=[10],
        skills=["reliability engineering"],
        story=scenario.description,
        world=built,
        commands=[],
        objectives=objectives,
        hints=[],
        solution=list(scenario.design) or ["status"],
    )
    return LoadedScenario(scenario, Path(path), chapter, base)


@dataclass
class Library:
    scenarios: list[LoadedScenario]
    problems: list[LoadProblem]

    def get(self, name: str) -> LoadedScenario | None:
        return next((s for s in self.scenarios if s.name == name), None)


def load_library(directory: Path | None = None, catalogue: Catalogue | None = None) -> Library:
    catalogue = catalogue or load_all()
    out, problems, seen = [], [], {}
    for path in scenario_files(directory):
        try:
            loaded = load_scenario(path, catalogue)
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        if loaded.name in seen:
            problems.append(LoadProblem(str(path), 1, f"scenario name {loaded.name!r} is already used by {seen[loaded.name]}"))
            continue
        seen[loaded.name] = str(path)
        out.append(loaded)
    return Library(out, problems)


def find(name_or_path: str, catalogue: Catalogue | None = None) -> LoadedScenario:
    """A scenario by library name, or by the path of a scenario file."""
    path = Path(name_or_path)
    if name_or_path.endswith((".yaml", ".yml")) and path.exists():
        return load_scenario(path, catalogue)
    candidate = scenarios_dir() / f"{name_or_path}.yaml"
    if candidate.exists():
        loaded = load_scenario(candidate, catalogue)
        if loaded.name == name_or_path:
            return loaded
    library = load_library(catalogue=catalogue)
    found = library.get(name_or_path)
    if found is None:
        known = ", ".join(s.name for s in library.scenarios) or "none"
        raise ScenarioError([LoadProblem("scenario", 0, f"no scenario {name_or_path!r} (scenarios: {known})")])
    return found


def is_verify(line: str) -> bool:
    words = line.split()
    return bool(words) and words[0].lower() == "verify"


def design_lines(lines: list[str]) -> list[str]:
    """The commands that build a design: blank lines, comments and ``verify`` (a check of
    the design, not part of it, and one that would replay it five more times) left out."""
    return [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#") and not is_verify(ln)]


@dataclass
class ScenarioRun:
    scenario: LoadedScenario
    design: str  # where the design came from
    seed: int
    session: Session
    result: RunResult
    incidents: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def reported(self) -> dict[str, float | int | None]:
        m = self.result.metrics
        return {name: m.get(name) for name, _ in self.scenario.reported}

    def as_dict(self) -> dict[str, Any]:
        data = self.result.as_dict()
        data.update(
            {
                "scenario": self.scenario.name,
                "design": self.design,
                "reported": self.reported(),
                "incidents": self.incidents,
                "rejected_commands": self.rejected,
            }
        )
        return data


def scenario_ref(loaded: LoadedScenario) -> str:
    """How a replay names the scenario: its library name, or its file's path."""
    in_library = loaded.path.parent.resolve() == scenarios_dir().resolve()
    return loaded.name if in_library else str(loaded.path.resolve())


def run(loaded: LoadedScenario, lines: list[str], seed: int = 0, design: str = "") -> ScenarioRun:
    """Play a design headless against a scenario, to the end of the scenario."""
    session = Session(loaded.chapter, seed, sandbox=True)
    session.scenario = scenario_ref(loaded)
    end_ms = loaded.scenario.run_s * 1000
    # A design may tick past the scenario's end (a chapter's solution ticks through its
    # own timeline): time stops at the end, and the log records the tick as cut short.
    session.stop_at_ms = end_ms
    outcomes = session.run_script(design_lines(lines))
    session.stop_at_ms = None
    session.advance_to(end_ms)
    result = session.finish()
    rel = session.cloud.get(Reliability)
    incidents = rel.report() if rel is not None else []
    rejected = [f"{o.line}: {o.output}" for o in outcomes if not o.ok]
    return ScenarioRun(loaded, design, seed, session, result, incidents, rejected)


def default_design(loaded: LoadedScenario) -> tuple[list[str], str]:
    if loaded.scenario.design:
        return list(loaded.scenario.design), f"the scenario's own design ({loaded.name})"
    if loaded.base_chapter is not None:
        return list(loaded.base_chapter.solution), f"chapter {loaded.base_chapter.id}'s reference solution"
    return [], "no design (an empty run)"


def record_run(r: ScenarioRun, path: Path) -> None:
    """Write the run as a replay: the session's own record plus the scenario's name (to
    rebuild its chapter) and its world (for viewers that replay it as a sandbox)."""
    from .userfiles import write_json_atomic

    data = r.session.replay_record()
    data["scenario"] = scenario_ref(r.scenario)
    data["world"] = r.session.chapter.world.model_dump(mode="json")
    write_json_atomic(path, data)


# -- comparing two designs ------------------------------------------------------------------
def _incident_key(inc: dict[str, Any]) -> tuple:
    return (inc["recovered"], inc["time_to_recover_s"], inc["requests_failed"], inc["objects_lost"])


def divergence(a: ScenarioRun, b: ScenarioRun) -> dict[str, Any] | None:
    """The first incident the two designs lived through differently (how long until whole,
    requests failed, objects lost), or None if every incident went the same way."""
    for ia, ib in zip(a.incidents, b.incidents):
        if _incident_key(ia) != _incident_key(ib):
            return {"incident": ia["n"], "title": ia["evidence"].split("; ")[0], "a": ia, "b": ib}
    if len(a.incidents) != len(b.incidents):
        longer, label = (a, "a") if len(a.incidents) > len(b.incidents) else (b, "b")
        extra = longer.incidents[min(len(a.incidents), len(b.incidents))]
        return {"incident": extra["n"], "title": extra["evidence"].split("; ")[0], "only_in": label, label: extra}
    return None


def _worst(values: list[Any], better: str) -> Any:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return min(values) if better == "higher" else max(values)


@dataclass
class Comparison:
    scenario: LoadedScenario
    labels: tuple[str, str]
    seeds: list[int]
    runs: list[tuple[ScenarioRun, ScenarioRun]]

    def table(self) -> list[dict[str, Any]]:
        rows = []
        for name, better in self.scenario.reported:
            a = [ra.reported()[name] for ra, _ in self.runs]
            b = [rb.reported()[name] for _, rb in self.runs]
            wa, wb = _worst(a, better), _worst(b, better)
            diff = None if wa is None or wb is None else round(wb - wa, 6)
            if diff is None or diff == 0:
                verdict = "same"
            elif (diff > 0) == (better == "higher"):
                verdict = "B better"
            else:
                verdict = "A better"
            rows.append({"metric": name, "better": better, "a": a, "b": b, "a_worst": wa, "b_worst": wb, "b_minus_a": diff, "verdict": verdict})
        return rows

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "designs": {"a": self.labels[0], "b": self.labels[1]},
            "seeds": self.seeds,
            "metrics": self.table(),
            "per_seed": [
                {
                    "seed": ra.seed,
                    "a_passed": ra.result.passed,
                    "b_passed": rb.result.passed,
                    "a_event_log_sha256": ra.result.event_log_sha256,
                    "b_event_log_sha256": rb.result.event_log_sha256,
                    "diverged": divergence(ra, rb),
                }
                for ra, rb in self.runs
            ],
        }


def compare(loaded: LoadedScenario, a: tuple[str, list[str]], b: tuple[str, list[str]], seeds: list[int]) -> Comparison:
    runs = [(run(loaded, a[1], s, a[0]), run(loaded, b[1], s, b[0])) for s in seeds]
    return Comparison(loaded, (a[0], b[0]), seeds, runs)


MAX_SEEDS = 100


def parse_seeds(text: str) -> list[int]:
    """``1..5``, ``1,3,7`` or ``4`` -> seeds (1 to 100 of them, each a whole number in
    digits 0-9 from 0 to MAX_SEED). ValueError with what is valid."""
    try:
        if ".." in text:
            lo_text, _, hi_text = text.partition("..")
            lo, hi = parse_seed(lo_text), parse_seed(hi_text)
            if hi < lo or hi - lo >= MAX_SEEDS:
                raise ValueError
            return list(range(lo, hi + 1))
        parts = text.split(",")
        if len(parts) > MAX_SEEDS:
            raise ValueError
        return [parse_seed(p) for p in parts]
    except ValueError:
        raise ValueError(f"seeds must look like 1..5, 1,3,7 or 4 (1 to {MAX_SEEDS} seeds), not {shown(text)}") from None


# -- what the terminal game shows -------------------------------------------------------------
def fmt_metric(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def timeline_lines(loaded: LoadedScenario) -> list[str]:
    """What a scenario throws at a design, one timed fault a line (h:mm:ss from the start)."""
    out = []
    for e in loaded.scenario.timeline:
        if e.random is not None:
            r = e.random
            where = f" among {', '.join(r.among)}" if r.among else ""
            lasting = f", each for {r.for_s:g} s" if r.for_s else ", for good" if r.action == "fail" else ""
            out.append(
                f"{_clock(int(r.from_s))}  {r.action} {r.count} {r.part}s{where} at seeded random times until "
                f"{_clock(int(r.to_s))}{lasting}"
            )
            continue
        lasting = f", for {e.for_s:g} s" if e.for_s else ", for good" if e.action == "fail" else ""
        out.append(f"{_clock(int(e.at_s or 0))}  {e.action} {e.part} {e.id}{lasting}")
    out.append(f"{_clock(loaded.scenario.run_s)}  the end ({loaded.scenario.run_s} s)")
    return out


def incident_outcome(inc: dict[str, Any]) -> str:
    whole = f"whole after {inc['time_to_recover_s']:g}s" if inc["recovered"] else f"not whole after {inc['time_to_recover_s']:g}s"
    return f"{whole}, {inc['requests_failed']} requests failed, {inc['objects_lost']} objects lost"


def comparison_lines(comparison: Comparison) -> list[str]:
    """The comparison as ``cloudquest scenario compare`` prints it: each reported figure
    at its worst over the seeds for A and B, the difference and the verdict, then each
    seed's pass or fail and where the two designs first diverged."""
    data = comparison.as_dict()
    a, b = comparison.labels
    lines = [
        f"scenario {comparison.scenario.name}, seeds {', '.join(map(str, comparison.seeds))}",
        f"  A = {a}",
        f"  B = {b}",
    ]
    width = max([20, *(len(row["metric"]) for row in data["metrics"])])  # long metric names widen it
    lines.append(f"{'metric':<{width}} {'A (worst)':>12} {'B (worst)':>12} {'B - A':>12}  verdict")
    for row in data["metrics"]:
        lines.append(
            f"{row['metric']:<{width}} {fmt_metric(row['a_worst']):>12} {fmt_metric(row['b_worst']):>12} "
            f"{fmt_metric(row['b_minus_a']):>12}  {row['verdict']}"
        )
    lines.append("per seed:")
    for ps in data["per_seed"]:
        head = f"  seed {ps['seed']}: A {'PASS' if ps['a_passed'] else 'FAIL'}, B {'PASS' if ps['b_passed'] else 'FAIL'}"
        d = ps["diverged"]
        if d is None:
            lines.append(head + "; every incident went the same way")
            continue
        lines.append(head + f"; diverged at {d['title']}")
        for side in ("a", "b"):
            inc = d.get(side)
            lines.append(f"      {side.upper()}: {'did not have it' if inc is None else incident_outcome(inc)}")
    return lines


@dataclass
class DesignChoice:
    """A design the player may play a scenario against, or why not yet."""

    key: str
    label: str
    lines: list[str]
    available: bool = True
    why_not: str = ""


def last_run_lines(chapter_id: str, runs: list) -> tuple[list[str], Any] | None:
    """The commands of the player's newest readable run of a chapter, and that run."""
    from .replay import ReplayError, read

    for saved in runs:
        if saved.problem or saved.chapter != chapter_id:
            continue
        try:
            replay = read(saved.path)
        except ReplayError:
            continue
        return [line for _t, line in replay.commands], saved
    return None


def design_choices(loaded: LoadedScenario, runs: list, completed: set[str]) -> list[DesignChoice]:
    """The designs on offer for a scenario: the player's last run of its chapter, the
    chapter's reference design once the chapter is passed, the scenario's own design,
    and (chosen by the caller) a design file."""
    out: list[DesignChoice] = []
    base = loaded.base_chapter
    if base is not None:
        mine = last_run_lines(base.id, runs)
        if mine is not None:
            lines, saved = mine
            out.append(DesignChoice("last-run", f"your last run of chapter {base.number} ({saved.name})", design_lines(lines)))
        else:
            out.append(
                DesignChoice("last-run", f"your last run of chapter {base.number}", [], False,
                             f"you have no run of chapter {base.number} ({base.title}) yet")
            )
        solution = design_lines(list(base.solution))
        if base.id in completed:
            out.append(DesignChoice("reference", f"the reference design (chapter {base.number}'s solution)", solution))
        else:
            out.append(
                DesignChoice("reference", f"the reference design (chapter {base.number}'s solution)", solution, False,
                             f"it opens once you have passed chapter {base.number} ({base.title})")
            )
    if loaded.scenario.design:
        out.append(DesignChoice("own", f"the scenario's own design ({loaded.name})", design_lines(list(loaded.scenario.design))))
    out.append(DesignChoice("nothing", "no design: the world as it starts, left alone", []))
    return out
