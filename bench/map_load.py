"""How long a definition map takes to load, and how fast a YAML alias bomb is refused.

Targets (issue 11): the shipped maps load in milliseconds (limit 50 ms each); a valid 10 MB map
(the shipped default plus generated fields) loads within 15 s (it took 81 s and 1 GB before the
loader was rebuilt on the parser's event stream); the 342-byte alias bomb is refused within 100 ms.
Prints CPU seconds (process time, so other load on the machine skews it less) and the ratio to each
limit; ``load`` is YAML to located data, ``compile`` the whole ``load_map`` (pydantic and checks).

    python bench/map_load.py [--megabytes 10]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.errors import MappingError
from worker.mapping import compile_text
from worker.mapping.yamlsource import load_located

ROOT = Path(__file__).resolve().parent.parent
BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def big_map(megabytes: float) -> str:
    """The default map with generated two-way fields until it is ``megabytes`` long."""
    text = (ROOT / "mappings" / "default.yaml").read_text(encoding="utf-8")
    rows: list[str] = []
    size, i = len(text), 0
    while size < megabytes * 1_000_000:
        row = f"  - {{id: f{i}, salesforce: F{i}__c, hubspot: f{i}, sync: two_way, conflict: newest_wins}}\n"
        rows.append(row)
        size += len(row)
        i += 1
    return text.replace("fields:\n", "fields:\n" + "".join(rows), 1)


def timed(what: Callable[[], Any]) -> float:
    start = time.process_time()
    with contextlib.suppress(MappingError):
        what()
    return time.process_time() - start


def report(name: str, seconds: float, limit: float) -> None:
    print(f"{name:<40} {seconds * 1000:10.1f} ms   {seconds / limit:6.2f} of the {limit * 1000:.0f} ms limit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=10.0)
    args = parser.parse_args()
    for name in ("default.yaml", "sirius-waterfall.yaml"):
        text = (ROOT / "mappings" / name).read_text(encoding="utf-8")
        report(f"compile {name}", timed(lambda text=text, name=name: compile_text(text, name)), 0.050)
    bomb = timed(lambda: load_located(BOMB, "bomb.yaml"))
    report(f"refuse the {len(BOMB)}-byte alias bomb", bomb, 0.100)
    text = big_map(args.megabytes)
    label = f"{len(text) / 1_000_000:.1f} MB map"
    report(f"load {label}", timed(lambda: load_located(text, "big.yaml")), 15.0)
    report(f"compile {label}", timed(lambda: compile_text(text, "big.yaml")), 15.0)


if __name__ == "__main__":
    main()
