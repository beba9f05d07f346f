"""The dirty set: ids of CRM objects changed since the sync last looked, fed by webhooks and polls.

Redis layout (one family per CRM; all keys in ``worker.state.keys``):
- ``crmsync:dirty:{crm}:{object_type}`` — a SET of object ids waiting for the sync;
- ``crmsync:dirty-lease:{crm}:{object_type}`` — a ZSET of ids a worker has claimed, scored by the
  lease's expiry (epoch ms, Redis's own clock). ``claim`` moves ids from the set into the lease zset
  in one script, after first moving every expired lease back to the set; ``finish`` removes them
  only while the lease is still the caller's (same expiry score), ``release`` puts them back at once.
  A worker killed between claim and finish loses nothing: its ids return when the lease expires. An
  id changed again while leased is simply in the set again; the next claim takes it (the per-person
  lock keeps the two syncs apart);
- ``crmsync:dirty-seen:{crm}:{object_type}`` — a ZSET of ids marked dirty, scored by when they were first
  marked (epoch ms; ``ZADD NX`` keeps the first mark). The sync service takes the scores of the keys
  it syncs (``take_first_seen``) for the change-to-write latency and gives back those it did not
  finish (``restore_first_seen``, keeping the earlier mark). Marking also counts the changes seen
  (``crmsync:metrics``, ``worker.state.metrics``);
- ``crmsync:event:{crm}:{event_key}`` — a marker kept ``event_ttl_s`` (2 days: both CRMs retry a
  delivery for 24 hours) so a re-delivered event is recorded once. ``event_key`` is chosen by the
  caller (the HubSpot receiver uses a hash of the event's identifying fields, not ``eventId`` alone,
  which HubSpot does not guarantee unique).
One Lua script marks each event and adds its ids (with their first-seen marks) atomically, so
concurrent receivers cannot double-count.
Every key the script touches is passed in ``KEYS`` (so Redis Cluster can route it); the TTL and the ids
are ``ARGV``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.state import keys

# KEYS[1]: the metrics hash; then per event: its marker key, then per object id its dirty-set key and
# its first-seen zset key. ARGV[1]: marker TTL in seconds, ARGV[2]: now (epoch ms), ARGV[3]: the
# metrics field counting changes seen; then per event: the number of ids n, then the n ids.
_RECORD = """
local ttl, now = ARGV[1], ARGV[2]
local k, a, added = 2, 4, 0
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  a = a + 1
  local fresh = redis.call('SET', KEYS[k], '1', 'NX', 'EX', ttl)
  k = k + 1
  for j = 1, n do
    if fresh then
      redis.call('SADD', KEYS[k], ARGV[a])
      redis.call('ZADD', KEYS[k + 1], 'NX', now, ARGV[a])
      added = added + 1
    end
    k = k + 2
    a = a + 1
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[1], ARGV[3], added) end
return added
"""

# KEYS[1] dirty set, KEYS[2] lease zset: move expired leases back to the set (Redis's clock)
_REQUEUE_EXPIRED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(expired) do
  redis.call('SADD', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
"""

# the same, then ARGV[1] count, ARGV[2] lease ms → {deadline, requeued, ids...}
_CLAIM = (
    _REQUEUE_EXPIRED
    + """
local deadline = now + tonumber(ARGV[2])
local ids = redis.call('SPOP', KEYS[1], tonumber(ARGV[1]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[2], deadline, id) end
local out = {deadline, #expired}
for _, id in ipairs(ids) do table.insert(out, id) end
return out
"""
)

# KEYS[1] dirty set, KEYS[2] lease zset; ARGV[1] mode (finish|release|extend), ARGV[2] deadline,
# ARGV[3] new deadline (extend), ARGV[4..] ids → how many ids were still the caller's
_SETTLE = """
local mode, deadline, n = ARGV[1], tonumber(ARGV[2]), 0
for i = 4, #ARGV do
  local score = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if score and tonumber(score) == deadline then
    n = n + 1
    if mode == 'extend' then
      redis.call('ZADD', KEYS[2], ARGV[3], ARGV[i])
    else
      redis.call('ZREM', KEYS[2], ARGV[i])
      if mode == 'release' then redis.call('SADD', KEYS[1], ARGV[i]) end
    end
  end
end
return n
"""


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Change:
    """One changed object."""

    object_type: str  # contacts | companies | deals
    object_id: str


@dataclass(frozen=True)
class Claim:
    """Ids one worker leased until ``deadline_ms`` (Redis clock); settle with finish/release."""

    crm: str
    object_type: str
    ids: tuple[str, ...]
    deadline_ms: int
    requeued: int = 0  # expired leases moved back to the set by this claim


@dataclass(frozen=True)
class Event:
    """One delivered event: the key it is deduplicated on and the objects it changed (often one; a merge
    changes the survivor and every merged-away id)."""

    key: str
    changes: Sequence[Change] = field(default_factory=tuple)


class DirtySet:
    """Records changed object ids once per event key; the sync pops them in batches."""

    def __init__(self, redis: Any, crm: str = "hubspot", *, event_ttl_s: int = 2 * 86_400) -> None:
        self.redis = redis
        self.crm = crm
        self.event_ttl_s = event_ttl_s
        self._record = redis.register_script(_RECORD)
        self._claim = redis.register_script(_CLAIM)
        self._settle = redis.register_script(_SETTLE)
        self._requeue = redis.register_script(_REQUEUE_EXPIRED)

    def _set_key(self, object_type: str) -> str:
        return keys.dirty(self.crm, object_type)

    def _lease_key(self, object_type: str) -> str:
        return keys.dirty_lease(self.crm, object_type)

    def _seen_key(self, object_type: str) -> str:
        return keys.dirty_seen(self.crm, object_type)

    def _event_key(self, key: str) -> str:
        return keys.event(self.crm, key)

    def record(self, events: Iterable[Event]) -> int:
        """Add the changes of each event whose key is new; returns how many changes were added."""
        keys_: list[str] = [keys.METRICS]
        args: list[str] = [str(self.event_ttl_s), str(_now_ms()), f"changes_seen|{self.crm}"]
        for ev in events:
            keys_.append(self._event_key(ev.key))
            args.append(str(len(ev.changes)))
            for c in ev.changes:
                keys_ += [self._set_key(c.object_type), self._seen_key(c.object_type)]
                args.append(c.object_id)
        if len(keys_) == 1:
            return 0
        return int(self._record(keys=keys_, args=args))

    def claim(self, object_type: str, count: int = 100, *, lease_s: float = 300.0) -> Claim:
        """Lease up to ``count`` ids for ``lease_s`` (longer than the sync of a batch can take: a task's
        hard time limit). Expired leases of this object type are re-queued first."""
        raw = self._claim(
            keys=[self._set_key(object_type), self._lease_key(object_type)],
            args=[int(count), max(1, int(lease_s * 1000))],
        )
        ids = tuple(sorted(keys.text(v) or "" for v in raw[2:]))
        return Claim(self.crm, object_type, ids, int(raw[0]), int(raw[1]))

    def finish(self, claim: Claim, ids: Iterable[str] | None = None) -> int:
        """Done with (some of) the claimed ids: drop their leases (ids re-leased by someone else since
        this lease expired are left alone). Returns how many were still this claim's."""
        return self._settle_ids("finish", claim, claim.ids if ids is None else ids)

    def release(self, claim: Claim, ids: Iterable[str] | None = None) -> int:
        """Give claimed ids back to the set now (a busy lock, a pause, a retry later)."""
        return self._settle_ids("release", claim, claim.ids if ids is None else ids)

    def extend(self, claim: Claim, *, lease_s: float) -> Claim:
        """Push the lease of every id still held further out (a long batch's heartbeat)."""
        seconds, micros = self.redis.time()  # Redis's clock, as the claim script uses
        deadline = int(seconds) * 1000 + int(micros) // 1000 + int(lease_s * 1000)
        self._settle_ids("extend", claim, claim.ids, new_deadline=deadline)
        return Claim(claim.crm, claim.object_type, claim.ids, deadline)

    def requeue_expired(self, object_type: str) -> None:
        self._requeue(keys=[self._set_key(object_type), self._lease_key(object_type)])

    def leased(self, object_type: str) -> dict[str, int]:
        """Leased id → lease expiry (epoch ms)."""
        pairs = self.redis.zrange(self._lease_key(object_type), 0, -1, withscores=True)
        return {keys.text(k) or "": int(v) for k, v in pairs}

    def _settle_ids(self, mode: str, claim: Claim, ids: Iterable[str], *, new_deadline: int = 0) -> int:
        members = list(ids)
        if not members:
            return 0
        return int(
            self._settle(
                keys=[self._set_key(claim.object_type), self._lease_key(claim.object_type)],
                args=[mode, claim.deadline_ms, new_deadline, *members],
            )
        )

    def pop(self, object_type: str, count: int = 100) -> list[str]:
        """Take up to ``count`` ids off the set with no lease (tests and tools only: a worker that dies
        after ``pop`` loses the ids; workers use ``claim``)."""
        raw = self.redis.spop(self._set_key(object_type), count) or []
        return sorted(v.decode() if isinstance(v, bytes) else str(v) for v in raw)

    def add(self, object_type: str, ids: Iterable[str]) -> None:
        """Mark ids dirty (a poll's changes), noting when each was first marked and counting them as
        changes seen: one round trip."""
        values = list(ids)
        if values:
            now = _now_ms()
            pipe = self.redis.pipeline(transaction=False)
            pipe.sadd(self._set_key(object_type), *values)
            pipe.zadd(self._seen_key(object_type), dict.fromkeys(values, now), nx=True)
            pipe.hincrby(keys.METRICS, f"changes_seen|{self.crm}", len(values))
            pipe.execute()

    def members(self, object_type: str) -> set[str]:
        return {
            v.decode() if isinstance(v, bytes) else str(v)
            for v in self.redis.smembers(self._set_key(object_type))
        }

    def size(self, object_type: str) -> int:
        return int(self.redis.scard(self._set_key(object_type)))


SeenKey = tuple[str, str, str]  # (crm, object type, id)


def take_first_seen(redis: Any, wanted: Sequence[SeenKey]) -> dict[SeenKey, int]:
    """When each of ``wanted`` was first marked dirty (epoch ms; absent when it was not), removing the
    marks in the same transaction, so a change arriving during the sync is timed from its own mark."""
    if not wanted:
        return {}
    by_zset: dict[str, list[SeenKey]] = {}
    for item in dict.fromkeys(wanted):
        by_zset.setdefault(keys.dirty_seen(item[0], item[1]), []).append(item)
    pipe = redis.pipeline(transaction=True)
    for zset, items in by_zset.items():
        pipe.zmscore(zset, [i[2] for i in items])
        pipe.zrem(zset, *[i[2] for i in items])
    answers = pipe.execute()
    out: dict[SeenKey, int] = {}
    for (_, items), scores in zip(by_zset.items(), answers[0::2], strict=True):
        for item, score in zip(items, scores, strict=True):
            if score is not None:
                out[item] = int(score)
    return out


def restore_first_seen(pipe: Any, marks: dict[SeenKey, int]) -> None:
    """Give back marks taken by ``take_first_seen`` (keys not finished: they are synced again later),
    keeping an earlier mark if one is there (``ZADD LT``). Queued on the caller's pipeline."""
    for (crm, object_type, record_id), ms in marks.items():
        pipe.zadd(keys.dirty_seen(crm, object_type), {record_id: ms}, lt=True)
