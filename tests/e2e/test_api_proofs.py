"""The HTTP side of the ledger format: who may ask for proofs, which sizes, how encoded."""

from __future__ import annotations

import base64
from typing import Any

from ledger.checkpoint import open_checkpoint
from ledger.merkle import leaf_hash, verify_inclusion
from ledger.note import NoteVerifier
from tests.support.api import World, open_world
from tests.support.api_checks import problem

INCLUSION = "/api/v1/ledger/proofs/inclusion"
CONSISTENCY = "/api/v1/ledger/proofs/consistency"


async def _given(world: World) -> dict[str, Any]:
    given = await world.post(
        "/api/v1/transfers",
        {"payee": world.members[1].account, "amount_minutes": 10},
        as_=world.member,
    )
    assert given.status_code == 201, given.text
    body: dict[str, Any] = given.json()
    return body


async def test_a_member_proves_their_own_entry_in_the_signed_tree(database_url: str) -> None:
    async with open_world(database_url) as world:
        given = await _given(world)
        head = (await world.get("/api/v1/ledger/checkpoint", as_=world.member)).json()
        receipt = (await world.get(f"/api/v1/receipts/{given['id']}", as_=world.member)).json()

        proof = await world.get(
            INCLUSION, as_=world.member, params={"seq": given["seq"], "size": head["size"]}
        )

        assert proof.status_code == 200, proof.text
        hashes = [base64.b64decode(h, validate=True) for h in proof.json()["hashes"]]
        assert all(len(h) == 32 for h in hashes)
        verifier = NoteVerifier.from_key_string(head["verifier_key"])
        signed = open_checkpoint(head["note"], verifier, expected_origin=head["origin"])
        leaf = leaf_hash(receipt["entry"].encode())
        assert verify_inclusion(leaf, given["seq"], signed.size, hashes, signed.root)
        assert verifier.name == head["origin"]


async def test_a_member_may_not_prove_an_entry_that_does_not_concern_them(
    database_url: str,
) -> None:
    async with open_world(database_url, members=3) as world:
        given = await _given(world)
        size = (await world.get("/api/v1/ledger/checkpoint", as_=world.member)).json()["size"]

        other = await world.get(
            INCLUSION, as_=world.members[2], params={"seq": given["seq"], "size": size}
        )
        auditor = await world.get(
            INCLUSION, as_=world.auditor, params={"seq": given["seq"], "size": size}
        )

        problem(other, 403, "entry_not_visible")
        assert auditor.status_code == 200


async def test_a_consistency_proof_from_0_is_refused_and_from_a_size_to_itself_is_empty(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        size = (await world.get("/api/v1/ledger/checkpoint", as_=world.member)).json()["size"]

        from_zero = await world.get(CONSISTENCY, as_=world.member, params={"from": 0, "to": size})
        same = await world.get(CONSISTENCY, as_=world.member, params={"from": size, "to": size})
        beyond = await world.get(CONSISTENCY, as_=world.member, params={"from": 1, "to": size + 1})

        assert problem(from_zero, 422, "proof_unavailable")["tree_size"] == size
        assert same.status_code == 200 and same.json()["hashes"] == []
        problem(beyond, 422, "proof_unavailable")


async def test_the_openapi_document_gives_the_proof_bounds_as_integers(database_url: str) -> None:
    async with open_world(database_url) as world:
        document = (await world.client.get("/schema/openapi.json")).json()

    for path in ("/api/v1/ledger/proofs/inclusion", "/api/v1/ledger/proofs/consistency"):
        for parameter in document["paths"][path]["get"]["parameters"]:
            schema = parameter["schema"]
            assert schema["maximum"] == 2**63 - 1 and type(schema["maximum"]) is int, parameter
            assert schema["minimum"] == 0 and type(schema["minimum"]) is int
            assert parameter["description"]
