"""Phone pages over HTTP, in process: a welcome link for anyone in a ``World``, a client
that keeps its cookies (a phone), linking it (opening the link, then pressing its
button, as a phone does), and a page's form token."""

from __future__ import annotations

import re

import httpx

from tests.support.api import World

FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
BASE = "http://buurtmunt.test"


async def welcome_link(world: World, person_id: str) -> str:
    """A fresh one-time link (a path) for ``person_id``, issued by the admin."""
    link = await world.post(f"/api/v1/people/{person_id}/enrolment-links", as_=world.admin)
    assert link.status_code == 201, link.text
    url: str = link.json()["url"]
    return url.replace(BASE, "")


def page_client(world: World) -> httpx.AsyncClient:
    """A phone: an HTTP client of the world's app that keeps its cookies."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.app),  # type: ignore[arg-type]
        base_url=BASE,
    )


async def link_phone(phone: httpx.AsyncClient, link: str) -> httpx.Response:
    """Link ``phone`` as a resident does: open the welcome link, press its button."""
    page = await phone.get(link)
    assert page.status_code == 200, page.text
    linked = await phone.post(link, data={"csrf": form_token(page)})
    assert linked.status_code == 303 and "bm_session" in phone.cookies, linked.text
    return linked


def form_token(page: httpx.Response) -> str:
    found = FORM_TOKEN.search(page.text)
    assert found is not None, page.text
    return found.group(1)
