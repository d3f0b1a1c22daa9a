"""A real Chromium for page tests: Debian's ``chromium`` driven by Playwright for Python.

``browser`` launches it once per test module (never a downloaded browser);
``Site`` is a running ``buurtmunt serve`` with a seeded community; ``phone``
opens a 360 by 640 pixel browser context in a language; ``sign_in`` opens a fresh
welcome link on it, ``sign_in_person`` any person's (staff included);
``camera_filming`` is a fake camera that films a QR code. ``enrol`` and
``record_hours`` work the coordinator's screen. ``check_accessible`` runs axe-core
with the WCAG 2.2 AA tags plus ``target-size`` and fails on any violation; ``screenshot`` keeps a
picture of the screen under ``tests/artifacts/screenshots`` (or
``$BUURTMUNT_TEST_ARTIFACTS``). Without Chromium or Playwright the tests skip
with the reason, except under ``CI=true``.

The screens that come next (shop till, coordinator, municipality, admin) build
on the same fixtures: a ``Site``, a ``phone`` (or a laptop-sized context), and
``check_accessible`` on every screen in every language.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import qrcode

from api import provisioning
from api.directory import person_of_account
from api.runtime import open_runtime
from api.settings import Settings
from api.tables import PersonRow
from tests.conftest import require
from tests.support.qr_codes import decode_png
from tests.support.server import COMMUNITY, ROOT, Seeded, free_port, seed, server_env, serving

T = TypeVar("T")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
PHONE_VIEWPORT = {"width": 360, "height": 640}
LAPTOP_VIEWPORT = {"width": 1280, "height": 800}
LOCALES = {"nl": "nl-NL", "en": "en-GB", "tr": "tr-TR", "ar": "ar"}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
MEMBER_FUNDS_MINUTES = 180
ARTIFACTS = Path(os.environ.get("BUURTMUNT_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))
# A camera that films a QR code: a canvas stream, drawn again ten times a second.
FAKE_CAMERA = """
(() => {
  const cells = %s;
  const scale = 8;
  navigator.mediaDevices.getUserMedia = async () => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = cells.length * scale;
    const pen = canvas.getContext("2d");
    const draw = () => {
      pen.fillStyle = "#fff";
      pen.fillRect(0, 0, canvas.width, canvas.height);
      pen.fillStyle = "#000";
      cells.forEach((row, y) => row.forEach((on, x) => {
        if (on) pen.fillRect(x * scale, y * scale, scale, scale);
      }));
    };
    draw();
    setInterval(draw, 100);
    return canvas.captureStream(10);
  };
})();
"""


def chromium_unavailable_reason() -> str | None:
    if shutil.which("chromium") is None:
        return "Debian's Chromium is not installed (apt-get install chromium)"
    try:
        import axe_playwright_python  # noqa: F401
        import playwright  # noqa: F401
    except ImportError:
        return "playwright and axe-playwright-python are not installed (the test extra)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API keeps an event loop running in
    the test's thread while it lives, which async tests in later modules cannot share."""
    require(chromium_unavailable_reason())
    # Playwright must use the system's Chromium, never fetch one of its own.
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def off_the_loop(work: Coroutine[Any, Any, T]) -> T:
    """Runs ``work`` to the end on an event loop of its own, in a thread of its own:
    Playwright's sync API keeps an event loop running in the test's thread."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, work).result()


@dataclass(frozen=True, slots=True)
class Site:
    base: str
    seeded: Seeded

    def welcome_link(self, member: int = 0) -> str:
        """A fresh one-time link (a path) for the ``member``-th seeded resident."""
        return off_the_loop(_welcome_link(self.seeded, member))

    def person_link(self, person_id: str) -> str:
        """A fresh one-time link (a path) for any person, staff included."""
        return off_the_loop(_person_link(self.seeded.env, person_id))


async def _welcome_link(seeded: Seeded, member: int) -> str:
    async with open_runtime(Settings.from_env(seeded.env)) as rt:
        async with rt.db.read() as session:
            person = await person_of_account(session, COMMUNITY, seeded.member_accounts[member])
        assert person is not None
        _, url = await provisioning.issue_enrolment_link(rt, person, "test")
    return "/" + url.split("/", 3)[3]


async def _person_link(env: dict[str, str], person_id: str) -> str:
    async with open_runtime(Settings.from_env(env)) as rt:
        async with rt.db.read() as session:
            person = await session.get(PersonRow, person_id)
        assert person is not None
        _, url = await provisioning.issue_enrolment_link(rt, person, "test")
    return "/" + url.split("/", 3)[3]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require(chromium_unavailable_reason())
    port = free_port()
    database = tmp_path_factory.mktemp("site") / "buurtmunt.db"
    env = server_env(f"sqlite:///{database}", f"http://127.0.0.1:{port}")
    seeded = off_the_loop(seed(env, members=3, funds_minutes=MEMBER_FUNDS_MINUTES))
    with serving(env, port) as base:
        yield Site(base, seeded)


def phone(browser: Any, site: Site, language: str = "nl", **options: Any) -> Any:
    """A new phone-sized browser context whose browser asks for ``language``."""
    return browser.new_context(
        **{"base_url": site.base, "viewport": PHONE_VIEWPORT, "locale": LOCALES[language]} | options
    )


def laptop(browser: Any, site: Site, language: str = "nl", **options: Any) -> Any:
    """A new laptop-sized browser context (staff screens) whose browser asks for ``language``."""
    return phone(browser, site, language, viewport=LAPTOP_VIEWPORT, **options)


def sign_in(context: Any, site: Site, member: int = 0) -> Any:
    """Opens a fresh welcome link on ``context`` and links the phone; returns the page."""
    page = context.new_page()
    page.goto(site.welcome_link(member))
    page.locator("main form button").click()
    page.wait_for_url("**/m")
    return page


def sign_in_person(context: Any, link: str, lands_on: str) -> Any:
    """Opens the welcome ``link`` on ``context``, links it, and waits to land on ``lands_on``."""
    page = context.new_page()
    page.goto(link)
    page.locator("main form button").click()
    page.wait_for_url(f"**{lands_on}")
    return page


def camera_filming(text: str) -> str:
    """An init script: the page's camera films a QR code of ``text``."""
    code = qrcode.QRCode(border=4)
    code.add_data(text)
    code.make(fit=True)
    return FAKE_CAMERA % json.dumps([[bool(cell) for cell in row] for row in code.get_matrix()])


def enrol(page: Any, name: str, language: str = "nl") -> str:
    """Enrols ``name`` on the coordinator's screen; returns the welcome link's path."""
    page.goto("/s/coordinator")
    page.fill("#enrol-name", name)
    page.select_option("#enrol-language", language)
    page.locator("#enrol-name").locator("xpath=ancestor::form").locator("button").click()
    link = page.locator("#welcome-link")
    href: str = link.get_attribute("href")
    # The card's QR code, as the browser draws it, holds the same link.
    assert decode_png(page.locator(".welcome-card .qr").screenshot()) == [href]
    return "/" + href.split("/", 3)[3]


def record_hours(page: Any, name: str, hours: int, activity: str) -> str:
    """Finds ``name`` on the coordinator's screen and records ``hours``; returns the notice."""
    page.goto("/s/coordinator")
    page.fill("#q", name)
    page.keyboard.press("Enter")
    page.locator(".people a", has_text=name).click()
    page.fill("#hours", str(hours))
    page.fill("#activity", activity)
    page.locator("#activity").locator("xpath=ancestor::form").locator("button").click()
    notice: str = page.locator("main .notice").inner_text()
    return notice


def check_accessible(page: Any) -> None:
    """axe-core, WCAG 2.2 AA and target size: no violations at all."""
    from axe_playwright_python.sync_playwright import Axe

    options = {
        "runOnly": {"type": "tag", "values": AXE_TAGS},
        "rules": {"target-size": {"enabled": True}},
        "resultTypes": ["violations"],
    }
    results = Axe().run(page, options=options)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


def watch_for_refusals(page: Any) -> list[str]:
    """A list that fills with what the page's Content-Security-Policy refused, and script
    errors: every page test expects it empty at the end."""
    refused: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            refused.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: refused.append(str(error)))
    return refused


def screenshot(page: Any, name: str) -> Path:
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
