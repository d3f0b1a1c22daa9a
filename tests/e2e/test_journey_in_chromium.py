"""The whole journey in a real Chromium, four people in four browser contexts: a coordinator
enrols a member and records 3 hours; the member opens the welcome link on a phone, sees
"3 uur", and pays a shop 1½ hours by scanning the till's QR code through a fake camera; the
shop's till says "Betaald ✓" within a second; the municipality's dashboard shows 3 hours
issued by the organisation and 1½ hours redeemed at the shop, by name. Then the same in
Arabic, right to left. Each language has its own organisation and shop, so each journey's
totals are its own. Screenshots of each key screen are kept."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from api import bootstrap, provisioning
from api.access import Role
from api.provisioning import PersonDetails
from api.runtime import open_runtime
from api.settings import Settings
from ledger.amounts import format_hours
from ledger.model import AccountType
from tests.conftest import require
from tests.support.browser import (
    Site,
    browser,
    camera_filming,
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
from tests.support.server import COMMUNITY, free_port, seed, server_env, serving

__all__ = ["browser"]  # fixtures
pytestmark = pytest.mark.slow
LANGUAGES = ["nl", "ar"]
EARNED_MINUTES = 180
PAID_MINUTES = 90
PAID_WORDS = {"nl": "Betaald ✓", "ar": "تم الدفع ✓"}
PAID_WITHIN_SECONDS = 1.0
BUDGET_MINUTES = 10 * 60


@dataclass(frozen=True, slots=True)
class Cast:
    """One journey's organisation and shop (by name) and its three staff (person ids)."""

    organisation: str
    shop: str
    coordinator: str
    shop_staff: str
    auditor: str


async def _cast(env: dict[str, str], language: str) -> Cast:
    async with open_runtime(Settings.from_env(env)) as rt:
        operator = await bootstrap.cli_operator(rt)
        actor = operator.staff_id or "cli"
        names = {"organisation": f"Buurtcentrum {language}", "shop": f"Bakker {language}"}
        org = await provisioning.open_named_account(
            rt, COMMUNITY, AccountType.ORGANISATION, names["organisation"], actor,
            provisioning.account_plan(AccountType.ORGANISATION),
            budget_minutes_per_month=BUDGET_MINUTES,
        )  # fmt: skip
        shop = await provisioning.open_named_account(
            rt, COMMUNITY, AccountType.SHOP, names["shop"], actor,
            provisioning.account_plan(AccountType.SHOP),
        )  # fmt: skip
        wanted = {
            "coordinator": [(Role.COORDINATOR, org.account_id)],
            "shop_staff": [(Role.SHOP, shop.account_id)],
            "auditor": [(Role.AUDITOR, "")],
        }
        people = {}
        for key, roles in wanted.items():
            person, _ = await provisioning.create_person(
                rt, COMMUNITY, PersonDetails(f"{key} {language}"), member=False, roles=roles,
                actor=actor, plan=provisioning.person_plan(False),
            )  # fmt: skip
            people[key] = person.id
        return Cast(**names, **people)


@dataclass(frozen=True, slots=True)
class JourneySite:
    site: Site
    casts: dict[str, Cast]


@pytest.fixture(scope="module")
def journey_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JourneySite]:
    require(chromium_unavailable_reason())
    port = free_port()
    database = tmp_path_factory.mktemp("journey") / "buurtmunt.db"
    env = server_env(f"sqlite:///{database}", f"http://127.0.0.1:{port}")
    seeded = off_the_loop(seed(env, members=1, funds_minutes=60))
    casts = {language: off_the_loop(_cast(env, language)) for language in LANGUAGES}
    with serving(env, port) as base:
        yield JourneySite(Site(base, seeded), casts)


def _in_language(page: Any, language: str, path: str) -> None:
    """Switches ``page`` to ``language`` (staff members' own language is Dutch) on ``path``."""
    page.goto(f"/lang/{language}?next={path}")
    page.wait_for_url(f"**{path}")
    assert page.locator("html").get_attribute("lang") == language


def _laid_out(page: Any, language: str) -> None:
    """``dir`` on ``<html>``, and what it does: an action button's icon stands before its word
    in the reading direction (on the right of it in Arabic, on the left in Dutch)."""
    expected = "rtl" if language == "ar" else "ltr"
    assert page.locator("html").get_attribute("dir") == expected
    assert page.evaluate("getComputedStyle(document.body).direction") == expected
    button = page.locator("ul.actions a").first
    icon, word = button.locator("svg").bounding_box(), button.locator("span").bounding_box()
    assert (icon["x"] > word["x"]) == (language == "ar"), (icon, word)
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_member_enrolled_by_a_coordinator_pays_a_shop_and_the_municipality_sees_it(
    browser: Any, journey_site: JourneySite, language: str
) -> None:
    site, cast = journey_site.site, journey_site.casts[language]
    refused: list[str] = []

    # The coordinator, on a laptop, enrols a member and records three hours.
    office = laptop(browser, site, language)
    coordinator = sign_in_person(office, site.person_link(cast.coordinator), "/s/coordinator")
    refused += watch_for_refusals(coordinator)
    _in_language(coordinator, language, "/s/coordinator")
    name = f"Yasmin {language}"
    welcome = enrol(coordinator, name, language)
    screenshot(coordinator, f"journey-{language}-1-welcome-card")
    record_hours(coordinator, name, EARNED_MINUTES // 60, "Tuinieren")
    assert (
        format_hours(EARNED_MINUTES, language) in coordinator.locator("main .notice").inner_text()
    )
    screenshot(coordinator, f"journey-{language}-2-hours-recorded")

    # The member opens the welcome link on a phone, in the language they were enrolled in.
    pocket = phone(browser, site, language)
    member = sign_in_person(pocket, welcome, "/m")
    refused += watch_for_refusals(member)
    assert member.locator("#balance").inner_text() == format_hours(EARNED_MINUTES, language)
    _laid_out(member, language)
    screenshot(member, f"journey-{language}-3-member-home")

    # The shop's till, signed in as shop staff, lands on the keypad and shows a QR code.
    counter = phone(browser, site, language)
    till = sign_in_person(counter, site.person_link(cast.shop_staff), "/till")
    refused += watch_for_refusals(till)
    _in_language(till, language, "/till")
    assert cast.shop in till.locator("body").inner_text()
    till.locator(f'ul.quick button[value="{PAID_MINUTES}"]').click()
    till.wait_for_url("**/till/r/*")
    assert till.locator("img.qr").is_visible()
    screenshot(till, f"journey-{language}-4-till-qr")

    # The member scans it with the phone's camera and pays.
    request_id = till.url.rsplit("/", 1)[1]
    pocket.add_init_script(camera_filming(site.base.upper() + f"/P/{request_id}"))
    member.goto("/m/pay")
    member.wait_for_url(f"**/P/{request_id}", timeout=10_000)
    confirm = member.locator("main").inner_text()
    assert format_hours(PAID_MINUTES, language) in confirm and cast.shop in confirm
    assert member.locator("html").get_attribute("dir") == till.locator("html").get_attribute("dir")
    screenshot(member, f"journey-{language}-5-pay-confirm")
    paid_at = time.monotonic()
    member.locator("form.pay button[type=submit]").click()
    till.get_by_text(PAID_WORDS[language]).wait_for(timeout=5_000)
    seconds = time.monotonic() - paid_at
    print(f"{language}: the till said paid after {seconds:.3f} s")
    assert seconds < PAID_WITHIN_SECONDS, f"the till said paid after {seconds:.2f} s"
    screenshot(till, f"journey-{language}-6-till-paid")
    member.goto("/m")
    assert member.locator("#balance").inner_text() == format_hours(
        EARNED_MINUTES - PAID_MINUTES, language
    )
    screenshot(member, f"journey-{language}-7-member-after")

    # The municipality's dashboard shows what this journey issued and redeemed, by name.
    town_hall = laptop(browser, site, language)
    auditor = sign_in_person(town_hall, site.person_link(cast.auditor), "/s/municipality")
    refused += watch_for_refusals(auditor)
    _in_language(auditor, language, "/s/municipality")
    issued = auditor.locator("#organisations tr", has_text=cast.organisation)
    assert issued.locator("td.num").inner_text() == format_hours(EARNED_MINUTES, language)
    redeemed = auditor.locator("#shops tr", has_text=cast.shop)
    assert redeemed.locator("td.num").inner_text() == format_hours(PAID_MINUTES, language)
    assert auditor.locator("html").get_attribute("dir") == ("rtl" if language == "ar" else "ltr")
    screenshot(auditor, f"journey-{language}-8-municipality")

    for context in (office, pocket, counter, town_hall):
        context.close()
    assert refused == []
