"""Checks a test makes on API answers: problem details, the journal verifying offline,
and waiting for what the server writes in the background."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from ledger.checkpoint import open_checkpoint
from ledger.merkle import Frontier, leaf_hash, verify_consistency
from ledger.note import NoteVerifier
from ledger.receipt import parse_receipt, verify_receipt
from tests.support.api import Actor, World

T = TypeVar("T")


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with this status and code; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"].endswith(":" + code)
    assert body["title"] and body["detail"]
    return body


async def journal_verifies(world: World, as_: Actor) -> int:
    """Fetch every canonical entry and the signed checkpoint; check one against the other.

    Returns the tree size. Uses only what an outside verifier has: the API's
    answers and the verifier key.
    """
    checkpoint = (await world.get("/api/v1/ledger/checkpoint", as_=as_)).json()
    verifier = NoteVerifier.from_key_string(checkpoint["verifier_key"])
    signed = open_checkpoint(checkpoint["note"], verifier, expected_origin=checkpoint["origin"])
    frontier = Frontier.empty()
    start = 0
    while start < signed.size:
        lines = await world.get(
            "/api/v1/ledger/entries", as_=as_, params={"start": start, "end": signed.size}
        )
        assert lines.status_code == 200, lines.text
        for line in lines.content.splitlines():
            frontier.append(leaf_hash(line))
            start += 1
    assert frontier.root() == signed.root
    return signed.size


async def receipt_verifies(world: World, entry_id: str, as_: Actor) -> dict[str, Any]:
    answer = await world.get(f"/api/v1/receipts/{entry_id}", as_=as_)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    verifier = NoteVerifier.from_key_string(body["verifier_key"])
    receipt = parse_receipt(body["receipt"])
    verify_receipt(receipt, body["entry"].encode(), verifier, expected_origin=body["origin"])
    return body


async def consistency_verifies(
    world: World, old: dict[str, Any], new: dict[str, Any], as_: Actor
) -> None:
    proof = await world.get(
        "/api/v1/ledger/proofs/consistency",
        as_=as_,
        params={"from": old["size"], "to": new["size"]},
    )
    assert proof.status_code == 200, proof.text
    hashes = [base64.b64decode(h) for h in proof.json()["hashes"]]
    old_root, new_root = base64.b64decode(old["root_hash"]), base64.b64decode(new["root_hash"])
    assert verify_consistency(old["size"], new["size"], hashes, old_root, new_root)


async def eventually(
    read: Callable[[], Awaitable[T]], done: Callable[[T], bool], seconds: float = 5.0
) -> T:
    """What ``read`` gives once ``done`` holds for it, or after ``seconds`` (for a
    write the server makes in the background, which a fixed sleep may not outlast)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await read()
        if done(found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)
