"""Both sandboxes log every API request a client sent (the calls tests and benches count), over their
control surfaces: ``GET /_sandbox/requests`` lists them oldest first, ``DELETE`` clears the log; control
requests and logins are not API calls and are not logged."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox

pytestmark = pytest.mark.integration


def test_the_salesforce_sandbox_logs_each_api_request_with_its_soql(
    sf_box: SalesforceSandbox, sf: Any
) -> None:
    http, log = sf_box.session(), f"{sf_box.instance_url}/_sandbox/requests"
    sf.connection.client()  # the login
    assert http.get(log).json() == []
    assert list(sf.query("SELECT Id FROM Lead")) == []
    [entry] = http.get(log).json()
    assert entry["method"] == "GET" and entry["path"].endswith("/query/")
    assert entry["soql"] == "SELECT Id FROM Lead"
    assert http.delete(log).status_code == 200 and http.get(log).json() == []


def test_the_hubspot_sandbox_logs_each_accepted_api_request(hs_box: HubSpotSandbox) -> None:
    log = f"{hs_box.base_url}/_sandbox/requests"
    hs_box.client().crm.contacts.basic_api.get_page(limit=1)
    assert requests.get(log, timeout=5).json() == [{"method": "GET", "path": "/crm/v3/objects/contacts"}]
    assert requests.delete(log, timeout=5).status_code == 200
    assert requests.get(log, timeout=5).json() == []
