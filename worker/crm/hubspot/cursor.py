"""Pure change-cursor and search-window logic for reading HubSpot changes. No I/O.

Why it looks like this (facts from shared/reference/hubspot-api.md §3):
- CRM search is eventually consistent: a changed record can take "up to 30 seconds" to become
  searchable [B]. So a read window closes ``index_lag_margin_ms`` before now, and each poll looks
  back ``lookback_ms`` before the cursor to catch records the index surfaced late. Lookback records
  already delivered by this process are skipped (``Delivered``); otherwise delivery is at-least-once.
- Search pages past 10,000 results are a 400 [B]. Offsets are also unsafe while records change (a
  record leaving the window shifts later offsets and one would be skipped). So every page is a fresh
  query that starts at the last key read — the window is split at each page boundary — and ``after``
  never grows: no query can reach the ceiling and nothing is dropped.
- Keys are ``(lastmodifieddate ms, id)``. HubSpot sorts by one property [C], so records sharing the
  last millisecond of a page are not consumed from that page but re-read at the head of the next
  one; if a whole page shares one millisecond (a bulk write), that millisecond is walked by id
  (``hs_object_id`` ascending) before moving on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MODIFIED_PROPERTY = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}


@dataclass(frozen=True, order=True)
class Cursor:
    """The last change delivered: ``(modified_ms, object_id)``, compared as a tuple."""

    modified_ms: int
    object_id: int

    def encode(self) -> str:
        return f"{self.modified_ms}:{self.object_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        ms, _, oid = text.partition(":")
        return cls(int(ms), int(oid or 0))


@dataclass(frozen=True)
class WindowPolicy:
    """How far behind now a window closes, how far before the cursor it reopens, and the page size."""

    index_lag_margin_ms: int = 30_000
    lookback_ms: int = 60_000
    page_size: int = 200
    max_results: int = 10_000  # HubSpot's per-query ceiling; pages never reach it (see module doc)


@dataclass(frozen=True)
class Window:
    """Inclusive ``[start_ms, end_ms]`` on the modified-time property."""

    start_ms: int
    end_ms: int


def open_window(cursor: Cursor | None, now_ms: int, policy: WindowPolicy) -> Window | None:
    """The window for one poll, or None when there is nothing old enough to read yet."""
    end = now_ms - policy.index_lag_margin_ms
    start = 0 if cursor is None else max(0, cursor.modified_ms - policy.lookback_ms)
    if end < start:
        return None
    return Window(start, end)


def iso_to_ms(value: str) -> int:
    if value.isdigit():
        return int(value)
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).timestamp() * 1000)


def record_key(record: Mapping[str, Any], object_type: str = "contacts") -> tuple[int, int]:
    """``(modified ms, id)`` of a raw v3 record (from its modified property, else ``updatedAt``)."""
    props = record.get("properties") or {}
    raw = props.get(MODIFIED_PROPERTY.get(object_type, "hs_lastmodifieddate")) or props.get(
        "hs_lastmodifieddate"
    )
    ms = iso_to_ms(str(raw)) if raw else iso_to_ms(str(record["updatedAt"]))
    return ms, int(record["id"])


@dataclass(frozen=True)
class PageQuery:
    """One search request's filter/sort part. ``tie_ms`` set = walking one millisecond by id."""

    start_ms: int
    start_inclusive: bool
    end_ms: int
    tie_ms: int | None = None
    after_id: int = 0

    def body(self, prop: str, properties: Sequence[str], limit: int) -> dict[str, Any]:
        if self.tie_ms is not None:
            filters = [
                {"propertyName": prop, "operator": "EQ", "value": str(self.tie_ms)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(self.after_id)},
            ]
            sorts = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        else:
            filters = [
                {
                    "propertyName": prop,
                    "operator": "GTE" if self.start_inclusive else "GT",
                    "value": str(self.start_ms),
                },
                {"propertyName": prop, "operator": "LTE", "value": str(self.end_ms)},
            ]
            sorts = [{"propertyName": prop, "direction": "ASCENDING"}]
        return {
            "filterGroups": [{"filters": filters}],
            "sorts": sorts,
            "properties": list(properties),
            "limit": limit,
        }


@dataclass(frozen=True)
class PageOutcome:
    """What a page means: records to deliver now, and the next query (None when the window is done)."""

    deliver: list[dict[str, Any]]
    next_query: PageQuery | None


def first_query(window: Window) -> PageQuery:
    return PageQuery(window.start_ms, True, window.end_ms)


def after_page(
    query: PageQuery,
    records: Sequence[dict[str, Any]],
    *,
    page_size: int,
    object_type: str = "contacts",
    has_more: bool,
) -> PageOutcome:
    """Decide what a page delivers and where the next page starts (the split rule in the module doc)."""
    if query.tie_ms is not None:
        if not has_more or not records:
            # The tied millisecond is exhausted: continue strictly after it.
            return PageOutcome(list(records), PageQuery(query.tie_ms, False, query.end_ms))
        last_id = record_key(records[-1], object_type)[1]
        return PageOutcome(
            list(records), PageQuery(query.start_ms, True, query.end_ms, query.tie_ms, last_id)
        )
    if not has_more:
        return PageOutcome(list(records), None)
    keys = [record_key(r, object_type) for r in records]
    last_ms = keys[-1][0]
    if keys[0][0] == last_ms:
        # A whole page in one millisecond (a bulk write): walk that millisecond by id. Also the guard
        # that the same query is never repeated when nothing on the page could be consumed.
        return PageOutcome([], PageQuery(last_ms, True, query.end_ms, last_ms, 0))
    keep = [r for r, k in zip(records, keys, strict=True) if k[0] < last_ms]
    return PageOutcome(keep, PageQuery(last_ms, True, query.end_ms))


class Delivered:
    """A bounded memory of ``(id, modified ms)`` keys already delivered, to skip lookback re-reads.

    In-process only: a poll run by another process may deliver a lookback record again, which the
    at-least-once contract allows.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._keys: dict[tuple[int, int], None] = {}

    def add(self, key: tuple[int, int]) -> None:
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            del self._keys[next(iter(self._keys))]

    def __contains__(self, key: object) -> bool:
        return key in self._keys


def should_deliver(
    key: tuple[int, int], cursor: Cursor | None, lookback_ms: int, delivered: Delivered
) -> bool:
    """Past the cursor: yes. At or before it: only a lookback-zone record not delivered before."""
    if cursor is None or Cursor(*key) > cursor:
        return True
    return lookback_ms > 0 and key[0] >= cursor.modified_ms - lookback_ms and key not in delivered


def advance(
    cursor: Cursor | None, records: Sequence[Mapping[str, Any]], object_type: str = "contacts"
) -> Cursor | None:
    """The cursor after delivering ``records`` (never moves backwards)."""
    best = cursor
    for r in records:
        ms, oid = record_key(r, object_type)
        c = Cursor(ms, oid)
        if best is None or c > best:
            best = c
    return best
