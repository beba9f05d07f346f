"""The map loader refuses documents no definition map needs (alias bombs, deep nesting, huge files)
with one located problem, and still reads anchors, aliases and every YAML scalar a map uses."""

from __future__ import annotations

import pytest

from worker.mapping import yamlsource
from worker.mapping.yamlsource import load_located

BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_alias_bomb_is_refused_where_the_expansion_passes_the_cap() -> None:
    located = load_located(BOMB, "bomb.yaml")
    assert located.data is None
    assert located.problems == [
        "bomb.yaml:6: aliases expand to more than 100,000 values (nested aliases multiply): "
        "write the values out"
    ]


def test_too_many_aliases_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "MAX_ALIASES", 3)
    located = load_located("a: &x 1\nb: [*x, *x, *x, *x]\n", "m.yaml")
    assert located.problems == ["m.yaml:2: more than 3 aliases: write the values out"]


def test_deep_nesting_is_refused() -> None:
    text = "a: " + "[" * 40 + "]" * 40 + "\n"
    assert load_located(text, "m.yaml").problems == ["m.yaml:1: nested more than 32 levels deep"]


def test_oversized_text_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsource, "MAX_CHARS", 10)
    (problem,) = load_located("name: a-long-name\n", "m.yaml").problems
    assert problem.startswith("m.yaml: the map is longer than the limit of 10 characters")


def test_anchors_and_aliases_within_the_caps_are_read() -> None:
    located = load_located("a: &x {k: [1, true, null, 2.5, '7']}\nb: *x\n", "m.yaml")
    assert located.problems == []
    assert located.data == {"a": {"k": [1, True, None, 2.5, "7"]}, "b": {"k": [1, True, None, 2.5, "7"]}}
    assert located.line_of(("b", "k", 0)) == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: *nowhere\n", "m.yaml:1: a: alias *nowhere has no anchor &nowhere before it"),
        ("a: 1\n---\nb: 2\n", "m.yaml:2: a map is one YAML document: remove the second '---' document"),
        ("a: &x [*x]\n", "m.yaml:1: a[0]: an alias refers to itself (a recursive structure cannot be a map)"),
        (
            "a: !!python/object:os.system {}\n",
            "m.yaml:1: a: YAML tag 'tag:yaml.org,2002:python/object:os.system' "
            "is not supported in a definition map",
        ),
        (
            "a: {x: 1}\nb:\n  <<: {y: 2}\n",
            "m.yaml:3: b: YAML merge keys (<<) are not supported: write the keys out",
        ),
        ("a: 1\na: 2\n", "m.yaml:2: a: duplicate key (an earlier 'a' at line 1 would be lost)"),
        ("", "m.yaml:1: the file is empty"),
    ],
)
def test_structural_problems_are_located(text: str, problem: str) -> None:
    assert load_located(text, "m.yaml").problems == [problem]
