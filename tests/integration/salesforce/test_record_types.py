"""Record types whose picklists allow different values: describe's recordTypeInfos, the UI API's
values per type, refusals outside the record's type, and ``mappings verify`` per type."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound
from typer.testing import CliRunner

from sandbox.salesforce.ids import MASTER_RECORD_TYPE_ID
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS
from tests.integration.salesforce.conftest import CONSUMER_KEY, CONSUMER_SECRET
from worker.cli import app
from worker.crm.port import Outcome
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.crm.salesforce.startup import check_salesforce
from worker.mapping import load_map

pytestmark = pytest.mark.integration
Settings = Callable[..., SalesforceSettings]
PARTNER_STATUSES = ["Open", "Working", "Qualified", "Unqualified", "Converted"]


def _partner(sandbox: SalesforceSandbox) -> str:
    return sandbox.add_record_type(
        "Lead",
        "Partner_Lead",
        {"Status": PARTNER_STATUSES, "Lead_Stage__c": ["Lead", "Sales Qualified Lead"]},
    )


def test_an_org_without_record_types_shows_only_the_master(sf_client: Salesforce) -> None:
    described = sf_client.Lead.describe()
    assert [(i["master"], i["recordTypeId"]) for i in described["recordTypeInfos"]] == [
        (True, MASTER_RECORD_TYPE_ID)
    ]
    assert "RecordTypeId" not in {f["name"] for f in described["fields"]}
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.query("SELECT RecordTypeId FROM Lead")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_describe_and_the_ui_api_show_each_types_values(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    partner = _partner(sf_sandbox)
    infos = {i["developerName"]: i for i in sf_client.Lead.describe()["recordTypeInfos"]}
    assert infos["Partner_Lead"]["recordTypeId"] == partner and infos["Partner_Lead"]["master"] is False
    assert infos["Partner_Lead"]["defaultRecordTypeMapping"] is True
    assert infos["Partner_Lead"]["urls"]["layout"].endswith(f"/sobjects/Lead/describe/layouts/{partner}")
    assert infos["Master"]["recordTypeId"] == MASTER_RECORD_TYPE_ID
    collection = sf_client.restful(f"ui-api/object-info/Lead/picklist-values/{partner}")
    status = collection["picklistFieldValues"]["Status"]
    assert [v["value"] for v in status["values"]] == PARTNER_STATUSES
    assert status["values"][0] == {"attributes": None, "label": "Open", "validFor": [], "value": "Open"}
    one = sf_client.restful(f"ui-api/object-info/Lead/picklist-values/{MASTER_RECORD_TYPE_ID}/Status")
    assert "Meeting Set" in [v["value"] for v in one["values"]]  # the master allows every value
    rows = sf_client.query(f"SELECT Id FROM RecordType WHERE SobjectType = 'Lead' AND Id = '{partner}'")
    assert rows["totalSize"] == 1
    with pytest.raises(SalesforceResourceNotFound):
        sf_client.restful("ui-api/object-info/Lead/picklist-values/012000000000999AAA")


def test_a_value_outside_the_records_type_is_refused(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce
) -> None:
    partner = _partner(sf_sandbox)
    created = sf_client.Lead.create({"LastName": "P", "Company": "C", "Status": "Working"})
    lead = created["id"]
    assert sf_sandbox.org.get("Lead", lead)["RecordTypeId"] == partner  # the default type
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Lead.update(lead, {"Status": "Meeting Set"})
    assert info.value.content == [
        {
            "message": "Lead Status: bad value for restricted picklist field: Meeting Set",
            "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "fields": ["Status"],
        }
    ]
    with pytest.raises(SalesforceMalformedRequest) as wrong:
        sf_client.Lead.update(lead, {"RecordTypeId": sf_sandbox.org.lead_queue_id})
    assert wrong.value.content[0]["errorCode"] == "MALFORMED_ID"


def test_the_adapter_reads_values_per_type_and_gets_per_record_refusals(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: Callable[..., str]
) -> None:
    _partner(sf_sandbox)
    assert sf_adapter.record_type_picklists("Contact") == {}
    per_type = sf_adapter.record_type_picklists("Lead")
    assert per_type["Partner Lead"]["Status"] == frozenset(PARTNER_STATUSES)
    lead = make_lead()
    report = sf_adapter.update("Lead", [(lead, {"Status": "Meeting Set"})])
    assert [(r.state, r.code) for r in report.results] == [
        (Outcome.REJECTED, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    ]


def test_mappings_verify_names_the_types_that_lack_values(sf_sandbox: SalesforceSandbox) -> None:
    _partner(sf_sandbox)
    env = {
        "CRMSYNC_SALESFORCE_CONSUMER_KEY": CONSUMER_KEY,
        "CRMSYNC_SALESFORCE_CONSUMER_SECRET": CONSUMER_SECRET,
        "CRMSYNC_SALESFORCE_DOMAIN": "sandbox.my",
        "CRMSYNC_SALESFORCE_LOGIN_URL": sf_sandbox.instance_url,
        "CRMSYNC_SALESFORCE_CA_BUNDLE": str(sf_sandbox.ca_path),
    }
    out = CliRunner().invoke(
        app, ["mappings", "verify", str(MAPPINGS / "default.yaml"), "--no-hubspot"], env=env
    )
    assert out.exit_code == 2, out.output
    assert (
        "status 'meeting_set': Salesforce Lead record type 'Partner Lead' (Status) has no value 'Meeting Set'"
        in out.output
    )
    assert "Salesforce Lead record type 'Partner Lead' (Lead_Stage__c) has no value 'Customer'" in out.output
    assert "Contact record type" not in out.output


def test_the_start_check_warns_about_record_type_gaps_but_starts(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings
) -> None:
    _partner(sf_sandbox)
    warnings = check_salesforce(SalesforceAdapter(sf_settings()), load_map(MAPPINGS / "default.yaml"))
    assert any("record type 'Partner Lead'" in w for w in warnings)
