"""Change-reader cursors (watermarks), one JSON document per CRM and reader name. The change readers
decide what a cursor means (``worker.crm.*.cursor``); this store only keeps it. Advance a cursor only
after the ids it covers are in the dirty set."""

from __future__ import annotations

import json
from typing import Any

from worker.state import keys


class CursorStore:
    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def get(self, crm: str, name: str) -> dict[str, Any] | None:
        raw = keys.text(self.redis.get(keys.cursor(crm, name)))
        return json.loads(raw) if raw is not None else None

    def put(self, crm: str, name: str, doc: dict[str, Any]) -> None:
        self.redis.set(keys.cursor(crm, name), json.dumps(doc, sort_keys=True))
