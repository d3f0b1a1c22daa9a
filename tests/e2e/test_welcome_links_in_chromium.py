"""Welcome links in a real Chromium: a phone links itself with JavaScript off, and a form
that another site posts to someone's welcome link signs nobody in (the browser sends
no ``SameSite=Lax`` cookie and names the other origin); the link stays usable."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import (
    Site,
    browser,
    check_accessible,
    phone,
    screenshot,
    sign_in,
    sign_in_person,
    site,
)

__all__ = ["browser", "site"]  # fixtures
pytestmark = pytest.mark.slow
ELSEWHERE = "http://elsewhere.test/"
# The other site's page: a form to the link, sent as soon as it loads.
SENT_BY_ITSELF = """<!doctype html><html><body>
<form method="post" action="%s"><input type="hidden" name="csrf" value="%s"></form>
<script>document.forms[0].submit()</script></body></html>"""


def session_of(context: Any) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == "bm_session"), None)


def test_a_phone_with_javascript_off_links_itself(browser: Any, site: Site) -> None:
    context = phone(browser, site, "nl", java_script_enabled=False)
    page = sign_in(context, site, member=2)
    assert "Member 2" in page.locator("main").inner_text()
    assert session_of(context) is not None
    context.close()


def test_another_sites_form_to_a_welcome_link_signs_nobody_in(browser: Any, site: Site) -> None:
    victim = phone(browser, site, "nl")
    sign_in(victim, site, member=0)
    before = session_of(victim)
    theirs = site.welcome_link(1)
    # The other site's form sends a value of its own: it cannot read the phone's cookie.
    value = "A" * 43
    victim.route(
        ELSEWHERE,
        lambda route: route.fulfill(
            content_type="text/html", body=SENT_BY_ITSELF % (site.base + theirs, value)
        ),
    )
    page = victim.new_page()
    page.goto(ELSEWHERE)
    page.wait_for_url(f"**{theirs}")
    main = page.locator("main")
    main.get_by_text("Deze pagina is verlopen. Open hem opnieuw.").wait_for()
    assert main.locator(f'a[href="{theirs}"]').count() == 1  # a way to try again
    check_accessible(page)
    screenshot(page, "nl-welcome-refused")
    assert session_of(victim) == before  # still signed in as themselves
    victim.close()

    # Nothing changed: the link still links a phone that opens it and presses the button.
    other = phone(browser, site, "nl")
    linked = sign_in_person(other, theirs, "/m")
    assert "Member 1" in linked.locator("main").inner_text()
    other.close()
