"""The definition map as strict pydantic models: the YAML schema, documented field by field.

These models check *shape* (unknown keys, types, closed vocabularies). Cross-references — a rule
naming a stage that does not exist, two stages claiming one Salesforce value, rule chains that would
flip-flop — are checked when the map is compiled (``worker.mapping.compile``), where every problem is
collected and located, not just the first.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Identifier = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=64,
        description="A canonical id: lower case letters, digits and underscores, starting with a letter.",
        examples=["mql", "meeting_set"],
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class SyncRule(StrEnum):
    """How a field flows between the CRMs, as HubSpot's own Salesforce connector names them."""

    TWO_WAY = "two_way"
    PREFER_SALESFORCE_UNLESS_BLANK = "prefer_salesforce_unless_blank"
    ALWAYS_SALESFORCE = "always_salesforce"
    ALWAYS_HUBSPOT = "always_hubspot"
    NONE = "none"


class ConflictPolicy(StrEnum):
    """Who wins when a two-way field changed on both sides since the last sync."""

    SALESFORCE_WINS = "salesforce_wins"
    HUBSPOT_WINS = "hubspot_wins"
    NEWEST_WINS = "newest_wins"


class Owner(StrEnum):
    """The team that owns a field; its system wins conflicts unless ``conflict`` says otherwise."""

    MARKETING = "marketing"  # HubSpot
    SALES = "sales"  # Salesforce


class StageKind(StrEnum):
    FUNNEL = "funnel"
    RECYCLE = "recycle"
    TERMINAL = "terminal"


class StageDef(Strict):
    """One lifecycle stage of the buyer journey."""

    id: Identifier
    label: str = Field(description="Human label, for tables and audit.")
    rank: int = Field(
        description="Position in the journey. Moving to a lower rank is a backward move and needs a "
        "`transitions` entry; moving to a higher rank is always allowed.",
    )
    kind: StageKind = StageKind.FUNNEL
    customer: bool = Field(
        default=False,
        description="This stage means 'is a customer' (upsell policy, new lead at a customer account).",
    )
    hubspot: str | None = Field(
        description="HubSpot `lifecyclestage` internal value, or null when HubSpot has no such stage.",
        examples=["marketingqualifiedlead"],
    )
    hubspot_primary: bool = Field(
        default=False,
        description="When several stages share one HubSpot value, the one that value reads back as.",
    )
    salesforce: str | None = Field(
        description="Salesforce Lead Stage picklist value (exact API value), or null.",
        examples=["Marketing Qualified Lead"],
    )


class Requirement(Strict):
    """A field that must hold a value before a status can be written (Salesforce validation rules)."""

    field: Identifier = Field(description="Id of a `fields` entry.")
    default: str | None = Field(
        default=None,
        description="Value written when the field is blank. Without one, the status change is blocked.",
    )


class StatusDef(Strict):
    """One lead status: where sales is in working the person."""

    id: Identifier
    label: str
    salesforce: str | None = Field(description="Salesforce Lead `Status` value (exact API value), or null.")
    hubspot: str | None = Field(description="HubSpot `hs_lead_status` internal value, or null.")
    hubspot_primary: bool = Field(
        default=False,
        description="When several statuses share one HubSpot value, the one that value reads back as.",
    )
    implies_stage: Identifier | None = Field(
        default=None,
        description="Entering this status moves the stage here (Qualified ⇒ SQL), if the move is allowed.",
    )
    requires: tuple[Requirement, ...] = ()


class StageConfig(Strict):
    salesforce_field: str = Field(default="Lead_Stage__c", description="API name of the Lead Stage picklist.")
    salesforce_objects: tuple[Literal["Lead", "Contact"], ...] = ("Lead", "Contact")
    hubspot_property: str = "lifecyclestage"
    sync: SyncRule = SyncRule.TWO_WAY
    owner: Owner = Owner.MARKETING
    conflict: ConflictPolicy | None = None
    hubspot_order: tuple[str, ...] = Field(
        description="The portal's `lifecyclestage` options in order. HubSpot's API only moves the stage "
        "forward in this order; an earlier value is written as clear-then-set.",
    )
    values: tuple[StageDef, ...]


class StatusConfig(Strict):
    salesforce_field: str = "Status"
    salesforce_objects: tuple[Literal["Lead", "Contact"], ...] = ("Lead",)
    hubspot_property: str = "hs_lead_status"
    sync: SyncRule = SyncRule.TWO_WAY
    owner: Owner = Owner.SALES
    conflict: ConflictPolicy | None = None
    values: tuple[StatusDef, ...]


class Transition(Strict):
    """Backward moves that are legitimate (recycling, re-entry, disqualification)."""

    from_: tuple[Identifier, ...] | Literal["*"] = Field(alias="from", description="Stage ids, or '*'.")
    to: tuple[Identifier, ...]
    note: str = ""


class FieldMapping(Strict):
    """A person field beyond stage and status."""

    id: Identifier
    salesforce: str | None = Field(description="Salesforce field API name, or null (HubSpot only).")
    salesforce_objects: tuple[Literal["Lead", "Contact"], ...] = ("Lead", "Contact")
    hubspot: str | None = Field(description="HubSpot contact property internal name, or null.")
    sync: SyncRule = SyncRule.TWO_WAY
    owner: Owner | None = None
    conflict: ConflictPolicy | None = Field(
        default=None,
        description="Defaults to the owner's system winning; newest_wins when no owner is given.",
    )


# --- automation rules: a closed vocabulary -------------------------------------------------------


class RecordCreated(Strict):
    """The worker sees this person for the first time (no base snapshot)."""

    event: Literal["record_created"]
    side: Literal["any", "salesforce", "hubspot"] = "any"


class StageChanged(Strict):
    event: Literal["stage_changed"]
    to: Identifier


class StatusChanged(Strict):
    event: Literal["status_changed"]
    to: Identifier


class FactEvent(Strict):
    """Events read from related records, each firing once (compared with the base snapshot)."""

    event: Literal[
        "opportunity_created",
        "opportunity_won",
        "opportunity_lost",
        "new_lead_at_customer_account",
        "call_completed",
        "meeting_booked",
        "lead_converted",
        "account_churned",
    ]


Trigger = Annotated[RecordCreated | StageChanged | StatusChanged | FactEvent, Field(discriminator="event")]


class Condition(Strict):
    """All given clauses must hold (AND). Evaluated on the state at the moment the rule fires."""

    stage_in: tuple[Identifier, ...] | None = None
    stage_not_in: tuple[Identifier, ...] | None = None
    stage_before: Identifier | None = Field(default=None, description="Current stage ranks lower than this.")
    status_in: tuple[Identifier, ...] | None = None
    status_not_in: tuple[Identifier, ...] | None = None
    no_open_opportunities: bool | None = Field(default=None, description="No open opportunity remains.")
    salesforce_object: Literal["Lead", "Contact"] | None = None


class Effect(Strict):
    """What a rule does. ``default_*`` only fills a blank value; ``set_*`` replaces it."""

    set_stage: Identifier | None = None
    set_status: Identifier | None = None
    default_stage: Identifier | None = None
    default_status: Identifier | None = None


class Rule(Strict):
    id: Identifier
    description: str = ""
    when: Trigger
    if_: Condition | None = Field(default=None, alias="if")
    then: Effect


class HubSpotToSalesforce(Strict):
    create: bool = Field(default=True, description="Create Salesforce Leads for HubSpot contacts.")
    min_stage: Identifier | None = Field(default=None, description="Only from this stage on (by rank).")


class SalesforceToHubSpot(Strict):
    create: bool = Field(default=True, description="Create HubSpot contacts for Salesforce Leads/Contacts.")
    min_stage: Identifier | None = None


class Inclusion(Strict):
    hubspot_to_salesforce: HubSpotToSalesforce = HubSpotToSalesforce()
    salesforce_to_hubspot: SalesforceToHubSpot = SalesforceToHubSpot()


class Links(Strict):
    """Where each side stores the other side's id."""

    salesforce_hubspot_id_field: str = "HubSpot_Contact_ID__c"
    hubspot_salesforce_lead_property: str = "salesforce_lead_id"
    hubspot_salesforce_contact_property: str = "salesforce_contact_id"


class FirstSightStage(StrEnum):
    """How the stage is chosen for a person (or one side of a person) the worker has never synced."""

    FURTHEST_ALONG = "furthest_along"
    CONFLICT_POLICY = "conflict_policy"


class FirstSightFacts(StrEnum):
    """What the related facts found on first sight do."""

    AS_STATE = "as_state"
    REMEMBER = "remember"


class FirstSight(Strict):
    """First sight: no base snapshot, so no way to tell a person's edit from an old value or a CRM default.

    It applies when ``plan()`` gets no base (both records met for the first time: go-live, a backfill,
    a link made by email) and to one side alone when the base does not know that side (a record newly
    created or linked to a known person, e.g. HubSpot creating a contact at its default ``lead`` for
    a known SQL after a form fill). A newly seen side never pulls the other side back, whatever the
    policy: its CRM's defaults are not a person's deliberate move.
    """

    stage: FirstSightStage = Field(
        default=FirstSightStage.FURTHEST_ALONG,
        description="`furthest_along`: the person is at the higher-ranked stage of the two sides (each "
        "status's implied stage lifting it further), and no rule moves the stage to a lower rank on "
        "first sight. `conflict_policy`: when both sides are new, the stage's conflict policy picks one "
        "side's stage, and it and the rules may move the stage back only where `transitions` allow "
        "(reported in `conflicts` and `stage_path`; a refused move back is reported as `backward_move`).",
    )
    facts: FirstSightFacts = Field(
        default=FirstSightFacts.AS_STATE,
        description="`as_state`: facts present on first sight are state — an open opportunity, a won "
        "one, a conversion and a churned account run their rules (forward only under `furthest_along`); "
        "lost opportunities, calls and meetings are history, remembered without firing; a customer account "
        "makes a new person (facts.new_record not false) Customer. `remember`: every fact is remembered "
        "without firing (a customer account only counts when facts.new_record is true).",
    )


class Policies(Strict):
    lost_opportunity_demotes_customer: bool = Field(
        default=False,
        description="Whether a lost opportunity (a lost upsell) may move a customer-stage person back.",
    )
    first_sight: FirstSight = Field(
        default=FirstSight(),
        description="What the planner does with a person, or one side of a person, it has never synced.",
    )


class DefinitionMap(Strict):
    """A whole definition map file."""

    version: Literal[1]
    name: str
    description: str = ""
    stage: StageConfig
    status: StatusConfig
    transitions: tuple[Transition, ...] = ()
    rules: tuple[Rule, ...] = ()
    fields: tuple[FieldMapping, ...] = ()
    inclusion: Inclusion = Inclusion()
    links: Links = Links()
    policies: Policies = Policies()
