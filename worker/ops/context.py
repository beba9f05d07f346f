"""The connections an operator command needs, built from the same settings as the daemon."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.settings import Settings, load_settings

if TYPE_CHECKING:
    from worker.tasks import Runtime


def runtime(settings: Settings | None = None) -> Runtime:
    """The daemon's own per-process runtime (``worker.tasks.Runtime``): the same adapters, rate
    limiters, state stores and sync service a worker uses, so a command and the daemon share locks and
    budgets. Built lazily: a command that only reads Redis never logs into a CRM."""
    from worker.tasks import Runtime

    return Runtime(settings or load_settings())
