"""The daemon as deployed: ``crmsync beat`` schedules polls, a ``crmsync worker`` process runs them, and
changes made through each CRM's public API land in the dirty set; only one beat ticks at a time; a map
that does not fit the CRMs stops the worker before it does anything."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from sandbox.hubspot.server import HubSpotSandbox
from sandbox.salesforce.server import SalesforceSandbox
from tests.conftest import MAPPINGS
from tests.e2e.conftest import Service, wait_until
from worker.state.dirty import DirtySet

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _sf_api(box: SalesforceSandbox) -> Salesforce:
    return Salesforce(instance_url=box.instance_url, session_id=box.new_session_id(), session=box.session())


def test_changes_in_either_crm_reach_the_dirty_set_through_beat_and_a_worker_process(
    service: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    worker = service.start("worker", "-c", "1", "-Q", "signals")
    beat = service.start("beat")
    # the first poll of each CRM sets its cursors; wait for them before changing anything
    wait_until(
        "the first polls",
        lambda: redis_client.exists("crmsync:cursor:salesforce:Lead", "crmsync:cursor:hubspot:contacts") == 2,
        timeout=60,
    )
    lead_id = _sf_api(sf_box).Lead.create({"LastName": "Lovelace", "Company": "Engines"})["id"]
    contact = hs_box.client().crm.contacts.basic_api.create({"properties": {"email": "ada@example.com"}})

    sf_dirty, hs_dirty = DirtySet(redis_client, "salesforce"), DirtySet(redis_client, "hubspot")
    wait_until("the lead in the dirty set", lambda: lead_id in sf_dirty.members("Lead"), timeout=20)
    wait_until("the contact in the dirty set", lambda: contact.id in hs_dirty.members("contacts"), timeout=20)

    assert service.stop(beat) == 0
    assert service.stop(worker) == 0, service.log_of(worker)


def test_a_second_beat_waits_for_the_lock_and_takes_over_when_the_first_dies(
    service: Service, redis_client: Any
) -> None:
    first = service.start("beat", "-l", "DEBUG")
    wait_until("the first beat's lock", lambda: redis_client.get("crmsync:redbeat::lock"), timeout=30)
    holder = redis_client.get("crmsync:redbeat::lock")
    second = service.start("beat", "-l", "DEBUG")
    wait_until("the second beat to start waiting", lambda: "beat: Acquiring lock" in service.log_of(second))
    # while the first holds the lock the second never schedules anything
    assert "Acquired lock" not in service.log_of(second)
    assert redis_client.get("crmsync:redbeat::lock") == holder

    service.stop(first, signal.SIGKILL)  # dies without releasing: the lock must expire (5 s)
    wait_until("the second beat to take over", lambda: "Acquired lock" in service.log_of(second), timeout=30)
    assert redis_client.get("crmsync:redbeat::lock") != holder


def test_a_map_naming_a_value_salesforce_lacks_stops_the_worker_with_the_reason(
    service: Service, tmp_path: Path
) -> None:
    text = (MAPPINGS / "default.yaml").read_text()
    broken = tmp_path / "renamed.yaml"
    broken.write_text(text.replace("salesforce: Meeting Set", "salesforce: Meeting Booked"))
    worker = service.start("worker", "-c", "1", CRMSYNC_MAP=str(broken))
    assert worker.wait(timeout=60) == 2
    log = service.log_of(worker)
    assert "refusing to sync" in log and "Meeting Booked" in log


def test_an_exhausted_hubspot_budget_pauses_its_polls_instead_of_spinning(
    service: Service, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    """Daily budget of 2 calls: the first polls spend it, the next one hits QuotaExhaustedError, the task
    pauses HubSpot (a key with a TTL) and later polls make no call until the pause expires."""
    env = {
        "CRMSYNC_SALESFORCE_ENABLED": "false",
        "CRMSYNC_HUBSPOT_DAILY_BUDGET": "2",
        "CRMSYNC_SYNC_QUOTA_PAUSE_S": "3600",
        "CRMSYNC_VERIFY_MAP_ON_START": "false",
    }
    worker = service.start("worker", "-c", "1", "-Q", "signals", **env)
    beat = service.start("beat", **env)
    reason = wait_until("the HubSpot pause", lambda: redis_client.get("crmsync:pause:hubspot"), timeout=30)
    assert b"DAILY" in reason
    assert redis_client.pttl("crmsync:pause:hubspot") > 3_000_000
    calls = hs_box.backend.portal.limiter.accepted
    wait_until("three more polls", lambda: service.log_of(worker).count("'paused'") >= 3, timeout=30)
    assert hs_box.backend.portal.limiter.accepted == calls
    service.stop(beat)
    service.stop(worker)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize(("max_attempts", "finishes"), [(3, True), (1, False)])
def test_a_poll_whose_worker_process_is_killed_is_redelivered_and_counted(
    service: Service,
    hs_box: HubSpotSandbox,
    redis_client: Any,
    redis_url: str,
    max_attempts: int,
    finishes: bool,
) -> None:
    """SIGKILL of the pool process mid-task: the message is not lost (acks_late + reject on worker lost)
    but delivered again, and the task's own counter stops the loop after ``CRMSYNC_MAX_ATTEMPTS``."""
    from tests.e2e.conftest import broker_url
    from worker.celery_app import make_app
    from worker.settings import Settings

    env = {
        "CRMSYNC_SALESFORCE_ENABLED": "false",
        "CRMSYNC_VERIFY_MAP_ON_START": "false",
        "CRMSYNC_MAX_ATTEMPTS": str(max_attempts),
    }
    worker = service.start("worker", "-c", "1", "-Q", "signals", **env)
    wait_until("the worker to be ready", lambda: "ready." in service.log_of(worker), timeout=60)
    hs_box.arm_fault(path_prefix="/crm/v3/objects/contacts/search", delay_ms=20_000, count=1)
    client = make_app(Settings(redis_url=redis_url, broker_url=broker_url(redis_url)))  # type: ignore[arg-type]
    task_id = client.send_task("crmsync.poll_hubspot").id
    wait_until("the first delivery", lambda: redis_client.get(f"crmsync:attempts:{task_id}") == b"1")
    [child] = wait_until("the pool process", lambda: _children(worker.pid), timeout=10)
    os.kill(child, signal.SIGKILL)

    if finishes:
        wait_until(
            "the redelivered poll to finish", lambda: f"{task_id}] succeeded" in service.log_of(worker)
        )
        assert redis_client.get(f"crmsync:attempts:{task_id}") is None  # done: the counter is dropped
        assert "poll hubspot:" in service.log_of(worker)
    else:
        wait_until("the task to give up", lambda: "giving up" in service.log_of(worker))
        assert "poll hubspot:" not in service.log_of(worker)  # killed once, then never run again
    assert "WorkerLostError" in service.log_of(worker)
    service.stop(worker)


def test_sigterm_mid_sync_finishes_the_batch_and_a_restart_syncs_the_rest_once(
    service: Service, sf_box: SalesforceSandbox, hs_box: HubSpotSandbox, redis_client: Any
) -> None:
    """Warm shutdown: the running batch completes (slow HubSpot writes make sure one is in flight), the
    worker exits 0, and after a restart every lead has exactly one HubSpot contact."""
    sf = _sf_api(sf_box)
    beat = service.start("beat")
    worker = service.start("worker", "-c", "1", CRMSYNC_SYNC_BATCH_SIZE="10")
    wait_until(
        "the first polls",
        lambda: redis_client.exists("crmsync:cursor:salesforce:Lead", "crmsync:cursor:hubspot:contacts") == 2,
        timeout=60,
    )
    hs_box.arm_fault(path_prefix="/crm/v3/objects/contacts/batch", delay_ms=1500, count=6)
    emails = [f"shutdown{n}@example.com" for n in range(30)]
    for email in emails:
        sf.Lead.create({"LastName": "Shutdown", "Company": "Sigterm", "Email": email})
    wait_until("a sync batch in flight", lambda: "Task crmsync.sync[" in service.log_of(worker), timeout=30)
    assert service.stop(worker, signal.SIGTERM, timeout=120) == 0
    log = service.log_of(worker)
    assert "Warm shutdown" in log and "WorkerLostError" not in log

    service.start("worker", "-c", "1")

    def contacts() -> dict[str, int]:
        counts: dict[str, int] = {}
        for rec in hs_box.portal.stores["contacts"].records.values():
            email = str(rec.props.get("email", ""))
            if email in emails:
                counts[email] = counts.get(email, 0) + 1
        return counts

    wait_until("a contact for every lead", lambda: len(contacts()) == len(emails), timeout=90)
    assert set(contacts().values()) == {1}
    service.stop(beat)
