"""The runtime form of a definition map: immutable, indexed for the planner's hot path.

The planner never looks at pydantic models; it reads these plain slotted objects and dicts, built once
per map by ``worker.mapping.compile``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from worker.mapping.model import ConflictPolicy, StageKind, SyncRule

Side = Literal["salesforce", "hubspot"]
SalesforceObject = Literal["Lead", "Contact"]
STAGE = "stage"
STATUS = "status"


@dataclass(frozen=True, slots=True)
class Stage:
    id: str
    label: str
    rank: int
    kind: StageKind
    customer: bool
    hubspot: str | None
    salesforce: str | None


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    label: str
    salesforce: str | None
    hubspot: str | None
    implies_stage: str | None
    requires: tuple[tuple[str, str | None], ...]  # (field id, default)


@dataclass(frozen=True, slots=True)
class Field:
    """A synced field. Stage and status are fields too, with a picklist translation."""

    id: str
    salesforce: str | None
    salesforce_objects: frozenset[str]
    hubspot: str | None
    sync: SyncRule
    conflict: ConflictPolicy
    owner_side: Side | None
    # Picklist translation (None for free-text fields): side value -> canonical id and back.
    sf_to_canon: MappingProxyType[str, str] | None = None
    hs_to_canon: MappingProxyType[str, str] | None = None
    canon_to_sf: MappingProxyType[str, str | None] | None = None
    canon_to_hs: MappingProxyType[str, str | None] | None = None
    # HubSpot values several canonical ids share: every candidate, the primary first.
    hs_shared: MappingProxyType[str, tuple[str, ...]] | None = None

    @property
    def is_picklist(self) -> bool:
        return self.sf_to_canon is not None

    def salesforce_name(self, sobject: str) -> str | None:
        """The field's API name on this Salesforce object, or None when the object lacks it."""
        return self.salesforce if sobject in self.salesforce_objects else None


@dataclass(frozen=True, slots=True)
class Condition:
    stage_in: frozenset[str] | None
    stage_not_in: frozenset[str] | None
    stage_before_rank: int | None
    status_in: frozenset[str] | None
    status_not_in: frozenset[str] | None
    no_open_opportunities: bool | None
    salesforce_object: str | None


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    event: str
    to: str | None  # for stage_changed / status_changed
    side: str  # for record_created
    condition: Condition | None
    set_stage: str | None
    set_status: str | None
    default_stage: str | None
    default_status: str | None
    implicit: bool = False  # generated from a status's implies_stage


@dataclass(frozen=True, slots=True)
class CompiledMap:
    name: str
    description: str
    source: str
    stages: MappingProxyType[str, Stage]
    statuses: MappingProxyType[str, Status]
    fields: tuple[Field, ...]  # stage, status, then the other fields in file order
    fields_by_id: MappingProxyType[str, Field]
    synced_fields: tuple[Field, ...]  # fields whose sync rule is not `none`
    # Per side, what the planner's write pass walks: (field, CRM name, canonical -> side table or None).
    hubspot_targets: tuple[tuple[Field, str, MappingProxyType[str, str | None] | None], ...]
    # What the planner's merge walks, unpacked once: (field, id, Salesforce name, its objects, HubSpot
    # name, Salesforce -> canonical table, HubSpot -> canonical table, two-way?).
    merge_walk: tuple[
        tuple[
            Field,
            str,
            str | None,
            frozenset[str],
            str | None,
            MappingProxyType[str, str] | None,
            MappingProxyType[str, str] | None,
            bool,
        ],
        ...,
    ]
    salesforce_targets: MappingProxyType[
        str, tuple[tuple[Field, str, MappingProxyType[str, str | None] | None], ...]
    ]
    hubspot_stage_order: MappingProxyType[str, int]
    backward_allowed: frozenset[tuple[str, str]]
    backward_allowed_from_any: frozenset[str]
    rules: tuple[Rule, ...]
    rules_by_event: MappingProxyType[str, tuple[Rule, ...]]
    hs_to_sf_create: bool
    hs_to_sf_min_rank: int | None
    sf_to_hs_create: bool
    sf_to_hs_min_rank: int | None
    link_sf_hubspot_id: str
    link_hs_lead_id: str
    link_hs_contact_id: str
    lost_opportunity_demotes_customer: bool
    # policies.first_sight: the stage is the furthest along (no move back on first sight), or the
    # conflict policy's pick within the transitions; facts on first sight run their rules, or not.
    first_sight_furthest_along: bool = True
    first_sight_facts_as_state: bool = True

    @property
    def stage_field(self) -> Field:
        return self.fields_by_id[STAGE]

    @property
    def status_field(self) -> Field:
        return self.fields_by_id[STATUS]

    def backward_move_allowed(self, current: str, new: str) -> bool:
        return new in self.backward_allowed_from_any or (current, new) in self.backward_allowed

    def is_backward(self, current: str | None, new: str) -> bool:
        if current is None or current == new:
            return False
        return self.stages[new].rank <= self.stages[current].rank
