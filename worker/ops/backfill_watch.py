"""Backfills resume by themselves after their workers died.

A task working on a backfill (its enumeration, ``enum``, or chunk ``n``) holds a **lease** in
``crmsync:backfill:{id}:leases`` (a sorted set scored by expiry, Redis's clock) and renews it from a
heartbeat thread while it runs. It drops the lease when it ends normally; a task that raised keeps it
until it expires (its work may be unfinished). A killed worker renews nothing, so its leases expire.

The **watch** (a beat task, every ``CRMSYNC_BACKFILL_WATCH_SECONDS``) claims, in one script per
backfill, every expired lease whose work is not done (a chunk without a result; the enumeration of a
backfill not enumerated) and re-sends it: the enumeration from its checkpoint, with the chunks it
had stored but not yet sent; each chunk as is. A claim is itself a short lease, so two watches (two
beats, a beat and an operator) never both re-send one piece: exactly one claims it. Once sent, the
claim is dropped: the piece is the broker's until a worker starts it and leases it again.

Chunks only queued on the broker hold no lease and are never re-sent (the broker still has them).
A chunk run twice (the re-sent message and a late redelivery) is counted once and writes nothing the
second time (``worker.ops.backfill``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from worker.ops.backfill import RUNNING, BackfillStore
from worker.state import keys

ENUM = "enum"

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
# KEYS[1] leases; ARGV member, ttl ms
_LEASE = _NOW + "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) return 1"
# KEYS[1] backfill hash, KEYS[2] chunks hash, KEYS[3] leases; ARGV claim ms, most resumes of one piece
# → {claim score, members to re-send…, '|', members resumed too often…}
_CLAIM = (
    _NOW
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'enumerating' and state ~= 'running' then return {} end
local score = string.format('%.0f', now + tonumber(ARGV[1]))
local out, spent = {score}, {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  local undone
  if m == 'enum' then
    undone = redis.call('HGET', KEYS[1], 'enumerated') ~= '1'
  else
    undone = redis.call('HEXISTS', KEYS[2], 'r:' .. m) == 0
  end
  if undone and redis.call('HINCRBY', KEYS[2], 'a:' .. m, 1) > tonumber(ARGV[2]) then
    redis.call('ZREM', KEYS[3], m)
    table.insert(spent, m)
  elseif undone then
    redis.call('ZADD', KEYS[3], score, m)
    table.insert(out, m)
  else
    redis.call('ZREM', KEYS[3], m)
  end
end
if #out > 1 then redis.call('HINCRBY', KEYS[1], 'resumed', #out - 1) end
table.insert(out, '|')
for _, m in ipairs(spent) do table.insert(out, m) end
return out
"""
)
# KEYS[1] leases; ARGV claim score, members… → drop the claims nobody replaced with a lease since
_UNCLAIM = """
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[1] then redis.call('ZREM', KEYS[1], ARGV[i]) end
end
return 1
"""


class Leases:
    """The leases of backfill work (see the module docstring)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._lease = redis.register_script(_LEASE)
        self._claim = redis.register_script(_CLAIM)
        self._unclaim = redis.register_script(_UNCLAIM)

    def renew(self, bid: str, member: str, ttl_s: float) -> None:
        self._lease(keys=[keys.backfill_leases(bid)], args=[member, max(1, int(ttl_s * 1000))])

    def drop(self, bid: str, member: str) -> None:
        self.redis.zrem(keys.backfill_leases(bid), member)

    @contextmanager
    def held(
        self, bid: str, member: str, ttl_s: float, handed_over: tuple[type[BaseException], ...] = ()
    ) -> Iterator[None]:
        """Lease ``member`` while the block runs, renewed every third of ``ttl_s`` by a thread; dropped
        when the block ends normally or raises one of ``handed_over`` (the task layer sends the work
        again itself: a retry), left to expire when it raises anything else."""
        self.renew(bid, member, ttl_s)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(ttl_s / 3):
                self.renew(bid, member, ttl_s)

        thread = threading.Thread(target=beat, name=f"lease {bid} {member}", daemon=True)
        thread.start()
        try:
            yield
        except handed_over:
            self.drop(bid, member)
            raise
        finally:
            stop.set()
            thread.join()
        self.drop(bid, member)

    def claim_expired(self, bid: str, claim_s: float, max_resumes: int) -> tuple[str, list[str], list[str]]:
        """(claim score, pieces to re-send, pieces whose worker died more than ``max_resumes`` times)."""
        got = self._claim(
            keys=[keys.backfill(bid), keys.backfill_chunks(bid), keys.backfill_leases(bid)],
            args=[max(1, int(claim_s * 1000)), max_resumes],
        )
        texts = [keys.text(x) or "" for x in got]
        if not texts:
            return "", [], []
        bar = texts.index("|")
        return texts[0], texts[1:bar], texts[bar + 1 :]

    def unclaim(self, bid: str, score: str, members: list[str]) -> None:
        self._unclaim(keys=[keys.backfill_leases(bid)], args=[score, *members])


@dataclass(frozen=True)
class Resumed:
    backfill: str
    enumerate: bool
    chunks: list[int]
    given_up: list[str]


@dataclass(frozen=True)
class Senders:
    """What the watch does with a backfill's orphaned work: send it again, or give up on a piece
    whose worker died too often (it may be what kills them)."""

    enumerate: Callable[[str], None]
    chunk: Callable[[str, int], None]
    give_up: Callable[[str, str], None]  # (backfill id, ``enum`` or chunk number)


def resume_orphans(
    store: BackfillStore, leases: Leases, bid: str, send: Senders, claim_s: float = 60.0, max_resumes: int = 5
) -> Resumed | None:
    """Re-send the work of ``bid`` whose lease expired unfinished (``None``: nothing to resume)."""
    score, members, spent = leases.claim_expired(bid, claim_s, max_resumes)
    for m in spent:
        send.give_up(bid, m)
    if not members:
        return Resumed(bid, False, [], spent) if spent else None
    chunks = sorted(int(m) for m in members if m != ENUM)
    enumerate_again = ENUM in members
    if enumerate_again:  # what it had stored but not sent when it died
        chunks = sorted(set(chunks) | set(store.unsent_chunks(bid)))
        send.enumerate(bid)
    for n in chunks:
        send.chunk(bid, n)
    leases.unclaim(bid, score, members)
    return Resumed(bid, enumerate_again, chunks, spent)


def watch(
    store: BackfillStore, leases: Leases, send: Senders, claim_s: float = 60.0, max_resumes: int = 5
) -> list[Resumed]:
    """``resume_orphans`` for every running backfill."""
    out = []
    for bid in store.ids():
        if store.state_of(bid) not in RUNNING:
            continue
        got = resume_orphans(store, leases, bid, send, claim_s, max_resumes)
        if got is not None:
            out.append(got)
    return out
