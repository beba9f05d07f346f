"""Secret scan over the whole test session (a pytest plugin: ``-p tests.secretscan`` in pyproject).

It collects every secret the tests configure and fails the session when one shows up where an
operator or a CI log could read it.

Collected:
- every ``pydantic.SecretStr`` built in the test process (the settings' tokens, client secrets,
  passwords, webhook and callout secrets, the admin token, Redis/broker URLs — of a URL only its
  password counts);
- every secret-named variable (``…TOKEN``, ``…SECRET``, ``…PASSWORD``, ``…SESSION_ID``,
  ``…PRIVATE_KEY``, ``…_URL`` for its password) in the test process's environment after each test and
  in the environment a harness starts a process with (``watch``);
- the sandboxes' credentials reachable from a test's fixtures: Salesforce session ids and
  connected-app secrets, HubSpot private-app, OAuth access and refresh tokens and client secrets.

Scanned:
- every log record emitted in the test process (a root handler; levels are the loggers' own, so
  ``CRMSYNC_TEST_SECRET_SCAN_DEBUG=1`` lowers the root logger to DEBUG for a thorough run);
- every test report's captured stdout, stderr and log sections and failure text;
- the process logs harnesses register (``watch``: worker, beat, web) and every ``*.log`` file under
  the session's temporary directory, at the end of the session; the output of ``crmsync`` commands
  the tests run as processes (``watch_text``);
- the audit stream, dead letters and backfill records in the test Redis before a fixture flushes it
  (``scan_redis``).

Values shorter than ``MIN_LENGTH`` cannot be told apart from ordinary text (the Salesforce sandbox's
``password``/``TOKEN`` login) and are counted, not scanned. A leak is reported by the secret's kind and
where it was found, never by its value, and makes the session exit 1.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

MIN_LENGTH = 10
MAX_BUFFER_CHARS = 20_000_000
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|SESSION_ID|PRIVATE_KEY|API_KEY|_URL)$", re.IGNORECASE)


@dataclass(frozen=True)
class Leak:
    secret: str  # the secret's kind, never its value
    where: str
    test: str


def candidates(value: str) -> list[str]:
    """The parts of a configured value that must never be printed."""
    value = value.strip()
    if re.match(r"^[a-z][a-z0-9+.-]*://", value, re.IGNORECASE):
        try:
            password = urlsplit(value).password
        except ValueError:
            password = None
        return [password] if password else []
    if "\n" in value:  # a PEM key: each line of its body
        return [line.strip() for line in value.splitlines() if not line.startswith("-----")]
    return [value]


class SecretScan:
    """The registry of secrets, the texts waiting to be scanned and the leaks found."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # value -> kind
        self.too_short: set[str] = set()
        self.leaks: list[Leak] = []
        self.files: set[Path] = set()
        self.scanned = 0
        self.test = "(session)"
        self._buffer: list[tuple[str, str]] = []
        self._buffered = 0
        self._lock = threading.Lock()

    def add(self, kind: str, value: str | None) -> None:
        if not value:
            return
        for part in candidates(value):
            if len(part) < MIN_LENGTH:
                self.too_short.add(part)
            else:
                self.secrets.setdefault(part, kind)

    def add_env(self, env: Mapping[str, str], origin: str) -> None:
        for name, value in env.items():
            if SECRET_NAME.search(name):
                self.add(f"{name} ({origin})", value)

    def add_sandbox(self, box: Any) -> None:
        """The credentials a sandbox issued or holds (duck-typed: either sandbox, or neither)."""
        org = getattr(box, "org", None)
        if org is not None:
            for session in list(getattr(org, "sessions", {})):
                self.add("a Salesforce sandbox session id", session)
            for app in list(getattr(org, "connected_apps", {}).values()):
                self.add("a Salesforce connected-app secret", app.get("secret"))
        auth = getattr(getattr(box, "backend", None), "auth", None)
        if auth is not None:
            for token in [*auth.private_tokens, *auth.access_tokens, *auth.refresh_tokens]:
                self.add("a HubSpot token", token)
            for secret, _ in list(auth.clients.values()):
                self.add("a HubSpot OAuth client secret", secret)

    def watch(self, path: Path, env: Mapping[str, str] | None = None) -> None:
        """A process log to scan at the end of the session, and the environment it was started with."""
        self.files.add(path)
        if env is not None:
            self.add_env(env, f"environment of {path.name}")

    def watch_text(self, text: str, where: str, env: Mapping[str, str] | None = None) -> None:
        """A subprocess's captured output (scanned when the test ends), and the environment it ran in."""
        if env is not None:
            self.add_env(env, f"environment of {where}")
        self.later(text, where)

    def find(self, text: str, where: str, test: str | None = None) -> list[Leak]:
        """Scan one text now (with the secrets known now)."""
        self.scanned += 1
        found = [
            Leak(kind, where, test or self.test) for value, kind in self.secrets.items() if value in text
        ]
        self.leaks.extend(found)
        return found

    def later(self, text: str, where: str) -> None:
        """Keep a text until the current test ends (secrets it may hold can be registered after it)."""
        with self._lock:
            self._buffer.append((text, where))
            self._buffered += len(text)
            over = self._buffered > MAX_BUFFER_CHARS
        if over:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            texts, self._buffer, self._buffered = self._buffer, [], 0
        for text, where in texts:
            self.find(text, where)

    def scan_files(self, paths: Iterable[Path]) -> None:
        for path in sorted(set(paths)):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue
            self.find(text, f"file {path}", test="(process log)")

    def scan_redis(self, client: Any, where: str = "Redis") -> None:
        """The operator-facing state: the audit stream, dead letters, backfill records."""
        texts: list[str] = []
        try:
            for _, fields in client.xrange("crmsync:audit"):
                texts.extend(_text(v) for v in fields.values())
            texts.extend(_text(v) for v in client.hvals("crmsync:dead:entries"))
            for key in client.scan_iter("crmsync:backfill:*", count=1000):
                if client.type(key) in (b"hash", "hash"):
                    texts.extend(_text(v) for v in client.hvals(key))
        except Exception:  # a Redis that went away (a fault test's own server): nothing to read
            return
        self.find("\n".join(texts), f"{where}: audit, dead letters, backfills")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


SCAN = SecretScan()


class _Records(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            text = f"{record.msg!r} {record.args!r}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        SCAN.later(text, f"log record of {record.name}")


_HANDLER = _Records(level=logging.DEBUG)
_ORIGINAL_INIT: Any = None
_ROOT_LEVEL: int | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _ORIGINAL_INIT, _ROOT_LEVEL
    from pydantic import SecretStr

    _ORIGINAL_INIT = SecretStr.__init__

    def registering_init(self: SecretStr, secret_value: str) -> None:
        _ORIGINAL_INIT(self, secret_value)
        if isinstance(secret_value, str):
            SCAN.add("a SecretStr setting", secret_value)

    SecretStr.__init__ = registering_init  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(_HANDLER)
    if os.environ.get("CRMSYNC_TEST_SECRET_SCAN_DEBUG", "").lower() in {"1", "true", "yes"}:
        _ROOT_LEVEL = root.level
        root.setLevel(logging.DEBUG)


def pytest_unconfigure(config: pytest.Config) -> None:
    from pydantic import SecretStr

    if _ORIGINAL_INIT is not None:
        SecretStr.__init__ = _ORIGINAL_INIT  # type: ignore[method-assign]
    root = logging.getLogger()
    root.removeHandler(_HANDLER)
    if _ROOT_LEVEL is not None:
        root.setLevel(_ROOT_LEVEL)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    SCAN.flush()  # what was logged between tests belongs to the session
    SCAN.test = item.nodeid
    yield
    SCAN.add_env(os.environ, "test environment")
    SCAN.flush()
    SCAN.test = "(session)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    yield
    # while the test's monkeypatched environment and its fixtures are still there
    SCAN.add_env(os.environ, "test environment")
    for value in getattr(item, "funcargs", {}).values():
        try:
            SCAN.add_sandbox(value)
        except Exception:  # a fixture value whose attributes do I/O or refuse: it holds no sandbox
            continue


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for title, content in report.sections:
        SCAN.later(content, f"{title} ({report.when})")
    if report.failed:
        SCAN.later(report.longreprtext, f"failure text ({report.when})")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    SCAN.flush()
    files = set(SCAN.files)
    try:
        base = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
        files |= set(base.rglob("*.log"))
    except Exception:
        pass
    SCAN.scan_files(files)
    if SCAN.leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write = terminalreporter.write_line
    if SCAN.leaks:
        terminalreporter.section("secret scan: SECRETS LEAKED", sep="=", red=True, bold=True)
        seen: set[Leak] = set()
        for leak in SCAN.leaks:
            if leak not in seen:
                seen.add(leak)
                write(f"{leak.test}: {leak.secret} in {leak.where}")
    write(
        f"secret scan: {len(SCAN.secrets)} secrets, {SCAN.scanned} texts and files scanned, "
        f"{len(set(SCAN.leaks))} leaks ({len(SCAN.too_short)} configured values under "
        f"{MIN_LENGTH} characters not scanned)"
    )
