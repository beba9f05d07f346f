"""Change-cursor logic, pure: a compound ``(SystemModstamp, Id)`` watermark with a lookback window.

A strict ``SystemModstamp > t`` loses rows that share ``t`` with the last row read (bulk updates stamp
many rows with one second; supaglue-labs/supaglue#532), so the position is the pair ``(t, Id)`` and the
query asks for ``SystemModstamp > t OR (SystemModstamp = t AND Id > id)`` ordered by both. Rows can be
committed later with a ``SystemModstamp`` older than rows already read (long transactions;
airbytehq/airbyte#27146), so each poll starts ``lookback`` earlier than the watermark; re-reading is
harmless because writes downstream are idempotent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_sf_datetime(value: str) -> dt.datetime:
    """``2026-01-01T00:00:00.000+0000`` (REST rendering) to an aware UTC datetime."""
    text = value.replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


@dataclass(frozen=True, order=True)
class Watermark:
    """The last change position handled: ``(SystemModstamp, Id)``; ``Id`` "" means "before any id"."""

    modstamp: dt.datetime = EPOCH
    record_id: str = ""

    def to_json(self) -> dict[str, str]:
        return {"modstamp": self.modstamp.isoformat(), "record_id": self.record_id}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Watermark:
        return cls(parse_sf_datetime(str(data["modstamp"])), str(data.get("record_id", "")))


def poll_start(mark: Watermark, lookback: dt.timedelta) -> Watermark:
    """Where a poll starts reading: the watermark itself, or ``lookback`` before it (from any id)."""
    if lookback <= dt.timedelta(0) or mark.modstamp == EPOCH:
        return mark
    return Watermark(max(EPOCH, mark.modstamp - lookback), "")


def position_of(record: Mapping[str, Any]) -> Watermark:
    return Watermark(parse_sf_datetime(str(record["SystemModstamp"])), str(record["Id"]))


def advance(mark: Watermark, records: Iterable[Mapping[str, Any]]) -> Watermark:
    """The watermark after handling ``records``: never moves backwards (lookback re-reads older rows)."""
    best = mark
    for rec in records:
        pos = position_of(rec)
        best = max(best, pos)
    return best


def after_condition(start: Watermark) -> tuple[str, list[Any]]:
    """SOQL condition (``format_soql`` template and args) for rows strictly after ``start``."""
    if not start.record_id:
        return "SystemModstamp >= {}", [start.modstamp]
    return (
        "(SystemModstamp > {} OR (SystemModstamp = {} AND Id > {}))",
        [start.modstamp, start.modstamp, start.record_id],
    )
