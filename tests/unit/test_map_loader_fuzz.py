"""Hypothesis over the definition map loader: any text — random, YAML-shaped, a shipped map with its
text or its structure mutated — either compiles to a map or is refused with a ``MappingError`` whose
every problem says where (``file:line: …`` or ``file: …``). Never another exception."""

from __future__ import annotations

import re
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import MAPPINGS
from tests.fuzzing import fuzz
from worker.errors import MappingError
from worker.mapping import CompiledMap, compile_text

NAME = "fuzzed.yaml"
LOCATED = re.compile(rf"^{re.escape(NAME)}(:\d+)?: \S")
DEFAULT_TEXT = (MAPPINGS / "default.yaml").read_text()
DEFAULT_DATA: dict[str, Any] = yaml.safe_load(DEFAULT_TEXT)


def compiles_or_says_where(text: str) -> CompiledMap | None:
    try:
        return compile_text(text, NAME)
    except MappingError as exc:
        assert exc.problems, "a MappingError with no problem"
        for problem in exc.problems:
            assert LOCATED.match(problem), problem
        return None


yaml_bits = st.sampled_from(
    ["\n", "  ", "- ", ": ", "stage:", "values:", "id: mql", "&a ", "*a", "!!python/object:os.system ",
     "!!binary ", "{", "}", "[", "]", "'", '"', "#", "---", "...", "? ", "|", ">", "%YAML 1.2", "<<: *a",
     "\t", "\x00", "\ufeff", "1e400", "0x1F", "~", "null", "yes", "2026-01-01"]
)  # fmt: skip


@fuzz(120)
@given(st.one_of(st.text(max_size=300), st.lists(yaml_bits | st.text(max_size=5), max_size=40).map("".join)))
def test_any_text(text: str) -> None:
    compiles_or_says_where(text)


@fuzz(80)
@given(
    st.lists(
        st.tuples(st.integers(0, len(DEFAULT_TEXT)), st.integers(0, 40), yaml_bits | st.text(max_size=4)),
        min_size=1,
        max_size=4,
    )
)
def test_the_default_map_with_its_text_cut_and_spliced(edits: list[tuple[int, int, str]]) -> None:
    text = DEFAULT_TEXT
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut :]
    compiles_or_says_where(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=15),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(DEFAULT_DATA) if p]


def _mutate(data: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "replace":
        parent[last] = value
    elif how == "duplicate" and isinstance(parent, list):
        parent.append(parent[last])
    elif how == "unknown_key" and isinstance(parent, dict):
        parent["x_" + str(last)] = value
    return data


@fuzz(100)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(PATHS),
            st.sampled_from(["delete", "replace", "duplicate", "unknown_key"]),
            json_values,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_the_default_map_with_its_structure_mutated(
    mutations: list[tuple[tuple[Any, ...], str, Any]],
) -> None:
    data = yaml.safe_load(DEFAULT_TEXT)
    for path, how, value in mutations:
        try:
            data = _mutate(data, path, how, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    compiles_or_says_where(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def test_an_invisible_or_blank_key_is_named_quoted() -> None:
    """Found by the fuzzing above: a key of one no-break space read ``fuzzed.yaml:1:  : unknown key``."""
    for key, shown in (("\xa0", "'\\xa0'"), ("' '", "' '"), ("a.b", "'a.b'")):
        try:
            compile_text(f"{key}: 1\n", NAME)
        except MappingError as exc:
            assert any(p.startswith(f"{NAME}:1: {shown}: unknown key") for p in exc.problems), exc.problems
        else:
            raise AssertionError("compiled")


def test_the_shipped_map_compiles_through_the_same_path() -> None:
    """The oracle above is not vacuous: an unmutated map compiles."""
    assert compiles_or_says_where(DEFAULT_TEXT) is not None
    assert compiles_or_says_where(yaml.safe_dump(DEFAULT_DATA, sort_keys=False)) is not None
