"""API tokens may be made to expire, are refused once they have, and show when they were
last used (recorded at most once a minute, never on every request)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlmodel import select

from api import auth, cli
from api.runtime import open_runtime
from api.settings import Settings
from api.tables import CredentialRow
from ledger.note import generate_signer
from tests.support.api import World, open_world
from tests.support.api_checks import eventually, problem


async def make_token(world: World, **fields: object) -> dict[str, object]:
    body = {"person_id": world.auditor.person_id, "role": "auditor", **fields}
    answer = await world.post("/api/v1/tokens", body, as_=world.admin)
    assert answer.status_code == 201, answer.text
    made: dict[str, object] = answer.json()
    return made


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_made_to_expire_is_refused_from_its_expiry_on(database_url: str) -> None:
    async with open_world(database_url) as world:
        made = await make_token(world, label="script", expires_in_days=1)
        before = await world.client.get("/api/v1/me", headers=bearer(made["token"]))
        world.clock.advance(days=1, seconds=-1)
        last_second = await world.client.get("/api/v1/me", headers=bearer(made["token"]))
        world.clock.advance(seconds=1)
        # Still in the authentication cache: the expiry applies all the same.
        expired = await world.client.get("/api/v1/me", headers=bearer(made["token"]))
        listed = await world.get("/api/v1/tokens", as_=world.admin)

        assert made["expires_at"] == "2026-11-29T09:30:00Z"
        assert before.status_code == 200 and last_second.status_code == 200
        body = problem(expired, 401, "token_expired")
        assert str(made["token"]) not in str(body)
        assert expired.headers["www-authenticate"].startswith("Bearer")
        shown = next(t for t in listed.json()["items"] if t["id"] == made["id"])
        assert shown["expires_at"] == "2026-11-29T09:30:00Z"


async def test_a_token_made_without_an_expiry_keeps_working(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        made = await make_token(world)
        world.clock.advance(days=3_000)
        answer = await world.client.get("/api/v1/me", headers=bearer(made["token"]))

        assert made["expires_at"] is None
        assert answer.status_code == 200


async def test_an_expiry_outside_its_bounds_is_refused(sqlite_url: str) -> None:
    async with open_world(sqlite_url) as world:
        for days in (0, -1, 3_661, 10**30, 1.5, "7", True):
            body = {"person_id": world.auditor.person_id, "role": "auditor"}
            answer = await world.post(
                "/api/v1/tokens", {**body, "expires_in_days": days}, as_=world.admin
            )
            problem(answer, 422, "request_invalid")


async def test_the_last_use_is_recorded_at_most_once_a_minute(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "TOUCH_GATHER_SECONDS", 0.0)
    async with open_world(sqlite_url) as world:
        made = await make_token(world)

        async def last_use() -> str | None:
            listed = await world.get("/api/v1/tokens", as_=world.admin)
            shown = next(t for t in listed.json()["items"] if t["id"] == made["id"])
            used: str | None = shown["last_used_at"]
            return used

        async def use_after(seconds: int, expected: str) -> str | None:
            """The last use shown after using the token: ``expected`` once the
            background write has come, or what is shown after a few seconds."""
            world.clock.advance(seconds=seconds)
            world.rt.authenticator.forget()  # as if the cache had run out
            answer = await world.client.get("/api/v1/me", headers=bearer(made["token"]))
            assert answer.status_code == 200
            await asyncio.sleep(0.1)  # time for a write that should not come
            return await eventually(last_use, lambda used: used == expected)

        first = await use_after(0, "2026-11-28T09:30:00Z")
        within_the_minute = await use_after(59, "2026-11-28T09:30:00Z")
        after_the_minute = await use_after(2, "2026-11-28T09:31:01Z")

        assert first == "2026-11-28T09:30:00Z"
        assert within_the_minute == first
        assert after_the_minute == "2026-11-28T09:31:01Z"


def test_the_command_line_issues_a_token_that_expires(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BUURTMUNT_DATABASE_URL", database_url)
    monkeypatch.setenv("BUURTMUNT_SIGNING_KEY", generate_signer("buurtmunt.test").key_string())
    assert cli.main(["community", "create", "noord"]) == 0
    started = int(time.time())
    issue = ["token", "--role", "admin", "--community", "noord", "--name", "Anna"]
    assert cli.main([*issue, "--expires-in-days", "2"]) == 0
    with pytest.raises(SystemExit):
        cli.main(["token", "--role", "operator", "--expires-in-days", "0"])
    captured = capsys.readouterr()

    assert "expires 20" in captured.err
    rows = _credentials(database_url)
    expiring = [r for r in rows if r.expires_at is not None]
    assert len(expiring) == 1
    assert started + 2 * 86_400 <= expiring[0].expires_at <= int(time.time()) + 2 * 86_400


def _credentials(database_url: str) -> list[CredentialRow]:
    async def read() -> list[CredentialRow]:
        async with open_runtime(Settings.from_env()) as rt, rt.db.read() as session:
            return list((await session.exec(select(CredentialRow))).all())

    return asyncio.run(read())
