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
        summary, _, rest = doc.partition("\n\n")
        gap = rest.removeprefix("Not faithful:").strip()
        lines.append(f"| {method} | `{path}` | {' '.join(summary.split())} | {' '.join(gap.split())} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
