"""Rotating the signing key: the journal keeps verifying, with the old key's checkpoints
opened by its verifier key (``BUURTMUNT_RETIRED_VERIFIER_KEYS``, or ``--key`` again)."""

from __future__ import annotations

from pathlib import Path

from api import drafts, statements
from api.runtime import open_runtime
from api.settings import Settings
from ledger.audit.statement import Period
from ledger.checkpoint import open_checkpoint
from ledger.ids import new_entry_id
from ledger.note import NoteSigner, generate_signer
from tests.support.commands import buurtmunt_here
from tests.support.server import COMMUNITY, seed, server_env


async def a_transfer(env: dict[str, str], payer: str, payee: str) -> None:
    """One entry written by a server with ``env``'s settings (its stop signs the head)."""
    async with open_runtime(Settings.from_env(env)) as rt:
        draft = drafts.transfer(new_entry_id(), payer, payee, 5, "")
        await drafts.append(rt.ledger, COMMUNITY, draft)


def with_key(env: dict[str, str], signer: NoteSigner, *retired: NoteSigner) -> dict[str, str]:
    return {
        **env,
        "BUURTMUNT_SIGNING_KEY": signer.key_string(),
        "BUURTMUNT_RETIRED_VERIFIER_KEYS": ",".join(r.verifier().key_string() for r in retired),
    }


async def test_after_a_rotation_the_audit_statement_and_bundle_verify_with_the_old_key_too(
    database_url: str, tmp_path: Path
) -> None:
    old, new = generate_signer("buurtmunt.test"), generate_signer("buurtmunt.test")
    before = with_key(server_env(database_url, "http://buurtmunt.test"), old)
    seeded = await seed(before, members=2, funds_minutes=60)
    payer, payee = seeded.member_accounts
    await a_transfer(before, payer, payee)
    # What the auditor keeps from before: the last checkpoint the old key signed.
    kept, _ = await buurtmunt_here(
        before, "export", "--community", COMMUNITY, "--out", str(tmp_path / "old")
    )
    trusted = tmp_path / "old" / "checkpoint"

    after = with_key(before, new, old)
    await a_transfer(after, payee, payer)
    forgotten = with_key(before, new)

    audited, said = await buurtmunt_here(after, "audit", "--community", COMMUNITY)
    unaware, unaware_said = await buurtmunt_here(forgotten, "audit", "--community", COMMUNITY)
    exported, _ = await buurtmunt_here(
        after, "export", "--community", COMMUNITY, "--out", str(tmp_path / "new")
    )
    keys = ["--key", new.verifier().key_string(), "--key", old.verifier().key_string()]
    verified, verify_said = await buurtmunt_here(
        after, "verify", str(tmp_path / "new"), *keys, "--trusted", str(trusted)
    )
    only_new, _ = await buurtmunt_here(
        after, "verify", str(tmp_path / "new"), *keys[:2], "--trusted", str(trusted)
    )
    async with open_runtime(Settings.from_env(after)) as rt:
        month = Period.parse(rt.month())
        statement = await statements.statement(rt.reads.primary, COMMUNITY, month)
        head = await rt.ledger.checkpoint(COMMUNITY)

    assert kept == 0
    assert audited == 0, said
    assert unaware == 1 and "finding" in unaware_said, unaware_said  # the old checkpoints
    assert exported == 0
    assert verified == 0, verify_said
    assert only_new != 0  # the trusted checkpoint was signed by the old key
    assert head is not None and statement.checkpoint_size == head.size
    open_checkpoint(head.note, new.verifier())  # the new key signs from the rotation on
