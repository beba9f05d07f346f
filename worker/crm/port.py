"""The one adapter contract: what a read or a write through either CRM adapter answers.

Both adapters (``worker.crm.salesforce``, ``worker.crm.hubspot``) speak these types, so the sync service
handles their answers with one piece of code:

- Every write answers a ``WriteReport`` with exactly one ``WriteResult`` per input, in input order, even
  when the write stopped part-way. A failure that ends the whole write early (daily quota, a session
  that cannot be renewed, retries exhausted, a fatal answer) is **returned** as ``WriteReport.stopped``,
  never raised: results of earlier batches are kept, the batch in flight is ``UNKNOWN`` or
  ``NOT_APPLIED`` (depending on whether the server may have committed it) and later inputs are
  ``NOT_APPLIED``.
- Each result is in one of four states (``Outcome``):

  ``APPLIED``      the CRM saved it (``id`` is the record written; ``created`` for creates);
  ``REJECTED``     the CRM refused this record (``error`` carries the CRM's code and message); never
                   re-sent as is — an operator or a new plan must change it first;
  ``NOT_APPLIED``  provably not saved (not attempted, or an answer that proves nothing changed: 429,
                   lock contention, quota); safe to send again;
  ``UNKNOWN``      ambiguous: the request may have committed before the answer was lost (timeout,
                   dropped connection, 5xx, a missing per-record result). Resolve it by reading back
                   (``reconcile``) before anything is re-sent.

- Writes are explicit operations (``WriteOp``): ``create`` (always with an idempotency handle the CRM
  stores, so a re-send finds the record instead of making a second one), ``update`` (absolute values,
  safe to re-send) and ``move_back`` (HubSpot's guarded clear-then-set of ``lifecyclestage``).
- Reads by id answer a ``ReadReport``: records keyed by the id asked for, plus which ids are missing,
  which were redirected to a merge survivor and which were refused as malformed. A read that fails
  raises the classified ``CrmError`` (a read has no effects to account for).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from worker.errors import (
    CrmError,
    QuotaExhaustedError,
    RecordRejectedError,
    RetriableError,
    SessionExpiredError,
)

Record = dict[str, Any]
OpKind = Literal["create", "update", "move_back"]
Side = Literal["salesforce", "hubspot"]


class Outcome(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"
    NOT_APPLIED = "not_applied"
    UNKNOWN = "unknown"


class StopReason(StrEnum):
    """Why a write ended before every input was sent."""

    QUOTA = "quota"  # daily allocation / our share used up: pause this CRM, do not spin
    SESSION = "session"  # credentials expired and could not be renewed
    RETRIES_EXHAUSTED = "retries_exhausted"  # transient failures outlasted the retry policy
    FATAL = "fatal"  # an answer no retry changes (permissions, misconfiguration)


@dataclass(frozen=True)
class Stop:
    reason: StopReason
    error: CrmError

    @classmethod
    def of(cls, error: CrmError) -> Stop:
        if isinstance(error, QuotaExhaustedError):
            return cls(StopReason.QUOTA, error)
        if isinstance(error, SessionExpiredError):
            return cls(StopReason.SESSION, error)
        if isinstance(error, RetriableError):
            return cls(StopReason.RETRIES_EXHAUSTED, error)
        return cls(StopReason.FATAL, error)

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.error}"


@dataclass(frozen=True)
class WriteOp:
    """One explicit write. ``key`` names the input in the report (unique within one call); for a create
    it is also the idempotency handle the CRM stores with the record (Salesforce: the create key field,
    HubSpot: the create key property), so the same create sent twice finds one record."""

    key: str
    kind: OpKind
    object_type: str
    values: Mapping[str, str | None]
    record_id: str | None = None  # required for update / move_back

    def __post_init__(self) -> None:
        if self.kind != "create" and not self.record_id:
            raise ValueError(f"write {self.key!r}: a {self.kind} needs the record id")


@dataclass(frozen=True)
class WriteResult:
    """The outcome of one input. ``error``: for REJECTED the CRM's own error (``code``/``message``);
    for NOT_APPLIED/UNKNOWN what prevented a definite answer."""

    key: str
    state: Outcome
    id: str | None = None
    created: bool | None = None
    error: CrmError | None = None
    redirected: bool = False  # the id given was merged away; ``id`` is the survivor that was written
    record: Record | None = None  # the CRM's answer for the record, when it sends one
    op: WriteOp | None = None  # what was sent (for read-back, dead letters and audit)

    @property
    def ok(self) -> bool:
        return self.state is Outcome.APPLIED

    @property
    def code(self) -> str | None:
        return self.error.code if self.error is not None else None

    @property
    def message(self) -> str:
        return str(self.error) if self.error is not None else ""


@dataclass(frozen=True)
class WriteReport(Mapping[str, WriteResult]):
    """One result per input (input order in ``results``; also a mapping by key) and what stopped the
    write early, if anything."""

    results: tuple[WriteResult, ...] = ()
    stopped: Stop | None = None
    _by_key: dict[str, WriteResult] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_key.update((r.key, r) for r in self.results)

    def __getitem__(self, key: str) -> WriteResult:
        return self._by_key[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def in_state(self, state: Outcome) -> list[WriteResult]:
        return [r for r in self.results if r.state is state]

    @property
    def all_applied(self) -> bool:
        return self.stopped is None and all(r.ok for r in self.results)

    def merged(self, other: WriteReport) -> WriteReport:
        """This report with ``other``'s results replacing those with the same key (and appended)."""
        by_key = dict(self._by_key)
        by_key.update(other._by_key)
        return WriteReport(tuple(by_key.values()), other.stopped or self.stopped)


@dataclass(frozen=True)
class ReadReport:
    """Records by the id asked for. ``redirected``: asked id → survivor id (HubSpot merges);
    ``missing``: ids that do not exist (deleted, purged); ``rejected``: ids refused as malformed."""

    records: dict[str, Record] = field(default_factory=dict)
    missing: frozenset[str] = frozenset()
    redirected: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, CrmError] = field(default_factory=dict)


@runtime_checkable
class CrmPort(Protocol):
    """What the sync service needs from a CRM; both adapters implement it."""

    side: Side

    def fetch(self, object_type: str, ids: Sequence[str], fields: Sequence[str]) -> ReadReport: ...

    def apply(self, ops: Sequence[WriteOp]) -> WriteReport: ...

    def reconcile(self, report: WriteReport) -> WriteReport: ...


# --- helpers the adapters share -------------------------------------------------------------------


def failure_outcome(error: CrmError) -> Outcome:
    """What a failure of a whole request says about the records it carried.

    An answer that proves nothing was saved (any HTTP status below 500: 429, 400 lock contention, 403
    quota, 401) or a failure raised before the request left (our own quota share, the rate limiter,
    a refused refresh) is NOT_APPLIED. A transport failure (timeout, reset, dropped answer: no status,
    or status 0) or a 5xx is UNKNOWN: the server may have committed before the answer was lost."""
    status = error.status
    if status is not None and 0 < status < 500:
        return Outcome.NOT_APPLIED
    if isinstance(error, RetriableError):
        return Outcome.NOT_APPLIED if error.code in PRE_SEND_CODES else Outcome.UNKNOWN
    return Outcome.UNKNOWN if status is not None and status >= 500 else Outcome.NOT_APPLIED


PRE_SEND_CODES = frozenset({"LIMITER_TIMEOUT"})

NOT_ATTEMPTED = "NOT_ATTEMPTED"


def not_attempted(stop: Stop | None) -> RetriableError:
    why = f" ({stop})" if stop is not None else ""
    return RetriableError(f"not attempted: the write stopped before this input{why}", code=NOT_ATTEMPTED)


def from_error(
    key: str, error: CrmError, op: WriteOp | None = None, *, record_id: str | None = None
) -> WriteResult:
    """The result of one input the CRM answered with ``error`` (per record, or for its whole request)."""
    if isinstance(error, RecordRejectedError):
        state = Outcome.REJECTED
    elif isinstance(error, RetriableError) and error.status is not None and 0 < error.status < 500:
        state = Outcome.NOT_APPLIED
    else:
        state = failure_outcome(error)
    return WriteResult(key, state, record_id, error=error, op=op)


def with_op(result: WriteResult, op: WriteOp) -> WriteResult:
    return result if result.op is op else replace(result, op=op)


def values_match(sent: Mapping[str, str | None], current: Mapping[str, Any]) -> bool:
    """Whether a record read back holds every value a write sent (blank and None are one value;
    booleans and numbers compare as the text the core uses)."""
    return all(_text(current.get(name)) == _text(value) for name, value in sent.items())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


__all__ = [
    "CrmPort",
    "Outcome",
    "ReadReport",
    "Stop",
    "StopReason",
    "WriteOp",
    "WriteReport",
    "WriteResult",
    "failure_outcome",
    "from_error",
    "not_attempted",
    "values_match",
]
