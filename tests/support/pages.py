"""Phone pages over HTTP, in process: a welcome link for anyone in a ``World``, a client
that keeps its cookies (a phone), linking it (opening the link, then pressing its
button, as a phone does), the admin's laptop, and a page's form token and forms."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.support.api import World

FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')
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


def posted_form(page: httpx.Response, action: str) -> tuple[str, dict[str, str]]:
    """The form of ``page`` that posts to a path matching ``action`` (a pattern): that
    path, and the form's hidden fields (its token, its key, what it carries)."""
    pattern = rf'<form method="post" action="({action})"[^>]*>(.*?)</form>'
    found = re.search(pattern, page.text, re.S)
    assert found is not None, page.text
    return found.group(1), dict(HIDDEN.findall(found.group(2)))


async def as_admin(world: World, steps: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    """What ``steps`` return, run on the app's loop with the admin's linked laptop."""
    link = await welcome_link(world, world.admin.person_id)

    async def run() -> Any:
        async with page_client(world) as laptop:
            await link_phone(laptop, link)
            return await steps(laptop)

    return world.run(run)
