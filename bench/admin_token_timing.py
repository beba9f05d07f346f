"""Timing probe of the admin API's token check (issue 12): a wrong bearer token that shares all but its
last byte with the right one must take as long to refuse as one wrong from its first byte, or an
attacker could find the token byte by byte from answer times.

Measured in process on the check itself (``worker.ops.web._authorised`` on real Starlette requests),
where a byte-by-byte comparison would show; over HTTP the network's noise would hide it. Rounds
alternate the two cases so drifting load hits both. Prints the median nanoseconds per check of each
case and their ratio against the limit (1.00 ± 0.05), then the same for a control that compares byte
by byte (it must show a clear ratio, or the probe could not see a leak). It sees a comparison done
character by character in Python, not one of a few nanoseconds (a C ``==``) under the ~0.5 µs of
header handling around it. A statistical figure, not a test: the suite's test asserts instead that
every token path calls ``hmac.compare_digest``.

    python bench/admin_token_timing.py [--checks 200000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.requests import Request

from worker.ops.web import _authorised

TOKEN = "bench-admin-token-" + "0123456789abcdef" * 4
LIMIT = 0.05


def request(token: str) -> Request:
    header = f"Bearer {token}".encode("latin-1")
    return Request(
        {"type": "http", "method": "GET", "path": "/admin/status", "headers": [(b"authorization", header)]}
    )


def leaky(req: Request, token: str) -> bool:
    """The control: the same header handling with a byte-by-byte comparison that stops at the first
    difference (what the probe must be able to see)."""
    scheme, _, given = req.headers.get("authorization", "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or len(given) != len(token):
        return False
    return all(a == b for a, b in zip(given, token, strict=True))


def per_check_ns(check: Callable[[Request, str], bool], req: Request, checks: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(checks):
        check(req, TOKEN)
    return (time.perf_counter_ns() - start) / checks


def ratio_of(
    check: Callable[[Request, str], bool], first: Request, last: Request, args: Any
) -> tuple[float, float]:
    early: list[float] = []
    late: list[float] = []
    for _ in range(args.rounds):
        early.append(per_check_ns(check, first, args.checks))
        late.append(per_check_ns(check, last, args.checks))
    return statistics.median(early), statistics.median(late)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    first = request("X" + TOKEN[1:])  # wrong at its first byte
    last = request(TOKEN[:-1] + "X")  # wrong at its last byte only
    assert not _authorised(first, TOKEN) and not _authorised(last, TOKEN)
    assert _authorised(request(TOKEN), TOKEN)
    a, b = ratio_of(_authorised, first, last, args)
    ratio = b / a
    print(f"token check, wrong first byte: {a:,.1f} ns; wrong last byte only: {b:,.1f} ns")
    print(
        f"token check timing ratio (last/first wrong byte): {ratio:.3f} "
        f"(limit 1.00 ± {LIMIT:.2f}: {abs(ratio - 1) / LIMIT:.2f} of the allowance)"
    )
    ca, cb = ratio_of(leaky, first, last, args)
    print(
        f"control, a byte-by-byte comparison: {ca:,.1f} ns vs {cb:,.1f} ns, "
        f"ratio {cb / ca:.3f} (the probe sees it)"
    )


if __name__ == "__main__":
    main()
