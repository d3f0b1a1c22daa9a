"""The till when its connection falters, in a real Chromium: a request screen whose event
stream is answered with an error (a proxy restarting answers 502) says it is not listening,
offers to check again, opens the stream again by itself and says "Paid ✓" once it hears;
and a page reloaded without a connection, which opens the service worker's offline page,
goes back to the page asked for when the connection returns."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.test_till_in_chromium import PAID_WORDS, staff_link
from tests.support.browser import (
    Site,
    browser,
    check_accessible,
    phone,
    screenshot,
    sign_in_person,
    site,
    watch_for_refusals,
)

__all__ = ["browser", "site"]  # fixtures
pytestmark = pytest.mark.slow
EVENTS = "**/api/v1/payment-requests/*/events"
NOT_LISTENING_WORDS = "Geen verbinding: een betaling verschijnt hier misschien nog niet."
WAITING_WORDS = "Wachten op de betaling…"
# till.js opens the stream again after 1, 2, 4, 8, then every 15 seconds.
HEARD_AGAIN_WITHIN_SECONDS = 16.0
BACK_WITHIN_SECONDS = 5.0


def open_till(browser: Any, site: Site, **options: Any) -> tuple[Any, Any]:
    context = phone(browser, site, "nl", **options)
    page = sign_in_person(context, staff_link(site), "/till")
    page.goto("/lang/nl?next=/till")
    return context, page


def pay(site: Site, request_id: str, member: int) -> None:
    """The member pays the request through the API, as the pay page does."""
    paid = httpx.post(
        f"{site.base}/api/v1/payment-requests/{request_id}/pay",
        json={},
        headers={
            "Authorization": f"Bearer {site.seeded.member_tokens[member]}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert paid.status_code == 200, paid.text


def test_a_till_whose_event_stream_fails_says_so_and_still_says_paid_once_it_hears_again(
    browser: Any, site: Site
) -> None:
    # Routes see the page's own requests only without a service worker in between.
    till_context, till = open_till(browser, site, service_workers="block")
    refused = watch_for_refusals(till)
    proxy = {"down": True, "refused": 0}

    def restarting_proxy(route: Any) -> None:
        if proxy["down"]:
            proxy["refused"] += 1
            route.fulfill(status=502, content_type="text/plain", body="Bad Gateway")
        else:
            route.continue_()

    till_context.route(EVENTS, restarting_proxy)
    till.locator("ul.quick button").nth(1).click()  # half an hour
    till.wait_for_url("**/till/r/*")
    request_id = till.url.rsplit("/", 1)[1]

    status = till.locator("#till-status")
    till.get_by_text(NOT_LISTENING_WORDS).wait_for(timeout=5_000)
    assert till.locator("#check-again").is_visible()
    assert till.locator("#check-again").get_attribute("href") == f"/till/r/{request_id}"
    check_accessible(till)
    screenshot(till, "nl-till-not-listening")
    deadline = time.monotonic() + 5
    while proxy["refused"] < 2 and time.monotonic() < deadline:
        till.wait_for_timeout(100)
    assert proxy["refused"] >= 2, "the page tries the stream again by itself"
    assert status.inner_text().startswith(NOT_LISTENING_WORDS)

    pay(site, request_id, member=0)  # paid while the till cannot hear it
    proxy["down"] = False
    back_at = time.monotonic()
    till.get_by_text(PAID_WORDS["nl"]).first.wait_for(timeout=HEARD_AGAIN_WITHIN_SECONDS * 1000)
    seconds = time.monotonic() - back_at
    print(f"paid heard {seconds:.3f} s after the stream came back, {proxy['refused']} refused")
    assert seconds < HEARD_AGAIN_WITHIN_SECONDS
    till.wait_for_selector("body[data-paid]", timeout=5_000)  # the page loaded again, paid
    assert "Member 0" in till.locator("main").inner_text()
    assert status.count() == 0
    till_context.close()
    assert refused == []


def test_a_till_whose_stream_comes_back_waits_again_without_the_link(
    browser: Any, site: Site
) -> None:
    till_context, till = open_till(browser, site, service_workers="block")
    refused = watch_for_refusals(till)
    answers = {"count": 0}

    def one_error(route: Any) -> None:
        answers["count"] += 1
        if answers["count"] == 1:
            route.fulfill(status=502, content_type="text/plain", body="Bad Gateway")
        else:
            route.continue_()

    till_context.route(EVENTS, one_error)
    till.locator("ul.quick button").first.click()
    till.wait_for_url("**/till/r/*")
    request_id = till.url.rsplit("/", 1)[1]
    till.get_by_text(NOT_LISTENING_WORDS).wait_for(timeout=5_000)

    till.get_by_text(WAITING_WORDS).wait_for(timeout=5_000)
    assert not till.locator("#check-again").is_visible()
    pay(site, request_id, member=1)
    paid_at = time.monotonic()
    till.get_by_text(PAID_WORDS["nl"]).first.wait_for(timeout=5_000)
    print(f"paid after {time.monotonic() - paid_at:.3f} s")
    assert answers["count"] == 2
    till_context.close()
    assert refused == []


def test_a_page_reloaded_offline_goes_back_to_itself_when_the_connection_returns(
    browser: Any, site: Site
) -> None:
    context, till = open_till(browser, site)
    refused = watch_for_refusals(till)
    till.evaluate("navigator.serviceWorker.ready.then(() => true)")
    till.goto("/till/today")
    assert till.evaluate("Boolean(navigator.serviceWorker.controller)")
    today = till.locator("main h1").inner_text()

    context.set_offline(True)
    till.reload()
    assert till.locator("main h1").inner_text() == "U heeft geen internet"
    assert till.url.endswith("/till/today")
    again = till.get_by_role("link", name="Probeer opnieuw")
    assert again.is_visible()
    assert again.evaluate("a => a.href") == till.url
    check_accessible(till)
    screenshot(till, "nl-offline-try-again")
    till.wait_for_timeout(2_500)  # a try while offline changes nothing
    assert till.locator("main h1").inner_text() == "U heeft geen internet"

    context.set_offline(False)
    back_at = time.monotonic()
    till.get_by_role("heading", level=1, name=today, exact=True).wait_for(
        timeout=BACK_WITHIN_SECONDS * 1000
    )
    print(f"back after {time.monotonic() - back_at:.3f} s")
    assert till.url.endswith("/till/today")
    assert till.locator("#try-again").count() == 0
    context.close()
    assert refused == []


def test_the_offline_page_opened_at_its_own_address_stays_and_tries_itself_again(
    browser: Any, site: Site
) -> None:
    context = phone(browser, site, "nl")
    page = context.new_page()
    page.goto("/offline")
    again = page.get_by_role("link", name="Probeer opnieuw")
    assert again.evaluate("a => a.href") == page.url
    page.wait_for_timeout(2_500)
    assert page.url.endswith("/offline")
    with page.expect_navigation():
        again.click()
    assert page.locator("main h1").inner_text() == "U heeft geen internet"
    context.close()
