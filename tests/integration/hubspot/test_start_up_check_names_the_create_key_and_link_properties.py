"""The HubSpot start-up check (``worker.crm.hubspot.startup.check_hubspot``) refuses a portal without
the worker's unique create key property or its link properties, saying what to create; the portal's
properties are made through the real Properties API."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from tests.conftest import MAPPINGS
from worker.crm.hubspot.adapter import HubSpotAdapter
from worker.crm.hubspot.startup import check_hubspot, read_schema
from worker.errors import ConfigError
from worker.mapping import load_map
from worker.mapping.verify import verify_against_crms

from .conftest import make_settings

pytestmark = pytest.mark.integration
DEFAULT = MAPPINGS / "default.yaml"


def create_property(hs: Any, name: str, *, unique: bool) -> None:
    from hubspot.crm.properties import PropertyCreate

    body = PropertyCreate(
        name=name,
        label=name,
        type="string",
        field_type="text",
        group_name="contactinformation",
        has_unique_value=unique,
    )
    hs.crm.properties.core_api.create("contacts", body)


def test_the_default_portal_passes(adapter: HubSpotAdapter) -> None:
    assert check_hubspot(adapter, load_map(DEFAULT)) == []


def test_a_missing_create_key_then_a_non_unique_one_is_refused_naming_what_to_create(
    sandbox: HubSpotSandbox, hs: Any
) -> None:
    adapter = HubSpotAdapter(make_settings(sandbox, create_key_property="crmsync_handle"))
    with pytest.raises(ConfigError) as missing:
        check_hubspot(adapter, load_map(DEFAULT))
    text = str(missing.value)
    assert "'crmsync_handle'" in text and "hasUniqueValue true" in text
    assert "CRMSYNC_HUBSPOT_CREATE_KEY_PROPERTY" in text

    create_property(hs, "crmsync_handle", unique=False)
    with pytest.raises(ConfigError) as plain:
        check_hubspot(adapter, load_map(DEFAULT))
    assert "does not require unique values" in str(plain.value)

    create_property(hs, "crmsync_handle2", unique=True)
    unique = HubSpotAdapter(make_settings(sandbox, create_key_property="crmsync_handle2"))
    assert check_hubspot(unique, load_map(DEFAULT)) == []


def test_mappings_verify_arguments_report_the_create_key_too(sandbox: HubSpotSandbox) -> None:
    adapter = HubSpotAdapter(make_settings(sandbox, create_key_property="nope_key"))
    problems = verify_against_crms(load_map(DEFAULT), **read_schema(adapter).verify_arguments())
    assert [p for p in problems if p.startswith("create key:")] and all("nope_key" in p for p in problems)
