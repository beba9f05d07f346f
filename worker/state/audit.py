"""The audit stream: one entry per applied write, so every change the worker made can be explained,
listed per run or person, and rolled back (``before`` is what the field held).

``crmsync:audit`` is a Redis stream. Each entry has one field,
``e``: JSON with ``at`` (epoch ms), ``run`` and ``run_kind`` (poll / webhook / resync / backfill …),
``person``, ``side``, ``object``, ``record``, ``field``, ``before``, ``after`` (``""`` for blank),
``cause`` (the plan's cause: ``kind``, ``ref``, ``detail`` joined by ``|``, plus the conflict it
settled) and ``op`` (create / update / move_back). One field keeps appends cheap.
Values never include secrets: the worker only writes lifecycle fields, names and link ids.

Retention: at most ``max_len`` entries and none older than ``max_age_ms`` (0: no age limit), trimmed
after every append (``trim``, at most ``TRIM_STEP`` entries per script call) — but never past a
**hold**: work that reads a stretch of the stream (a rollback reads its run and everything after it)
registers the oldest entry id it needs in ``crmsync:audit:holds`` with a lease, renewed while it
works; the trimmer cuts at most up to the oldest live hold, and a hold whose lease ran out (its
holder died) is dropped, so trimming then proceeds.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from worker.state import keys


@dataclass(frozen=True)
class AuditEntry:
    run: str
    run_kind: str
    person: str
    side: str
    object: str
    record: str
    field: str
    before: str | None
    after: str | None
    cause: str
    op: str = "update"
    at_ms: int = 0
    entry_id: str = ""

    def fields(self) -> dict[str, str]:
        return {
            "at": str(self.at_ms or int(time.time() * 1000)),
            "run": self.run,
            "run_kind": self.run_kind,
            "person": self.person,
            "side": self.side,
            "object": self.object,
            "record": self.record,
            "field": self.field,
            "before": self.before or "",
            "after": self.after or "",
            "cause": self.cause,
            "op": self.op,
        }

    @classmethod
    def from_stream(cls, entry_id: Any, raw: dict[Any, Any]) -> AuditEntry:
        fields = {keys.text(k) or "": keys.text(v) or "" for k, v in raw.items()}
        f = json.loads(fields.get("e") or "{}")
        return cls(
            run=f.get("run", ""),
            run_kind=f.get("run_kind", ""),
            person=f.get("person", ""),
            side=f.get("side", ""),
            object=f.get("object", ""),
            record=f.get("record", ""),
            field=f.get("field", ""),
            before=f.get("before") or None,
            after=f.get("after") or None,
            cause=f.get("cause", ""),
            op=f.get("op", "update"),
            at_ms=int(f.get("at") or 0),
            entry_id=keys.text(entry_id) or "",
        )


TRIM_STEP = 1000  # entries one trim call removes at most (Redis is busy for one call)
HOLD_TTL_S = 300.0

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# KEYS[1] holds; ARGV name, oldest entry id needed, ttl ms
_HOLD = (
    _NOW
    + """
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', now + tonumber(ARGV[3])) .. '|' .. ARGV[2])
return now
"""
)
# KEYS[1] stream, KEYS[2] holds; ARGV max_len, max_age_ms (0: none), step → {removed, oldest hold}
_TRIM = (
    _NOW
    + """
local function older(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local oldest = false
local holds = redis.call('HGETALL', KEYS[2])
for i = 1, #holds, 2 do
  local expiry, id = string.match(holds[i + 1], '^(%d+)|(%d+%-%d+)$')
  if expiry == nil or tonumber(expiry) <= now then
    redis.call('HDEL', KEYS[2], holds[i])
  elseif not oldest or older(id, oldest) then
    oldest = id
  end
end
local max_len, max_age, step = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local excess = redis.call('XLEN', KEYS[1]) - max_len
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if first == nil then return {0, oldest or ''} end
local age_cut = false
if max_age > 0 then age_cut = string.format('%.0f', now - max_age) .. '-0' end
local aged = age_cut and older(first[1], age_cut)
if excess <= 0 and not aged then return {0, oldest or ''} end
local n = step
if not aged then n = math.min(excess, step) end
local ids = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', n + 1)
local target = false
if excess > 0 then target = ids[math.min(excess, step) + 1][1] end
if aged then
  local cut = age_cut
  if #ids == n + 1 and older(ids[n + 1][1], cut) then cut = ids[n + 1][1] end
  if not target or older(target, cut) then target = cut end
end
if oldest and older(oldest, target) then target = oldest end
return {redis.call('XTRIM', KEYS[1], 'MINID', target), oldest or ''}
"""
)


class AuditHold:
    """A lease on the audit stream from ``oldest`` on (see the module docstring)."""

    def __init__(self, log: AuditLog, name: str, ttl_s: float) -> None:
        self.log = log
        self.name = name
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.oldest = "0-1"  # everything, until the holder knows what it needs

    def keep_from(self, entry_id: str) -> None:
        """Narrow (or move) the hold to ``entry_id`` and renew its lease."""
        self.oldest = entry_id
        self.renew()

    def renew(self) -> None:
        self.log._hold(keys=[keys.AUDIT_HOLDS], args=[self.name, self.oldest, self.ttl_ms])

    def release(self) -> None:
        self.log.redis.hdel(keys.AUDIT_HOLDS, self.name)


class AuditLog:
    def __init__(self, redis: Any, *, max_len: int = 1_000_000, max_age_ms: int = 0) -> None:
        self.redis = redis
        self.max_len = max_len
        self.max_age_ms = max_age_ms
        self._trim = redis.register_script(_TRIM)
        self._hold = redis.register_script(_HOLD)

    def append(self, entries: Sequence[AuditEntry], *, also: Callable[[Any], None] | None = None) -> None:
        """Append ``entries`` in one pipeline; ``also`` may queue more commands on it (the batch's
        metrics), so they cost no round trip of their own."""
        if not entries and also is None:
            return
        pipe = self.redis.pipeline(transaction=False)
        if also is not None:
            also(pipe)
        for e in entries:
            pipe.xadd(keys.AUDIT, {"e": json.dumps(e.fields(), separators=(",", ":"))})
        pipe.execute()
        self.trim(rounds=1)

    def trim(self, *, rounds: int = 1000) -> int:
        """Apply the retention, never past a live hold; returns the entries removed."""
        removed = 0
        for _ in range(rounds):
            got = self._trim(
                keys=[keys.AUDIT, keys.AUDIT_HOLDS], args=[self.max_len, self.max_age_ms, TRIM_STEP]
            )
            removed += int(got[0])
            if int(got[0]) < TRIM_STEP:
                break
        return removed

    @contextmanager
    def holding(self, name: str, ttl_s: float = HOLD_TTL_S) -> Iterator[AuditHold]:
        """Hold the whole stream at first; the holder narrows it (``keep_from``) once it knows the
        oldest entry it needs, renews it while working, and it is released at the end."""
        hold = AuditHold(self, f"{name}:{uuid.uuid4().hex[:8]}", ttl_s)
        hold.renew()
        try:
            yield hold
        finally:
            hold.release()

    def holds(self) -> dict[str, str]:
        """Live and expired holds as stored: name → ``expiry ms|oldest entry id``."""
        raw = self.redis.hgetall(keys.AUDIT_HOLDS)
        return {keys.text(k) or "": keys.text(v) or "" for k, v in raw.items()}

    def entries(
        self,
        *,
        run: str | None = None,
        person: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        page: int = 1000,
    ) -> Iterator[AuditEntry]:
        """Oldest first, filtered by run and/or person (a scan of the stream); ``since_ms`` /
        ``until_ms`` (epoch ms, inclusive) bound the scan by the entries' stream ids."""
        start = "-" if since_ms is None else f"{since_ms}-0"
        end = "+" if until_ms is None else f"{until_ms}-18446744073709551615"
        while True:
            batch = self.redis.xrange(keys.AUDIT, min=start, max=end, count=page)
            for entry_id, raw in batch:
                e = AuditEntry.from_stream(entry_id, raw)
                if (run is None or e.run == run) and (person is None or e.person == person):
                    yield e
            if len(batch) < page:
                return
            start = "(" + (keys.text(batch[-1][0]) or "")

    def length(self) -> int:
        return int(self.redis.xlen(keys.AUDIT))
