"""The staff screens in a real Chromium: a coordinator enrols a resident and records their
hours, a second coordinator decides held hours, the municipality sees the totals and
downloads the statement and the verifiable export, the admin sees the community; every
screen accessible in every language, on a laptop and on a phone."""

from __future__ import annotations

import io
import re
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api import bootstrap, provisioning
from api.access import Role
from api.provisioning import PersonDetails
from api.runtime import open_runtime
from api.settings import Settings
from ledger.model import AccountType
from tests.conftest import require
from tests.support.browser import (
    MEMBER_FUNDS_MINUTES,
    Site,
    browser,
    camera_filming,
    check_accessible,
    chromium_unavailable_reason,
    enrol,
    laptop,
    off_the_loop,
    phone,
    record_hours,
    screenshot,
    sign_in_person,
    watch_for_refusals,
)
from tests.support.qr_codes import decode_png
from tests.support.server import COMMUNITY, free_port, seed, server_env, serving

__all__ = ["browser"]  # fixtures
pytestmark = pytest.mark.slow
LANGUAGES = ["nl", "en", "tr", "ar"]
ORGANISATION_BUDGET_MINUTES = 100 * 60
MEMBERS = 2


@dataclass(frozen=True, slots=True)
class StaffSite:
    site: Site
    people: dict[str, str]  # "coordinator", "second", "municipality": person ids

    @property
    def base(self) -> str:
        return self.site.base

    def link(self, who: str) -> str:
        """A fresh one-time welcome link (a path) for one of the staff."""
        return self.site.person_link(self.people[who])


async def _staff(env: dict[str, str]) -> dict[str, str]:
    """Two coordinators of a well-funded organisation, and the municipality (auditor and admin)."""
    async with open_runtime(Settings.from_env(env)) as rt:
        operator = await bootstrap.cli_operator(rt)
        actor = operator.staff_id or "cli"
        org = await provisioning.open_named_account(
            rt, COMMUNITY, AccountType.ORGANISATION, "Wijkcentrum De Kroon", actor,
            provisioning.account_plan(AccountType.ORGANISATION),
            budget_minutes_per_month=ORGANISATION_BUDGET_MINUTES,
        )  # fmt: skip
        wanted = {
            "coordinator": ("Fatima", [(Role.COORDINATOR, org.account_id)]),
            "second": ("Henk", [(Role.COORDINATOR, org.account_id)]),
            "municipality": ("Gemeente", [(Role.AUDITOR, ""), (Role.ADMIN, "")]),
        }
        people = {}
        for key, (name, roles) in wanted.items():
            person, _ = await provisioning.create_person(
                rt, COMMUNITY, PersonDetails(name), member=False, roles=roles, actor=actor,
                plan=provisioning.person_plan(False),
            )  # fmt: skip
            people[key] = person.id
        return people


@pytest.fixture(scope="module")
def staff_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaffSite]:
    require(chromium_unavailable_reason())
    port = free_port()
    database = tmp_path_factory.mktemp("staff") / "buurtmunt.db"
    env = server_env(f"sqlite:///{database}", f"http://127.0.0.1:{port}")
    seeded = off_the_loop(seed(env, members=MEMBERS, funds_minutes=MEMBER_FUNDS_MINUTES))
    people = off_the_loop(_staff(env))
    with serving(env, port) as base:
        yield StaffSite(Site(base, seeded), people)


def sign_in_staff(context: Any, staff_site: StaffSite, who: str, lands_on: str) -> Any:
    return sign_in_person(context, staff_site.link(who), lands_on)


def test_a_coordinator_enrols_a_resident_who_then_sees_their_three_hours(
    browser: Any, staff_site: StaffSite
) -> None:
    context = laptop(browser, staff_site.site, "nl")
    page = sign_in_staff(context, staff_site, "coordinator", "/s/coordinator")
    refused = watch_for_refusals(page)
    welcome = enrol(page, "Ayşe Demir")
    screenshot(page, "staff-welcome-card")
    page.emulate_media(media="print")
    screenshot(page, "staff-welcome-card-print")
    # Printed, the card fills one A6 page (105 by 148 mm: about 298 by 420 points).
    pdf = page.pdf(prefer_css_page_size=True)
    page.emulate_media(media="screen")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 1
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)", pdf)
    assert box is not None and (round(float(box[1])), round(float(box[2]))) == (298, 420)

    assert record_hours(page, "Ayşe", 3, "Tuinieren") == "3 uur genoteerd voor Ayşe Demir."
    screenshot(page, "staff-hours-recorded")
    context.close()

    resident = phone(browser, staff_site.site, "nl")
    home = resident.new_page()
    home.goto(welcome)
    home.locator("main form button").click()
    home.wait_for_url("**/m")
    assert home.locator("#balance").inner_text() == "3 uur"
    resident.close()
    assert refused == []


def test_hours_above_the_threshold_wait_for_a_second_coordinator(
    browser: Any, staff_site: StaffSite
) -> None:
    first = laptop(browser, staff_site.site, "nl")
    page = sign_in_staff(first, staff_site, "coordinator", "/s/coordinator")
    enrol(page, "Kees Held")
    notice = record_hours(page, "Kees Held", 9, "Moving day")
    assert notice == "9 uur voor Kees Held wacht op een tweede coördinator."
    page.goto("/s/coordinator")
    own = page.locator(".held li", has_text="Kees Held")
    assert own.locator("button").count() == 0  # never one's own
    first.close()

    second = laptop(browser, staff_site.site, "nl")
    page = sign_in_staff(second, staff_site, "second", "/s/coordinator")
    held = page.locator(".held li", has_text="Kees Held")
    screenshot(page, "staff-approvals")
    held.locator('button[value="approve"]').click()
    assert page.locator("main .notice").inner_text() == "Goedgekeurd. De uren zijn geboekt."
    page.goto("/s/coordinator?q=Kees")
    page.locator(".people a", has_text="Kees Held").click()
    assert page.locator("#member-balance").inner_text() == "9 uur"
    second.close()


def test_a_coordinator_gives_hours_for_a_resident_under_their_own_name(
    browser: Any, staff_site: StaffSite
) -> None:
    context = laptop(browser, staff_site.site, "nl")
    page = sign_in_staff(context, staff_site, "coordinator", "/s/coordinator")
    enrol(page, "Joop Zonder Telefoon")
    record_hours(page, "Joop Zonder", 2, "Koken")
    page.locator("main a", has_text="Terug naar Joop Zonder Telefoon").click()
    page.fill("#give-to", "Member 1")
    page.select_option("#give-minutes", "30")
    page.fill("#give-memo", "Boodschappen")
    page.locator("#give-to").locator("xpath=ancestor::form").locator("button").click()
    # The next page names the neighbour in full, and gives only when confirmed.
    question = page.locator("main p").first.inner_text()
    assert question == "1½ uur van Joop Zonder Telefoon aan Member 1 geven?", question
    page.locator("main form button", has_text="Ja, geven").click()
    notice = page.locator("main .notice").inner_text()
    assert notice == "1½ uur gegeven van Joop Zonder Telefoon aan Member 1, op uw naam vastgelegd."
    context.close()

    seeded = staff_site.site.seeded
    answer = httpx.get(
        f"{staff_site.base}/api/v1/accounts/{seeded.member_accounts[1]}/entries",
        headers={"Authorization": f"Bearer {seeded.member_tokens[1]}"},
    )
    newest = answer.json()["items"][0]
    assert newest["memo"] == "Boodschappen"
    assert newest["actor"].startswith("stf_")  # the coordinator, not the resident


def _pay_the_shop(staff_site: StaffSite, minutes: int) -> None:
    seeded = staff_site.site.seeded
    made = httpx.post(
        f"{staff_site.base}/api/v1/payment-requests",
        json={"amount_minutes": minutes},
        headers={
            "Authorization": f"Bearer {seeded.shop_token}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert made.status_code == 201, made.text
    paid = httpx.post(
        f"{staff_site.base}/api/v1/payment-requests/{made.json()['id']}/pay",
        json={},
        headers={
            "Authorization": f"Bearer {seeded.member_tokens[0]}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    assert paid.status_code in (200, 201), paid.text


def test_the_municipality_sees_the_totals_and_downloads_what_proves_them(
    browser: Any, staff_site: StaffSite
) -> None:
    _pay_the_shop(staff_site, 60)
    context = laptop(browser, staff_site.site, "nl")
    # Auditor and admin: a choice of screens.
    page = sign_in_staff(context, staff_site, "municipality", "/s")
    refused = watch_for_refusals(page)
    page.locator("main a", has_text="Gemeente").click()
    page.wait_for_url("**/s/municipality")
    screenshot(page, "staff-municipality")

    assert page.locator("#redeemed").inner_text() == "1 uur"
    issued = page.locator("#issued").inner_text()
    # Nothing settled yet: all that was issued is still outstanding (at members or the shop).
    assert page.locator("#outstanding").inner_text() == issued
    assert int(issued.split()[0]) >= MEMBERS * MEMBER_FUNDS_MINUTES // 60
    assert "Slagerij" in page.locator("#shops").inner_text()
    assert "Buurthuis" in page.locator("#organisations").inner_text()

    # The downloads the page links to, fetched with the page's own session.
    links = [a.get_attribute("href") or "" for a in page.locator("main a[download]").all()]
    csv, printable, bundle = (page.request.get(link) for link in links)
    assert csv.status == 200 and "text/csv" in csv.headers["content-type"]
    assert "Slagerij" in csv.text()
    assert printable.status == 200 and '<html lang="nl" dir="ltr">' in printable.text()
    assert bundle.status == 200
    with tarfile.open(fileobj=io.BytesIO(bundle.body()), mode="r:") as tar:
        names = tar.getnames()
    assert any(name.endswith("entries.jsonl") for name in names)

    page.goto("/s/municipality/checkpoint")
    note = page.locator("#checkpoint-note").inner_text()
    assert re.search(r"^\d+$", note.splitlines()[1]), note
    shown = page.locator("main").inner_text()
    assert "python -m ledger.audit.verify" in shown
    # The key this server shows is checked against the municipality's own record.
    assert "bewijst op zichzelf niets" in shown, shown
    screenshot(page, "staff-checkpoint")
    # Notes, keys and commands read left to right on a right-to-left page too: the key's
    # slash and plus signs stay where they are, as it is typed.
    page.goto("/lang/ar?next=/s/municipality/checkpoint")
    page.wait_for_url("**/s/municipality/checkpoint")
    assert page.locator("html").get_attribute("dir") == "rtl"
    directions = page.locator("pre").evaluate_all(
        "ps => ps.map(p => getComputedStyle(p).direction)"
    )
    assert directions == ["ltr"] * 3, directions
    context.close()
    assert refused == []


STAFF_SCREENS = {
    "coordinator": ["/s/coordinator", "/s/coordinator?q=Member", "/s/coordinator/card"],
    "municipality": ["/s", "/s/municipality", "/s/municipality/checkpoint", "/s/admin"],
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_staff_screen_is_accessible_in_every_language(
    browser: Any, staff_site: StaffSite, language: str
) -> None:
    for who, paths in STAFF_SCREENS.items():
        context = laptop(browser, staff_site.site, language)
        page = sign_in_staff(context, staff_site, who, paths[0])
        refused = watch_for_refusals(page)
        page.locator(f'footer a[hreflang="{language}"]').click()
        page.wait_for_url(f"**{paths[0]}")
        for path in paths:
            page.goto(path)
            assert page.locator("html").get_attribute("lang") == language
            check_accessible(page)
            screenshot(
                page, f"staff-{language}-{path.strip('/').replace('/', '-').replace('?', '-')}"
            )
        if who == "coordinator":
            page.goto("/s/coordinator?q=Member")
            page.locator(".people a").first.click()
            check_accessible(page)
            screenshot(page, f"staff-{language}-member")
            page.fill("#hours", "0")
            page.select_option("#minutes", "15")
            page.fill("#activity", "Koffie")
            page.locator("#activity").locator("xpath=ancestor::form").locator("button").click()
            check_accessible(page)
            page.goto("/s/coordinator")
            page.fill("#enrol-name", f"Test {language}")
            page.locator("#enrol-name").locator("xpath=ancestor::form").locator("button").click()
            check_accessible(page)
        context.close()
        assert refused == []


def test_the_coordinators_screen_works_on_a_phone(browser: Any, staff_site: StaffSite) -> None:
    context = phone(browser, staff_site.site, "ar")
    page = sign_in_staff(context, staff_site, "coordinator", "/s/coordinator")
    page.locator('footer a[hreflang="ar"]').click()
    page.wait_for_url("**/s/coordinator")
    check_accessible(page)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360  # nothing sticks out sideways
    screenshot(page, "staff-ar-coordinator-phone")
    context.close()


def test_a_resident_cannot_open_a_staff_screen(browser: Any, staff_site: StaffSite) -> None:
    context = phone(browser, staff_site.site, "en")
    page = context.new_page()
    page.goto(staff_site.site.welcome_link(1))
    page.locator("main form button").click()
    page.wait_for_url("**/m")
    answer = page.goto("/s/coordinator")
    assert answer is not None and answer.status == 403
    # The resident's own language (Dutch) wins over the browser's.
    assert "Dit scherm is niet voor uw rol." in page.locator("main").inner_text()
    context.close()


def test_the_admin_opens_an_organisation_and_a_shop_and_sets_a_budget(
    browser: Any, staff_site: StaffSite
) -> None:
    context = laptop(browser, staff_site.site, "nl")
    page = sign_in_staff(context, staff_site, "municipality", "/s")
    page.goto("/s/admin")
    page.fill("#org-name", "Bibliotheek Oost")
    page.fill("#org-budget", "10")
    page.locator("#org-name").locator("xpath=ancestor::form").locator("button").click()
    assert page.locator("main .notice").inner_text() == "Geopend."
    page.goto("/s/admin")
    page.fill("#shop-name", "Zwembad")
    page.locator("#shop-name").locator("xpath=ancestor::form").locator("button").click()
    assert page.locator("main .notice").inner_text() == "Geopend."

    page.goto("/s/admin")
    assert "Zwembad" in page.locator("#shops").inner_text()
    row = page.locator("#organisations tr", has_text="Bibliotheek Oost")
    assert row.locator('input[name="budget_hours"]').input_value() == "10"
    row.locator('input[name="budget_hours"]').fill("20")
    row.locator("button").click()
    assert page.locator("main .notice").inner_text() == "Het budget is ingesteld."
    page.goto("/s/admin")
    row = page.locator("#organisations tr", has_text="Bibliotheek Oost")
    assert row.locator('input[name="budget_hours"]').input_value() == "20"
    screenshot(page, "staff-admin")
    context.close()


def test_the_admin_records_a_shops_payout_on_a_phone(browser: Any, staff_site: StaffSite) -> None:
    _pay_the_shop(staff_site, 90)
    context = phone(browser, staff_site.site, "nl")
    page = sign_in_staff(context, staff_site, "municipality", "/s")
    refused = watch_for_refusals(page)
    page.goto("/s/admin")
    row = page.locator("#shops tr", has_text="Slagerij")
    held = row.locator("td.num").inner_text()
    assert held != "0 uur", held
    row.locator("a", has_text="Uitbetaling vastleggen").click()
    page.wait_for_url("**/settle")
    check_accessible(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert f"Slagerij is betaald voor {held}?" in page.locator("main").inner_text()
    screenshot(page, "staff-admin-payout")
    page.locator("main form button").click()
    assert (
        page.locator("main .notice").inner_text() == f"Vastgelegd: Slagerij is betaald voor {held}."
    )

    page.goto("/s/admin")
    row = page.locator("#shops tr", has_text="Slagerij")
    assert row.locator("td.num").inner_text() == "0 uur"
    assert row.locator("a").count() == 0  # nothing left to pay out
    context.close()
    assert refused == []


@pytest.mark.parametrize("language", ["nl", "ar"])
def test_the_admin_corrects_a_booking_on_a_phone(
    browser: Any, staff_site: StaffSite, language: str
) -> None:
    context = phone(browser, staff_site.site, language)
    page = sign_in_staff(context, staff_site, "municipality", "/s")
    refused = watch_for_refusals(page)
    page.goto(f"/lang/{language}?next=/s/admin")
    page.wait_for_url("**/s/admin")
    page.locator("#residents a", has_text="Member 0").click()  # seeded with funds
    page.wait_for_url("**/s/admin/member/*")
    check_accessible(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, f"staff-{language}-admin-member")
    balance = page.locator("#member-balance").inner_text()
    page.locator("#history a").last.click()  # the oldest booking: hours earned
    page.wait_for_url("**/correct?person=*")
    check_accessible(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, f"staff-{language}-admin-correct")
    if language != "nl":
        # Once is enough: a booking corrected a moment ago asks before it is corrected again.
        context.close()
        assert refused == []
        return
    page.fill("#hours", "0")
    page.fill("#minutes", "15")
    page.fill("#reason", "Een kwartier te veel")
    page.locator("main form button").click()
    assert page.locator("main .notice").count() == 1, page.locator("main").inner_text()
    page.go_back()
    page.go_back()
    page.reload()
    assert page.locator("#member-balance").inner_text() != balance
    context.close()
    assert refused == []


def test_a_coordinator_finds_a_resident_by_scanning_their_card(
    browser: Any, staff_site: StaffSite
) -> None:
    context = laptop(browser, staff_site.site, "nl")
    page = sign_in_staff(context, staff_site, "coordinator", "/s/coordinator")
    page.goto("/s/coordinator?q=Member 1")
    page.locator(".people a", has_text="Member 1").click()
    member_page = page.url
    page.fill("#pin", "4821")
    page.locator("#pin").locator("xpath=ancestor::form").locator("button").click()
    # The printed card's QR code, as the browser draws it.
    [payload] = decode_png(page.locator(".welcome-card .qr").screenshot())
    assert payload.startswith("BMC1:")
    context.close()

    context = laptop(browser, staff_site.site, "nl")
    context.add_init_script(camera_filming(payload))
    page = sign_in_staff(context, staff_site, "coordinator", "/s/coordinator")
    refused = watch_for_refusals(page)
    page.locator("main a", has_text="Zoeken met de kaart").click()
    page.wait_for_url(member_page, timeout=10_000)
    assert "Member 1" in page.locator("main").inner_text()
    context.close()

    context = laptop(browser, staff_site.site, "ar", permissions=[])
    page = sign_in_staff(context, staff_site, "coordinator", "/s/coordinator")
    page.goto("/lang/ar?next=/s/coordinator/card")
    page.wait_for_url("**/s/coordinator/card")
    check_accessible(page)
    screenshot(page, "staff-ar-card-scan")
    context.close()
    assert refused == []


def test_the_admin_adds_shop_staff_who_land_on_the_till_and_makes_them_an_api_token(
    browser: Any, staff_site: StaffSite
) -> None:
    context = laptop(browser, staff_site.site, "nl")
    page = sign_in_staff(context, staff_site, "municipality", "/s")
    refused = watch_for_refusals(page)
    page.goto("/s/admin")
    page.fill("#staff-name", "Noor Kassa")
    page.select_option("#staff-role", "shop")
    page.select_option("#staff-place", label="Slagerij")
    page.locator("#staff-name").locator("xpath=ancestor::form").locator("button").click()
    href: str = page.locator("#welcome-link").get_attribute("href")
    check_accessible(page)
    screenshot(page, "staff-admin-new-staff")

    page.goto("/s/admin")
    assert "Noor Kassa" in page.locator("main").inner_text()
    page.select_option("#token-person", label="Noor Kassa")
    page.select_option("#token-role", "shop")
    page.fill("#token-label", "kassa 2")
    page.fill("#token-days", "30")
    page.locator("#token-label").locator("xpath=ancestor::form").locator("button").click()
    token = page.locator("#token").input_value()
    check_accessible(page)
    screenshot(page, "staff-admin-new-token")
    me = httpx.get(f"{staff_site.base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "Noor Kassa", me.text
    context.close()

    till = phone(browser, staff_site.site, "nl")
    sign_in_person(till, "/" + href.split("/", 3)[3], "/till")
    till.close()
    assert refused == []
