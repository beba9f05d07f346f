"""Print the sandbox's coverage table (Markdown) from the route table and handler docstrings.

``python -m sandbox.hubspot.coverage`` — the table in docs/hubspot.md is generated with this.
"""

from __future__ import annotations

import inspect

from sandbox.hubspot.routes import ROUTES


def table() -> str:
    lines = ["| method | path | behaviour (sources) | not yet faithful |", "|---|---|---|---|"]
    for method, path, handler, _kind in ROUTES:
        doc = inspect.getdoc(handler) or ""
        summary, _, gap = doc.partition("Not faithful:")
        gap = " ".join(gap.split()) or "none known."
        lines.append(f"| {method} | `{path}` | {' '.join(summary.split())} | {gap} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
