"""Promise: at-least-once processing, effectively-once effects, on either broker.

The whole worker (main process and pool) is SIGKILLed while a sync's HubSpot create request is in flight
(the sandbox holds it 3 s and then commits it: the worst case, a write that lands after its sender
died). Its messages come back (Redis: after the visibility timeout; RabbitMQ: when the connection
closes), its leased people return to the dirty set, and a new worker finishes them: every lead ends
with exactly one HubSpot contact, linked both ways, nothing dead-lettered, and every create audited —
also the ones the killed worker's request committed (from the create intents written before sending).
A second test delivers one sync task twice at once (same task id, two pool processes)."""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.e2e.conftest import Service, broker_url, wait_until
from tests.faults.conftest import Workload, assert_converged, rabbitmq_url, sf_api

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
TASK = re.compile(r"Task (crmsync\.\w+)\[([0-9a-f-]+)\] (received|succeeded|retry|raised)")


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, redis_url: str) -> Iterator[str]:
    if request.param == "redis":
        yield broker_url(redis_url)
    else:
        yield from rabbitmq_url(uuid.uuid4().hex[:8])


def unfinished(log: str) -> set[str]:
    """Task ids a worker received and never finished (neither succeeded, retried nor raised)."""
    received, ended = set(), set()
    for _, task_id, what in TASK.findall(log):
        (received if what == "received" else ended).add(task_id)
    return received - ended


def test_a_worker_killed_mid_write_is_redelivered_and_creates_each_contact_once(
    faults: Service,
    sf_box: SalesforceSandbox,
    hs_box: HubSpotSandbox,
    redis_client: Any,
    broker: str,
) -> None:
    faults.env["CRMSYNC_BROKER_URL"] = broker
    beat = faults.start("beat")
    first = faults.start("worker", "-c", "2")
    wait_until(
        "the first polls",
        lambda: redis_client.exists("crmsync:cursor:salesforce:Lead", "crmsync:cursor:hubspot:contacts") == 2,
        timeout=60,
    )
    hs_box.arm_fault(path_prefix=UPSERT, delay_ms=3000, count=1)
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=30)
    wait_until("a HubSpot create in flight", lambda: not hs_box.backend.faults, timeout=60, every=0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    lost = unfinished(faults.log_of(first))
    assert lost, "the worker was killed with no task running"

    second = faults.start("worker", "-c", "2")
    # every message the killed worker held is delivered again (not only re-created by the next tick)
    wait_until(
        "the killed worker's messages redelivered",
        lambda: lost <= {t for _, t, w in TASK.findall(faults.log_of(second)) if w == "received"},
        timeout=90,
    )
    assert_converged(sf_box, hs_box, redis_client, work)
    faults.stop(second)
    faults.stop(beat)


def test_one_sync_task_delivered_twice_at_once_writes_each_person_once(
    faults: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any, redis_url: str
) -> None:
    """No beat: the test sends the sync task itself, the same message id twice, to a worker with two
    pool processes; both deliveries drain the same dirty people at once (person locks keep writes
    single), then a beat finishes whatever they returned as busy."""
    from worker.celery_app import make_app
    from worker.settings import Settings

    worker = faults.start("worker", "-c", "2")
    wait_until("the worker to be ready", lambda: "ready." in faults.log_of(worker), timeout=60)
    hs_box.arm_fault(path_prefix=UPSERT, delay_ms=1500, count=2)
    work = Workload(sf_api(sf_box), hs_box.client())
    work.make(leads=20)
    from worker.state.dirty import Change, DirtySet, Event

    DirtySet(redis_client, "salesforce").record(
        [Event(f"twice:{work.tag}", [Change("Lead", i) for i in work.leads.values()])]
    )
    client = make_app(Settings(redis_url=redis_url, broker_url=broker_url(redis_url)))  # type: ignore[arg-type]
    task_id = f"twice-{work.tag}"
    client.send_task("crmsync.sync", task_id=task_id)
    client.send_task("crmsync.sync", task_id=task_id)
    wait_until(
        "both deliveries to run",
        lambda: faults.log_of(worker).count(f"[{task_id}] succeeded") == 2,
        timeout=90,
    )
    faults.start("beat")
    assert_converged(sf_box, hs_box, redis_client, work)
