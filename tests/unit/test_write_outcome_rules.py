"""The port's pure rules: what a failed request says about its records, and the report's shape."""

from __future__ import annotations

import pytest

from worker.crm.port import (
    Outcome,
    Stop,
    StopReason,
    WriteOp,
    WriteReport,
    WriteResult,
    failure_outcome,
    from_error,
    values_match,
)
from worker.errors import (
    CrmError,
    FatalError,
    QuotaExhaustedError,
    RecordRejectedError,
    RetriableError,
    SessionExpiredError,
)
from worker.state.deadletters import DeadLetter, FailedWrite


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (RetriableError("dropped", code="ConnectionError"), Outcome.UNKNOWN),
        (RetriableError("transport", status=0), Outcome.UNKNOWN),
        (RetriableError("503", status=503), Outcome.UNKNOWN),
        (RetriableError("429", status=429), Outcome.NOT_APPLIED),
        (RetriableError("lock", code="UNABLE_TO_LOCK_ROW", status=400), Outcome.NOT_APPLIED),
        (RetriableError("limiter", code="LIMITER_TIMEOUT"), Outcome.NOT_APPLIED),
        (QuotaExhaustedError("share used", code="REQUEST_LIMIT_EXCEEDED"), Outcome.NOT_APPLIED),
        (QuotaExhaustedError("daily", code="DAILY", status=429), Outcome.NOT_APPLIED),
        (SessionExpiredError("expired", status=401), Outcome.NOT_APPLIED),
        (FatalError("forbidden", status=403), Outcome.NOT_APPLIED),
        (FatalError("odd 5xx", status=502), Outcome.UNKNOWN),
    ],
)
def test_a_failed_request_is_unknown_only_when_the_server_may_have_committed(
    error: CrmError, outcome: Outcome
) -> None:
    assert failure_outcome(error) is outcome


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (QuotaExhaustedError("q"), StopReason.QUOTA),
        (SessionExpiredError("s"), StopReason.SESSION),
        (RetriableError("r"), StopReason.RETRIES_EXHAUSTED),
        (FatalError("f"), StopReason.FATAL),
    ],
)
def test_stop_reason_follows_the_error_class(error: CrmError, reason: StopReason) -> None:
    assert Stop.of(error).reason is reason


def test_a_rejection_keeps_the_crm_code_and_message() -> None:
    result = from_error(
        "k", RecordRejectedError("Status: bad value", code="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    )
    assert result.state is Outcome.REJECTED
    assert (result.code, result.message) == ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Status: bad value")


def test_report_is_ordered_and_keyed_and_merges_by_key() -> None:
    a = WriteResult("a", Outcome.UNKNOWN)
    b = WriteResult("b", Outcome.APPLIED, "2")
    report = WriteReport((a, b))
    assert list(report) == ["a", "b"] and report["b"].id == "2" and not report.all_applied
    merged = report.merged(WriteReport((WriteResult("a", Outcome.APPLIED, "1"),)))
    assert [r.state for r in merged.results] == [Outcome.APPLIED, Outcome.APPLIED] and merged.all_applied


def test_an_update_op_needs_a_record_id() -> None:
    with pytest.raises(ValueError, match="needs the record id"):
        WriteOp("k", "update", "Lead", {"Status": "Working"})


def test_values_read_back_compare_as_text_with_blank_as_none() -> None:
    assert values_match({"A": "1", "B": None, "C": "true"}, {"A": 1, "B": "", "C": True})
    assert not values_match({"A": "2"}, {"A": 1})


def test_dead_letter_round_trips_as_json() -> None:
    write = FailedWrite(
        "hubspot", "update", "contacts", "5", {"x": None}, "VALIDATION_ERROR", "bad", "rejected"
    )
    letter = DeadLetter(
        "p", "rejected", (write,), plan={"format": 1}, run_id="r", record_keys=("hs:contacts:5",)
    )
    assert DeadLetter.from_json(letter.to_json()) == letter
