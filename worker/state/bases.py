"""Bases: per person, what was last synced (canonical values, each side's last values, facts memory),
the planner's ``Base``. Stored as ``records.base_to_json`` with the fencing token of the lock under
which it was written: a put with an older token than the stored one is refused (``StaleFenceError``),
so a worker whose lock expired mid-sync cannot overwrite a newer base.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from worker.records import Base, base_from_json, base_to_json
from worker.state import keys
from worker.state.locks import StaleFenceError

# KEYS[1] base hash; ARGV: doc, fence, at → 1 stored, 0 refused (older fence)
_PUT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
if tonumber(ARGV[2]) < current then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'fence', ARGV[2], 'at', ARGV[3])
return 1
"""


# KEYS: base hashes; ARGV[1] at, then per key doc, fence → the 1-based indexes refused
_PUT_MANY = """
local refused = {}
for i = 1, #KEYS do
  local doc, fence = ARGV[2 * i], tonumber(ARGV[2 * i + 1])
  local current = tonumber(redis.call('HGET', KEYS[i], 'fence') or '0')
  if fence < current then
    table.insert(refused, i)
  else
    redis.call('HSET', KEYS[i], 'doc', doc, 'fence', fence, 'at', ARGV[1])
  end
end
return refused
"""


class BaseStore:
    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._put = redis.register_script(_PUT)
        self._put_many = redis.register_script(_PUT_MANY)

    def get(self, person_id: str) -> Base | None:
        return self.get_many([person_id]).get(person_id)

    def get_many(self, person_ids: Sequence[str]) -> dict[str, Base]:
        """Bases of many people in one round trip; people never synced are absent."""
        pipe = self.redis.pipeline(transaction=False)
        for pid in person_ids:
            pipe.hget(keys.base(pid), "doc")
        out: dict[str, Base] = {}
        for pid, raw in zip(person_ids, pipe.execute(), strict=True):
            doc = keys.text(raw)
            if doc is not None:
                out[pid] = base_from_json(json.loads(doc))
        return out

    def put(self, person_id: str, base: Base, *, fence: int) -> None:
        doc = json.dumps(base_to_json(base), sort_keys=True, separators=(",", ":"))
        stored = self._put(keys=[keys.base(person_id)], args=[doc, fence, int(time.time() * 1000)])
        if not int(stored):
            raise StaleFenceError(
                f"base of {person_id} not stored: fencing token {fence} is older than the stored one"
            )

    def put_many(self, bases: Mapping[str, Base], *, fence: Mapping[str, int]) -> list[str]:
        """Store several bases in one round trip; returns the person ids refused for a stale fence."""
        people = list(bases)
        if not people:
            return []
        args: list[Any] = [int(time.time() * 1000)]
        for pid in people:
            args += [json.dumps(base_to_json(bases[pid]), sort_keys=True, separators=(",", ":")), fence[pid]]
        refused = self._put_many(keys=[keys.base(pid) for pid in people], args=args)
        return [people[int(i) - 1] for i in refused]

    def delete(self, person_id: str) -> None:
        self.redis.delete(keys.base(person_id))
