"""YAML → plain data plus the line of every key, so errors can say ``file:line: key: problem``.

PyYAML's safe composer gives nodes with marks; we walk them once, building the Python value and a
table from the key path (``("stage", "values", 3, "hubspot")``) to the 1-based line it sits on.
Duplicate keys, which PyYAML accepts silently, are reported: a map where a later key shadows an
earlier one is a map that does not say what its author thinks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class Located:
    """A loaded YAML document: the data, where each key path came from, and structural problems."""

    data: Any
    filename: str
    lines: dict[Path, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest located ancestor."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), None)

    def where(self, path: Path) -> str:
        """``file:line: a.b[2].c`` for a message."""
        line = self.line_of(path)
        location = f"{self.filename}:{line}" if line is not None else self.filename
        return f"{location}: {format_path(path)}" if path else location


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def load_located(text: str, filename: str) -> Located:
    """Parse ``text``; a YAML syntax error becomes a located problem rather than an exception."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return Located(data=None, filename=filename, problems=[f"{filename}{line}: invalid YAML: {problem}"])
    located = Located(data=None, filename=filename)
    if node is None:
        located.problems.append(f"{filename}:1: the file is empty")
        return located
    located.lines[()] = node.start_mark.line + 1
    located.data = _build(node, (), located)
    return located


def _build(node: yaml.Node, path: Path, located: Located) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _build(key_node, path, located)
            if not isinstance(key, str | int | bool) or key is None:
                located.problems.append(
                    f"{located.filename}:{key_node.start_mark.line + 1}: keys must be text"
                )
                continue
            key = str(key) if not isinstance(key, str) else key
            child = (*path, key)
            if key in out:
                located.problems.append(
                    f"{located.filename}:{key_node.start_mark.line + 1}: {format_path(child)}: "
                    f"duplicate key (an earlier '{key}' at line {located.lines.get(child)} would be lost)"
                )
                continue
            located.lines[child] = key_node.start_mark.line + 1
            out[key] = _build(value_node, child, located)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = (*path, index)
            located.lines[child] = item.start_mark.line + 1
            items.append(_build(item, child, located))
        return items
    # A scalar: let the safe constructor resolve its tag (bool, int, null, str …).
    constructor = yaml.SafeLoader("")
    try:
        return constructor.construct_object(node, deep=True)
    finally:
        constructor.dispose()
