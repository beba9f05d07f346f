"""The project's log lines: one format (``CRMSYNC_LOG_FORMAT=text|json``), every line carrying the
``run_id`` and ``person`` the sync service is working on (context variables), secrets redacted.

Only the project's own loggers (``worker``, ``crmsync``) are configured: each gets one stderr handler
and stops propagating to the root, whose handlers and level (Celery's, uvicorn's, the host
application's) are left alone, as are every third-party logger's.

A JSON line is one object: ``ts`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``,
``message``, ``run_id``, ``person`` (``null`` outside a run or a person), and ``exc`` when an exception
was logged. A text line has the same fields: ``TS LEVEL logger [run=… person=…] message``.

Redaction (``redact``) applies to the message and the exception text of every line: URLs carrying
credentials are shown as ``worker.settings.redact_url`` shows them, and every value registered with
``register_secrets`` (the settings' ``SecretStr`` values, registered by ``configure``) becomes ``***``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any, Literal, TextIO

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_LOGGERS = ("worker", "crmsync")
RUN_ID: ContextVar[str | None] = ContextVar("crmsync_run_id", default=None)
PERSON: ContextVar[str | None] = ContextVar("crmsync_person", default=None)
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/@'\"<>]*@[^\s'\"<>]+", re.IGNORECASE)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_UNSET = object()


class LogSettings(BaseSettings):
    """Env prefix ``CRMSYNC_LOG_``."""

    model_config = SettingsConfigDict(env_prefix="CRMSYNC_LOG_", extra="ignore")

    format: Literal["text", "json"] = Field(
        "text", description="text (one readable line) or json (one object per line, for log shippers)."
    )
    level: str = Field("INFO", description="The project's loggers' level: DEBUG, INFO, WARNING, ERROR.")


@contextlib.contextmanager
def bound(*, run_id: Any = _UNSET, person: Any = _UNSET) -> Iterator[None]:
    """Set ``run_id`` and/or ``person`` for every line logged inside (this thread or task only)."""
    tokens = []
    if run_id is not _UNSET:
        tokens.append((RUN_ID, RUN_ID.set(run_id)))
    if person is not _UNSET:
        tokens.append((PERSON, PERSON.set(person)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def register_secrets(values: Iterable[str | SecretStr | None]) -> None:
    """Values that must never appear in a log line (short ones are ignored: they would mask words)."""
    with _secrets_lock:
        for v in values:
            text = v.get_secret_value() if isinstance(v, SecretStr) else v
            if text and len(text) >= 6:
                _secrets.add(text)


def redact(text: str) -> str:
    from worker.settings import redact_url

    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


class ContextFilter(logging.Filter):
    """Puts the current ``run_id`` and ``person`` on every record (unless the call gave its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "run_id"):
            record.run_id = RUN_ID.get()
        if not hasattr(record, "person"):
            record.person = PERSON.get()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "run_id": getattr(record, "run_id", None),
            "person": getattr(record, "person", None),
        }
        if record.exc_info:
            doc["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_timestamp(record)} {record.levelname} {record.name} "
            f"[run={getattr(record, 'run_id', None) or '-'} person={getattr(record, 'person', None) or '-'}] "
            f"{redact(record.getMessage())}"
        )
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


class _ProjectHandler(logging.Handler):
    """Writes to ``sys.stderr`` as it is when a line is emitted (a command run inside a test runner
    swaps it), or to the stream given; marks the handler ``configure`` added, so a second call
    replaces it instead of adding another."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self._stream or sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def _settings_secrets() -> list[SecretStr]:
    """Every ``SecretStr`` the service's settings hold (best effort: a setting that does not load is
    reported by the command that needs it, and holds nothing to hide yet)."""
    found: list[SecretStr] = []

    def collect(make: Any) -> None:
        with contextlib.suppress(Exception):
            found.extend(v for v in make().__dict__.values() if isinstance(v, SecretStr))

    from worker.crm.hubspot.settings import HubSpotSettings
    from worker.crm.salesforce.settings import SalesforceSettings
    from worker.settings import Settings
    from worker.web.settings import WebSettings

    for make in (Settings, SalesforceSettings, HubSpotSettings, WebSettings):
        collect(make)
    with contextlib.suppress(ImportError):  # the admin API needs the web extra
        from worker.ops.web import AdminSettings

        collect(AdminSettings)
    return found


def configure(
    settings: LogSettings | None = None,
    *,
    level: str | int | None = None,
    stream: TextIO | None = None,
    propagate: bool = False,
) -> None:
    """Give the project's loggers one handler in the configured format (idempotent). ``level``
    overrides ``CRMSYNC_LOG_LEVEL`` (a command's ``--loglevel``). Daemons stop propagation (their root
    logger has Celery's or uvicorn's handler, which would print each line twice); a command keeps it,
    so whatever its host configured on the root still sees the lines."""
    settings = settings or LogSettings()
    formatter: logging.Formatter = JsonFormatter() if settings.format == "json" else TextFormatter()
    register_secrets(_settings_secrets())
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        for h in [h for h in logger.handlers if isinstance(h, _ProjectHandler)]:
            logger.removeHandler(h)
        handler = _ProjectHandler(stream or sys.stderr)
        handler.setFormatter(formatter)
        handler.addFilter(ContextFilter())
        logger.addHandler(handler)
        logger.setLevel(level if level is not None else settings.level.upper())
        logger.propagate = propagate
