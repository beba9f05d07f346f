"""Describe carries the keys real describe results carry (independent readers read describe first and
must not crash on a missing key), and the Organization object tells the org id and instance type."""

from __future__ import annotations

import pytest
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.server import SalesforceSandbox
from worker.crm.salesforce import SalesforceAdapter

pytestmark = pytest.mark.integration

# The key set of a real field describe (a field describe kept verbatim in a public repository's fixture).
REAL_FIELD_KEYS = set(
    [
        "aggregatable",
        "autoNumber",
        "byteLength",
        "calculated",
        "calculatedFormula",
        "cascadeDelete",
        "caseSensitive",
        "compoundFieldName",
        "controllerName",
        "createable",
        "custom",
        "defaultValue",
        "defaultValueFormula",
        "defaultedOnCreate",
        "dependentPicklist",
        "deprecatedAndHidden",
        "digits",
        "displayLocationInDecimal",
        "encrypted",
        "externalId",
        "extraTypeInfo",
        "filterable",
        "filteredLookupInfo",
        "groupable",
        "highScaleNumber",
        "htmlFormatted",
        "idLookup",
        "inlineHelpText",
        "label",
        "length",
        "mask",
        "maskType",
        "name",
        "nameField",
        "namePointing",
        "nillable",
        "permissionable",
        "picklistValues",
        "polymorphicForeignKey",
        "precision",
        "queryByDistance",
        "referenceTargetField",
        "referenceTo",
        "relationshipName",
        "relationshipOrder",
        "restrictedDelete",
        "restrictedPicklist",
        "scale",
        "searchPrefilterable",
        "soapType",
        "sortable",
        "type",
        "unique",
        "updateable",
        "writeRequiresMasterRead",
    ]
)
# …and of a real object describe (same kind of source, API 38.0), plus recordTypeInfos.
REAL_OBJECT_KEYS = set(
    [
        "actionOverrides",
        "activateable",
        "childRelationships",
        "compactLayoutable",
        "createable",
        "custom",
        "customSetting",
        "deletable",
        "deprecatedAndHidden",
        "feedEnabled",
        "fields",
        "hasSubtypes",
        "keyPrefix",
        "label",
        "labelPlural",
        "layoutable",
        "listviewable",
        "lookupLayoutable",
        "mergeable",
        "mruEnabled",
        "name",
        "namedLayoutInfos",
        "networkScopeFieldName",
        "queryable",
        "recordTypeInfos",
        "replicateable",
        "retrieveable",
        "searchLayoutable",
        "searchable",
        "supportedScopes",
        "triggerable",
        "undeletable",
        "updateable",
        "urls",
    ]
)
REAL_URL_KEYS = set(
    [
        "compactLayouts",
        "rowTemplate",
        "approvalLayouts",
        "uiDetailTemplate",
        "uiEditTemplate",
        "defaultValues",
        "describe",
        "uiNewRecord",
        "quickActions",
        "layouts",
        "sobject",
    ]
)


@pytest.mark.parametrize("sobject", ["Lead", "Contact", "Task", "Organization"])
def test_describe_carries_the_keys_real_describes_carry(
    sf_sandbox: SalesforceSandbox, sf_client: Salesforce, sobject: str
) -> None:
    described = getattr(sf_client, sobject).describe()
    assert set(described) >= REAL_OBJECT_KEYS
    assert set(described["urls"]) >= REAL_URL_KEYS
    assert described["urls"]["uiDetailTemplate"] == f"{sf_sandbox.instance_url}/{{ID}}"
    for field in described["fields"]:
        assert set(field) >= REAL_FIELD_KEYS, (field["name"], REAL_FIELD_KEYS - set(field))
    for child in described["childRelationships"]:
        assert {"junctionIdListNames", "junctionReferenceTo", "restrictedDelete"} <= set(child)


def test_compound_names_and_object_flags(sf_client: Salesforce) -> None:
    lead = sf_client.Lead.describe()
    fields = {f["name"]: f for f in lead["fields"]}
    assert fields["FirstName"]["compoundFieldName"] == "Name" and fields["Email"]["compoundFieldName"] is None
    assert fields["OwnerId"]["namePointing"] is True
    assert (lead["mergeable"], lead["feedEnabled"], lead["layoutable"]) == (True, True, True)
    org = sf_client.Organization.describe()
    assert (org["createable"], org["updateable"], org["mergeable"]) == (False, False, False)


def test_the_global_describe_lists_flags_and_urls(sf_client: Salesforce) -> None:
    entries = {e["name"]: e for e in sf_client.describe()["sobjects"]}
    lead = entries["Lead"]
    assert {"keyPrefix", "mergeable", "layoutable", "queryable", "feedEnabled"} <= set(lead)
    assert set(lead["urls"]) == {"rowTemplate", "defaultValues", "describe", "sobject"}
    assert "fields" not in lead and "Organization" in entries


def test_the_organization_row_is_the_org(sf_sandbox: SalesforceSandbox, sf_client: Salesforce) -> None:
    [row] = sf_client.query("SELECT Id, Name, InstanceName, IsSandbox, OrganizationType FROM Organization")[
        "records"
    ]
    assert row["Id"] == sf_sandbox.org.org_id and row["Id"].startswith("00D")
    assert (row["IsSandbox"], row["OrganizationType"]) == (True, "Enterprise Edition")
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf_client.Organization.create({"Name": "Another"})
    assert info.value.content[0]["errorCode"] == "INVALID_TYPE_FOR_OPERATION"


def test_the_adapter_reads_its_org(sf_sandbox: SalesforceSandbox, sf_adapter: SalesforceAdapter) -> None:
    org = sf_adapter.organization()
    assert (org.id, org.sandbox, org.edition, org.instance) == (
        sf_sandbox.org.org_id,
        True,
        "Enterprise Edition",
        "CS42",
    )
