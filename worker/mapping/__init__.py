"""The shared definition map: what every stage and status means on each side, and the rules."""

from __future__ import annotations

from worker.mapping.compile import compile_text, load_map
from worker.mapping.compiled import CompiledMap

__all__ = ["CompiledMap", "compile_text", "load_map"]
