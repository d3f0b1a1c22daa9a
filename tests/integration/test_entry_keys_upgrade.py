"""A journal written before keys were mapped: its ids keep verifying, and retries still find them.

Before ``0005_entry_keys`` the API named an entry by its request's scoped key
(``<key>:<tag>``), a payment request's by ``<RID>.<attempt>``, the server's own
by ``ent_`` and random characters. The upgrade maps the recent ids to
themselves, so a client that retries across the upgrade (now under a fresh id,
carrying the scoped key) gets the entry booked before it. Run against SQLite
and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from api.idempotency import legacy_entry_id, scoped_key
from ledger.audit.bundle import Bundle
from ledger.audit.export import export_bundle
from ledger.audit.verify import verify_bundle
from ledger.ids import key_of_legacy_id, new_entry_id
from ledger.note import generate_signer
from ledger.service import Ledger
from ledger.sql.migrate import upgrade
from ledger.sql.store import SqlStore
from ledger.writer import Appended
from tests.support.builders import (
    COMMUNITY,
    HOST,
    a_clock,
    a_neighbourhood,
    accepted,
    code_of,
    earn,
    redeem,
    transfer,
)

BEFORE_KEYS = "0004_approval_threshold"
PHONE, UUID = "crd_phone", "0d9c4e8a-5a1b-4c57-9f0e-2b7d3f8e6a11"
OLD_ID = legacy_entry_id(PHONE, UUID)  # "<key>:<tag>"
RID = "ABCDEFGHJKMNPQRSTVWXYZ0123"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    sql = SqlStore.from_url(database_url)
    try:
        yield sql
    finally:
        await sql.close()


SIGNER = generate_signer(f"{HOST}/{COMMUNITY}")


def a_service(store: SqlStore) -> Ledger:
    """A ledger with the deployment's one key (the server before and after the upgrade)."""
    return Ledger(store, SIGNER, HOST, a_clock())


async def test_old_shaped_ids_verify_and_a_retry_across_the_upgrade_finds_its_entry(
    store: SqlStore, tmp_path: Path
) -> None:
    await upgrade(store.engine, BEFORE_KEYS)
    old = a_service(store)
    await accepted(old, *a_neighbourhood(members=3), earn("org-1", "member-1", 600))
    given, _, _ = await accepted(
        old,
        transfer("member-1", "member-2", 15, id=OLD_ID),
        redeem("member-1", "shop-1", 30, id=f"{RID}.2", reference=RID),
        transfer("member-1", "member-3", 5, id="ent_4Q2M8XKD0TJ7B1RWF9S3N6CZHA"),
    )
    refused = await old.append(COMMUNITY, transfer("member-2", "member-3", 9_999, id="old:refused"))
    await old.close()

    await upgrade(store.engine)
    new = a_service(store)
    size = (await store.head(COMMUNITY)).size
    retry = await new.append(COMMUNITY, transfer("member-1", "member-2", 15, id=new_entry_id()))
    keyed_retry = await new.append(
        COMMUNITY,
        replace(
            transfer("member-1", "member-2", 15, id=new_entry_id()), key=scoped_key(PHONE, UUID)
        ),
    )
    refused_again = await new.append(
        COMMUNITY,
        replace(
            transfer("member-2", "member-3", 9_999, id=new_entry_id()),
            key=key_of_legacy_id("old:refused"),
        ),
    )
    await export_bundle(store, COMMUNITY, tmp_path / "b", new.verifier)
    report = verify_bundle(Bundle(tmp_path / "b"), new.verifier)
    await new.close()

    assert code_of(refused) == "exceeds_balance" and refused_again == refused
    assert isinstance(keyed_retry, Appended) and keyed_retry.accepted.retried
    assert keyed_retry.entry == given
    assert isinstance(retry, Appended) and not retry.accepted.retried  # no key: a new request
    assert (await store.head(COMMUNITY)).size == size + 1
    assert report.findings == ()
