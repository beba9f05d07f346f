"""Structured logs: with ``CRMSYNC_LOG_FORMAT=json`` every line the project logs, in a sync run and in a
real ``crmsync worker`` process running a backfill, is one JSON object carrying ``run_id`` and
``person``; the per-person lines name the run and the person; no secret appears."""

from __future__ import annotations

import io
import json
import re

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.seed import seed_org
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service
from worker.logs import LogSettings, configure
from worker.sync import Disposition, Run, SyncService

from .conftest import Crmsync, start_worker

pytestmark = pytest.mark.integration
FIELDS = {"ts", "level", "logger", "message", "run_id", "person"}
OUR_TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+Z [A-Z]+ (worker|crmsync)[.\w]* \[run=")


@pytest.fixture
def json_lines(project_loggers: None) -> io.StringIO:
    buf = io.StringIO()
    configure(LogSettings(format="json"), level="DEBUG", stream=buf)
    return buf


def test_a_sync_run_logs_json_lines_with_its_run_and_each_person(
    json_lines: io.StringIO, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, service: SyncService
) -> None:
    org = sf_box.org
    good = org.create("Lead", {"LastName": "G", "Company": "C", "Email": "g@example.com"}, org.admin_id)
    bad = org.create("Lead", {"LastName": "B", "Company": "C", "Email": "jane@example.con"}, org.admin_id)
    run = Run.new("test")
    outcome = service.sync_batch([f"sf:Lead:{good}", f"sf:Lead:{bad}"], run)
    assert outcome.keys[f"sf:Lead:{bad}"].disposition is Disposition.DEAD_LETTERED

    docs = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    assert docs and all(set(d) == FIELDS for d in docs)
    assert {d["run_id"] for d in docs} == {run.id}
    people = {d["person"]: d for d in docs if d["person"] is not None}
    assert set(people) == {f"sf:Lead:{good}", f"sf:Lead:{bad}"}
    assert people[f"sf:Lead:{good}"]["level"] == "INFO" and "synced" in people[f"sf:Lead:{good}"]["message"]
    assert people[f"sf:Lead:{bad}"]["level"] == "WARNING"
    assert "VALIDATION_ERROR:INVALID_EMAIL" in people[f"sf:Lead:{bad}"]["message"]
    assert hs_box.token not in json_lines.getvalue()


@pytest.mark.slow
def test_a_worker_process_running_a_backfill_logs_json_lines(
    crmsync: Crmsync, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, workers: Service
) -> None:
    seed_org(sf_box.org, 20)
    leads = len(sf_box.org.stores["Lead"].records)
    workers.env |= {"CRMSYNC_LOG_FORMAT": "json"}
    proc = start_worker(workers, concurrency=1)
    result = crmsync("backfill", "start", "--object", "Lead", "--chunk-size", "10", "--json")
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.splitlines()[-1])
    assert (last["state"], last["done"]) == ("done", leads)

    lines = workers.log_of(proc).splitlines()
    ours = [json.loads(line) for line in lines if line.startswith("{")]
    assert all(set(d) == FIELDS for d in ours)
    assert not [line for line in lines if OUR_TEXT_LINE.match(line)]  # none of ours in another format
    synced = [d for d in ours if d["logger"] == "worker.sync.service" and d["person"]]
    assert len({d["person"] for d in synced}) == leads  # one line per person written
    assert {d["run_id"] for d in synced} == {last["id"]}  # the backfill's run
    text = "\n".join(lines)
    assert hs_box.token not in text and "password" not in text.lower()
