"""Welcome links over HTTP: only the page this site served can link a phone (another
site's form cannot sign a visitor in as someone else), and only a person's newest
unused link works (a new link, or a new phone, retires the earlier ones)."""

from __future__ import annotations

import re

import httpx

from tests.support.api import World, open_world
from tests.support.pages import form_token, link_phone, page_client, welcome_link

SELF = "http://buurtmunt.test"
WELCOME_CARD_LINK = re.compile(r'id="welcome-link">http://buurtmunt\.test(/e/[^<]+)</a>')
REFUSED = "Deze pagina is verlopen. Open hem opnieuw."
RETIRED = "Deze link is verlopen. Vraag uw coördinator om een nieuwe."


async def redeem_over_the_api(world: World, link: str) -> httpx.Response:
    token = link.rsplit("/", 1)[1]
    return await world.post("/api/v1/enrolment/redeem", {"token": token}, as_=None)


async def test_the_welcome_page_sets_a_short_lived_form_cookie_and_the_form_sends_it_back(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        link = await welcome_link(world, world.member.person_id)

        async def run() -> list[httpx.Response]:
            async with page_client(world) as phone:
                page = await phone.get(link)
                linked = await link_phone(phone, link)
                assert "bm_link" not in phone.cookies  # its work is done
                return [page, linked]

        page, linked = world.run(run)

    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"bm_link={form_token(page)};"), cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/e/" in cookie
    assert "Max-Age=3600" in cookie and "Secure" not in cookie  # plain http here
    assert page.headers["cache-control"] == "no-store"
    assert linked.status_code == 303 and linked.headers["location"] == "/m"


async def test_a_welcome_form_from_another_site_is_refused_and_changes_nothing(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        own = await welcome_link(world, world.member.person_id)
        attackers = await welcome_link(world, world.members[1].person_id)

        async def run() -> tuple[list[httpx.Response], str, str]:
            async with page_client(world) as victim, page_client(world) as attacker:
                await link_phone(victim, own)
                session = victim.cookies["bm_session"]
                # The attacker opens their own link to learn a form value for it.
                value = form_token(await attacker.get(attackers))
                refused = [
                    await victim.post(attackers),  # a bare cross-site post: no cookie, no field
                    await victim.post(attackers, data={"csrf": value}),  # without its cookie
                ]
                # A phone holding the cookie still needs its own value, from this site.
                cookie = form_token(await victim.get(attackers))
                refused += [
                    await victim.post(attackers, data={"csrf": value}),
                    await victim.post(
                        attackers, data={"csrf": cookie}, headers={"Origin": "https://evil.test"}
                    ),
                    await victim.post(attackers, data={"csrf": cookie}, headers={"Origin": "null"}),
                    await victim.post(
                        attackers, data={"csrf": cookie}, headers={"Sec-Fetch-Site": "cross-site"}
                    ),
                ]
                return refused, session, victim.cookies["bm_session"]

        refused, before, after = world.run(run)

        # Nothing changed: the attacker's link still links the attacker's own phone.
        async def the_attacker_links() -> httpx.Response:
            async with page_client(world) as attacker:
                page = await attacker.get(attackers)
                headers = {"Origin": SELF, "Sec-Fetch-Site": "same-origin"}
                return await attacker.post(
                    attackers, data={"csrf": form_token(page)}, headers=headers
                )

        linked = world.run(the_attacker_links)

    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert REFUSED in answer.text and f'href="{attackers}"' in answer.text
        assert "bm_session" not in answer.headers.get("set-cookie", "")
    assert after == before  # the victim is still signed in as themselves
    assert linked.status_code == 303 and "bm_session=" in linked.headers["set-cookie"]


async def test_a_refused_welcome_form_speaks_the_persons_language(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        made = await world.post(
            "/api/v1/members", {"name": "Rania", "language": "ar"}, as_=world.coordinator
        )
        link = await welcome_link(world, made.json()["id"])

        async def run() -> httpx.Response:
            async with page_client(world) as phone:
                return await phone.post(link)

        refused = world.run(run)

    assert refused.status_code == 403 and 'lang="ar" dir="rtl"' in refused.text
    assert "انتهت صلاحية هذه الصفحة" in refused.text


async def test_after_a_new_phone_an_earlier_unused_welcome_link_no_longer_works(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        in_the_stolen_bag = await welcome_link(world, world.member.person_id)
        coordinator = await welcome_link(world, world.coordinator.person_id)
        member_page = f"/s/coordinator/member/{world.member.person_id}"

        async def run() -> list[httpx.Response]:
            async with page_client(world) as laptop, page_client(world) as thief:
                await link_phone(laptop, coordinator)
                csrf = form_token(await laptop.get(member_page))
                card = await laptop.post(f"{member_page}/new-phone", data={"csrf": csrf})
                found = WELCOME_CARD_LINK.search(card.text)
                assert card.status_code == 200 and found is not None, card.text
                opened = await thief.get(in_the_stolen_bag)
                # A form value from a page this site did serve does not bring it back.
                value = form_token(await thief.get(found.group(1)))
                pressed = await thief.post(in_the_stolen_bag, data={"csrf": value})
                async with page_client(world) as new_phone:
                    await link_phone(new_phone, found.group(1))
                return [opened, pressed]

        opened, pressed = world.run(run)
        by_api = await redeem_over_the_api(world, in_the_stolen_bag)

    for answer in (opened, pressed):
        assert answer.status_code == 410 and RETIRED in answer.text, answer.text
        assert "bm_session" not in answer.headers.get("set-cookie", "")
    assert by_api.status_code == 404


async def test_only_the_newest_welcome_link_of_a_person_works(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        first = await welcome_link(world, world.member.person_id)
        neighbours = await welcome_link(world, world.members[1].person_id)
        second = await welcome_link(world, world.member.person_id)
        by_api = await redeem_over_the_api(world, first)

        async def run() -> httpx.Response:
            async with page_client(world) as phone, page_client(world) as neighbour:
                opened = await phone.get(first)
                await link_phone(phone, second)
                await link_phone(neighbour, neighbours)  # another person's link stays
                return opened

        opened = world.run(run)

    assert opened.status_code == 410 and RETIRED in opened.text
    assert by_api.status_code == 404


async def test_a_used_link_opened_again_on_the_phone_it_signed_in_goes_to_its_home(
    sqlite_url: str,
) -> None:
    async with open_world(sqlite_url) as world:
        link = await welcome_link(world, world.member.person_id)

        async def run() -> list[httpx.Response]:
            async with page_client(world) as phone, page_client(world) as stranger:
                await link_phone(phone, link)
                return [await phone.get(link), await stranger.get(link)]

        again, elsewhere = world.run(run)

    assert again.status_code == 303 and again.headers["location"] == "/m"
    assert elsewhere.status_code == 410, "not signed in: the link says it was used"
