"""The worker's HubSpot port: read changes, batch read, batch update/upsert, lifecycle moves.

Returns HubSpot's raw v3 JSON records (``id``, ``properties``, ``createdAt``, ``updatedAt``,
``archived``…); normalisation is the core's job. Batch size 100 [C, reference §2.1].

Batch failure semantics, as the sandbox emulates them from sources:
- 207 with ``errors[].context.ids`` for inputs that do not exist [B, php #619] → per-input rejections;
- 400 for the whole batch when any input is invalid [B, Atlas-Authority #174]: inputs the error
  identifies (``context.ids``; a property that does not exist or is read-only; a value every input
  shares) are rejected at once and the rest re-sent once; only an error naming nobody is split in
  halves, within a budget of ``MAX_SPLITS`` splits per 100 inputs;
- 400 "Duplicate IDs found in batch input" [B, rudder-transformer]: never provoked — inputs whose
  normalised keys collide are merged (same properties) or rejected (DUPLICATE_INPUT) before batching;
- 409 "Contact already exists. Existing ID: N" [B] is resolved to N and the write goes to that id;
- a write to a merged-away id lands on the survivor [C]: the result is matched through the survivor's
  ``hs_merged_object_ids`` (one batch read of the unmatched ids) and marked ``redirected``.
The bodies are parsed in ``classify`` only (``HubSpotRejectedError``); this module acts on the fields.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from worker.crm.clock import corrected
from worker.crm.hubspot.classify import HubSpotRejectedError
from worker.crm.hubspot.client import Answer, HubSpotTransport, Op, RateLimiter
from worker.crm.hubspot.cursor import (
    MODIFIED_PROPERTY,
    Cursor,
    Delivered,
    DeliveredMemory,
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
)
from worker.errors import CrmError, RecordRejectedError

log = logging.getLogger(__name__)

BATCH_SIZE = 100
ASSOCIATION_BATCH_SIZE = 1000  # v4 association batch read inputs per call [C, the sandbox's cap]
SEARCH_PAGE = 200
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
        delivered: DeliveredMemory | None = None,
    ) -> None:
        self.settings = settings
        self.transport = HubSpotTransport(settings, limiter)
        self.clock = clock
        self.delivered: DeliveredMemory = delivered if delivered is not None else Delivered()
        self._options: dict[tuple[str, str], tuple[float, set[str]]] = {}
        self.policy = WindowPolicy(
            index_lag_margin_ms=int(settings.index_lag_margin_s * 1000),
            lookback_ms=int(settings.lookback_s * 1000),
        )

    def server_now(self) -> float:
        """HubSpot's "now" (epoch seconds): our clock corrected by the offset the last answer's ``Date``
        showed (one cheap read first, when no answer was seen yet). Read windows and a first cursor
        taken from a worker clock minutes off hid (behind) or skipped (ahead) the last minutes'
        changes (tests/faults/test_a_worker_with_a_skewed_clock.py)."""
        if self.transport.server_offset_s is None:
            self.transport.call(lambda apis: apis.basic["contacts"].get_page(limit=1, **apis.kw))
        # ``Date`` has whole seconds (and the answer's latency): within that, the clocks agree
        return corrected(self.clock(), self.transport.server_offset_s)

    # ------------------------------------------------------------------ reads
    def changes_since(
        self,
        cursor: Cursor | None,
        *,
        object_type: str = "contacts",
        properties: Sequence[str] = DEFAULT_CONTACT_PROPERTIES,
    ) -> Iterator[ChangePage]:
        """Every record modified in this poll's window, page by page, with the cursor after each page.

        At-least-once: a lookback-zone record comes again only if the delivered-key memory does not
        know it (a new process with the default in-process memory; see ``worker.state.delivered``).
        """
        window = open_window(cursor, int(self.server_now() * 1000), self.policy)
        if window is None:
            return
        zone = window.start_ms if self.policy.lookback_ms > 0 and cursor is not None else None
        # the horizon below which no later poll will ask: keys older than it can be forgotten
        horizon = window.end_ms + self.policy.index_lag_margin_ms - max(self.policy.lookback_ms, 0)
        pager = SearchPager(self.transport, object_type, properties)
        current = cursor
        for page in pager.pages(first_query(window)):
            keys = [record_key(r, object_type) for r in page]
            in_zone = [k for k in keys if cursor is not None and Cursor(*k) <= cursor]
            seen = self.delivered.seen(in_zone) if in_zone and zone is not None else set()
            records = [r for r, k in zip(page, keys, strict=True) if should_deliver(k, cursor, zone, seen)]
            current = advance(current, records, object_type)
            if records and current is not None:
                self.delivered.remember(
                    [record_key(r, object_type) for r in records],
                    forget_before_ms=min(horizon, current.modified_ms),
                )
            if records and current is not None:
                current = current.with_window_end(window.end_ms)
                yield ChangePage(records, current)
        if current is not None:
            self.delivered.remember([], forget_before_ms=min(horizon, current.modified_ms))  # trim only
        if current is not None and current.window_end_ms != window.end_ms:
            # nothing new this poll: still record that the window was read, so the next lookback shrinks
            yield ChangePage([], current.with_window_end(window.end_ms))

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

    def read_associations(
        self, ids: Sequence[str], *, from_type: str = "contacts", to_type: str = "companies"
    ) -> dict[str, list[str]]:
        """Associated ids of each id asked for (v4 batch read), keyed by the id asked for.

        HubSpot leaves an id without associations out of ``results`` and reports it in ``errors[]`` with
        subCategory ``crm.associations.NO_ASSOCIATIONS_FOUND``, answering 207 [B, captured answer cited
        in the sandbox's ``NoAssociationsFoundError``]: such an id maps to ``[]``. Results are matched by
        ``from.id``, never by position (they are not aligned with the inputs). Any other per-id error
        leaves the id out (logged). Per-id ``paging.next.after`` is followed."""
        out: dict[str, list[str]] = {}
        pending = [{"id": str(i).strip()} for i in dict.fromkeys(ids)]
        while pending:
            following: list[dict[str, str]] = []
            for chunk in _chunks(pending, ASSOCIATION_BATCH_SIZE):
                answer = self.transport.call(_associations_op(from_type, to_type, {"inputs": chunk}))
                doc = answer.body or {}
                for res in doc.get("results") or []:
                    fid = str((res.get("from") or {}).get("id"))
                    out.setdefault(fid, []).extend(str(t.get("toObjectId")) for t in res.get("to") or [])
                    after = ((res.get("paging") or {}).get("next") or {}).get("after")
                    if after:
                        following.append({"id": fid, "after": str(after)})
                for err in doc.get("errors") or []:
                    context = err.get("context") or {}
                    missing = [str(i) for i in context.get("fromObjectId") or context.get("ids") or []]
                    if str(err.get("subCategory") or "").endswith("NO_ASSOCIATIONS_FOUND"):
                        for i in missing:
                            out.setdefault(i, [])
                    else:
                        log.warning(
                            "HubSpot association read failed for %d ids: %s",
                            len(missing),
                            str(err.get("category") or err.get("message") or "error")[:200],
                        )
            pending = following
        return out

    def get(
        self, object_id: str, *, object_type: str = "contacts", properties: Sequence[str] = ()
    ) -> dict[str, Any]:
        props = list(properties or DEFAULT_CONTACT_PROPERTIES)
        answer = self.transport.call(
            lambda apis: apis.basic[object_type].get_by_id(object_id, properties=props, **apis.kw)
        )
        return dict(answer.body)

    # ------------------------------------------------------------------ the port (worker.crm.port)
    side: Side = "hubspot"

    def fetch(self, object_type: str, ids: Sequence[str], fields: Sequence[str]) -> ReadReport:
        """Batch read as the port's ``ReadReport``: ids that are not HubSpot ids are rejected unsent,
        merged-away ids are answered with the survivor (``redirected``), the rest absent are missing."""
        asked = [str(i).strip() for i in dict.fromkeys(ids)]
        good = [i for i in asked if i.isdigit() and len(i) <= MAX_ID_DIGITS]
        rejected: dict[str, CrmError] = {
            i: RecordRejectedError(f"{i!r} is not a HubSpot record id", code="MALFORMED_ID")
            for i in asked
            if i not in good
        }
        records = self.read(good, object_type=object_type, properties=fields) if good else {}
        redirected = {i: str(r["id"]) for i, r in records.items() if str(r["id"]) != i}
        missing = frozenset(i for i in good if i not in records)
        return ReadReport(records=records, missing=missing, redirected=redirected, rejected=rejected)

    def apply(self, ops: Sequence[WriteOp]) -> WriteReport:
        """Run explicit write operations, creates first, then updates, then backward lifecycle moves;
        one result per op keyed by ``op.key``. A ``move_back`` carries only ``lifecyclestage``. When a
        group stops the write, later groups are NOT_APPLIED."""
        report = WriteReport()
        creates = [op for op in ops if op.kind == "create"]
        updates = [op for op in ops if op.kind == "update"]
        moves = [op for op in ops if op.kind == "move_back"]
        for op in moves:
            if set(op.values) != {"lifecyclestage"} or not op.values["lifecyclestage"]:
                raise ValueError(f"move_back {op.key!r} must set lifecyclestage and nothing else")
        for group in (updates, moves):
            ids = [(op.record_id or "").strip() for op in group]
            if len(set(ids)) != len(ids):
                raise ValueError("one update (and one move) per record per apply() call: merge their values")
        for group in (creates, updates, moves):
            if not group:
                continue
            if report.stopped is not None:
                report = report.merged(_not_attempted(group, report.stopped))
                continue
            object_types = {op.object_type for op in group}
            if len(object_types) != 1:
                raise ValueError(f"one object type per apply() call, got {sorted(object_types)}")
            object_type = object_types.pop()
            if group is creates:
                got = self.create({op.key: _props(op.values) for op in group}, object_type=object_type)
                report = report.merged(_rekeyed(got, {op.key: op for op in group}, by_key=True))
            elif group is updates:
                got = self.update(
                    {op.record_id or "": _props(op.values) for op in group}, object_type=object_type
                )
                report = report.merged(_rekeyed(got, {op.key: op for op in group}, by_key=False))
            else:
                got = self.move_lifecycle_backward(
                    {op.record_id or "": str(op.values["lifecyclestage"]) for op in group}
                )
                report = report.merged(_rekeyed(got, {op.key: op for op in group}, by_key=False))
        return WriteReport(tuple(report[op.key] for op in ops), report.stopped)

    def reconcile(self, report: WriteReport) -> WriteReport:
        """Resolve UNKNOWN results by reading back: an update or move whose values read back is APPLIED,
        else NOT_APPLIED; a create found by its handle (``create_key_property``) is APPLIED, else
        NOT_APPLIED. A read that fails leaves the report as it was, with the failure as ``stopped``."""
        unknown = [r for r in report.in_state(Outcome.UNKNOWN) if r.op is not None]
        if not unknown:
            return report
        resolved: list[WriteResult] = []
        try:
            edits = [r for r in unknown if r.op is not None and r.op.kind != "create"]
            for object_type in sorted({r.op.object_type for r in edits if r.op is not None}):
                mine = [r for r in edits if r.op is not None and r.op.object_type == object_type]
                names = sorted({n for r in mine if r.op for n in r.op.values})
                rows = self.read(
                    [r.op.record_id or "" for r in mine if r.op], object_type=object_type, properties=names
                )
                for r in mine:
                    assert r.op is not None
                    row = rows.get(r.op.record_id or "")
                    if row is None:
                        gone = RecordRejectedError(
                            "contact not found when reading back", code="OBJECT_NOT_FOUND"
                        )
                        resolved.append(replace(r, state=Outcome.REJECTED, error=gone))
                    elif values_match(r.op.values, row.get("properties") or {}):
                        resolved.append(
                            replace(r, state=Outcome.APPLIED, id=str(row["id"]), record=row, error=None)
                        )
                    else:
                        resolved.append(replace(r, state=Outcome.NOT_APPLIED))
            creates = [r for r in unknown if r.op is not None and r.op.kind == "create"]
            found = self.find_by_handles([r.key for r in creates]) if creates else {}
            for r in creates:
                row = found.get(r.key)
                if row is not None:
                    resolved.append(
                        replace(r, state=Outcome.APPLIED, id=str(row["id"]), record=row, error=None)
                    )
                else:
                    resolved.append(replace(r, state=Outcome.NOT_APPLIED))
        except CrmError as exc:
            return WriteReport(report.results, Stop.of(exc))
        return report.merged(WriteReport(tuple(resolved), report.stopped))

    def search(self, body: dict[str, Any], *, object_type: str = "contacts") -> dict[str, Any]:
        """One raw search request (the backfill's id walk, ``worker.ops.backfill``), through the
        limiter and the classifier like every other call."""
        answer = self.transport.call(_search_op(object_type, body), search=True)
        return dict(answer.body or {})

    def find_by_handles(self, handles: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Contacts by their create handle (``create_key_property``)."""
        return self.read_by_unique(self.settings.create_key_property, handles, ["email"])

    def read_by_unique(
        self,
        prop: str,
        values: Sequence[str],
        properties: Sequence[str] = (),
        *,
        object_type: str = "contacts",
    ) -> dict[str, dict[str, Any]]:
        """Records by a unique property (``email``, the create handle), keyed by the value asked for
        (emails lower-cased). A batch read by ``idProperty``, not a search: a record written a moment
        ago is found (search lags the index)."""
        fold = prop == "email"
        wanted = list(dict.fromkeys(v.strip().lower() if fold else v for v in values if v))
        props = list(dict.fromkeys([prop, *properties]))
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(wanted, BATCH_SIZE):
            body = {"inputs": [{"id": v} for v in chunk], "idProperty": prop, "properties": props}
            answer = self.transport.call(_read_op(object_type, body))
            for rec in (answer.body or {}).get("results") or []:
                value = str((rec.get("properties") or {}).get(prop) or "")
                value = value.lower() if fold else value
                if value in chunk:
                    out[value] = rec
        return out

    # ------------------------------------------------------------------ writes
    def update(
        self, updates: Mapping[str, Mapping[str, str | None]], *, object_type: str = "contacts"
    ) -> WriteReport:
        """Batch update by id (100 per call); one result per input id (ids normalised with ``strip``).

        Inputs whose ids collide after normalisation are merged when their properties agree, else all
        rejected with DUPLICATE_INPUT: HubSpot refuses a whole batch holding one id twice.
        """
        items, results = _dedupe([(str(k).strip(), _wire(v)) for k, v in updates.items()])
        items, empty = _split_empty(items)
        results.update(empty)

        def send(chunk: list[Item]) -> Answer:
            body = {"inputs": [{"id": i, "properties": p} for i, p in chunk]}
            return self.transport.call(lambda apis: apis.batch[object_type].update(body, **apis.kw))

        ops = {k: WriteOp(k, "update", object_type, p, k) for k, p in items}
        return self._batches(items, results, send, by="id", object_type=object_type, ops=ops)

    def upsert_by_email(self, inputs: Mapping[str, Mapping[str, str | None]]) -> WriteReport:
        """Create-or-update contacts keyed by email (100 per call), so concurrent creates cannot duplicate.

        Emails are normalised (``strip().lower()``) and results keyed by the normalised email; inputs that
        collide after normalisation are merged when their properties agree, else rejected (DUPLICATE_INPUT).
        """
        # the email is sent as a property too: results map back by it, and a refusal naming the email
        # (INVALID_EMAIL) is pinned on its input
        items, results = _dedupe([(str(k).strip().lower(), _wire(v)) for k, v in inputs.items()])
        return self._upserts(items, results, "email", lambda email, p: {**p, "email": email})

    def create(
        self, inputs: Mapping[str, Mapping[str, str | None]], *, object_type: str = "contacts"
    ) -> WriteReport:
        """Create contacts, each with an idempotency handle (the input's key) written to
        ``create_key_property`` and sent as a batch upsert on that property: HubSpot looks the handle
        up before creating, so a create re-sent after a lost answer updates the contact the first send
        made instead of adding a second one (a contact without an email has no other unique key). A
        409 for an email another contact holds is resolved to that contact (the handle is written
        onto it). Results are keyed by handle."""
        if object_type != "contacts":
            raise ValueError("creates are for contacts")
        prop = self.settings.create_key_property
        items, results = _dedupe([(str(k).strip(), _wire(v)) for k, v in inputs.items()])
        return self._upserts(items, results, prop, lambda handle, p: {**p, prop: handle}, kind="create")

    def _upserts(
        self,
        items: list[Item],
        results: dict[str, WriteResult],
        id_property: str,
        properties: Callable[[str, dict[str, str]], dict[str, str]],
        *,
        kind: Literal["create", "update"] = "update",
    ) -> WriteReport:
        # the key is sent as a property too, so every result carries it to map back by (and a 409
        # redirect writes it onto the contact found)
        items = [(k, properties(k, p)) for k, p in items]

        def send(chunk: list[Item]) -> Answer:
            body = {"inputs": [{"id": k, "idProperty": id_property, "properties": p} for k, p in chunk]}
            try:
                return self.transport.call(lambda apis: apis.batch["contacts"].upsert(body, **apis.kw))
            except HubSpotRejectedError as err:
                if err.existing_id is not None and len(chunk) == 1:
                    raise _RedirectError(err.existing_id) from err
                raise

        # an upsert by email is create-or-update with no handle: nothing for ``reconcile`` to look up
        ops = {k: WriteOp(k, "create", "contacts", p) for k, p in items} if kind == "create" else {}
        return self._batches(items, results, send, by=id_property, object_type="contacts", ops=ops)

    def _batches(
        self,
        items: list[Item],
        early: dict[str, WriteResult],
        send: Callable[[list[Item]], Answer],
        *,
        by: str,
        object_type: str,
        ops: Mapping[str, WriteOp],
    ) -> WriteReport:
        """Send ``items`` 100 at a time. A failure that stops the write ends it: inputs of the batch in
        flight without a result get the failure's outcome (UNKNOWN when HubSpot may have committed),
        later ones NOT_APPLIED; the failure is the report's ``stopped``. Earlier results are kept."""
        results = dict(early)
        stop: Stop | None = None
        for chunk in _chunks(items, BATCH_SIZE):
            try:
                self._write(chunk, send, results, by=by, object_type=object_type, budget=_Budget())
            except CrmError as exc:
                stop = Stop.of(exc)
                for k, _ in chunk:
                    if k not in results:
                        results[k] = WriteResult(k, failure_outcome(exc), error=exc)
                break
        order = list(dict.fromkeys([*(k for k, _ in items), *early]))
        out = []
        for k in order:
            r = results.get(k) or WriteResult(k, Outcome.NOT_APPLIED, error=not_attempted(stop))
            out.append(replace(r, op=ops.get(k)) if r.op is None else r)
        return WriteReport(tuple(out), stop)

    def describe_properties(self, object_type: str = "contacts") -> dict[str, frozenset[str] | None]:
        """Property name → enumeration option values (None when not an enumeration): what a definition
        map is checked against before anything runs (``worker.mapping.verify``)."""
        return self.property_schema(object_type)[0]

    def property_schema(
        self, object_type: str = "contacts"
    ) -> tuple[dict[str, frozenset[str] | None], frozenset[str]]:
        """``describe_properties`` and, from the same call, the properties requiring unique values
        (``hasUniqueValue``: the only ones batch upsert accepts as ``idProperty``)."""
        answer = self.transport.call(lambda apis: apis.properties.get_all(object_type, **apis.kw))
        out: dict[str, frozenset[str] | None] = {}
        unique: set[str] = set()
        for prop in (answer.body or {}).get("results") or []:
            options = prop.get("options")
            is_enum = prop.get("type") == "enumeration"
            out[str(prop["name"])] = (
                frozenset(str(o.get("value")) for o in options or []) if is_enum else None
            )
            if prop.get("hasUniqueValue"):
                unique.add(str(prop["name"]))
        return out, frozenset(unique)

    def property_options(self, name: str, *, object_type: str = "contacts") -> set[str]:
        """The option values of an enumeration property (cached for ``OPTIONS_TTL_S``)."""
        now = self.clock()
        cached = self._options.get((object_type, name))
        if cached is not None and now - cached[0] < OPTIONS_TTL_S:
            return cached[1]
        answer = self.transport.call(lambda apis: apis.properties.get_by_name(object_type, name, **apis.kw))
        values = {str(o.get("value")) for o in (answer.body or {}).get("options") or []}
        self._options[(object_type, name)] = (now, values)
        return values

    def move_lifecycle_backward(self, moves: Mapping[str, str]) -> WriteReport:
        """Clear ``lifecyclestage`` then set the earlier stage: two ordered batch requests, then a read-back.

        HubSpot ignores (or refuses) backward moves unless the stage is cleared first, in a separate
        request [A legacy v1 doc; B forum thread 1333: batches are not processed in order].
        Safety, so a move can never leave a record without a stage:
        - each target is checked against the property's options first (INVALID_OPTION, nothing written);
        - the current stage is read before clearing; any record cleared (or maybe cleared) but not moved
          (set refused, read-back wrong, or the write stopped part-way) gets its old stage back and is
          reported NOT_APPLIED (safe to move again);
        - a read-back that does not show the stage is rejected with LIFECYCLE_NOT_APPLIED; a restore that
          fails turns the result into LIFECYCLE_RESTORE_FAILED naming the stage that was lost.
        Results are keyed by the id asked for; merged-away ids are followed to the survivor.
        """
        results: dict[str, WriteResult] = {}
        wanted = {str(k).strip(): v for k, v in moves.items()}
        ops = {i: WriteOp(i, "move_back", "contacts", {"lifecyclestage": v}, i) for i, v in wanted.items()}
        stop: Stop | None = None
        try:
            todo, previous = self._move_targets(wanted, results)
        except CrmError as exc:
            todo, previous, stop = {}, {}, Stop.of(exc)
        touched: set[str] = set()
        done: set[str] = set()
        if todo:
            cleared = self.update({i: {"lifecyclestage": ""} for i in todo})
            stop = cleared.stopped
            touched = {i for i, r in cleared.items() if r.state in (Outcome.APPLIED, Outcome.UNKNOWN)}
            results.update((i, r) for i, r in cleared.items() if i not in touched)
            if stop is None:
                set_results = self.update({i: {"lifecyclestage": todo[i]} for i in sorted(touched)})
                stop = set_results.stopped
                results.update(
                    (i, r)
                    for i, r in set_results.items()
                    if r.state in (Outcome.REJECTED, Outcome.NOT_APPLIED)
                )
                maybe = [i for i, r in set_results.items() if r.state in (Outcome.APPLIED, Outcome.UNKNOWN)]
                try:
                    readback = self.read(maybe, properties=["lifecyclestage"]) if maybe else {}
                except CrmError as exc:
                    readback, stop = {}, stop or Stop.of(exc)
                for i in maybe:
                    rec = readback.get(i)
                    if rec is None:
                        continue
                    got = (rec.get("properties") or {}).get("lifecyclestage")
                    r = set_results[i]
                    if got == todo[i]:
                        results[i] = WriteResult(
                            i,
                            Outcome.APPLIED,
                            str(rec["id"]),
                            record=rec,
                            redirected=r.redirected or str(rec["id"]) != i,
                        )
                        done.add(i)
                    else:
                        results[i] = WriteResult(
                            i,
                            Outcome.REJECTED,
                            r.id,
                            record=rec,
                            error=RecordRejectedError(
                                f"lifecyclestage reads back as {got!r}, not {todo[i]!r}",
                                code="LIFECYCLE_NOT_APPLIED",
                            ),
                            redirected=r.redirected,
                        )
        undone = sorted(touched - done)
        for i in undone:
            if i not in results:
                error = stop.error if stop is not None else CrmError("move not confirmed")
                results[i] = WriteResult(i, Outcome.NOT_APPLIED, error=error)
        restore = {i: {"lifecyclestage": previous[i]} for i in undone if previous.get(i)}
        if restore:
            self._restore(restore, results)
        out = []
        for i in wanted:
            r = results.get(i) or WriteResult(i, Outcome.NOT_APPLIED, error=not_attempted(stop))
            out.append(replace(r, op=ops[i]))
        return WriteReport(tuple(out), stop)

    def _move_targets(
        self, wanted: dict[str, str], results: dict[str, WriteResult]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The moves worth making (target is an option; the contact exists) and each one's current stage."""
        allowed = self.property_options("lifecyclestage")
        valid: dict[str, str] = {}
        for i, stage in wanted.items():
            if stage in allowed:
                valid[i] = stage
            else:
                results[i] = WriteResult(
                    i,
                    Outcome.REJECTED,
                    error=RecordRejectedError(
                        f"{stage!r} is not one of the portal's lifecyclestage options; nothing was written",
                        code="INVALID_OPTION",
                    ),
                )
        current = self.read(list(valid), properties=["lifecyclestage"]) if valid else {}
        previous: dict[str, str] = {}
        for i in valid:
            if i in current:
                previous[i] = str((current[i].get("properties") or {}).get("lifecyclestage") or "")
            else:
                results[i] = WriteResult(
                    i,
                    Outcome.REJECTED,
                    error=RecordRejectedError("contact not found", code="OBJECT_NOT_FOUND", status=404),
                )
        return {i: valid[i] for i in previous}, previous

    def _restore(self, restore: dict[str, dict[str, str]], results: dict[str, WriteResult]) -> None:
        """Put back stages a failed move cleared (or may have cleared)."""
        restored = self.update(restore)
        for i, r in restored.items():
            if r.ok:
                continue
            prior = results.get(i)
            reason = prior.error if prior is not None and prior.error is not None else "move failed"
            if restored.stopped is not None:
                log.error("restoring lifecyclestage of contact %s failed: %s", i, restored.stopped)
            results[i] = WriteResult(
                i,
                Outcome.REJECTED,
                error=RecordRejectedError(
                    f"{reason}; restoring lifecyclestage {restore[i]['lifecyclestage']!r} also failed: "
                    f"{r.error}",
                    code="LIFECYCLE_RESTORE_FAILED",
                ),
            )

    # ------------------------------------------------------------------ helpers
    def _write(
        self,
        chunk: list[Item],
        send: Callable[[list[Item]], Answer],
        results: dict[str, WriteResult],
        *,
        by: str,
        object_type: str,
        budget: _Budget,
    ) -> None:
        try:
            answer = send(chunk)
        except _RedirectError as redirect:
            key, props = chunk[0]
            res = self.update({redirect.existing_id: {k: v for k, v in props.items() if k != "email"}})
            r = res[redirect.existing_id]
            results[key] = replace(r, key=key, created=False, op=None)
            return
        except RecordRejectedError as err:

            def again(c: list[Item]) -> None:
                self._write(c, send, results, by=by, object_type=object_type, budget=budget)

            self._on_rejected(chunk, err, results, again, budget)
            return
        self._map_batch(answer, [k for k, _ in chunk], results, by=by, object_type=object_type)

    def _on_rejected(
        self,
        chunk: list[Item],
        err: RecordRejectedError,
        results: dict[str, WriteResult],
        again: Callable[[list[Item]], None],
        budget: _Budget,
    ) -> None:
        """A whole-batch 4xx. Inputs the error itself identifies are rejected without re-sending:
        ``context.ids`` names them, or a "Property values were not valid" problem names a property that
        does not exist / is read-only (every input carrying it fails) or a value every input shares.
        The rest is re-sent. Only when the error identifies nobody is the batch halved. Re-sends and
        halvings share ``budget.splits`` per 100 inputs; past that the remaining inputs are rejected
        together, saying so."""
        if len(chunk) == 1:
            results[chunk[0][0]] = from_error(chunk[0][0], err)
            return
        bad = _identified(chunk, err)
        if bad:
            rest = [item for item in chunk if item[0] not in bad]
            for k in bad:
                results[k] = from_error(k, err)
            if rest and budget.splits > 0:
                budget.splits -= 1  # each re-send is bounded too: HubSpot may name one bad value per answer
                again(rest)
            elif rest:
                self._reject_unisolated(rest, err, results)
            return
        if budget.splits <= 0:
            self._reject_unisolated(chunk, err, results)
            return
        budget.splits -= 1
        mid = len(chunk) // 2
        again(chunk[:mid])
        again(chunk[mid:])

    @staticmethod
    def _reject_unisolated(
        chunk: list[Item], err: RecordRejectedError, results: dict[str, WriteResult]
    ) -> None:
        for k, _ in chunk:
            results[k] = from_error(
                k,
                RecordRejectedError(
                    f"{err} (not isolated: the batch shared this rejection after {MAX_SPLITS} splits)",
                    code=err.code,
                    status=err.status,
                ),
            )

    def _map_batch(
        self, answer: Answer, keys: list[str], results: dict[str, WriteResult], *, by: str, object_type: str
    ) -> None:
        doc = answer.body or {}
        got: dict[str, dict[str, Any]] = {}
        for rec in doc.get("results") or []:
            if by == "id":
                k = str(rec["id"])
            else:
                k = str((rec.get("properties") or {}).get(by) or "")
                k = k.lower() if by == "email" else k
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
        unmatched = [k for k in keys if k not in got and k not in failed]
        survivors: dict[str, dict[str, Any]] = {}
        if unmatched and by == "id":
            # A merged-away id is written on the survivor, whose result carries the survivor's id
            # [C, reference §9]: follow it through hs_merged_object_ids as read() does.
            try:
                survivors = self.read(unmatched, object_type=object_type, properties=["hs_merged_object_ids"])
            except CrmError as exc:  # the writes are done; report the unmatched as MISSING_RESULT
                log.warning("could not match %d HubSpot results to merged ids: %s", len(unmatched), exc)
        for k in keys:
            if k in got:
                rec = got[k]
                results[k] = WriteResult(
                    k, Outcome.APPLIED, str(rec["id"]), bool(rec.get("new", False)), record=rec
                )
            elif k in failed:
                results[k] = from_error(k, failed[k])
            elif k in survivors and str(survivors[k]["id"]) in got:
                rec = got[str(survivors[k]["id"])]
                results[k] = WriteResult(
                    k, Outcome.APPLIED, str(rec["id"]), False, record=rec, redirected=True
                )
            else:
                # the request succeeded but named no outcome for this input: it may have been written
                results[k] = WriteResult(
                    k,
                    Outcome.UNKNOWN,
                    error=CrmError("HubSpot returned no result for this input", code="MISSING_RESULT"),
                )


Item = tuple[str, dict[str, str]]
MAX_SPLITS = 12
MAX_ID_DIGITS = 19  # HubSpot record ids are positive 64-bit integers
OPTIONS_TTL_S = 300.0
SHARED_PROPERTY_ERRORS = {"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"}


@dataclass
class _Budget:
    """Halving splits left for one 100-input chunk (12 isolate up to ~2 bad inputs among 100)."""

    splits: int = MAX_SPLITS


class _RedirectError(Exception):
    """Internal: a single-input upsert answered 409 with the id that already holds the email."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


def _identified(chunk: list[Item], err: RecordRejectedError) -> set[str]:
    """Keys of the inputs a whole-batch rejection names, or that certainly share its cause."""
    keys = {k for k, _ in chunk}
    if not isinstance(err, HubSpotRejectedError):
        return set()
    named = {str(i).strip().lower() for i in err.ids}
    bad = {k for k in keys if k.lower() in named}
    for problem in err.problems:
        carriers = [(k, p) for k, p in chunk if problem.name in p]
        if problem.error in SHARED_PROPERTY_ERRORS:
            bad.update(k for k, _ in carriers)
        elif problem.value is not None:
            # the message names the refused value (INVALID_EMAIL, INVALID_OPTION): every input carrying
            # exactly that value fails the same way; the rest is re-sent
            refused = problem.value.strip().lower()
            bad.update(k for k, p in carriers if str(p[problem.name]).strip().lower() == refused)
        elif len(carriers) == len(chunk) and len({p[problem.name] for _, p in carriers}) == 1:
            bad.update(keys)
    return bad


def _wire(props: Mapping[str, Any]) -> dict[str, str]:
    """Properties as HubSpot must receive them: a clear is ``""`` — HubSpot ignores ``null`` and keeps the
    old value [B, hubspot-api-nodejs #324, maintainer: "You can set empty string for it"] — and every
    other value a string."""
    return {str(k): "" if v is None else str(v) for k, v in props.items()}


def _split_empty(items: list[Item]) -> tuple[list[Item], dict[str, WriteResult]]:
    """Inputs with no properties are never sent: HubSpot refuses the request ("No properties found to
    update, please provide at least one." [B, hubspot-api-ruby #121]) and there is nothing to write.
    They are reported rejected (NO_PROPERTIES) so the caller sees that nothing was written."""
    keep = [(k, p) for k, p in items if p]
    empty = {
        k: from_error(
            k, RecordRejectedError("no properties to write; nothing was sent", code="NO_PROPERTIES")
        )
        for k, p in items
        if not p
    }
    return keep, empty


def _dedupe(items: list[Item]) -> tuple[list[Item], dict[str, WriteResult]]:
    """Merge inputs whose normalised keys collide when their properties agree; reject them otherwise."""
    groups: dict[str, list[dict[str, str]]] = {}
    for k, p in items:
        groups.setdefault(k, []).append(p)
    out: list[Item] = []
    rejected: dict[str, WriteResult] = {}
    for k, props in groups.items():
        merged: dict[str, str] = {}
        clash = sorted({n for p in props for n, v in p.items() if merged.setdefault(n, v) != v})
        if clash:
            rejected[k] = WriteResult(
                k,
                Outcome.REJECTED,
                error=RecordRejectedError(
                    f"{len(props)} inputs for {k!r} disagree on {', '.join(clash)}; none was sent",
                    code="DUPLICATE_INPUT",
                ),
            )
        else:
            out.append((k, merged))
    return out, rejected


def _search_op(object_type: str, body: dict[str, Any]) -> Op:
    def op(apis: Any) -> Any:
        return apis.search[object_type].do_search(body, **apis.kw)

    return op


def _associations_op(from_type: str, to_type: str, body: dict[str, Any]) -> Op:
    def op(apis: Any) -> Any:
        return apis.associations.get_page(from_type, to_type, body, **apis.kw)

    return op


def _read_op(object_type: str, body: dict[str, Any]) -> Op:
    def op(apis: Any) -> Any:
        return apis.batch[object_type].read(body, archived=False, **apis.kw)

    return op


def _merged_ids(record: Mapping[str, Any]) -> set[str]:
    raw = (record.get("properties") or {}).get("hs_merged_object_ids") or ""
    return {x for x in str(raw).split(";") if x}


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _props(values: Mapping[str, str | None]) -> dict[str, str]:
    """Port values to HubSpot properties: None clears a property, which HubSpot spells ``""``."""
    return {k: "" if v is None else v for k, v in values.items()}


def _rekeyed(report: WriteReport, ops: Mapping[str, WriteOp], *, by_key: bool) -> WriteReport:
    """Results of a call keyed by record id (``by_key=False``) or handle, renamed to the ops' keys."""
    out = []
    for key, op in ops.items():
        r = report[key if by_key else (op.record_id or "").strip()]
        out.append(replace(r, key=key, op=op))
    return WriteReport(tuple(out), report.stopped)


def _not_attempted(ops: Sequence[WriteOp], stop: Stop) -> WriteReport:
    return WriteReport(
        tuple(WriteResult(op.key, Outcome.NOT_APPLIED, error=not_attempted(stop), op=op) for op in ops), stop
    )
