"""The global service's commands (chapter 16): web tiers per region, DNS routing and
health checks, the database and its replicas, and design files.

A **design file** is a script of these console commands that builds the whole service
from an empty account (infrastructure as code, the "programmable" property). ``design
apply FILE`` runs it through the one road (every line is an ordinary command, logged at
its time, so a replay never needs the file again); the log ends the block with ``design
mark FILE N SHA``, which checks that the N lines before it are the file's and says so in
the event log. ``design verify`` replays only what came from design files: on a fresh
world with this run's seed (the same event log as this run, or the design is not what
built it) and through the whole day under seeds 1..N (mastery, as chapter 9's
``verify``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...cloud import geo as sim
from ...cloud.catalogue import CATALOGUE
from ...cloud.mechanism import events
from ..console_text import fitted
from ..limits import KiB
from ..locations import designs_dir
from ..mechanism import Mechanism
from ..parser import CommandError, split_lines, tokenize
from ..registry import CommandSet, Param, parse, resolve_verb
from ..userfiles import UserFileError, read_text, write_atomic

if TYPE_CHECKING:
    from ..checks import Check
    from ..session import RunResult, Session

command = CommandSet()
MAX_DESIGN_BYTES = 64 * KiB
MAX_DESIGN_LINES = 500
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# verbs a design file may not hold: it builds; time, faults and checks are the run's
NOT_IN_DESIGN = ("tick", "fail", "destroy", "repair", "hint", "objectives", "help", "describe", "status")
# commands that look, wait or check, and change nothing a design verify replays
READ_ONLY = frozenset(
    {"help", "status", "tick", "objectives", "hint", "describe", "geo show", "design show", "design new",
     "design verify", "design list", "scheduler show"}
)  # fmt: skip
EXCLUDED_FROM_HASH = ("design.verified",)
DEFAULT_SEEDS, MAX_SEEDS = 5, 10
TYPES = tuple(CATALOGUE)


def _svc(session: "Session") -> sim.GlobalService:
    svc = session.cloud.get(sim.GlobalService)
    if svc is None:
        raise CommandError("this world runs no global service (its world has no geo section)")
    return svc


# -- building the service -----------------------------------------------------------------------
@command(
    "service deploy",
    "run the web tier in a region: an auto scaling group over its zones",
    args=[Param("region", "where", complete="region")],
    options=[
        Param("type", "instance type", choices=TYPES, default="small"),
        Param("min", "instances at least (and at the start)", type=int, default=2, min=0, max=50),
        Param("max", "instances at most", type=int, default=8, min=0, max=50),
        Param("target", "target tracking: keep average CPU at this percent (none: a fixed size)", type=float,
              required=False, min=10, max=90),
    ],
    details="""The group starts at --min instances spread over the region's zones, each a VM the
scheduler places on a shared host. With --target it tracks average CPU: 3 one-minute
datapoints above the target scale out (capacity x CPU / target), 15 below 90 % of it
scale in. Without --target it stays at --min whatever comes.""",
)
def service_deploy(session: "Session", region: str, type: str, min: int, max: int, target: float | None) -> str:
    svc = _svc(session)
    if min > max:
        raise CommandError(f"--min {min} is above --max {max}")
    tier = svc.deploy(region, type, min, max, target)
    cap = tier.min * CATALOGUE[type].vcpus * svc.spec.rps_per_vcpu
    how = f"target tracking at {target:g}% CPU" if target is not None else "a fixed size (no scaling policy)"
    return (
        f"web tier in {region}: {min} x {type} launching (min {min}, max {max}), {how}; "
        f"{cap} requests/s at full CPU once booted"
    )


@command("dns policy", "how DNS answers users: latency (nearest healthy region) or simple (one region)",
         args=[Param("policy", "the routing policy", choices=sim.POLICIES)])
def dns_policy(session: "Session", policy: str) -> str:
    svc = _svc(session)
    svc.set_dns(policy=policy)
    return f"DNS routing: {policy}. " + _answers(svc)


@command("dns ttl", "how long resolvers keep an answer",
         args=[Param("seconds", "the record's TTL", type=int, min=0, max=86_400)])
def dns_ttl(session: "Session", seconds: int) -> str:
    svc = _svc(session)
    svc.set_dns(ttl_s=seconds)
    return f"DNS TTL {seconds} s: after a change, old answers fade out over {seconds} s"


@command(
    "dns health-check",
    "Route 53 health checks on every region's endpoint (on or off)",
    args=[Param("state", "on or off", choices=("on", "off"))],
    options=[
        Param("interval", "seconds between checks: 30 (standard) or 10 (fast, $1/month more)", type=int,
              default=sim.DEFAULT_INTERVAL_S, min=10, max=30),
        Param("threshold", "checks in a row that change a region's health", type=int,
              default=sim.DEFAULT_THRESHOLD, min=1, max=10),
    ],
)
def dns_health_check(session: "Session", state: str, interval: int, threshold: int) -> str:
    svc = _svc(session)
    if interval not in sim.HEALTH_INTERVALS:
        raise CommandError(f"--interval must be 10 or 30, not {interval}")
    svc.set_dns(checks=state == "on", interval_s=interval, threshold=threshold)
    if state == "off":
        return "health checks off: DNS keeps answering with a region whatever its state"
    return (
        f"health checks on: every {interval} s, {threshold} failures in a row mark a region unhealthy "
        f"(noticed {interval * (threshold - 1)}-{interval * threshold} s after it dies)"
    )


@command(
    "db create",
    "create the service's database with its primary in a region",
    args=[Param("name", "the database's name")],
    options=[Param("primary", "the region of the primary", complete="region", required=False),
             Param("type", "instance type of each copy", choices=TYPES, default="medium")],
)
def db_create(session: "Session", name: str, primary: str | None, type: str) -> str:
    svc = _svc(session)
    if not re.match(sim.NAME, name):
        raise CommandError(f"bad database name {name!r} (lower-case letters, digits and '-', starting with a letter)")
    if primary is None:
        raise CommandError(f"say where its primary runs: db create {name} --primary REGION (regions: {', '.join(svc.sites)})")
    svc.create_db(name, primary, type)
    return f"database {name}: primary in {primary} ({type}); every write goes there"


@command("db replica", "add an asynchronous cross-region replica of the database",
         args=[Param("name", "the database", complete="database"), Param("region", "where", complete="region")])
def db_replica(session: "Session", name: str, region: str) -> str:
    svc = _svc(session)
    svc.add_replica(name, region)
    lag = svc.db.replicas[region] if svc.db else 0
    return f"replica of {name} in {region}: local reads there; lag about {lag:.0f} ms behind the primary"


@command("db failover", "auto: the health check's alarm promotes a replica; manual: someone types db promote",
         args=[Param("name", "the database", complete="database"), Param("mode", "the failover mode", choices=sim.FAILOVER)])
def db_failover(session: "Session", name: str, mode: str) -> str:
    svc = _svc(session)
    svc.set_failover(name, mode)
    if mode == "auto":
        note = "" if svc.checks_on else " (it acts on the health check: turn on dns health-check)"
        return f"{name}: when Route 53 marks the primary's region unhealthy, the nearest replica is promoted{note}"
    return f"{name}: failover by hand (db promote)"


@command("db promote", "promote a replica to primary now (by hand)",
         args=[Param("name", "the database", complete="database"), Param("region", "the replica's region", complete="region")])
def db_promote(session: "Session", name: str, region: str) -> str:
    svc = _svc(session)
    svc.promote(name, region)
    return f"promoting {name} in {region}: writes resume there in {svc.spec.promote_s} s"


@command("geo show", "the service around the world: regions, health, traffic, lag, latency, cost")
@fitted
def geo_show(session: "Session") -> str:
    return geo_text(session)


# -- design files -------------------------------------------------------------------------------
def _path(file: str) -> Path:
    if "/" in file or file.startswith("~"):
        return Path(file).expanduser()
    if not FILE_NAME.match(file):
        raise CommandError(f"bad design file name {file!r}: letters, digits, '.', '-', '_' (or a path with a '/')")
    return designs_dir() / file


SHIPPED = "chapter:"  # chapter:example names a design the chapter ships, read-only


def _design_text(session: "Session", file: str) -> str:
    """The text of a design: one the chapter ships (``chapter:example``), or a file."""
    if file.startswith(SHIPPED):
        designs = _svc(session).spec.designs
        text = designs.get(file.removeprefix(SHIPPED))
        if text is None:
            raise CommandError(f"this chapter ships no design {file!r} (it ships {', '.join(SHIPPED + d for d in designs) or 'none'})")
        return text
    path = _path(file)
    try:
        return read_text(path, MAX_DESIGN_BYTES, "the design file")
    except UserFileError as exc:
        hint = f" (design new {file} writes a starter)" if not path.exists() and "/" not in file else ""
        raise CommandError(f"{exc}{hint}") from None


def _read_design(session: "Session", file: str) -> list[tuple[int, str]]:
    """The file's command lines with their line numbers, each checked for what it is:
    a command of this chapter, and not one that runs time, faults or checks."""
    text = _design_text(session, file)
    lines = []
    for n, raw in enumerate(split_lines(text), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            parsed = parse(line, session.enabled)
        except CommandError as exc:
            raise CommandError(f"{file}:{n}: {exc}") from None
        if parsed is None:
            continue
        verb = parsed.spec.verb
        if verb.split()[0] in NOT_IN_DESIGN or verb.startswith("design"):
            raise CommandError(
                f"{file}:{n}: {verb!r} has no place in a design file: it builds the service; time, faults and checks are the run's"
            )
        lines.append((n, line))
        if len(lines) > MAX_DESIGN_LINES:
            raise CommandError(f"{file}: more than {MAX_DESIGN_LINES} commands; a design file is a script, not a log")
    if not lines:
        raise CommandError(f"{file}: no commands in it (only comments or blank lines)")
    return lines


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


@command(
    "design apply",
    "build the service from a design file: every line runs as a console command",
    args=[Param("file", "a file in your designs folder, a path, or chapter:example")],
    details="""A plain name is looked up in your designs folder (design list shows it); a name with
a '/' is a path; chapter:starter and chapter:example are the designs the chapter ships. Every line is checked and tried on a copy of this world first: one bad
line and nothing is applied (the error names the file and line). Then each line runs
through the console as if typed, at this moment. Apply at t=0: changes once the run is
under way are made by hand, whatever typed them.""",
)
@fitted
def design_apply(session: "Session", file: str) -> str:
    from ..replay import play
    from ..session import Session

    _svc(session)
    numbered = _read_design(session, file)
    # a dry run on a copy of this world: a rejected design changes nothing
    trial = play(Session(session.chapter, session.seed, sandbox=session.sandbox), list(session.command_log))
    for n, line in numbered:
        out = trial.execute(line)
        if not out.ok:
            raise CommandError(f"{file}:{n}: {line}: {out.output.removeprefix('error: ')}")
    outputs = []
    for n, line in numbered:
        out = session.execute(line)
        outputs.append(f"  {file}:{n}  {line}\n      {out.output.splitlines()[0] if out.output else ''}")
    lines = [line for _, line in numbered]
    digest = _digest(lines)
    name = Path(file).name
    session.effective_line = f"design mark {name} {len(lines)} {digest}"
    _mark(session, name, len(lines), digest, exclude_last=0)
    return "\n".join([f"design {name}: {len(lines)} commands applied (sha256 {digest})", *outputs])


def _mark(session: "Session", name: str, n: int, digest: str, exclude_last: int) -> None:
    log = session.command_log[: len(session.command_log) - exclude_last] if exclude_last else session.command_log
    block = [line for _, line in log[-n:]] if n <= len(log) else []
    if len(block) != n or _digest(block) != digest:
        raise CommandError(
            f"design mark: the {n} commands before it are not the design {name} (it is written by design apply; a replay runs it)"
        )
    session.cloud.emit("design.applied", file=name, commands=n, sha256=digest)


@command(
    "design mark",
    "(written by design apply into the run's log) the N commands before it came from a design file",
    args=[Param("file", "the file's name"), Param("commands", "how many", type=int, min=1, max=MAX_DESIGN_LINES),
          Param("sha", "the commands' sha256, 16 hex digits")],
)
def design_mark(session: "Session", file: str, commands: int, sha: str) -> str:
    _svc(session)
    _mark(session, file, commands, sha, exclude_last=0)
    return f"design {file}: {commands} commands"


@command(
    "design new",
    "write a starter design file in your designs folder (never over a different one)",
    args=[Param("file", "its name, e.g. global.cq")],
    options=[Param("from", "which template", choices=("starter", "example"), default="starter")],
)
def design_new(session: "Session", file: str, **kw: str) -> str:
    svc = _svc(session)
    template = kw["from"]
    if "/" in file:
        raise CommandError("design new writes only into your designs folder: give a plain name such as global.cq")
    text = svc.spec.designs.get(template)
    if text is None:
        raise CommandError(f"this chapter has no {template} design (templates: {', '.join(svc.spec.designs) or 'none'})")
    path = _path(file)
    if path.exists():
        try:
            same = read_text(path, MAX_DESIGN_BYTES, "the design file") == text
        except UserFileError:
            same = False
        if not same:
            raise CommandError(f"{path} already exists and differs: edit it, or choose another name")
    else:
        try:
            write_atomic(path, text, make_folder=True)
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None
    session.effective_line = "# " + " ".join(tokenize(f"design new {file}"))  # a file, not the cloud: replays skip it
    n = sum(1 for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return f"wrote {path} ({n} commands, the {template} design): edit it in any editor, then design apply {file}"


@command("design list", "your design files and where they live")
def design_list(session: "Session") -> str:
    folder = designs_dir()
    files = sorted(p.name for p in folder.glob("*") if p.is_file() and FILE_NAME.match(p.name)) if folder.is_dir() else []
    shipped = ", ".join(SHIPPED + d for d in _svc(session).spec.designs) if session.cloud.get(sim.GlobalService) else ""
    mine = "\n".join(f"  {f}" for f in files) if files else "  (none yet: design new global.cq)"
    return f"designs folder: {folder}\n{mine}" + (f"\nshipped with the chapter (read-only): {shipped}" if shipped else "")


@command("design show", "print a design file with its line numbers", args=[Param("file", "a design file")])
def design_show(session: "Session", file: str) -> str:
    text = _design_text(session, file)
    where = file if file.startswith(SHIPPED) else _path(file)
    return f"{where}:\n" + "\n".join(f"{n:4}  {line}" for n, line in enumerate(split_lines(text), 1))


# -- verify: the design file, replayed ----------------------------------------------------------------
def design_blocks(log: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The commands that came from design files (each block with its closing mark)."""
    out: list[tuple[int, str]] = []
    for i, (_, line) in enumerate(log):
        try:
            tokens = tokenize(line)
        except CommandError:
            continue
        if tokens[:2] == ["design", "mark"] and len(tokens) == 5 and tokens[3].isdigit():
            n = int(tokens[3])
            out.extend(log[max(0, i - n) : i + 1])
    return out


def _uses_design(check: "Check") -> bool:
    from ..checks import AllCheck, AnyCheck, MetricCheck, NotCheck

    if isinstance(check, MetricCheck):
        return check.metric.startswith("design_")
    if isinstance(check, AllCheck):
        return any(_uses_design(c) for c in check.all)
    if isinstance(check, AnyCheck):
        return any(_uses_design(c) for c in check.any)
    if isinstance(check, NotCheck):
        return _uses_design(check.not_)
    return False


def _hash(session: "Session", upto: int | None = None) -> tuple[str, list[Any]]:
    h = hashlib.sha256()
    kept = []
    for e in list(session.cloud.log)[:upto]:
        if e.kind in EXCLUDED_FROM_HASH:
            continue
        h.update(e.to_json().encode() + b"\n")
        kept.append(e)
    return h.hexdigest(), kept


def replay_design(session: "Session", design: list[tuple[int, str]], seed: int, until_ms: int, grade: bool) -> "Session":
    from ..replay import play
    from ..session import Session

    chapter = session.chapter
    if grade:
        chapter = chapter.model_copy(update={"objectives": [o for o in chapter.objectives if not _uses_design(o.check)]})
    return play(Session(chapter, seed, sandbox=session.sandbox), design, until_ms)


def _hand_commands(session: "Session", design: list[tuple[int, str]]) -> list[tuple[int, str]]:
    from_design = {id(x) for x in design}
    out = []
    for entry in session.command_log:
        if id(entry) in from_design or entry[1].lstrip().startswith("#"):
            continue
        try:
            spec, _ = resolve_verb(tokenize(entry[1]), None)
        except CommandError:
            continue
        if spec.verb not in READ_ONLY:
            out.append(entry)
    return out


def _seed_line(seed: int, result: "RunResult") -> str:
    m = result.metrics
    conts = ", ".join(f"{k.split('.', 1)[1]} {v:g}" for k, v in m.items() if k.startswith("geo_p95_ms."))
    line = (
        f"  seed {seed}: {'PASS' if result.passed else 'FAIL'}  availability {m['geo_availability_pct']:g}%, "
        f"p95 ms {conts}, RPO {m['geo_rpo_s']:g}s, RTO {m['geo_rto_s']:g}s, ${m['geo_cost_per_hour']:.4f}/h"
    )
    for o in result.objectives:
        if not o.passed:
            line += f"\n      ✘ {o.id}: {o.evidence}"
    return line


@command(
    "design verify",
    "replay only your design files: on a fresh world (same log?) and through the day under seeds 1..N",
    options=[Param("seeds", "how many seeds", type=int, default=DEFAULT_SEEDS, min=1, max=MAX_SEEDS)],
    details="""Two measurements, from the commands your design files ran (nothing typed by hand):
- programmable: a fresh world with this run's seed, built from the design files alone
  and run to this moment, must give the same event log as this run, byte for byte;
- mastery: the same design runs the whole day under seeds 1..N (other demand noise,
  boot times, health-check phases, replication lag) and must pass every objective in each.
The result counts until you change the design.""",
    slow=True,
)
def design_verify(session: "Session", seeds: int) -> str:
    svc = _svc(session)
    design = design_blocks(session.command_log)
    now = session.cloud.now_ms
    mine, my_events = _hash(session)
    rebuilt = replay_design(session, design, session.seed, now, grade=False)
    theirs, their_events = _hash(rebuilt)
    programmable = int(mine == theirs and bool(design))
    hand = _hand_commands(session, design)
    lines = []
    if programmable:
        lines.append(
            f"programmable: a fresh world built from your design file ({len(design)} commands) gives this run's "
            f"event log to t={now / 1000:g}s, {len(my_events)} events, sha256 {mine[:12]}: equal"
        )
    else:
        first = next((i for i, (a, b) in enumerate(zip(my_events, their_events)) if a.to_json() != b.to_json()),
                     min(len(my_events), len(their_events)))
        yours = my_events[first].describe() if first < len(my_events) else "(nothing)"
        file_s = their_events[first].describe() if first < len(their_events) else "(nothing)"
        why = (f"{len(hand)} commands typed by hand, first `{hand[0][1]}` at t={hand[0][0] / 1000:g}s"
               if hand else "no design file was applied" if not design else "the logs part")
        lines.append(
            f"NOT programmable: the design files alone ({len(design)} commands) rebuild {len(their_events)} events, "
            f"this run has {len(my_events)}; they part at event {first}: yours {yours} / the file's {file_s}; {why}"
        )
    results = []
    if design:
        until = svc.spec.run_s * 1000
        for seed in range(1, seeds + 1):
            results.append((seed, replay_design(session, design, seed, until, grade=True).finish()))
    passed = [s for s, r in results if r.passed]
    failed = [s for s, r in results if not r.passed]
    session.cloud.emit(
        "design.verified", seeds=seeds, passed=len(passed), failed_seeds=",".join(map(str, failed)),
        programmable=programmable, design_commands=len(design), hand_commands=len(hand), log_sha256=mine[:16],
    )
    at = len(session.transcript)
    svc.design_status = lambda: (len(passed), programmable) if not _changed_after(session, at) else (0, 0)
    if design:
        verdict = "every seed passes: the design holds, not the dice" if not failed else f"{len(failed)} of {seeds} seeds fail"
        lines.append(f"the day under seeds 1..{seeds}: {verdict}")
        lines += [_seed_line(s, r) for s, r in results]
    else:
        lines.append("nothing to replay under other seeds: apply a design file first (design new, design apply)")
    return "\n".join(lines)


def _changed_after(session: "Session", index: int) -> bool:
    for outcome in session.transcript[index + 1 :]:
        if not outcome.ok or outcome.line.lstrip().startswith("#"):
            continue
        try:
            spec, _ = resolve_verb(tokenize(outcome.line), None)
        except CommandError:
            continue
        if spec.verb not in READ_ONLY:
            return True
    return False


# -- the view in words, status, ids -----------------------------------------------------------------
def _answers(svc: sim.GlobalService) -> str:
    return "; ".join(f"{c} -> {a.region or 'nowhere'}" for c, a in svc.answers.items())


def _clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


def geo_text(session: "Session") -> str:
    svc = _svc(session)
    m = session.cloud.metrics()
    now = session.cloud.now_ms
    lines = [
        f"global service at {_clock(now)} of the day (t={now / 1000:g}s): availability {m['geo_availability_pct']:g}%, "
        f"${m['geo_cost_now_per_hour']:.4f}/h now, ${m['geo_cost_per_hour']:.4f}/h on average"
    ]
    db = svc.db
    for region, site in svc.sites.items():
        up = "up" if svc.region_up[region] else "DOWN"
        tier = svc.tiers.get(region)
        health = "" if not svc.checks_on or tier is None else (" healthy" if svc.checks[region].healthy else " UNHEALTHY")
        if tier is None:
            web = "no web tier"
        else:
            serving = sum(1 for n in tier.members if svc._serving(n))
            web = (f"web {serving}/{tier.desired} serving ({tier.type}), load {tier.load_rps:.0f} of "
                   f"{tier.capacity_rps:.0f} rps, CPU {tier.cpu_pct:g}%")
        data = ""
        if db is not None:
            if region == db.primary:
                data = "; db primary" + (" (promoting elsewhere)" if db.promoting else "")
            elif region in db.replicas:
                data = f"; db replica, lag {db.replicas[region]:.0f} ms"
                if db.promoting and db.promoting[0] == region:
                    data += " (being promoted)"
        lines.append(f"  {region} ({site.city}): {up}{health}; {web}{data}")
    p95 = svc.p95()
    lines.append(
        "  users: " + "; ".join(
            f"{u.continent} ({u.city}) -> {svc.answers[u.continent].region or 'nowhere'}, p95 "
            + (f"{p95[u.continent]:g} ms" if p95[u.continent] < sim.HIST_MS else "over 4 s (more than 5% failed)")
            for u in svc.users
        )
    )
    dns = f"DNS {svc.policy}, TTL {svc.ttl_s} s, health checks " + (
        f"every {svc.interval_s} s x {svc.threshold}" if svc.checks_on else "off"
    )
    dbs = "no database" if db is None else (
        f"db {db.name}: primary {db.primary}, {len(db.replicas)} replicas, failover {db.failover}"
    )
    lines.append(f"  {dns}; {dbs}")
    vms, over = svc.packing()
    lines.append(f"  {m['geo_instances']} web instances; {vms:g} VMs per host in use; {over} hosts over their limit")
    for o in svc.outages:
        rec = f"recovered after {((o.recovered_ms or now) - o.at_ms) / 1000:g} s" if o.recovered_ms else "not recovered yet"
        lines.append(f"  outage of {o.region} at {_clock(o.at_ms)}: RPO {o.rpo_s or 0:g} s ({o.writes_lost:.0f} writes lost), {rec}")
    if svc.spec.outage is not None and not svc.outages:
        lines.append(f"  (the scenario takes a region down at {_clock(svc.spec.outage.at_s * 1000)} for {svc.spec.outage.for_s // 60} min)")
    return "\n".join(lines)


def _status(session: "Session", thing: str | None) -> str | None:
    svc = session.cloud.get(sim.GlobalService)
    if svc is None:
        return None
    if thing is None:
        m = svc.metrics()
        return (f"global: {len(svc.tiers)} regions with a web tier, availability {m['geo_availability_pct']:g}%, "
                f"RPO {m['geo_rpo_s']:g} s, RTO {m['geo_rto_s']:g} s, ${m['geo_cost_per_hour']:.4f}/h")
    return None


def _databases(session: "Session") -> list[str]:
    svc = session.cloud.get(sim.GlobalService)
    return [svc.db.name] if svc is not None and svc.db is not None else []


MECHANISM = Mechanism(
    name="geo",
    summary="a global service: web tiers in several regions, DNS latency routing and health checks, a database with cross-region replicas, design files (chapter 16)",
    section=sim.GeoSpec,
    attach=sim.attach,
    needs=(),
    check=sim.check_world,
    commands=command,
    ids={"database": _databases},
    status=_status,
    metrics=sim.METRICS,
    events=sim.EVENTS + events(
        ("design.applied", "file commands sha256", "a design file's commands ran (the block before it)"),
        ("design.verified", "seeds passed failed_seeds programmable design_commands hand_commands log_sha256",
         "design verify replayed the design files"),
    ),
    views={"global": geo_text},
)
