"""The project's exception tree: shallow, one root, messages built before ``raise``.

Callers catch the narrowest class they can act on. ``CrmError`` subclasses are what the per-CRM
``classify`` functions return, so the retry layer only ever looks at these types.
"""

from __future__ import annotations

from celery.exceptions import SoftTimeLimitExceeded

#: Exceptions raised into a call from outside (Celery's soft time limit interrupting the task): never
#: a CRM's failure, so never classified. ``raise_interrupt`` re-raises them from a ``classify``; the task
#: ends and what it claimed returns to the dirty set (``worker.tasks``).
INTERRUPTS: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded,)


def raise_interrupt(exc: BaseException) -> None:
    """Re-raise ``exc`` when it interrupts the task rather than reporting a CRM failure."""
    if isinstance(exc, INTERRUPTS):
        raise exc


class CrmSyncError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(CrmSyncError):
    """Settings or command-line input that cannot be used as given."""


class MappingError(CrmSyncError):
    """A definition map that cannot be loaded. ``problems`` lists every problem found, each located."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{len(self.problems)} {noun} in definition map:\n" + "\n".join(self.problems))


class InputError(CrmSyncError):
    """A record, facts or base document that is not in the shape the core expects.

    ``key`` is the path of the offending key in the document (``("properties", "email")``), so a
    caller holding the text can name its line.
    """

    def __init__(self, message: str, *, key: tuple[str | int, ...] = ()) -> None:
        self.key = key
        super().__init__(message)


class CrmError(CrmSyncError):
    """A failure talking to a CRM, already classified. ``code`` is the CRM's own error code."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


def error_reason(exc: BaseException) -> str:
    """A short, bounded label for a failure (metrics): the CRM's code, else its HTTP status, else the
    exception's class."""
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    return str(code) if code else (f"HTTP_{status}" if status else type(exc).__name__)


class RetriableError(CrmError):
    """Worth trying again after ``wait_seconds`` (429, 5xx, lock contention, timeouts, resets)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        wait_seconds: float | None = None,
    ) -> None:
        self.wait_seconds = wait_seconds
        super().__init__(message, code=code, status=status)


class SessionExpiredError(CrmError):
    """Credentials must be refreshed once before the call can be repeated."""


class QuotaExhaustedError(CrmError):
    """The daily allocation (or our configured share of it) is used up: stop, report, do not spin."""


class RecordRejectedError(CrmError):
    """The CRM refused this record (validation, picklist, read-only, duplicate). Never retried."""


class FatalError(CrmError):
    """Misconfiguration or an answer no retry can change (bad credentials, missing permission)."""
