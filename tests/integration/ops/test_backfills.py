"""``crmsync backfill``: scopes validated before anything runs, chunks synced by a real Celery worker
on the backfill queue (both sandboxes, real Redis), a second run writes nothing, a dry run writes
nothing and counts what it would write, a cancelled backfill runs no further chunk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, wait_until
from worker.ops.backfill import BackfillStore
from worker.state.store import State

from .conftest import Crmsync, start_worker

pytestmark = pytest.mark.integration


def hubspot_contacts(hs_box: HubSpotSandbox) -> int:
    return len(hs_box.portal.stores["contacts"].records)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--object", "Opportunity"], "unknown object 'Opportunity'"),
        (["--crm", "hubspot", "--where", "Status = 'Open'"], "a SOQL where clause needs crm salesforce"),
        (["--object", "Lead", "--where", "Nope__c = 1"], "salesforce refused the Lead scope: INVALID_FIELD"),
        (["--object", "Lead", "--where", "Status = 'x'; DELETE"], "where must be one SOQL condition"),
        (["--since", "last tuesday"], "since:"),
        (
            ["--crm", "hubspot", "--hubspot-filters", '[{"propertyName": "email", "operator": "LIKE"}]'],
            "unknown operator 'LIKE'",
        ),
        (["--crm", "hubspot", "--hubspot-filters", "{not json"], "--hubspot-filters is not JSON"),
    ],
)
def test_a_bad_scope_exits_2_naming_the_problem_and_nothing_starts(
    crmsync: Crmsync, state: State, args: list[str], message: str
) -> None:
    result = crmsync("backfill", "start", *args, "--detach")
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert BackfillStore(state.redis).ids() == []


def test_a_backfill_syncs_everyone_in_scope_and_a_second_run_writes_nothing(
    crmsync: Crmsync, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, workers: Service
) -> None:
    seed_org(sf_box.org, 300)
    leads = len(sf_box.org.stores["Lead"].records)
    start_worker(workers)
    result = crmsync("backfill", "start", "--object", "Lead", "--chunk-size", "50", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    last = lines[-1]
    assert result.exit_code == 0, result.output
    assert (last["state"], last["done"], last["total"], last["errors"]) == ("done", leads, leads, 0)
    assert last["writes"] >= leads and hubspot_contacts(hs_box) == leads
    assert all(0 <= line["done"] <= line["total"] for line in lines)  # progress as it went
    again = crmsync("backfill", "start", "--object", "Lead", "--json")
    second = json.loads(again.stdout.splitlines()[-1])
    assert (second["state"], second["done"], second["writes"]) == ("done", leads, 0)
    assert hubspot_contacts(hs_box) == leads


def test_a_dry_run_counts_writes_per_rule_and_field_exports_them_and_writes_nothing(
    crmsync: Crmsync,
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    state: State,
    workers: Service,
    tmp_path: Path,
) -> None:
    seed_org(sf_box.org, 120)
    start_worker(workers)
    result = crmsync(
        "backfill", "start", "--object", "Lead", "--where", "Status = 'Qualified'", "--dry-run", "--json"
    )
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.splitlines()[-1])
    qualified = sum(1 for r in sf_box.org.stores["Lead"].records.values() if r.get("Status") == "Qualified")
    assert last["state"] == "done" and last["done"] == last["total"] == qualified > 0
    assert last["writes"] == 0 and hubspot_contacts(hs_box) == 0 and state.audit.length() == 0
    fields = last["planned"]["fields"]
    assert fields["hubspot.email"] == qualified  # every person would get a HubSpot contact
    export = tmp_path / "planned.csv"
    crmsync("backfill", "planned", last["id"], "--format", "csv", "-o", str(export))
    rows = export.read_text().splitlines()
    assert rows[0] == "person,side,op,object,record,field,value,cause"
    assert len(rows) - 1 == sum(fields.values())
    jsonl = crmsync("backfill", "planned", last["id"]).stdout.splitlines()
    assert len(jsonl) == len(rows) - 1 and json.loads(jsonl[0])["cause"]


def test_a_cancelled_backfill_runs_no_further_chunk(
    crmsync: Crmsync, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, state: State, workers: Service
) -> None:
    seed_org(sf_box.org, 200)
    started = crmsync("backfill", "start", "--object", "Lead", "--chunk-size", "20", "--detach")
    assert started.exit_code == 0, started.output
    bid = started.stdout.strip()
    cancelled = crmsync("backfill", "cancel", bid)
    assert cancelled.exit_code == 0 and f"backfill {bid}: canceled" in cancelled.stdout
    start_worker(workers)  # the enumerate task is delivered now, sees the cancel and stops
    store = BackfillStore(state.redis)
    wait_until(
        "the broker's backfill queue drained",
        lambda: redis.Redis.from_url(workers.env["CRMSYNC_BROKER_URL"]).llen("backfill") == 0,
    )
    b = store.get(bid)
    assert b is not None and b.state == "canceled" and b.done == 0
    assert hubspot_contacts(hs_box) == 0
    assert crmsync("backfill", "resume", bid).exit_code == 2  # a cancelled backfill stays cancelled
