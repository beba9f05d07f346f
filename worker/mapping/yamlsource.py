"""YAML → plain data plus the line of every key, so errors can say ``file:line: key: problem``.

The document is built in one pass over the parser's event stream (libyaml's C parser when PyYAML has
it), not through PyYAML's node graph: composing nodes and re-walking them cost 81 s and 1 GB for a
valid 10 MB map, mostly in the pure-Python scanner and one loader built per scalar. The same pass
enforces the caps a definition map never needs to reach — size, nesting depth, alias count and the
values aliases would expand to — so a YAML "billion laughs" is refused after a few hundred events
instead of growing without bound.

Duplicate keys, which PyYAML accepts silently, are reported: a map where a later key shadows an
earlier one is a map that does not say what its author thinks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]

MAX_CHARS = 16 * 1024 * 1024
"""Largest map text accepted; the shipped maps are under 20 KB."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and sequences; a map needs about six levels."""
MAX_ALIASES = 1_000
"""Most ``*alias`` references in one map."""
MAX_ALIAS_EXPANSION = 100_000
"""Most values all aliases together may stand for once expanded (a nested alias counts in full)."""

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STANDARD_TAG = "tag:yaml.org,2002:"
_STR_TAG = _STANDARD_TAG + "str"
_ALLOWED_TAGS = frozenset(
    {"!", "?"} | {_STANDARD_TAG + t for t in ("str", "int", "float", "bool", "null", "map", "seq")}
)


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
            text = str(part)
            if not text or not text.isprintable() or text != text.strip() or any(c in text for c in ".[]"):
                text = repr(text)  # a key that would not be seen as written (blank, invisible, dotted)
            out += f".{text}" if out else text
    return out or "(top level)"


class _RefusedError(Exception):
    """A cap was reached: building stops at once, with one located problem."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


def load_located(text: str, filename: str) -> Located:
    """Parse ``text``; a YAML syntax error or a cap reached becomes a located problem."""
    located = Located(data=None, filename=filename)
    if len(text) > MAX_CHARS:
        located.problems.append(
            f"{filename}: the map is longer than the limit of {MAX_CHARS:,} characters "
            "(a definition map is a few kilobytes: is this the right file?)"
        )
        return located
    builder = _Builder(located)
    try:
        builder.document(yaml.parse(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return Located(data=None, filename=filename, problems=[f"{filename}{line}: invalid YAML: {problem}"])
    except _RefusedError as exc:
        return Located(data=None, filename=filename, problems=[f"{filename}:{exc.line}: {exc}"])
    return located


class _Builder:
    """Builds Python values from parser events, recording lines and enforcing the caps."""

    def __init__(self, located: Located) -> None:
        self.located = located
        self.anchors: dict[str, tuple[Any, int] | None] = {}  # None while the anchored value is built
        self.aliases = 0
        self.expanded = 0
        self.resolver: Any = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()
        self.plain_tags: dict[str, str] = {}

    def document(self, events: Iterator[Any]) -> None:
        next(events)  # StreamStartEvent
        first = next(events)
        if isinstance(first, yaml.StreamEndEvent):
            self.located.problems.append(f"{self.located.filename}:1: the file is empty")
            return
        start = next(events)  # the root node's first event
        self.located.lines[()] = start.start_mark.line + 1
        self.located.data, _ = self.value(start, events, (), 1)
        next(events)  # DocumentEndEvent
        extra = next(events)
        if not isinstance(extra, yaml.StreamEndEvent):
            raise _RefusedError(
                extra.start_mark.line + 1, "a map is one YAML document: remove the second '---' document"
            )

    def problem(self, event: Any, path: Path, message: str) -> None:
        where = f"{self.located.filename}:{event.start_mark.line + 1}"
        self.located.problems.append(
            f"{where}: {format_path(path)}: {message}" if path else f"{where}: {message}"
        )

    def value(self, event: Any, events: Iterator[Any], path: Path, depth: int) -> tuple[Any, int]:
        """The value starting at ``event`` and how many values it counts (for the expansion cap)."""
        if isinstance(event, yaml.AliasEvent):
            return self.alias(event, path)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.anchors[anchor] = None
        tag = event.tag
        if tag is not None and tag not in _ALLOWED_TAGS:
            self.problem(event, path, f"YAML tag {tag!r} is not supported in a definition map")
            self.skip(event, events)
            result: tuple[Any, int] = (None, 1)
        elif isinstance(event, yaml.MappingStartEvent):
            result = self.mapping(event, events, path, depth)
        elif isinstance(event, yaml.SequenceStartEvent):
            result = self.sequence(event, events, path, depth)
        else:
            result = (self.scalar(event, path), 1)
        if anchor is not None:
            self.anchors[anchor] = result
        return result

    def alias(self, event: Any, path: Path) -> tuple[Any, int]:
        line = event.start_mark.line + 1
        if event.anchor not in self.anchors:
            raise _RefusedError(
                line, f"{format_path(path)}: alias *{event.anchor} has no anchor &{event.anchor} before it"
            )
        target = self.anchors[event.anchor]
        if target is None:
            self.problem(event, path, "an alias refers to itself (a recursive structure cannot be a map)")
            return None, 1
        self.aliases += 1
        self.expanded += target[1]
        if self.aliases > MAX_ALIASES:
            raise _RefusedError(line, f"more than {MAX_ALIASES} aliases: write the values out")
        if self.expanded > MAX_ALIAS_EXPANSION:
            raise _RefusedError(
                line,
                f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} values "
                "(nested aliases multiply): write the values out",
            )
        return target

    def _deeper(self, event: Any, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _RefusedError(event.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")

    def mapping(
        self, event: Any, events: Iterator[Any], path: Path, depth: int
    ) -> tuple[dict[str, Any], int]:
        self._deeper(event, depth)
        out: dict[str, Any] = {}
        count = 1
        lines = self.located.lines
        for key_event in events:
            if isinstance(key_event, yaml.MappingEndEvent):
                return out, count
            key_line = key_event.start_mark.line + 1
            if isinstance(key_event, yaml.ScalarEvent) and self.tag_of(key_event) == _STANDARD_TAG + "merge":
                self.problem(key_event, path, "YAML merge keys (<<) are not supported: write the keys out")
                self.value(next(events), events, path, depth + 1)
                continue
            key, _ = self.value(key_event, events, path, depth + 1)
            value_event = next(events)
            if not isinstance(key, str | int | bool) or key is None:
                self.located.problems.append(f"{self.located.filename}:{key_line}: keys must be text")
                self.value(value_event, events, path, depth + 1)
                continue
            key = str(key) if not isinstance(key, str) else key
            child = (*path, key)
            if key in out:
                self.located.problems.append(
                    f"{self.located.filename}:{key_line}: {format_path(child)}: "
                    f"duplicate key (an earlier '{key}' at line {lines.get(child)} would be lost)"
                )
                self.value(value_event, events, child, depth + 1)
                continue
            lines[child] = key_line
            out[key], size = self.value(value_event, events, child, depth + 1)
            count += size
        raise AssertionError("the parser ended a document inside a mapping")  # pragma: no cover

    def sequence(self, event: Any, events: Iterator[Any], path: Path, depth: int) -> tuple[list[Any], int]:
        self._deeper(event, depth)
        items: list[Any] = []
        count = 1
        lines = self.located.lines
        for item_event in events:
            if isinstance(item_event, yaml.SequenceEndEvent):
                return items, count
            child = (*path, len(items))
            lines[child] = item_event.start_mark.line + 1
            item, size = self.value(item_event, events, child, depth + 1)
            items.append(item)
            count += size
        raise AssertionError("the parser ended a document inside a sequence")  # pragma: no cover

    def skip(self, event: Any, events: Iterator[Any]) -> None:
        """Consume the rest of a refused collection."""
        if not isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            return
        level = 1
        for inner in events:
            if isinstance(inner, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                level += 1
            elif isinstance(inner, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                level -= 1
                if level == 0:
                    return

    def tag_of(self, event: Any) -> str:
        if event.tag is not None and event.tag != "!":
            return str(event.tag)
        plain = event.implicit[0] and event.tag is None
        if not plain:
            return _STR_TAG
        tag = self.plain_tags.get(event.value)
        if tag is None:
            tag = self.resolver.resolve(yaml.ScalarNode, event.value, (True, False))
            self.plain_tags[event.value] = tag
        return tag

    def scalar(self, event: Any, path: Path) -> Any:
        tag = self.tag_of(event)
        if tag == _STR_TAG:
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problem(event, path, f"invalid value: {getattr(exc, 'problem', None) or exc}")
            return None
        finally:
            self.constructor.constructed_objects.pop(node, None)
