"""Table-driven journeys over both shipped maps, linear and not.

Each case is a person's situation in each CRM's own vocabulary (what the APIs return), the base the
last sync left, and the related facts; it names the stage and status the plan must arrive at, what
it must write to each side, and what it must skip. Every case is then applied and planned again:
a second plan must write nothing (no echo, idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.unit.journeys import (
    CONTACT_ID,
    base_of,
    facts,
    hs_contact,
    hubspot_reading,
    replan,
    sf_lead,
    shipped,
    written,
)
from worker.plan import Plan, plan
from worker.records import HubSpotRecord, SalesforceRecord


@dataclass
class Journey:
    name: str
    map: str
    sf: SalesforceRecord | None
    hs: HubSpotRecord | None
    base: tuple[str | None, str | None] | dict[str, Any] | None  # (stage, status) or full values
    stage: str | None
    status: str | None
    sf_writes: dict[str, Any] = field(default_factory=dict)
    hs_writes: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    conflicts: set[str] = field(default_factory=set)
    rules: set[str] = field(default_factory=set)
    hs_steps: int | None = None
    no_sf_writes: bool = False
    no_hs_writes: bool = False
    sf_create: bool = False
    hs_create: bool = False
    base_only: str | None = None  # the base knows only this side: the other record is newly seen


D, S = "default", "sirius-waterfall"
DC = "default+conflict_policy"  # policies.first_sight.stage: conflict_policy
OPP_OPEN = {"id": "006A", "is_closed": False, "is_won": False}
OPP_WON = {"id": "006A", "is_closed": True, "is_won": True}
OPP_LOST = {"id": "006A", "is_closed": True, "is_won": False}

JOURNEYS = [
    # --- default map: the framework, step by step ---------------------------------------------
    Journey(
        "lead created in Salesforce gets Lead/Open and a HubSpot contact",
        D,
        sf_lead(),
        None,
        None,
        "lead",
        "open",
        sf_writes={"Lead_Stage__c": "Lead", "Status": "Open"},
        hs_writes={
            "lifecyclestage": "lead",
            "hs_lead_status": "OPEN",
            "salesforce_lead_id": "00Q5e00000AbCdEEAV",
        },
        rules={"lead_created"},
        hs_create=True,
    ),
    Journey(
        "lead created with a stage keeps it (defaults only fill blanks)",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Working"),
        None,
        None,
        "mql",
        "working",
        hs_writes={"lifecyclestage": "marketingqualifiedlead", "hs_lead_status": "IN_PROGRESS"},
        no_sf_writes=True,
        hs_create=True,
    ),
    Journey(
        "HubSpot subscriber is not created in Salesforce before MQL",
        D,
        None,
        hs_contact(stage="subscriber"),
        None,
        "subscriber",
        "open",
        hs_writes={"hs_lead_status": "OPEN"},
        skipped={"not_included"},
    ),
    Journey(
        "HubSpot MQL is created in Salesforce as a Lead",
        D,
        None,
        hs_contact(stage="marketingqualifiedlead"),
        None,
        "mql",
        "open",
        sf_writes={
            "Lead_Stage__c": "Marketing Qualified Lead",
            "Status": "Open",
            "HubSpot_Contact_ID__c": "5101",
        },
        sf_create=True,
    ),
    Journey(
        "HubSpot contact without last name gets Salesforce's required filler on create",
        D,
        None,
        hs_contact(stage="marketingqualifiedlead", lastname=None, company=None),
        None,
        "mql",
        "open",
        sf_writes={"LastName": "[not provided]", "Company": "[not provided]"},
        sf_create=True,
    ),
    Journey(
        "marketing qualifies in HubSpot: MQL flows to Salesforce",
        D,
        sf_lead(stage="Lead", status="Open"),
        hs_contact(stage="marketingqualifiedlead", status="OPEN"),
        ("lead", "open"),
        "mql",
        "open",
        sf_writes={"Lead_Stage__c": "Marketing Qualified Lead"},
        no_hs_writes=True,
    ),
    Journey(
        "sales qualifies in Salesforce: Qualified sets SQL on both sides",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Qualified"),
        hs_contact(stage="marketingqualifiedlead", status="OPEN"),
        ("mql", "open"),
        "sql",
        "qualified",
        sf_writes={"Lead_Stage__c": "Sales Qualified Lead"},
        hs_writes={"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN_DEAL"},
        rules={"implied_by_status_qualified"},
    ),
    Journey(
        "SQL set in HubSpot sets Status Qualified in Salesforce",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Working"),
        hs_contact(stage="salesqualifiedlead", status="IN_PROGRESS"),
        ("mql", "working"),
        "sql",
        "qualified",
        sf_writes={"Lead_Stage__c": "Sales Qualified Lead", "Status": "Qualified"},
        hs_writes={"hs_lead_status": "OPEN_DEAL"},
        rules={"sql_sets_qualified"},
    ),
    Journey(
        "opportunity created moves SQL to Opportunity",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Qualified"),
        hs_contact(stage="salesqualifiedlead", status="OPEN_DEAL"),
        ("sql", "qualified"),
        "opportunity",
        "qualified",
        facts={"opportunities": [OPP_OPEN]},
        sf_writes={"Lead_Stage__c": "Opportunity"},
        hs_writes={"lifecyclestage": "opportunity"},
        rules={"opportunity_created"},
    ),
    Journey(
        "closed-won makes a Customer",
        D,
        sf_lead(stage="Opportunity", status="Qualified"),
        hs_contact(stage="opportunity", status="OPEN_DEAL"),
        {"stage": "opportunity", "status": "qualified"},
        "customer",
        "qualified",
        facts={"opportunities": [OPP_WON]},
        sf_writes={"Lead_Stage__c": "Customer"},
        hs_writes={"lifecyclestage": "customer"},
        rules={"opportunity_won"},
    ),
    Journey(
        "opportunity created and won between two syncs ends as Customer",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Qualified"),
        hs_contact(stage="salesqualifiedlead", status="OPEN_DEAL"),
        ("sql", "qualified"),
        "customer",
        "qualified",
        facts={"opportunities": [OPP_WON]},
        rules={"opportunity_created", "opportunity_won"},
        hs_writes={"lifecyclestage": "customer"},
    ),
    Journey(
        "closed-lost with nothing open recycles Opportunity to Lead (clear-then-set in HubSpot)",
        D,
        sf_lead(stage="Opportunity", status="Qualified"),
        hs_contact(stage="opportunity", status="OPEN_DEAL"),
        ("opportunity", "qualified"),
        "lead",
        "qualified",
        facts={"opportunities": [OPP_LOST]},
        sf_writes={"Lead_Stage__c": "Lead"},
        hs_writes={"lifecyclestage": "lead"},
        hs_steps=2,
        rules={"opportunity_lost"},
    ),
    Journey(
        "closed-lost while another opportunity is open stays Opportunity",
        D,
        sf_lead(stage="Opportunity", status="Qualified"),
        hs_contact(stage="opportunity", status="OPEN_DEAL"),
        ("opportunity", "qualified"),
        "opportunity",
        "qualified",
        facts={"opportunities": [OPP_LOST, {"id": "006B", "is_closed": False, "is_won": False}]},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "upsell lost: a Customer stays a Customer",
        D,
        sf_lead(stage="Customer", status="Qualified"),
        hs_contact(stage="customer", status="OPEN_DEAL"),
        ("customer", "qualified"),
        "customer",
        "qualified",
        facts={"opportunities": [{"id": "006U", "is_closed": True, "is_won": False}]},
        skipped={"upsell_policy"},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "upsell created: an open opportunity does not move a Customer back",
        D,
        sf_lead(stage="Customer", status="Qualified"),
        hs_contact(stage="customer", status="OPEN_DEAL"),
        ("customer", "qualified"),
        "customer",
        "qualified",
        facts={"opportunities": [OPP_OPEN]},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "upsell won: a Customer stays a Customer, nothing to write",
        D,
        sf_lead(stage="Customer", status="Qualified"),
        hs_contact(stage="customer", status="OPEN_DEAL"),
        ("customer", "qualified"),
        "customer",
        "qualified",
        facts={"opportunities": [OPP_WON]},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "new lead at a customer account is a Customer",
        D,
        sf_lead(stage="Lead", status="Open"),
        None,
        None,
        "customer",
        "open",
        facts={"account_is_customer": True},  # new_record is derived: no base, a new person
        sf_writes={"Lead_Stage__c": "Customer"},
        hs_writes={"lifecyclestage": "customer"},
        rules={"new_lead_at_customer_account"},
        hs_create=True,
    ),
    Journey(
        "completed call moves Open to Contacted",
        D,
        sf_lead(stage="Lead", status="Open"),
        hs_contact(stage="lead", status="OPEN"),
        ("lead", "open"),
        "lead",
        "contacted",
        facts={"completed_calls": ["00T1"]},
        sf_writes={"Status": "Contacted"},
        hs_writes={"hs_lead_status": "ATTEMPTED_TO_CONTACT"},
        rules={"call_completed"},
    ),
    Journey(
        "completed call does not demote Working",
        D,
        sf_lead(stage="Lead", status="Working"),
        hs_contact(stage="lead", status="IN_PROGRESS"),
        ("lead", "working"),
        "lead",
        "working",
        facts={"completed_calls": ["00T1"]},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "meeting booked sets Meeting Set",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Contacted"),
        hs_contact(stage="marketingqualifiedlead", status="ATTEMPTED_TO_CONTACT"),
        ("mql", "contacted"),
        "mql",
        "meeting_set",
        facts={"meetings": ["00U1"]},
        sf_writes={"Status": "Meeting Set"},
        hs_writes={"hs_lead_status": "CONNECTED"},
        rules={"meeting_booked"},
    ),
    Journey(
        "disqualify in Salesforce with a reason: Unqualified sets Disqualified",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Unqualified", Unqualified_Reason__c="Not a Fit"),
        hs_contact(stage="salesqualifiedlead", status="OPEN_DEAL"),
        ("sql", "qualified"),
        "disqualified",
        "unqualified",
        sf_writes={"Lead_Stage__c": "Disqualified"},
        hs_writes={
            "lifecyclestage": "other",
            "hs_lead_status": "UNQUALIFIED",
            "unqualified_reason": "Not a Fit",
        },
        rules={"unqualified_disqualifies"},
    ),
    Journey(
        "Unqualified set in HubSpot without a reason is blocked (no default in the map)",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Qualified"),
        hs_contact(stage="salesqualifiedlead", status="UNQUALIFIED"),
        ("sql", "qualified"),
        "sql",
        "qualified",
        skipped={"blocked"},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "Disqualified stage set in HubSpot with a reason sets Unqualified in Salesforce",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Working"),
        hs_contact(stage="other", status="IN_PROGRESS", unqualified_reason="Not Interested"),
        ("mql", "working"),
        "disqualified",
        "unqualified",
        sf_writes={
            "Lead_Stage__c": "Disqualified",
            "Status": "Unqualified",
            "Unqualified_Reason__c": "Not Interested",
        },
        rules={"disqualified_unqualifies"},
    ),
    Journey(
        "recycle: sales rejects an SQL back to Lead in Salesforce (allowed; HubSpot clear-then-set)",
        D,
        sf_lead(stage="Lead", status="Working"),
        hs_contact(stage="salesqualifiedlead", status="IN_PROGRESS"),
        ("sql", "working"),
        "lead",
        "working",
        hs_writes={"lifecyclestage": "lead"},
        hs_steps=2,
    ),
    Journey(
        "illegal backward move in Salesforce (Customer to Lead) is held, not propagated, not reverted",
        D,
        sf_lead(stage="Lead", status="Qualified"),
        hs_contact(stage="customer", status="OPEN_DEAL"),
        ("customer", "qualified"),
        "customer",
        "qualified",
        skipped={"backward_move"},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "re-entry: a churned customer comes back as MQL",
        D,
        sf_lead(stage="Churned Customer", status="Working"),
        hs_contact(stage="marketingqualifiedlead", status="IN_PROGRESS"),
        ("churned", "working"),
        "mql",
        "working",
        sf_writes={"Lead_Stage__c": "Marketing Qualified Lead"},
    ),
    Journey(
        "churn: a customer's account churns",
        D,
        sf_lead(stage="Customer", status="Qualified"),
        hs_contact(stage="customer", status="OPEN_DEAL"),
        ("customer", "qualified"),
        "churned",
        "qualified",
        facts={"account_churned": True},
        sf_writes={"Lead_Stage__c": "Churned Customer"},
        hs_writes={"lifecyclestage": "other"},
        rules={"account_churned"},
    ),
    Journey(
        "conversion: the lead is read-only, writes go to its Contact",
        D,
        sf_lead(
            stage="Sales Qualified Lead", status="Converted", IsConverted=True, ConvertedContactId=CONTACT_ID
        ),
        hs_contact(stage="salesqualifiedlead", status="OPEN_DEAL", jobtitle="CEO"),
        ("sql", "qualified"),
        "opportunity",
        "converted",
        facts={"opportunities": [OPP_OPEN]},
        sf_writes={"Lead_Stage__c": "Opportunity", "Title": "CEO"},
        hs_writes={"lifecyclestage": "opportunity", "salesforce_contact_id": CONTACT_ID},
        rules={"opportunity_created"},
    ),
    Journey(
        "conflict on stage: HubSpot (marketing) wins",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Working"),
        hs_contact(stage="opportunity", status="IN_PROGRESS"),
        ("mql", "working"),
        "opportunity",
        "working",
        conflicts={"stage"},
        sf_writes={"Lead_Stage__c": "Opportunity"},
    ),
    Journey(
        "conflict on status: Salesforce (sales) wins",
        D,
        sf_lead(stage="Lead", status="Working"),
        hs_contact(stage="lead", status="CONNECTED"),
        ("lead", "open"),
        "lead",
        "working",
        conflicts={"status"},
        hs_writes={"hs_lead_status": "IN_PROGRESS"},
    ),
    Journey(
        "conflict on phone: the newest edit wins (Salesforce edited later)",
        D,
        sf_lead(stage="Lead", status="Open", Phone="111", modified="2026-11-20T10:00:00.000+0000"),
        hs_contact(stage="lead", status="OPEN", phone="222", modified="2026-11-20T09:00:00.000Z"),
        {"stage": "lead", "status": "open", "phone": "000"},
        "lead",
        "open",
        conflicts={"phone"},
        hs_writes={"phone": "111"},
    ),
    Journey(
        "conflict on phone: the newest edit wins (HubSpot edited later)",
        D,
        sf_lead(stage="Lead", status="Open", Phone="111", modified="2026-11-20T08:00:00.000+0000"),
        hs_contact(stage="lead", status="OPEN", phone="222", modified="2026-11-20T09:00:00.000Z"),
        {"stage": "lead", "status": "open", "phone": "000"},
        "lead",
        "open",
        conflicts={"phone"},
        sf_writes={"Phone": "222"},
    ),
    Journey(
        "stage set in HubSpot contradicts status set in Salesforce: both edits stand, reported",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Unqualified", Unqualified_Reason__c="Not Ready"),
        hs_contact(stage="salesqualifiedlead", status="IN_PROGRESS"),
        ("mql", "working"),
        "sql",
        "unqualified",
        skipped={"contradiction"},
        sf_writes={"Lead_Stage__c": "Sales Qualified Lead"},
        hs_writes={"hs_lead_status": "UNQUALIFIED"},
    ),
    Journey(
        "unknown Salesforce status is reported and left alone, never a crash",
        D,
        sf_lead(stage="Lead", status="Banana"),
        hs_contact(stage="lead", status="OPEN"),
        ("lead", "open"),
        "lead",
        "open",
        skipped={"unknown_value"},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "unknown HubSpot lifecycle stage is reported; the other side still syncs",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Open"),
        hs_contact(stage="1234567", status="OPEN"),
        ("lead", "open"),
        "mql",
        "open",
        skipped={"unknown_value"},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "missing values on both sides are filled from the base",
        D,
        sf_lead(stage=None, status="Working"),
        hs_contact(stage="lead", status=None),
        ("lead", "working"),
        "lead",
        "working",
        sf_writes={"Lead_Stage__c": "Lead"},
        hs_writes={"hs_lead_status": "IN_PROGRESS"},
    ),
    Journey(
        "company: Salesforce's value is preferred unless blank",
        D,
        sf_lead(stage="Lead", status="Open", Company="New Co"),
        hs_contact(stage="lead", status="OPEN", company="HS Co"),
        ("lead", "open"),
        "lead",
        "open",
        hs_writes={"company": "New Co"},
        no_sf_writes=True,
    ),
    Journey(
        "owner ids are not synced (sync: none)",
        D,
        sf_lead(stage="Lead", status="Open", OwnerId="005A"),
        hs_contact(stage="lead", status="OPEN", hubspot_owner_id="77"),
        ("lead", "open"),
        "lead",
        "open",
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "email changed in HubSpot only reaches Salesforce",
        D,
        sf_lead(stage="Lead", status="Open"),
        hs_contact(stage="lead", status="OPEN", email="ada@new.example"),
        ("lead", "open"),
        "lead",
        "open",
        sf_writes={"Email": "ada@new.example"},
        no_hs_writes=True,
    ),
    # --- the SiriusDecisions waterfall ------------------------------------------------------------
    Journey(
        "waterfall: new lead is MAL / Prospect",
        S,
        sf_lead(),
        None,
        None,
        "mal",
        "prospect",
        sf_writes={"Lead_Stage__c": "MAL", "Status": "Prospect"},
        hs_writes={"lifecyclestage": "lead", "hs_lead_status": "NEW"},
        hs_create=True,
    ),
    Journey(
        "waterfall: SAL in Salesforce shows as salesqualifiedlead in HubSpot, and does not read back as SQL",
        S,
        sf_lead(stage="SAL", status="Working"),
        hs_contact(stage="marketingqualifiedlead", status="IN_PROGRESS"),
        ("mql", "working"),
        "sal",
        "working",
        hs_writes={"lifecyclestage": "salesqualifiedlead"},
    ),
    Journey(
        "waterfall: meeting booked sets Meeting Set, which implies TSM",
        S,
        sf_lead(stage="SQL", status="Working"),
        hs_contact(stage="salesqualifiedlead", status="IN_PROGRESS"),
        ("sql", "working"),
        "tsm",
        "meeting_set",
        facts={"meetings": ["00U1"]},
        sf_writes={"Lead_Stage__c": "TSM", "Status": "Meeting Set"},
        hs_writes={"hs_lead_status": "CONNECTED"},
        rules={"meeting_booked", "implied_by_status_meeting_set"},
    ),
    Journey(
        "waterfall: opportunity created makes SAO",
        S,
        sf_lead(stage="TSM", status="Meeting Set"),
        hs_contact(stage="salesqualifiedlead", status="CONNECTED"),
        ("tsm", "meeting_set"),
        "sao",
        "opportunity_created",
        facts={"opportunities": [OPP_OPEN]},
        sf_writes={"Lead_Stage__c": "SAO", "Status": "Opportunity Created"},
        hs_writes={"lifecyclestage": "opportunity", "hs_lead_status": "OPEN_DEAL"},
    ),
    Journey(
        "waterfall: lost opportunity recycles SAO to SRL (HubSpot clear-then-set to lead)",
        S,
        sf_lead(stage="SAO", status="Opportunity Created"),
        hs_contact(stage="opportunity", status="OPEN_DEAL"),
        ("sao", "opportunity_created"),
        "srl",
        "opportunity_lost",
        facts={"opportunities": [OPP_LOST]},
        sf_writes={"Lead_Stage__c": "SRL", "Status": "Opportunity Lost"},
        hs_writes={"lifecyclestage": "lead", "hs_lead_status": "OPPORTUNITY_LOST"},
        hs_steps=2,
    ),
    Journey(
        "waterfall: SRL re-enters as MQL from HubSpot",
        S,
        sf_lead(stage="SRL", status="Opportunity Lost"),
        hs_contact(stage="marketingqualifiedlead", status="OPPORTUNITY_LOST"),
        ("srl", "opportunity_lost"),
        "mql",
        "opportunity_lost",
        sf_writes={"Lead_Stage__c": "MQL"},
    ),
    Journey(
        "waterfall: marketing recycles an MQL (Nurture implies MRL)",
        S,
        sf_lead(stage="MQL", status="Nurture"),
        hs_contact(stage="marketingqualifiedlead", status="IN_PROGRESS"),
        ("mql", "working"),
        "mrl",
        "nurture",
        sf_writes={"Lead_Stage__c": "MRL"},
        hs_writes={"lifecyclestage": "lead", "hs_lead_status": "BAD_TIMING"},
        hs_steps=2,
    ),
    Journey(
        "waterfall: Not a Target gets the map's default reason and Disqualified",
        S,
        sf_lead(stage="SAL", status="Working"),
        hs_contact(stage="salesqualifiedlead", status="NOT_A_TARGET"),
        ("sal", "working"),
        "disqualified",
        "not_a_target",
        sf_writes={
            "Status": "Not a Target",
            "Unqualified_Reason__c": "Not a Fit",
            "Lead_Stage__c": "Disqualified",
        },
        hs_writes={"lifecyclestage": "other", "unqualified_reason": "Not a Fit"},
    ),
    Journey(
        "waterfall: closed-won makes Customer through the Customer status",
        S,
        sf_lead(stage="LSO", status="Opportunity Created"),
        hs_contact(stage="opportunity", status="OPEN_DEAL"),
        ("lso", "opportunity_created"),
        "customer",
        "customer",
        facts={"opportunities": [OPP_WON]},
        sf_writes={"Lead_Stage__c": "Customer", "Status": "Customer"},
        hs_writes={"lifecyclestage": "customer", "hs_lead_status": "CUSTOMER"},
    ),
    Journey(
        "waterfall: upsell lost leaves a Customer alone",
        S,
        sf_lead(stage="Customer", status="Customer"),
        hs_contact(stage="customer", status="CUSTOMER"),
        ("customer", "customer"),
        "customer",
        "customer",
        facts={"opportunities": [OPP_LOST]},
        skipped={"upsell_policy"},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "waterfall: churn makes Inactive Customer / Churned",
        S,
        sf_lead(stage="Customer", status="Customer"),
        hs_contact(stage="customer", status="CUSTOMER"),
        ("customer", "customer"),
        "churned",
        "inactive_customer",
        facts={"account_churned": True},
        sf_writes={"Lead_Stage__c": "Churned Customer", "Status": "Inactive Customer"},
        hs_writes={"lifecyclestage": "other", "hs_lead_status": "INACTIVE_CUSTOMER"},
    ),
    Journey(
        "waterfall: new lead at a customer account is Customer / Customer",
        S,
        None,
        hs_contact(stage="lead", status=None),
        None,
        "customer",
        "customer",
        facts={"account_is_customer": True},
        sf_create=True,
        sf_writes={"Lead_Stage__c": "Customer", "Status": "Customer"},
    ),
    Journey(
        "waterfall: illegal backward move from HubSpot (SAO to MQL) is held",
        S,
        sf_lead(stage="SAO", status="Opportunity Created"),
        hs_contact(stage="marketingqualifiedlead", status="OPEN_DEAL"),
        ("sao", "opportunity_created"),
        "sao",
        "opportunity_created",
        skipped={"backward_move"},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "waterfall: disqualified from any stage, reason defaulted",
        S,
        sf_lead(stage="LSO", status="Disqualified"),
        hs_contact(stage="opportunity", status="OPEN_DEAL"),
        ("lso", "opportunity_created"),
        "disqualified",
        "disqualified",
        sf_writes={"Lead_Stage__c": "Disqualified", "Unqualified_Reason__c": "Invalid Data"},
        hs_writes={"lifecyclestage": "other", "hs_lead_status": "UNQUALIFIED"},
    ),
]


REGRESSIONS = [
    # Found in review: each of these once rewrote correct data or lost an edit.
    Journey(
        "first sight: a shared HubSpot value agrees with Salesforce's finer stage (MRL stays MRL)",
        S,
        sf_lead(stage="MRL", status="Nurture"),
        hs_contact(stage="lead", status="BAD_TIMING"),
        None,
        "mrl",
        "nurture",
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "first sight: Churned Customer and HubSpot 'other' agree (not read as Disqualified)",
        D,
        sf_lead(stage="Churned Customer", status="Working"),
        hs_contact(stage="other", status="IN_PROGRESS"),
        None,
        "churned",
        "working",
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "TSM in Salesforce and salesqualifiedlead in HubSpot in one round is TSM, not a conflict",
        S,
        sf_lead(stage="TSM", status="Working"),
        hs_contact(stage="salesqualifiedlead", status="IN_PROGRESS"),
        ("mql", "working"),
        "tsm",
        "working",
        no_sf_writes=True,
    ),
    Journey(
        "HubSpot 'lead' from MQL is a legitimate recycle to MRL, not a refused move to MAL",
        S,
        sf_lead(stage="MQL", status="Working"),
        hs_contact(stage="lead", status="IN_PROGRESS"),
        ("mql", "working"),
        "mrl",
        "working",
        sf_writes={"Lead_Stage__c": "MRL"},
    ),
    Journey(
        "qualified and converted between two syncs: SQL still reaches HubSpot",
        D,
        sf_lead(
            stage="Sales Qualified Lead", status="Converted", IsConverted=True, ConvertedContactId=CONTACT_ID
        ),
        hs_contact(stage="marketingqualifiedlead", status="IN_PROGRESS"),
        ("mql", "working"),
        "sql",
        "converted",
        hs_writes={"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN_DEAL"},
    ),
    Journey(
        "first sight of an Unqualified lead without a reason: Salesforce holds it, nothing reopens",
        D,
        sf_lead(stage="Disqualified", status="Unqualified"),
        hs_contact(stage="other", status="UNQUALIFIED"),
        None,
        "disqualified",
        "unqualified",
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "backfill saying new_record false: an existing lead at a customer account is not moved to Customer",
        S,
        sf_lead(stage="SQL", status="Working"),
        hs_contact(stage="salesqualifiedlead", status="IN_PROGRESS"),
        None,
        "sql",
        "working",
        facts={"account_is_customer": True, "new_record": False},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "backfill: a two-year-old lost opportunity does not recycle a re-engaged MQL",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Working"),
        hs_contact(stage="marketingqualifiedlead", status="IN_PROGRESS"),
        None,
        "mql",
        "working",
        facts={"opportunities": [OPP_LOST]},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "conflict whose winner is a refused move: the other side's legitimate edit stands",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Working"),
        hs_contact(stage="subscriber", status="IN_PROGRESS"),
        ("mql", "working"),
        "sql",
        "qualified",
        skipped={"backward_move"},
        conflicts={"stage"},
        hs_writes={"hs_lead_status": "OPEN_DEAL"},
    ),
]
JOURNEYS += REGRESSIONS


FIRST_SIGHT = [
    # Issue 13. No base: nothing is an edit; the person is where the evidence puts them furthest
    # along (policies.first_sight). A newly created or linked record never pulls a known person back.
    Journey(
        "first sight: a Salesforce Customer beside a HubSpot contact still at lead stays Customer",
        D,
        sf_lead(stage="Customer", status="Qualified"),
        hs_contact(stage="lead", status=None),
        None,
        "customer",
        "qualified",
        hs_writes={"lifecyclestage": "customer", "hs_lead_status": "OPEN_DEAL"},
        no_sf_writes=True,
        conflicts={"stage"},
    ),
    Journey(
        "first sight: a Customer with a won opportunity at a customer account stays Customer, facts kept",
        D,
        sf_lead(stage="Customer", status="Qualified"),
        hs_contact(stage="lead", status=None),
        None,
        "customer",
        "qualified",
        facts={"opportunities": [OPP_WON], "account_is_customer": True},
        hs_writes={"lifecyclestage": "customer"},
        no_sf_writes=True,
        conflicts={"stage"},
    ),
    Journey(
        "waterfall first sight: a Customer beside a HubSpot lead stays Customer / Customer",
        S,
        sf_lead(stage="Customer", status="Customer"),
        hs_contact(stage="lead", status="NEW"),
        None,
        "customer",
        "customer",
        hs_writes={"lifecyclestage": "customer", "hs_lead_status": "CUSTOMER"},
        no_sf_writes=True,
        conflicts={"stage", "status"},
    ),
    Journey(
        "first sight: a Churned Customer beside a HubSpot customer stays Churned",
        D,
        sf_lead(stage="Churned Customer", status="Qualified"),
        hs_contact(stage="customer", status="OPEN_DEAL"),
        None,
        "churned",
        "qualified",
        facts={"account_churned": True, "opportunities": [OPP_WON]},
        hs_writes={"lifecyclestage": "other"},
        no_sf_writes=True,
        conflicts={"stage"},
    ),
    Journey(
        "first sight: a churned account found at first sight churns its Customer (the fact is state)",
        D,
        sf_lead(stage="Customer", status="Qualified"),
        hs_contact(stage="customer", status="OPEN_DEAL"),
        None,
        "churned",
        "qualified",
        facts={"account_churned": True, "opportunities": [OPP_WON]},
        sf_writes={"Lead_Stage__c": "Churned Customer"},
        hs_writes={"lifecyclestage": "other"},
        rules={"account_churned"},
    ),
    Journey(
        "waterfall first sight: Churned / Inactive Customer beside a HubSpot customer stays churned",
        S,
        sf_lead(stage="Churned Customer", status="Inactive Customer"),
        hs_contact(stage="customer", status="CUSTOMER"),
        None,
        "churned",
        "inactive_customer",
        facts={"account_churned": True},
        hs_writes={"lifecyclestage": "other", "hs_lead_status": "INACTIVE_CUSTOMER"},
        no_sf_writes=True,
        conflicts={"stage", "status"},
    ),
    Journey(
        "first sight: Opportunity in Salesforce beside SQL in HubSpot stays Opportunity",
        D,
        sf_lead(stage="Opportunity", status="Qualified"),
        hs_contact(stage="salesqualifiedlead", status="OPEN_DEAL"),
        None,
        "opportunity",
        "qualified",
        hs_writes={"lifecyclestage": "opportunity"},
        no_sf_writes=True,
        conflicts={"stage"},
    ),
    Journey(
        "first sight: Opportunity in HubSpot beside SQL in Salesforce is Opportunity on both",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Qualified"),
        hs_contact(stage="opportunity", status="OPEN_DEAL"),
        None,
        "opportunity",
        "qualified",
        sf_writes={"Lead_Stage__c": "Opportunity"},
        no_hs_writes=True,
        conflicts={"stage"},
    ),
    Journey(
        "waterfall first sight: SAO / Opportunity Created beside a HubSpot SQL stays SAO",
        S,
        sf_lead(stage="SAO", status="Opportunity Created"),
        hs_contact(stage="salesqualifiedlead", status="OPEN_DEAL"),
        None,
        "sao",
        "opportunity_created",
        hs_writes={"lifecyclestage": "opportunity"},
        no_sf_writes=True,
        conflicts={"stage"},
    ),
    Journey(
        "first sight: SQL / Qualified beside a HubSpot MQL is SQL / Qualified on both",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Qualified"),
        hs_contact(stage="marketingqualifiedlead", status=None),
        None,
        "sql",
        "qualified",
        hs_writes={"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN_DEAL"},
        no_sf_writes=True,
        conflicts={"stage"},
    ),
    Journey(
        "first sight: a Qualified lead at MQL beside an MQL contact is SQL on both (crmsync explain example)",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Qualified"),
        hs_contact(stage="marketingqualifiedlead", status="IN_PROGRESS"),
        None,
        "sql",
        "qualified",
        sf_writes={"Lead_Stage__c": "Sales Qualified Lead"},
        hs_writes={"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN_DEAL"},
        rules={"implied_by_status_qualified"},
        conflicts={"status"},
    ),
    Journey(
        "first sight: a HubSpot status further along than both stages lifts the person (OPEN_DEAL ⇒ SQL)",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Working"),
        hs_contact(stage="marketingqualifiedlead", status="OPEN_DEAL"),
        None,
        "sql",
        "qualified",
        sf_writes={"Lead_Stage__c": "Sales Qualified Lead", "Status": "Qualified"},
        hs_writes={"lifecyclestage": "salesqualifiedlead"},
        rules={"implied_by_status_qualified"},
        conflicts={"status"},
    ),
    Journey(
        "waterfall first sight: SQL beside a HubSpot MQL stays SQL",
        S,
        sf_lead(stage="SQL", status="Working"),
        hs_contact(stage="marketingqualifiedlead", status="IN_PROGRESS"),
        None,
        "sql",
        "working",
        hs_writes={"lifecyclestage": "salesqualifiedlead"},
        no_sf_writes=True,
        conflicts={"stage"},
    ),
    Journey(
        "first sight, both sides agree: nothing to write, nothing skipped, no conflict",
        D,
        sf_lead(stage="Marketing Qualified Lead", status="Working"),
        hs_contact(stage="marketingqualifiedlead", status="IN_PROGRESS"),
        None,
        "mql",
        "working",
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    # --- a record newly created or linked for a person the worker knows ----------------------------
    Journey(
        "form fill: HubSpot creates a contact at lead for a known SQL; the link never demotes the lead",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Qualified"),
        hs_contact(stage="lead", status=None),
        ("sql", "qualified"),
        "sql",
        "qualified",
        hs_writes={"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "OPEN_DEAL"},
        no_sf_writes=True,
        conflicts={"stage"},
        base_only="salesforce",
    ),
    Journey(
        "waterfall form fill: a new HubSpot contact (lead, NEW) for a known TSM / Meeting Set",
        S,
        sf_lead(stage="TSM", status="Meeting Set"),
        hs_contact(stage="lead", status="NEW"),
        ("tsm", "meeting_set"),
        "tsm",
        "meeting_set",
        hs_writes={"lifecyclestage": "salesqualifiedlead", "hs_lead_status": "CONNECTED"},
        no_sf_writes=True,
        conflicts={"stage", "status"},
        base_only="salesforce",
    ),
    Journey(
        "a lead created by a rep (Lead / Open) for a known HubSpot MQL takes the person's MQL / Working",
        D,
        sf_lead(stage="Lead", status="Open"),
        hs_contact(stage="marketingqualifiedlead", status="IN_PROGRESS"),
        ("mql", "working"),
        "mql",
        "working",
        sf_writes={"Lead_Stage__c": "Marketing Qualified Lead", "Status": "Working"},
        no_hs_writes=True,
        conflicts={"stage", "status"},
        base_only="hubspot",
    ),
    Journey(
        "a new record further along than the known person lifts them (new contact at opportunity)",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Qualified"),
        hs_contact(stage="opportunity", status=None),
        ("sql", "qualified"),
        "opportunity",
        "qualified",
        sf_writes={"Lead_Stage__c": "Opportunity"},
        hs_writes={"hs_lead_status": "OPEN_DEAL"},
        conflicts={"stage"},
        base_only="salesforce",
    ),
    Journey(
        "form fill in the same round as a rep's edit: the edit stands, the new contact follows it",
        D,
        sf_lead(stage="Opportunity", status="Qualified"),
        hs_contact(stage="lead", status=None),
        ("sql", "qualified"),
        "opportunity",
        "qualified",
        hs_writes={"lifecyclestage": "opportunity", "hs_lead_status": "OPEN_DEAL"},
        no_sf_writes=True,
        conflicts={"stage"},
        base_only="salesforce",
    ),
    # --- facts found on first sight are state -----------------------------------------------------
    Journey(
        "first sight: a closed-won opportunity that existed before makes an SQL a Customer",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Qualified"),
        hs_contact(stage="salesqualifiedlead", status="OPEN_DEAL"),
        None,
        "customer",
        "qualified",
        facts={"opportunities": [OPP_WON]},
        sf_writes={"Lead_Stage__c": "Customer"},
        hs_writes={"lifecyclestage": "customer"},
        rules={"opportunity_won"},
    ),
    Journey(
        "waterfall first sight: a closed-won opportunity makes Customer / Customer",
        S,
        sf_lead(stage="SQL", status="Working"),
        hs_contact(stage="salesqualifiedlead", status="IN_PROGRESS"),
        None,
        "customer",
        "customer",
        facts={"opportunities": [OPP_WON]},
        sf_writes={"Lead_Stage__c": "Customer", "Status": "Customer"},
        hs_writes={"lifecyclestage": "customer", "hs_lead_status": "CUSTOMER"},
        rules={"opportunity_won", "implied_by_status_customer"},
    ),
    Journey(
        "first sight: an open opportunity makes an SQL an Opportunity",
        D,
        sf_lead(stage="Sales Qualified Lead", status="Qualified"),
        hs_contact(stage="salesqualifiedlead", status="OPEN_DEAL"),
        None,
        "opportunity",
        "qualified",
        facts={"opportunities": [OPP_OPEN]},
        sf_writes={"Lead_Stage__c": "Opportunity"},
        hs_writes={"lifecyclestage": "opportunity"},
        rules={"opportunity_created"},
    ),
    Journey(
        "waterfall first sight: an open opportunity makes SAO / Opportunity Created",
        S,
        sf_lead(stage="SQL", status="Working"),
        hs_contact(stage="salesqualifiedlead", status="IN_PROGRESS"),
        None,
        "sao",
        "opportunity_created",
        facts={"opportunities": [OPP_OPEN]},
        sf_writes={"Lead_Stage__c": "SAO", "Status": "Opportunity Created"},
        hs_writes={"lifecyclestage": "opportunity", "hs_lead_status": "OPEN_DEAL"},
    ),
    Journey(
        "first sight: a converted lead is Converted, written to its Contact",
        D,
        sf_lead(
            stage="Sales Qualified Lead", status="Qualified", IsConverted=True, ConvertedContactId=CONTACT_ID
        ),
        hs_contact(stage="salesqualifiedlead", status="OPEN_DEAL"),
        None,
        "sql",
        "converted",
        hs_writes={"salesforce_contact_id": CONTACT_ID},
        rules={"lead_converted"},
    ),
    Journey(
        "first sight: an old completed call is history, not news (Open stays Open)",
        D,
        sf_lead(stage="Lead", status="Open"),
        hs_contact(stage="lead", status="OPEN"),
        None,
        "lead",
        "open",
        facts={"completed_calls": ["00T1"], "meetings": ["00U1"]},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "first sight with facts.remember-style history: a lost opportunity does not recycle an Opportunity",
        D,
        sf_lead(stage="Opportunity", status="Qualified"),
        hs_contact(stage="opportunity", status="OPEN_DEAL"),
        None,
        "opportunity",
        "qualified",
        facts={"opportunities": [OPP_LOST]},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    # --- no move back on first sight, unless the policy says so (then within the transitions) -------
    Journey(
        "first sight: Unqualified does not move a Lead back to Disqualified (reported)",
        D,
        sf_lead(stage="Lead", status="Unqualified", Unqualified_Reason__c="Not a Fit"),
        hs_contact(stage="lead", status="UNQUALIFIED", unqualified_reason="Not a Fit"),
        None,
        "lead",
        "unqualified",
        skipped={"backward_move"},
        no_sf_writes=True,
        no_hs_writes=True,
    ),
    Journey(
        "first sight, conflict_policy: Unqualified moves a Lead to Disqualified as the transitions allow",
        DC,
        sf_lead(stage="Lead", status="Unqualified", Unqualified_Reason__c="Not a Fit"),
        hs_contact(stage="lead", status="UNQUALIFIED", unqualified_reason="Not a Fit"),
        None,
        "disqualified",
        "unqualified",
        sf_writes={"Lead_Stage__c": "Disqualified"},
        hs_writes={"lifecyclestage": "other"},
        rules={"unqualified_disqualifies"},
    ),
    Journey(
        "first sight, conflict_policy: HubSpot's lead wins over SQL (sql → lead is allowed)",
        DC,
        sf_lead(stage="Sales Qualified Lead", status="Working"),
        hs_contact(stage="lead", status="IN_PROGRESS"),
        None,
        "lead",
        "working",
        sf_writes={"Lead_Stage__c": "Lead"},
        no_hs_writes=True,
        conflicts={"stage"},
    ),
    Journey(
        "first sight, conflict_policy: HubSpot's lead cannot demote a Customer (refused, reported)",
        DC,
        sf_lead(stage="Customer", status="Qualified"),
        hs_contact(stage="lead", status="OPEN_DEAL"),
        None,
        "customer",
        "qualified",
        hs_writes={"lifecyclestage": "customer"},
        no_sf_writes=True,
        skipped={"backward_move"},
        conflicts={"stage"},
    ),
    Journey(
        "form fill under conflict_policy: a new record's default still never demotes the known SQL",
        DC,
        sf_lead(stage="Sales Qualified Lead", status="Qualified"),
        hs_contact(stage="lead", status=None),
        ("sql", "qualified"),
        "sql",
        "qualified",
        hs_writes={"lifecyclestage": "salesqualifiedlead"},
        no_sf_writes=True,
        conflicts={"stage"},
        base_only="salesforce",
    ),
]
JOURNEYS += FIRST_SIGHT


def _base(j: Journey) -> Any:
    if j.base is None:
        return None
    cmap = shipped(j.map)
    if isinstance(j.base, dict):
        values = dict(j.base)
        return base_of(cmap, values.pop("stage"), values.pop("status"), only=j.base_only, **values)
    return base_of(cmap, *j.base, only=j.base_only)


@pytest.mark.parametrize("j", JOURNEYS, ids=[j.name for j in JOURNEYS])
def test_journey(j: Journey) -> None:
    cmap = shipped(j.map)
    fx = facts(**j.facts)
    result = plan(j.sf, j.hs, _base(j), fx, cmap)

    assert result.values["stage"] == j.stage
    assert result.values["status"] == j.status
    sf_written, hs_written = written(result, "salesforce"), written(result, "hubspot")
    for key, value in j.sf_writes.items():
        assert sf_written.get(key) == value, f"Salesforce {key}: {sf_written}"
    for key, value in j.hs_writes.items():
        assert hs_written.get(key) == value, f"HubSpot {key}: {hs_written}"
    if j.no_sf_writes:
        assert result.salesforce == ()
    if j.no_hs_writes:
        assert result.hubspot == ()
    if j.sf_create:
        assert [w.op for w in result.salesforce] == ["create"]
    if j.hs_create:
        assert [w.op for w in result.hubspot] == ["create"]
    assert j.skipped <= {s.kind for s in result.skipped}, result.skipped
    assert {c.field for c in result.conflicts} == j.conflicts
    assert j.rules <= set(result.rules_applied)
    if j.hs_steps is not None:
        assert [w.step for w in result.hubspot] == list(range(1, j.hs_steps + 1))
        if j.hs_steps == 2:
            assert result.hubspot[0].values() == {"lifecyclestage": ""}

    if j.base is None or j.base_only:
        assert_first_sight_is_truthful(result, j.map, has_base=j.base is not None)

    again = replan(result, j.sf, j.hs, fx, cmap)
    assert not again.has_writes, f"second plan wrote {again.writes}"
    assert again.values["stage"] == j.stage
    assert again.values["status"] == j.status


def assert_first_sight_is_truthful(result: Plan, map_name: str, *, has_base: bool = False) -> None:
    """Nobody edited anything: no rule is suppressed as contradicting an edit, and a stage conflict
    names the side whose value the merge applied (the first stage on the path after the base's)."""
    assert "contradiction" not in {s.kind for s in result.skipped}, result.skipped
    cmap = shipped(map_name)
    for c in result.conflicts:
        assert c.policy.startswith("first_sight."), c
        if c.field == "stage" and cmap.first_sight_furthest_along:
            path = result.stage_path
            merged = cmap.stages[path[1] if has_base and len(path) > 1 else path[0]]
            held = c.salesforce if c.winner == "salesforce" else c.hubspot
            assert held == (merged.salesforce if c.winner == "salesforce" else merged.hubspot), c


def test_there_are_at_least_forty_journeys() -> None:
    assert len(JOURNEYS) >= 40
    assert {j.map.split("+")[0] for j in JOURNEYS} == {D, S}


# --- first sight over every stage of both maps ------------------------------------------------------
# Generated: every (Salesforce stage, HubSpot stage) pair met with no base, and every stage linked to a
# newly created record on the other side. The expected stage is the policy's, stated independently of
# the engine: the higher rank of what each side says (a HubSpot value several stages share reads as
# Salesforce's stage when it stands for it, else as the map's primary), never lower than either.
WORKING = {D: ("Working", "IN_PROGRESS"), S: ("Working", "IN_PROGRESS")}
CREATED = {D: ("Lead", "Open"), S: ("MAL", "Prospect")}  # what the map's record_created rule defaults to


def _pairs() -> list[tuple[str, str, str]]:
    return [
        (name, s.id, t.id)
        for name in (D, S)
        for s in shipped(name).stages.values()
        for t in shipped(name).stages.values()
    ]


@pytest.mark.parametrize(("map_name", "sf_stage", "hs_stage"), _pairs(), ids="-".join)
def test_first_sight_of_a_pair_keeps_the_furthest_stage(map_name: str, sf_stage: str, hs_stage: str) -> None:
    cmap = shipped(map_name)
    stages = cmap.stages
    sf_value, hs_value = stages[sf_stage].salesforce, stages[hs_stage].hubspot
    sf_status, hs_status = WORKING[map_name]
    sf, hs = sf_lead(stage=sf_value, status=sf_status), hs_contact(stage=hs_value, status=hs_status)
    read = [x for x in (sf_stage if sf_value else None, hubspot_reading(cmap, hs_value, sf_stage)) if x]
    expected = max(read, key=lambda x: stages[x].rank)

    result = plan(sf, hs, None, facts(), cmap)

    assert result.values["stage"] == expected, (result.stage_path, result.skipped)
    assert_first_sight_is_truthful(result, map_name)
    assert {c.field for c in result.conflicts if c.field == "stage"} == (
        {"stage"} if len(set(read)) > 1 else set()
    )
    sf_image, hs_image = stages[expected].salesforce, stages[expected].hubspot
    sf_written = written(result, "salesforce").get("Lead_Stage__c")
    hs_written = written(result, "hubspot").get("lifecyclestage")
    assert sf_written == (sf_image if sf_image is not None and sf_image != sf_value else None)
    assert hs_written == (hs_image if hs_image is not None and hs_image != hs_value else None)
    assert not replan(result, sf, hs, facts(), cmap).has_writes


def _links() -> list[tuple[str, str, str]]:
    return [
        (name, side, s.id)
        for name in (D, S)
        for side in ("hubspot", "salesforce")  # the side that is newly created and linked
        for s in shipped(name).stages.values()
        if (s.salesforce if side == "hubspot" else s.hubspot) is not None
    ]


@pytest.mark.parametrize(("map_name", "new_side", "known_stage"), _links(), ids="-".join)
def test_a_newly_linked_record_never_pulls_the_known_person_back(
    map_name: str, new_side: str, known_stage: str
) -> None:
    """HubSpot creating a contact at `lead` after a form fill, or a rep creating a lead with the
    org's defaults, for a person the worker already syncs at ``known_stage``."""
    cmap = shipped(map_name)
    stages = cmap.stages
    known = stages[known_stage]
    status, hs_status = WORKING[map_name]
    base = base_of(cmap, known_stage, "working", only="salesforce" if new_side == "hubspot" else "hubspot")
    if new_side == "hubspot":
        sf, hs = sf_lead(stage=known.salesforce, status=status), hs_contact(stage="lead", status=None)
        new_reads = [x.id for x in stages.values() if x.hubspot == "lead"]
    else:
        default_stage, default_status = CREATED[map_name]
        sf = sf_lead(stage=default_stage, status=default_status)
        hs = hs_contact(stage=known.hubspot, status=hs_status)
        new_reads = [x.id for x in stages.values() if x.salesforce == default_stage]

    result = plan(sf, hs, base, facts(), cmap)

    final = result.values["stage"]
    assert stages[final].rank >= known.rank, (result.stage_path, result.skipped)
    assert final == known_stage or final in new_reads
    if known.rank > max(stages[x].rank for x in new_reads):  # the default is behind: the person stands
        assert final == known_stage
        known_name = "Lead_Stage__c" if new_side == "hubspot" else "lifecyclestage"
        assert known_name not in written(result, "salesforce" if new_side == "hubspot" else "hubspot")
    assert result.values["status"] is not None
    assert_first_sight_is_truthful(result, map_name, has_base=True)
    assert not replan(result, sf, hs, facts(), cmap).has_writes


def test_first_sight_covers_every_stage_of_both_maps() -> None:
    pairs, links = _pairs(), _links()
    for name in (D, S):
        assert {s for m, s, _ in pairs if m == name} == set(shipped(name).stages)
        assert {s for m, _, s in links if m == name} == set(shipped(name).stages)
