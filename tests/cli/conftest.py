"""Run ``crmsync`` as a user does: a separate process, its exit code and what it prints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.secretscan import SCAN

BIN = Path(sys.executable).parent / "crmsync"


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def message(self) -> str:
        """The one line a refusal prints (asserting it is one line, and no traceback)."""
        assert "Traceback" not in self.err + self.out, self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        return lines[0]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any crm-sync setting (a newcomer's shell), plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CRMSYNC_") or k == "CRMSYNC_TEST_REDIS_URL"
    }
    env.update(extra)
    return env


def crmsync(*args: str, cwd: Path | None = None, timeout: float = 60, **env: str) -> Run:
    command = str(BIN) if BIN.exists() else shutil.which("crmsync")
    if command is None:
        pytest.fail("the crmsync command is not installed in this environment (pip install -e .)")
    done = subprocess.run(
        [command, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(**env),
        timeout=timeout,
    )
    SCAN.watch_text(done.stdout + done.stderr, f"output of crmsync {' '.join(args)[:60]}", env)
    return Run(done.returncode, done.stdout, done.stderr)
