"""The admin API on the web app: bearer token (401 when missing or wrong), backfills started (202),
followed and cancelled, bad scopes refused with 422 naming the problem (nothing starts), the status
document, /metrics in Prometheus format, /readyz against both sandboxes and Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import requests

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from tests.integration.web.conftest import serve_in_thread
from worker.ops.backfill import BackfillStore
from worker.state.store import State
from worker.sync import SyncService
from worker.web.app import create_app
from worker.web.settings import WebSettings

from .conftest import start_worker

pytestmark = pytest.mark.integration
TOKEN = "test-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Http:
    """The web app over real HTTP (uvicorn on a loopback port, as `crmsync web` serves it)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.base + path, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def client(ops_env: dict[str, str], redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Http]:
    for k, v in ops_env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CRMSYNC_ADMIN_TOKEN", TOKEN)
    app = create_app(WebSettings(), redis_client)
    with serve_in_thread(app) as base:
        yield Http(base)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/status"),
        ("GET", "/admin/backfills"),
        ("POST", "/admin/backfills"),
        ("GET", "/admin/backfills/backfill-000000000000"),
        ("DELETE", "/admin/backfills/backfill-000000000000"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}", TOKEN])
def test_admin_routes_refuse_a_missing_or_wrong_token(
    client: Http, state: State, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    answer = client.request(method, path, headers=headers, json={"object": "Lead"})
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in answer.text
    assert BackfillStore(state.redis).ids() == []


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"object": "Opportunity"}, "unknown object 'Opportunity'"),
        ({"object": "Lead", "where": "Nope__c = 1"}, "salesforce refused the Lead scope: INVALID_FIELD"),
        (
            {"crm": "hubspot", "hubspot_filters": [{"propertyName": "x", "operator": "LIKE"}]},
            "unknown operator",
        ),
        ({"crm": "sap"}, "crm:"),
        ({"object": "Lead", "chunk_size": 0}, "chunk_size:"),
        ({"object": "Lead", "surprise": 1}, "surprise: Extra inputs are not permitted"),
    ],
)
def test_a_bad_scope_is_422_naming_the_problem_and_nothing_starts(
    client: Http, state: State, scope: dict[str, Any], message: str
) -> None:
    answer = client.post("/admin/backfills", json=scope, headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "invalid_scope" and message in answer.json()["message"]
    assert BackfillStore(state.redis).ids() == []


def test_a_backfill_started_over_http_reports_progress_and_completes(
    client: Http, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, workers: Service
) -> None:
    seed_org(sf_box.org, 150)
    start_worker(workers)
    answer = client.post("/admin/backfills", json={"object": "Lead", "chunk_size": 25}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    bid = answer.json()["id"]
    assert answer.headers["location"] == f"/admin/backfills/{bid}"
    done = wait_until(
        "the backfill to finish",
        lambda: (d := client.get(f"/admin/backfills/{bid}", headers=AUTH).json())["state"] == "done" and d,
        timeout=120,
    )
    assert done["done"] == done["total"] == 150 and done["errors"] == 0 and done["rate_per_s"] > 0
    assert len(hs_box.portal.stores["contacts"].records) == 150
    assert [b["id"] for b in client.get("/admin/backfills", headers=AUTH).json()] == [bid]


def test_delete_cancels_a_backfill(client: Http, sf_box: SalesforceSandbox, state: State) -> None:
    seed_org(sf_box.org, 50)
    bid = client.post("/admin/backfills", json={"object": "Lead"}, headers=AUTH).json()["id"]
    answer = client.delete(f"/admin/backfills/{bid}", headers=AUTH)
    assert answer.status_code == 200 and answer.json()["state"] == "canceled"
    assert client.get(f"/admin/backfills/{bid}", headers=AUTH).json()["state"] == "canceled"
    assert client.delete("/admin/backfills/backfill-nope", headers=AUTH).status_code == 404


def test_status_groups_dead_letters_by_code_and_counts_the_queues(
    client: Http,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    lead, _ = synced_lead(Status="Working", Lead_Stage__c="Lead")
    stage = hs_box.portal.stores["contacts"].properties["lifecyclestage"]
    stage.options = [o for o in stage.options if o.value != "salesqualifiedlead"]
    service.sf.update("Lead", [(lead, {"Status": "Qualified"})])
    service.sync_one(f"sf:Lead:{lead}", service_run())
    state.dirty("hubspot").add("contacts", ["101", "102"])
    doc = client.get("/admin/status", headers=AUTH).json()
    [group] = doc["dead_letters"]["by_code"]
    assert group["count"] == 1 and group["sample"]["person"] == f"sf:Lead:{lead}"
    assert "salesqualifiedlead" in group["sample"]["message"]
    assert doc["queues"]["dirty"]["hubspot:contacts"] == 2
    assert doc["queues"]["broker"] == {"signals": 0, "sync": 0, "backfill": 0}
    assert (
        set(doc["crms"]) == {"salesforce", "hubspot"} and doc["crms"]["hubspot"]["budget"]["daily_left"] > 0
    )
    assert doc["audit_entries"] == state.audit.length() > 0
    metrics = client.get("/metrics").text
    assert 'crmsync_dirty_keys{set="hubspot:contacts"} 2.0' in metrics
    assert f'crmsync_dead_letters{{code="{group["code"]}"}} 1.0' in metrics
    assert "crmsync_api_budget_left" in metrics and "# TYPE crmsync_audit_entries gauge" in metrics


def service_run() -> Any:
    from worker.sync import Run

    return Run.new("test")


def test_readyz_checks_redis_and_the_map_against_both_crms(
    client: Http, ops_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.get("/healthz").status_code == 200
    monkeypatch.setenv("CRMSYNC_ADMIN_TOKEN", TOKEN)
    down = create_app(WebSettings(), redis.Redis(port=1, socket_connect_timeout=0.2))
    with serve_in_thread(down) as base:
        answer = Http(base).get("/readyz")
    assert answer.status_code == 503 and answer.json()["status"] == "not ready"
