"""The worker's HubSpot port: read changes, batch read, batch update/upsert, lifecycle moves.

Returns HubSpot's raw v3 JSON records (``id``, ``properties``, ``createdAt``, ``updatedAt``,
``archived``…); normalisation is the core's job. Batch size 100 [C, reference §2.1].

Batch failure semantics, as the sandbox emulates them from sources:
- 207 with ``errors[].context.ids`` for inputs that do not exist [B, php #619] → per-input rejections;
- 400 for the whole batch when any input is invalid [B, Atlas-Authority #174]: the batch is split in
  halves until the bad inputs are isolated, so good inputs still land and each bad one is rejected with
  HubSpot's own category and message;
- 409 "Contact already exists. Existing ID: N" [B] is resolved to N and the write goes to that id.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.crm.hubspot.client import Answer, HubSpotTransport, Op, RateLimiter
from worker.crm.hubspot.cursor import (
    MODIFIED_PROPERTY,
    Cursor,
    Delivered,
    PageQuery,
    WindowPolicy,
    advance,
    after_page,
    first_query,
    open_window,
    record_key,
    should_deliver,
)
from worker.crm.hubspot.settings import HubSpotSettings
from worker.errors import RecordRejectedError

BATCH_SIZE = 100
SEARCH_PAGE = 200
CONFLICT_ID = re.compile(r"Existing ID: (\d+)")
DEFAULT_CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "lifecyclestage",
    "hs_lead_status",
    "unqualified_reason",
    "salesforce_lead_id",
    "salesforce_contact_id",
    "lastmodifieddate",
    "hs_lastmodifieddate",
    "createdate",
    "hs_merged_object_ids",
)


@dataclass(frozen=True)
class WriteResult:
    """The outcome for one input: ``key`` is the id or email given; ``record`` is HubSpot's answer."""

    key: str
    id: str | None = None
    record: dict[str, Any] | None = None
    created: bool = False
    error: RecordRejectedError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ChangePage:
    """Records delivered by one search page and the cursor after them (persist it once handled)."""

    records: list[dict[str, Any]]
    cursor: Cursor | None


@dataclass
class SearchPager:
    """The paging strategy: fresh query per page starting at the last key read (see ``cursor.py``)."""

    transport: HubSpotTransport
    object_type: str
    properties: Sequence[str]
    page_size: int = SEARCH_PAGE
    totals: list[int] = field(default_factory=list)

    def pages(self, query: PageQuery | None) -> Iterator[list[dict[str, Any]]]:
        prop = MODIFIED_PROPERTY[self.object_type]
        search = self.transport
        while query is not None:
            body = query.body(prop, self.properties, self.page_size)
            answer = search.call(_search_op(self.object_type, body), search=True)
            doc = answer.body or {}
            results = list(doc.get("results") or [])
            self.totals.append(int(doc.get("total") or 0))
            has_more = bool((doc.get("paging") or {}).get("next"))
            outcome = after_page(
                query, results, page_size=self.page_size, object_type=self.object_type, has_more=has_more
            )
            if outcome.deliver:
                yield outcome.deliver
            query = outcome.next_query


class HubSpotAdapter:
    """Narrow, typed operations the sync needs, over one ``HubSpotTransport``."""

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.transport = HubSpotTransport(settings, limiter)
        self.clock = clock
        self.delivered = Delivered()
        self.policy = WindowPolicy(
            index_lag_margin_ms=int(settings.index_lag_margin_s * 1000),
            lookback_ms=int(settings.lookback_s * 1000),
        )

    # ------------------------------------------------------------------ reads
    def changes_since(
        self,
        cursor: Cursor | None,
        *,
        object_type: str = "contacts",
        properties: Sequence[str] = DEFAULT_CONTACT_PROPERTIES,
    ) -> Iterator[ChangePage]:
        """Every record modified in this poll's window, page by page, with the cursor after each page.

        At-least-once: records in the lookback zone may come again on the next poll.
        """
        window = open_window(cursor, int(self.clock() * 1000), self.policy)
        if window is None:
            return
        pager = SearchPager(self.transport, object_type, properties)
        current = cursor
        for page in pager.pages(first_query(window)):
            records = []
            for r in page:
                key = record_key(r, object_type)
                if should_deliver(key, cursor, self.policy.lookback_ms, self.delivered):
                    records.append(r)
                    self.delivered.add(key)
            current = advance(current, records, object_type)
            if records:
                yield ChangePage(records, current)

    def read(
        self,
        ids: Sequence[str],
        *,
        object_type: str = "contacts",
        properties: Sequence[str] = DEFAULT_CONTACT_PROPERTIES,
    ) -> dict[str, dict[str, Any]]:
        """Batch read by id (100 per call), keyed by the id asked for.

        Missing ids are absent. A merged-away id answers with the survivor [C, reference §9]; it is
        keyed by the id asked for (matched through the survivor's ``hs_merged_object_ids``).
        """
        props = list(properties)
        if "hs_merged_object_ids" not in props:
            props.append("hs_merged_object_ids")
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(ids), BATCH_SIZE):
            body = {"inputs": [{"id": i} for i in chunk], "properties": props}
            answer = self.transport.call(_read_op(object_type, body))
            results = list((answer.body or {}).get("results") or [])
            by_id = {str(rec["id"]): rec for rec in results}
            for requested in chunk:
                rec = by_id.get(requested)
                if rec is None:
                    rec = next((r for r in results if requested in _merged_ids(r)), None)
                if rec is not None:
                    out[requested] = rec
        return out

    def get(
        self, object_id: str, *, object_type: str = "contacts", properties: Sequence[str] = ()
    ) -> dict[str, Any]:
        props = list(properties or DEFAULT_CONTACT_PROPERTIES)
        answer = self.transport.call(
            lambda apis: apis.basic[object_type].get_by_id(object_id, properties=props, **apis.kw)
        )
        return dict(answer.body)

    # ------------------------------------------------------------------ writes
    def update(
        self, updates: Mapping[str, Mapping[str, str]], *, object_type: str = "contacts"
    ) -> dict[str, WriteResult]:
        """Batch update by id (100 per call); one result per input id."""
        results: dict[str, WriteResult] = {}
        items = [(str(k), dict(v)) for k, v in updates.items()]
        for chunk in _chunks(items, BATCH_SIZE):
            self._update_chunk(chunk, object_type, results)
        return results

    def _update_chunk(
        self, chunk: list[tuple[str, dict[str, str]]], object_type: str, results: dict[str, WriteResult]
    ) -> None:
        body = {"inputs": [{"id": i, "properties": p} for i, p in chunk]}
        try:
            answer = self.transport.call(lambda apis: apis.batch[object_type].update(body, **apis.kw))
        except RecordRejectedError as err:
            self._split_or_reject(chunk, err, results, lambda c: self._update_chunk(c, object_type, results))
            return
        self._map_batch(answer, [i for i, _ in chunk], results, by="id")

    def upsert_by_email(self, inputs: Mapping[str, Mapping[str, str]]) -> dict[str, WriteResult]:
        """Create-or-update contacts keyed by email (100 per call), so concurrent creates cannot duplicate."""
        results: dict[str, WriteResult] = {}
        items = [(str(k).strip().lower(), dict(v)) for k, v in inputs.items()]
        for chunk in _chunks(items, BATCH_SIZE):
            self._upsert_chunk(chunk, results)
        return results

    def _upsert_chunk(self, chunk: list[tuple[str, dict[str, str]]], results: dict[str, WriteResult]) -> None:
        body = {
            "inputs": [
                {
                    "id": email,
                    "idProperty": "email",
                    # email is sent as a property too, so every result carries it to map back by
                    "properties": {**p, "email": email},
                }
                for email, p in chunk
            ]
        }
        try:
            answer = self.transport.call(lambda apis: apis.batch["contacts"].upsert(body, **apis.kw))
        except RecordRejectedError as err:
            existing = _conflict_id(err)
            if existing is not None and len(chunk) == 1:
                email, props = chunk[0]
                res = self.update({existing: {k: v for k, v in props.items() if k != "email"}})[existing]
                results[email] = WriteResult(email, res.id, res.record, False, res.error)
                return
            self._split_or_reject(chunk, err, results, lambda c: self._upsert_chunk(c, results))
            return
        self._map_batch(answer, [e for e, _ in chunk], results, by="email")

    def create_contact(self, properties: Mapping[str, str]) -> WriteResult:
        """Single create; a 409 duplicate email is resolved to the existing id and updated instead."""
        props = dict(properties)
        key = props.get("email", "")
        try:
            answer = self.transport.call(
                lambda apis: apis.basic["contacts"].create({"properties": props}, **apis.kw)
            )
        except RecordRejectedError as err:
            existing = _conflict_id(err)
            if existing is None:
                return WriteResult(key, error=err)
            res = self.update({existing: {k: v for k, v in props.items() if k != "email"}})[existing]
            return WriteResult(key, res.id, res.record, False, res.error)
        rec = dict(answer.body)
        return WriteResult(key, str(rec["id"]), rec, True)

    def move_lifecycle_backward(self, moves: Mapping[str, str]) -> dict[str, WriteResult]:
        """Clear ``lifecyclestage`` then set the earlier stage: two ordered batch requests, then a read-back.

        HubSpot ignores (or refuses) backward moves unless the stage is cleared first, in a separate
        request [A legacy v1 doc; B forum thread 1333: batches are not processed in order].
        An input whose read-back does not show the stage is rejected with code LIFECYCLE_NOT_APPLIED.
        """
        cleared = self.update({i: {"lifecyclestage": ""} for i in moves})
        targets = {i: {"lifecyclestage": s} for i, s in moves.items() if cleared[i].ok}
        results = {i: r for i, r in cleared.items() if not r.ok}
        set_results = self.update(targets)
        readback = self.read([i for i, r in set_results.items() if r.ok], properties=["lifecyclestage"])
        for i, r in set_results.items():
            if not r.ok:
                results[i] = r
                continue
            rec = readback.get(i)
            got = (rec or {}).get("properties", {}).get("lifecyclestage")
            if got != moves[i]:
                results[i] = WriteResult(
                    i,
                    i,
                    rec,
                    error=RecordRejectedError(
                        f"lifecyclestage reads back as {got!r}, not {moves[i]!r}",
                        code="LIFECYCLE_NOT_APPLIED",
                    ),
                )
            else:
                results[i] = WriteResult(i, i, rec)
        return results

    # ------------------------------------------------------------------ helpers
    def _split_or_reject(
        self,
        chunk: list[tuple[str, dict[str, str]]],
        err: RecordRejectedError,
        results: dict[str, WriteResult],
        retry: Callable[[list[tuple[str, dict[str, str]]]], None],
    ) -> None:
        """A whole-batch 4xx: isolate the bad inputs by halving; a single input gets the rejection."""
        if len(chunk) == 1:
            key = chunk[0][0]
            results[key] = WriteResult(key, error=err)
            return
        mid = len(chunk) // 2
        retry(chunk[:mid])
        retry(chunk[mid:])

    def _map_batch(
        self, answer: Answer, keys: list[str], results: dict[str, WriteResult], *, by: str
    ) -> None:
        doc = answer.body or {}
        got: dict[str, dict[str, Any]] = {}
        for rec in doc.get("results") or []:
            if by == "email":
                k = str((rec.get("properties") or {}).get("email") or "").lower()
            else:
                k = str(rec["id"])
            got[k] = rec
        failed: dict[str, RecordRejectedError] = {}
        for e in doc.get("errors") or []:
            category = str(e.get("category") or "")
            message = str(e.get("message") or "")
            ids = (e.get("context") or {}).get("ids") or []
            for i in ids:
                failed[str(i).lower() if by == "email" else str(i)] = RecordRejectedError(
                    f"HubSpot {e.get('status', 'error')} {category}: {message}",
                    code=category,
                    status=answer.status,
                )
        for k in keys:
            if k in got:
                rec = got[k]
                results[k] = WriteResult(k, str(rec["id"]), rec, bool(rec.get("new", False)))
            elif k in failed:
                results[k] = WriteResult(k, error=failed[k])
            else:
                results[k] = WriteResult(
                    k,
                    error=RecordRejectedError(
                        "HubSpot returned no result for this input", code="MISSING_RESULT"
                    ),
                )


def _search_op(object_type: str, body: dict[str, Any]) -> Op:
    def op(apis: Any) -> Any:
        return apis.search[object_type].do_search(body, **apis.kw)

    return op


def _read_op(object_type: str, body: dict[str, Any]) -> Op:
    def op(apis: Any) -> Any:
        return apis.batch[object_type].read(body, archived=False, **apis.kw)

    return op


def _merged_ids(record: Mapping[str, Any]) -> set[str]:
    raw = (record.get("properties") or {}).get("hs_merged_object_ids") or ""
    return {x for x in str(raw).split(";") if x}


def _conflict_id(err: RecordRejectedError) -> str | None:
    if err.status != 409:
        return None
    m = CONFLICT_ID.search(str(err))
    return m.group(1) if m else None


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
