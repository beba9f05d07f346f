"""Issue 12 item 7: one signed request cannot carry more than ``max_events`` events, and the events it
does carry reach Redis ``record_chunk`` at a time (one short script call each), never as one call that
blocks Redis for everyone. Real uvicorn, real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from worker.crm.hubspot.settings import HubSpotSettings
from worker.state.dirty import DirtySet, Event
from worker.web.hubspot import create_app
from worker.web.settings import WebSettings

from .conftest import serve_in_thread
from .hubspot_requests import SECRET, event, post

pytestmark = pytest.mark.integration
WEB = WebSettings(max_events=1000, record_chunk=100)


class ChunkRecordingDirtySet(DirtySet):
    """The real DirtySet, remembering how many events each ``record`` call (one script) carried."""

    def __init__(self, redis: Any) -> None:
        super().__init__(redis)
        self.calls: list[int] = []

    def record(self, events: Iterable[Event]) -> int:
        batch = list(events)
        self.calls.append(len(batch))
        return super().record(batch)


@pytest.fixture
def dirty(redis_client: Any) -> ChunkRecordingDirtySet:
    return ChunkRecordingDirtySet(redis_client)


@pytest.fixture
def receiver(dirty: DirtySet) -> Iterator[str]:
    app = create_app(HubSpotSettings(app_secret=SecretStr(SECRET)), dirty, web=WEB)
    with serve_in_thread(app, WEB) as base:
        yield base + "/webhooks/hubspot"


def test_events_reach_redis_in_chunks_of_record_chunk(receiver: str, dirty: ChunkRecordingDirtySet) -> None:
    r = post(receiver, [event(i, 10_000 + i) for i in range(1000)])
    assert r.status_code == 200 and r.json()["queued"] == 1000
    assert dirty.calls == [100] * 10
    assert dirty.size("contacts") == 1000


def test_more_events_than_the_cap_is_413_and_nothing_queued(
    receiver: str, dirty: ChunkRecordingDirtySet
) -> None:
    r = post(receiver, [event(i, 10_000 + i) for i in range(1001)])
    assert r.status_code == 413 and "at most 1000" in r.json()["error"]
    assert dirty.calls == [] and dirty.size("contacts") == 0


def test_the_100k_event_probe_is_refused_by_its_size_before_it_is_parsed(
    receiver: str, dirty: ChunkRecordingDirtySet
) -> None:
    body = json.dumps([event(i, 10_000 + i) for i in range(100_000)]).encode()
    r = post(receiver, None, raw=body)
    assert len(body) > WEB.max_body_bytes
    assert r.status_code == 413 and "larger than" in r.json()["error"]
    assert dirty.calls == [] and dirty.size("contacts") == 0
