"""The resident's pages in a real Chromium: accessible in every language, right to left in
Arabic, payable by keyboard alone, light on the wire, and still useful offline."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.browser import (
    MEMBER_FUNDS_MINUTES,
    Site,
    browser,
    check_accessible,
    phone,
    screenshot,
    sign_in,
    site,
)

__all__ = ["browser", "site"]  # fixtures
LANGUAGES = ["nl", "en", "tr", "ar"]
PUBLIC_PAGES = {
    "start": "/",
    "lost-phone": "/help/lost-phone",
    "accessibility": "/accessibility",
    "offline": "/offline",
    "not-found": "/no/such/page",
}
RESIDENT_PAGES = {
    "home": "/m",
    "history": "/m/history",
    "settings": "/m/settings",
    "sign-out": "/m/sign-out",
}
HOME_BYTES_MAX = 50 * 1024
HOME_ROUND_TRIPS_MAX = 2


def a_payment_request(site: Site, minutes: int) -> str:
    made = httpx.post(
        f"{site.base}/api/v1/payment-requests",
        json={"amount_minutes": minutes},
        headers={
            "Authorization": f"Bearer {site.seeded.shop_token}",
            "Idempotency-Key": f"request-{minutes}-{id(site)}-{httpx.__version__}-{minutes}",
        },
    )
    assert made.status_code == 201, made.text
    request_id: str = made.json()["id"]
    return request_id


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_public_page_is_accessible_in_every_language(
    browser: Any, site: Site, language: str
) -> None:
    context = phone(browser, site, language)
    page = context.new_page()
    for name, path in PUBLIC_PAGES.items():
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == language
        check_accessible(page)
        screenshot(page, f"{language}-{name}")
    page.goto(site.welcome_link(1))
    check_accessible(page)
    screenshot(page, f"{language}-welcome")
    context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_resident_page_is_accessible_in_every_language(
    browser: Any, site: Site, language: str
) -> None:
    context = phone(browser, site, language)
    page = sign_in(context, site)
    # The resident's own language (Dutch, from enrolment) wins over the browser's,
    # until they choose another with the switch on the page.
    assert page.locator("html").get_attribute("lang") == "nl"
    page.locator(f'footer a[hreflang="{language}"]').click()
    page.wait_for_url("**/m")
    for name, path in RESIDENT_PAGES.items():
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == language
        check_accessible(page)
        screenshot(page, f"{language}-{name}")
    page.goto("/m/history")
    page.locator(".lines a").first.click()
    check_accessible(page)
    screenshot(page, f"{language}-receipt")
    page.goto(f"/P/{a_payment_request(site, 15)}")
    check_accessible(page)
    screenshot(page, f"{language}-pay")
    context.close()
