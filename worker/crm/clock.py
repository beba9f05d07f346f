"""A CRM's clock as its answers show it: the HTTP ``Date`` header (RFC 9110 §6.6.1, whole seconds).

Change cursors and read windows are positions on the CRM's clock (``SystemModstamp``,
``lastmodifieddate``); a worker whose own clock is minutes off would start a first cursor, or close a
window, minutes early or late (tests/faults/test_a_worker_with_a_skewed_clock.py). Both adapters keep
the offset the last answer showed and correct their own clock by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime

CLOCK_RESOLUTION_S = 2.0  # how far apart a Date header can show two agreeing clocks


def offset_from_headers(headers: Mapping[str, str], own_now: float) -> float | None:
    """The server's clock minus ours (seconds) from an answer's ``Date``; None without a usable one."""
    raw = next((v for k, v in headers.items() if k.lower() == "date"), None)
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw).timestamp() - own_now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def corrected(own_now: float, offset: float | None) -> float:
    """The server's "now" (epoch seconds): ours moved by ``offset`` when it is more than the Date
    header's resolution (within that, the clocks agree and ours is the finer one)."""
    if offset is None or abs(offset) <= CLOCK_RESOLUTION_S:
        return own_now
    return own_now + offset
