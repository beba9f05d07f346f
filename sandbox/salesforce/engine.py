"""Runs parsed SOQL against an org: validation of names, index use, filtering, ordering, paging, shaping.

Result shapes (api_rest resources_query.htm; restforce query_success_response.json): records carry
``attributes {type, url}``; parent relationship fields nest as objects with their own ``attributes`` (or
``null`` when the lookup is empty); child subqueries nest as ``{totalSize, done, records}`` or ``null``
when there are no child rows. ``totalSize`` counts every match; ``nextRecordsUrl`` is host-relative and
only present while ``done`` is false. String comparisons with ``=``/``LIKE`` are case-insensitive, as in
SOQL. UNVERIFIED: the order SOQL uses for ``ORDER BY Id`` and ``Id > '…'`` (we compare the 18-character
ids as strings, consistently for both, which is what a compound cursor needs).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.salesforce import errors as err
from sandbox.salesforce import soql
from sandbox.salesforce.ids import PREFIX_TO_OBJECT, to_18
from sandbox.salesforce.models import QUERY_BATCH_DEFAULT, Org, Record, Session, format_datetime
from sandbox.salesforce.schema import SCHEMA, FieldDef, ObjectDef

Getter = Callable[[Record], Any]
_MISSING = object()
MAX_OFFSET = 2000  # soql_sosl sforce_api_calls_soql_select_offset.htm


def _filter_type(name: str, kind: str) -> err.InvalidField:
    return err.InvalidField(
        f"value of filter criterion for field '{name}' must be of type {kind} "
        "and should not be enclosed in quotes"
    )


_REL_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the appropriate names."
)


def _no_column(obj: ObjectDef, name: str) -> err.InvalidField:
    return err.InvalidField(
        f"\n{name}\n^\nERROR at Row:1:Column:1\nNo such column '{name}' on entity '{obj.name}'. If you are "
        "attempting to use a custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names."
    )


def serialise_value(f: FieldDef, value: Any) -> Any:
    if f.type == "datetime":
        return format_datetime(value)
    return value


def record_url(version: str, obj_name: str, record_id: str) -> str:
    return f"/services/data/v{version}/sobjects/{obj_name}/{record_id}"


def record_json(
    version: str, obj: ObjectDef, rec: Record, fields: Iterable[FieldDef] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": {"type": obj.name, "url": record_url(version, obj.name, rec["Id"])}}
    for f in fields if fields is not None else obj.fields.values():
        out[f.name] = serialise_value(f, rec.get(f.name))
    return out


class Path:
    """A resolved field path: ``Email`` or ``ConvertedAccount.Type`` (one or more parent hops)."""

    def __init__(self, org: Org, obj: ObjectDef, text: str, user: str | None = None) -> None:
        self.text = text
        parts = text.split(".")
        if len(parts) > 1 and parts[0].lower() == obj.name.lower():
            parts = parts[1:]  # "Lead.Email" is allowed
        self.hops: list[FieldDef] = []
        current: ObjectDef | None = obj
        for rel in parts[:-1]:
            if current is None:
                raise _no_column(obj, text)
            ref = current.relationship(rel)
            if ref is None or org.access(user, current.name, ref.name) == "none":
                raise err.InvalidField(f"Didn't understand relationship '{rel}' in field path. {_REL_HINT}")
            self.hops.append(ref)
            current = SCHEMA[ref.reference_to[0]] if len(ref.reference_to) == 1 else None
        self.org = org
        self.leaf_name = parts[-1]
        if current is None:  # polymorphic (Who/What): only a few common fields
            self.leaf = FieldDef(parts[-1], "string" if parts[-1].lower() != "id" else "id")
            if parts[-1].lower() not in {"id", "name", "email", "type"}:
                raise _no_column(obj, text)
        else:
            leaf = current.field_ci(parts[-1])
            if leaf is None or org.access(user, current.name, leaf.name) == "none":  # hidden by FLS
                raise _no_column(current, text)
            self.leaf = leaf

    def target(self, rec: Record) -> Record | None:
        current: Record | None = rec
        for hop in self.hops:
            if current is None:
                return None
            ref = current.get(hop.name)
            current = self.org.find(ref) if ref else None
        return current

    def get(self, rec: Record) -> Any:
        if not self.hops:
            return rec.get(self.leaf.name)
        target = self.target(rec)
        if target is None:
            return None
        return target.get(self.leaf.name if self.leaf.name in target else _ci_key(target, self.leaf_name))


def _ci_key(rec: Record, name: str) -> str:
    lower = name.lower()
    return next((k for k in rec if k.lower() == lower), name)


def _literal_for(f: FieldDef, lit: soql.Literal, now_ms: int) -> Any:
    """The literal as a stored value for field ``f``, or a (lo, hi) range for date literals."""
    if lit.kind == "null":
        return None
    t = f.type
    if t == "datetime":
        if lit.kind == "datetime":
            return lit.value
        if lit.kind == "dateliteral":
            return soql.resolve_date_literal(lit.value, now_ms)
        raise _filter_type(f.name, "dateTime")
    if t == "date":
        if lit.kind == "date":
            return lit.value
        if lit.kind == "dateliteral":
            lo, hi = soql.resolve_date_literal(lit.value, now_ms)
            return (format_datetime(lo)[:10], format_datetime(hi)[:10])  # type: ignore[index]
        raise _filter_type(f.name, "date")
    if t == "boolean":
        if lit.kind != "boolean":
            raise _filter_type(f.name, "boolean")
        return lit.value
    if t in {"currency", "double", "int"}:
        if lit.kind != "number":
            raise _filter_type(f.name, "double")
        return lit.value
    if lit.kind != "string":
        raise err.MalformedQuery(f"invalid value for field '{f.name}'")
    if t in {"id", "reference"}:
        value = lit.value
        if not _ID_SHAPE.match(value):
            # restforce/restforce#557 (a production answer): 400 INVALID_QUERY_FILTER_OPERATOR
            # "invalid ID field: X". UNVERIFIED: whether an 18-char id with a bad checksum fails too.
            raise err.InvalidQueryFilterOperator(f"invalid ID field: {value}")
        return to_18(value) if len(value) == 15 else value
    return lit.value


_ID_SHAPE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def _ci(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def compile_condition(
    org: Org, obj: ObjectDef, cond: soql.Condition, user: str | None = None
) -> Callable[[Record], bool]:
    now = org.now_ms()
    if isinstance(cond, soql.BoolOp):
        parts = [compile_condition(org, obj, c, user) for c in cond.items]
        if cond.op == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if isinstance(cond, soql.Not):
        inner = compile_condition(org, obj, cond.item, user)
        return lambda r: not inner(r)
    path = Path(org, obj, cond.field, user)
    f = path.leaf
    get = path.get
    case_insensitive = f.type not in {"id", "reference"}
    op = cond.op
    if op in {"IN", "NOT IN"}:
        assert isinstance(cond.value, list)
        values = {
            _ci(_literal_for(f, v, now)) if case_insensitive else _literal_for(f, v, now) for v in cond.value
        }
        if op == "IN":
            return lambda r: (_ci(get(r)) if case_insensitive else get(r)) in values
        return lambda r: (_ci(get(r)) if case_insensitive else get(r)) not in values
    assert isinstance(cond.value, soql.Literal)
    if op == "LIKE":
        regex = soql.like_to_regex(cond.value.value)
        return lambda r: (v := get(r)) is not None and regex.match(str(v)) is not None
    target = _literal_for(f, cond.value, now)
    if isinstance(target, tuple):  # date literal range [lo, hi)
        lo, hi = target
        ranges: dict[str, Callable[[Any], bool]] = {
            "=": lambda v: lo <= v < hi,
            "!=": lambda v: not lo <= v < hi,
            "<": lambda v: v < lo,
            "<=": lambda v: v < hi,
            ">": lambda v: v >= hi,
            ">=": lambda v: v >= lo,
        }
        test = ranges[op]
        return lambda r: (v := get(r)) is not None and test(v)
    if target is None:
        if op == "=":
            return lambda r: get(r) is None
        if op == "!=":
            return lambda r: get(r) is not None
        return lambda r: False
    if case_insensitive:
        target = _ci(target)
    compare: dict[str, Callable[[Any], bool]] = {
        "=": lambda v: v == target,
        "!=": lambda v: v != target,
        "<": lambda v: v < target,
        "<=": lambda v: v <= target,
        ">": lambda v: v > target,
        ">=": lambda v: v >= target,
    }
    test = compare[op]
    if op == "!=":
        return lambda r: test(_ci(get(r)) if case_insensitive else get(r))
    return lambda r: (v := get(r)) is not None and test(_ci(v) if case_insensitive else v)


def _modstamp_bound(cond: soql.Condition | None) -> tuple[int, bool] | None:
    """A lower bound on SystemModstamp implied by the condition (for the index scan), if any."""
    if cond is None:
        return None
    if isinstance(cond, soql.Comparison):
        if cond.field.lower() != "systemmodstamp" or not isinstance(cond.value, soql.Literal):
            return None
        if cond.value.kind != "datetime":
            return None
        if cond.op == ">":
            return (cond.value.value, False)
        if cond.op in {">=", "="}:
            return (cond.value.value, True)
        return None
    if isinstance(cond, soql.BoolOp):
        bounds = [_modstamp_bound(c) for c in cond.items]
        if cond.op == "AND":
            known = [b for b in bounds if b is not None]
            return max(known, key=lambda b: (b[0], not b[1])) if known else None
        if any(b is None for b in bounds):
            return None
        return min((b for b in bounds if b is not None), key=lambda b: (b[0], not b[1]))
    return None


def _id_bound(obj: ObjectDef, cond: soql.Condition | None) -> tuple[str, bool] | None:
    """The tightest lower bound on ``Id`` an ``Id >``/``Id >=`` conjunct implies (id, inclusive), if any.

    Only top-level AND conjuncts count; the literal was checked when the condition compiled."""
    if cond is None:
        return None
    if isinstance(cond, soql.BoolOp):
        if cond.op != "AND":
            return None
        known = [b for c in cond.items if (b := _id_bound(obj, c)) is not None]
        return max(known, key=lambda b: (b[0], not b[1])) if known else None
    if not isinstance(cond, soql.Comparison) or cond.op not in {">", ">="}:
        return None
    if cond.field.lower() not in {"id", f"{obj.name.lower()}.id"}:
        return None
    if not isinstance(cond.value, soql.Literal) or cond.value.kind != "string":
        return None
    value = cond.value.value
    if not _ID_SHAPE.match(value):
        return None
    return (to_18(value) if len(value) == 15 else value, cond.op == ">=")


def _id_candidates(org: Org, obj: ObjectDef, cond: soql.Condition | None) -> set[str] | None:
    """Ids from an ``Id``/indexed-field ``=``/``IN`` conjunct, if the condition has one."""
    if cond is None:
        return None
    if isinstance(cond, soql.BoolOp) and cond.op == "AND":
        for c in cond.items:
            found = _id_candidates(org, obj, c)
            if found is not None:
                return found
        return None
    if isinstance(cond, soql.BoolOp) and cond.op == "OR":
        sets = [_id_candidates(org, obj, c) for c in cond.items]
        if any(s is None for s in sets):
            return None
        return set().union(*[s for s in sets if s is not None])
    if not isinstance(cond, soql.Comparison) or cond.op not in {"=", "IN"} or "." in cond.field:
        return None
    values = cond.value if isinstance(cond.value, list) else [cond.value]
    if any(v.kind != "string" for v in values):
        return None
    store = org.stores[obj.name]
    f = obj.field_ci(cond.field)
    if f is None:
        return None
    if f.name == "Id":
        return {to_18(v.value) for v in values if len(v.value) in (15, 18)}
    if f.name in store.indexed:
        out: set[str] = set()
        for v in values:
            out |= store.lookup(f.name, v.value)
        return out
    return None


def _sort_key(path: Path, descending: bool, nulls_last: bool | None) -> Callable[[Record], Any]:
    """SOQL default: ASC NULLS FIRST, DESC NULLS LAST; text sorts case-insensitively, ids exactly."""
    nulls_last = descending if nulls_last is None else nulls_last
    getter = path.get
    fold = path.leaf.type not in {"id", "reference"}

    def key(rec: Record) -> Any:
        v = getter(rec)
        if v is None:
            return (1 if nulls_last != descending else 0, "")
        return (0 if nulls_last != descending else 1, _ci(v) if fold else v)

    return key


class Compiled:
    """A query validated against the schema, ready to select ids and shape records."""

    #: read ``Id > X … ORDER BY Id`` through the store's ordered ids (False: scan every record, the
    #: reference answer the tests compare the index with)
    use_id_index = True

    def __init__(self, org: Org, q: soql.Query, version: str, user: str | None = None) -> None:
        """``user``: whose field-level security applies (a hidden field is INVALID_FIELD)."""
        self.org = org
        self.q = q
        self.version = version
        obj = next((o for o in SCHEMA.values() if o.name.lower() == q.object.lower()), None)
        if obj is None:
            raise err.InvalidType(
                f"\nFROM {q.object}\n     ^\nERROR at Row:1:Column:1\nsObject type '{q.object}' is not "
                "supported. If you are attempting to use a custom object, be sure to append the '__c' "
                "after the entity name. Please reference your WSDL or the describe call for the "
                "appropriate names."
            )
        self.obj = obj
        if not q.fields and not q.count and not q.subqueries:
            raise err.MalformedQuery("unexpected token: 'FROM'")
        if q.offset is not None and q.offset > MAX_OFFSET:
            raise err.NumberOutsideValidRange(f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        self.paths = [Path(org, obj, name, user) for name in q.fields]
        self.pred = compile_condition(org, obj, q.where, user) if q.where is not None else None
        self.order = [(Path(org, obj, o.field, user), o) for o in q.order_by]
        self.children: list[tuple[str, ObjectDef, str, Compiled]] = []
        for sub in q.subqueries:
            rel = next((k for k in obj.child_relationships if k.lower() == sub.object.lower()), None)
            if rel is None:
                raise err.InvalidType(
                    f"Didn't understand relationship '{sub.object}' in FROM part of query call. {_REL_HINT}"
                )
            child_name, fk = obj.child_relationships[rel]
            child_q = soql.Query(
                fields=sub.fields,
                object=child_name,
                where=sub.where,
                order_by=sub.order_by,
                limit=sub.limit,
                offset=sub.offset,
                text=sub.text,
            )
            self.children.append((rel, SCHEMA[child_name], fk, Compiled(org, child_q, version, user)))

    def _ordered_by_id(self) -> bool:
        return len(self.order) == 1 and self._is_id(self.order[0][0]) and not self.order[0][1].descending

    @staticmethod
    def _is_id(path: Path) -> bool:
        return not path.hops and path.leaf.name == "Id"

    def _ordered_by_index(self) -> bool:
        names = [(p.text.lower(), o.descending) for p, o in self.order]
        return names in ([("systemmodstamp", False)], [("systemmodstamp", False), ("id", False)])

    def select_ids(self, include_deleted: bool, restrict: set[str] | None = None) -> list[str]:
        store = self.org.stores[self.obj.name]
        records = store.records
        bound = _modstamp_bound(self.q.where)
        candidates = _id_candidates(self.org, self.obj, self.q.where)
        if restrict is not None:
            candidates = restrict if candidates is None else candidates & restrict
        want = None
        if self.q.limit is not None and not self.q.count:
            want = self.q.limit + (self.q.offset or 0)
        in_order = False
        source: Iterable[str]
        if candidates is not None:
            source = sorted(candidates)
        elif self.use_id_index and (self._ordered_by_id() or (not self.order and bound is None)):
            # ``store.ids`` is in Id order, which is also the order of ``records`` (ids are made in
            # ascending order and never removed), so the answer is the one a full scan gives.
            ids = store.ids
            start_at = 0
            if (low := _id_bound(self.obj, self.q.where)) is not None:
                start_at = (bisect.bisect_left if low[1] else bisect.bisect_right)(ids, low[0])
            source = map(ids.__getitem__, range(start_at, len(ids)))
            in_order = True
        elif bound is not None or self._ordered_by_index():
            source = store.modstamp.scan(records, bound)
            in_order = self._ordered_by_index() or not self.order
        else:
            source = records.keys()
        pred = self.pred
        out: list[str] = []
        for rid in source:
            rec = records.get(rid)
            if rec is None or (rec["IsDeleted"] and not include_deleted):
                continue
            if pred is not None and not pred(rec):
                continue
            out.append(rid)
            if in_order and want is not None and len(out) >= want:
                break
        if self.order and not in_order:
            rows = [records[i] for i in out]
            for path, item in reversed(self.order):
                rows.sort(key=_sort_key(path, item.descending, item.nulls_last), reverse=item.descending)
            out = [r["Id"] for r in rows]
        start = self.q.offset or 0
        end = None if self.q.limit is None else start + self.q.limit
        return out[start:end]

    def shape(self, rec: Record) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attributes": {"type": self.obj.name, "url": record_url(self.version, self.obj.name, rec["Id"])}
        }
        for path in self.paths:
            if not path.hops:
                out[path.leaf.name] = serialise_value(path.leaf, rec.get(path.leaf.name))
                continue
            node = out
            current: Record | None = rec
            for depth, hop in enumerate(path.hops):
                name = hop.relationship_name or hop.name
                ref = current.get(hop.name) if current is not None else None
                current = self.org.find(ref) if ref else None
                if current is None:
                    node.setdefault(name, None)
                    break
                existing = node.get(name)
                if not isinstance(existing, dict):
                    target_type = PREFIX_TO_OBJECT[current["Id"][:3]]
                    existing = {
                        "attributes": {
                            "type": target_type,
                            "url": record_url(self.version, target_type, current["Id"]),
                        }
                    }
                    node[name] = existing
                node = existing
                if depth == len(path.hops) - 1:
                    key = path.leaf.name if path.leaf.name in current else _ci_key(current, path.leaf_name)
                    target_obj = SCHEMA[PREFIX_TO_OBJECT[current["Id"][:3]]]
                    tf = target_obj.field_ci(key) or path.leaf
                    node[tf.name] = serialise_value(tf, current.get(tf.name))
        for rel, child_obj, fk, compiled in self.children:
            ids = (
                self.org.stores[child_obj.name].lookup(fk, rec["Id"])
                if fk in self.org.stores[child_obj.name].indexed
                else {i for i, r in self.org.stores[child_obj.name].records.items() if r.get(fk) == rec["Id"]}
            )
            child_ids = compiled.select_ids(False, restrict=set(ids)) if ids else []
            out[rel] = (
                {
                    "totalSize": len(child_ids),
                    "done": True,
                    "records": [
                        compiled.shape(self.org.stores[child_obj.name].records[i]) for i in child_ids
                    ],
                }
                if child_ids
                else None
            )
        return out


def parse_batch_size(header: str | None) -> int:
    """``Sforce-Query-Options: batchSize=N`` (200..2000; values outside are clamped, UNVERIFIED)."""
    from sandbox.salesforce.models import QUERY_BATCH_MAX, QUERY_BATCH_MIN

    if not header:
        return QUERY_BATCH_DEFAULT
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(QUERY_BATCH_MIN, min(QUERY_BATCH_MAX, int(value)))
    return QUERY_BATCH_DEFAULT


def run_query(
    org: Org,
    text: str,
    version: str,
    include_deleted: bool,
    batch_size: int,
    *,
    session: Session | None = None,
) -> dict[str, Any]:
    q = soql.parse(text)
    compiled = Compiled(org, q, version, session.user_id if session is not None else None)
    with org.lock:
        ids = compiled.select_ids(include_deleted)
    if org.query_timeout_rows is not None and len(ids) > org.query_timeout_rows:
        raise err.QueryTimeout()
    if q.count:
        return {"totalSize": len(ids), "done": True, "records": []}
    cursor = org.open_cursor(q, ids, batch_size, include_deleted, session)
    cursor.compiled = compiled
    return page(org, cursor.locator, 0, version, include_deleted, session=session)


def page(
    org: Org,
    locator: str,
    position: int,
    version: str,
    include_deleted: bool,
    *,
    session: Session | None = None,
) -> dict[str, Any]:
    cursor = org.cursor(locator, position, session)
    compiled: Compiled = cursor.compiled
    records = org.stores[compiled.obj.name].records
    rows: list[dict[str, Any]] = []
    weight = 0
    nxt = position
    with org.lock:
        # "Child objects count toward the number of records for the batch size" (api
        # sforce_api_header_queryoptions.htm), so a page with subqueries holds fewer parent rows.
        while nxt < len(cursor.ids) and weight < cursor.batch_size:
            rid = cursor.ids[nxt]
            nxt += 1
            if rid not in records:
                continue
            row = compiled.shape(records[rid])
            rows.append(row)
            weight += 1 + sum(
                len(row[rel]["records"]) for rel, *_ in compiled.children if isinstance(row.get(rel), dict)
            )
    result: dict[str, Any] = {"totalSize": len(cursor.ids), "done": nxt >= len(cursor.ids)}
    if nxt < len(cursor.ids):
        # Always /query/, for queryAll too: the locator remembers that deleted rows are included
        # (api_rest resources_queryall_more_results.htm: "nextRecordsUrl … contains query instead of
        # queryAll").
        result["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{nxt}"
    else:
        org.cursors.pop(locator, None)
    result["records"] = rows
    return result
