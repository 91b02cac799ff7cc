"""The command registry: every console command, its arguments and its help.

A command is a handler declared in its mechanism's :class:`CommandSet` (each commands
module makes one, ``command = CommandSet()``, and decorates its handlers with it); the
mechanism's record (:mod:`cloudquest.game.mechanism`) names the set, and the table of
every command is built from the records. The same table generates ``help``, validates
input before anything runs, drives tab completion (``complete`` names the kind of world
id an argument takes) and tells the TUI what exists.

Handlers take the session and the parsed arguments as keyword arguments and return the
output text. They raise :class:`CommandError` for bad input *before* they change
anything; the cloud's own API errors (``CloudError``) are reported the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .parser import CommandError, check_digits, parse_number, shown, tokenize

if TYPE_CHECKING:
    from .session import Session

Handler = Callable[..., str]


def _plain(bound: float) -> str:
    """A bound as written: 2000000, not 2e+06; 0.001 stays 0.001."""
    return str(int(bound)) if bound == int(bound) else f"{bound:g}"


@dataclass(frozen=True)
class Param:
    name: str
    help: str = ""
    type: type = str  # str | int | float
    choices: tuple[str, ...] | None = None
    complete: str | None = None  # kind of world id: instance, host, zone, rack, disk, link, kind, ...
    required: bool = True
    default: Any = None
    min: float | None = None
    max: float | None = None

    @property
    def key(self) -> str:
        return self.name.lower().replace("-", "_")

    def metavar(self) -> str:
        if self.choices:
            return "|".join(self.choices)
        return self.name.upper()

    def convert(self, raw: str, usage: str) -> Any:
        value: Any = raw
        try:
            if self.type in (int, float):
                value = parse_number(raw, self.name, whole=self.type is int)
            else:
                check_digits(raw, self.name)
        except CommandError as exc:
            raise CommandError(f"{exc} (usage: {usage})") from None
        if self.choices is not None and value not in self.choices:
            raise CommandError(f"{self.name} must be one of {', '.join(self.choices)}, not {shown(raw)}")
        if self.min is not None and value < self.min:
            raise CommandError(f"{self.name} must be at least {_plain(self.min)}, not {raw} (usage: {usage})")
        if self.max is not None and value > self.max:
            raise CommandError(f"{self.name} must be at most {_plain(self.max)}, not {raw} (usage: {usage})")
        return value


@dataclass
class CommandSpec:
    verb: str
    summary: str
    handler: Handler
    args: tuple[Param, ...] = ()
    options: tuple[Param, ...] = ()
    details: str = ""
    slow: bool = False  # may take seconds of real time (the game runs it off the UI loop)
    mechanism: str = ""  # the mechanism whose record names it

    @property
    def usage(self) -> str:
        parts = [self.verb]
        for a in self.args:
            parts.append(a.metavar() if a.required else f"[{a.metavar()}]")
        for o in self.options:
            parts.append(f"[--{o.name} {o.metavar()}]")
        return " ".join(parts)

    def help_text(self) -> str:
        lines = [f"usage: {self.usage}", f"  {self.summary}"]
        if self.details:
            lines += ["", *("  " + d for d in self.details.strip().splitlines())]
        params = [*self.args, *(o for o in self.options)]
        if params:
            lines.append("")
            for p in params:
                label = p.metavar() if p in self.args else f"--{p.name} {p.metavar()}"
                default = f" (default {p.default})" if p.default is not None else ""
                lines.append(f"  {label:<28} {p.help}{default}")
        return "\n".join(lines)


# Commands every chapter has.
CORE_VERBS = ("help", "status", "tick", "objectives", "hint", "fail", "destroy", "repair")


class CommandSet:
    """One mechanism's console commands. ``command = CommandSet()`` in a commands module;
    ``@command("verb", "summary", args=[...], options=[...])`` on each handler."""

    def __init__(self) -> None:
        self.specs: dict[str, CommandSpec] = {}

    def __call__(
        self,
        verb: str,
        summary: str,
        args: tuple[Param, ...] | list[Param] = (),
        options: tuple[Param, ...] | list[Param] = (),
        details: str = "",
        slow: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if verb in self.specs:
                raise ValueError(f"command {verb!r} declared twice")
            self.specs[verb] = CommandSpec(verb, summary, handler, tuple(args), tuple(options), details, slow)
            return handler

        return register

    def bind(self, mechanism: str) -> None:
        """Name the mechanism that owns these commands (done once, by the registry)."""
        for spec in self.specs.values():
            spec.mechanism = mechanism


def table() -> dict[str, CommandSpec]:
    """Every command of every registered mechanism, by verb."""
    from .mechanism import command_table

    return command_table()


@dataclass
class Parsed:
    spec: CommandSpec
    values: dict[str, Any] = field(default_factory=dict)
    line: str = ""


def resolve_verb(tokens: list[str], enabled: set[str] | None) -> tuple[CommandSpec, int]:
    """Find the command named by the first one or two tokens."""
    commands = table()
    first = tokens[0].lower()
    if len(tokens) > 1 and f"{first} {tokens[1].lower()}" in commands:
        verb, used = f"{first} {tokens[1].lower()}", 2
    elif first in commands:
        verb, used = first, 1
    else:
        subs = sorted(v for v in commands if v.startswith(first + " ") and (enabled is None or v in enabled))
        if subs:
            if len(tokens) > 1:
                raise CommandError(f"unknown {first} command {tokens[1]!r} (try: {', '.join(subs)})")
            raise CommandError(f"{first} needs a subcommand (try: {', '.join(subs)})")
        names = sorted(v for v in commands if enabled is None or v in enabled)
        close = difflib.get_close_matches(first, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise CommandError(f"unknown command {tokens[0]!r} ({hint}type 'help' for the list)")
    if enabled is not None and verb not in enabled:
        names = ", ".join(sorted(enabled))
        raise CommandError(f"{verb!r} is not available in this chapter (available: {names})")
    return commands[verb], used


def parse(line: str, enabled: set[str] | None = None) -> Parsed | None:
    """Parse one line against the registry. Returns None for a blank or comment line."""
    tokens = tokenize(line)
    if not tokens:
        return None
    spec, used = resolve_verb(tokens, enabled)
    rest = tokens[used:]
    options = {o.name: o for o in spec.options}
    values: dict[str, Any] = {}
    positionals: list[str] = []
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok.startswith("--") and len(tok) > 2:
            name, eq, inline = tok[2:].partition("=")
            opt = options.get(name)
            if opt is None:
                valid = ", ".join(f"--{n}" for n in options) or "none"
                raise CommandError(f"{spec.verb} has no option --{name} (options: {valid})")
            if opt.key in values:
                raise CommandError(f"--{name} given twice (usage: {spec.usage})")
            if eq:
                raw = inline
            else:
                if i + 1 >= len(rest):
                    raise CommandError(f"--{name} needs a value {opt.metavar()} (usage: {spec.usage})")
                i += 1
                raw = rest[i]
            values[opt.key] = opt.convert(raw, spec.usage)
        else:
            positionals.append(tok)
        i += 1
    if len(positionals) > len(spec.args):
        extra = " ".join(positionals[len(spec.args) :])
        raise CommandError(f"too many arguments: {extra!r} (usage: {spec.usage})")
    for j, param in enumerate(spec.args):
        if j < len(positionals):
            values[param.key] = param.convert(positionals[j], spec.usage)
        elif param.required:
            raise CommandError(f"missing {param.metavar()} (usage: {spec.usage})")
        else:
            values[param.key] = param.default
    for opt in spec.options:
        values.setdefault(opt.key, opt.default)
    return Parsed(spec, values, line)


def help_index(enabled: set[str] | None = None) -> str:
    """Every command: its usage on one line, what it does indented under it, so the list
    reads the same in an 80-column console as in a wide one."""
    specs = [s for v, s in sorted(table().items()) if enabled is None or v in enabled]
    lines = ["commands (type 'help VERB' for one):"]
    for s in specs:
        lines.append(f"  {s.usage}")
        lines.append(f"      {s.summary}")
    return "\n".join(lines)


def completions(prefix_tokens: list[str], partial: str, enabled: set[str] | None, ids: Callable[[str], list[str]]) -> list[str]:
    """Candidates for the word being typed: verbs first, then argument values.

    ``ids(kind)`` returns the live world's ids of a kind (instances, hosts, ...).
    """
    verbs = sorted(v for v in table() if enabled is None or v in enabled)
    if not prefix_tokens:
        return sorted({v.split()[0] for v in verbs if v.startswith(partial)})
    first = prefix_tokens[0].lower()
    if len(prefix_tokens) == 1 and first not in table():
        return sorted(v.split()[1] for v in verbs if v.startswith(first + " ") and v.split()[1].startswith(partial))
    try:
        spec, used = resolve_verb(prefix_tokens + ["_"], enabled)
    except CommandError:
        return []
    rest = prefix_tokens[used:]
    if partial.startswith("--"):
        return [f"--{o.name}" for o in spec.options if f"--{o.name}".startswith(partial)]
    if rest and rest[-1].startswith("--"):
        opt = next((o for o in spec.options if f"--{o.name}" == rest[-1]), None)
        param = opt
    else:
        n_pos = sum(1 for i, t in enumerate(rest) if not t.startswith("--") and not (i and rest[i - 1].startswith("--")))
        param = spec.args[n_pos] if n_pos < len(spec.args) else None
        if param is not None and param.complete == "id-of-kind" and rest:
            return sorted(x for x in ids(rest[-1]) if x.startswith(partial))
    if param is None:
        return []
    if param.choices:
        return [c for c in param.choices if c.startswith(partial)]
    if param.complete:
        return sorted(x for x in ids(param.complete) if x.startswith(partial))
    return []
