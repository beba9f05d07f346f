"""The org's object model as data: objects, fields, picklists, relationships (what describe reports).

Field metadata keys follow the describe result (api_rest resources_sobject_describe.htm; restforce
spec/fixtures/sobject/sobject_describe_success_response.json). Standard picklist defaults are
Salesforce's out-of-the-box values (Lead Status "Open - Not Contacted", "Working - Contacted",
"Closed - Converted", "Closed - Not Converted"; Opportunity StageName and Account Type from a new org).
The org-specific values (Lead Status Open/Contacted/…, the ``Lead_Stage__c`` picklist with the
SiriusDecisions waterfall labels) are this project's sandbox org.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce.ids import KEY_PREFIXES

# Salesforce field types (describe "type") and their SOAP types.
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "textarea": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "picklist": "xsd:string",
    "boolean": "xsd:boolean",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
    "currency": "xsd:double",
    "double": "xsd:double",
    "int": "xsd:int",
}


@dataclass(frozen=True)
class PicklistValue:
    value: str
    default: bool = False
    active: bool = True
    converted: bool = False  # LeadStatus.IsConverted


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: str = ""
    length: int = 0
    required: bool = False  # not nillable and no default: REQUIRED_FIELD_MISSING on create
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    picklist: tuple[PicklistValue, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    external_id: bool = False
    custom: bool = False
    calculated: bool = False
    system: bool = False

    @property
    def display_label(self) -> str:
        return self.label or self.name.removesuffix("__c").replace("_", " ")

    def picklist_values(self) -> set[str]:
        return {v.value for v in self.picklist if v.active}


@dataclass
class ObjectDef:
    name: str
    fields: dict[str, FieldDef]
    label_plural: str
    child_relationships: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (child, fk)

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIXES[self.name]

    def relationship(self, name: str) -> FieldDef | None:
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == name.lower():
                return f
        return None

    def field_ci(self, name: str) -> FieldDef | None:
        """Field by name, case-insensitively (SOQL and JSON field names are case-insensitive)."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lower = name.lower()
        for f in self.fields.values():
            if f.name.lower() == lower:
                return f
        return None


def _pv(
    *values: str, default: str | None = None, converted: tuple[str, ...] = ()
) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(v, default=v == default, converted=v in converted) for v in values)


LEAD_STATUS = _pv(
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
    "Open",
    "Contacted",
    "Working",
    "Meeting Set",
    "Qualified",
    "Unqualified",
    "Converted",
    # SiriusDecisions waterfall statuses (DOMAIN.md)
    "Prospect",
    "Opportunity Created",
    "Customer",
    "Opportunity Lost",
    "Not a Target",
    "Disqualified",
    "Nurture",
    "Inactive Customer",
    default="Open - Not Contacted",
    converted=("Closed - Converted", "Converted"),
)
LEAD_STAGE = _pv(
    "Subscriber",
    "Lead",
    "Marketing Qualified Lead",
    "Sales Qualified Lead",
    "Opportunity",
    "Customer",
    "Evangelist",
    "Churned Customer",
    "Disqualified",
    "MAL",
    "MQL",
    "SAL",
    "SQL",
    "TSM",
    "SAO",
    "LSO",
    "SRL",
    "MRL",
)
UNQUALIFIED_REASON = _pv("Not Ready", "Not a Fit", "Not Interested", "Invalid Data")
LEAD_SOURCE = _pv("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
ACCOUNT_TYPE = _pv(
    "Prospect",
    "Customer",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
OPPORTUNITY_STAGES: dict[str, tuple[bool, bool]] = {  # StageName -> (IsClosed, IsWon)
    "Prospecting": (False, False),
    "Qualification": (False, False),
    "Needs Analysis": (False, False),
    "Value Proposition": (False, False),
    "Id. Decision Makers": (False, False),
    "Perception Analysis": (False, False),
    "Proposal/Price Quote": (False, False),
    "Negotiation/Review": (False, False),
    "Closed Won": (True, True),
    "Closed Lost": (True, False),
}
TASK_STATUS = _pv(
    "Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred", default="Not Started"
)
TASK_TYPE = _pv("Call", "Email", "Meeting", "Other")
# Task.TaskSubtype (object reference sforce_api_objects_task.htm): a restricted picklist set when the task
# is made ("Log a Call" → Call, an email → Email, …) and not updateable afterwards. The UI's Log a Call
# leaves ``Type`` empty unless the org's layout asks for it. Value list from the object reference as
# remembered (Task, Email, ListEmail, Cadence, Call, LinkedIn); UNVERIFIED against the stored copy.
TASK_SUBTYPE = _pv("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")
CLOSED_TASK_STATUSES = frozenset({"Completed"})


def _system_fields() -> list[FieldDef]:
    ro = {"createable": False, "updateable": False, "system": True}
    return [
        FieldDef("Id", "id", "Record ID", 18, createable=False, updateable=False, nillable=False),
        FieldDef("IsDeleted", "boolean", "Deleted", nillable=False, **ro),  # type: ignore[arg-type]
        FieldDef("CreatedDate", "datetime", "Created Date", nillable=False, **ro),  # type: ignore[arg-type]
        FieldDef(
            "CreatedById",
            "reference",
            "Created By ID",
            18,
            reference_to=("User",),
            relationship_name="CreatedBy",
            nillable=False,
            **ro,  # type: ignore[arg-type]
        ),
        FieldDef("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, **ro),  # type: ignore[arg-type]
        FieldDef(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            18,
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            nillable=False,
            **ro,  # type: ignore[arg-type]
        ),
        FieldDef("SystemModstamp", "datetime", "System Modstamp", nillable=False, **ro),  # type: ignore[arg-type]
    ]


def _owner(queues: bool = False) -> FieldDef:
    """OwnerId: a User, or for objects that can sit in a queue (Lead, Case) a queue, a Group whose ids
    start 00G (object reference: Lead OwnerId "Refers To Group, User")."""
    return FieldDef(
        "OwnerId",
        "reference",
        "Owner ID",
        18,
        reference_to=("Group", "User") if queues else ("User",),
        relationship_name="Owner",
        nillable=False,
    )


def _lead_stage_field() -> FieldDef:
    """The org's custom Lead Stage picklist, on Lead and on Contact alike (DOMAIN: one API name)."""
    return FieldDef(
        "Lead_Stage__c", "picklist", "Lead Stage", 255, picklist=LEAD_STAGE, restricted=True, custom=True
    )


def _activity_fields() -> list[FieldDef]:
    """What Task and Event share: who and what they are about, a subject and a type."""
    return [
        FieldDef(
            "WhoId", "reference", "Name ID", 18, reference_to=("Contact", "Lead"), relationship_name="Who"
        ),
        FieldDef(
            "WhatId",
            "reference",
            "Related To ID",
            18,
            reference_to=("Account", "Opportunity"),
            relationship_name="What",
        ),
        FieldDef("Subject", "string", "Subject", 255),
        FieldDef("Type", "picklist", "Type", 40, picklist=TASK_TYPE),
    ]


#: objects merge() takes (api sforce_api_calls_merge.htm: "The only supported object types are Lead,
#: Contact and Account"); their records carry ``MasterRecordId``, set on the records a merge deleted
MERGEABLE_OBJECTS = frozenset({"Lead", "Contact", "Account"})


def _obj(
    name: str, plural: str, fields: list[FieldDef], children: dict[str, tuple[str, str]] | None = None
) -> ObjectDef:
    all_fields = _system_fields() + fields
    if name in MERGEABLE_OBJECTS:
        master = _ref("MasterRecordId", name, "MasterRecord", "Master Record ID", **_NOT_WRITABLE)
        all_fields.append(master)
    return ObjectDef(name, {f.name: f for f in all_fields}, plural, children or {})


def _ref(name: str, to: str, rel: str, label: str = "", **kw: Any) -> FieldDef:
    return FieldDef(name, "reference", label or name, 18, reference_to=(to,), relationship_name=rel, **kw)


_NOT_WRITABLE: dict[str, Any] = {"createable": False, "updateable": False}

SCHEMA: dict[str, ObjectDef] = {
    "Group": _obj(
        "Group",
        "Groups",
        [
            FieldDef("Name", "string", "Name", 40, required=True, nillable=False),
            FieldDef("DeveloperName", "string", "Developer Name", 80),
            FieldDef("Type", "picklist", "Type", 40, picklist=_pv("Queue", "Regular"), restricted=True),
        ],
    ),
    # The org itself (object reference sforce_api_objects_organization.htm): one read-only row whose Id
    # is the org id; integrations read it for the org id and whether this is a sandbox.
    "Organization": _obj(
        "Organization",
        "Organizations",
        [
            FieldDef("Name", "string", "Name", 80, **_NOT_WRITABLE),
            FieldDef("Division", "string", "Division", 80, **_NOT_WRITABLE),
            FieldDef("InstanceName", "string", "Instance Name", 5, **_NOT_WRITABLE),
            FieldDef("IsSandbox", "boolean", "Is Sandbox", nillable=False, **_NOT_WRITABLE),
            FieldDef(
                "OrganizationType",
                "picklist",
                "Edition",
                40,
                picklist=_pv(
                    "Developer Edition",
                    "Enterprise Edition",
                    "Professional Edition",
                    "Unlimited Edition",
                    "Team Edition",
                    "Personal Edition",
                    "Base Edition",
                ),
                **_NOT_WRITABLE,
            ),
            FieldDef("TrialExpirationDate", "datetime", "Trial Expiration Date", **_NOT_WRITABLE),
            FieldDef("LanguageLocaleKey", "string", "Language", 40, **_NOT_WRITABLE),
            FieldDef("TimeZoneSidKey", "string", "Time Zone", 40, **_NOT_WRITABLE),
            FieldDef("NamespacePrefix", "string", "Namespace Prefix", 15, **_NOT_WRITABLE),
        ],
    ),
    "RecordType": _obj(
        "RecordType",
        "RecordTypes",
        [
            FieldDef("Name", "string", "Record Type Name", 80, required=True, nillable=False),
            FieldDef("DeveloperName", "string", "Record Type Name", 80, required=True, nillable=False),
            FieldDef("SobjectType", "string", "SObject Type Name", 40, required=True, nillable=False),
            FieldDef("IsActive", "boolean", "Active", nillable=False),
            FieldDef("Description", "string", "Description", 255),
        ],
    ),
    "User": _obj(
        "User",
        "Users",
        [
            FieldDef("Username", "string", "Username", 80, required=True, nillable=False),
            FieldDef("FirstName", "string", "First Name", 40),
            FieldDef("LastName", "string", "Last Name", 80, required=True, nillable=False),
            FieldDef("Name", "string", "Full Name", 121, calculated=True, **_NOT_WRITABLE),
            FieldDef("Email", "email", "Email", 128, required=True, nillable=False),
            FieldDef("IsActive", "boolean", "Active", nillable=False),
        ],
    ),
    "Account": _obj(
        "Account",
        "Accounts",
        [
            FieldDef("Name", "string", "Account Name", 255, required=True, nillable=False),
            FieldDef("Type", "picklist", "Account Type", 255, picklist=ACCOUNT_TYPE),
            FieldDef("Industry", "string", "Industry", 255),
            FieldDef("Website", "url", "Website", 255),
            _owner(),
        ],
        {"Contacts": ("Contact", "AccountId"), "Opportunities": ("Opportunity", "AccountId")},
    ),
    "Contact": _obj(
        "Contact",
        "Contacts",
        [
            _ref("AccountId", "Account", "Account", label="Account ID"),
            FieldDef("FirstName", "string", "First Name", 40),
            FieldDef("LastName", "string", "Last Name", 80, required=True, nillable=False),
            FieldDef("Name", "string", "Full Name", 121, calculated=True, **_NOT_WRITABLE),
            FieldDef("Email", "email", "Email", 80),
            FieldDef("Phone", "phone", "Business Phone", 40),
            FieldDef("Title", "string", "Title", 128),
            FieldDef("LeadSource", "picklist", "Lead Source", 255, picklist=LEAD_SOURCE),
            _lead_stage_field(),
            FieldDef(
                "HubSpot_Contact_ID__c", "string", "HubSpot Contact ID", 40, external_id=True, custom=True
            ),
            _owner(),
        ],
        {
            "Tasks": ("Task", "WhoId"),
            "Events": ("Event", "WhoId"),
            "OpportunityContactRoles": ("OpportunityContactRole", "ContactId"),
            "Opportunities": ("Opportunity", "ContactId"),
        },
    ),
    "Lead": _obj(
        "Lead",
        "Leads",
        [
            FieldDef("FirstName", "string", "First Name", 40),
            FieldDef("LastName", "string", "Last Name", 80, required=True, nillable=False),
            FieldDef("Name", "string", "Full Name", 121, calculated=True, **_NOT_WRITABLE),
            FieldDef("Company", "string", "Company", 255, required=True, nillable=False),
            FieldDef("Email", "email", "Email", 80),
            FieldDef("Phone", "phone", "Phone", 40),
            FieldDef("Title", "string", "Title", 128),
            FieldDef("LeadSource", "picklist", "Lead Source", 255, picklist=LEAD_SOURCE),
            FieldDef(
                "Status",
                "picklist",
                "Lead Status",
                255,
                picklist=LEAD_STATUS,
                restricted=True,
                nillable=False,
            ),
            _lead_stage_field(),
            FieldDef(
                "Unqualified_Reason__c",
                "picklist",
                "Unqualified Reason",
                255,
                picklist=UNQUALIFIED_REASON,
                restricted=True,
                custom=True,
            ),
            FieldDef(
                "HubSpot_Contact_ID__c", "string", "HubSpot Contact ID", 40, external_id=True, custom=True
            ),
            FieldDef("IsConverted", "boolean", "Converted", nillable=False, **_NOT_WRITABLE),
            FieldDef("ConvertedDate", "date", "Converted Date", **_NOT_WRITABLE),
            _ref(
                "ConvertedAccountId",
                "Account",
                "ConvertedAccount",
                label="Converted Account ID",
                **_NOT_WRITABLE,
            ),
            _ref(
                "ConvertedContactId",
                "Contact",
                "ConvertedContact",
                label="Converted Contact ID",
                **_NOT_WRITABLE,
            ),
            _ref(
                "ConvertedOpportunityId",
                "Opportunity",
                "ConvertedOpportunity",
                label="Converted Opportunity ID",
                **_NOT_WRITABLE,
            ),
            _owner(queues=True),
            # Present only while the org defines Lead record types (``Org.access`` hides it otherwise).
            _ref("RecordTypeId", "RecordType", "RecordType", label="Record Type ID"),
        ],
        {"Tasks": ("Task", "WhoId"), "Events": ("Event", "WhoId")},
    ),
    "Opportunity": _obj(
        "Opportunity",
        "Opportunities",
        [
            FieldDef("Name", "string", "Name", 120, required=True, nillable=False),
            _ref("AccountId", "Account", "Account", label="Account ID"),
            _ref("ContactId", "Contact", "Contact", label="Contact ID"),
            FieldDef(
                "StageName",
                "picklist",
                "Stage",
                255,
                picklist=_pv(*OPPORTUNITY_STAGES),
                required=True,
                nillable=False,
            ),
            FieldDef("CloseDate", "date", "Close Date", required=True, nillable=False),
            FieldDef("Amount", "currency", "Amount"),
            FieldDef("IsClosed", "boolean", "Closed", nillable=False, calculated=True, **_NOT_WRITABLE),
            FieldDef("IsWon", "boolean", "Won", nillable=False, calculated=True, **_NOT_WRITABLE),
            _owner(),
        ],
        {"OpportunityContactRoles": ("OpportunityContactRole", "OpportunityId")},
    ),
    "OpportunityContactRole": _obj(
        "OpportunityContactRole",
        "Opportunity Contact Roles",
        [
            _ref(
                "OpportunityId",
                "Opportunity",
                "Opportunity",
                label="Opportunity ID",
                required=True,
                nillable=False,
            ),
            _ref("ContactId", "Contact", "Contact", label="Contact ID", required=True, nillable=False),
            FieldDef(
                "Role", "picklist", "Role", 40, picklist=_pv("Decision Maker", "Economic Buyer", "Influencer")
            ),
            FieldDef("IsPrimary", "boolean", "Primary", nillable=False),
        ],
    ),
    "Task": _obj(
        "Task",
        "Tasks",
        [
            *_activity_fields(),
            FieldDef("Status", "picklist", "Status", 40, picklist=TASK_STATUS, required=True, nillable=False),
            FieldDef(
                "TaskSubtype",
                "picklist",
                "Task Subtype",
                40,
                picklist=TASK_SUBTYPE,
                restricted=True,
                updateable=False,
            ),
            FieldDef("ActivityDate", "date", "Due Date Only"),
            FieldDef("IsClosed", "boolean", "Closed", nillable=False, calculated=True, **_NOT_WRITABLE),
            FieldDef("CompletedDateTime", "datetime", "Completed Date/Time", **_NOT_WRITABLE),
            _owner(),
        ],
    ),
    "Event": _obj(
        "Event",
        "Events",
        [
            *_activity_fields(),
            FieldDef("StartDateTime", "datetime", "Start Date Time", required=True, nillable=False),
            FieldDef("EndDateTime", "datetime", "End Date Time"),
            FieldDef("DurationInMinutes", "int", "Duration"),
            _owner(),
        ],
    ),
}

# Fields kept in a value -> ids index (lookups the worker filters on with = / IN).
INDEXED_FIELDS: dict[str, tuple[str, ...]] = {
    "Lead": ("ConvertedContactId", "ConvertedAccountId", "HubSpot_Contact_ID__c", "Email", "LastName"),
    "Contact": ("AccountId", "HubSpot_Contact_ID__c", "Email", "LastName"),
    "Opportunity": ("AccountId", "ContactId"),
    "OpportunityContactRole": ("ContactId", "OpportunityId"),
    "Task": ("WhoId",),
    "Event": ("WhoId",),
    "Account": ("Name",),
    "User": ("Username",),
}


READ_ONLY_OBJECTS = frozenset({"Organization", "RecordType"})  # not createable/updateable over the API
COMPOUND_PARTS = {"FirstName": "Name", "LastName": "Name", "Salutation": "Name"}
FEED_OBJECTS = frozenset({"Lead", "Contact", "Account", "Opportunity", "User", "Group"})


def describe_field(f: FieldDef, obj_name: str = "") -> dict[str, Any]:
    """One entry of describe ``fields``, with every key a real describe carries (the key set of a
    real field describe, e.g. one kept in a public repository's fixture: aggregatable …
    writeRequiresMasterRead). Values a sandbox field cannot have (formulas, masks, help text) are
    null/false, as on a plain standard field."""
    numeric = f.type in {"currency", "double", "percent"}
    return {
        "aggregatable": f.type not in {"textarea"},
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": f.length * 3,
        "calculated": f.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": COMPOUND_PARTS.get(f.name) if obj_name in {"Lead", "Contact", "User"} else None,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.system or f.name in {"OwnerId", "IsConverted", "Status"},
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if f.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": f.external_id,
        "extraTypeInfo": "plaintextarea" if f.type == "textarea" else None,
        "filterable": True,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": f.type not in {"datetime", "currency", "double"},
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": f.name == "Id" or f.external_id or f.type == "email",
        "inlineHelpText": None,
        "label": f.display_label,
        "length": f.length
        if f.type not in {"boolean", "date", "datetime", "currency", "double", "int"}
        else 0,
        "mask": None,
        "maskType": None,
        "name": f.name,
        "nameField": f.name == "Name",
        "namePointing": len(f.reference_to) > 1,
        "nillable": f.nillable,
        "permissionable": f.nillable and not f.system and not f.calculated,
        "picklistValues": [
            {
                "active": v.active,
                "defaultValue": v.default,
                "label": v.value,
                "validFor": None,
                "value": v.value,
            }
            for v in f.picklist
        ],
        "polymorphicForeignKey": len(f.reference_to) > 1,
        "precision": 18 if numeric else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": f.restricted,
        "scale": 2 if numeric else 0,
        "searchPrefilterable": False,
        "soapType": SOAP_TYPES.get(f.type, "xsd:string"),
        "sortable": f.type != "textarea",
        "type": f.type,
        "unique": False,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def describe_object(
    obj: ObjectDef,
    version: str,
    access: Callable[[str], str] | None = None,
    record_types: list[dict[str, Any]] | None = None,
    instance_url: str = "",
) -> dict[str, Any]:
    """``access(field) -> edit|read|none`` applies the caller's field-level security: hidden fields
    are left out, read-only ones are neither createable nor updateable (``Org.access`` for sources)."""
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    fields = []
    for f in obj.fields.values():
        level = access(f.name) if access is not None else "edit"
        if level == "none":
            continue
        described = describe_field(f, obj.name)
        if level == "read":
            described["createable"] = described["updateable"] = False
        fields.append(described)
    writable = obj.name not in READ_ONLY_OBJECTS
    ui = instance_url.rstrip("/")
    return {
        "actionOverrides": [],
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "childRelationships": [
            {
                "cascadeDelete": False,
                "childSObject": child,
                "deprecatedAndHidden": False,
                "field": fk,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": name,
                "restrictedDelete": False,
            }
            for name, (child, fk) in obj.child_relationships.items()
        ],
        "compactLayoutable": writable,
        "createable": writable,
        "custom": False,
        "customSetting": False,
        "deepCloneable": False,
        "defaultImplementation": None,
        "deletable": writable,
        "deprecatedAndHidden": False,
        "extendedBy": None,
        "extendsInterfaces": None,
        "feedEnabled": obj.name in FEED_OBJECTS,
        "fields": fields,
        "hasSubtypes": False,
        "implementedBy": None,
        "implementsInterfaces": None,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.name,
        "labelPlural": obj.label_plural,
        "layoutable": writable,
        "listviewable": None,
        "lookupLayoutable": None,
        "mergeable": obj.name in MERGEABLE_OBJECTS,
        "mruEnabled": writable,
        "name": obj.name,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "queryable": True,
        "recordTypeInfos": record_types if record_types is not None else [],
        "replicateable": writable,
        "retrieveable": True,
        "searchLayoutable": writable,
        "searchable": writable,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [
            {"label": f"All {obj.label_plural.lower()}", "name": "everything"},
            {"label": f"My {obj.label_plural.lower()}", "name": "mine"},
        ],
        "triggerable": writable,
        "undeletable": writable,
        "updateable": writable,
        "urls": {
            "compactLayouts": f"{base}/describe/compactLayouts",
            "rowTemplate": f"{base}/{{ID}}",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "uiDetailTemplate": f"{ui}/{{ID}}",
            "uiEditTemplate": f"{ui}/{{ID}}/e",
            "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
            "listviews": f"{base}/listviews",
            "describe": f"{base}/describe",
            "uiNewRecord": f"{ui}/{obj.key_prefix}/e",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            "sobject": base,
        },
    }


GLOBAL_ENTRY_KEYS = (
    "activateable", "associateEntityType", "associateParentEntity", "createable", "custom", "customSetting",
    "deepCloneable", "deletable", "deprecatedAndHidden", "feedEnabled", "hasSubtypes", "isInterface",
    "isSubtype", "keyPrefix", "label", "labelPlural", "layoutable", "mergeable", "mruEnabled", "name",
    "queryable", "replicateable", "retrieveable", "searchable", "triggerable", "undeletable", "updateable",
)  # fmt: skip


def describe_global_entry(obj: ObjectDef, version: str) -> dict[str, Any]:
    """One ``sobjects`` entry of the global describe: the object-level flags, and ``urls`` with
    rowTemplate, defaultValues, describe and sobject (api_rest resources_describeGlobal.htm example)."""
    full = describe_object(obj, version)
    entry = {k: full[k] for k in GLOBAL_ENTRY_KEYS}
    entry["urls"] = {k: full["urls"][k] for k in ("rowTemplate", "defaultValues", "describe", "sobject")}
    return entry
