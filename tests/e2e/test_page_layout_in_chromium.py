"""The screens that were too wide for a 360-pixel phone, in a real Chromium, in Dutch and in
Arabic (right to left): the code under a resident's "pay me" QR code, the municipality's and
the admin's tables, the coordinator's approve and decline buttons, and the till's keypad.
Nothing sticks out sideways (the page is never wider than the screen; a wide table scrolls
inside a wrapper the keyboard can reach), and axe finds nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_staff_in_chromium import StaffSite, sign_in_staff, staff_site
from tests.e2e.test_till_in_chromium import open_till
from tests.support.browser import (
    PHONE_VIEWPORT,
    browser,
    check_accessible,
    laptop,
    phone,
    record_hours,
    screenshot,
    sign_in,
    watch_for_refusals,
)

__all__ = ["browser", "staff_site"]  # fixtures
pytestmark = pytest.mark.slow
LANGUAGES = ["nl", "ar"]
HELD_HOURS = 9  # above the default approval threshold of 8 hours


def check_fits_the_phone(page: Any) -> None:
    """The page is no wider than the phone's screen: nothing to scroll sideways."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_VIEWPORT["width"], f"{page.url} is {width} px wide"


# Each table cell the page shows (its middle inside its table's scrolling box), as text, with
# the text of whatever covers that middle where it is not the cell itself.
_COVERED_CELLS = """() => {
  const covered = [];
  for (const wrap of document.querySelectorAll('.table-wrap')) {
    wrap.scrollIntoView({block: 'start'});
    const box = wrap.getBoundingClientRect();
    for (const cell of wrap.querySelectorAll('td, th')) {
      const r = cell.getBoundingClientRect();
      const x = r.left + r.width / 2, y = r.top + Math.min(r.height / 2, 12);
      if (x < box.left || x > box.right || y < 0 || y > window.innerHeight) continue;
      const top = document.elementFromPoint(x, y);
      if (top && !cell.contains(top)) {
        covered.push(cell.innerText.trim() + ' under ' + top.innerText.trim());
      }
    }
  }
  return covered;
}"""


def check_no_cell_covered(page: Any) -> None:
    """No table cell in view is hidden under another (a sticky column, say)."""
    covered = page.evaluate(_COVERED_CELLS)
    assert covered == [], f"{page.url}: {covered}"


def check_on_screen(box: dict[str, float] | None) -> None:
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_VIEWPORT["width"], box


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_code_under_my_pay_me_qr_code_fits_a_phone(
    browser: Any, staff_site: StaffSite, language: str
) -> None:
    context = phone(browser, staff_site.site, language)
    page = sign_in(context, staff_site.site, member=0)
    refused = watch_for_refusals(page)
    page.goto(f"/lang/{language}?next=/m/receive")
    page.fill("#hours", "1")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/m/receive/*")

    check_fits_the_phone(page)
    check_accessible(page)
    # Wrapped in groups to read aloud, the code is still all 26 characters, in order.
    request_id = page.url.rsplit("/", 1)[1]
    assert "".join(page.locator(".paycode").inner_text().split()) == request_id
    check_on_screen(page.locator(".paycode").bounding_box())
    screenshot(page, f"layout-{language}-receive-qr")
    context.close()
    assert refused == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_municipality_and_admin_screens_fit_a_phone(
    browser: Any, staff_site: StaffSite, language: str
) -> None:
    context = phone(browser, staff_site.site, language)
    page = sign_in_staff(context, staff_site, "municipality", "/s")
    refused = watch_for_refusals(page)
    for path in ["/s/municipality", "/s/admin"]:
        page.goto(f"/lang/{language}?next={path}")
        page.wait_for_url(f"**{path}")

        check_fits_the_phone(page)
        check_no_cell_covered(page)
        check_accessible(page)  # scrollable-region-focusable among them
        wrappers = page.locator(".table-wrap").all()
        assert wrappers, path
        for wrapper in wrappers:
            assert wrapper.get_attribute("tabindex") == "0"
            label = page.locator(f"#{wrapper.get_attribute('aria-labelledby')}")
            assert label.inner_text().strip() != ""
        screenshot(page, f"layout-{language}-{path.strip('/').replace('/', '-')}")
    context.close()
    assert refused == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_second_coordinator_sees_approve_and_decline_on_a_phone(
    browser: Any, staff_site: StaffSite, language: str
) -> None:
    first = laptop(browser, staff_site.site, "nl")
    page = sign_in_staff(first, staff_site, "coordinator", "/s/coordinator")
    notice = record_hours(page, "Member 1", HELD_HOURS, f"Verhuizen {language}")
    assert "wacht op een tweede coördinator" in notice
    first.close()

    context = phone(browser, staff_site.site, language)
    page = sign_in_staff(context, staff_site, "second", "/s/coordinator")
    refused = watch_for_refusals(page)
    page.goto(f"/lang/{language}?next=/s/coordinator")
    page.wait_for_url("**/s/coordinator")
    held = page.locator(".held li", has_text=f"Verhuizen {language}")

    check_fits_the_phone(page)
    check_accessible(page)
    check_on_screen(held.locator('button[value="approve"]').bounding_box())
    check_on_screen(held.locator('button[value="decline"]').bounding_box())
    screenshot(page, f"layout-{language}-coordinator-approvals")
    context.close()
    assert refused == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_till_keypad_has_three_equal_columns_on_a_phone(
    browser: Any, staff_site: StaffSite, language: str
) -> None:
    context, page = open_till(browser, staff_site.site, language)
    refused = watch_for_refusals(page)
    page.wait_for_url("**/till")

    keys = page.locator("#keypad button")
    widths = [box["width"] for box in (key.bounding_box() for key in keys.all()) if box]
    assert len(widths) == 12
    assert max(widths) - min(widths) < 1, widths  # "Minutes" no wider than "2"
    one, three = (page.locator(f'#keypad button[data-key="{k}"]').bounding_box() for k in "13")
    assert one is not None and three is not None
    assert one["x"] < three["x"]  # 1 2 3 from the left, as on a phone, in Arabic too
    for key in keys.all():
        check_on_screen(key.bounding_box())
    check_fits_the_phone(page)
    check_accessible(page)
    screenshot(page, f"layout-{language}-till-keypad")
    context.close()
    assert refused == []
