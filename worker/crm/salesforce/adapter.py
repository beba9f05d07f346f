"""The Salesforce adapter: reads changes and records, related facts, writes in batches, Bulk 2.0 reads.

Every call goes through ``_call``: our API share is checked, the call runs, a failure is classified
once (``classify``); an expired session is renewed once (shared across threads) and the call repeated;
Retriable failures are retried by the policy in ``retry.py``; everything else is raised as classified.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.bulk2 import Operation, SFBulk2Handler, _Bulk2Client

from worker.crm.clock import corrected, offset_from_headers
from worker.crm.port import (
    Outcome,
    ReadReport,
    Side,
    Stop,
    WriteOp,
    WriteReport,
    WriteResult,
    failure_outcome,
    from_error,
    not_attempted,
    values_match,
    with_op,
)
from worker.crm.salesforce import queries
from worker.crm.salesforce.classify import (
    DuplicatesDetectedError,
    classify,
    classify_code,
    classify_save_errors,
)
from worker.crm.salesforce.connection import Connection, build_http
from worker.crm.salesforce.cursor import (
    Watermark,
    advance,
    after_condition,
    parse_sf_datetime,
    poll_start,
    position_of,
)
from worker.crm.salesforce.retry import RetryPolicy
from worker.crm.salesforce.settings import SalesforceSettings
from worker.crm.salesforce.soap import (
    MAX_CONVERTS_PER_CALL,
    ConversionResult,
    LeadConversion,
    convert_envelope,
    parse_convert_results,
    parse_fault,
    parse_limit_info_header,
)
from worker.crm.salesforce.usage import ApiBudget, UsageStore, parse_limit_info
from worker.errors import (
    CrmError,
    FatalError,
    RecordRejectedError,
    RetriableError,
    SessionExpiredError,
    error_reason,
)
from worker.mapping.verify import Writable

T = TypeVar("T")
Record = dict[str, Any]
GET_UPDATED_MAX_AGE = dt.timedelta(days=30) - dt.timedelta(minutes=5)
REPLICATION_MIN_WINDOW = dt.timedelta(minutes=2)  # start must precede end by more than a minute
MAX_QUERY_RESTARTS = 3


def _locator_lost(exc: CrmError) -> bool:
    return isinstance(exc, SessionExpiredError) or exc.code == "INVALID_QUERY_LOCATOR"


@dataclass(frozen=True)
class ChangePage:
    """One page of changed records and the watermark after it (checkpoint it once the page is queued)."""

    records: list[Record]
    watermark: Watermark


@dataclass(frozen=True)
class DeletedRecords:
    """``sobjects/X/deleted``: ``records`` are ``{"id", "deletedDate"}``; resume from ``latest_covered``.

    ``gap``: deletions in part of the window asked for can no longer be listed (the cursor is older
    than the 30-day bound, or the delete log has been purged past it: ``earliestDateAvailable`` is
    later than the start). The caller must re-read what it knows (``missing_ids``) to find them."""

    records: list[dict[str, str]]
    latest_covered: dt.datetime
    gap: bool = False


@dataclass(frozen=True)
class OrgInfo:
    """The org a worker is connected to (``Organization``): id (00D…), name, instance, sandbox or
    production, edition."""

    id: str
    name: str
    instance: str
    sandbox: bool
    edition: str


@dataclass(frozen=True)
class _WriteOp:
    method: str
    path: str
    idempotent: bool  # safe to send again after an ambiguous failure (update, upsert by key)


def _not_applied(exc: CrmError) -> bool:
    """A failure that proves the request changed nothing: an HTTP answer below 500 (4xx: 400
    UNABLE_TO_LOCK_ROW for the whole request, 403 concurrent limit, 429). Timeouts, dropped
    connections and 5xx are ambiguous: the server may have committed before the answer was lost."""
    return exc.status is not None and exc.status < 500


#: objects a merge can delete records of (api sforce_api_calls_merge.htm)
MERGEABLE_OBJECTS = frozenset({"Lead", "Contact", "Account"})
_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


@dataclass
class RelatedFacts:
    """Raw records with nested facts, by person id; for contacts also the leads converted into them."""

    records: dict[str, Record] = field(default_factory=dict)
    converted_leads: dict[str, list[Record]] = field(default_factory=dict)


class SalesforceAdapter:
    def __init__(
        self,
        settings: SalesforceSettings,
        http: requests.Session | None = None,
        *,
        usage_store: UsageStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.http = http or build_http(settings)
        self.http.hooks["response"].append(self._on_response)
        self.connection = Connection(settings, self.http)
        self.budget = ApiBudget(
            settings.max_api_share,
            recheck_seconds=settings.api_share_recheck_seconds,
            store=usage_store,
            org=settings.usage_key,
        )
        self.policy = RetryPolicy.from_settings(settings, sleep)
        self._count_lock = threading.Lock()
        self.calls = 0  # HTTP requests made (logins included)
        self.retries: Counter[str] = Counter()  # calls and per-record re-sends retried, by reason
        self._describe_cache: dict[str, dict[str, str]] = {}
        #: Salesforce's clock minus ours (seconds), from the last answer's ``Date``; None until one
        self.server_offset_s: float | None = None
        self.calls_subquery = queries.calls_subquery(settings.call_task_field, settings.call_task_values)

    def __repr__(self) -> str:
        return f"SalesforceAdapter({self.connection!r})"

    # -- plumbing ----------------------------------------------------------------------------
    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._count_lock:
            self.calls += 1
        self.budget.observe(parse_limit_info(response.headers.get("Sforce-Limit-Info")))
        offset = offset_from_headers(response.headers, time.time())
        if offset is not None:
            self.server_offset_s = offset

    def server_now(self) -> dt.datetime:
        """Salesforce's "now": our clock corrected by the offset the last answer's ``Date`` showed
        (when none was seen yet, the login's answer, else one ``GET /services/data/``, which needs no
        session and does not count against the org's API limit: api_rest headers_api_usage.htm). First
        cursors and read windows are positions on Salesforce's clock (``SystemModstamp``); taken from a
        worker clock minutes off they skipped (ahead) or delayed (behind) the last minutes' changes."""
        if self.server_offset_s is None:
            self._client()  # logs in if needed (its answer has a Date)
        if self.server_offset_s is None:
            url = f"{self.connection.instance_url}/services/data/"
            # no answer, no Date: our own clock it is (the next answer corrects it)
            with contextlib.suppress(requests.RequestException):
                self.http.get(url, headers={"Accept": "application/json"})
        return dt.datetime.fromtimestamp(corrected(time.time(), self.server_offset_s), dt.UTC)

    def _note_retry(self, exc: BaseException, n: int = 1) -> None:
        with self._count_lock:
            self.retries[error_reason(exc)] += n

    def take_retries(self) -> dict[str, int]:
        """The retries counted since the last take (by reason), and start counting afresh: each retry
        is handed to the metrics once, whichever thread or poll made it."""
        with self._count_lock:
            taken, self.retries = dict(self.retries), Counter()
        return taken

    def _client(self) -> tuple[Salesforce, str]:
        sf, token = self.connection.client()
        key = self.connection.org_key
        if key and self.budget.org != key:
            self.budget.org = key  # readings are shared per org (org id from the session)
        return sf, token

    def _once(self, fn: Callable[[Salesforce], T]) -> T:
        sf, token = self._client()
        self.budget.check()
        try:
            return fn(sf)
        except Exception as exc:
            error = classify(exc, concurrent_limit_wait=self.settings.concurrent_limit_wait)
            if not isinstance(error, SessionExpiredError):
                raise error from exc
        self.connection.refresh(token)
        sf, _ = self._client()
        self.budget.check()
        try:
            return fn(sf)
        except Exception as exc:
            raise classify(exc, concurrent_limit_wait=self.settings.concurrent_limit_wait) from exc

    def _call(self, fn: Callable[[Salesforce], T], *, only: Callable[[CrmError], bool] | None = None) -> T:
        """Run ``fn`` with the share check, classification, one re-login and the retry policy
        (``only`` narrows which RetriableErrors are retried)."""
        for attempt in self.policy.retrying(only, on_retry=self._note_retry):
            with attempt:
                return self._once(fn)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _query_headers(self) -> dict[str, str]:
        return {"Sforce-Query-Options": f"batchSize={self.settings.query_batch_size}"}

    def query_pages(
        self, soql: str, *, include_deleted: bool = False
    ) -> Generator[dict[str, Any], None, None]:
        """Each raw query result page (``totalSize``/``done``/``records``), following locators."""
        headers = self._query_headers()
        size = queries.query_param_bytes(soql)
        if size > queries.MAX_QUERY_PARAM_BYTES:
            raise FatalError(
                f"query too long for a GET URL ({size} bytes encoded; Salesforce answers 414 past 16,384)",
                code="URI_TOO_LONG",
            )
        page: dict[str, Any] = self._call(
            lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers),
            only=_not_query_timeout,  # the same heavy query would time out again: the caller narrows
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
            wanted += queries.facts_columns(object_type, self.calls_subquery)
        start = poll_start(
            mark, lookback if lookback is not None else dt.timedelta(seconds=self.settings.lookback_seconds)
        )
        current = mark
        scanned: Watermark | None = None  # position of the last row handed out, in query order
        restarts = 0
        span: dt.timedelta | None = None  # set once a query timed out: read in windows this wide
        window_end: dt.datetime | None = None
        while True:
            after = scanned or start
            where, args = after_condition(after)
            if span is not None:
                window_end = after.modstamp + span
                where, args = f"{where} AND SystemModstamp < {{}}", [*args, window_end]
            soql = queries.select(wanted, object_type, where, args, tail="ORDER BY SystemModstamp, Id")
            pages = self.query_pages(soql)
            try:
                for page in pages:
                    records = page["records"]
                    current = advance(current, records)
                    if records:
                        scanned = position_of(records[-1])
                    yield ChangePage(records, current)
                    if (
                        allow_bulk
                        and span is None
                        and not page.get("done", True)
                        and page["totalSize"] > self.settings.bulk_threshold
                    ):
                        pages.close()  # the abandoned locator expires on the server
                        yield from self._bulk_changes(
                            object_type, fields, scanned or start, current, with_facts
                        )
                        return
                if window_end is None:
                    return
                # The window is read: continue after it, in a window twice as wide.
                scanned = max(scanned or start, Watermark(window_end, ""))
                current = max(current, scanned)
                yield ChangePage([], current)
                if window_end >= self.server_now():
                    return
                assert span is not None
                span *= 2
            except CrmError as exc:
                if exc.code == "QUERY_TIMEOUT":
                    span = _narrower(span, after.modstamp, self.server_now())
                    continue
                # A query locator dies with its session (re-login mid-pagination) or when the user's
                # 10-cursor limit evicts it; the compound cursor lets the scan resume exactly there.
                if restarts == MAX_QUERY_RESTARTS or not _locator_lost(exc):
                    raise
                restarts += 1

    def _bulk_changes(
        self, object_type: str, fields: Sequence[str], after: Watermark, mark: Watermark, with_facts: bool
    ) -> Iterator[ChangePage]:
        """The rest of a large change read through Bulk API 2.0. Bulk results come without ORDER BY
        (it disables PK chunking; api_asynch queries.htm), so pages hold the incoming watermark and only
        the last page carries the advanced one. Facts are fetched per page (Bulk can't run subqueries)."""
        where, args = after_condition(after)
        soql = queries.select(["Id", "SystemModstamp", *fields], object_type, where, args)
        best = mark
        pending: list[Record] | None = None
        for rows in self.bulk_pages(soql, object_type):
            if with_facts and rows:
                facts = self.related_facts(object_type, [r["Id"] for r in rows]).records
                for row in rows:
                    extra = facts.get(row["Id"], {})
                    row.update({k: v for k, v in extra.items() if k not in row})
            best = advance(best, rows)
            if pending is not None:
                yield ChangePage(pending, mark)
            pending = rows
        yield ChangePage(pending or [], best)

    def organization(self) -> OrgInfo:
        """The connected org (object reference, Organization: one row, its Id the org id): what the
        start-up check logs and what keys shared API-usage readings."""
        rows = list(
            self.query("SELECT Id, Name, InstanceName, IsSandbox, OrganizationType FROM Organization LIMIT 1")
        )
        if not rows:
            raise FatalError("Salesforce returned no Organization row", code="NO_ORGANIZATION")
        row = rows[0]
        return OrgInfo(
            id=str(row["Id"]),
            name=str(row.get("Name") or ""),
            instance=str(row.get("InstanceName") or ""),
            sandbox=bool(row.get("IsSandbox")),
            edition=str(row.get("OrganizationType") or ""),
        )

    def check_api_version(self) -> None:
        """``ConfigError`` when the org does not serve the configured API version (see
        ``Connection.check_api_version``); part of the start-up check."""
        self.connection.check_api_version()

    def describe_fields(self, object_type: str) -> dict[str, frozenset[str] | None]:
        """Field API name → active picklist values (None for a field that is not a picklist): what
        a definition map is checked against before anything runs (``worker.mapping.verify``). Fields
        hidden from the connected user by field-level security are not in describe, so not here."""
        return self.describe_schema(object_type)[0]

    def record_type_picklists(self, object_type: str) -> dict[str, dict[str, frozenset[str]]]:
        """Per active record type the user can use (by name; the master type left out), the values
        each picklist allows: describe's ``recordTypeInfos`` (api_rest resources_sobject_describe.htm),
        then the UI API picklist values of each type (``/ui-api/object-info/{object}/picklist-values/
        {recordTypeId}``, uiapi ui_api_resources_picklist_values_collection.htm). One describe plus one
        call per record type; an object without record types costs the describe only."""
        name = queries.name(object_type)
        described = self._call(lambda sf: getattr(sf, name).describe())
        out: dict[str, dict[str, frozenset[str]]] = {}
        for info in described.get("recordTypeInfos", []):
            if info.get("master") or not info.get("active", True) or not info.get("available", True):
                continue
            path = f"ui-api/object-info/{name}/picklist-values/{info['recordTypeId']}"
            answer = self._call(lambda sf, path=path: sf.restful(path))  # type: ignore[misc]
            out[str(info["name"])] = {
                field: frozenset(str(v["value"]) for v in picklist.get("values", []))
                for field, picklist in answer.get("picklistFieldValues", {}).items()
            }
        return out

    def describe_schema(self, object_type: str) -> tuple[dict[str, frozenset[str] | None], Writable]:
        """One describe: the fields the connected user can see (with picklist values, as
        ``describe_fields``) and what they may create/update (``createable``/``updateable`` carry
        field-level security; api_rest resources_sobject_describe.htm)."""
        name = queries.name(object_type)
        described = self._call(lambda sf: getattr(sf, name).describe())
        out: dict[str, frozenset[str] | None] = {}
        createable: set[str] = set()
        updateable: set[str] = set()
        external: set[str] = set()
        for f in described["fields"]:
            if f.get("type") in {"picklist", "multipicklist"}:
                out[f["name"]] = frozenset(
                    v["value"] for v in f.get("picklistValues", []) if v.get("active", True)
                )
            else:
                out[f["name"]] = None
            if f.get("createable"):
                createable.add(f["name"])
            if f.get("updateable"):
                updateable.add(f["name"])
            if f.get("externalId"):
                external.add(f["name"])
        return out, Writable(frozenset(createable), frozenset(updateable), frozenset(external))

    def deleted_since(
        self, object_type: str, start: dt.datetime, end: dt.datetime | None = None
    ) -> DeletedRecords:
        """``sobjects/X/deleted`` over [start, end], never an invalid window (api_rest
        resources_getdeleted.htm, SOAP getDeleted rules): the start is kept within the 30-day bound,
        the window is widened to more than a minute, and a start the org can no longer serve
        (older than the bound, before ``earliestDateAvailable``, or refused with
        INVALID_REPLICATION_DATE) comes back as ``gap=True`` with what could be listed."""
        now = self.server_now()
        end = (end or now).astimezone(dt.UTC).replace(microsecond=0)
        asked = start.astimezone(dt.UTC)
        oldest = now - GET_UPDATED_MAX_AGE
        start = max(asked, oldest).replace(microsecond=0)
        gap = asked < oldest
        start = min(start, end - REPLICATION_MIN_WINDOW)
        name = queries.name(object_type)
        try:
            result = self._call(lambda sf: getattr(sf, name).deleted(start, end))
        except FatalError as exc:
            if exc.code != "INVALID_REPLICATION_DATE":
                raise
            return DeletedRecords([], end.replace(second=0), gap=True)
        earliest = result.get("earliestDateAvailable")
        if earliest and parse_sf_datetime(earliest) > asked:
            gap = True
        return DeletedRecords(
            [dict(r) for r in result.get("deletedRecords", [])],
            parse_sf_datetime(result["latestDateCovered"]),
            gap=gap,
        )

    def missing_ids(self, object_type: str, ids: Sequence[str]) -> list[str]:
        """The ids (of records the caller knows) that no longer exist: the full re-read that recovers
        deletions ``deleted_since`` can no longer list (``gap``). Malformed ids count as missing."""
        invalid: dict[str, CrmError] = {}
        found = {r["Id"] for r in self.read_by_ids(object_type, ids, ["Id"], invalid=invalid)}
        found15 = {i[:15] for i in found}
        return [i for i in dict.fromkeys(ids) if i not in found and i[:15] not in found15]

    def read_by_ids(
        self,
        object_type: str,
        ids: Sequence[str],
        fields: Sequence[str],
        *,
        invalid: dict[str, CrmError] | None = None,
    ) -> list[Record]:
        """Records by id, ``id_chunk_size`` ids per query (missing or deleted ids are simply absent).

        Ids that are not well-formed 15/18-character ids are left out of the query (Salesforce fails
        the whole query with INVALID_QUERY_FILTER_OPERATOR for one of them) and reported per id in
        ``invalid`` as RecordRejectedError MALFORMED_ID."""
        wanted = list(dict.fromkeys(["Id", *fields]))
        out: list[Record] = []

        def build(chunk: list[str]) -> str:
            return queries.select(wanted, object_type, "Id IN {}", [chunk])

        for _, soql in _fitting(self._valid_ids(ids, invalid), self.settings.id_chunk_size, build):
            out.extend(self.query(soql))
        return out

    @staticmethod
    def _valid_ids(ids: Sequence[str], invalid: dict[str, CrmError] | None) -> list[str]:
        good: list[str] = []
        for rid in dict.fromkeys(ids):
            if isinstance(rid, str) and _ID_RE.match(rid):
                good.append(rid)
            elif invalid is not None:
                invalid[str(rid)] = RecordRejectedError(f"invalid ID field: {rid}", code="MALFORMED_ID")
        return good

    def related_facts(self, object_type: str, ids: Sequence[str]) -> RelatedFacts:
        """Facts the lifecycle rules need, for many people in few queries (child subqueries + parents).

        Lead: conversion fields, converted account Type, converted opportunity stage/closed/won,
        completed Call tasks, events. Contact: account Type, opportunities via contact roles, calls,
        events, and the leads converted into the contact.
        """
        facts = RelatedFacts()
        unique = self._valid_ids(ids, None)
        build = partial(queries.facts_query, object_type, calls=self.calls_subquery)
        for chunk, facts_soql in _fitting(unique, self.settings.id_chunk_size, build):
            for rec in self.query(facts_soql):
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
        columns (``A.B``) stay flat keys. Memory is bounded by one page.

        The job is driven step by step (create, poll, each results page; bulk_api_2_0
        query_create_job / query_get_job_info / query_get_job_results), every step inside ``_call``:
        the API share is checked and the call counted, failures are classified and retried, and each
        step builds its Bulk 2.0 client from the current session, so a re-login mid-read is used."""
        types = self._field_types(object_type)
        name = queries.name(object_type)

        def bulk(sf: Salesforce) -> _Bulk2Client:
            handler = SFBulk2Handler(sf.session_id, sf.bulk2_url, session=sf.session)
            return _Bulk2Client(name, sf.bulk2_url, handler.headers, sf.session)

        job = self._call(lambda sf: bulk(sf).create_job(Operation.query, soql))
        job_id = str(job["id"])
        wait = self.settings.bulk_poll_seconds
        while True:
            info = self._call(lambda sf: bulk(sf).get_job(job_id, True))
            state = info.get("state")
            if state == "JobComplete":
                break
            if state in {"Failed", "Aborted"}:
                raise FatalError(
                    f"Bulk 2.0 query job {job_id} {state}: {info.get('errorMessage', '')}"[:500],
                    code=f"BULK_JOB_{str(state).upper()}",
                )
            self.policy.sleep(wait)
            wait = min(max(wait * 2, 0.01), 30.0)
        locator = ""
        while True:
            page = self._call(
                lambda sf, loc=locator: bulk(sf).get_query_results(job_id, loc, max_records)  # type: ignore[misc]
            )
            reader = csv.DictReader(io.StringIO(str(page["records"])))
            yield [_bulk_row(object_type, row, types) for row in reader]
            locator = str(page["locator"] or "")
            if not locator:
                return

    # -- lead conversion (SOAP) ----------------------------------------------------------------
    def convert_leads(self, conversions: Sequence[LeadConversion]) -> list[ConversionResult]:
        """Convert leads with the SOAP ``convertLead`` call (the REST API has no conversion resource,
        reference §4), in chunks; per-lead failures come back as results with the CRM's code."""
        out: list[ConversionResult] = []
        items = list(conversions)
        for start in range(0, len(items), MAX_CONVERTS_PER_CALL):
            chunk = items[start : start + MAX_CONVERTS_PER_CALL]

            def call(sf: Salesforce, chunk: list[LeadConversion] = chunk) -> list[ConversionResult]:
                response = sf.session.post(
                    f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}",
                    data=convert_envelope(sf.session_id, chunk).encode(),
                    headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "convertLead"},
                )
                self.budget.observe(parse_limit_info_header(response.content))
                if response.status_code != 200:
                    code, message = parse_fault(response.content)
                    raise classify_code(
                        code, message, 401 if code == "INVALID_SESSION_ID" else response.status_code
                    )
                return parse_convert_results(response.content, chunk)

            out.extend(self._call(call))
        return out

    # -- the port (worker.crm.port) ---------------------------------------------------------------
    side: Side = "salesforce"

    def fetch(self, object_type: str, ids: Sequence[str], fields: Sequence[str]) -> ReadReport:
        """Records by id (see ``read_by_ids``) as the port's ``ReadReport``: ids not returned are missing
        (deleted or never existed), malformed ids are rejected without being sent. A record a merge
        deleted answers with its survivor, keyed by the id asked for and listed in ``redirected``
        (see ``merge_survivors``), as HubSpot answers a merged-away id."""
        invalid: dict[str, CrmError] = {}
        out = _by_asked_id(ids, _by_id(self.read_by_ids(object_type, ids, fields, invalid=invalid)))
        gone = [i for i in dict.fromkeys(ids) if i not in out and i not in invalid]
        redirected: dict[str, str] = {}
        for rid, row in self.merge_survivors(object_type, gone, fields).items():
            out[rid], redirected[rid] = row, str(row["Id"])
        missing = frozenset(i for i in ids if i not in out and i not in invalid)
        return ReadReport(records=out, missing=missing, redirected=redirected, rejected=invalid)

    def merge_survivors(
        self, object_type: str, ids: Sequence[str], fields: Sequence[str], *, hops: int = 3
    ) -> dict[str, Record]:
        """The surviving record of each id a merge deleted, keyed by the id asked for.

        A merge deletes the losing Leads/Contacts/Accounts with ``MasterRecordId`` set to the survivor;
        ``sobjects/X/deleted`` lists only their ids and deletion times, so the master is read with
        ``queryAll`` (api sforce_api_calls_merge.htm: "use queryAll() to view records that have been
        deleted during a merge"). A survivor merged away later is followed, up to ``hops`` merges.
        Ids deleted without a merge (or not found) are absent. One query per id chunk, only for ids the
        caller found missing."""
        if not ids or hops <= 0 or object_type not in MERGEABLE_OBJECTS:
            return {}
        master_of: dict[str, str] = {}

        def build(chunk: list[str]) -> str:
            return queries.select(
                ["Id", "MasterRecordId"], object_type, "IsDeleted = true AND Id IN {}", [chunk]
            )

        for _, soql in _fitting(self._valid_ids(ids, None), self.settings.id_chunk_size, build):
            for row in self.query(soql, include_deleted=True):
                if row.get("MasterRecordId"):
                    master_of[str(row["Id"])] = str(row["MasterRecordId"])
        if not master_of:
            return {}
        masters = sorted(set(master_of.values()))
        found = _by_asked_id(masters, _by_id(self.read_by_ids(object_type, masters, fields)))
        found.update(
            self.merge_survivors(object_type, [m for m in masters if m not in found], fields, hops=hops - 1)
        )
        return _by_asked_id(ids, {rid: found[m] for rid, m in master_of.items() if m in found})

    def apply(self, ops: Sequence[WriteOp], *, allow_duplicates: bool = False) -> WriteReport:
        """Run explicit write operations; one result per op, keyed by ``op.key``.

        A create carries its idempotency handle in the object's create key field
        (``create_upsert_fields``; Lead: ``HubSpot_Contact_ID__c``): ``op.key`` is written there unless
        the values already hold it, so the create goes as an upsert on that key and a re-send after a
        lost answer finds the record. ``move_back`` is HubSpot's; Salesforce has no such constraint."""
        prepared: list[WriteOp] = []
        for op in ops:
            if op.kind == "move_back":
                raise ValueError("move_back is a HubSpot operation; Salesforce takes a plain update")
            key = self.settings.create_upsert_fields.get(op.object_type)
            if op.kind == "create" and key and not op.values.get(key):
                prepared.append(replace(op, values={**op.values, key: op.key}))
            else:
                prepared.append(op)
        return self._write(prepared, allow_duplicates)

    def reconcile(self, report: WriteReport) -> WriteReport:
        """Resolve UNKNOWN results by reading back: an update whose values all read back is APPLIED, else
        NOT_APPLIED (safe to send again); a keyed create found by its key is APPLIED, not found is
        NOT_APPLIED. A create without a key cannot be looked up and stays UNKNOWN. A read that fails
        leaves the report as it was (with the failure as ``stopped``)."""
        unknown = [r for r in report.in_state(Outcome.UNKNOWN) if r.op is not None]
        if not unknown:
            return report
        resolved: list[WriteResult] = []
        try:
            for object_type in sorted({r.op.object_type for r in unknown if r.op is not None}):
                mine = [r for r in unknown if r.op is not None and r.op.object_type == object_type]
                resolved += self._read_back_updates(
                    object_type, [r for r in mine if r.op and r.op.kind == "update"]
                )
                resolved += self._read_back_creates(
                    object_type, [r for r in mine if r.op and r.op.kind == "create"]
                )
        except CrmError as exc:
            return WriteReport(report.results, Stop.of(exc))
        return report.merged(WriteReport(tuple(resolved), report.stopped))

    def _read_back_updates(self, object_type: str, results: list[WriteResult]) -> list[WriteResult]:
        if not results:
            return []
        fields = sorted({f for r in results if r.op for f in r.op.values})
        rows = {
            str(row["Id"]): row
            for row in self.read_by_ids(object_type, [r.op.record_id or "" for r in results if r.op], fields)
        }
        out: list[WriteResult] = []
        for r in results:
            assert r.op is not None and r.op.record_id is not None
            row = next((v for k, v in rows.items() if k[:15] == r.op.record_id[:15]), None)
            if row is None:
                gone = RecordRejectedError("record not found when reading back", code="ENTITY_IS_DELETED")
                out.append(replace(r, state=Outcome.REJECTED, error=gone))
            elif values_match(r.op.values, row):
                out.append(replace(r, state=Outcome.APPLIED, id=str(row["Id"]), error=None))
            else:
                out.append(replace(r, state=Outcome.NOT_APPLIED))
        return out

    def _read_back_creates(self, object_type: str, results: list[WriteResult]) -> list[WriteResult]:
        key = self.settings.create_upsert_fields.get(object_type)
        keyed = [r for r in results if key and r.op and r.op.values.get(key)]
        if not keyed or not key:
            return []
        handles = [str(r.op.values[key]) for r in keyed if r.op]
        found: dict[str, str] = {}
        for chunk in _chunks(handles, self.settings.id_chunk_size):
            for row in self.query(queries.select(["Id", key], object_type, f"{key} IN {{}}", [chunk])):
                found[str(row[key])] = str(row["Id"])
        out: list[WriteResult] = []
        for r, handle in zip(keyed, handles, strict=True):
            rid = found.get(handle)
            if rid is not None:
                out.append(replace(r, state=Outcome.APPLIED, id=rid, error=None))
            else:
                out.append(replace(r, state=Outcome.NOT_APPLIED))
        return out

    # -- writes --------------------------------------------------------------------------------
    def update(
        self,
        object_type: str,
        changes: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        allow_duplicates: bool = False,
    ) -> WriteReport:
        """``PATCH composite/sobjects`` in batches (setting absolute values: safe to send again).
        Results are keyed by record id."""
        return self._write(
            [WriteOp(rid, "update", object_type, dict(values), rid) for rid, values in changes],
            allow_duplicates,
        )

    def create(
        self,
        object_type: str,
        records: Sequence[Mapping[str, Any]],
        *,
        keys: Sequence[str] | None = None,
        allow_duplicates: bool = False,
    ) -> WriteReport:
        """Create records; results in input order, keyed by ``keys`` (default: the input's position).

        Records carrying the object's key from ``create_upsert_fields`` (Lead:
        ``HubSpot_Contact_ID__c``) go as an upsert on that external id (``PATCH
        composite/sobjects/Lead/HubSpot_Contact_ID__c``, api_rest
        resources_composite_sobjects_collections_upsert.htm): sending it again after a lost answer
        finds the record instead of inserting a second one, so those are retried like updates.
        Records without a key go as ``POST composite/sobjects``, which is only re-sent after a failure
        that proves nothing was saved (a 4xx); after a timeout, dropped connection or 5xx their result
        is UNKNOWN with code CREATE_OUTCOME_UNKNOWN (maybe saved: check the org before creating
        them again) and they are not re-sent."""
        names = list(keys) if keys is not None else [str(i) for i in range(len(records))]
        if len(names) != len(records):
            raise ValueError(f"{len(names)} keys for {len(records)} records")
        return self._write(
            [WriteOp(k, "create", object_type, dict(v)) for k, v in zip(names, records, strict=True)],
            allow_duplicates,
        )

    def _write_headers(self, allow_duplicates: bool) -> dict[str, str]:
        # Sforce-Auto-Assign (api_rest headers_autoassign.htm): absent means TRUE, so lead owners
        # would be re-assigned by the org's assignment rule on every write unless FALSE is sent.
        headers = {"Sforce-Auto-Assign": "TRUE" if self.settings.auto_assign else "FALSE"}
        if allow_duplicates:
            headers["Sforce-Duplicate-Rule-Header"] = "allowSave=true"
        return headers

    def _plan_requests(self, ops: Sequence[WriteOp]) -> tuple[list[Record], list[tuple[_WriteOp, list[int]]]]:
        """The request bodies' records and which requests carry which of them: updates (any object) as
        one collection PATCH, keyed creates as an upsert per object, plain creates as one POST."""
        items: list[Record] = []
        groups: dict[tuple[str, str, bool], list[int]] = {}
        for i, op in enumerate(ops):
            item: Record = {"attributes": {"type": op.object_type}, **dict(op.values)}
            key = self.settings.create_upsert_fields.get(op.object_type)
            if op.kind == "update":
                item["id"] = op.record_id
                group = ("PATCH", "composite/sobjects", True)
            elif key and item.get(key) not in (None, ""):
                path = f"composite/sobjects/{queries.name(op.object_type)}/{queries.name(key)}"
                group = ("PATCH", path, True)
            else:
                group = ("POST", "composite/sobjects", False)
            items.append(item)
            groups.setdefault(group, []).append(i)
        return items, [(_WriteOp(m, p, idem), idx) for (m, p, idem), idx in groups.items()]

    def _write(self, ops: Sequence[WriteOp], allow_duplicates: bool) -> WriteReport:
        """Batches of ≤ ``write_batch_size`` with ``allOrNone: false``; per-record results mapped back.

        A failure that stops the whole write (quota, session, retries exhausted, fatal) ends it: the
        batch in flight gets the failure's outcome (UNKNOWN when the server may have committed it,
        NOT_APPLIED when the answer proves it did not), later batches NOT_APPLIED, and the failure is
        the report's ``stopped``; earlier batches keep their real outcome."""
        items, requests_ = self._plan_requests(ops)
        keys = [op.key for op in ops]
        headers = self._write_headers(allow_duplicates)
        results: list[WriteResult | None] = [None] * len(items)
        size = self.settings.write_batch_size
        stop: Stop | None = None
        for op, indexes in requests_:
            if stop is not None:
                break
            if op.idempotent and len(indexes) > self.settings.bulk_write_threshold:
                stop = _marked(
                    partial(self._bulk_upsert, op, items, keys, indexes, results),
                    indexes,
                    items,
                    keys,
                    results,
                )
                continue
            for start in range(0, len(indexes), size):
                if stop is not None:
                    break
                batch = indexes[start : start + size]
                stop = _marked(
                    partial(self._write_batch, op, items, keys, batch, headers, results),
                    batch,
                    items,
                    keys,
                    results,
                )
        out = [
            with_op(r, ops[i])
            if r is not None
            else WriteResult(keys[i], Outcome.NOT_APPLIED, error=not_attempted(stop), op=ops[i])
            for i, r in enumerate(results)
        ]
        return WriteReport(tuple(self._name_duplicates(out)), stop)

    def _name_duplicates(self, results: list[WriteResult]) -> list[WriteResult]:
        """Give each create refused with DUPLICATES_DETECTED the records it duplicates.

        sObject Collections answer a duplicate with statusCode/message only (no ``duplicateResut``; the
        collections create docs' example), so the matches are read back the way the standard matching
        rules find them (help: standard duplicate rules): Leads and Contacts with the same email, and
        Leads with the same first name, last name and company. One query per object for the whole
        write; a lookup that fails leaves the refusals as they were."""
        dupes = [
            (i, r)
            for i, r in enumerate(results)
            if r.code == "DUPLICATES_DETECTED" and r.op is not None and r.op.kind == "create"
        ]
        if not dupes:
            return results
        wanted = [r.op.values for _, r in dupes if r.op is not None]
        emails = sorted({str(v["Email"]).lower() for v in wanted if v.get("Email")})
        last_names = sorted({str(v["LastName"]) for v in wanted if v.get("LastName") and v.get("Company")})
        try:
            leads = self._duplicate_candidates("Lead", emails, last_names)
            contacts = self._duplicate_candidates("Contact", emails, [])
        except CrmError:
            return results
        out = list(results)
        for i, r in dupes:
            assert r.op is not None and r.error is not None
            values = r.op.values
            matches = tuple(
                row["Id"]
                for row in [*leads, *contacts]
                if _same(row.get("Email"), values.get("Email"))
                or (
                    row.get("attributes", {}).get("type") == "Lead"
                    and all(_same(row.get(k), values.get(k)) for k in ("FirstName", "LastName", "Company"))
                )
            )
            error = DuplicatesDetectedError(str(r.error), matches, status=r.error.status)
            out[i] = replace(r, error=error)
        return out

    def _duplicate_candidates(
        self, object_type: str, emails: list[str], last_names: list[str]
    ) -> list[Record]:
        if not emails and not last_names:
            return []
        fields = ["Id", "Email", "FirstName", "LastName"] + (["Company"] if object_type == "Lead" else [])
        conditions, args = [], []
        if emails:
            conditions.append("Email IN {}")
            args.append(emails)
        if last_names:
            conditions.append("LastName IN {}")
            args.append(last_names)
        where = " OR ".join(conditions)
        if object_type == "Lead":
            where = f"({where}) AND IsConverted = false"
        return list(self.query(queries.select(fields, object_type, where, args)))

    def _bulk_upsert(
        self,
        op: _WriteOp,
        items: list[Record],
        keys: list[str],
        indexes: list[int],
        results: list[WriteResult | None],
    ) -> None:
        """A large idempotent write as one Bulk API 2.0 upsert job per object (api_asynch
        bulk_api_2_0: create job, upload CSV, close, poll, then successful/failed/unprocessed results),
        every step through ``_call``. Results are matched back by the key column (the docs: "the order
        of records in the response is not guaranteed"): APPLIED with ``sf__Id``/``sf__Created``,
        REJECTED with the code of ``sf__Error``, NOT_APPLIED for unprocessed rows, UNKNOWN for a row
        missing from every result. A failure before the job is closed sent nothing (the caller marks
        the rows by the failure); after it, the rows may be saved and are resolved by ``reconcile``."""
        by_object: dict[str, list[int]] = {}
        for i in indexes:
            by_object.setdefault(str(items[i]["attributes"]["type"]), []).append(i)
        for object_type, mine in by_object.items():
            key = "Id" if op.path == "composite/sobjects" else op.path.rsplit("/", 1)[1]
            self._bulk_upsert_one(object_type, key, items, keys, mine, results)

    def _bulk_upsert_one(
        self,
        object_type: str,
        key: str,
        items: list[Record],
        keys: list[str],
        indexes: list[int],
        results: list[WriteResult | None],
    ) -> None:
        name = queries.name(object_type)
        columns = list(
            dict.fromkeys(("Id" if k == "id" else k) for i in indexes for k in items[i] if k != "attributes")
        )
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        handles: dict[str, int] = {}
        for i in indexes:
            row = {("Id" if k == "id" else k): v for k, v in items[i].items() if k != "attributes"}
            writer.writerow([_bulk_cell(row[c]) if c in row else "" for c in columns])  # "": left as is
            handles[str(row.get(key))[:15] if key == "Id" else str(row.get(key))] = i

        def bulk(sf: Salesforce) -> _Bulk2Client:
            handler = SFBulk2Handler(sf.session_id, sf.bulk2_url, session=sf.session)
            return _Bulk2Client(name, sf.bulk2_url, handler.headers, sf.session)

        job = self._call(lambda sf: bulk(sf).create_job(Operation.upsert, external_id_field=key))
        job_id = str(job["id"])
        data = buf.getvalue()
        self._call(lambda sf: bulk(sf).upload_job_data(job_id, data), only=_not_applied)
        self._call(lambda sf: bulk(sf).close_job(job_id), only=_not_applied)
        wait = self.settings.bulk_poll_seconds
        while True:
            state = self._call(lambda sf: bulk(sf).get_job(job_id, False)).get("state")
            if state in {"JobComplete", "Failed", "Aborted"}:
                break
            self.policy.sleep(wait)
            wait = min(max(wait * 2, 0.01), 30.0)

        def rows(kind: str) -> list[dict[str, str]]:
            text = self._call(lambda sf: bulk(sf).get_ingest_results(job_id, kind))
            return list(csv.DictReader(io.StringIO(str(text))))

        def index_of(row: Mapping[str, str]) -> int | None:
            value = str(row.get(key, ""))
            return handles.get(value[:15] if key == "Id" else value)

        for row in rows("successfulResults"):
            if (hit := index_of(row)) is not None:
                results[hit] = WriteResult(
                    keys[hit],
                    Outcome.APPLIED,
                    row.get("sf__Id") or None,
                    created=row.get("sf__Created") == "true",
                )
        for row in rows("failedResults"):
            if (hit := index_of(row)) is not None:
                code, _, rest = str(row.get("sf__Error", "")).partition(":")
                message = rest.rsplit(":", 1)[0] if rest.endswith("--") else rest
                error = classify_code(code or None, message, 400)
                if isinstance(error, FatalError):
                    error = RecordRejectedError(message, code=code or None, status=400)
                results[hit] = from_error(keys[hit], error, record_id=items[hit].get("id"))
        for row in rows("unprocessedrecords"):
            if (hit := index_of(row)) is not None:
                results[hit] = WriteResult(keys[hit], Outcome.NOT_APPLIED, error=not_attempted(None))
        missing = RetriableError(
            f"Bulk 2.0 job {job_id} ({state}) reported nothing for this row", code="MISSING_RESULT"
        )
        for i in indexes:
            if results[i] is None:
                results[i] = WriteResult(keys[i], Outcome.UNKNOWN, items[i].get("id"), error=missing)

    def _write_batch(
        self,
        op: _WriteOp,
        items: list[Record],
        keys: list[str],
        pending: list[int],
        headers: dict[str, str],
        results: list[WriteResult | None],
    ) -> None:
        """One batch. Records failing with a retriable per-record code (UNABLE_TO_LOCK_ROW) are re-sent
        on their own after the policy's backoff with jitter. A batch refused as a whole with a
        record-level code (400 JSON_PARSER_ERROR: one bad value) is split in halves until the
        offending record alone carries the error."""
        for attempt in range(self.policy.attempts):
            if attempt:
                self.policy.sleep(self.policy.backoff(attempt))
            body = {"allOrNone": False, "records": [items[i] for i in pending]}

            def send(sf: Salesforce, body: Record = body) -> Any:
                return sf.restful(op.path, method=op.method, json=body, headers=headers)

            try:
                answer = self._call(send, only=None if op.idempotent else _not_applied)
            except RecordRejectedError as exc:
                if len(pending) == 1:
                    i = pending[0]
                    results[i] = from_error(keys[i], exc, record_id=items[i].get("id"))
                else:
                    half = len(pending) // 2
                    self._write_batch(op, items, keys, pending[:half], headers, results)
                    self._write_batch(op, items, keys, pending[half:], headers, results)
                return
            except RetriableError as exc:
                if op.idempotent or _not_applied(exc):
                    raise
                unknown = RetriableError(
                    f"create outcome unknown after {exc.code or 'a failure'}: the records may have been "
                    "saved, so they were not sent again (give them an external id to make creates safe "
                    "to retry)",
                    code="CREATE_OUTCOME_UNKNOWN",
                    status=exc.status,
                )
                for i in pending:
                    results[i] = WriteResult(keys[i], Outcome.UNKNOWN, error=unknown)
                return
            retry: list[int] = []
            for i, res in zip(pending, answer or [], strict=True):
                if res.get("success"):
                    results[i] = WriteResult(
                        keys[i], Outcome.APPLIED, res.get("id"), created=res.get("created")
                    )
                    continue
                error = classify_save_errors(res.get("errors") or [])
                results[i] = from_error(keys[i], error, record_id=res.get("id") or items[i].get("id"))
                if isinstance(error, RetriableError) and attempt + 1 < self.policy.attempts:
                    retry.append(i)
                    self._note_retry(error)
            if not retry:
                return
            pending = retry


def _marked(
    send: Callable[[], None],
    indexes: list[int],
    items: list[Record],
    keys: list[str],
    results: list[WriteResult | None],
) -> Stop | None:
    """Run one send; when a failure stops the write, its records without a result get the failure's
    outcome (UNKNOWN when the server may have committed, NOT_APPLIED when it proves it did not)."""
    try:
        send()
    except CrmError as exc:
        for i in indexes:
            if results[i] is None:
                results[i] = WriteResult(keys[i], failure_outcome(exc), items[i].get("id"), error=exc)
        return Stop.of(exc)
    return None


def _bulk_cell(value: Any) -> str:
    """A Bulk 2.0 CSV cell: ``#N/A`` sets null (an empty cell would leave the field as it is)."""
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _not_query_timeout(exc: CrmError) -> bool:
    return exc.code != "QUERY_TIMEOUT"


def _narrower(span: dt.timedelta | None, since: dt.datetime, now: dt.datetime) -> dt.timedelta:
    """The next window after a QUERY_TIMEOUT: half the one that timed out (the first: half the time
    from ``since`` to ``now``, Salesforce's). Salesforce's answer to a heavy query is a narrower one
    (sfdecoded QUERY_TIMEOUT: "add indexed field filters"; SystemModstamp is indexed); a one-second
    window that still times out cannot be narrowed and is raised."""
    if span is None:
        span = max(now - since, dt.timedelta(seconds=2))
    if span <= dt.timedelta(seconds=1):
        raise FatalError(
            "Salesforce timed out on a one-second SystemModstamp window; nothing narrower to try",
            code="QUERY_TIMEOUT",
        )
    return max(span / 2, dt.timedelta(seconds=1))


def _same(a: Any, b: Any) -> bool:
    return bool(a) and bool(b) and str(a).lower() == str(b).lower()


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_id(rows: Sequence[Record]) -> dict[str, Record]:
    return {str(r["Id"]): r for r in rows}


def _by_asked_id(ids: Sequence[str], rows: Mapping[str, Record]) -> dict[str, Record]:
    """``rows`` (keyed by their 18-character ids) keyed by the ids asked for (15 or 18 characters)."""
    by_prefix = {rid[:15]: rid for rid in rows}
    out: dict[str, Record] = {}
    for rid in dict.fromkeys(ids):
        full = rows.get(rid) or rows.get(by_prefix.get(rid[:15], ""))
        if full is not None:
            out[rid] = full
    return out


def _fitting(
    items: list[str], size: int, build: Callable[[list[str]], str]
) -> Iterator[tuple[list[str], str]]:
    """Chunks of at most ``size`` ids, each with its query ``build(chunk)``; a chunk whose query would
    not fit a GET URL (``queries.MAX_QUERY_PARAM_BYTES``) is halved until it does."""
    for chunk in _chunks(items, size):
        pending = [chunk]
        while pending:
            part = pending.pop(0)
            soql = build(part)
            if len(part) == 1 or queries.query_param_bytes(soql) <= queries.MAX_QUERY_PARAM_BYTES:
                yield part, soql
            else:
                half = len(part) // 2
                pending[:0] = [part[:half], part[half:]]


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
