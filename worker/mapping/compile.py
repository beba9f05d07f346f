"""Load a definition map file: YAML → strict models → cross-checks → ``CompiledMap``.

Every problem is collected and located (``file:line: key: what is wrong``) and raised together in one
``MappingError``, so an operator fixes a map in one pass instead of one error per run.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path as FsPath
from types import MappingProxyType
from typing import get_args

from pydantic import ValidationError

from worker.errors import MappingError
from worker.mapping.compiled import STAGE, STATUS, CompiledMap, Condition, Field, Rule, Stage, Status
from worker.mapping.model import (
    ConflictPolicy,
    DefinitionMap,
    FactEvent,
    FirstSightFacts,
    FirstSightStage,
    Owner,
    RecordCreated,
    StageChanged,
    StageConfig,
    StatusChanged,
    StatusConfig,
    SyncRule,
)
from worker.mapping.yamlsource import MAX_CHARS, Located, Path, load_located

_OWNER_SIDE = {Owner.MARKETING: "hubspot", Owner.SALES: "salesforce"}
_OWNER_POLICY = {Owner.MARKETING: ConflictPolicy.HUBSPOT_WINS, Owner.SALES: ConflictPolicy.SALESFORCE_WINS}


def load_map(path: str | FsPath) -> CompiledMap:
    """Load and compile a map file, raising ``MappingError`` listing every problem."""
    file = FsPath(path)
    try:
        with file.open("rb") as handle:  # capped: a huge file is refused by load_located, not read whole
            raw = handle.read(MAX_CHARS * 4 + 1)
        text = raw.decode("utf-8", errors="strict" if len(raw) <= MAX_CHARS * 4 else "replace")
    except OSError as exc:
        raise MappingError([f"{file}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise MappingError([f"{file}: not UTF-8 text (byte {exc.start}): save the map as UTF-8"]) from None
    return compile_text(text, str(file))


def compile_text(text: str, filename: str = "<map>") -> CompiledMap:
    located = load_located(text, filename)
    if located.problems and located.data is None:
        raise MappingError(located.problems)
    problems = list(located.problems)
    if not isinstance(located.data, dict):
        raise MappingError([*problems, f"{filename}:1: the map must be a mapping of keys at the top level"])
    try:
        model = DefinitionMap.model_validate_json(json.dumps(located.data, default=str), strict=True)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, located))
        raise MappingError(problems) from None
    checker = _Checker(model, located)
    problems.extend(checker.problems)
    if problems:
        raise MappingError(problems)
    return checker.compiled()


def _pydantic_problems(exc: ValidationError, located: Located) -> Iterator[str]:
    for error in exc.errors(include_url=False):
        loc = _model_loc_to_path(error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (not part of the definition map format; see `crmsync mappings schema`)"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] in {"literal_error", "enum"}:
            message = f"{message} (got {error.get('input')!r})"
        yield f"{located.where(loc)}: {message}"


def _model_loc_to_path(loc: tuple[int | str, ...]) -> Path:
    """Drop the discriminator tags pydantic inserts (``when.stage_changed.to`` → ``when.to``)."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and out and out[-1] == "when" and part in _EVENT_TAGS:
            continue
        out.append({"from_": "from", "if_": "if"}.get(part, part) if isinstance(part, str) else part)
    return tuple(out)


_EVENT_TAGS = {
    *(
        get_args(model.model_fields["event"].annotation)[0]
        for model in (RecordCreated, StageChanged, StatusChanged)
    ),
    *get_args(FactEvent.model_fields["event"].annotation),
}


class _Checker:
    """Cross-reference checks over a shape-valid map; builds the compiled form when clean."""

    def __init__(self, model: DefinitionMap, located: Located) -> None:
        self.m = model
        self.located = located
        self.problems: list[str] = []
        self.stage_ids = {s.id for s in model.stage.values}
        self.status_ids = {s.id for s in model.status.values}
        self.field_ids = {f.id for f in model.fields}
        self._check_stages()
        self._check_statuses()
        self._check_fields()
        self._check_transitions()
        self._check_rules()
        self._check_inclusion()
        self._check_flip_flops()  # over the rules whose references resolve, so a typo hides no loop

    def err(self, path: Path, message: str) -> None:
        self.problems.append(f"{self.located.where(path)}: {message}")

    def _unique(self, items: Iterable[tuple[Path, str | None]], what: str) -> None:
        seen: dict[str, Path] = {}
        for path, value in items:
            if value is None:
                continue
            if value in seen:
                other = self.located.line_of(seen[value])
                self.err(path, f"{what} {value!r} is already claimed at line {other}")
            else:
                seen[value] = path

    def _check_stage_ref(self, path: Path, stage: str | None) -> None:
        if stage is not None and stage not in self.stage_ids:
            self.err(path, f"no stage with id {stage!r} (stages: {', '.join(sorted(self.stage_ids))})")

    def _check_status_ref(self, path: Path, status: str | None) -> None:
        if status is not None and status not in self.status_ids:
            self.err(path, f"no status with id {status!r} (statuses: {', '.join(sorted(self.status_ids))})")

    def _check_shared_hubspot(self, base: Path, values: Iterable[tuple[int, str | None, bool]]) -> None:
        groups: dict[str, list[tuple[int, bool]]] = defaultdict(list)
        for index, hubspot, primary in values:
            if hubspot is not None:
                groups[hubspot].append((index, primary))
        for hubspot, members in groups.items():
            primaries = [i for i, primary in members if primary]
            if len(members) > 1 and len(primaries) != 1:
                self.err(
                    (*base, members[-1][0], "hubspot"),
                    f"HubSpot value {hubspot!r} is shared by {len(members)} entries; mark exactly one "
                    "`hubspot_primary: true` to say which one it reads back as",
                )
            elif len(members) == 1 and primaries and len(primaries) == 1:
                pass

    def _check_stages(self) -> None:
        cfg = self.m.stage
        base: Path = ("stage", "values")
        if not cfg.values:
            self.err(base, "at least one stage is required")
        self._unique((((*base, i, "id"), s.id) for i, s in enumerate(cfg.values)), "stage id")
        self._unique(
            (((*base, i, "salesforce"), s.salesforce) for i, s in enumerate(cfg.values)),
            "Salesforce Lead Stage value",
        )
        self._unique(((("stage", "hubspot_order", i), v) for i, v in enumerate(cfg.hubspot_order)), "value")
        self._unique((((*base, i, "rank"), str(s.rank)) for i, s in enumerate(cfg.values)), "rank")
        if cfg.salesforce_field == self.m.status.salesforce_field:
            self.err(
                ("status", "salesforce_field"), f"stage and status cannot both be {cfg.salesforce_field!r}"
            )
        if cfg.hubspot_property == self.m.status.hubspot_property:
            self.err(
                ("status", "hubspot_property"), f"stage and status cannot both be {cfg.hubspot_property!r}"
            )
        order = set(cfg.hubspot_order)
        for i, s in enumerate(cfg.values):
            if s.hubspot is not None and s.hubspot not in order:
                self.err((*base, i, "hubspot"), f"{s.hubspot!r} is not in stage.hubspot_order")
        self._check_shared_hubspot(
            base, ((i, s.hubspot, s.hubspot_primary) for i, s in enumerate(cfg.values))
        )

    def _check_statuses(self) -> None:
        cfg = self.m.status
        base: Path = ("status", "values")
        if not cfg.values:
            self.err(base, "at least one status is required")
        self._unique((((*base, i, "id"), s.id) for i, s in enumerate(cfg.values)), "status id")
        self._unique(
            (((*base, i, "salesforce"), s.salesforce) for i, s in enumerate(cfg.values)),
            "Salesforce Status value",
        )
        self._check_shared_hubspot(
            base, ((i, s.hubspot, s.hubspot_primary) for i, s in enumerate(cfg.values))
        )
        for i, s in enumerate(cfg.values):
            self._check_stage_ref((*base, i, "implies_stage"), s.implies_stage)
            for j, req in enumerate(s.requires):
                if req.field not in self.field_ids:
                    self.err(
                        (*base, i, "requires", j, "field"), f"no field with id {req.field!r} in `fields`"
                    )

    def _check_fields(self) -> None:
        self._unique(((("fields", i, "id"), f.id) for i, f in enumerate(self.m.fields)), "field id")
        reserved_sf = {self.m.stage.salesforce_field, self.m.status.salesforce_field}
        reserved_sf.add(self.m.links.salesforce_hubspot_id_field)
        reserved_hs = {self.m.stage.hubspot_property, self.m.status.hubspot_property}
        reserved_hs.update(
            {self.m.links.hubspot_salesforce_lead_property, self.m.links.hubspot_salesforce_contact_property}
        )
        for i, f in enumerate(self.m.fields):
            if f.id in {STAGE, STATUS}:
                self.err(
                    ("fields", i, "id"),
                    f"{f.id!r} is reserved: configure it under the top-level `{f.id}` key",
                )
            if f.salesforce is None and f.hubspot is None:
                self.err(("fields", i), "a field needs a `salesforce` name, a `hubspot` name, or both")
            if f.salesforce in reserved_sf:
                self.err(
                    ("fields", i, "salesforce"),
                    f"{f.salesforce!r} is managed by the stage/status/link settings",
                )
            if f.hubspot in reserved_hs:
                self.err(
                    ("fields", i, "hubspot"), f"{f.hubspot!r} is managed by the stage/status/link settings"
                )
        self._unique(
            ((("fields", i, "salesforce"), f.salesforce) for i, f in enumerate(self.m.fields)),
            "Salesforce field",
        )
        self._unique(
            ((("fields", i, "hubspot"), f.hubspot) for i, f in enumerate(self.m.fields)), "HubSpot property"
        )

    def _check_transitions(self) -> None:
        for i, t in enumerate(self.m.transitions):
            if t.from_ != "*":
                for j, stage in enumerate(t.from_):
                    self._check_stage_ref(("transitions", i, "from", j), stage)
            for j, stage in enumerate(t.to):
                self._check_stage_ref(("transitions", i, "to", j), stage)

    def _check_rules(self) -> None:
        self._unique(((("rules", i, "id"), r.id) for i, r in enumerate(self.m.rules)), "rule id")
        for i, r in enumerate(self.m.rules):
            here: Path = ("rules", i)
            if isinstance(r.when, StageChanged):
                self._check_stage_ref((*here, "when", "to"), r.when.to)
            elif isinstance(r.when, StatusChanged):
                self._check_status_ref((*here, "when", "to"), r.when.to)
            c = r.if_
            if c is not None:
                for key in ("stage_in", "stage_not_in"):
                    for j, stage in enumerate(getattr(c, key) or ()):
                        self._check_stage_ref((*here, "if", key, j), stage)
                self._check_stage_ref((*here, "if", "stage_before"), c.stage_before)
                for key in ("status_in", "status_not_in"):
                    for j, status in enumerate(getattr(c, key) or ()):
                        self._check_status_ref((*here, "if", key, j), status)
            e = r.then
            self._check_stage_ref((*here, "then", "set_stage"), e.set_stage)
            self._check_stage_ref((*here, "then", "default_stage"), e.default_stage)
            self._check_status_ref((*here, "then", "set_status"), e.set_status)
            self._check_status_ref((*here, "then", "default_status"), e.default_status)
            if not (e.set_stage or e.set_status or e.default_stage or e.default_status):
                self.err((*here, "then"), "a rule must set or default a stage or a status")
            if e.set_stage and e.default_stage:
                self.err((*here, "then"), "use either set_stage or default_stage, not both")
            if e.set_status and e.default_status:
                self.err((*here, "then"), "use either set_status or default_status, not both")

    def _check_inclusion(self) -> None:
        inc = self.m.inclusion
        self._check_stage_ref(
            ("inclusion", "hubspot_to_salesforce", "min_stage"), inc.hubspot_to_salesforce.min_stage
        )
        self._check_stage_ref(
            ("inclusion", "salesforce_to_hubspot", "min_stage"), inc.salesforce_to_hubspot.min_stage
        )

    # --- flip-flop detection ----------------------------------------------------------------------

    def _check_flip_flops(self) -> None:
        """Refuse rule sets whose chains cycle through two different values of one field.

        Nodes are assignments (``stage=sql``); a rule triggered by ``stage_changed to sql`` links that
        node to each assignment it makes. A strongly connected component holding ``stage=sql`` and
        ``stage=mql`` is a loop the engine would run round for ever: stage sql → … → mql → … → sql.
        A cycle that only revisits the same values (Qualified ⇒ SQL ⇒ Qualified) converges and is fine.
        """
        rules = [r for r in self._all_rules() if self._resolves(r)]
        edges: dict[tuple[str, str], list[tuple[tuple[str, str], str]]] = defaultdict(list)
        for rule in rules:
            if rule.event not in {"stage_changed", "status_changed"} or rule.to is None:
                continue
            source = ("stage" if rule.event == "stage_changed" else "status", rule.to)
            for target in _assignments(rule):
                edges[source].append((target, rule.id))
        for component in _strongly_connected(edges):
            by_field: dict[str, set[str]] = defaultdict(set)
            for field, value in component:
                by_field[field].add(value)
            clashing = {f: v for f, v in by_field.items() if len(v) > 1}
            if not clashing:
                continue
            involved = sorted(
                {rid for node in component for target, rid in edges.get(node, []) if target in component}
            )
            field, values = sorted(clashing.items())[0]
            first = next((i for i, r in enumerate(self.m.rules) if r.id in involved), None)
            path: Path = ("rules", first) if first is not None else ("status", "values")
            self.err(
                path,
                f"rules {', '.join(involved)} form a loop that flip-flops {field} between "
                f"{', '.join(sorted(values))}",
            )

    def _resolves(self, rule: Rule) -> bool:
        stages = (rule.set_stage, rule.default_stage) + ((rule.to,) if rule.event == "stage_changed" else ())
        statuses = (rule.set_status, rule.default_status) + (
            (rule.to,) if rule.event == "status_changed" else ()
        )
        return all(s is None or s in self.stage_ids for s in stages) and all(
            s is None or s in self.status_ids for s in statuses
        )

    def _all_rules(self) -> list[Rule]:
        implicit = [
            Rule(
                id=f"implied_by_status_{s.id}",
                description=f"Status {s.label} implies this stage (status.values[].implies_stage).",
                event="status_changed",
                to=s.id,
                side="any",
                condition=None,
                set_stage=s.implies_stage,
                set_status=None,
                default_stage=None,
                default_status=None,
                implicit=True,
            )
            for s in self.m.status.values
            if s.implies_stage is not None
        ]
        explicit: list[Rule] = []
        for r in self.m.rules:
            when = r.when
            to = when.to if isinstance(when, StageChanged | StatusChanged) else None
            side = when.side if isinstance(when, RecordCreated) else "any"
            assert isinstance(when, RecordCreated | StageChanged | StatusChanged | FactEvent)
            explicit.append(
                Rule(
                    id=r.id,
                    description=r.description,
                    event=when.event,
                    to=to,
                    side=side,
                    condition=self._condition(r.if_),
                    set_stage=r.then.set_stage,
                    set_status=r.then.set_status,
                    default_stage=r.then.default_stage,
                    default_status=r.then.default_status,
                )
            )
        return implicit + explicit

    def _condition(self, c: object) -> Condition | None:
        from worker.mapping.model import Condition as ConditionModel

        if c is None:
            return None
        assert isinstance(c, ConditionModel)
        ranks = {s.id: s.rank for s in self.m.stage.values}
        return Condition(
            stage_in=frozenset(c.stage_in) if c.stage_in is not None else None,
            stage_not_in=frozenset(c.stage_not_in) if c.stage_not_in is not None else None,
            stage_before_rank=ranks.get(c.stage_before) if c.stage_before is not None else None,
            status_in=frozenset(c.status_in) if c.status_in is not None else None,
            status_not_in=frozenset(c.status_not_in) if c.status_not_in is not None else None,
            no_open_opportunities=c.no_open_opportunities,
            salesforce_object=c.salesforce_object,
        )

    # --- build ------------------------------------------------------------------------------------

    def compiled(self) -> CompiledMap:
        m = self.m
        stages = {
            s.id: Stage(s.id, s.label, s.rank, s.kind, s.customer, s.hubspot, s.salesforce)
            for s in m.stage.values
        }
        statuses = {
            s.id: Status(
                s.id,
                s.label,
                s.salesforce,
                s.hubspot,
                s.implies_stage,
                tuple((r.field, r.default) for r in s.requires),
            )
            for s in m.status.values
        }
        stage_field = _picklist_field(STAGE, m.stage)
        status_field = _picklist_field(STATUS, m.status)
        others = tuple(
            Field(
                id=f.id,
                salesforce=f.salesforce,
                salesforce_objects=frozenset(f.salesforce_objects),
                hubspot=f.hubspot,
                sync=f.sync,
                conflict=f.conflict
                or (_OWNER_POLICY[f.owner] if f.owner is not None else ConflictPolicy.NEWEST_WINS),
                owner_side=_OWNER_SIDE[f.owner] if f.owner is not None else None,  # type: ignore[arg-type]
            )
            for f in m.fields
        )
        fields = (stage_field, status_field, *others)
        synced = tuple(f for f in fields if f.sync is not SyncRule.NONE)
        backward: set[tuple[str, str]] = set()
        from_any: set[str] = set()
        for t in m.transitions:
            if t.from_ == "*":
                from_any.update(t.to)
            else:
                backward.update((a, b) for a in t.from_ for b in t.to)
        rules = tuple(self._all_rules())
        by_event: dict[str, list[Rule]] = defaultdict(list)
        for rule in rules:
            by_event[rule.event].append(rule)
        inc = m.inclusion
        return CompiledMap(
            name=m.name,
            description=m.description,
            source=self.located.filename,
            stages=MappingProxyType(stages),
            statuses=MappingProxyType(statuses),
            fields=fields,
            fields_by_id=MappingProxyType({f.id: f for f in fields}),
            synced_fields=synced,
            hubspot_targets=tuple((f, f.hubspot, f.canon_to_hs) for f in synced if f.hubspot is not None),
            merge_walk=tuple(
                (
                    f,
                    f.id,
                    f.salesforce,
                    f.salesforce_objects,
                    f.hubspot,
                    f.sf_to_canon,
                    f.hs_to_canon,
                    f.sync is SyncRule.TWO_WAY,
                )
                for f in synced
            ),
            salesforce_targets=MappingProxyType(
                {
                    sobject: tuple(
                        (f, f.salesforce, f.canon_to_sf)
                        for f in synced
                        if f.salesforce is not None and sobject in f.salesforce_objects
                    )
                    for sobject in ("Lead", "Contact")
                }
            ),
            hubspot_stage_order=MappingProxyType({v: i for i, v in enumerate(m.stage.hubspot_order)}),
            backward_allowed=frozenset(backward),
            backward_allowed_from_any=frozenset(from_any),
            rules=rules,
            rules_by_event=MappingProxyType({k: tuple(v) for k, v in by_event.items()}),
            hs_to_sf_create=inc.hubspot_to_salesforce.create,
            hs_to_sf_min_rank=stages[inc.hubspot_to_salesforce.min_stage].rank
            if inc.hubspot_to_salesforce.min_stage
            else None,
            sf_to_hs_create=inc.salesforce_to_hubspot.create,
            sf_to_hs_min_rank=stages[inc.salesforce_to_hubspot.min_stage].rank
            if inc.salesforce_to_hubspot.min_stage
            else None,
            link_sf_hubspot_id=m.links.salesforce_hubspot_id_field,
            link_hs_lead_id=m.links.hubspot_salesforce_lead_property,
            link_hs_contact_id=m.links.hubspot_salesforce_contact_property,
            lost_opportunity_demotes_customer=m.policies.lost_opportunity_demotes_customer,
            first_sight_furthest_along=m.policies.first_sight.stage is FirstSightStage.FURTHEST_ALONG,
            first_sight_facts_as_state=m.policies.first_sight.facts is FirstSightFacts.AS_STATE,
        )


def _picklist_field(fid: str, cfg: StageConfig | StatusConfig) -> Field:
    """Stage and status are fields with a picklist translation, configured the same way."""
    return Field(
        id=fid,
        salesforce=cfg.salesforce_field,
        salesforce_objects=frozenset(cfg.salesforce_objects),
        hubspot=cfg.hubspot_property,
        sync=cfg.sync,
        conflict=cfg.conflict or _OWNER_POLICY[cfg.owner],
        owner_side=_OWNER_SIDE[cfg.owner],  # type: ignore[arg-type]
        **_picklist([(v.id, v.salesforce, v.hubspot, v.hubspot_primary) for v in cfg.values]),
    )


def _picklist(entries: list[tuple[str, str | None, str | None, bool]]) -> dict[str, MappingProxyType]:  # type: ignore[type-arg]
    sf_to: dict[str, str] = {}
    hs_to: dict[str, str] = {}
    to_sf: dict[str, str | None] = {}
    to_hs: dict[str, str | None] = {}
    shared: dict[str, int] = defaultdict(int)
    for _, _, hs, _ in entries:
        if hs is not None:
            shared[hs] += 1
    for cid, sf, hs, primary in entries:
        to_sf[cid] = sf
        to_hs[cid] = hs
        if sf is not None:
            sf_to[sf] = cid
        if hs is not None and (shared[hs] == 1 or primary):
            hs_to[hs] = cid
    candidates: dict[str, list[str]] = defaultdict(list)
    for cid, _, hs, _ in entries:
        if hs is not None and shared[hs] > 1:
            candidates[hs].append(cid)
    for hs, ids in candidates.items():
        ids.sort(key=lambda cid: cid != hs_to[hs])  # the primary first, then file order
    return {
        "hs_shared": MappingProxyType({hs: tuple(ids) for hs, ids in candidates.items()}),
        "sf_to_canon": MappingProxyType(sf_to),
        "hs_to_canon": MappingProxyType(hs_to),
        "canon_to_sf": MappingProxyType(to_sf),
        "canon_to_hs": MappingProxyType(to_hs),
    }


def _assignments(rule: Rule) -> Iterator[tuple[str, str]]:
    for field, value in (
        ("stage", rule.set_stage),
        ("stage", rule.default_stage),
        ("status", rule.set_status),
        ("status", rule.default_status),
    ):
        if value is not None:
            yield (field, value)


def _strongly_connected(
    edges: dict[tuple[str, str], list[tuple[tuple[str, str], str]]],
) -> list[set[tuple[str, str]]]:
    """Tarjan's algorithm, iterative; returns only components with a cycle."""
    index: dict[tuple[str, str], int] = {}
    low: dict[tuple[str, str], int] = {}
    on_stack: set[tuple[str, str]] = set()
    stack: list[tuple[str, str]] = []
    out: list[set[tuple[str, str]]] = []
    counter = 0
    nodes = set(edges) | {t for targets in edges.values() for t, _ in targets}
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[tuple[str, str], int]] = [(root, 0)]
        while work:
            node, child_i = work.pop()
            if child_i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = edges.get(node, [])
            if child_i < len(children):
                work.append((node, child_i + 1))
                child = children[child_i][0]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component: set[tuple[str, str]] = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.add(top)
                    if top == node:
                        break
                self_loop = any(t == node for t, _ in edges.get(node, []))
                if len(component) > 1 or self_loop:
                    out.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out
