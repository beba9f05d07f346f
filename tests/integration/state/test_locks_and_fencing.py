"""Per-person locks: exclusive, expiring, released only by their holder, fenced against stale writers."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from worker.records import Base
from worker.state.bases import BaseStore
from worker.state.locks import LockBusyError, Locks, StaleFenceError

pytestmark = pytest.mark.integration


def base(stage: str) -> Base:
    return Base(values={"stage": stage}, salesforce_values={}, hubspot_values={})


def test_a_held_lock_refuses_a_second_holder_until_released(redis_client: Any) -> None:
    locks = Locks(redis_client)
    lease = locks.acquire("p1")
    with pytest.raises(LockBusyError):
        locks.acquire("p1")
    assert locks.release(lease)
    assert locks.acquire("p1").token > lease.token


def test_an_expired_lock_is_taken_over_and_the_old_holder_cannot_release_it(redis_client: Any) -> None:
    locks = Locks(redis_client)
    old = locks.acquire("p1", ttl_s=0.05)
    time.sleep(0.1)
    new = locks.acquire("p1")
    assert not locks.release(old) and not locks.extend(old)
    assert locks.holder("p1") == new.token


def test_a_stale_fencing_token_cannot_overwrite_a_newer_base(redis_client: Any) -> None:
    locks, bases = Locks(redis_client), BaseStore(redis_client)
    old = locks.acquire("p1", ttl_s=0.05)
    time.sleep(0.1)
    new = locks.acquire("p1")
    bases.put("p1", base("sql"), fence=new.token)
    with pytest.raises(StaleFenceError):
        bases.put("p1", base("mql"), fence=old.token)
    stored = bases.get("p1")
    assert stored is not None and stored.values["stage"] == "sql"


def test_acquire_all_takes_every_lock_or_none(redis_client: Any) -> None:
    locks = Locks(redis_client)
    locks.acquire("b")
    with pytest.raises(LockBusyError):
        locks.acquire_all(["a", "b", "c"])
    assert locks.holder("a") is None and locks.holder("c") is None


def test_waiters_get_the_lock_one_after_another(redis_client: Any) -> None:
    locks = Locks(redis_client)
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        with locks.held(["p1"], wait_s=5):
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.02)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1


def test_lock_groups_are_taken_all_or_none_in_one_call(redis_client: Any) -> None:
    locks = Locks(redis_client)
    held = locks.acquire("email:x@example.com")
    got = locks.try_acquire_groups([["p1", "email:x@example.com"], ["p2"], ["p2", "p3"]])
    assert got[0] is None  # one of its locks is held elsewhere: nothing of it is taken
    assert got[1] is not None and [x.name for x in got[1]] == ["p2"]
    assert got[2] is None  # p2 went to the earlier group of the same call
    assert locks.holder("p1") is None and locks.holder("p3") is None
    assert locks.release_all([*got[1], held]) == 2


def test_put_many_refuses_only_the_stale_fences(redis_client: Any) -> None:
    bases = BaseStore(redis_client)
    bases.put("p1", base("sql"), fence=5)
    refused = bases.put_many({"p1": base("mql"), "p2": base("lead")}, fence={"p1": 4, "p2": 1})
    assert refused == ["p1"]
    stored = bases.get_many(["p1", "p2"])
    assert stored["p1"].values["stage"] == "sql" and stored["p2"].values["stage"] == "lead"


def test_an_empty_lock_group_is_granted(redis_client: Any) -> None:
    empty, one = Locks(redis_client).try_acquire_groups([[], ["p1"]])
    assert empty == [] and one is not None and [x.name for x in one] == ["p1"]
