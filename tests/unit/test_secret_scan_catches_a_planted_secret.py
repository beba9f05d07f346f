"""The session's secret scan (``tests/secretscan.py``) fails a session whose tests leak a configured
secret — through a log record, captured output, a process log or the audit stream — naming the
secret's kind and where, never its value; and passes a session that leaks nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.secretscan import SecretScan, candidates

# the planted values are built at run time and never wrapped in SecretStr in this process, so this
# session's own scan does not know them
PLANTED = {name: f"planted-{name}-" + "7f3a9c" * 4 for name in ("log", "stdout", "process", "env")}

INNER = """
import logging, os, sys
from pydantic import SecretStr

def test_logs_a_secret():
    token = SecretStr("{log}")
    logging.getLogger("worker.sync").warning("calling with %s", token.get_secret_value())

def test_prints_a_secret():
    SecretStr("{stdout}")
    print("Authorization: Bearer {stdout}")

def test_a_process_log_holds_a_secret(tmp_path):
    SecretStr("{process}")
    (tmp_path / "worker-0.log").write_text("session {process} refused")

def test_an_environment_secret_reaches_stderr(monkeypatch):
    monkeypatch.setenv("CRMSYNC_WEB_CALLOUT_SECRET", "{env}")
    print("callout with", os.environ["CRMSYNC_WEB_CALLOUT_SECRET"], file=sys.stderr)
"""

CLEAN = """
import logging
from pydantic import SecretStr

def test_uses_a_secret_without_printing_it(tmp_path):
    token = SecretStr("{log}")
    logging.getLogger("worker").warning("token configured: %s", token)
    (tmp_path / "web-0.log").write_text(repr(token))
    print(token)
"""


def run_inner(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(source.format(**PLANTED))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRMSYNC_", "PYTEST_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.secretscan", "-p", "no:cacheprovider", "-q",
         f"--basetemp={tmp_path / 'base'}", "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def test_a_session_that_leaks_fails_naming_kind_and_place(tmp_path: Path) -> None:
    done = run_inner(tmp_path, INNER)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "4 passed" in out and "secret scan: SECRETS LEAKED" in out
    for expected in (
        "test_logs_a_secret: a SecretStr setting in log record of worker.sync",
        "test_prints_a_secret: a SecretStr setting in Captured stdout call",
        "(process log): a SecretStr setting in file " + str(tmp_path / "base"),
        "test_an_environment_secret_reaches_stderr: CRMSYNC_WEB_CALLOUT_SECRET (test environment) in "
        "Captured stderr call",
    ):
        assert expected in out, out
    for value in PLANTED.values():
        assert value not in out


def test_a_session_that_leaks_nothing_passes(tmp_path: Path) -> None:
    done = run_inner(tmp_path, CLEAN)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "secret scan: 1 secrets" in done.stdout and "0 leaks" in done.stdout


def test_the_audit_stream_and_dead_letters_are_scanned(redis_client: Any) -> None:
    scan = SecretScan()
    scan.add("a HubSpot token", PLANTED["process"])
    redis_client.xadd("crmsync:audit", {"e": '{"field": "email", "after": "x@example.com"}'})
    scan.scan_redis(redis_client)
    assert scan.leaks == []
    redis_client.hset("crmsync:dead:entries", "sf:Lead:00Q", f'{{"message": "token {PLANTED["process"]}"}}')
    scan.scan_redis(redis_client)
    [leak] = scan.leaks
    assert leak.secret == "a HubSpot token" and "dead letters" in leak.where
    redis_client.delete("crmsync:dead:entries")


@pytest.mark.parametrize(
    ("value", "scanned"),
    [
        ("redis://:s3cret-password-1234@127.0.0.1:6379/0", ["s3cret-password-1234"]),
        ("redis://127.0.0.1:6379/7", []),  # a URL without a password holds no secret
        ("-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----", ["MIIEvQIBADANBgkq"]),
        ("pat-na1-0000", ["pat-na1-0000"]),
    ],
)
def test_what_of_a_configured_value_is_scanned_for(value: str, scanned: list[str]) -> None:
    assert candidates(value) == scanned
