"""The pages over HTTP: languages, error pages for browsers, the headers that keep them
safe, compression, the resident's history and receipts, settings and signing out."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.e2e.test_pay_page import on_phone
from tests.support.api import World, open_world
from tests.support.api_checks import problem
from tests.support.pages import link_phone

ARABIC_150 = "\u0661\u0665\u0660"  # 150 in Arabic-Indic digits

BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
RECEIPT_LINK = re.compile(r'href="/m/r/([^"]+)"')


def html_attributes(page: httpx.Response) -> str:
    found = re.search(r"<html ([^>]*)>", page.text)
    assert found is not None, page.text[:200]
    return found.group(1)


async def test_the_start_page_speaks_the_browsers_language_and_dutch_by_default(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        dutch = await world.client.get("/", headers=BROWSER)
        turkish = await world.client.get(
            "/", headers=BROWSER | {"Accept-Language": "de-DE, tr-TR;q=0.9, en;q=0.5"}
        )
        arabic = await world.client.get("/", headers=BROWSER | {"Accept-Language": "ar-MA"})

    assert dutch.status_code == 200 and dutch.headers["content-type"].startswith("text/html")
    assert 'lang="nl" dir="ltr"' in html_attributes(dutch)
    assert "welkomstkaart" in dutch.text and "Buurtmunt" in dutch.text
    assert 'lang="tr" dir="ltr"' in html_attributes(turkish) and "koordinatör" in turkish.text
    assert 'lang="ar" dir="rtl"' in html_attributes(arabic) and "بطاقة ترحيب" in arabic.text


async def test_the_language_switch_is_remembered_and_returns_to_the_same_page(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        switched = await world.client.get("/lang/en?next=/help/lost-phone", follow_redirects=False)
        after = await world.client.get("/help/lost-phone")
        elsewhere = await world.client.get("/lang/ar?next=//evil.example/", follow_redirects=False)
        unknown = await world.client.get("/lang/xx?next=/", follow_redirects=False)

    assert switched.status_code == 303 and switched.headers["location"] == "/help/lost-phone"
    assert "bm_lang=en" in switched.headers["set-cookie"]
    assert 'lang="en"' in html_attributes(after) and "Phone lost?" in after.text
    assert elsewhere.headers["location"] == "/"
    assert unknown.status_code == 303 and "set-cookie" not in unknown.headers


async def test_browsers_get_an_error_page_and_api_clients_keep_problem_json(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        page = await world.client.get("/no/such/page", headers=BROWSER)
        english = await world.client.get(
            "/no/such/page", headers=BROWSER | {"Accept-Language": "en"}
        )
        api_page = await world.client.get("/api/v1/me", headers=BROWSER)
        json = await world.client.get("/no/such/page", headers={"Accept": "application/json"})
        anything = await world.client.get("/no/such/page")

    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "niet vinden" in page.text and 'role="alert"' in page.text
    assert "cannot find this page" in english.text
    assert api_page.status_code == 401 and "niet aangemeld" in api_page.text
    problem(json, 404, "not_found")
    problem(anything, 404, "not_found")


async def test_every_response_has_a_strict_policy_and_personal_pages_are_never_stored(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        start = await world.client.get("/")
        style = await world.client.get("/static/app.css")
        api = await world.get("/api/v1/me", as_=world.member)
        error = await world.client.get("/nothing", headers=BROWSER)

        async def home(phone: httpx.AsyncClient) -> httpx.Response:
            return await phone.get("/m")

        personal = await on_phone(world, home)

    for response in (start, style, api, error, personal):
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert personal.headers["cache-control"] == "no-store"
    assert api.headers["cache-control"] == "no-store"
    assert error.headers["cache-control"] == "no-store"
    assert "public" in style.headers["cache-control"]
    assert "public" in start.headers["cache-control"]
    for page in (start, error, personal):  # the charset said once
        assert page.headers["content-type"] == "text/html; charset=utf-8"


async def test_pages_scripts_and_documentation_go_out_compressed(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        gzip = {"Accept-Encoding": "gzip"}
        responses = [
            await world.client.get(path, headers=gzip)
            for path in ("/", "/static/app.css", "/static/app.js", "/schema/assets/swagger-ui.css")
        ]

    for response in responses:
        assert response.status_code == 200, response.url
        assert response.headers.get("content-encoding") == "gzip", response.url


async def test_the_api_documentation_needs_nothing_from_the_internet(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        page = await world.client.get("/schema")
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        loaded = [await world.client.get(path) for path in assets]

    assert page.status_code == 200 and len(assets) == 4
    assert all(path.startswith("/schema/assets/") for path in assets), assets
    assert [r.status_code for r in loaded] == [200] * len(assets)


async def test_the_app_can_be_installed_with_a_manifest_icons_and_a_service_worker(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        manifest = await world.client.get(
            "/manifest.webmanifest", headers={"Accept-Language": "tr"}
        )
        icons = [await world.client.get(icon["src"]) for icon in manifest.json()["icons"]]
        worker = await world.client.get("/sw.js")
        favicon = await world.client.get("/favicon.ico")

    body: dict[str, Any] = manifest.json()
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    assert body["start_url"] == "/m" and body["display"] == "standalone" and body["lang"] == "tr"
    for icon, served in zip(body["icons"], icons, strict=True):
        assert served.status_code == 200 and served.headers["content-type"] == icon["type"]
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in body["icons"]}
    assert worker.status_code == 200
    assert worker.headers["content-type"] == "text/javascript; charset=utf-8"
    assert worker.headers["cache-control"] == "no-cache"
    assert favicon.status_code == 200


async def a_member_with_history(world: World, transfers: int) -> None:
    for _ in range(transfers):
        await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 1},
            as_=world.member,
        )


async def test_the_history_names_who_and_what_and_each_line_opens_its_receipt(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        others = await world.get(
            f"/api/v1/accounts/{world.members[1].account}/entries", as_=world.admin
        )

        async def steps(phone: httpx.AsyncClient) -> list[httpx.Response]:
            home = await phone.get("/m")
            receipts = [await phone.get(f"/m/r/{i}") for i in RECEIPT_LINK.findall(home.text)]
            foreign = await phone.get(f"/m/r/{others.json()['items'][0]['id']}")
            return [home, *receipts, foreign]

        home, *receipts, foreign = await on_phone(world, steps)

    assert "5 uur" in home.text  # the balance, in words
    assert "Gekregen van Member 0" in home.text and "+5 uur" in home.text
    assert "Uw rekening is geopend" in home.text
    assert receipts and all(r.status_code == 200 for r in receipts)
    assert "Gekregen van Member 0" in receipts[0].text and "/api/v1/receipts/" in receipts[0].text
    assert foreign.status_code == 404


async def test_the_history_comes_in_pages_from_newest_to_oldest(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        await a_member_with_history(world, 25)

        async def steps(phone: httpx.AsyncClient) -> list[httpx.Response]:
            # The member's own phone: link a device for world.member.
            first = await phone.get("/m/history")
            older = re.search(r'href="(/m/history\?before=\d+)"', first.text)
            assert older is not None, first.text
            return [first, await phone.get(older.group(1))]

        first, second = await member_phone(world, steps)

    assert first.text.count('href="/m/r/') == 20
    # 25 transfers, 1 earning and the opening: 27 lines in all.
    assert second.text.count('href="/m/r/') == 7
    assert "Gegeven aan Member 1" in first.text and "Geholpen bij Buurthuis" in second.text
    assert "before=" not in second.text.split('<nav class="pager"')[1].split("</nav>")[0]


async def test_history_and_receipt_give_the_time_on_the_netherlands_clock(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        # 23:40 UTC on 28 November is 00:40 on the 29th in Amsterdam.
        world.clock.advance(hours=14, minutes=10)
        await a_member_with_history(world, 1)

        async def steps(phone: httpx.AsyncClient) -> list[str]:
            history = await phone.get("/m/history")
            receipt = re.search(r'href="(/m/r/[^"]+)"', history.text)
            assert receipt is not None, history.text
            return [history.text, (await phone.get(receipt.group(1))).text]

        history, receipt = await member_phone(world, steps)

    assert "29 november 2026 <bdi>00:40</bdi>" in history
    assert "29 november 2026 00:40</time>" in receipt


async def test_a_history_cursor_out_of_range_shows_the_newest_page(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(phone: httpx.AsyncClient) -> list[httpx.Response]:
            return [
                await phone.get("/m/history", params={"before": before})
                for before in [str(2**63), "9" * 19, ARABIC_150, "-1"]
            ]

        pages = await member_phone(world, steps)

    for page in pages:
        assert page.status_code == 200, page.text
        assert "Uw rekening is geopend" in page.text  # from the newest entry on


async def member_phone(world: World, steps: Any) -> Any:
    """Run ``steps`` on a phone linked to the world's first member (10 hours earned)."""
    link = await world.post(
        f"/api/v1/people/{world.member.person_id}/enrolment-links", as_=world.admin
    )
    path = link.json()["url"].replace("http://buurtmunt.test", "")

    async def run() -> Any:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=world.app),  # type: ignore[arg-type]
            base_url="http://buurtmunt.test",
        ) as phone:
            await link_phone(phone, path)
            return await steps(phone)

    return world.run(run)


async def test_settings_change_language_and_text_size_only_with_the_form_token(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(phone: httpx.AsyncClient) -> list[httpx.Response]:
            form = await phone.get("/m/settings")
            token = FORM_TOKEN.search(form.text)
            assert token is not None
            forged = await phone.post("/m/settings", data={"language": "ar", "large_text": "1"})
            saved = await phone.post(
                "/m/settings",
                data={"csrf": token.group(1), "language": "ar", "large_text": "1"},
            )
            return [forged, saved, await phone.get("/m")]

        forged, saved, home = await on_phone(world, steps)

    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    assert saved.status_code == 303 and saved.headers["location"] == "/m/settings?saved=1"
    attributes = html_attributes(home)
    assert 'lang="ar" dir="rtl"' in attributes and 'class="large-text"' in attributes
    assert "رصيدك" in home.text and "5 ساعات" in home.text


async def test_a_new_phone_speaks_the_language_the_coordinator_chose_on_every_page(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        made = await world.post(
            "/api/v1/members", {"name": "Rania", "language": "ar"}, as_=world.coordinator
        )
        assert made.status_code == 201, made.text
        person_id = made.json()["id"]

        async def link() -> str:
            answer = await world.post(
                f"/api/v1/people/{person_id}/enrolment-links", as_=world.admin
            )
            return str(answer.json()["url"]).replace("http://buurtmunt.test", "")

        dutch_phone = BROWSER | {"Accept-Language": "nl-NL"}

        def a_phone(**cookies: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=httpx.ASGITransport(app=world.app),  # type: ignore[arg-type]
                base_url="http://buurtmunt.test",
                headers=dutch_phone,
                cookies=cookies,
            )

        async def first(link: str) -> list[httpx.Response]:
            async with a_phone() as phone:
                welcome = await phone.get(link)
                linked = await link_phone(phone, link)
                return [welcome, linked, await phone.get("/")]

        async def second(link: str) -> httpx.Response:
            async with a_phone(bm_lang="tr") as turkish_phone:
                await link_phone(turkish_phone, link)
                return await turkish_phone.get("/")

        # Only a person's newest link works: the second phone's is issued after the first.
        welcome, linked, start = world.run(first, await link())
        kept = world.run(second, await link())

    assert 'lang="ar" dir="rtl"' in html_attributes(welcome)
    assert linked.status_code == 303 and "bm_lang=ar" in linked.headers.get("set-cookie", "")
    assert 'lang="ar" dir="rtl"' in html_attributes(start)  # a public page too
    assert 'lang="tr"' in html_attributes(kept)  # a choice the phone made stays


async def test_signing_out_ends_the_phones_session_for_good(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:

        async def steps(phone: httpx.AsyncClient) -> list[httpx.Response]:
            page = await phone.get("/m/sign-out")
            token = FORM_TOKEN.search(page.text)
            assert token is not None
            session = phone.cookies["bm_session"]
            forged = await phone.post("/m/sign-out", data={})
            done = await phone.post("/m/sign-out", data={"csrf": token.group(1)})
            phone.cookies.set("bm_session", session)
            after = await phone.get("/m")
            api = await phone.get("/api/v1/me", headers={"Authorization": f"Bearer {session}"})
            return [page, forged, done, after, api]

        page, forged, done, after, api = await on_phone(world, steps)

    assert "nieuwe welkomstkaart" in page.text
    assert forged.status_code == 403
    assert done.status_code == 200 and 'data-forget="1"' in done.text
    assert (
        'bm_session=""' in done.headers["set-cookie"] or "Max-Age=0" in done.headers["set-cookie"]
    )
    assert after.status_code == 401
    problem(api, 401, "not_authenticated")
