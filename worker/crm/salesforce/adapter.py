"""The Salesforce adapter: reads changes and records, related facts, writes in batches, Bulk 2.0 reads.

Every call goes through ``_call``: our API share is checked, the call runs, a failure is classified
once (``classify``); an expired session is renewed once (shared across threads) and the call repeated;
Retriable failures are retried by the policy in ``retry.py``; everything else is raised as classified.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce

from worker.crm.salesforce import queries
from worker.crm.salesforce.classify import classify, classify_save_errors
from worker.crm.salesforce.connection import Connection, build_http
from worker.crm.salesforce.cursor import Watermark, advance, after_condition, poll_start
from worker.crm.salesforce.retry import RetryPolicy
from worker.crm.salesforce.settings import SalesforceSettings
from worker.crm.salesforce.usage import ApiBudget, parse_limit_info
from worker.errors import CrmError, RetriableError, SessionExpiredError

T = TypeVar("T")
Record = dict[str, Any]
GET_UPDATED_MAX_AGE = dt.timedelta(days=30) - dt.timedelta(minutes=5)


@dataclass(frozen=True)
class ChangePage:
    """One page of changed records and the watermark after it (checkpoint it once the page is queued)."""

    records: list[Record]
    watermark: Watermark


@dataclass(frozen=True)
class DeletedRecords:
    """``sobjects/X/deleted``: ``records`` are ``{"id", "deletedDate"}``; resume from ``latest_covered``."""

    records: list[dict[str, str]]
    latest_covered: dt.datetime


@dataclass(frozen=True)
class WriteResult:
    """Per-record outcome, in request order: ``record_id`` on success, else ``error`` (classified)."""

    index: int
    record_id: str | None
    error: CrmError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class RelatedFacts:
    """Raw records with nested facts, by person id; for contacts also the leads converted into them."""

    records: dict[str, Record] = field(default_factory=dict)
    converted_leads: dict[str, list[Record]] = field(default_factory=dict)


class SalesforceAdapter:
    def __init__(self, settings: SalesforceSettings, http: requests.Session | None = None) -> None:
        self.settings = settings
        self.http = http or build_http(settings)
        self.http.hooks["response"].append(self._on_response)
        self.connection = Connection(settings, self.http)
        self.budget = ApiBudget(settings.max_api_share)
        self.policy = RetryPolicy.from_settings(settings)
        self._count_lock = threading.Lock()
        self.calls = 0  # HTTP requests made (logins included)
        self._describe_cache: dict[str, dict[str, str]] = {}

    def __repr__(self) -> str:
        return f"SalesforceAdapter({self.connection!r})"

    # -- plumbing ----------------------------------------------------------------------------
    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._count_lock:
            self.calls += 1
        self.budget.observe(parse_limit_info(response.headers.get("Sforce-Limit-Info")))

    def _once(self, fn: Callable[[Salesforce], T]) -> T:
        self.budget.check()
        sf, token = self.connection.client()
        try:
            return fn(sf)
        except Exception as exc:
            error = classify(exc, concurrent_limit_wait=self.settings.concurrent_limit_wait)
            if not isinstance(error, SessionExpiredError):
                raise error from exc
        self.connection.refresh(token)
        self.budget.check()
        sf, _ = self.connection.client()
        try:
            return fn(sf)
        except Exception as exc:
            raise classify(exc, concurrent_limit_wait=self.settings.concurrent_limit_wait) from exc

    def _call(self, fn: Callable[[Salesforce], T]) -> T:
        for attempt in self.policy.retrying():
            with attempt:
                return self._once(fn)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _query_headers(self) -> dict[str, str]:
        return {"Sforce-Query-Options": f"batchSize={self.settings.query_batch_size}"}

    def query_pages(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Each raw query result page (``totalSize``/``done``/``records``), following locators."""
        headers = self._query_headers()
        page: dict[str, Any] = self._call(
            lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers)
        )
        yield page
        while not page.get("done", True):
            url: str = page["nextRecordsUrl"]
            page = self._call(
                lambda sf, url=url: sf.query_more(url, identifier_is_url=True, headers=headers)  # type: ignore[misc]
            )
            yield page

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[Record]:
        for page in self.query_pages(soql, include_deleted=include_deleted):
            yield from page["records"]

    # -- reads -------------------------------------------------------------------------------
    def count(self, object_type: str, where: str = "", args: Sequence[Any] = ()) -> int:
        soql = _count_soql(object_type, where, args)
        return int(self._call(lambda sf: sf.query(soql))["totalSize"])

    def changes(
        self,
        object_type: str,
        mark: Watermark,
        fields: Sequence[str],
        *,
        lookback: dt.timedelta | None = None,
        allow_bulk: bool = True,
        with_facts: bool = False,
    ) -> Iterator[ChangePage]:
        """Records changed after ``mark`` (minus the lookback), oldest first, in pages.

        ``with_facts`` adds the related facts (see ``related_facts``) to the same query as parent fields
        and child subqueries, so they cost no extra calls (children count toward the 2000-row batch).
        Above ``bulk_threshold`` matching rows the read goes through Bulk API 2.0 instead (one page
        per results chunk; Bulk queries can't carry child subqueries, so no facts there).
        ``SystemModstamp`` and ``Id`` are always selected.
        """
        wanted = ["Id", "SystemModstamp", *fields]
        if with_facts:
            wanted += queries.facts_columns(object_type)
        start = poll_start(
            mark, lookback if lookback is not None else dt.timedelta(seconds=self.settings.lookback_seconds)
        )
        where, args = after_condition(start)
        soql = queries.select(wanted, object_type, where, args, tail="ORDER BY SystemModstamp, Id")
        current = mark
        if allow_bulk and self.count(object_type, where, args) > self.settings.bulk_threshold:
            bulk_soql = queries.select(
                ["Id", "SystemModstamp", *fields],
                object_type,
                where,
                args,
                tail="ORDER BY SystemModstamp, Id",
            )
            for rows in self.bulk_pages(bulk_soql, object_type):
                current = advance(current, rows)
                yield ChangePage(rows, current)
            return
        for page in self.query_pages(soql):
            records = page["records"]
            current = advance(current, records)
            yield ChangePage(records, current)

    def deleted_since(
        self, object_type: str, start: dt.datetime, end: dt.datetime | None = None
    ) -> DeletedRecords:
        """``sobjects/X/deleted`` over [start, end]; start is clamped to the 30-day window."""
        now = dt.datetime.now(dt.UTC)
        end = end or now
        start = max(start.astimezone(dt.UTC), now - GET_UPDATED_MAX_AGE).replace(microsecond=0)
        if end <= start:
            end = start + dt.timedelta(seconds=1)
        name = queries.name(object_type)
        result = self._call(lambda sf: getattr(sf, name).deleted(start, end.replace(microsecond=0)))
        from worker.crm.salesforce.cursor import parse_sf_datetime

        return DeletedRecords(
            [dict(r) for r in result.get("deletedRecords", [])],
            parse_sf_datetime(result["latestDateCovered"]),
        )

    def read_by_ids(self, object_type: str, ids: Sequence[str], fields: Sequence[str]) -> list[Record]:
        """Records by id, ``id_chunk_size`` ids per query (missing or deleted ids are simply absent)."""
        wanted = list(dict.fromkeys(["Id", *fields]))
        out: list[Record] = []
        for chunk in _chunks(list(dict.fromkeys(ids)), self.settings.id_chunk_size):
            out.extend(self.query(queries.select(wanted, object_type, "Id IN {}", [chunk])))
        return out

    def related_facts(self, object_type: str, ids: Sequence[str]) -> RelatedFacts:
        """Facts the lifecycle rules need, for many people in few queries (child subqueries + parents).

        Lead: conversion fields, converted account Type, converted opportunity stage/closed/won,
        completed Call tasks, events. Contact: account Type, opportunities via contact roles, calls,
        events, and the leads converted into the contact.
        """
        facts = RelatedFacts()
        unique = list(dict.fromkeys(ids))
        for chunk in _chunks(unique, self.settings.id_chunk_size):
            for rec in self.query(queries.facts_query(object_type, chunk)):
                facts.records[rec["Id"]] = rec
            if object_type == "Contact":
                soql = queries.select(
                    ["Id", "ConvertedContactId", "ConvertedDate", "ConvertedOpportunityId"],
                    "Lead",
                    "ConvertedContactId IN {}",
                    [chunk],
                )
                for lead in self.query(soql):
                    facts.converted_leads.setdefault(lead["ConvertedContactId"], []).append(lead)
        return facts

    # -- Bulk API 2.0 --------------------------------------------------------------------------
    def _field_types(self, object_type: str) -> dict[str, str]:
        if object_type not in self._describe_cache:
            name = queries.name(object_type)
            described = self._call(lambda sf: getattr(sf, name).describe())
            self._describe_cache[object_type] = {f["name"]: f["type"] for f in described["fields"]}
        return self._describe_cache[object_type]

    def bulk_pages(self, soql: str, object_type: str, *, max_records: int = 50_000) -> Iterator[list[Record]]:
        """Stream a Bulk 2.0 query: one CSV results page at a time, rows shaped like REST records
        (``attributes``, booleans, numbers, ``null`` for empty, REST datetime rendering). Relationship
        columns (``A.B``) stay flat keys. Memory is bounded by one page."""
        types = self._field_types(object_type)
        name = queries.name(object_type)
        pages = self._call(lambda sf: getattr(sf.bulk2, name).query(soql, max_records=max_records, wait=0.05))
        for text in pages:
            reader = csv.DictReader(io.StringIO(str(text)))
            yield [_bulk_row(object_type, row, types) for row in reader]

    # -- writes --------------------------------------------------------------------------------
    def update(
        self,
        object_type: str,
        changes: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        allow_duplicates: bool = False,
    ) -> list[WriteResult]:
        items = [{"attributes": {"type": object_type}, "id": rid, **dict(values)} for rid, values in changes]
        return self._write("PATCH", items, allow_duplicates)

    def create(
        self, object_type: str, records: Sequence[Mapping[str, Any]], *, allow_duplicates: bool = False
    ) -> list[WriteResult]:
        items = [{"attributes": {"type": object_type}, **dict(values)} for values in records]
        return self._write("POST", items, allow_duplicates)

    def _write(self, method: str, items: list[Record], allow_duplicates: bool) -> list[WriteResult]:
        """``composite/sobjects`` in batches of ≤ 200 with ``allOrNone: false``; records that fail with a
        retriable per-record code (UNABLE_TO_LOCK_ROW) are re-sent on their own, within the policy."""
        headers = {"Sforce-Duplicate-Rule-Header": "allowSave=true"} if allow_duplicates else {}
        results: list[WriteResult | None] = [None] * len(items)
        size = self.settings.write_batch_size
        for start in range(0, len(items), size):
            pending = list(range(start, min(start + size, len(items))))
            for attempt in range(self.policy.attempts):
                body = {"allOrNone": False, "records": [items[i] for i in pending]}

                def send(sf: Salesforce, body: Record = body) -> Any:
                    return sf.restful("composite/sobjects", method=method, json=body, headers=headers)

                answer = self._call(send)
                retry: list[int] = []
                for i, res in zip(pending, answer or [], strict=True):
                    if res.get("success"):
                        results[i] = WriteResult(i, res.get("id"))
                        continue
                    error = classify_save_errors(res.get("errors") or [])
                    rid = res.get("id") or items[i].get("id")
                    results[i] = WriteResult(i, rid, error)
                    if isinstance(error, RetriableError) and attempt + 1 < self.policy.attempts:
                        retry.append(i)
                if not retry:
                    break
                pending = retry
        return [
            r if r is not None else WriteResult(i, None, RetriableError("not attempted"))
            for i, r in enumerate(results)
        ]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _count_soql(object_type: str, where: str, args: Sequence[Any]) -> str:
    from simple_salesforce.format import format_soql

    text = f"SELECT COUNT() FROM {queries.name(object_type)}"
    if where:
        text += " WHERE " + where
    return format_soql(text, *args) if args else text


def _bulk_value(kind: str | None, text: str) -> Any:
    if text == "":
        return None
    if kind == "boolean":
        return text.lower() == "true"
    if kind in {"double", "currency", "percent"}:
        return float(text)
    if kind == "int":
        return int(text)
    if kind == "datetime" and text.endswith("Z"):
        return text[:-1] + ("" if "." in text else ".000") + "+0000"
    return text


def _bulk_row(object_type: str, row: Mapping[str, str], types: Mapping[str, str]) -> Record:
    out: Record = {"attributes": {"type": object_type}}
    for key, value in row.items():
        out[key] = _bulk_value(types.get(key), value)
    return out
