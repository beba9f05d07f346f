"""The ``/admin`` page in headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by
Selenium) over real HTTP: sign in with the token, every section renders (status, dead letters, a
backfill with its progress, the funnel chart), nothing overflows a 390 px wide screen (a screenshot is
saved), the "Resync" button fixes a dead-lettered person and "Cancel" stops a backfill."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.hubspot.server import HubSpotSandbox
from tests.conftest import ROOT, require_service
from tests.integration.web.conftest import serve_in_thread
from worker.ops.backfill import BackfillStore, parse_spec
from worker.state.store import State
from worker.sync import Run, SyncService
from worker.web.app import create_app
from worker.web.settings import WebSettings

pytestmark = pytest.mark.integration
TOKEN = "browser-admin-token-0123456789abcdef"
SCREENSHOTS = Path(os.environ.get("CRMSYNC_TEST_ARTIFACTS", ROOT / ".artifacts"))


@pytest.fixture
def browser() -> Iterator[Any]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        require_service(
            "chromium + chromium-driver", "install Debian's chromium and chromium-driver packages"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=390,844",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(driver_path)), options=options)
    driver.implicitly_wait(10)  # a click navigates; find_element waits for the next page
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def site(ops_env: dict[str, str], redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for k, v in ops_env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CRMSYNC_ADMIN_TOKEN", TOKEN)
    with serve_in_thread(create_app(WebSettings(), redis_client)) as url:
        yield url


def test_the_admin_page_renders_every_section_on_a_narrow_screen_and_its_buttons_work(
    browser: Any,
    site: str,
    hs_box: HubSpotSandbox,
    service: SyncService,
    state: State,
    synced_lead: Callable[..., tuple[str, str]],
) -> None:
    from selenium.webdriver.common.by import By

    synced_lead("ok@example.com", Status="Working", Lead_Stage__c="Marketing Qualified Lead")
    lead, cid = synced_lead("stuck@example.com", Status="Working", Lead_Stage__c="Lead")
    stage = hs_box.portal.stores["contacts"].properties["lifecyclestage"]
    removed = [o for o in stage.options if o.value == "salesqualifiedlead"]
    stage.options = [o for o in stage.options if o.value != "salesqualifiedlead"]
    service.sf.update("Lead", [(lead, {"Status": "Qualified"})])
    service.sync_one(f"sf:Lead:{lead}", Run.new("test"))
    assert state.dead.get(f"sf:Lead:{lead}") is not None
    backfill = BackfillStore(state.redis).create(parse_spec({"object": "Lead", "dry_run": True}), 40)

    browser.get(f"{site}/admin")
    assert browser.find_element(By.ID, "login")  # not signed in: the form, nothing else
    browser.find_element(By.ID, "token").send_keys("wrong")
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    assert "not the admin token" in browser.find_element(By.ID, "login-error").text
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "#login button").click()

    status = browser.find_element(By.ID, "status").text
    assert "salesforce" in status and "hubspot" in status and "running" in status
    dead = browser.find_element(By.ID, "dead-letters").text
    assert f"sf:Lead:{lead}" in dead and "Resync" in dead
    row = browser.find_element(By.CSS_SELECTOR, 'tr.backfill[data-state="enumerating"]')
    assert backfill.id in row.text and "0/40" in row.text
    assert browser.find_elements(By.CSS_SELECTOR, "#funnel svg rect.bar")
    assert "Marketing Qualified Lead" in browser.find_element(By.ID, "funnel").text
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0  # usable on a narrow screen: no sideways scrolling of the page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "admin-page-390px.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    stage.options = [*stage.options, *removed]  # the portal admin fixes the option; resync from the page
    browser.find_element(By.CSS_SELECTOR, "#dead-letters button").click()
    assert "synced" in browser.find_element(By.ID, "note").text
    assert state.dead.get(f"sf:Lead:{lead}") is None
    assert hs_box.portal.stores["contacts"].records[int(cid)].props["lifecyclestage"] == "salesqualifiedlead"

    browser.find_element(By.CSS_SELECTOR, "#backfills button").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda b: "canceled" in b.find_element(By.ID, "note").text)
    assert BackfillStore(state.redis).state_of(backfill.id) == "canceled"
