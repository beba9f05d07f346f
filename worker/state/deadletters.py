"""Dead letters: people whose sync could not finish and needs an operator (or a later replay).

One entry per person (the latest failure), ``attempts`` counting how often the person failed in a row:
``crmsync:dead:entries`` (hash person id → JSON) and ``crmsync:dead:index`` (zset, last failure time).
An entry names the person, the run, the plan that was being executed (``plan_to_json``), and each write
that failed with the CRM's own code and message. A later successful sync of the person clears it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from worker.state import keys

#: a value longer than this is stored cut, saying how long it was: an entry is for an operator to read,
#: and a CRM value of a megabyte (which the plan repeats several times) must not make one of megabytes
MAX_VALUE_CHARS = 2_000


def _capped(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return f"{value[:MAX_VALUE_CHARS]}… [cut: {len(value):,} characters]"
    if isinstance(value, dict):
        return {k: _capped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_capped(v) for v in value]
    return value


@dataclass(frozen=True)
class FailedWrite:
    side: str
    op: str  # create | update | move_back
    object_type: str
    record_id: str | None
    fields: dict[str, str | None]
    code: str | None
    message: str
    state: str  # rejected | unknown | not_applied


@dataclass(frozen=True)
class DeadLetter:
    person: str
    reason: str  # rejected | retries_exhausted | unknown_outcome | error | duplicate | blocked | merged
    writes: tuple[FailedWrite, ...] = ()
    plan: dict[str, Any] | None = None
    run_id: str = ""
    run_kind: str = ""
    attempts: int = 1
    first_at_ms: int = 0
    last_at_ms: int = 0
    detail: str = ""
    record_keys: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(_capped(asdict(self)), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, raw: str) -> DeadLetter:
        doc = json.loads(raw)
        doc["writes"] = tuple(FailedWrite(**w) for w in doc.get("writes", []))
        doc["record_keys"] = tuple(doc.get("record_keys", []))
        return cls(**doc)


class DeadLetterStore:
    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def put(self, letter: DeadLetter) -> DeadLetter:
        """Store the failure; ``attempts`` and ``first_at_ms`` carry over from an existing entry."""
        now = int(time.time() * 1000)
        previous = self.get(letter.person)
        stored = DeadLetter(
            **{
                **asdict(letter),
                "writes": letter.writes,
                "record_keys": letter.record_keys,
                "attempts": (previous.attempts + 1) if previous else letter.attempts,
                "first_at_ms": previous.first_at_ms if previous else now,
                "last_at_ms": now,
            }
        )
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.DEAD_ENTRIES, letter.person, stored.to_json())
        pipe.zadd(keys.DEAD_INDEX, {letter.person: now})
        pipe.execute()
        return stored

    def get(self, person_id: str) -> DeadLetter | None:
        raw = keys.text(self.redis.hget(keys.DEAD_ENTRIES, person_id))
        return DeadLetter.from_json(raw) if raw is not None else None

    def newest(self, limit: int = 100) -> list[DeadLetter]:
        """Newest first."""
        people = [keys.text(p) or "" for p in self.redis.zrevrange(keys.DEAD_INDEX, 0, limit - 1)]
        return self._many(people)

    def _many(self, people: Sequence[str]) -> list[DeadLetter]:
        if not people:
            return []
        raws = self.redis.hmget(keys.DEAD_ENTRIES, people)
        return [DeadLetter.from_json(t) for r in raws if (t := keys.text(r)) is not None]

    def clear(self, person_id: str) -> bool:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(keys.DEAD_ENTRIES, person_id)
        pipe.zrem(keys.DEAD_INDEX, person_id)
        return bool(pipe.execute()[0])

    def clear_many(self, person_ids: Sequence[str]) -> None:
        """Forget the entries of people that synced (one round trip)."""
        if person_ids:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hdel(keys.DEAD_ENTRIES, *person_ids)
            pipe.zrem(keys.DEAD_INDEX, *person_ids)
            pipe.execute()

    def count(self) -> int:
        return int(self.redis.zcard(keys.DEAD_INDEX))


class DraftDeadLetters(DeadLetterStore):
    """What a dry run would dead-letter, kept in memory (reads see the stored entries and these)."""

    def __init__(self, stored: DeadLetterStore) -> None:
        self.redis = stored.redis
        self.drafts: dict[str, DeadLetter] = {}

    def put(self, letter: DeadLetter) -> DeadLetter:
        self.drafts[letter.person] = letter
        return letter

    def get(self, person_id: str) -> DeadLetter | None:
        return self.drafts.get(person_id) or super().get(person_id)

    def clear(self, person_id: str) -> bool:
        return self.drafts.pop(person_id, None) is not None

    def clear_many(self, person_ids: Sequence[str]) -> None:
        for pid in person_ids:
            self.drafts.pop(pid, None)
