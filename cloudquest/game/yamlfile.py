"""Reading YAML the way a chapter author needs: safely, with line numbers, strictly.

Built on PyYAML's safe composer (no arbitrary tags, no code), then turned into plain
Python objects while recording the line of every mapping key and list item, so a
validation error deep in a chapter can be reported as ``FILE:LINE``. Duplicate keys,
which YAML itself silently resolves by keeping the last, are errors here: they are
almost always a copy-paste slip.

A chapter file is plain data, so what plain data never needs is refused, each with the
line it is on: tags (``!!python/object:...``; the safe loader would not build one
anyway, but the author should hear the tag named, not a confusing type error about the
value), nesting deeper than :data:`MAX_NESTING`, more than :data:`MAX_YAML_NODES`
values counting every use of an alias (an alias bomb, "billion laughs", expands a few
lines into billions of values; the shipped chapters use an alias or two to repeat a
rack), numbers of absurd length, and files over :data:`MAX_YAML_BYTES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .limits import MAX_FILE_NUMBER_CHARS, MAX_NESTING, MAX_YAML_BYTES, MAX_YAML_NODES
from .userfiles import UserFileError, read_text

Loc = tuple[str | int, ...]


class YamlError(Exception):
    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


class LocatedYaml:
    """Parsed data plus the line of every location in it (1-based)."""

    def __init__(self, data: Any, lines: dict[Loc, int], path: str) -> None:
        self.data = data
        self.lines = lines
        self.path = path

    def line_of(self, loc: Loc) -> int:
        """The line of ``loc``, or of the nearest enclosing location that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)


_CORE = "tag:yaml.org,2002:"
# The tags plain data resolves to; an explicit one of these (``!!str 5``) is fine too.
PLAIN_TAGS = {_CORE + t for t in ("null", "bool", "int", "float", "str", "timestamp", "map", "seq")}


def _shown_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


if yaml.__with_libyaml__:
    # libyaml's scanner and parser (C, about ten times faster: every command-line start
    # reads every chapter) under PyYAML's own composer, which is what counts values
    # and levels below as it goes; libyaml's composer could not be bounded that way.
    class _SafeParser(yaml.composer.Composer, yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
        def __init__(self, text: str) -> None:
            yaml.cyaml.CParser.__init__(self, text)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml
    _SafeParser = yaml.SafeLoader  # type: ignore[assignment,misc]


class _BoundedLoader(_SafeParser):
    """The safe composer, refusing deep nesting and too many values as it goes."""

    def __init__(self, text: str, path: str) -> None:
        super().__init__(text)
        self.path = path
        self.nodes = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        line = self.peek_event().start_mark.line + 1
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise YamlError(self.path, line, f"too many values: a file may hold at most {MAX_YAML_NODES:,}")
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise YamlError(self.path, line, f"nested more than {MAX_NESTING} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Builder:
    """Plain data from composed nodes, with the line of every location.

    An alias (``*rack``) shares its anchor's node, so it is built again at each use:
    every value built counts against :data:`MAX_YAML_NODES` and every level against
    :data:`MAX_NESTING`, which stops an alias bomb after a bounded amount of work and a
    recursive alias (``&a [*a]``) at once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines: dict[Loc, int] = {}
        self.built = 0
        self.constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, message: str) -> YamlError:
        return YamlError(self.path, node.start_mark.line + 1, message)

    def build(self, node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
        lines.setdefault(loc, node.start_mark.line + 1)
        self.built += 1
        if self.built > MAX_YAML_NODES:
            raise self.fail(node, f"too many values once aliases are expanded: a file may hold at most {MAX_YAML_NODES:,}")
        if len(loc) > MAX_NESTING:
            raise self.fail(node, f"nested more than {MAX_NESTING} levels deep once aliases are expanded")
        if node.tag not in PLAIN_TAGS:
            raise self.fail(
                node,
                f"the tag {_shown_tag(node.tag)} is not allowed (chapter files hold plain text, numbers, "
                "true/false, lists and mappings)",
            )
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            self.constructor.flatten_mapping(node)
            for key_node, value_node in node.value:
                key = self.build(key_node, loc + ("<key>",), {})
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    raise self.fail(key_node, "a key must be a plain word or number")
                if key in out:
                    first = lines.get(loc + (key,), "?")
                    raise self.fail(key_node, f"duplicate key {key!r} (first given on line {first})")
                lines[loc + (key,)] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, loc + (key,), lines)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                lines[loc + (i,)] = item.start_mark.line + 1
                items.append(self.build(item, loc + (i,), lines))
            return items
        if node.tag in (_CORE + "int", _CORE + "float") and len(node.value) > MAX_FILE_NUMBER_CHARS:
            raise self.fail(node, f"a number of {len(node.value)} characters (at most {MAX_FILE_NUMBER_CHARS})")
        try:
            return self.constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # e.g. a date with month 13
            raise self.fail(node, f"cannot read {node.value!r} as {_shown_tag(node.tag)}: {exc}") from None


def _char_at(text: str, mark: yaml.Mark) -> str:
    lines = text.splitlines()
    if mark.line < len(lines) and mark.column < len(lines[mark.line]):
        return lines[mark.line][mark.column]
    return ""


def load_text(text: str, path: str = "<text>") -> LocatedYaml:
    try:
        loader = _BoundedLoader(text, path)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "not valid YAML"
        if mark and "cannot start any token" in problem and _char_at(text, mark) == "\t":
            problem = "found a tab, which cannot start any token (indent with spaces)"
        if "maximum nesting depth" in problem:  # libyaml's own limit, met while reading ahead
            raise YamlError(path, line, f"nested more than {MAX_NESTING} levels deep") from None
        raise YamlError(path, line, f"YAML syntax: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(path, 1, f"YAML syntax: {exc}") from None
    if node is None:
        return LocatedYaml(None, {(): 1}, path)
    builder = _Builder(path)
    try:
        data = builder.build(node, (), builder.lines)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise YamlError(path, mark.line + 1 if mark else 1, f"YAML: {exc.problem}") from None
    return LocatedYaml(data, builder.lines, path)


def read_yaml_text(path: str | Path) -> str:
    """A YAML file's text, within the size limit (:class:`YamlError` if it cannot be read)."""
    try:
        return read_text(path, MAX_YAML_BYTES)
    except UserFileError as exc:
        raise YamlError(exc.path, exc.line or 1, exc.message) from None


def load_file(path: str | Path) -> LocatedYaml:
    return load_text(read_yaml_text(path), str(path))
