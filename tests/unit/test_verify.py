"""A map is checked against what the CRMs really have before anything runs."""

from __future__ import annotations

from tests.unit.journeys import shipped
from worker.mapping.verify import verify_against_crms

SF_STAGES = {"Lead", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity", "Customer",
             "Churned Customer", "Disqualified"}  # fmt: skip
SF_STATUSES = {"Open", "Contacted", "Working", "Meeting Set", "Qualified", "Unqualified", "Converted"}
LEAD = {
    "Lead_Stage__c": SF_STAGES,
    "Status": SF_STATUSES,
    "Unqualified_Reason__c": {"Not Ready", "Not a Fit", "Not Interested", "Invalid Data"},
    **dict.fromkeys(["Email", "FirstName", "LastName", "Company", "Phone", "Title", "OwnerId"]),
    "HubSpot_Contact_ID__c": None,
}
CONTACT = {
    "Lead_Stage__c": SF_STAGES,
    **dict.fromkeys(["Email", "FirstName", "LastName", "Phone", "Title", "OwnerId"]),
}
HUBSPOT = {
    "lifecyclestage": {
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
        "other",
    },
    "hs_lead_status": {
        "NEW",
        "OPEN",
        "IN_PROGRESS",
        "OPEN_DEAL",
        "UNQUALIFIED",
        "ATTEMPTED_TO_CONTACT",
        "CONNECTED",
        "BAD_TIMING",
    },
    "unqualified_reason": {"Not Ready", "Not a Fit", "Not Interested", "Invalid Data"},
    **dict.fromkeys(["email", "firstname", "lastname", "company", "phone", "jobtitle", "hubspot_owner_id"]),
    **dict.fromkeys(["salesforce_lead_id", "salesforce_contact_id"]),
}


def test_the_default_map_fits_crms_with_the_default_values() -> None:
    assert (
        verify_against_crms(
            shipped("default"), salesforce={"Lead": LEAD, "Contact": CONTACT}, hubspot=HUBSPOT
        )
        == []
    )


def test_a_renamed_picklist_value_is_caught() -> None:
    renamed = {**LEAD, "Status": (SF_STATUSES - {"Meeting Set"}) | {"Meeting Booked"}}
    problems = verify_against_crms(shipped("default"), salesforce={"Lead": renamed})
    assert problems == [
        "status 'meeting_set': Salesforce Lead.Status has no value 'Meeting Set' "
        "(it has: Contacted, Converted, Meeting Booked, Open, Qualified, Unqualified, Working)"
    ]


def test_missing_fields_options_and_link_properties_are_caught() -> None:
    hubspot = {k: v for k, v in HUBSPOT.items() if k not in {"salesforce_lead_id", "jobtitle"}}
    problems = verify_against_crms(shipped("sirius-waterfall"), hubspot=hubspot)
    assert "field title: HubSpot contacts have no property 'jobtitle'" in problems
    assert (
        "links: HubSpot contacts have no property 'salesforce_lead_id' to hold the Salesforce id" in problems
    )
    # The waterfall's custom statuses must exist as hs_lead_status options in the portal.
    assert any("HubSpot hs_lead_status has no option 'OPPORTUNITY_LOST'" in p for p in problems)


def test_fields_the_connected_user_cannot_update_or_create_are_named() -> None:
    from worker.mapping.verify import Writable

    lead_fields = frozenset(LEAD)
    writable = {
        "Lead": Writable(createable=lead_fields - {"Lead_Stage__c"}, updateable=lead_fields - {"Status"}),
        "Contact": Writable(createable=frozenset(CONTACT), updateable=frozenset(CONTACT)),
    }
    problems = verify_against_crms(
        shipped("default"), salesforce={"Lead": LEAD, "Contact": CONTACT}, salesforce_writable=writable
    )
    assert problems == [
        "stage: the connected Salesforce user cannot set Lead.Lead_Stage__c when creating Leads "
        "(field-level security); grant Edit on it",
        "status: the connected Salesforce user cannot update Lead.Status (read-only by field-level "
        "security); grant Edit on it",
    ]
