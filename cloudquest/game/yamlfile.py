"""Reading YAML the way a chapter author needs: safely, with line numbers, strictly.

Built on PyYAML's safe composer (no arbitrary tags, no code), then turned into plain
Python objects while recording the line of every mapping key and list item, so a
validation error deep in a chapter can be reported as ``FILE:LINE``. Duplicate keys,
which YAML itself silently resolves by keeping the last, are errors here: they are
almost always a copy-paste slip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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


def _build(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: str, constructor: yaml.SafeLoader) -> Any:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        constructor.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = _build(key_node, loc + ("<key>",), {}, path, constructor)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise YamlError(path, key_node.start_mark.line + 1, "a key must be a plain word or number")
            if key in out:
                first = lines.get(loc + (key,), "?")
                raise YamlError(
                    path, key_node.start_mark.line + 1, f"duplicate key {key!r} (first given on line {first})"
                )
            lines[loc + (key,)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, loc + (key,), lines, path, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[loc + (i,)] = item.start_mark.line + 1
            items.append(_build(item, loc + (i,), lines, path, constructor))
        return items
    return constructor.construct_object(node, deep=True)


def load_text(text: str, path: str = "<text>") -> LocatedYaml:
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "not valid YAML"
        raise YamlError(path, line, f"YAML syntax: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(path, 1, f"YAML syntax: {exc}") from None
    if node is None:
        return LocatedYaml(None, {(): 1}, path)
    lines: dict[Loc, int] = {}
    constructor = yaml.SafeLoader("")
    try:
        data = _build(node, (), lines, path, constructor)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise YamlError(path, mark.line + 1 if mark else 1, f"YAML: {exc.problem}") from None
    return LocatedYaml(data, lines, path)


def load_file(path: str | Path) -> LocatedYaml:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise YamlError(str(p), 1, "file is not UTF-8 text") from None
    except OSError as exc:
        raise YamlError(str(p), 1, f"cannot read the file: {exc.strerror or exc}") from None
    return load_text(text, str(p))
