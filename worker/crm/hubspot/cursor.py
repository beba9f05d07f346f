"""Pure change-cursor and search-window logic for reading HubSpot changes. No I/O.

Why it looks like this (facts from shared/reference/hubspot-api.md §3):
- CRM search is eventually consistent: a changed record can take "up to 30 seconds" to become
  searchable [B]. So a read window closes ``index_lag_margin_ms`` before now. ``lookback_ms`` is the
  longest index lag tolerated (a safety net beyond the documented 30 s): a record older than the
  cursor can only have been invisible to the previous poll, run at ``now_prev``, if it changed after
  ``now_prev - lookback_ms``. The cursor stores the previous window's end (``now_prev - margin``), so
  each poll looks back only to ``min(cursor, now_prev - lookback_ms)`` — what could have become
  visible since — instead of a fixed ``lookback_ms`` before the cursor. Lookback records already
  delivered are skipped through a ``DeliveredMemory`` (in-process ``Delivered``, or the Redis-shared
  ``worker.state.delivered.RedisDelivered`` so a new process does not re-deliver); otherwise
  delivery is at-least-once.
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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

MODIFIED_PROPERTY = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}


@dataclass(frozen=True, order=True)
class Cursor:
    """The last change delivered: ``(modified_ms, object_id)``, compared as a tuple; plus the end of the
    window that delivered it (``window_end_ms``, not compared), which bounds the next lookback."""

    modified_ms: int
    object_id: int
    window_end_ms: int | None = field(default=None, compare=False)

    def encode(self) -> str:
        base = f"{self.modified_ms}:{self.object_id}"
        return base if self.window_end_ms is None else f"{base}:{self.window_end_ms}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        parts = text.split(":")
        end = int(parts[2]) if len(parts) > 2 and parts[2] else None
        return cls(int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1] else 0, end)

    def with_window_end(self, end_ms: int) -> Cursor:
        return Cursor(self.modified_ms, self.object_id, end_ms)


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


def lookback_start(cursor: Cursor, policy: WindowPolicy) -> int:
    """Oldest modified time a record missed by the previous poll can have (see module doc).

    With the previous window's end known, the previous poll ran at ``end + margin``; a record changed
    before ``that - lookback_ms`` was visible to it. Without it (a cursor from an older release), fall
    back to ``lookback_ms`` before the cursor.
    """
    if policy.lookback_ms <= 0:
        return cursor.modified_ms
    if cursor.window_end_ms is None:
        return max(0, cursor.modified_ms - policy.lookback_ms)
    previous_poll = cursor.window_end_ms + policy.index_lag_margin_ms
    return max(0, min(cursor.modified_ms, previous_poll - policy.lookback_ms))


def open_window(cursor: Cursor | None, now_ms: int, policy: WindowPolicy) -> Window | None:
    """The window for one poll, or None when there is nothing old enough to read yet."""
    end = now_ms - policy.index_lag_margin_ms
    start = 0 if cursor is None else lookback_start(cursor, policy)
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


class DeliveredMemory(Protocol):
    """Which ``(modified ms, id)`` keys were delivered already (only asked about lookback-zone keys)."""

    def seen(self, keys: Sequence[tuple[int, int]]) -> set[tuple[int, int]]: ...

    def remember(self, keys: Iterable[tuple[int, int]], *, forget_before_ms: int) -> None: ...


class Delivered:
    """A bounded in-process memory of delivered keys. A poll run by another process may deliver a
    lookback record again (at-least-once); use ``worker.state.delivered.RedisDelivered`` to share it."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._keys: dict[tuple[int, int], None] = {}

    def add(self, key: tuple[int, int]) -> None:
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            del self._keys[next(iter(self._keys))]

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def seen(self, keys: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        return {k for k in keys if k in self._keys}

    def remember(self, keys: Iterable[tuple[int, int]], *, forget_before_ms: int) -> None:
        for k in keys:
            self.add(k)


def should_deliver(
    key: tuple[int, int], cursor: Cursor | None, zone_start_ms: int | None, seen: set[tuple[int, int]]
) -> bool:
    """Past the cursor: yes. At or before it: only a lookback-zone record (modified at or after
    ``zone_start_ms``; None = no lookback) that is not in ``seen`` (already delivered)."""
    if cursor is None or Cursor(*key) > cursor:
        return True
    if Cursor(*key) == cursor:
        return False  # the cursor's own record was delivered by definition
    return zone_start_ms is not None and key[0] >= zone_start_ms and key not in seen


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
