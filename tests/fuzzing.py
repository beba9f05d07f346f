"""Hypothesis settings for the fuzz and property tests: modest example counts by default, scaled by
``CRMSYNC_TEST_FUZZ_SCALE`` (``CRMSYNC_TEST_FUZZ_SCALE=20 pytest tests/unit -k fuzz`` for a long run)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("CRMSYNC_TEST_FUZZ_SCALE", "1") or 1)


def examples(default: int) -> int:
    return max(1, round(default * SCALE))


def fuzz(default: int) -> settings:
    """``default`` examples (scaled), no deadline (a shared machine is slow), no health check that
    would refuse module-scoped servers or slow data."""
    return settings(max_examples=examples(default), deadline=None, suppress_health_check=list(HealthCheck))
