"""Field-level security: what a user cannot see or edit, as Salesforce answers it, and the worker
refusing to start on a map its user cannot serve (sources in ``sandbox.salesforce.models.Org.access``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from typer.testing import CliRunner

from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS
from tests.integration.salesforce.conftest import CONSUMER_KEY, CONSUMER_SECRET
from worker.cli import app
from worker.crm.port import Outcome
from worker.crm.salesforce import SalesforceAdapter, SalesforceSettings
from worker.crm.salesforce.startup import check_salesforce
from worker.errors import ConfigError, RecordRejectedError
from worker.mapping import load_map

pytestmark = pytest.mark.integration
Settings = Callable[..., SalesforceSettings]
HIDDEN_SOQL_MESSAGE = (
    "No such column 'Lead_Stage__c' on entity 'Lead'. If you are attempting to use a custom field, be sure "
    "to append the '__c' after the custom field name. Please reference your WSDL or the describe call for "
    "the appropriate names."
)


def _client(sandbox: SalesforceSandbox, user_id: str) -> Salesforce:
    token = sandbox.org.new_session(user_id).token
    return Salesforce(instance_url=sandbox.instance_url, session_id=token, session=sandbox.session())


def _other_user(sandbox: SalesforceSandbox) -> str:
    return sandbox.org.create_raw(
        "User", {"Username": "analyst@crm-sync.sandbox", "LastName": "Analyst", "IsActive": True}, None
    )


def test_a_hidden_field_is_absent_from_describe_and_invalid_in_soql(
    sf_sandbox: SalesforceSandbox, make_lead: Callable[..., str]
) -> None:
    lead = make_lead(Lead_Stage__c="Lead")
    analyst = _other_user(sf_sandbox)
    sf_sandbox.set_field_access("Lead", "Lead_Stage__c", "none", analyst)
    sf = _client(sf_sandbox, analyst)

    names = {f["name"] for f in sf.Lead.describe()["fields"]}
    assert "Lead_Stage__c" not in names and "Status" in names
    for soql in (
        "SELECT Id, Lead_Stage__c FROM Lead",
        "SELECT Id FROM Lead WHERE Lead_Stage__c = 'Lead'",
        "SELECT Id FROM Lead ORDER BY Lead_Stage__c",
    ):
        with pytest.raises(SalesforceMalformedRequest) as info:
            sf.query(soql)
        assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
        assert info.value.content[0]["message"].endswith(HIDDEN_SOQL_MESSAGE)
    assert "Lead_Stage__c" not in sf.Lead.get(lead)
    with pytest.raises(SalesforceMalformedRequest) as write:
        sf.Lead.update(lead, {"Lead_Stage__c": "Customer"})
    assert write.value.content == [
        {"message": "No such column 'Lead_Stage__c' on sobject of type Lead", "errorCode": "INVALID_FIELD"}
    ]
    # Field-level security is per user: the admin still sees and edits the field.
    admin = _client(sf_sandbox, sf_sandbox.org.admin_id)
    assert (
        admin.query(f"SELECT Lead_Stage__c FROM Lead WHERE Id = '{lead}'")["records"][0]["Lead_Stage__c"]
        == "Lead"
    )


def test_a_read_only_field_is_described_so_and_refuses_writes(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, make_lead: Callable[..., str]
) -> None:
    lead = make_lead(Status="Open")
    sf_sandbox.set_field_access("Lead", "Status", "read")
    described = next(f for f in sf_client.Lead.describe()["fields"] if f["name"] == "Status")
    assert (described["createable"], described["updateable"]) == (False, False)
    assert sf_client.query(f"SELECT Status FROM Lead WHERE Id = '{lead}'")["records"][0]["Status"] == "Open"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Lead.update(lead, {"Status": "Working"})
    assert info.value.content == [
        {
            "message": "Unable to create/update fields: Status. Please check the security settings of this "
            "field and verify that it is read/write for your profile or permission set.",
            "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
            "fields": ["Status"],
        }
    ]
    assert sf_sandbox.org.get("Lead", lead)["Status"] == "Open"


def test_the_adapter_gets_a_per_record_refusal_for_a_read_only_field(
    sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter, make_lead: Callable[..., str]
) -> None:
    lead, other = make_lead(), make_lead()
    sf_sandbox.set_field_access("Lead", "Title", "read")
    report = sf_adapter.update("Lead", [(lead, {"Title": "CTO"}), (other, {"FirstName": "Ada"})])
    refused, applied = report.results
    assert refused.state is Outcome.REJECTED and isinstance(refused.error, RecordRejectedError)
    assert refused.code == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert applied.ok and report.stopped is None


def _env(sandbox: SalesforceSandbox) -> dict[str, str]:
    return {
        "CRMSYNC_SALESFORCE_CONSUMER_KEY": CONSUMER_KEY,
        "CRMSYNC_SALESFORCE_CONSUMER_SECRET": CONSUMER_SECRET,
        "CRMSYNC_SALESFORCE_DOMAIN": "sandbox.my",
        "CRMSYNC_SALESFORCE_LOGIN_URL": sandbox.instance_url,
        "CRMSYNC_SALESFORCE_CA_BUNDLE": str(sandbox.ca_path),
    }


def test_mappings_verify_names_every_field_the_user_cannot_read_or_update(
    sf_sandbox: SalesforceSandbox,
) -> None:
    sf_sandbox.set_field_access("Contact", "Lead_Stage__c", "none")
    sf_sandbox.set_field_access("Lead", "Status", "read")
    sf_sandbox.set_field_access("Lead", "HubSpot_Contact_ID__c", "read")
    out = CliRunner().invoke(
        app, ["mappings", "verify", str(MAPPINGS / "default.yaml"), "--no-hubspot"], env=_env(sf_sandbox)
    )
    assert out.exit_code == 2, out.output
    assert (
        "stage: Salesforce Contact has no field 'Lead_Stage__c' (missing, or hidden from the connected "
        "user by field-level security)" in out.output
    )
    assert "status: the connected Salesforce user cannot update Lead.Status" in out.output
    assert "links: the connected Salesforce user cannot update Lead.HubSpot_Contact_ID__c" in out.output
    assert out.output.count("cannot update") == 2


@pytest.mark.parametrize(
    ("obj", "field", "access", "expected"),
    [
        ("Lead", "Lead_Stage__c", "none", "stage: Salesforce Lead has no field 'Lead_Stage__c'"),
        ("Lead", "Unqualified_Reason__c", "read", "cannot update Lead.Unqualified_Reason__c"),
        ("Contact", "Email", "read", "cannot update Contact.Email"),
    ],
)
def test_the_worker_refuses_to_start_on_fields_it_cannot_use(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, obj: str, field: str, access: str, expected: str
) -> None:
    adapter = SalesforceAdapter(sf_settings())
    cmap = load_map(MAPPINGS / "default.yaml")
    assert check_salesforce(adapter, cmap) == []
    sf_sandbox.set_field_access(obj, field, access)
    with pytest.raises(ConfigError) as info:
        check_salesforce(SalesforceAdapter(sf_settings()), cmap)
    assert expected in str(info.value)
    assert "default" in str(info.value)


def test_prefer_salesforce_unless_blank_still_needs_edit(
    sf_sandbox: SalesforceSandbox, sf_settings: Settings, tmp_path: Any
) -> None:
    sf_sandbox.set_field_access("Lead", "Company", "read")
    cmap = load_map(MAPPINGS / "default.yaml")
    with pytest.raises(ConfigError, match=r"cannot update Lead\.Company"):  # HubSpot fills a blank one
        check_salesforce(SalesforceAdapter(sf_settings()), cmap)
    text = (MAPPINGS / "default.yaml").read_text()
    edited = text.replace("sync: prefer_salesforce_unless_blank", "sync: always_salesforce")
    assert edited != text
    only_read = tmp_path / "only-read.yaml"
    only_read.write_text(edited)
    assert check_salesforce(SalesforceAdapter(sf_settings()), load_map(only_read)) == []
