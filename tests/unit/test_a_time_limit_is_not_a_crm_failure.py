"""Celery's soft time limit is raised into whatever the task is doing, often a CRM call. It is not the
CRM's failure: classified as one it became a ``FatalError`` ("Unexpected failure calling HubSpot:
SoftTimeLimitExceeded") and paused HubSpot for everyone for ``CRMSYNC_SYNC_FATAL_PAUSE_S`` (found by
tests/faults/test_slow_crms_write_once.py under load). Both classifiers re-raise it, so the task ends
and returns its keys to the dirty set (``worker.tasks``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from worker.crm.hubspot.classify import classify as classify_hubspot
from worker.crm.salesforce.classify import classify as classify_salesforce
from worker.errors import CrmError, FatalError


@pytest.mark.parametrize("classify", [classify_hubspot, classify_salesforce], ids=["hubspot", "salesforce"])
def test_a_soft_time_limit_is_re_raised_not_classified(classify: Callable[[BaseException], CrmError]) -> None:
    interrupt = SoftTimeLimitExceeded()
    with pytest.raises(SoftTimeLimitExceeded) as raised:
        classify(interrupt)
    assert raised.value is interrupt


@pytest.mark.parametrize("classify", [classify_hubspot, classify_salesforce], ids=["hubspot", "salesforce"])
def test_any_other_unexpected_exception_is_still_a_fatal_crm_error(
    classify: Callable[[BaseException], CrmError],
) -> None:
    assert isinstance(classify(RuntimeError("boom")), FatalError)
