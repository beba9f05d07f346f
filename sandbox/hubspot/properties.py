"""Property definitions and value validation (the Properties API's data).

Defaults come from the reference notes: ``lifecyclestage`` options [A/B, §4.2], ``hs_lead_status``
options [B/C, §4.3], date-entered properties [C, §4.4]. The worker's custom properties
(``salesforce_lead_id``, ``salesforce_contact_id``, ``unqualified_reason``, the unique create key
``crmsync_key``) exist by default.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from sandbox.hubspot.errors import ValidationError

LIFECYCLE_STAGES = [
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
]
LEAD_STATUSES = [
    ("NEW", "New"),
    ("OPEN", "Open"),
    ("IN_PROGRESS", "In Progress"),
    ("OPEN_DEAL", "Open Deal"),
    ("UNQUALIFIED", "Unqualified"),
    ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
    ("CONNECTED", "Connected"),
    ("BAD_TIMING", "Bad Timing"),
]
UNQUALIFIED_REASONS = [(v, v) for v in ("Not Ready", "Not a Fit", "Not Interested", "Invalid Data")]
DEAL_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled"),
    ("qualifiedtobuy", "Qualified To Buy"),
    ("presentationscheduled", "Presentation Scheduled"),
    ("decisionmakerboughtin", "Decision Maker Bought-In"),
    ("contractsent", "Contract Sent"),
    ("closedwon", "Closed Won"),
    ("closedlost", "Closed Lost"),
]

FIELD_TYPE = {
    "string": "text",
    "number": "number",
    "datetime": "date",
    "date": "date",
    "enumeration": "select",
    "bool": "booleancheckbox",
}


@dataclass
class Option:
    label: str
    value: str
    display_order: int
    hidden: bool = False
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": self.value,
            "displayOrder": self.display_order,
            "hidden": self.hidden,
            "description": self.description,
        }


@dataclass
class PropertyDef:
    name: str
    label: str
    type: str = "string"
    field_type: str = ""
    group_name: str = "contactinformation"
    description: str = ""
    options: list[Option] = field(default_factory=list)
    read_only_value: bool = False
    has_unique_value: bool = False
    hubspot_defined: bool = True
    calculated: bool = False
    created_ms: int = 0
    updated_ms: int = 0
    archived: bool = False

    def option_values(self) -> list[str]:
        return [o.value for o in self.options]

    def option_rank(self, value: str) -> int:
        """Position of ``value`` in the option order (``displayOrder``), used by the lifecycle rule."""
        for o in sorted(self.options, key=lambda o: o.display_order):
            if o.value == value:
                return o.display_order
        return -1

    def to_json(self, iso: Any) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type or FIELD_TYPE.get(self.type, "text"),
            "groupName": self.group_name,
            "description": self.description,
            "options": [o.to_json() for o in self.options],
            "displayOrder": -1,
            "hidden": False,
            "hasUniqueValue": self.has_unique_value,
            "formField": not self.read_only_value,
            "calculated": self.calculated,
            "externalOptions": False,
            "hubspotDefined": self.hubspot_defined,
            "archived": self.archived,
            "createdAt": iso(self.created_ms),
            "updatedAt": iso(self.updated_ms),
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
        }


def _options(pairs: list[tuple[str, str]]) -> list[Option]:
    return [Option(label=label, value=value, display_order=i) for i, (value, label) in enumerate(pairs)]


def _ro(name: str, label: str, type_: str = "datetime") -> PropertyDef:
    return PropertyDef(name=name, label=label, type=type_, read_only_value=True, calculated=True)


def _common(modified_name: str) -> list[PropertyDef]:
    return [
        _ro("hs_object_id", "Record ID", "number"),
        _ro("createdate", "Create Date"),
        _ro(modified_name, "Last Modified Date"),
        _ro("hs_merged_object_ids", "Merged record IDs", "enumeration"),
    ]


def default_properties(object_type: str) -> dict[str, PropertyDef]:
    """The built-in and worker-custom properties for one object type, fresh for a new portal."""
    props: list[PropertyDef] = []
    lifecycle = PropertyDef(
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        options=_options(LIFECYCLE_STAGES),
    )
    if object_type == "contacts":
        props += _common("hs_lastmodifieddate")
        props += [
            _ro("lastmodifieddate", "Last Modified Date"),
            _ro("hs_calculated_merged_vids", "Merged Contact IDs", "enumeration"),
            PropertyDef("email", "Email", has_unique_value=True),
            PropertyDef("firstname", "First Name"),
            PropertyDef("lastname", "Last Name"),
            PropertyDef("company", "Company Name"),
            PropertyDef("jobtitle", "Job Title"),
            PropertyDef("phone", "Phone Number", field_type="phonenumber"),
            PropertyDef("associatedcompanyid", "Primary Associated Company ID", "number"),
            lifecycle,
            PropertyDef(
                "hs_lead_status", "Lead Status", "enumeration", "radio", options=_options(LEAD_STATUSES)
            ),
            PropertyDef(
                "salesforce_lead_id", "Salesforce Lead ID", hubspot_defined=False, group_name="salesforce"
            ),
            PropertyDef(
                "salesforce_contact_id",
                "Salesforce Contact ID",
                hubspot_defined=False,
                group_name="salesforce",
            ),
            # the worker's create idempotency handle (HubSpotSettings.create_key_property); unique, so
            # batch upsert and batch read accept it as idProperty [A, batch upsert reference]
            PropertyDef(
                "crmsync_key",
                "crm-sync create key",
                has_unique_value=True,
                hubspot_defined=False,
                group_name="salesforce",
            ),
            PropertyDef(
                "unqualified_reason",
                "Unqualified Reason",
                "enumeration",
                "select",
                hubspot_defined=False,
                options=_options(UNQUALIFIED_REASONS),
            ),
        ]
    elif object_type == "companies":
        props += _common("hs_lastmodifieddate")
        props += [
            PropertyDef("name", "Company name", group_name="companyinformation"),
            PropertyDef("domain", "Company Domain Name", group_name="companyinformation"),
            PropertyDef("industry", "Industry", group_name="companyinformation"),
            lifecycle,
            PropertyDef(
                "salesforce_account_id",
                "Salesforce Account ID",
                hubspot_defined=False,
                group_name="salesforce",
            ),
        ]
    elif object_type == "deals":
        props += _common("hs_lastmodifieddate")
        props += [
            PropertyDef("dealname", "Deal Name", group_name="dealinformation"),
            PropertyDef("amount", "Amount", "number", group_name="dealinformation"),
            PropertyDef("closedate", "Close Date", "datetime", group_name="dealinformation"),
            PropertyDef(
                "pipeline", "Pipeline", "enumeration", "select", options=_options([("default", "Sales")])
            ),
            PropertyDef("dealstage", "Deal Stage", "enumeration", "radio", options=_options(DEAL_STAGES)),
            # calculated from the stage (HubSpot's "Is Deal Closed?" / "Is Closed Won" booleans)
            _ro("hs_is_closed", "Is Deal Closed?", "bool"),
            _ro("hs_is_closed_won", "Is Closed Won", "bool"),
            PropertyDef(
                "salesforce_opportunity_id",
                "Salesforce Opportunity ID",
                hubspot_defined=False,
                group_name="salesforce",
            ),
        ]
    if object_type in ("contacts", "companies"):
        for value, label in LIFECYCLE_STAGES:
            props.append(
                _ro(f"hs_v2_date_entered_{value}", f'Date entered "{label} (Lifecycle Stage Pipeline)"')
            )
            props.append(
                _ro(f"hs_v2_date_exited_{value}", f'Date exited "{label} (Lifecycle Stage Pipeline)"')
            )
            props.append(_ro(f"hs_lifecyclestage_{value}_date", f"Became a {label} Date"))
    return {p.name: p for p in props}


def property_from_json(doc: dict[str, Any], now_ms: int) -> PropertyDef:
    """A custom property from a Properties API create body; raises ValidationError on a bad shape."""
    try:
        name = str(doc["name"])
        label = str(doc["label"])
        type_ = str(doc["type"])
    except KeyError as exc:
        raise ValidationError(f"Missing required field: {exc.args[0]}") from None
    if type_ not in FIELD_TYPE and type_ != "phone_number":
        raise ValidationError(f"Invalid property type: {type_}")
    options = [
        Option(
            label=str(o.get("label", o.get("value", ""))),
            value=str(o["value"]),
            display_order=int(o.get("displayOrder", i)),
            hidden=bool(o.get("hidden", False)),
            description=str(o.get("description", "")),
        )
        for i, o in enumerate(doc.get("options") or [])
    ]
    return PropertyDef(
        name=name,
        label=label,
        type=type_,
        field_type=str(doc.get("fieldType", "")),
        group_name=str(doc.get("groupName", "contactinformation")),
        description=str(doc.get("description", "")),
        options=options,
        has_unique_value=bool(doc.get("hasUniqueValue", False)),
        hubspot_defined=False,
        created_ms=now_ms,
        updated_ms=now_ms,
    )


def apply_property_patch(prop: PropertyDef, doc: dict[str, Any], now_ms: int) -> None:
    """PATCH ``/crm/v3/properties/{type}/{name}``: label/description/options may change.

    Replacing ``options`` replaces the full list, as the real API does [A, SPEC ``PropertyUpdate``].
    """
    if "label" in doc:
        prop.label = str(doc["label"])
    if "description" in doc:
        prop.description = str(doc["description"])
    if "options" in doc:
        if prop.type != "enumeration":
            raise ValidationError(f"Options are only allowed on enumeration properties, not {prop.name}")
        prop.options = [
            Option(
                label=str(o.get("label", o.get("value", ""))),
                value=str(o["value"]),
                display_order=int(o.get("displayOrder", i)),
                hidden=bool(o.get("hidden", False)),
                description=str(o.get("description", "")),
            )
            for i, o in enumerate(doc["options"])
        ]
    prop.updated_ms = now_ms


def copy_properties(props: dict[str, PropertyDef]) -> dict[str, PropertyDef]:
    return copy.deepcopy(props)
