"""The shipped definition maps, found as package data, and how a ``--map`` value names a map.

``worker/maps`` is a link to the repository's top-level ``mappings/`` directory; the wheel carries its
YAML files as package data (``pyproject.toml``), so ``importlib.resources`` finds them the same way in a
checkout, an editable install and an installed wheel, whatever the working directory.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from worker.errors import ConfigError

DEFAULT_MAP = "default"
MAP_ENV = "CRMSYNC_MAP"


def shipped_dir() -> Path:
    return Path(str(resources.files("worker") / "maps"))


def shipped_names() -> list[str]:
    return sorted(p.stem for p in shipped_dir().glob("*.yaml"))


def resolve_map(value: str | os.PathLike[str] | None, source: str = "") -> Path:
    """A map file from an existing file path, else a shipped map's name; ``None`` → ``CRMSYNC_MAP``,
    else the shipped default. A value that is neither is refused naming both readings; ``source`` says
    where the value came from (``--map``) in that message."""
    if value is None:
        env = os.environ.get(MAP_ENV)
        value, source = (env, MAP_ENV) if env else (DEFAULT_MAP, "")
    path = Path(value)
    if path.is_file():
        return path
    name = path.name.removesuffix(".yaml").removesuffix(".yml")
    if str(path) in {name, f"{name}.yaml", f"{name}.yml"} and name in shipped_names():
        return shipped_dir() / f"{name}.yaml"
    given = f" (from {source})" if source else ""
    if path.exists():
        raise ConfigError(f"{path}{given}: is not a file: give a definition map file")
    raise ConfigError(
        f"{path}{given}: no such file, and no shipped map of that name "
        f"(shipped: {', '.join(shipped_names())}): give a map file or a shipped map's name"
    )
