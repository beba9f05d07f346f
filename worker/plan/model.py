"""What the planner returns: writes per side with their causes, skipped items with reasons, the new base.

Immutable named tuples rather than frozen dataclasses: the planner builds several per person and
must plan tens of thousands of people a second (``bench/plan.py``).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from worker.records import Base, Value

Side = Literal["salesforce", "hubspot"]


class Cause(NamedTuple):
    """Why a value is written: the map entry responsible.

    kind: ``field`` (a changed field syncs across), ``rule`` (an automation rule), ``requirement`` (a
    status needs a field, or Salesforce needs a field on create), ``repair`` (a side was blank or
    behind), ``link`` (the other side's id), ``lifecycle`` (the clear step of a backward HubSpot move),
    ``first_sight`` (a value met with no base to tell an edit from an old value or a CRM default,
    chosen by the map's ``policies.first_sight``).
    """

    kind: str
    ref: str
    detail: str


class FieldChange(NamedTuple):
    field: str  # the CRM's own name (Salesforce API name / HubSpot internal name)
    value: Value
    cause: Cause


class Write(NamedTuple):
    side: Side
    op: Literal["create", "update"]
    object_type: str  # "Lead" / "Contact" / "contacts"
    record_id: str | None  # None for a create
    step: int  # writes to one record run in step order; clear-then-set is step 1 then 2
    changes: tuple[FieldChange, ...]
    # For a create: the field on the *other* side's record that must receive the new id once it is
    # known (the executor writes it; the plan cannot know the id in advance).
    link_back: str | None = None

    def values(self) -> dict[str, Value]:
        return {c.field: c.value for c in self.changes}


class Skip(NamedTuple):
    """Something the plan deliberately did not do, and why (reported, never silently dropped).

    kind: ``unknown_value``, ``backward_move``, ``blocked``, ``contradiction``, ``not_included``,
    ``no_value_on_side``, ``upsell_policy``, ``deleted``, ``read_only``, ``rule_limit``, ``stale_base``.
    """

    kind: str
    ref: str
    side: Side | None
    detail: str


class Conflict(NamedTuple):
    """The two sides disagreed on a field and one value was taken: ``winner`` is the side whose value
    applied. ``policy`` is the field's conflict policy for a field changed on both sides since the last
    sync, or ``first_sight.<how>`` when a side was met for the first time (nobody edited anything):
    ``furthest_along``, ``known_record`` (a newly linked record's value did not override the known
    one), ``conflict_policy`` or the field's own policy."""

    field: str  # map field id
    salesforce: Value
    hubspot: Value
    winner: Side
    policy: str


class Plan(NamedTuple):
    salesforce: tuple[Write, ...]
    hubspot: tuple[Write, ...]
    skipped: tuple[Skip, ...]
    conflicts: tuple[Conflict, ...]
    events: tuple[str, ...]
    rules_applied: tuple[str, ...]
    new_base: Base
    values: dict[str, Value]  # canonical values after the plan
    stage_path: tuple[str, ...] = ()  # every stage the person passed through, base first

    @property
    def has_writes(self) -> bool:
        return bool(self.salesforce or self.hubspot)

    @property
    def writes(self) -> tuple[Write, ...]:
        return self.salesforce + self.hubspot
