"""The dirty set: ids of CRM objects changed since the sync last looked, fed by webhooks.

Redis layout (one family per CRM):
- ``crmsync:dirty:{crm}:{object_type}`` — a SET of object ids waiting for the sync;
- ``crmsync:event:{crm}:{event_id}`` — a marker kept ``event_ttl_s`` so a re-delivered event
  (HubSpot retries with the same ``eventId``) is recorded once.
One Lua script marks the event and adds the id atomically, so concurrent receivers cannot double-count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_RECORD = """
local added = 0
for i = 1, #ARGV, 3 do
  local event_key = KEYS[1] .. ARGV[i]
  if redis.call('SET', event_key, '1', 'NX', 'EX', KEYS[3]) then
    redis.call('SADD', KEYS[2] .. ARGV[i + 1], ARGV[i + 2])
    added = added + 1
  end
end
return added
"""


@dataclass(frozen=True)
class Change:
    """One changed object from one event."""

    event_id: str
    object_type: str  # contacts | companies | deals
    object_id: str


class DirtySet:
    """Records changed object ids once per event id; the sync pops them in batches."""

    def __init__(self, redis: Any, crm: str = "hubspot", *, event_ttl_s: int = 7 * 86_400) -> None:
        self.redis = redis
        self.crm = crm
        self.event_ttl_s = event_ttl_s
        self._record = redis.register_script(_RECORD)

    def _set_key(self, object_type: str) -> str:
        return f"crmsync:dirty:{self.crm}:{object_type}"

    def record(self, changes: Iterable[Change]) -> int:
        """Add each change whose event id is new; returns how many were new."""
        args: list[str] = []
        for c in changes:
            args += [c.event_id, c.object_type, c.object_id]
        if not args:
            return 0
        keys = [f"crmsync:event:{self.crm}:", f"crmsync:dirty:{self.crm}:", str(self.event_ttl_s)]
        return int(self._record(keys=keys, args=args))

    def pop(self, object_type: str, count: int = 100) -> list[str]:
        """Take up to ``count`` ids off the set (the caller re-adds them with ``add`` if it fails)."""
        raw = self.redis.spop(self._set_key(object_type), count) or []
        return sorted(v.decode() if isinstance(v, bytes) else str(v) for v in raw)

    def add(self, object_type: str, ids: Iterable[str]) -> None:
        values = list(ids)
        if values:
            self.redis.sadd(self._set_key(object_type), *values)

    def members(self, object_type: str) -> set[str]:
        return {
            v.decode() if isinstance(v, bytes) else str(v)
            for v in self.redis.smembers(self._set_key(object_type))
        }

    def size(self, object_type: str) -> int:
        return int(self.redis.scard(self._set_key(object_type)))
