"""The connections an operator command needs, built from the same settings as the daemon."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.errors import InputError
from worker.settings import Settings, load_settings
from worker.sync.keys import RecordKey

if TYPE_CHECKING:
    from worker.tasks import Runtime


def runtime(settings: Settings | None = None) -> Runtime:
    """The daemon's own per-process runtime (``worker.tasks.Runtime``): the same adapters, rate
    limiters, state stores and sync service a worker uses, so a command and the daemon share locks and
    budgets. Built lazily: a command that only reads Redis never logs into a CRM."""
    from worker.tasks import Runtime

    return Runtime(settings or load_settings())


def record_key(text: str | None) -> RecordKey | None:
    """A stored record key (``sf:Lead:00Q…``, ``hs:contacts:123``) parsed, or None when blank or
    malformed (a person's hash written by hand): a report skips that side instead of failing."""
    if not text:
        return None
    try:
        return RecordKey.parse(text)
    except InputError:
        return None
