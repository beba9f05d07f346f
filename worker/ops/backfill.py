"""Admin-triggered backfills: every person in a scope, synced (or planned) through the sync service in
chunks on the ``backfill`` queue.

A backfill is a record in Redis (``BackfillStore``): its spec, its state, the enumeration checkpoint,
and one entry per chunk (the keys it holds, then its result). Work happens in two kinds of Celery
tasks (``worker.ops.tasks``):

- **enumerate** walks the scope's ids in id order (Salesforce: ``SELECT Id … WHERE Id > :last ORDER BY
  Id``; HubSpot: a search on ``hs_object_id > last`` sorted by it, a fresh query per page, so the
  10,000-result ceiling is never reached) and stores each chunk of keys together with the checkpoint
  in one transaction, then enqueues the chunk. Memory stays one page, whatever the size.
- **chunk** calls ``SyncService.sync_batch(keys, Run(backfill id, "backfill"), dry_run=…)`` and stores
  the chunk's result under its number (a set, not an increment: a chunk run twice is counted once).
  Keys answered busy/paused/retry are tried again by the task (the chunk stays pending until done).

Resuming (``resume``) re-enqueues what is not done: the enumeration from its checkpoint and every chunk
without a result. A chunk delivered twice (a redelivery after a kill, plus the resume) syncs its people
twice, and the second sync writes nothing (the service is idempotent); the counters do not double.
Cancelling sets the state; tasks check it before each page and chunk. Calls go through the daemon's
adapters, so they share its Salesforce API share and HubSpot rate limiter; run backfills on their own
workers (``crmsync worker --queues backfill``) and live sync never waits behind them.

Scopes are validated before anything is stored or enqueued (``validate``): object names, the date,
HubSpot filters' shape, and then the CRM itself is asked to count the scope, so a SOQL ``WHERE`` clause
or a filter it refuses comes back as ``ScopeError`` with the CRM's message (a 422 on the API).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from redis.exceptions import WatchError

from worker.crm.hubspot.search_operators import FILTER_OPERATORS
from worker.crm.salesforce import queries as sf_queries
from worker.errors import CrmError, InputError, RetriableError
from worker.plan.model import Plan
from worker.state import keys
from worker.sync import BatchOutcome, Disposition, KeyOutcome, RecordKey, Run, SyncService

SF_OBJECTS = ("Lead", "Contact")
HS_MAX_FILTERS = 6  # per filter group [HubSpot CRM search docs]; one is the id walk's own
HS_PAGE = 200
SF_PAGE = 2000
RUNNING = ("enumerating", "running")
BACKFILL_ID = re.compile(r"backfill-[0-9a-f]{12}")


class ScopeError(InputError):
    """A backfill scope that cannot run; the message names the problem (a 422 on the API)."""


class HubSpotFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    propertyName: str = Field(min_length=1, max_length=100)  # noqa: N815 (HubSpot's own spelling)
    operator: str
    value: str | None = None
    values: list[str] | None = None
    highValue: str | None = None  # noqa: N815

    @field_validator("operator")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in FILTER_OPERATORS:
            raise ValueError(f"unknown operator {value!r} (one of {', '.join(sorted(FILTER_OPERATORS))})")
        return value


class BackfillSpec(BaseModel):
    """What to backfill. ``crm`` ``both`` with no object is everything."""

    model_config = ConfigDict(extra="forbid")

    crm: Literal["salesforce", "hubspot", "both"] = "both"
    object: str | None = Field(None, description="Lead or Contact (salesforce), contacts (hubspot).")
    since: datetime | None = Field(None, description="Only records changed since (ISO date or time, UTC).")
    where: str | None = Field(None, max_length=4000, description="A SOQL WHERE clause (salesforce).")
    hubspot_filters: list[HubSpotFilter] | None = Field(None, description="HubSpot search filters (AND).")
    dry_run: bool = False
    chunk_size: int = Field(200, ge=1, le=1000)

    @field_validator("since")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)  # the queries send UTC: a time with no UTC form is refused here
        except OverflowError:
            raise ValueError("has no UTC time (before year 1 or after year 9999 once converted)") from None

    @model_validator(mode="after")
    def _coherent(self) -> BackfillSpec:
        if self.object is not None:
            if self.object in SF_OBJECTS:
                if self.crm == "hubspot":
                    raise ValueError(f"object {self.object} is a Salesforce object, not HubSpot's")
                self.crm = "salesforce"
            elif self.object == "contacts":
                if self.crm == "salesforce":
                    raise ValueError("object contacts is HubSpot's, not a Salesforce object")
                self.crm = "hubspot"
            else:
                raise ValueError(
                    f"unknown object {self.object!r}: Lead, Contact (salesforce) or contacts (hubspot)"
                )
        if self.where is not None:
            if self.crm != "salesforce":
                raise ValueError("a SOQL where clause needs crm salesforce (or object Lead/Contact)")
            problem = where_problem(self.where)
            if problem:
                raise ValueError(f"where must be one SOQL condition: {problem}")
        if self.hubspot_filters is not None:
            if self.crm != "hubspot":
                raise ValueError("hubspot_filters need crm hubspot (or object contacts)")
            if len(self.hubspot_filters) > HS_MAX_FILTERS - 1:
                raise ValueError(f"at most {HS_MAX_FILTERS - 1} HubSpot filters (the id walk uses one more)")
        return self

    def targets(self) -> list[tuple[str, str]]:
        """(crm, object) pairs the scope walks."""
        out: list[tuple[str, str]] = []
        if self.crm in ("salesforce", "both"):
            out += [("salesforce", o) for o in SF_OBJECTS if self.object in (None, o)]
        if self.crm in ("hubspot", "both"):
            out.append(("hubspot", "contacts"))
        return out


def where_problem(where: str) -> str | None:
    """Why an operator's WHERE clause cannot be one condition, or None. The walk wraps it in
    parentheses and ANDs its own conditions (``Id > last``, ``SystemModstamp >= since``) to it, so a
    ``)`` closing more than the clause opened, a string left open or a second statement would change
    what those conditions mean; string literals (with their backslash escapes) are skipped."""
    if not where.strip():
        return "it is empty"
    depth, quoted, escaped = 0, False, False
    for ch in where:
        if quoted:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == "'":
                quoted = False
        elif ch == "'":
            quoted = True
        elif ch == ";":
            return "no ';' outside a string literal"
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return "unbalanced parentheses (a ')' closes more than the clause opened)"
    if quoted:
        return "unterminated string literal"
    if depth:
        return "unbalanced parentheses (a '(' is never closed)"
    return None


def parse_spec(doc: Any) -> BackfillSpec:
    try:
        return BackfillSpec.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'scope'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise ScopeError(f"invalid backfill scope: {problems}") from None


# ---------------------------------------------------------------------------- walking the scope
def _soql_where(spec: BackfillSpec, after_id: str) -> tuple[str, list[Any]]:
    parts: list[str] = []
    args: list[Any] = []
    if spec.where:
        # the operator's own clause, checked by Salesforce before anything runs (count_scope); braces
        # doubled because the rest is filled in by format_soql
        parts.append("(" + spec.where.replace("{", "{{").replace("}", "}}") + ")")
    if spec.since is not None:
        parts.append("SystemModstamp >= {}")
        args.append(spec.since)
    if after_id:
        parts.append("Id > {}")
        args.append(after_id)
    return " AND ".join(parts), args


def _hs_body(spec: BackfillSpec, after_id: int, limit: int) -> dict[str, Any]:
    filters = [f.model_dump(exclude_none=True) for f in spec.hubspot_filters or []]
    if spec.since is not None:
        filters.append(
            {
                "propertyName": "lastmodifieddate",
                "operator": "GTE",
                "value": str(int(spec.since.timestamp() * 1000)),
            }
        )
    filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": str(after_id)})
    return {
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "properties": ["hs_object_id"],
        "limit": limit,
    }


def count_scope(service: SyncService, spec: BackfillSpec) -> dict[str, int]:
    """People per (crm:object) in the scope, as the CRMs count them; a clause or filter they refuse
    is a ``ScopeError`` carrying their message."""
    out: dict[str, int] = {}
    for crm, obj in spec.targets():
        try:
            if crm == "salesforce":
                where, args = _soql_where(spec, "")
                out[f"{crm}:{obj}"] = service.sf.count(obj, where, args)
            else:
                doc = service.hs.search(_hs_body(spec, 0, 1))
                out[f"{crm}:{obj}"] = int(doc.get("total") or 0)
        except CrmError as exc:
            raise ScopeError(f"{crm} refused the {obj} scope: {exc.code or ''} {exc}".strip()) from None
    return out


def walk(
    service: SyncService, spec: BackfillSpec, crm: str, obj: str, after: str
) -> Iterator[tuple[list[str], str]]:
    """Pages of record keys from ``after`` (exclusive), each with the position after it."""
    if crm == "salesforce":
        while True:
            where, args = _soql_where(spec, after)
            soql = sf_queries.select(["Id"], obj, where, args, tail=f"ORDER BY Id LIMIT {SF_PAGE}")
            ids = [str(r["Id"]) for r in service.sf.query(soql)]
            if not ids:
                return
            after = ids[-1]
            yield [str(RecordKey.salesforce(obj, i)) for i in ids], after
            if len(ids) < SF_PAGE:
                return
    else:
        last = int(after or 0)
        while True:
            doc = service.hs.search(_hs_body(spec, last, HS_PAGE))
            found = sorted(int(r["id"]) for r in doc.get("results") or [])
            if not found:
                return
            last = found[-1]
            yield [str(RecordKey.hubspot(str(i))) for i in found], str(last)
            if len(found) < HS_PAGE:
                return


# ---------------------------------------------------------------------------- state in Redis
@dataclass
class Backfill:
    id: str
    spec: BackfillSpec
    state: str = "enumerating"  # enumerating | running | done | canceled | failed
    created_ms: int = 0
    finished_ms: int = 0
    total: int = 0
    chunks: int = 0
    enumerated: bool = False
    done: int = 0
    writes: int = 0
    errors: int = 0
    chunks_done: int = 0
    by_disposition: dict[str, int] = field(default_factory=dict)
    planned: dict[str, dict[str, int]] = field(default_factory=dict)  # dry run: per rule / per field
    detail: str = ""
    resumed: int = 0  # pieces of work re-sent after their worker died (``backfill_watch``)

    @property
    def run(self) -> Run:
        return Run(self.id, "backfill")

    @property
    def dedupes(self) -> bool:
        """Several targets can name one person (a lead and its contact in HubSpot, a converted lead and
        its Contact): each person is then synced by the first chunk that meets it only."""
        return len(self.spec.targets()) > 1

    def to_json(self) -> dict[str, Any]:
        elapsed = ((self.finished_ms or int(time.time() * 1000)) - self.created_ms) / 1000
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = max(0, self.total - self.done)
        return {
            "id": self.id,
            "state": self.state,
            "scope": self.spec.model_dump(mode="json", exclude_none=True),
            "dry_run": self.spec.dry_run,
            "total": self.total,
            "done": self.done,
            "writes": self.writes,
            "errors": self.errors,
            "chunks": self.chunks,
            "chunks_done": self.chunks_done,
            "enumerated": self.enumerated,
            "rate_per_s": round(rate, 1),
            "eta_s": round(left / rate, 1) if rate > 0 and self.state in RUNNING else None,
            "elapsed_s": round(elapsed, 1),
            "by_disposition": self.by_disposition,
            "planned": self.planned,
            "created_ms": self.created_ms,
            "finished_ms": self.finished_ms or None,
            "detail": self.detail,
            "resumed": self.resumed,
        }


@dataclass(frozen=True)
class ChunkResult:
    people: int
    writes: int
    errors: int
    by_disposition: dict[str, int]
    planned_rules: dict[str, int]
    planned_fields: dict[str, int]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def dead_lettered(cls, people: int) -> ChunkResult:
        return cls(people, 0, people, {Disposition.DEAD_LETTERED.value: people}, {}, {})


class BackfillStore:
    """``crmsync:backfill:{id}`` (hash: spec, state, counters of the enumeration), ``…:chunks`` (hash:
    ``k:{n}`` → the chunk's keys, ``r:{n}`` → its result), ``…:planned`` (list of JSONL planned writes
    of a dry run), ``crmsync:backfills`` (zset of ids by creation)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def create(self, spec: BackfillSpec, total: int) -> Backfill:
        bid = f"backfill-{uuid.uuid4().hex[:12]}"  # the shape BACKFILL_ID accepts
        now = int(time.time() * 1000)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            keys.backfill(bid),
            mapping={
                "spec": spec.model_dump_json(),
                "state": "enumerating",
                "created": now,
                "total": total,
                "chunks": 0,
                "enumerated": 0,
                "detail": "",
            },
        )
        pipe.zadd(keys.BACKFILLS, {bid: now})
        pipe.execute()
        got = self.get(bid)
        assert got is not None
        return got

    def get(self, bid: str) -> Backfill | None:
        if not BACKFILL_ID.fullmatch(bid):  # an id from a URL never names another key (`…:chunks`)
            return None
        raw = {
            keys.text(k) or "": keys.text(v) or "" for k, v in self.redis.hgetall(keys.backfill(bid)).items()
        }
        if not raw:
            return None
        b = Backfill(
            bid,
            BackfillSpec.model_validate_json(raw["spec"]),
            raw.get("state", "enumerating"),
            int(raw.get("created") or 0),
            int(raw.get("finished") or 0),
            int(raw.get("total") or 0),
            int(raw.get("chunks") or 0),
            raw.get("enumerated") == "1",
            detail=raw.get("detail", ""),
            resumed=int(raw.get("resumed") or 0),
        )
        rules: Counter[str] = Counter()
        fields: Counter[str] = Counter()
        states: Counter[str] = Counter()
        for _name, value in self.redis.hscan_iter(keys.backfill_chunks(bid), match="r:*", count=1000):
            r = json.loads(keys.text(value) or "{}")
            b.chunks_done += 1
            b.done += r["people"]
            b.writes += r["writes"]
            b.errors += r["errors"]
            states.update(r["by_disposition"])
            rules.update(r["planned_rules"])
            fields.update(r["planned_fields"])
        b.by_disposition = dict(states)
        if b.spec.dry_run:
            b.planned = {"rules": dict(rules), "fields": dict(fields)}
        return b

    def ids(self, limit: int = 100) -> list[str]:
        return [keys.text(i) or "" for i in self.redis.zrevrange(keys.BACKFILLS, 0, limit - 1)]

    def running(self) -> list[Backfill]:
        found = [self.get(i) for i in self.ids()]
        return [b for b in found if b is not None and b.state in RUNNING]

    def checkpoint(self, bid: str) -> dict[str, str]:
        """Enumeration position per ``crm:object`` (the last id stored in a chunk)."""
        raw = self.redis.hgetall(keys.backfill(bid))
        return {
            (keys.text(k) or "")[4:]: keys.text(v) or ""
            for k, v in raw.items()
            if (keys.text(k) or "").startswith("pos:")
        }

    def add_chunks(
        self, bid: str, target: str, pages: Sequence[list[str]], before: str, after: str
    ) -> list[int] | None:
        """Store chunks and the new position in one transaction (a kill leaves both or neither).
        ``None`` when the position is no longer ``before``: another enumerator of this backfill moved
        on (a redelivered task next to a resumed one), and this one must stop."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.watch(keys.backfill(bid))
            current = keys.text(pipe.hget(keys.backfill(bid), f"pos:{target}")) or ""
            if current != before:
                return None
            first = int(pipe.hget(keys.backfill(bid), "chunks") or 0)
            pipe.multi()
            numbers = []
            for i, chunk in enumerate(pages):
                numbers.append(first + i)
                pipe.hset(keys.backfill_chunks(bid), f"k:{first + i}", json.dumps(chunk))
            pipe.hset(keys.backfill(bid), mapping={"chunks": first + len(pages), f"pos:{target}": after})
            try:
                pipe.execute()
            except WatchError:
                return None
        return numbers

    def spec_and_state(self, bid: str) -> tuple[BackfillSpec, str] | None:
        spec, state = self.redis.hmget(keys.backfill(bid), ["spec", "state"])
        if spec is None:
            return None
        return BackfillSpec.model_validate_json(keys.text(spec) or "{}"), keys.text(state) or ""

    def chunk_keys(self, bid: str, n: int) -> list[str]:
        raw = keys.text(self.redis.hget(keys.backfill_chunks(bid), f"k:{n}"))
        return list(json.loads(raw)) if raw else []

    def chunk_done(self, bid: str, n: int) -> bool:
        return bool(self.redis.hexists(keys.backfill_chunks(bid), f"r:{n}"))

    def mark_sent(self, bid: str, n: int) -> None:
        """Chunks are numbered and sent in order: everything up to ``n`` is on the broker."""
        self.redis.hset(keys.backfill(bid), "sent", n)

    def unsent_chunks(self, bid: str) -> list[int]:
        """Pending chunks an enumerator stored but did not send (it died in between)."""
        sent = int(keys.text(self.redis.hget(keys.backfill(bid), "sent")) or -1)
        return [n for n in self.pending_chunks(bid) if n > sent]

    def pending_chunks(self, bid: str) -> list[int]:
        b = self.redis.hgetall(keys.backfill_chunks(bid))
        names = {keys.text(k) or "" for k in b}
        return sorted(int(k[2:]) for k in names if k.startswith("k:") and f"r:{k[2:]}" not in names)

    def claim_people(self, bid: str, n: int, people: Sequence[str]) -> set[str]:
        """The people chunk ``n`` may sync: those no other chunk of the backfill claimed first (a
        chunk delivered again, or retrying its busy keys, keeps its own claims)."""
        if not people:
            return set()
        pipe = self.redis.pipeline(transaction=True)
        for person in people:
            pipe.hsetnx(keys.backfill_people(bid), person, n)
        pipe.hmget(keys.backfill_people(bid), list(people))
        owners = pipe.execute()[-1]
        return {p for p, owner in zip(people, owners, strict=True) if keys.text(owner) == str(n)}

    def finish_chunk(self, bid: str, n: int, result: ChunkResult, planned: Sequence[str] = ()) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(keys.backfill_chunks(bid), f"r:{n}", result.to_json())
        if planned:
            pipe.hset(keys.backfill_chunks(bid), f"p:{n}", "\n".join(planned))
        pipe.execute()

    def planned_writes(self, bid: str) -> Iterator[dict[str, Any]]:
        """A dry run's planned writes (one per field), chunk by chunk."""
        for n in range(int(self.redis.hget(keys.backfill(bid), "chunks") or 0)):
            raw = keys.text(self.redis.hget(keys.backfill_chunks(bid), f"p:{n}"))
            for line in (raw or "").splitlines():
                yield json.loads(line)

    def set_state(self, bid: str, state: str, detail: str = "") -> None:
        mapping: dict[str, Any] = {"state": state}
        if detail:
            mapping["detail"] = detail[:500]
        pipe = self.redis.pipeline(transaction=True)
        if state in ("done", "canceled", "failed"):
            mapping["finished"] = int(time.time() * 1000)
            # the claims and leases matter only while chunks run
            pipe.delete(keys.backfill_people(bid), keys.backfill_leases(bid))
        pipe.hset(keys.backfill(bid), mapping=mapping)
        pipe.execute()

    def mark_enumerated(self, bid: str) -> None:
        self.redis.hset(keys.backfill(bid), mapping={"enumerated": 1, "state": "running"})

    def state_of(self, bid: str) -> str | None:
        return keys.text(self.redis.hget(keys.backfill(bid), "state"))

    def maybe_finish(self, bid: str) -> bool:
        """Done when enumerated and every chunk has a result (safe to call from every chunk)."""
        b = self.redis.hmget(keys.backfill(bid), ["enumerated", "chunks", "state"])
        if keys.text(b[0]) != "1" or keys.text(b[2]) not in RUNNING:
            return False
        results = sum(1 for _ in self.redis.hscan_iter(keys.backfill_chunks(bid), match="r:*", count=1000))
        if results >= int(keys.text(b[1]) or 0):
            self.set_state(bid, "done")
            return True
        return False


# ---------------------------------------------------------------------------- one chunk
def planned_lines(
    outcome: BatchOutcome, plans: dict[str, Plan]
) -> tuple[list[str], Counter[str], Counter[str]]:
    """A dry run's planned writes as JSONL lines, and counts per rule and per field."""
    lines: list[str] = []
    rules: Counter[str] = Counter()
    fields: Counter[str] = Counter()
    for person, plan in plans.items():
        for w in plan.writes:
            for c in w.changes:
                fields[f"{w.side}.{c.field}"] += 1
                if c.cause.kind == "rule":
                    rules[c.cause.ref] += 1
                lines.append(
                    json.dumps(
                        {
                            "person": person,
                            "side": w.side,
                            "op": w.op,
                            "object": w.object_type,
                            "record": w.record_id,
                            "field": c.field,
                            "value": c.value,
                            "cause": f"{c.cause.kind}|{c.cause.ref}|{c.cause.detail}",
                        },
                        sort_keys=True,
                    )
                )
    return lines, rules, fields


SEEN = "seen_in_backfill"  # a key whose person another chunk of the backfill synced


def run_chunk(
    service: SyncService, b: Backfill, chunk: Sequence[str], store: BackfillStore | None = None, n: int = 0
) -> tuple[ChunkResult, list[str], dict[str, Disposition]]:
    """Sync (or plan) one chunk; returns its result, the dry run's planned lines, and the keys to try
    again with why (busy, retry, paused). With ``store`` and a backfill that ``dedupes``, a key whose
    person another chunk claimed is not synced again (counted as ``seen_in_backfill``)."""
    wanted, seen = list(chunk), []
    if store is not None and b.dedupes:
        owners = service.state.links.person_of(wanted)
        person = {k: owners.get(k, k) for k in wanted}  # an unlinked record is its own person so far
        mine = store.claim_people(b.id, n, sorted(set(person.values())))
        seen = [k for k in wanted if person[k] not in mine]
        wanted = [k for k in wanted if person[k] in mine]
    outcome = service.sync_batch(wanted, b.run, dry_run=b.spec.dry_run) if wanted else BatchOutcome(b.run)
    settled = {k: o for k, o in outcome.keys.items() if k not in set(outcome.again)}
    if store is not None and b.dedupes:  # whom the records turned out to be, and their partners, too
        store.claim_people(b.id, n, sorted({k for o in settled.values() for k in _met(o)}))
    plans = {
        o.person or k: o.plan
        for k, o in settled.items()
        if o.plan is not None and o.disposition is Disposition.PLANNED
    }
    lines, rules, fields = planned_lines(outcome, plans) if b.spec.dry_run else ([], Counter(), Counter())
    states = Counter(o.disposition.value for o in settled.values())
    if seen:
        states[SEEN] = len(seen)
    writes = {o.person or k: o.writes for k, o in settled.items()}
    result = ChunkResult(
        people=len(settled) + len(seen),
        writes=sum(writes.values()),
        errors=states.get(Disposition.DEAD_LETTERED.value, 0) + states.get(Disposition.INVALID.value, 0),
        by_disposition=dict(states),
        planned_rules=dict(rules),
        planned_fields=dict(fields),
    )
    return result, lines, {k: outcome.keys[k].disposition for k in outcome.again}


IN_CHUNK_RETRIES = 5


def process_chunk(service: SyncService, store: BackfillStore, bid: str, n: int) -> ChunkResult | None:
    """Sync chunk ``n`` and store its result once (``None``: nothing to do, the chunk is done or the
    backfill is not running). Keys answered busy/retry are tried again a few times, then dead-lettered
    (an operator resyncs them); a paused CRM raises ``RetriableError`` (the whole chunk later)."""
    got = store.spec_and_state(bid)
    if got is None or got[1] not in RUNNING or store.chunk_done(bid, n):
        store.maybe_finish(bid)
        return None
    b = Backfill(bid, got[0], got[1])
    pending = store.chunk_keys(bid, n)
    total: ChunkResult | None = None
    planned: list[str] = []
    # a person whose lock a killed worker still holds is busy until the lock expires: wait that out
    deadline = time.monotonic() + service.settings.lock_ttl_s + 5
    failures = 0
    pauses = service.state.pauses
    while True:
        result, lines, again = run_chunk(service, b, pending, store, n)
        total, planned = merge_results(total, result), planned + lines
        if not again:
            break
        paused = [crm for crm in ("salesforce", "hubspot") if pauses.paused(crm)]
        if paused:
            wait = max(pauses.remaining_s(crm) for crm in paused)
            raise RetriableError(f"backfill chunk {n}: {', '.join(paused)} paused", wait_seconds=wait)
        failures += any(d is not Disposition.BUSY for d in again.values())
        pending = list(again)
        if failures >= IN_CHUNK_RETRIES or time.monotonic() > deadline:
            why = f"backfill chunk {n}: not synced after {failures} transient failure(s) / lock waits"
            service.give_up(pending, b.run, why)
            total = merge_results(total, ChunkResult.dead_lettered(len(pending)))
            break
        time.sleep(min(0.25 * 2 ** min(failures, 4), 3.0) if failures else 1.0)
    store.finish_chunk(bid, n, total, planned)
    store.maybe_finish(bid)
    return total


def give_up_piece(service: SyncService, store: BackfillStore, bid: str, piece: str, why: str) -> None:
    """The backfill watch gave up on a piece whose worker died too often: a chunk's keys are
    dead-lettered (an operator resyncs them) and the chunk counted; a dead enumeration fails the
    backfill (``resume`` sends it again)."""
    got = store.spec_and_state(bid)
    if got is None or got[1] not in RUNNING:
        return
    if not piece.isdigit():
        store.set_state(bid, "failed", f"the enumeration {why}")
        return
    n = int(piece)
    pending = store.chunk_keys(bid, n)
    service.give_up(pending, Run(bid, "backfill"), f"backfill chunk {n}: {why}")
    store.finish_chunk(bid, n, ChunkResult.dead_lettered(len(pending)))
    store.maybe_finish(bid)


def _met(o: KeyOutcome) -> list[str]:
    """The person a key settled as, and the records its plan paired (a dry run stores no link, so a
    partner it matched is still its own person in Redis)."""
    met = [o.person] if o.person else []
    base = o.plan.new_base if o.plan is not None else None
    if base is not None and base.salesforce_id and base.salesforce_object:
        met.append(str(RecordKey.salesforce(base.salesforce_object, base.salesforce_id)))
    if base is not None and base.hubspot_id:
        met.append(str(RecordKey.hubspot(base.hubspot_id)))
    return met


def merge_results(a: ChunkResult | None, b: ChunkResult) -> ChunkResult:
    if a is None:
        return b
    return ChunkResult(
        a.people + b.people,
        a.writes + b.writes,
        a.errors + b.errors,
        dict(Counter(a.by_disposition) + Counter(b.by_disposition)),
        dict(Counter(a.planned_rules) + Counter(b.planned_rules)),
        dict(Counter(a.planned_fields) + Counter(b.planned_fields)),
    )


END = "END"  # a target's position once it is walked to the end


def start(service: SyncService, spec: BackfillSpec, store: BackfillStore) -> Backfill:
    """Validate against the CRMs (counting the scope), record the backfill, return it (not yet
    enqueued: the caller sends the enumerate task)."""
    counts = count_scope(service, spec)
    return store.create(spec, sum(counts.values()))


def enumerate_scope(service: SyncService, store: BackfillStore, bid: str, send: Any) -> None:
    """Walk the scope from the checkpoint, store chunks, ``send(n)`` each (see the module doc)."""
    got = store.spec_and_state(bid)
    if got is None or got[1] not in RUNNING:
        return
    spec = got[0]
    positions = store.checkpoint(bid)
    for crm, obj in spec.targets():
        target = f"{crm}:{obj}"
        before = positions.get(target, "")
        if before == END:
            continue
        for page, after in walk(service, spec, crm, obj, before):
            if store.state_of(bid) not in RUNNING:
                return
            chunks = [page[i : i + spec.chunk_size] for i in range(0, len(page), spec.chunk_size)]
            numbers = store.add_chunks(bid, target, chunks, before, after)
            if numbers is None:
                return
            for n in numbers:
                send(n)
                store.mark_sent(bid, n)
            before = after
        if store.add_chunks(bid, target, [], before, END) is None:
            return
    store.mark_enumerated(bid)
    store.maybe_finish(bid)


def resume(store: BackfillStore, bid: str) -> tuple[bool, list[int]]:
    """What a resume must send again: (enumerate?, pending chunk numbers). A finished or cancelled
    backfill is left alone."""
    got = store.spec_and_state(bid)
    if got is None:
        raise InputError(f"no backfill {bid!r}")
    if got[1] not in RUNNING:
        raise InputError(f"backfill {bid} is {got[1]}: nothing to resume")
    enumerated = keys.text(store.redis.hget(keys.backfill(bid), "enumerated")) == "1"
    return not enumerated, store.pending_chunks(bid)


def cancel(store: BackfillStore, bid: str) -> Backfill:
    b = store.get(bid)
    if b is None:
        raise InputError(f"no backfill {bid!r}")
    if b.state in RUNNING:
        store.set_state(bid, "canceled", "cancelled by an operator")
        b = store.get(bid) or b
    return b
