"""The dirty set: ids of CRM objects changed since the sync last looked, fed by webhooks.

Redis layout (one family per CRM):
- ``crmsync:dirty:{crm}:{object_type}`` — a SET of object ids waiting for the sync;
- ``crmsync:event:{crm}:{event_key}`` — a marker kept ``event_ttl_s`` so a re-delivered event is
  recorded once. ``event_key`` is chosen by the caller (the HubSpot receiver uses a hash of the event's
  identifying fields, not ``eventId`` alone, which HubSpot does not guarantee unique).
One Lua script marks each event and adds its ids atomically, so concurrent receivers cannot double-count.
Every key the script touches is passed in ``KEYS`` (so Redis Cluster can route it); the TTL and the ids
are ``ARGV``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# KEYS: per event, its marker key then one dirty-set key per object id.
# ARGV[1]: marker TTL in seconds; then per event: the number of ids n, then the n ids.
_RECORD = """
local ttl = ARGV[1]
local k, a, added = 1, 2, 0
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  a = a + 1
  local fresh = redis.call('SET', KEYS[k], '1', 'NX', 'EX', ttl)
  k = k + 1
  for j = 1, n do
    if fresh then
      redis.call('SADD', KEYS[k], ARGV[a])
      added = added + 1
    end
    k = k + 1
    a = a + 1
  end
end
return added
"""


@dataclass(frozen=True)
class Change:
    """One changed object."""

    object_type: str  # contacts | companies | deals
    object_id: str


@dataclass(frozen=True)
class Event:
    """One delivered event: the key it is deduplicated on and the objects it changed (often one; a merge
    changes the survivor and every merged-away id)."""

    key: str
    changes: Sequence[Change] = field(default_factory=tuple)


class DirtySet:
    """Records changed object ids once per event key; the sync pops them in batches."""

    def __init__(self, redis: Any, crm: str = "hubspot", *, event_ttl_s: int = 7 * 86_400) -> None:
        self.redis = redis
        self.crm = crm
        self.event_ttl_s = event_ttl_s
        self._record = redis.register_script(_RECORD)

    def _set_key(self, object_type: str) -> str:
        return f"crmsync:dirty:{self.crm}:{object_type}"

    def _event_key(self, key: str) -> str:
        return f"crmsync:event:{self.crm}:{key}"

    def record(self, events: Iterable[Event]) -> int:
        """Add the changes of each event whose key is new; returns how many changes were added."""
        keys: list[str] = []
        args: list[str] = [str(self.event_ttl_s)]
        for ev in events:
            keys.append(self._event_key(ev.key))
            args.append(str(len(ev.changes)))
            for c in ev.changes:
                keys.append(self._set_key(c.object_type))
                args.append(c.object_id)
        if not keys:
            return 0
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
