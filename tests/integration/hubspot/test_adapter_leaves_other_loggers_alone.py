"""Creating and using a ``HubSpotAdapter`` changes no logger the project does not own (issue 12 item 10)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from worker.crm.hubspot import HubSpotAdapter

from .conftest import make_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def urllib3_at_debug() -> Iterator[logging.Logger]:
    logger = logging.getLogger("urllib3")
    before = logger.level
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.setLevel(before)


def test_urllib3_keeps_the_level_the_application_gave_it(
    sandbox: HubSpotSandbox, urllib3_at_debug: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    adapter = HubSpotAdapter(make_settings(sandbox))
    assert urllib3_at_debug.level == logging.DEBUG
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        adapter.update({"1": {"firstname": "A"}})
    assert urllib3_at_debug.level == logging.DEBUG
    assert any(r.name.startswith("urllib3") and r.levelno == logging.DEBUG for r in caplog.records)


def test_a_token_refresh_rebuilding_the_client_keeps_it_too(
    sandbox: HubSpotSandbox, urllib3_at_debug: logging.Logger
) -> None:
    from pydantic import SecretStr

    access, refresh = sandbox.issue_oauth_tokens(ttl_s=1)
    sandbox.advance_clock(5_000)
    adapter = HubSpotAdapter(
        make_settings(
            sandbox,
            access_token=SecretStr(access),
            refresh_token=SecretStr(refresh),
            client_id="sandbox-client-id",
            client_secret=SecretStr("sandbox-client-secret"),
        )
    )
    adapter.read(["1"])
    assert adapter.transport.stats.refreshes == 1
    assert urllib3_at_debug.level == logging.DEBUG
