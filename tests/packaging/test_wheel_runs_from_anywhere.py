"""A wheel built from the checkout, installed into a fresh virtualenv, runs the README's example from
``/``: the shipped maps travel as package data and are found without the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
EXAMPLES = ROOT / "examples"
SOURCES = ("pyproject.toml", "README.md", "worker", "sandbox", "mappings")


def run(*args: str | Path, cwd: Path = Path("/"), **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CRMSYNC_", "PYTHON"))}
    environment.update(env)
    return subprocess.run(
        [str(a) for a in args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=600,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``crmsync`` command of a fresh venv holding only the wheel and its pinned dependencies."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:  # a copy, so the build leaves nothing in the checkout
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    constraints = {"PIP_CONSTRAINT": str(ROOT / "constraints.txt"), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp / "dist", source, **constraints)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("crm_sync-*.whl")
    made = run(sys.executable, "-m", "venv", tmp / "venv")
    assert made.returncode == 0, made.stderr
    pip = run(tmp / "venv" / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, **constraints)
    assert pip.returncode == 0, pip.stderr[-2000:]
    return tmp / "venv" / "bin" / "crmsync"


def explain(crmsync: Path, *extra: str, **env: str) -> dict[str, object]:
    done = run(
        crmsync, "explain",
        "--salesforce", EXAMPLES / "salesforce-lead.json", "--hubspot", EXAMPLES / "hubspot-contact.json",
        "--base", EXAMPLES / "base.json", "--facts", EXAMPLES / "facts.json", "--json", *extra,
        **env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_explain_runs_from_the_root_directory_with_the_shipped_default(installed: Path) -> None:
    plan = explain(installed)
    assert plan["map"] == "default"
    assert plan["writes"]


def test_a_shipped_map_is_named_by_option_or_environment(installed: Path) -> None:
    assert explain(installed, "--map", "sirius-waterfall")["map"] == "sirius-waterfall"
    assert explain(installed, CRMSYNC_MAP="sirius-waterfall")["map"] == "sirius-waterfall"
    assert explain(installed, "--map", str(ROOT / "mappings" / "default.yaml"))["map"] == "default"


def test_the_wheel_carries_the_maps_not_the_checkout(installed: Path) -> None:
    probe = run(installed.parent / "python", "-c", "import worker.maps as m; print(m.shipped_dir())")
    assert probe.returncode == 0, probe.stderr
    where = Path(probe.stdout.strip())
    assert not where.is_relative_to(ROOT)
    assert sorted(p.name for p in where.glob("*.yaml")) == ["default.yaml", "sirius-waterfall.yaml"]
    assert run(installed, "--version").stdout.startswith("crmsync ")
