"""Create intents: what a run is about to create for a person, written before the creates are sent.

The audit is appended when a run commits. A create that lands while its run never commits (the worker
killed after sending it, or its answer lost and the read-back failing too) would otherwise never be
audited: the next sync finds the record by its create key and links it without writing. The next run
that commits the person audits such a create from its intent, under the run that sent it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from worker.state import keys

#: an intent outlives any retry schedule of its person; one never resolved is dropped after a week
TTL_S = 7 * 86_400


@dataclass(frozen=True)
class CreateIntent:
    run: str
    run_kind: str
    side: str
    object_type: str
    key: str  # the create's idempotency handle, which the created record carries
    values: dict[str, str | None]
    causes: dict[str, str]  # field -> the audit cause text


class IntentStore:
    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def put(self, intents: Mapping[str, Sequence[CreateIntent]]) -> None:
        """Per person, the creates of one run (all of one run id), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for person, items in intents.items():
            if not items:
                continue
            pipe.hset(keys.intent(person), items[0].run, json.dumps([asdict(i) for i in items]))
            pipe.expire(keys.intent(person), TTL_S)
        pipe.execute()

    def get_many(self, people: Sequence[str]) -> dict[str, list[CreateIntent]]:
        pipe = self.redis.pipeline(transaction=False)
        for person in people:
            pipe.hgetall(keys.intent(person))
        out: dict[str, list[CreateIntent]] = {}
        for person, raw in zip(people, pipe.execute(), strict=True):
            for doc in raw.values():
                out.setdefault(person, []).extend(CreateIntent(**item) for item in json.loads(doc))
        return out

    def clear(self, runs: Mapping[str, Sequence[str]]) -> None:
        """Drop the intents of the given runs per person."""
        pipe = self.redis.pipeline(transaction=False)
        for person, run_ids in runs.items():
            if run_ids:
                pipe.hdel(keys.intent(person), *run_ids)
        pipe.execute()
