"""Validation for the ``/_sandbox`` control surface (ours, not Salesforce's).

Every body is checked before anything changes: a value of the wrong type, an unknown key or a fault
that could not run is a 400 ``BAD_CONTROL_REQUEST`` naming the problem, and the org is left as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandbox.salesforce import errors as err
from sandbox.salesforce import versions
from sandbox.salesforce.schema import SCHEMA

Check = Callable[[Any], bool]

MAX_SEED = 2_000_000


def _int(lo: int, hi: int) -> Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _number(lo: float, hi: float) -> Check:
    return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and lo <= v <= hi


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _optional(pattern: str) -> Check:
    regex = re.compile(pattern)
    return lambda v: v is None or (isinstance(v, str) and regex.fullmatch(v) is not None)


SETTINGS: dict[str, tuple[Check, str]] = {
    "locators_bound_to_session": (_bool, "true or false"),
    "api_max": (_int(0, 10**9), "a whole number 0..1e9"),
    "api_used": (_int(0, 10**9), "a whole number 0..1e9"),
    "session_seconds": (_number(1, 86_400 * 7), "seconds, 1..604800"),
    "validation_rule_active": (_bool, "true or false"),
    "duplicate_rule": (
        lambda v: v in {"off", "block", "allow_with_header"},
        "off, block or allow_with_header",
    ),
    "converted_leads_editable": (_bool, "true or false"),
    "clock_offset_ms": (_int(-(10**12), 10**12), "milliseconds, within ±1e12"),
    "outbound_url": (_optional(r"https?://[^\s]{1,2000}"), "an http(s) URL or null"),
    "assignment_rule_owner": (
        _optional(r"(?:005|00G)[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?"),
        "a User or queue id (005…/00G…) or null",
    ),
    "bulk_job_polls": (_int(0, 1000), "a whole number 0..1000"),
    "latest_api_version": (
        lambda v: _number(versions.OLDEST_SUPPORTED, 99)(v) and float(v).is_integer(),
        "a release number such as 66.0 (31.0 or later)",
    ),
    "soap_login_enabled": (_bool, "true or false"),
    "lead_field_mapping": (
        lambda v: (
            isinstance(v, dict)
            and all(
                isinstance(k, str)
                and isinstance(t, str)
                and SCHEMA["Lead"].field_ci(k) is not None
                and SCHEMA["Contact"].field_ci(t) is not None
                for k, t in v.items()
            )
        ),
        "an object of Lead field -> Contact field names",
    ),
    "query_timeout_rows": (lambda v: v is None or _int(0, 10**9)(v), "a whole number of rows or null"),
}


def bad(message: str) -> err.SalesforceApiError:
    return err.BadControlRequest(message)


def object_body(body: Any, what: str) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise bad(f"{what}: the body must be a JSON object")
    return body


def settings_changes(body: Any) -> dict[str, Any]:
    """The validated ``{setting: value}`` changes of a ``POST /_sandbox/settings`` body."""
    changes = object_body(body, "settings")
    for key, value in changes.items():
        if key not in SETTINGS:
            raise bad(f"unknown setting {key!r}; known: {', '.join(sorted(SETTINGS))}")
        check, expected = SETTINGS[key]
        if not check(value):
            raise bad(f"setting {key!r} must be {expected}")
    return changes


def seed_args(body: Any) -> tuple[int, int]:
    values = object_body(body, "seed")
    count, seed = values.get("count", 0), values.get("seed", 0)
    if not _int(0, MAX_SEED)(count) or not _int(0, 2**63)(seed):
        raise bad(f"seed: count must be a whole number 0..{MAX_SEED} and seed a whole number")
    return count, seed


def late_commit_args(body: Any) -> tuple[str, str, dict[str, Any], float]:
    values = object_body(body, "late_commit")
    obj, record_id = values.get("object"), values.get("id")
    changes, seconds = values.get("values", {}), values.get("seconds_ago", 60)
    if not isinstance(obj, str) or not isinstance(record_id, str) or not isinstance(changes, dict):
        raise bad("late_commit: object and id must be strings and values an object")
    if not _number(0, 86_400 * 30)(seconds):
        raise bad("late_commit: seconds_ago must be a number of seconds 0..2592000")
    return obj, record_id, changes, float(seconds)


def merge_args(body: Any) -> tuple[str, str, list[str]]:
    """``{"object", "master", "losers": [id, id?]}``: a merge as the UI makes it."""
    values = object_body(body, "merge")
    obj, master, losers = values.get("object"), values.get("master"), values.get("losers")
    if (
        not isinstance(obj, str)
        or not isinstance(master, str)
        or not isinstance(losers, list)
        or not all(isinstance(i, str) for i in losers)
    ):
        raise bad("merge: object and master must be strings and losers a list of ids")
    return obj, master, list(losers)


def field_security_args(body: Any) -> tuple[str | None, str, str, str]:
    """``{"user"?, "object", "field", "access"}``: ``user`` is a username or User id (default: the
    admin, who is also the connected app's run-as user); ``access`` none | read | edit."""
    values = object_body(body, "field_security")
    user, obj, name, access = (values.get(k) for k in ("user", "object", "field", "access"))
    if user is not None and not isinstance(user, str):
        raise bad("field_security: user must be a username or User id")
    if not isinstance(obj, str) or not isinstance(name, str) or access not in {"none", "read", "edit"}:
        raise bad("field_security: object and field must be names and access one of none, read, edit")
    return user, obj, name, access
