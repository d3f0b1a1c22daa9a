"""The resident's pages in a real Chromium: accessible in every language, right to left in
Arabic, payable by keyboard alone, light on the wire, and still useful offline."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.browser import (
    Site,
    browser,
    check_accessible,
    phone,
    screenshot,
    sign_in,
    site,
    watch_for_refusals,
)

__all__ = ["browser", "site"]  # fixtures
pytestmark = pytest.mark.slow
LANGUAGES = ["nl", "en", "tr", "ar"]
PUBLIC_PAGES = {
    "start": "/",
    "lost-phone": "/help/lost-phone",
    "accessibility": "/accessibility",
    "offline": "/offline",
    "receipt-check": "/receipt-check",
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
            "Idempotency-Key": str(uuid.uuid4()),
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
    refused = watch_for_refusals(page)
    for name, path in PUBLIC_PAGES.items():
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == language
        check_accessible(page)
        screenshot(page, f"{language}-{name}")
    page.goto(site.welcome_link(1))
    check_accessible(page)
    screenshot(page, f"{language}-welcome")
    context.close()
    assert refused == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_resident_page_is_accessible_in_every_language(
    browser: Any, site: Site, language: str
) -> None:
    context = phone(browser, site, language)
    page = sign_in(context, site)
    refused = watch_for_refusals(page)
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
    assert refused == []


def request_status(site: Site, request_id: str) -> str:
    answer = httpx.get(
        f"{site.base}/api/v1/payment-requests/{request_id}",
        headers={"Authorization": f"Bearer {site.seeded.shop_token}"},
    )
    status: str = answer.json()["status"]
    return status


def test_the_accessibility_check_finds_a_violation_when_there_is_one(browser: Any) -> None:
    page = browser.new_page()
    page.set_content('<html lang="en"><body><img src="x.png"><button></button></body></html>')

    with pytest.raises(AssertionError, match="image-alt"):
        check_accessible(page)
    page.close()


def test_an_arabic_page_is_laid_out_right_to_left(browser: Any, site: Site) -> None:
    context = phone(browser, site, "ar")
    page = context.new_page()
    page.goto("/")

    html = page.locator("html")
    assert html.get_attribute("dir") == "rtl" and html.get_attribute("lang") == "ar"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    title = page.locator("main h1").bounding_box()
    assert title is not None
    # Right to left: the heading hugs the right edge of a 360-pixel-wide screen.
    assert title["x"] + title["width"] > 300
    screenshot(page, "ar-start-rtl")
    context.close()


def test_a_resident_pays_a_shop_with_the_keyboard_alone(browser: Any, site: Site) -> None:
    context = phone(browser, site, "nl")
    page = sign_in(context, site, member=1)
    request_id = a_payment_request(site, 90)
    page.goto(f"/P/{request_id}")

    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('form.pay button[type=submit]')"):
            break
    else:
        pytest.fail("the pay button cannot be reached with the Tab key")
    page.keyboard.press("Enter")
    page.wait_for_selector(".done")

    assert "Betaald" in page.locator(".done").inner_text()
    assert "1½ uur" in page.locator("main").inner_text()
    check_accessible(page)
    screenshot(page, "nl-paid")
    assert request_status(site, request_id) == "paid"
    context.close()


def test_the_resident_home_loads_light_in_two_round_trips(browser: Any, site: Site) -> None:
    signed = phone(browser, site, "nl")
    sign_in(signed, site, member=2)
    state = signed.storage_state()
    signed.close()
    # A cold load: no service worker, no cache, only the session cookie.
    context = phone(browser, site, "nl", storage_state=state, service_workers="block")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    sent: dict[str, dict[str, Any]] = {}
    finished: dict[str, int] = {}
    cdp.on("Network.requestWillBeSent", lambda e: sent.__setitem__(e["requestId"], e))
    cdp.on(
        "Network.loadingFinished",
        lambda e: finished.__setitem__(e["requestId"], int(e["encodedDataLength"])),
    )

    page.goto("/m", wait_until="load")
    page.wait_for_timeout(300)

    document = next(e["request"]["url"] for e in sent.values() if e["type"] == "Document")
    depth = {document: 1}
    for event in sent.values():
        url, initiator = event["request"]["url"], event["initiator"]
        if url != document:
            depth[url] = 1 + depth.get(initiator.get("url", document), 1)
    transferred = sum(finished.values())
    print(f"home: {transferred} bytes in {len(sent)} requests, {max(depth.values())} round trips")
    assert transferred <= HOME_BYTES_MAX
    assert max(depth.values()) <= HOME_ROUND_TRIPS_MAX, depth
    context.close()


def test_offline_the_phone_shows_the_last_known_balance_and_when(browser: Any, site: Site) -> None:
    context = phone(browser, site, "nl")
    page = sign_in(context, site, member=2)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    assert page.evaluate("Boolean(navigator.serviceWorker.controller)")
    # A switch of language: the offline page the worker keeps follows it.
    page.locator('footer a[hreflang="en"]').click()
    page.wait_for_url("**/m")
    balance = page.locator("#balance").inner_text()
    page.wait_for_timeout(1000)

    context.set_offline(True)
    page.goto("/m")

    assert "You are offline" in page.locator("main h1").inner_text()
    assert page.locator("#last-balance").inner_text() == balance == "3 hours"
    assert page.locator("#last-updated").inner_text().strip() != ""
    check_accessible(page)
    screenshot(page, "en-offline-balance")
    context.close()


def test_a_payment_sent_without_a_connection_is_not_kept_or_sent_again(
    browser: Any, site: Site
) -> None:
    context = phone(browser, site, "nl")
    page = sign_in(context, site, member=2)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    request_id = a_payment_request(site, 10)
    page.goto(f"/P/{request_id}")

    context.set_offline(True)
    page.locator("form.pay button[type=submit]").click()
    page.wait_for_timeout(1000)
    assert request_status(site, request_id) == "open"
    context.set_offline(False)
    # Back online: were the payment kept anywhere, it would go out now.
    page.goto("/m")
    page.wait_for_timeout(1000)

    assert request_status(site, request_id) == "open"
    context.close()


def test_the_api_documentation_works_without_the_internet(browser: Any, site: Site) -> None:
    context = browser.new_context(base_url=site.base)
    outside: list[str] = []

    def only_this_site(route: Any) -> None:
        if route.request.url.startswith(site.base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_site)
    page = context.new_page()
    refused = watch_for_refusals(page)
    page.goto("/schema")

    page.wait_for_selector(".swagger-ui .info .title")
    assert "Buurtmunt" in page.locator(".swagger-ui .info .title").inner_text()
    assert outside == [] and refused == []
    context.close()
