"""The API's own journal carries who acts: staff entries for coordinators made and
removed, the approving coordinator of a large earning, payers' transfers; and the
audit, fed what an auditor downloads, finds it clean."""

from __future__ import annotations

import json

from ledger.audit.audit import Audit
from ledger.canonical import decode_entry
from ledger.model import EntryKind
from ledger.note import NoteVerifier
from tests.support.api import World, open_world


async def downloaded(world: World) -> tuple[list[bytes], str, str]:
    """Every entry, the head checkpoint note and the verifier key, as an auditor gets them."""
    checkpoint = (await world.get("/api/v1/ledger/checkpoint", as_=world.auditor)).json()
    lines: list[bytes] = []
    while len(lines) < checkpoint["size"]:
        page = await world.get(
            "/api/v1/ledger/entries",
            as_=world.auditor,
            params={"start": len(lines), "end": checkpoint["size"]},
        )
        assert page.status_code == 200, page.text
        lines += page.content.splitlines()
    return lines, checkpoint["note"], checkpoint["verifier_key"]


async def test_the_apis_journal_of_approved_earnings_transfers_and_staff_changes_audits_clean(
    database_url: str,
) -> None:
    async with open_world(database_url, members=2) as world:
        work = {"activity": "boodschappen", "worked_on": "2026-11-27"}
        small = await world.post(
            "/api/v1/earnings",
            {"member": world.members[0].account, "amount_minutes": 60, **work},
            as_=world.coordinator,
        )
        held = await world.post(
            "/api/v1/earnings",
            {"member": world.members[1].account, "amount_minutes": 600, **work},
            as_=world.coordinator,
        )
        approved = await world.post(
            f"/api/v1/earnings/{held.json()['id']}/approve", as_=world.coordinator2
        )
        given = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 10},
            as_=world.member,
        )
        revoked = await world.client.delete(
            f"/api/v1/people/{world.coordinator_b.person_id}/roles/coordinator",
            params={"scope": world.org_b}, headers=world.admin.headers,
        )  # fmt: skip
        lines, note, key = await downloaded(world)

        audit = Audit(NoteVerifier.from_key_string(key))
        audit.checkpoint(note, "checkpoint", head=True)
        for line in lines:
            audit.feed(line)
        report = audit.finish()

        assert small.status_code == 201 and held.status_code == 202, held.text
        assert approved.status_code == 201 and given.status_code == 201, given.text
        assert revoked.status_code == 200, revoked.text
        assert report.clean, report.findings
        entries = [decode_entry(line) for line in lines]
        assert {e.version for e in entries} == {2}
        configured = next(e for e in entries if e.kind is EntryKind.CONFIGURE)
        assert configured.draft.settings is not None
        assert configured.draft.settings.approval_threshold_minutes == 480
        staff = [e.draft.staff for e in entries if e.draft.staff is not None]
        coordinators = {world.coordinator.staff_id, world.coordinator2.staff_id}
        assert coordinators <= {s.staff_id for s in staff if s.active}
        assert [(s.staff_id, s.organisation) for s in staff if not s.active] == [
            (world.coordinator_b.staff_id, world.org_b)
        ]
        booked = next(e for e in entries if e.id == held.json()["id"])
        assert dict(booked.draft.meta)["approved_by"] == world.coordinator2.staff_id
        assert booked.draft.actor == world.coordinator.staff_id
        # Names stay out of the journal: staff appear by their pseudonymous ids only.
        assert not any(b"Coordinator" in line for line in lines), json.dumps(
            [line.decode() for line in lines if b"Coordinator" in line]
        )
