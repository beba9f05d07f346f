"""A rollback holds the audit stream from its run's first entry: a trim with a retention of one entry
while the rollback runs removes only what came before the run, the rollback restores the person from
the entries it needs, and once it has ended the trim proceeds past the run."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.e2e.conftest import wait_until
from worker.ops.rollback import RollbackReport, rollback
from worker.state.audit import AuditLog
from worker.state.store import State
from worker.sync import Run, SyncService, SyncSettings

pytestmark = pytest.mark.integration


def order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def test_the_trimmer_spares_a_running_rollback_s_run_then_trims_it_once_the_rollback_ended(
    service: SyncService, state: State, synced_lead: Callable[..., tuple[str, str]]
) -> None:
    lead, cid = synced_lead("early@example.com", Status="Working", Lead_Stage__c="Lead")
    service.hs.update({cid: {"lifecyclestage": "marketingqualifiedlead"}})
    run = Run.new("test")  # the run to roll back: it carried MQL to Salesforce
    assert service.sync_one(f"hs:contacts:{cid}", run).writes >= 1
    synced_lead("later@example.com", Status="Working", Lead_Stage__c="Lead")  # entries after the run
    run_ids = [e.entry_id for e in state.audit.entries(run=run.id)]
    before_run = sum(1 for e in state.audit.entries() if order(e.entry_id) < order(run_ids[0]))
    assert before_run > 0 and run_ids

    waiting = SyncService(service.cmap, service.sf, service.hs, state, SyncSettings(lock_wait_s=60))
    trimmer = AuditLog(state.redis, max_len=1)  # a retention that would cut the run
    reports: list[RollbackReport] = []
    person = f"sf:Lead:{lead}"
    with state.locks.held([person]):  # the rollback waits for the person's lock, holding the stream
        worker = threading.Thread(target=lambda: reports.append(rollback(waiting, run.id)))
        worker.start()
        wait_until(
            "the rollback's hold on its run",
            lambda: any(h.endswith("|" + run_ids[0]) for h in state.audit.holds().values()),
        )
        assert trimmer.trim() == before_run  # only what came before the run
        assert [e.entry_id for e in state.audit.entries(run=run.id)] == run_ids
    worker.join(timeout=60)
    [report] = reports
    [restored] = report.people
    assert restored.status == "restored", restored.reasons
    assert service.sf.fetch("Lead", [lead], ["Lead_Stage__c"]).records[lead]["Lead_Stage__c"] == "Lead"
    contact = service.hs.fetch("contacts", [cid], ["lifecyclestage"]).records[cid]
    assert contact["properties"]["lifecyclestage"] == "lead"
    assert state.audit.holds() == {}  # released at the end…
    assert trimmer.trim() > 0 and state.audit.length() == 1  # …and the trim goes past the run now
    assert list(state.audit.entries(run=run.id)) == []
