"""``plan()``: decide, for one person, what to write to each CRM and why. Pure and deterministic.

The order of work, each step reading only what the steps before it decided:

1. **Merge** every mapped field three ways (Salesforce, HubSpot, base) under its sync rule; a field
   changed on both sides is a conflict settled by the field's policy. Values a map does not know are
   reported and left alone. A human's backward stage move the map does not allow is held (reported, not
   propagated, not reverted). A side met for the first time (no base, or a record newly linked to a
   known person) has made no edit: its stage and status are evidence the map's
   ``policies.first_sight`` weighs (by default: furthest along, never pulling a known side back).
2. **Automation**: events (first sight, stage/status changed, and fact events read against the
   base's facts, so each fires once) run the map's rules in a fixed order, chaining through
   stage/status changes. Effects respect the transitions, the upsell policy, and edits people made
   this round (a rule reacting to one human edit never overrides another human edit).
3. **Requirements**: a status that needs a field gets the map's default or is blocked.
4. **Writes**: each side gets what differs from the target, in that side's vocabulary; HubSpot's
   forward-only ``lifecyclestage`` is moved back by clear-then-set; a converted lead's writes go to
   its Contact; a missing side is created if the map's inclusion allows.
5. **New base**: the target values and what each side will hold, so re-planning is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from worker.errors import InputError
from worker.lifecycle import condition_holds, fact_events, state_events
from worker.mapping.compiled import STAGE, STATUS, CompiledMap, Field, Rule
from worker.mapping.model import ConflictPolicy, StageKind, SyncRule
from worker.plan.model import Cause, Conflict, FieldChange, Plan, Side, Skip, Write
from worker.records import (
    EMPTY_DIGEST,
    EMPTY_FACTS,
    Base,
    Facts,
    FactsDigest,
    HubSpotRecord,
    SalesforceRecord,
    Value,
)

SF: Side = "salesforce"
HS: Side = "hubspot"
_SIDE_LABEL = {SF: "Salesforce", HS: "HubSpot"}
_MAX_RULE_STEPS = 64
# Salesforce refuses a Lead without these; HubSpot's own connector fills them the same way.
SALESFORCE_LEAD_REQUIRED = {"LastName": "[not provided]", "Company": "[not provided]"}
# "When creating a new contact, you should include at least one of the following properties: email,
# firstname, or lastname" (developers.hubspot.com/docs/api/CRM/Contacts). The email is not required:
# creates are upserts on the worker's own create key, so a contact without one is never duplicated.
HUBSPOT_CONTACT_NAMED_BY = frozenset({"email", "firstname", "lastname"})
_PLACEHOLDERS = frozenset(SALESFORCE_LEAD_REQUIRED.values())  # read as blank: never synced onwards
_HUMAN_EVENTS = ("stage_changed", "status_changed")
_NO_BASE = Base(values={}, salesforce_values={}, hubspot_values={})
# First sight weighs stage and status; other fields merge as usual (both sides' values, by policy).
_FIRST_SIGHT_FIELDS = (STAGE, STATUS)
_EVENT_FIELD = {"stage_changed": STAGE, "status_changed": STATUS}
# Events that stand for facts read as state on first sight (lifecycle.state_events, plus the account's).
_STATE_EVENTS = frozenset(
    (
        "opportunity_created",
        "opportunity_won",
        "lead_converted",
        "account_churned",
        "new_lead_at_customer_account",
    )
)


def plan(
    salesforce: SalesforceRecord | None,
    hubspot: HubSpotRecord | None,
    base: Base | None,
    facts: Facts | None,
    cmap: CompiledMap,
) -> Plan:
    """Plan the writes that bring both records into agreement. See the module docstring.

    ``base`` is what the last sync of this person left (``Plan.new_base``), or ``None`` when the
    worker has never synced them. Without it nothing is an edit: both records are met for the first
    time and the map's ``policies.first_sight`` decides (by default the person is at the higher-ranked
    stage of the two sides, lifted by each status's implied stage and by facts that are state).

    One side alone is met for the first time when the base does not know it — it names no id and holds
    no values for that side (the person was synced while that side had no record), or names another
    record's id (a merge, a re-link). Pass the stored base unchanged when a record is newly created
    or linked to a known person: the new record's stage and status are evidence that may lift the
    person, never CRM defaults that pull the known side back (see ``newly_seen``).

    ``facts`` ``None`` means they were not loaded (no fact events; the base's memory of them is kept).
    ``facts.new_record`` left ``None`` is derived: a person met for the first time is new (so
    ``new_lead_at_customer_account`` fires); a backfill of people who predate the worker may pass
    ``False``.
    """
    if salesforce is None and hubspot is None:
        raise InputError("plan: at least one of the Salesforce and HubSpot records is required")
    return _Planner(salesforce, hubspot, base, facts, cmap).run()


def newly_seen(
    salesforce: SalesforceRecord | None, hubspot: HubSpotRecord | None, base: Base | None
) -> tuple[bool, bool]:
    """(Salesforce, HubSpot): whether each present record is met for the first time.

    Without a base both are. With one, a side is new when the base names no id and holds no values
    for it while it knows the other side, or when it names a different record (the Salesforce side
    excepted when the difference is a conversion: the lead and its converted Contact are one person).
    A base that knows neither side (a hand-written one: canonical values only) is read as knowing both.
    """
    if base is None:
        return salesforce is not None, hubspot is not None
    sf_id, hs_id = base.salesforce_id, base.hubspot_id
    if (salesforce is None or salesforce.id == sf_id) and (hubspot is None or hubspot.id == hs_id):
        return False, False  # the records the base names (the usual case, kept cheap)
    if sf_id is None and hs_id is None and base.salesforce_values and base.hubspot_values:
        return False, False  # both sides known by their values, no id to differ
    knows_sf = base.salesforce_id is not None or bool(base.salesforce_values)
    knows_hs = base.hubspot_id is not None or bool(base.hubspot_values)
    sf_new = salesforce is not None and (
        (knows_hs and not knows_sf)
        or (
            base.salesforce_id is not None
            and base.salesforce_id not in (salesforce.id, salesforce.converted_contact_id)
            and not (salesforce.object_type == "Contact" and base.salesforce_object == "Lead")
        )
    )
    hs_new = hubspot is not None and (
        (knows_sf and not knows_hs) or (base.hubspot_id is not None and hubspot.id != base.hubspot_id)
    )
    return sf_new, hs_new


class _Planner:
    __slots__ = (
        "applied",
        "base",
        "causes",
        "cmap",
        "conflicts",
        "events",
        "facts",
        "facts_known",
        "forward_only",
        "has_base",
        "held",
        "hs",
        "hs_current",
        "hs_final",
        "hs_first",
        "human",
        "origin",
        "path",
        "sf",
        "sf_current",
        "sf_final",
        "sf_first",
        "sf_frozen",
        "sf_stale",
        "skipped",
        "suppressed",
        "target",
        "unknown",
    )

    def __init__(
        self,
        sf: SalesforceRecord | None,
        hs: HubSpotRecord | None,
        base: Base | None,
        facts: Facts | None,
        cmap: CompiledMap,
    ) -> None:
        self.sf = sf
        self.hs = hs
        self.has_base = base is not None
        stale: list[Skip] = []
        if base is not None:
            values = base.values
            if "" in values.values():  # blank is blank, whichever way it is spelt
                values = {k: v or None for k, v in values.items()}
            for fid, known in ((STAGE, cmap.stages), (STATUS, cmap.statuses)):
                value = values.get(fid)
                if value is not None and value not in known:  # a base from before the map changed
                    values = {**values, fid: None}
                    stale.append(
                        Skip(
                            "stale_base",
                            fid,
                            None,
                            f"the last synced {fid} {value!r} is not in the map any more; treated as unknown",
                        )
                    )
            if values is not base.values:
                base = replace(base, values=values)
        self.sf_first, self.hs_first = newly_seen(sf, hs, base)
        if base is not None and self.hs_first and base.hubspot_values:
            base = replace(base, hubspot_values={})  # another record's values: compare with the person's
        if base is not None and self.sf_first and base.salesforce_values:
            base = replace(base, salesforce_values={})
        # policies.first_sight.stage furthest_along: no rule moves a person met for the first time back.
        self.forward_only = base is None and cmap.first_sight_furthest_along
        self.base = base if base is not None else _NO_BASE
        # No facts means they were not loaded: no fact events, and the base's memory of them is kept.
        self.facts_known = facts is not None
        if facts is None or (facts is not EMPTY_FACTS and facts == EMPTY_FACTS):
            facts = EMPTY_FACTS  # one shared empty value keeps the no-facts paths cheap
        self.facts = facts
        self.cmap = cmap
        self.target: dict[str, Value] = {}
        self.causes: dict[str, Cause] = {}
        self.human: dict[str, Side] = {}  # field id -> the side whose edit set the target this round
        self.origin: dict[str, Side] = {}  # field id -> the newly seen side whose value set the target
        # Sides not to write, by reason: the field's sync rule (lifted when a rule changes the value),
        # a person's refused edit (likewise), a value the map does not know (never overwritten).
        self.suppressed: set[tuple[Side, str]] = set()
        self.held: set[tuple[Side, str]] = set()
        self.unknown: set[tuple[Side, str]] = set()
        self.skipped: list[Skip] = stale
        self.path: list[str] = []
        self.conflicts: list[Conflict] = []
        self.events: list[str] = []
        self.applied: list[str] = []
        # A converted lead is read-only: writes go to its Contact, which got the lead's values at
        # conversion (so they are what writes are compared with); the new base points at the Contact,
        # which the loader reads from then on. In the round that first sees the conversion the lead's
        # values are still news (a rep may have qualified and converted between two syncs); after
        # that they are frozen and say nothing new.
        self.sf_frozen = (
            sf is not None
            and sf.object_type == "Lead"
            and sf.is_converted
            and sf.converted_contact_id is not None
        )
        self.sf_stale = (
            self.sf_frozen
            and base is not None
            and (base.facts.converted or base.salesforce_object == "Contact")
        )
        self.sf_current: dict[str, Value] = {}
        self.hs_current: dict[str, Value] = {}
        self.sf_final: dict[str, Value] = {}  # what each side holds after the writes
        self.hs_final: dict[str, Value] = {}

    # --- 1. merge -------------------------------------------------------------------------------

    def run(self) -> Plan:
        self._merge_all()
        self._check_merged_status()
        for stage in (self.base.values.get(STAGE), self.target.get(STAGE)):
            if stage is not None and (not self.path or self.path[-1] != stage):
                self.path.append(stage)
        self._automation()
        sf_writes = self._salesforce_writes()
        hs_writes = self._hubspot_writes()
        return Plan(
            salesforce=sf_writes,
            hubspot=hs_writes,
            skipped=tuple(self.skipped),
            conflicts=tuple(self.conflicts),
            events=tuple(self.events),
            rules_applied=tuple(self.applied),
            new_base=self._new_base(sf_writes, hs_writes),
            values=self.target,
            stage_path=tuple(self.path),
        )

    def _side_base(self, side: Side, f: Field) -> Value:
        values = self.base.salesforce_values if side == SF else self.base.hubspot_values
        if f.id in values:
            return values[f.id]
        return self._image(side, f, self.base.values.get(f.id))

    def _image(self, side: Side, f: Field, canonical: Value) -> Value:
        if canonical is None or f.canon_to_sf is None:
            return canonical
        table = f.canon_to_sf if side == SF else f.canon_to_hs
        assert table is not None
        return table.get(canonical)

    def _merge_all(self) -> None:
        """Step 1 for every synced field. One loop with locals: this is the planner's hot path."""
        sf, hs = self.sf, self.hs
        sf_values = sf.values if sf is not None else None
        sf_object = sf.object_type if sf is not None else None
        hs_props = hs.properties if hs is not None else None
        has_base = self.has_base
        sf_fresh = not self.sf_stale
        base = self.base
        base_values, base_sf, base_hs = base.values, base.salesforce_values, base.hubspot_values
        sf_current, hs_current = self.sf_current, self.hs_current
        first = self.sf_first or self.hs_first
        for f, fid, sf_name, sf_objects, name, sf_table, hs_table, two_way in self.cmap.merge_walk:
            sf_raw = sf_val = None
            sf_changed = False
            if sf_values is not None and sf_object in sf_objects:
                raw = sf_values.get(sf_name)  # type: ignore[arg-type]
                sf_current[fid] = raw
                if raw and raw not in _PLACEHOLDERS:  # blank never wins: it is filled, not propagated
                    sf_val = raw if sf_table is None else sf_table.get(raw)
                    if sf_val is None:
                        self._unknown(SF, f, raw)
                    else:
                        sf_raw = raw
                        if not has_base:
                            sf_changed = True
                        elif sf_fresh:  # a converted lead is frozen: it carries no new edits
                            held = (
                                base_sf[fid] if fid in base_sf else self._image(SF, f, base_values.get(fid))
                            )
                            sf_changed = raw != held
            hs_raw = hs_val = None
            hs_changed = False
            if hs_props is not None and name is not None:
                raw = hs_props.get(name)
                hs_current[fid] = raw
                if raw:
                    hs_val = raw if hs_table is None else hs_table.get(raw)
                    if hs_val is not None and f.hs_shared:
                        hs_val = self._agreeing(f, raw, hs_val, sf_val)
                    if hs_val is None:
                        self._unknown(HS, f, raw)
                    else:
                        hs_raw = raw
                        if not has_base:
                            hs_changed = True
                        else:
                            held = (
                                base_hs[fid] if fid in base_hs else self._image(HS, f, base_values.get(fid))
                            )
                            hs_changed = raw != held
            if first and two_way and fid in _FIRST_SIGHT_FIELDS:
                self._first_sight_merge(f, sf_raw, sf_val, sf_changed, hs_raw, hs_val, hs_changed)
            elif sf_changed or hs_changed or not has_base or not two_way:
                self._merge(f, sf_raw, sf_val, sf_changed, hs_raw, hs_val, hs_changed)
            else:
                self.target[fid] = base_values.get(fid)

    def _agreeing(self, f: Field, raw: str, primary: str, sf_val: Value) -> str:
        """Read a HubSpot value shared by several stages as the one the other facts point to.

        HubSpot often has fewer stages than the map (TSM and SQL are both ``salesqualifiedlead``): the
        value then reads as Salesforce's stage when that stage maps to it, else as the base's, else as
        the first candidate (the map's ``hubspot_primary`` first) the transitions allow from the base.
        Agreement is never mistaken for a change, and a legitimate recycle is never read as a refused
        move to the primary.
        """
        shared = f.hs_shared.get(raw) if f.hs_shared else None
        if not shared:
            return primary
        if sf_val is not None and sf_val in shared:
            return sf_val
        base_val = self.base.values.get(f.id)
        if base_val is None or base_val in shared:
            return base_val if base_val is not None else primary
        if f.id == STAGE:  # a move from the base: the first candidate the transitions allow
            for candidate in shared:
                if not self._refused(base_val, candidate):
                    return candidate
        return primary

    def _unknown(self, side: Side, f: Field, raw: str) -> None:
        if not self.has_base or raw != self._side_base(side, f):
            name = f.salesforce if side == SF else f.hubspot
            self.skipped.append(
                Skip(
                    "unknown_value",
                    f.id,
                    side,
                    f"{_SIDE_LABEL[side]} {name} value {raw!r} is not in the definition map; "
                    "left as is and not synced (add it to the map, or fix the record)",
                )
            )
        self.unknown.add((side, f.id))

    def _merge(
        self,
        f: Field,
        sf_raw: Value,
        sf_val: Value,
        sf_changed: bool,
        hs_raw: Value,
        hs_val: Value,
        hs_changed: bool,
    ) -> None:
        base_val = self.base.values.get(f.id)
        target = base_val
        winner: Side | None = None
        sync = f.sync
        if sync is SyncRule.TWO_WAY:
            if sf_changed and hs_changed:
                if sf_val == hs_val:  # the same edit on both sides: no conflict
                    target, winner = sf_val, f.owner_side or SF
                else:
                    winner = self._resolve_conflict(f, sf_raw, hs_raw)
                    target = sf_val if winner == SF else hs_val
            elif sf_changed:
                target, winner = sf_val, SF
            elif hs_changed:
                target, winner = hs_val, HS
        elif sync is SyncRule.ALWAYS_SALESFORCE or sync is SyncRule.PREFER_SALESFORCE_UNLESS_BLANK:
            if sf_val is not None:
                target, winner = sf_val, SF if sf_changed else None
            elif sync is SyncRule.PREFER_SALESFORCE_UNLESS_BLANK and hs_val is not None:
                target, winner = hs_val, HS if hs_changed else None
            if sync is SyncRule.ALWAYS_SALESFORCE:
                self.suppressed.add((SF, f.id))
            elif sf_val is not None:
                self.suppressed.add((SF, f.id))  # Salesforce has a value: it is the source
        elif sync is SyncRule.ALWAYS_HUBSPOT:
            if hs_val is not None:
                target, winner = hs_val, HS if hs_changed else None
            self.suppressed.add((HS, f.id))
        if target is None and base_val is None and not self.has_base:
            target = sf_val if sf_val is not None else hs_val
        if f.id == STAGE and base_val is not None and target is not None and winner is not None:
            if self._refused(base_val, target):
                loser: Side = HS if winner == SF else SF
                other = (hs_val if loser == HS else sf_val) if sf_changed and hs_changed else None
                if other is None or other == target or self._refused(base_val, other):
                    self._hold(f, winner, base_val, target)
                    if sf_changed and hs_changed:
                        self.held.add((loser, f.id))
                    return
                # The other side's edit is legitimate: it stands, and the refused one loses like any
                # conflict loser (its side is brought in line).
                self.skipped.append(
                    Skip(
                        "backward_move",
                        f.id,
                        winner,
                        f"{_SIDE_LABEL[winner]} moved {f.id} from {base_val} back to {target}, which the "
                        f"map's transitions do not allow; {_SIDE_LABEL[loser]}'s change to {other} "
                        "applies instead",
                    )
                )
                target, winner = other, loser
        self.target[f.id] = target
        if winner is not None and target != base_val:
            if self.sf_first if winner == SF else self.hs_first:  # a value met for the first time
                self.origin[f.id] = winner
                self.causes[f.id] = Cause(
                    "first_sight", f.id, f"{_SIDE_LABEL[winner]}'s value, met for the first time"
                )
            else:
                self.human[f.id] = winner
                self.causes[f.id] = Cause("field", f.id, f"changed on {_SIDE_LABEL[winner]}")

    def _refused(self, current: str, new: str) -> bool:
        return self.cmap.is_backward(current, new) and not self.cmap.backward_move_allowed(current, new)

    def _resolve_conflict(self, f: Field, sf_raw: Value, hs_raw: Value) -> Side:
        winner = self._policy_winner(f)
        first = self.sf_first or self.hs_first  # no edit on a side met for the first time: say so
        policy = f"first_sight.{f.conflict.value}" if first else f.conflict.value
        self.conflicts.append(Conflict(f.id, sf_raw, hs_raw, winner, policy))
        return winner

    def _policy_winner(self, f: Field) -> Side:
        policy = f.conflict
        if policy is ConflictPolicy.SALESFORCE_WINS:
            return SF
        if policy is ConflictPolicy.HUBSPOT_WINS:
            return HS
        sf_ms = self.sf.modified_ms if self.sf is not None else None
        hs_ms = self.hs.modified_ms if self.hs is not None else None
        if sf_ms is not None and hs_ms is not None and sf_ms != hs_ms:
            return SF if sf_ms > hs_ms else HS
        return f.owner_side or SF  # a tie goes to the field's owner

    def _hold(self, f: Field, side: Side, base_val: Value, wanted: Value) -> None:
        """Keep the base value: report the refused edit, write nothing back over it."""
        self.target[f.id] = base_val
        self.held.add((side, f.id))
        self.skipped.append(
            Skip(
                "backward_move",
                f.id,
                side,
                f"{_SIDE_LABEL[side]} moved {f.id} from {base_val} back to {wanted}, which the map's "
                "transitions do not allow; not synced (the record is left as the person set it)",
            )
        )

    # --- 1b. first sight (policies.first_sight) ----------------------------------------------------

    def _first_sight_merge(
        self,
        f: Field,
        sf_raw: Value,
        sf_val: Value,
        sf_changed: bool,
        hs_raw: Value,
        hs_val: Value,
        hs_changed: bool,
    ) -> None:
        """Stage or status when a side is met for the first time: its value is evidence, not an edit.

        A side the base knows merges three ways as usual (its edits are edits); the newly seen sides'
        values then only lift the result (stage: the higher rank; status: one whose implied stage is
        further along), so neither a CRM's default on a new record nor an old value on a record that
        was never synced pulls the person back.
        """
        if self.has_base:
            self._merge(
                f,
                sf_raw,
                sf_val,
                sf_changed and not self.sf_first,
                hs_raw,
                hs_val,
                hs_changed and not self.hs_first,
            )
            settled = self.target[f.id]
        else:
            settled = None
        evidence = [
            (side, value)
            for side, first, value in ((SF, self.sf_first, sf_val), (HS, self.hs_first, hs_val))
            if first and value is not None
        ]
        if f.id == STAGE:
            target, source, policy = self._first_sight_stage(f, settled, evidence, sf_val, hs_val)
        else:
            target, source, policy = self._first_sight_status(f, settled, evidence, sf_val, hs_val)
        self.target[f.id] = target
        if target is None:
            return
        labels = self.cmap.stages if f.id == STAGE else self.cmap.statuses
        label = labels[target].label
        if source is not None:
            self.human.pop(f.id, None)  # a known side's edit, lifted further by the new evidence
            self.origin[f.id] = source
            for side in (SF, HS):  # like a rule's value, the lifted one goes to both sides
                if (side, f.id) in self.held:
                    self.held.discard((side, f.id))
                    self._overtaken(side, f.id, label)
            detail = f"first sight: {_SIDE_LABEL[source]}'s {label} ({policy})"
            self.causes[f.id] = Cause("first_sight", f.id, detail)
        elif f.id not in self.causes:  # the known record's value stands against a newly seen one
            new: Side = SF if self.sf_first else HS
            value = sf_val if new == SF else hs_val
            detail = (
                f"first sight of the {_SIDE_LABEL[new]} record: its {labels[value].label} does not "
                + (f"move {label} back" if f.id == STAGE else f"override {label}")
                if value is not None
                else f"first sight of the {_SIDE_LABEL[new]} record, which has no {f.id}: {label}"
            )
            self.causes[f.id] = Cause("first_sight", f.id, detail)
        if sf_val is not None and hs_val is not None and sf_val != hs_val:
            winner = SF if sf_val == target else HS if hs_val == target else None
            if winner is not None:
                key = policy.split(":", 1)[0]
                self.conflicts.append(Conflict(f.id, sf_raw, hs_raw, winner, f"first_sight.{key}"))

    def _first_sight_stage(
        self, f: Field, settled: Value, evidence: list[tuple[Side, str]], sf_val: Value, hs_val: Value
    ) -> tuple[Value, Side | None, str]:
        stages = self.cmap.stages
        base_val = self.base.values.get(STAGE)
        if base_val is not None:
            if settled is not None and STAGE in self.human and self.cmap.is_backward(base_val, settled):
                evidence = []  # a person's deliberate move back this round stands against a new record
            else:  # a new record may lift the person only by a move the map allows from the base
                evidence = [(side, value) for side, value in evidence if not self._refused(base_val, value)]
        target, source = settled, None
        for side, value in evidence:
            if target is None or stages[value].rank > stages[target].rank:
                target, source = value, side
        policy = "furthest_along: the higher-ranked stage of the two sides"
        both_new = not self.has_base and sf_val is not None and hs_val is not None and sf_val != hs_val
        if both_new and not self.cmap.first_sight_furthest_along:
            assert target is not None
            winner = self._policy_winner(f)
            wanted = sf_val if winner == SF else hs_val
            assert wanted is not None
            policy = f"conflict_policy: the stage's {f.conflict.value}"
            if wanted != target and self.cmap.backward_move_allowed(target, wanted):
                self.path.append(target)  # reported: the move back shows in stage_path and conflicts
                policy += f", a move back from {stages[target].label} the transitions allow"
                target, source = wanted, winner
            elif wanted != target:
                self.skipped.append(
                    Skip(
                        "backward_move",
                        STAGE,
                        winner,
                        f"first sight: {_SIDE_LABEL[winner]}'s {wanted} would move the person back from "
                        f"{target}, which the map's transitions do not allow; {target} applies",
                    )
                )
        return target, source, policy

    def _first_sight_status(
        self, f: Field, settled: Value, evidence: list[tuple[Side, str]], sf_val: Value, hs_val: Value
    ) -> tuple[Value, Side | None, str]:
        """A status whose implied stage is further along than the stage wins; else the known record's
        status stands; else (both sides new and different) the status's conflict policy decides."""
        statuses, stages = self.cmap.statuses, self.cmap.stages
        stage = self.target.get(STAGE)
        floor = stages[stage].rank if stage is not None else -1

        def lift(status_id: str) -> int:
            implied = statuses[status_id].implies_stage
            rank = stages[implied].rank if implied is not None else -1
            return rank if rank > floor else -1

        target, source = settled, None
        best = lift(settled) if settled is not None else -1
        for side, value in evidence:
            if lift(value) > best:
                target, source, best = value, side, lift(value)
        if best >= 0:
            return target, source, "furthest_along: its implied stage is further along"
        if settled is not None:
            return settled, None, "known_record: a newly seen record's status does not override it"
        if len(evidence) == 2 and sf_val != hs_val:
            winner = self._policy_winner(f)
            return (
                sf_val if winner == SF else hs_val,
                winner,
                f"{f.conflict.value}: the status's conflict policy",
            )
        if evidence:
            return evidence[0][1], evidence[0][0], "the only side with a status"
        return None, None, ""

    def _overtaken(self, side: Side, fid: str, label: str) -> None:
        """A held (refused) edit that a newly seen record's further-along value now overwrites: say so."""
        for i in range(len(self.skipped) - 1, -1, -1):
            s = self.skipped[i]
            if s.kind in ("backward_move", "blocked") and s.ref == fid and s.side == side:
                detail = s.detail.split("; not synced", 1)[0]
                self.skipped[i] = s._replace(
                    detail=f"{detail}; not synced: {label}, from a record met for the first time, is further "
                    f"along and is written to {_SIDE_LABEL[side]}"
                )
                return

    # --- 2. automation ----------------------------------------------------------------------------

    def _automation(self) -> None:
        cmap = self.cmap
        if not cmap.rules:
            return
        queue: list[tuple[str, str | None]] = []
        facts = self.facts
        if not self.has_base:
            queue.append(("record_created", None))
            # Met for the first time means new, unless the caller knows better (a backfill says False);
            # under facts: remember only a caller's explicit True makes the account's status news.
            new = facts.new_record if facts.new_record is not None else cmap.first_sight_facts_as_state
            if facts.account_is_customer and new:
                queue.append(("new_lead_at_customer_account", None))
        for fid, event in ((STATUS, "status_changed"), (STAGE, "stage_changed")):
            value = self.target.get(fid)
            if value is not None and value != self.base.values.get(fid):
                queue.append((event, value))
        converted = self.sf is not None and self.sf.is_converted
        if self.facts_known and self.has_base:
            if facts is not EMPTY_FACTS or self.base.facts is not EMPTY_DIGEST or converted:
                events = fact_events(facts, self.base.facts, converted=converted)
                queue.extend((name, None) for name in events)
        elif self.facts_known and cmap.first_sight_facts_as_state and (facts is not EMPTY_FACTS or converted):
            # First sight: the facts are state (an open or won opportunity, a conversion, a churned
            # account), not news; history (lost deals, calls, meetings) is remembered without firing.
            queue.extend((name, None) for name in state_events(facts, converted=converted))
        if not queue:
            return
        steps = 0
        while queue:
            event, to = queue.pop(0)
            self.events.append(f"{event}:{to}" if to else event)
            for rule in cmap.rules_by_event.get(event, ()):
                if rule.to is not None and rule.to != to:
                    continue
                if event == "record_created" and rule.side != "any" and not self._created_on(rule.side):
                    continue
                steps += 1
                if steps > _MAX_RULE_STEPS:
                    self.skipped.append(Skip("rule_limit", rule.id, None, "rule chain limit reached"))
                    return
                queue.extend(self._fire(rule))

    def _created_on(self, side: str) -> bool:
        return (self.sf is not None) if side == SF else (self.hs is not None)

    def _salesforce_object(self) -> str | None:
        if self.sf is None:
            return "Lead" if self.base.salesforce_object is None else self.base.salesforce_object
        return "Contact" if self.sf_frozen else self.sf.object_type

    def _fire(self, rule: Rule) -> list[tuple[str, str | None]]:
        stage = self.target.get(STAGE)
        if (
            rule.event == "opportunity_lost"
            and not self.cmap.lost_opportunity_demotes_customer
            and stage is not None
            and self.cmap.stages[stage].customer
        ):
            self.skipped.append(
                Skip(
                    "upsell_policy",
                    rule.id,
                    None,
                    f"a lost opportunity leaves {self.cmap.stages[stage].label} as it is "
                    "(policies.lost_opportunity_demotes_customer is false)",
                )
            )
            return []
        if rule.condition is not None and not condition_holds(
            rule.condition,
            stage=stage,
            status=self.target.get(STATUS),
            facts=self.facts,
            salesforce_object=self._salesforce_object(),
            cmap=self.cmap,
        ):
            return []
        follow: list[tuple[str, str | None]] = []
        changed = False
        for fid, value, only_if_blank in (
            (STAGE, rule.set_stage, False),
            (STAGE, rule.default_stage, True),
            (STATUS, rule.set_status, False),
            (STATUS, rule.default_status, True),
        ):
            if value is None:
                continue
            current = self.target.get(fid)
            if value == current or (only_if_blank and current is not None):
                continue
            if only_if_blank and ((SF, fid) in self.held or (HS, fid) in self.held):
                continue  # blank only because a person's edit was held: not a blank to fill
            if fid in self.human and rule.event in _HUMAN_EVENTS:
                side = self.human[fid]
                self.skipped.append(
                    Skip(
                        "contradiction",
                        rule.id,
                        side,
                        f"{fid} was set to {current} on {_SIDE_LABEL[side]} this round; rule {rule.id} would "
                        f"set {value}; the person's edit stands",
                    )
                )
                continue
            if fid == STAGE and current is not None and self.cmap.is_backward(current, value):
                # A value met for the first time never moves a person back: on first sight under
                # furthest_along, or when it came from a record newly linked to a known person.
                new_value = (
                    self.has_base and rule.event in _HUMAN_EVENTS and _EVENT_FIELD[rule.event] in self.origin
                )
                forward_only = self.forward_only or new_value
                passed = (
                    (not self.has_base or new_value)
                    and (rule.implicit or rule.event in _STATE_EVENTS)
                    and self.cmap.stages[value].kind is StageKind.FUNNEL
                )
                if passed and (forward_only or not self.cmap.backward_move_allowed(current, value)):
                    continue  # on first sight, Qualified or a won deal beside Customer: a stage passed
                if forward_only:
                    why = (
                        "a newly seen record's value never moves the person back"
                        if new_value
                        else "policies.first_sight.stage is furthest_along: nothing moves back on first sight"
                    )
                    self.skipped.append(
                        Skip(
                            "backward_move",
                            rule.id,
                            None,
                            f"first sight: rule {rule.id} would move stage from {current} back to {value}; "
                            + why,
                        )
                    )
                    continue
                if not self.cmap.backward_move_allowed(current, value):
                    self.skipped.append(
                        Skip(
                            "backward_move",
                            rule.id,
                            None,
                            f"rule {rule.id} would move stage from {current} back to {value}, which the "
                            "map's transitions do not allow",
                        )
                    )
                    continue
            if fid == STATUS and not self._requirement_ok(value, rule.id):
                self._report_blocked(value, None, current)
                continue
            self.target[fid] = value
            if fid == STAGE:
                self.path.append(value)
            self.causes[fid] = Cause("rule", rule.id, rule.description or f"rule {rule.id}")
            for side in (SF, HS):  # the rule's value goes to both sides (unknown values excepted)
                self.held.discard((side, fid))
                self.suppressed.discard((side, fid))
            self.human.pop(fid, None)
            self.origin.pop(fid, None)
            changed = True
            follow.append(("stage_changed" if fid == STAGE else "status_changed", value))
        if changed:
            self.applied.append(rule.id)
        return follow

    # --- 3. requirements (checked whenever a status would be entered) ----------------------------

    def _check_merged_status(self) -> None:
        """A person's status edit that its requirements block is held like a refused stage move."""
        status_id = self.target.get(STATUS)
        previous = self.base.values.get(STATUS)
        if status_id is None or status_id == previous or self._requirement_ok(status_id, STATUS):
            return
        side = self.human.pop(STATUS, None) or self.origin.pop(STATUS, None)
        self.target[STATUS] = previous
        self.causes.pop(STATUS, None)
        if side is not None:
            self.held.add((side, STATUS))
        self._report_blocked(status_id, side, previous)

    def _requirement_ok(self, status_id: str, cause_ref: str) -> bool:
        """Fill required fields from the map's defaults; False when one stays blank."""
        status = self.cmap.statuses[status_id]
        if not status.requires:
            return True
        # Salesforce's validation rule applies to writes: a status Salesforce already holds is never
        # blocked (a missing value with a default is still filled in).
        held_by_salesforce = self.sf is not None and self.sf_current.get(STATUS) == status.salesforce
        fills: list[tuple[str, str]] = []
        for field_id, default in status.requires:
            if self.target.get(field_id) is not None:
                continue
            if default is None:
                if held_by_salesforce:
                    continue
                return False
            fills.append((field_id, default))
        for field_id, default in fills:
            self.target[field_id] = default
            self.causes[field_id] = Cause(
                "requirement", status_id, f"status {status.label} requires {field_id}; the map's default"
            )
        return True

    def _report_blocked(self, status_id: str, side: Side | None, kept: Value) -> None:
        status = self.cmap.statuses[status_id]
        missing = ", ".join(f for f, d in status.requires if self.target.get(f) is None and d is None)
        self.skipped.append(
            Skip(
                "blocked",
                STATUS,
                side,
                f"status {status.label} requires {missing}, which is blank and has no default in the map; "
                f"status kept at {kept}",
            )
        )

    # --- 4. writes --------------------------------------------------------------------------------

    def _changes_for(
        self, side: Side, sobject: str | None, current: Mapping[str, Value], final: dict[str, Value]
    ) -> list[FieldChange]:
        """The changes one side needs; fills ``final`` with what that side holds afterwards."""
        changes: list[FieldChange] = []
        target_values = self.target
        base_values = self.base.values
        blocked = self.suppressed or self.held or self.unknown
        walk = self.cmap.hubspot_targets if side == HS else self.cmap.salesforce_targets[sobject or "Lead"]
        for f, name, table in walk:
            fid = f.id
            now = current.get(fid)
            final[fid] = None if now == "" else now
            if blocked:
                key = (side, fid)
                if key in self.held or key in self.unknown:
                    final[fid] = self._side_base(side, f) if self.has_base else None
                    continue
                if key in self.suppressed:
                    continue
            target = target_values.get(fid)
            if target is None:
                continue
            image = target if table is None else table.get(target)
            if image is None:
                if target != base_values.get(fid):
                    self.skipped.append(
                        Skip(
                            "no_value_on_side",
                            fid,
                            side,
                            f"{fid} {target} has no {_SIDE_LABEL[side]} value in the map; "
                            f"{_SIDE_LABEL[side]} left as it is",
                        )
                    )
                continue
            if now == image:
                continue
            cause = self.causes.get(fid) or Cause(
                "repair", fid, f"{_SIDE_LABEL[side]} differs from the synced value"
            )
            changes.append(FieldChange(name, image, cause))
            final[fid] = image
        return changes

    def _salesforce_writes(self) -> tuple[Write, ...]:
        sf = self.sf
        if sf is None:
            return self._salesforce_create()
        if sf.is_deleted:
            self.skipped.append(
                Skip("deleted", "salesforce", SF, f"Salesforce {sf.object_type} {sf.id} is deleted")
            )
            return ()
        if sf.object_type == "Lead" and sf.is_converted:
            if sf.converted_contact_id is None:
                self.skipped.append(
                    Skip(
                        "read_only",
                        "salesforce",
                        SF,
                        f"Lead {sf.id} is converted and names no Contact; not written",
                    )
                )
                return ()
            sobject, record_id = "Contact", sf.converted_contact_id
        else:
            sobject, record_id = sf.object_type, sf.id
        changes = self._changes_for(SF, sobject, self.sf_current, self.sf_final)
        link = self.cmap.link_sf_hubspot_id
        hs = self.hs
        if hs is not None and sf.values.get(link) != hs.id:
            changes.append(FieldChange(link, hs.id, Cause("link", "hubspot_id", "HubSpot contact id")))
        if not changes:
            return ()
        return (Write(SF, "update", sobject, record_id, 1, tuple(changes)),)

    def _salesforce_create(self) -> tuple[Write, ...]:
        cmap = self.cmap
        hs = self.hs
        assert hs is not None
        if self.base.salesforce_id is not None:
            self.skipped.append(
                Skip(
                    "deleted",
                    "salesforce",
                    SF,
                    f"Salesforce record {self.base.salesforce_id} no longer exists; not recreated",
                )
            )
            return ()
        if hs.archived:
            return ()
        if not cmap.hs_to_sf_create:
            self.skipped.append(
                Skip("not_included", "inclusion", SF, "the map does not create Salesforce leads")
            )
            return ()
        stage = self.target.get(STAGE)
        if cmap.hs_to_sf_min_rank is not None and (
            stage is None or cmap.stages[stage].rank < cmap.hs_to_sf_min_rank
        ):
            self.skipped.append(
                Skip(
                    "not_included",
                    "inclusion",
                    SF,
                    f"stage {stage} is before the map's hubspot_to_salesforce.min_stage; "
                    "no Salesforce lead yet",
                )
            )
            return ()
        changes = self._changes_for(SF, "Lead", {}, self.sf_final)
        present = {c.field for c in changes}
        for name, filler in SALESFORCE_LEAD_REQUIRED.items():
            if name not in present:
                changes.append(
                    FieldChange(
                        name, filler, Cause("requirement", name, f"Salesforce requires {name} on a Lead")
                    )
                )
        changes.append(
            FieldChange(cmap.link_sf_hubspot_id, hs.id, Cause("link", "hubspot_id", "HubSpot contact id"))
        )
        link_back, _ = self._hubspot_link_for("Lead", "")
        return (Write(SF, "create", "Lead", None, 1, tuple(changes), link_back=link_back),)

    def _hubspot_writes(self) -> tuple[Write, ...]:
        hs = self.hs
        if hs is None:
            return self._hubspot_create()
        if hs.archived:
            self.skipped.append(Skip("deleted", "hubspot", HS, f"HubSpot contact {hs.id} is archived"))
            return ()
        changes = self._changes_for(HS, None, self.hs_current, self.hs_final)
        sf = self.sf
        if sf is not None:
            link_name, link_value = self._hubspot_link(sf)
            if hs.properties.get(link_name) != link_value:
                changes.append(
                    FieldChange(link_name, link_value, Cause("link", "salesforce_id", "Salesforce id"))
                )
        if not changes:
            return ()
        stage_prop = self.cmap.stage_field.hubspot
        order = self.cmap.hubspot_stage_order
        for i, change in enumerate(changes):
            if change.field != stage_prop:
                continue
            now = self.hs_current.get(STAGE)
            if (
                now is not None
                and change.value is not None
                and order.get(change.value, 0) < order.get(now, 0)
            ):
                clear = FieldChange(
                    stage_prop,
                    "",
                    Cause("lifecycle", STAGE, "HubSpot only moves lifecyclestage forward: clear it first"),
                )
                rest = changes[:i] + changes[i + 1 :]
                writes = [Write(HS, "update", "contacts", hs.id, 1, (clear,))]
                writes.append(Write(HS, "update", "contacts", hs.id, 2, (change, *rest)))
                return tuple(writes)
        return (Write(HS, "update", "contacts", hs.id, 1, tuple(changes)),)

    def _hubspot_link(self, sf: SalesforceRecord) -> tuple[str, str]:
        if self.sf_frozen and sf.converted_contact_id is not None:
            return self._hubspot_link_for("Contact", sf.converted_contact_id)
        return self._hubspot_link_for(sf.object_type, sf.id)

    def _hubspot_link_for(self, sobject: str, record_id: str) -> tuple[str, str]:
        if sobject == "Contact":
            return self.cmap.link_hs_contact_id, record_id
        return self.cmap.link_hs_lead_id, record_id

    def _hubspot_create(self) -> tuple[Write, ...]:
        cmap = self.cmap
        sf = self.sf
        assert sf is not None
        if self.base.hubspot_id is not None:
            self.skipped.append(
                Skip(
                    "deleted",
                    "hubspot",
                    HS,
                    f"HubSpot contact {self.base.hubspot_id} no longer exists; not recreated",
                )
            )
            return ()
        if sf.is_deleted:
            return ()
        if not cmap.sf_to_hs_create:
            self.skipped.append(
                Skip("not_included", "inclusion", HS, "the map does not create HubSpot contacts")
            )
            return ()
        stage = self.target.get(STAGE)
        if cmap.sf_to_hs_min_rank is not None and (
            stage is None or cmap.stages[stage].rank < cmap.sf_to_hs_min_rank
        ):
            self.skipped.append(
                Skip(
                    "not_included",
                    "inclusion",
                    HS,
                    f"stage {stage} is before the map's salesforce_to_hubspot.min_stage",
                )
            )
            return ()
        changes = self._changes_for(HS, None, {}, self.hs_final)
        if not any(c.field in HUBSPOT_CONTACT_NAMED_BY and c.value for c in changes):
            # not a silent skip: the service dead-letters a ``blocked`` plan, naming what is missing
            self.skipped.append(
                Skip(
                    "blocked",
                    "email",
                    HS,
                    "HubSpot contact not created: HubSpot needs one of email, firstname or lastname "
                    f"(the map fills none of them from Salesforce {sf.object_type} {sf.id})",
                )
            )
            return ()
        link_name, link_value = self._hubspot_link(sf)
        changes.append(FieldChange(link_name, link_value, Cause("link", "salesforce_id", "Salesforce id")))
        return (Write(HS, "create", "contacts", None, 1, tuple(changes), link_back=cmap.link_sf_hubspot_id),)

    # --- 5. new base ------------------------------------------------------------------------------

    def _new_base(self, sf_writes: tuple[Write, ...], hs_writes: tuple[Write, ...]) -> Base:
        values = self.target  # every synced field was merged into it (shared with Plan.values)
        sf_values = self.sf_final if (self.sf is not None or sf_writes) else {}
        hs_values = self.hs_final if (self.hs is not None or hs_writes) else {}
        if self.sf is not None and not sf_values:  # nothing could be written (read-only, deleted)
            sf_values = self._unwritten(SF, self.sf_current)
        if self.hs is not None and not hs_values:
            hs_values = self._unwritten(HS, self.hs_current)
        sf = self.sf
        if sf is None:
            sf_object, sf_id = (
                (self.base.salesforce_object, self.base.salesforce_id) if not sf_writes else ("Lead", None)
            )
        elif self.sf_frozen:
            sf_object, sf_id = "Contact", sf.converted_contact_id
        elif sf.object_type == "Lead" and sf.is_converted:
            sf_object, sf_id = "Lead", sf.id  # converted, but names no Contact: keep the lead
        else:
            sf_object, sf_id = sf.object_type, sf.id
        hs_id = self.hs.id if self.hs is not None else self.base.hubspot_id
        return Base(
            values=values,
            salesforce_values=sf_values,
            hubspot_values=hs_values,
            facts=self._merged_digest(),
            salesforce_object=sf_object,
            salesforce_id=sf_id,
            hubspot_id=hs_id,
        )

    def _unwritten(self, side: Side, current: Mapping[str, Value]) -> dict[str, Value]:
        """What a side that gets no writes holds: its values, except held ones (re-detected later)."""
        out: dict[str, Value] = {}
        for fid, now in current.items():
            if (side, fid) in self.held or (side, fid) in self.unknown:
                out[fid] = self._side_base(side, self.cmap.fields_by_id[fid]) if self.has_base else None
            else:
                out[fid] = None if now == "" else now
        return out

    def _merged_digest(self) -> FactsDigest:
        """What the next plan compares facts with: this round's facts folded into what was seen."""
        seen = self.base.facts
        sf = self.sf
        converted = seen.converted or (sf is not None and sf.is_converted)
        if not self.facts_known:
            if converted == seen.converted:
                return seen
            return seen._replace(converted=True)
        now = self.facts
        if now is EMPTY_FACTS and seen is EMPTY_DIGEST and not converted:
            return EMPTY_DIGEST
        opportunities = dict(seen.opportunities)
        opportunities.update((o.id, o.state) for o in now.opportunities)
        return FactsDigest(
            opportunities=tuple(sorted(opportunities.items())),
            account_is_customer=now.account_is_customer,
            account_churned=now.account_churned,
            completed_calls=seen.completed_calls | now.completed_calls,
            meetings=seen.meetings | now.meetings,
            converted=converted or now.converted,
        )
