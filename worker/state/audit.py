"""The audit stream: one entry per applied write, so every change the worker made can be explained,
listed per run or person, and rolled back (``before`` is what the field held).

``crmsync:audit`` is a Redis stream trimmed to about ``max_len`` entries. Each entry has one field,
``e``: JSON with ``at`` (epoch ms), ``run`` and ``run_kind`` (poll / webhook / resync / backfill …),
``person``, ``side``, ``object``, ``record``, ``field``, ``before``, ``after`` (``""`` for blank),
``cause`` (the plan's cause: ``kind``, ``ref``, ``detail`` joined by ``|``, plus the conflict it
settled) and ``op`` (create / update / move_back). One field keeps appends cheap.
Values never include secrets: the worker only writes lifecycle fields, names and link ids.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
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


class AuditLog:
    def __init__(self, redis: Any, *, max_len: int = 1_000_000) -> None:
        self.redis = redis
        self.max_len = max_len

    def append(self, entries: Sequence[AuditEntry], *, also: Callable[[Any], None] | None = None) -> None:
        """Append ``entries`` in one pipeline; ``also`` may queue more commands on it (the batch's
        metrics), so they cost no round trip of their own."""
        if not entries and also is None:
            return
        pipe = self.redis.pipeline(transaction=False)
        if also is not None:
            also(pipe)
        for e in entries:
            pipe.xadd(
                keys.AUDIT,
                {"e": json.dumps(e.fields(), separators=(",", ":"))},
                maxlen=self.max_len,
                approximate=True,
            )
        pipe.execute()

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
