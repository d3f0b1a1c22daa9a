"""The ledger's side of witnessing on real SQLite and PostgreSQL, against a real witness
app in process (httpx's ASGI transport): it asks, keeps the cosignature, and serves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import delete

from api.runtime import open_runtime
from api.settings import Settings
from api.tables import WitnessCosignatureRow
from api.witness import Witness, WitnessStore, create_witness_app
from api.witnesses import cosigned_note, parse_witnesses
from ledger.checkpoint import origin_for
from ledger.cosignature import generate_cosigner
from ledger.note import generate_signer
from tests.support import builders

BASE = "http://witness.test"


def a_ledger_and_its_witness(database_url: str, tmp_path: Path) -> tuple[Settings, Witness]:
    """A ledger's settings that name a witness at ``BASE``, and that witness, which
    follows the ledger's community ``oost``."""
    signer = generate_signer("buurtmunt.test")
    cosigner = generate_cosigner("witness.test")
    settings = Settings(
        database_url=database_url,
        signing_key=signer.key_string(),
        public_url="http://buurtmunt.test",
        witnesses=(f"{BASE} {cosigner.verifier().key_string()}",),
    )
    origin = origin_for("buurtmunt.test", "oost")
    witness = Witness(
        cosigner, {origin: signer.verifier().named(origin)}, WitnessStore(tmp_path / "w.db")
    )
    return settings, witness


async def test_the_ledger_asks_keeps_and_serves_the_cosignature_and_catches_up_after_409(
    database_url: str, tmp_path: Path
) -> None:
    settings, witness = a_ledger_and_its_witness(database_url, tmp_path)
    cosigner, origin = witness.cosigner, origin_for("buurtmunt.test", "oost")
    transport = httpx.ASGITransport(app=create_witness_app(witness))  # type: ignore[arg-type]
    async with open_runtime(settings) as rt, httpx.AsyncClient(transport=transport) as client:
        await rt.ledger.append("oost", builders.configure())
        assert await rt.witnesses.ask(client, "oost")
        first = await rt.ledger.checkpoint("oost")
        assert first is not None
        note = await cosigned_note(rt.db, "oost", first)
        assert cosigner.verifier().cosignature_on(note).timestamp > 0

        await rt.ledger.append("oost", builders.open_account(builders.a_member("member-1")))
        await rt.ledger.sign_unsigned()  # what the cadence's timer does within a second
        # The ledger forgets what it knew: the witness's 409 tells it where to start.
        async with rt.db.write() as session:
            await session.exec(delete(WitnessCosignatureRow))
        assert await rt.witnesses.ask(client, "oost")
        second = await rt.ledger.checkpoint("oost")
        assert second is not None and second.size > first.size
        note = await cosigned_note(rt.db, "oost", second)
        assert cosigner.verifier().cosignature_on(note).timestamp > 0
        assert witness.store.recorded(origin).size == second.size
    witness.store.close()


def test_a_witness_setting_is_a_url_and_a_witness_key() -> None:
    key = generate_cosigner("witness.test").verifier().key_string()
    (config,) = parse_witnesses([f"https://witness.test/ {key}"])
    assert (config.url, config.key) == ("https://witness.test", key)
    log_key = generate_signer("buurtmunt.test").verifier().key_string()
    for wrong in (key, f"witness.test {key}", f"https://witness.test {log_key}"):
        with pytest.raises(ValueError):
            parse_witnesses([wrong])


async def test_a_community_the_witness_does_not_follow_is_not_asked_again_at_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings, witness = a_ledger_and_its_witness(sqlite_url, tmp_path)  # it follows oost only
    asked: list[str] = []
    app = create_witness_app(witness)

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            asked.append(scope["path"])
        await app(scope, receive, send)

    transport = httpx.ASGITransport(app=counted)
    client = httpx.AsyncClient(transport=transport)
    async with open_runtime(settings) as rt, client:
        await rt.ledger.append("west", builders.configure())
        first = await rt.witnesses.ask(client, "west")
        await rt.ledger.append("west", builders.open_account(builders.a_member("member-1")))
        await rt.ledger.sign_unsigned()
        second = await rt.witnesses.ask(client, "west")
    witness.store.close()

    assert first and second  # nothing to wait for: no retry every few seconds
    assert asked == ["/add-checkpoint"]  # asked once, not at the second checkpoint
