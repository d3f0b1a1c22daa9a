"""The receipt check page in a real Chromium: a receipt from the API passes, a tampered one
fails, and the page is accessible with its script under the strict policy. And the
printable statement an auditor downloads keeps its own style sheet under that policy."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from api import bootstrap
from api.access import Role
from api.runtime import open_runtime
from api.settings import Settings
from tests.support.browser import (
    Site,
    browser,
    check_accessible,
    off_the_loop,
    phone,
    site,
    watch_for_refusals,
)
from tests.support.server import COMMUNITY

__all__ = ["browser", "site"]  # fixtures
pytestmark = pytest.mark.slow


def a_receipt(site: Site) -> dict[str, Any]:
    """The receipt of the first seeded member's newest entry, as the API gives it."""
    token = {"Authorization": f"Bearer {site.seeded.member_tokens[0]}"}
    account = site.seeded.member_accounts[0]
    entries = httpx.get(f"{site.base}/api/v1/accounts/{account}/entries", headers=token)
    assert entries.status_code == 200, entries.text
    entry_id = entries.json()["items"][0]["id"]
    receipt = httpx.get(f"{site.base}/api/v1/receipts/{entry_id}", headers=token)
    assert receipt.status_code == 200, receipt.text
    document: dict[str, Any] = receipt.json()
    return document


def tampered(document: dict[str, Any]) -> dict[str, Any]:
    entry = json.loads(document["entry"])
    entry["postings"][0]["minutes"] += 1
    changed = json.dumps(entry, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return {**document, "entry": changed}


def check_in_the_browser(browser: Any, site: Site, document: dict[str, Any], key: str) -> str:
    """Pastes ``document`` and ``key`` into /receipt-check; the outcome's state."""
    context = phone(browser, site, "en")
    try:
        page = context.new_page()
        refused = watch_for_refusals(page)
        page.goto("/receipt-check")
        page.fill("#receipt-text", json.dumps(document))
        page.fill("#receipt-key", key)
        page.get_by_role("button", name="Check").click()
        page.wait_for_selector("#receipt-outcome[data-state]")
        state: str = page.get_attribute("#receipt-outcome", "data-state") or ""
        visible = page.locator(f'[data-outcome="{state}"]')
        assert visible.is_visible()
        check_accessible(page)
        assert refused == []
        return state
    finally:
        context.close()


def test_a_receipt_from_the_api_is_valid_in_the_browser(browser: Any, site: Site) -> None:
    document = a_receipt(site)

    assert check_in_the_browser(browser, site, document, document["verifier_key"]) == "valid"


def test_a_receipt_with_a_changed_amount_is_not_valid_in_the_browser(
    browser: Any, site: Site
) -> None:
    document = a_receipt(site)

    state = check_in_the_browser(browser, site, tampered(document), document["verifier_key"])

    assert state == "invalid"


def test_a_receipt_checked_with_another_communitys_key_is_not_valid(
    browser: Any, site: Site
) -> None:
    from ledger.note import generate_signer

    document = a_receipt(site)
    other = generate_signer(document["origin"]).verifier().key_string()

    assert check_in_the_browser(browser, site, document, other) == "invalid"


def test_a_receipt_file_can_be_chosen_instead_of_pasted(
    browser: Any, site: Site, tmp_path: Any
) -> None:
    document = a_receipt(site)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    context = phone(browser, site, "nl")
    try:
        page = context.new_page()
        page.goto(f"/receipt-check?key={document['verifier_key'].replace('+', '%2B')}")
        page.set_input_files("#receipt-file", str(path))
        page.locator("#receipt-check button").click()
        page.wait_for_selector("#receipt-outcome[data-state]")

        assert page.get_attribute("#receipt-outcome", "data-state") == "valid"
    finally:
        context.close()


def test_the_printable_statement_keeps_its_style_under_the_strict_policy(
    browser: Any, site: Site
) -> None:
    token = off_the_loop(an_auditors_token(site))
    context = phone(browser, site, "en", extra_http_headers={"Authorization": f"Bearer {token}"})
    try:
        page = context.new_page()
        refused = watch_for_refusals(page)
        month = time.strftime("%Y-%m", time.gmtime())
        answer = page.goto(f"/api/v1/statements.html?period={month}")

        assert answer is not None and answer.status == 200
        assert "Slagerij" in page.content()
        # The style sheet applied: a table cell is not the browser's unstyled default.
        padding = page.eval_on_selector("td", "cell => getComputedStyle(cell).paddingTop")
        assert padding != "1px"
        assert refused == []
    finally:
        context.close()


async def an_auditors_token(site: Site) -> str:
    async with open_runtime(Settings.from_env(site.seeded.env)) as rt:
        person = await bootstrap.person_for_token(
            rt, role=Role.AUDITOR, community=COMMUNITY, name="Controleur"
        )
        _, token = await bootstrap.issue_token(rt, person, Role.AUDITOR, "browser")
    return token
