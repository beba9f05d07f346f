"""The CRM search engine: request parsing with HubSpot's limits, filter evaluation, an indexed store.

Semantics [reference §3]: operators EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY,
NOT_HAS_PROPERTY, CONTAINS_TOKEN, NOT_CONTAINS_TOKEN [A, SPEC enum]; filters in a group are ANDed, groups
ORed [C]; ``sorts`` accept objects and the ``"-prop"`` string form [A/B]; ``after`` is a numeric offset
[B]; 400 past 10,000 results [B]; archived records never appear [C]. String equality is case-insensitive
[C, commonly observed]. Records become visible only after the portal's index lag [B, php #59].

Ordering without ``sorts`` is by id ascending [C: HubSpot does not document the default order].
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sortedcontainers import SortedList  # type: ignore[import-untyped]

from sandbox.hubspot import limits
from sandbox.hubspot.errors import ValidationError
from worker.crm.hubspot.search_operators import FILTER_OPERATORS

RANGE_OPS = frozenset({"LT", "LTE", "GT", "GTE", "BETWEEN", "EQ"})
TIME_PROPS = frozenset({"createdate", "lastmodifieddate", "hs_lastmodifieddate"})
# Properties with an equality index (the ones the worker and operators look up by value).
EQ_INDEXED = (
    "email",
    "salesforce_lead_id",
    "salesforce_contact_id",
    "hs_object_id",
    "lifecyclestage",
    "hs_lead_status",
)


def to_ms(value: Any) -> int | None:
    """Epoch-ms string/int or ISO-8601 to epoch ms; None when it is neither."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


@dataclass(frozen=True)
class Filter:
    prop: str
    op: str
    value: str | None = None
    high: str | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sort:
    prop: str
    descending: bool


@dataclass(frozen=True)
class SearchRequest:
    groups: tuple[tuple[Filter, ...], ...]
    sorts: tuple[Sort, ...]
    properties: tuple[str, ...] | None
    limit: int
    after: int
    query: str | None

    def cache_key(self) -> str:
        return json.dumps([repr(self.groups), repr(self.sorts), self.query])


def parse_request(body: dict[str, Any]) -> SearchRequest:
    """Parse and check a ``PublicObjectSearchRequest``; limit errors are 400 VALIDATION_ERROR [A/C]."""
    raw_groups = body.get("filterGroups") or []
    if not isinstance(raw_groups, list):
        raise ValidationError("filterGroups must be a list")
    if len(raw_groups) > limits.SEARCH_MAX_GROUPS:
        raise ValidationError(
            f"Too many filter groups: {len(raw_groups)}. The maximum is {limits.SEARCH_MAX_GROUPS}."
        )
    groups: list[tuple[Filter, ...]] = []
    total = 0
    for g in raw_groups:
        raw_filters = (g or {}).get("filters") or []
        if len(raw_filters) > limits.SEARCH_MAX_FILTERS_PER_GROUP:
            raise ValidationError(
                f"Too many filters in a group: {len(raw_filters)}. "
                f"The maximum is {limits.SEARCH_MAX_FILTERS_PER_GROUP}."
            )
        total += len(raw_filters)
        filters = []
        for f in raw_filters:
            op = str(f.get("operator", "EQ"))
            if op not in FILTER_OPERATORS:
                raise ValidationError(f"Unknown operator: {op}")
            prop = f.get("propertyName")
            if not prop:
                raise ValidationError("Filter is missing propertyName")
            value = f.get("value")
            high = f.get("highValue")
            values = tuple(str(v) for v in (f.get("values") or []))
            if op in {"IN", "NOT_IN"} and not values:
                raise ValidationError(f"Operator {op} requires values")
            if op == "BETWEEN" and (value is None or high is None):
                raise ValidationError("Operator BETWEEN requires value and highValue")
            filters.append(
                Filter(
                    prop=str(prop),
                    op=op,
                    value=None if value is None else str(value),
                    high=None if high is None else str(high),
                    values=values,
                )
            )
        groups.append(tuple(filters))
    if total > limits.SEARCH_MAX_FILTERS_TOTAL:
        raise ValidationError(f"Too many filters: {total}. The maximum is {limits.SEARCH_MAX_FILTERS_TOTAL}.")
    sorts: list[Sort] = []
    for s in body.get("sorts") or []:
        if isinstance(s, str):
            sorts.append(Sort(prop=s.lstrip("-"), descending=s.startswith("-")))
        else:
            sorts.append(
                Sort(
                    prop=str(s.get("propertyName")),
                    descending=str(s.get("direction", "")).upper() == "DESCENDING",
                )
            )
    limit = int(body.get("limit") or limits.SEARCH_DEFAULT_LIMIT)
    if limit < 1 or limit > limits.SEARCH_MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {limits.SEARCH_MAX_LIMIT}, got {limit}")
    raw_after = body.get("after")
    try:
        after = int(raw_after) if raw_after not in (None, "") else 0
    except (TypeError, ValueError):
        raise ValidationError(f"Invalid after: {raw_after}") from None
    query = body.get("query")
    if query is not None and len(str(query)) > limits.SEARCH_QUERY_MAX_CHARS:
        raise ValidationError(f"query must be at most {limits.SEARCH_QUERY_MAX_CHARS} characters")
    props = body.get("properties")
    return SearchRequest(
        groups=tuple(groups),
        sorts=tuple(sorts),
        properties=None if props is None else tuple(str(p) for p in props),
        limit=limit,
        after=after,
        query=None if query is None else str(query),
    )


@dataclass
class Doc:
    """A snapshot of a record as the search index sees it (may lag the live record)."""

    id: int
    props: dict[str, str]
    created_ms: int
    updated_ms: int
    archived: bool
    archived_ms: int | None


_TOKEN = re.compile(r"[\w*]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _contains_token(value: str, needle: str) -> bool:
    needle = needle.lower()
    if "*" in needle:
        pattern = re.compile("^" + re.escape(needle).replace(r"\*", ".*") + "$")
        return any(pattern.match(t) for t in [*_tokens(value), value.lower()])
    return needle in _tokens(value) or needle == value.lower()


class Evaluator:
    """Evaluates filters on docs; ``kind(prop)`` tells number/datetime/string comparisons apart."""

    def __init__(self, kind: Callable[[str], str]) -> None:
        self.kind = kind

    def value_of(self, doc: Doc, prop: str) -> str | None:
        if prop == "hs_object_id":
            return str(doc.id)
        if prop == "createdate":
            return str(doc.created_ms)
        if prop in ("lastmodifieddate", "hs_lastmodifieddate"):
            return str(doc.updated_ms)
        v = doc.props.get(prop)
        return v if v not in (None, "") else None

    def _key(self, prop: str, raw: str) -> Any:
        kind = self.kind(prop)
        if prop in TIME_PROPS or kind in ("datetime", "date"):
            return to_ms(raw)
        if kind == "number" or prop == "hs_object_id":
            try:
                return float(raw)
            except ValueError:
                return None
        return raw.lower()

    def match_filter(self, doc: Doc, f: Filter) -> bool:
        actual = self.value_of(doc, f.prop)
        if f.op == "HAS_PROPERTY":
            return actual is not None
        if f.op == "NOT_HAS_PROPERTY":
            return actual is None
        if f.op == "NEQ":
            return actual is None or self._key(f.prop, actual) != self._key(f.prop, f.value or "")
        if f.op == "NOT_IN":
            return actual is None or self._key(f.prop, actual) not in {self._key(f.prop, v) for v in f.values}
        if f.op == "NOT_CONTAINS_TOKEN":
            return actual is None or not _contains_token(actual, f.value or "")
        if actual is None:
            return False
        if f.op == "CONTAINS_TOKEN":
            return _contains_token(actual, f.value or "")
        a = self._key(f.prop, actual)
        if f.op == "IN":
            return a in {self._key(f.prop, v) for v in f.values}
        b = self._key(f.prop, f.value or "")
        if a is None or b is None:
            return False
        if f.op == "EQ":
            return bool(a == b)
        try:
            if f.op == "LT":
                return bool(a < b)
            if f.op == "LTE":
                return bool(a <= b)
            if f.op == "GT":
                return bool(a > b)
            if f.op == "GTE":
                return bool(a >= b)
            if f.op == "BETWEEN":
                hi = self._key(f.prop, f.high or "")
                return hi is not None and bool(b <= a <= hi)
        except TypeError:
            return False
        return False

    def match(self, doc: Doc, req: SearchRequest) -> bool:
        if doc.archived:
            return False
        if req.query:
            text = " ".join(v for v in doc.props.values() if v)
            if not all(_contains_token(text, t) for t in req.query.split()):
                return False
        if not req.groups:
            return True
        return any(all(self.match_filter(doc, f) for f in g) for g in req.groups)

    def sort(self, docs: list[Doc], req: SearchRequest) -> None:
        """Sort in place: id ascending, then each sort rule (last rule applied first; stable sorts)."""
        docs.sort(key=lambda d: d.id)
        for s in reversed(req.sorts):

            def key(doc: Doc, prop: str = s.prop) -> Any:
                raw = self.value_of(doc, prop)
                k = self._key(prop, raw) if raw is not None else None
                return (k is None, k if k is not None else 0)

            docs.sort(key=key, reverse=s.descending)


class SearchIndex:
    """The search side of one object store: lagging snapshots, a time index and equality indexes.

    Writes are queued with a due time (now + lag); ``catch_up(now)`` applies due ones. A small cache of
    full result-id lists per query keeps deep paging cheap; any applied change invalidates it.
    """

    def __init__(self) -> None:
        self.docs: dict[int, Doc] = {}
        self.by_updated = SortedList()
        self.eq: dict[str, dict[str, set[int]]] = {p: {} for p in EQ_INDEXED}
        self._pending: list[tuple[int, int, int, Doc | None]] = []
        self.due: dict[int, int] = {}  # record id -> when its latest queued version becomes visible
        self._last: dict[int, int] = {}  # record id -> the sequence number of that version
        # record id -> the sequence number of a version made visible at once while older versions
        # were still queued: those must not overwrite it when they fall due
        self._floor: dict[int, int] = {}
        self._seq = itertools.count()
        self._cache: dict[str, list[int]] = {}

    def enqueue(self, due_ms: int, record_id: int, doc: Doc | None) -> None:
        """Queue a version; callers keep ``due_ms`` at or after ``due[record_id]``, so a record's
        versions become visible in the order written."""
        seq = next(self._seq)
        self.due[record_id], self._last[record_id] = max(due_ms, self.due.get(record_id, 0)), seq
        heapq.heappush(self._pending, (due_ms, seq, record_id, doc))

    def catch_up(self, now_ms: int) -> None:
        while self._pending and self._pending[0][0] <= now_ms:
            _, seq, rid, doc = heapq.heappop(self._pending)
            if self._last.get(rid) == seq:
                del self._last[rid], self.due[rid]
            floor = self._floor.get(rid)
            if floor is not None:
                if seq < floor:
                    continue  # an older version than the one already shown: the index never goes back
                del self._floor[rid]
            self._apply(rid, doc)

    def put_now(self, doc: Doc) -> None:
        """Show ``doc`` at once. Versions of the record still queued are older (a version is put now
        only when every queued one is due): they are dropped when they fall due, not applied over it."""
        if doc.id in self._last:
            self._floor[doc.id] = next(self._seq)
            del self._last[doc.id], self.due[doc.id]
        self._apply(doc.id, doc)

    def _apply(self, rid: int, doc: Doc | None) -> None:
        self._cache.clear()
        old = self.docs.pop(rid, None)
        if old is not None:
            self.by_updated.discard((old.updated_ms, rid))
            for p, idx in self.eq.items():
                v = old.props.get(p) if p != "hs_object_id" else str(rid)
                if v:
                    ids = idx.get(v.lower())
                    if ids is not None:
                        ids.discard(rid)
        if doc is None or doc.archived:
            return
        self.docs[rid] = doc
        self.by_updated.add((doc.updated_ms, rid))
        for p, idx in self.eq.items():
            v = doc.props.get(p) if p != "hs_object_id" else str(rid)
            if v:
                idx.setdefault(v.lower(), set()).add(rid)

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def _candidates(self, group: tuple[Filter, ...]) -> Iterable[int] | None:
        for f in group:
            if f.prop in self.eq and f.op == "EQ" and f.value:
                return list(self.eq[f.prop].get(f.value.lower(), ()))
            if f.prop in self.eq and f.op == "IN":
                out: set[int] = set()
                for v in f.values:
                    out |= self.eq[f.prop].get(v.lower(), set())
                return list(out)
        lo: int | None = None
        hi: int | None = None
        for f in group:
            if f.prop in ("lastmodifieddate", "hs_lastmodifieddate") and f.op in RANGE_OPS:
                ms = to_ms(f.value)
                if ms is None:
                    continue
                if f.op in ("GT", "GTE", "EQ", "BETWEEN"):
                    lo = ms if lo is None else max(lo, ms)
                if f.op in ("LT", "LTE", "EQ"):
                    hi = ms if hi is None else min(hi, ms)
                if f.op == "BETWEEN":
                    h = to_ms(f.high)
                    if h is not None:
                        hi = h if hi is None else min(hi, h)
        if lo is None and hi is None:
            return None
        start = (lo if lo is not None else -(2**62), -1)
        stop = (hi if hi is not None else 2**62, 2**62)
        return [rid for _, rid in self.by_updated.irange(start, stop)]

    def page(self, req: SearchRequest, ev: Evaluator) -> tuple[int, list[int]]:
        """(total, ids of the requested page). Pure modified-time range queries are answered from the
        time index directly (count by bisection, page by slicing), so deep change reads stay O(page)."""
        fast = self._time_range_only(req)
        if fast is not None:
            lo, hi = fast
            start = (lo, -1)
            stop = (hi, 2**62)
            total = self.by_updated.bisect_right(stop) - self.by_updated.bisect_left(start)
            it = self.by_updated.irange(start, stop)
            ids = [rid for _, rid in itertools.islice(it, req.after, req.after + req.limit)]
            return total, ids
        ids = self.run(req, ev)
        return len(ids), ids[req.after : req.after + req.limit]

    @staticmethod
    def _time_range_only(req: SearchRequest) -> tuple[int, int] | None:
        """Bounds when the request is one group of range filters on the modified time, sorted by it ASC."""
        if len(req.groups) != 1 or req.query:
            return None
        if any(s.prop not in ("lastmodifieddate", "hs_lastmodifieddate") or s.descending for s in req.sorts):
            return None
        lo, hi = -(2**62), 2**62
        for f in req.groups[0]:
            if f.prop not in ("lastmodifieddate", "hs_lastmodifieddate"):
                return None
            v = to_ms(f.value)
            if v is None:
                return None
            if f.op == "GTE":
                lo = max(lo, v)
            elif f.op == "GT":
                lo = max(lo, v + 1)
            elif f.op == "LTE":
                hi = min(hi, v)
            elif f.op == "LT":
                hi = min(hi, v - 1)
            elif f.op == "EQ":
                lo, hi = max(lo, v), min(hi, v)
            else:
                return None
        return lo, hi

    def run(self, req: SearchRequest, ev: Evaluator) -> list[int]:
        """All matching ids in result order (cached per query until the index changes)."""
        key = req.cache_key()
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        candidate_ids: set[int] | None = set()
        for g in req.groups or ((),):
            c = self._candidates(g) if g else None
            if c is None:
                candidate_ids = None
                break
            assert candidate_ids is not None
            candidate_ids.update(c)
        docs: Iterable[Doc]
        if candidate_ids is None:
            docs = self.docs.values()
        else:
            docs = (self.docs[i] for i in candidate_ids if i in self.docs)
        matched = [d for d in docs if ev.match(d, req)]
        ev.sort(matched, req)
        ids = [d.id for d in matched]
        if len(self._cache) > 32:
            self._cache.clear()
        self._cache[key] = ids
        return ids
