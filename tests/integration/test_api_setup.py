"""The application's migrations and the ``buurtmunt`` command on real databases."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import inspect, text

from api import app as app_module
from api import cli
from api.services import store_from, upgrade_database
from api.settings import Settings
from ledger.note import generate_signer


async def test_migrations_create_the_tables_once_with_their_own_version_table(
    database_url: str,
) -> None:
    store = store_from(Settings(database_url=database_url))
    try:
        await upgrade_database(store)
        await upgrade_database(store)  # safe to run on every start
        async with store.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            api_version = (
                await conn.execute(text("SELECT version_num FROM alembic_version_api"))
            ).scalar()
            ledger_version = (
                await conn.execute(text("SELECT version_num FROM alembic_version_ledger"))
            ).scalar()
    finally:
        await store.close()

    assert {"people", "roles", "credentials", "enrolment_links", "pending_earnings"} <= tables
    assert {"idempotent_responses", "lockouts", "communities", "named_accounts"} <= tables
    assert {"payment_requests", "pay_code_devices", "cards", "offline_payments"} <= tables
    assert (api_version, ledger_version) == ("0005_request_keys", "0005_entry_keys")


def test_the_command_line_sets_up_a_community_and_issues_tokens(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("BUURTMUNT_DATABASE_URL", database_url)
    monkeypatch.setenv("BUURTMUNT_SIGNING_KEY", generate_signer("buurtmunt.test").key_string())
    monkeypatch.setenv("BUURTMUNT_PUBLIC_URL", "https://buurtmunt.test")

    assert cli.main(["db", "upgrade"]) == 0
    assert (
        cli.main(["community", "create", "noord", "--name", "Noord", "--cap-minutes", "1200"]) == 0
    )
    assert cli.main(["community", "create", "noord"]) == 1  # exists already
    assert cli.main(["member", "add", "--community", "noord", "--name", "Ria"]) == 0
    out = capsys.readouterr().out
    assert "https://buurtmunt.test/e/" in out
    account = out.split("member account ")[1].split()[0]
    assert (
        cli.main(["token", "--role", "member", "--community", "noord", "--account", account]) == 0
    )
    assert cli.main(["token", "--role", "admin", "--community", "noord", "--name", "Anna"]) == 0
    assert cli.main(["token", "--role", "operator"]) == 0
    assert cli.main(["token", "--role", "admin"]) == 2  # a community role needs --community
    tokens = capsys.readouterr().out.split()
    assert len(tokens) == 3 and all(len(t) == 43 for t in tokens)

    key_file = tmp_path / "keys" / "signing.key"
    assert cli.main(["keys", "generate", "--out", str(key_file), "--name", "buurtmunt.test"]) == 0
    assert capsys.readouterr().out.startswith("buurtmunt.test+")
    assert os.stat(key_file).st_mode & 0o777 == 0o600
    assert cli.main(["keys", "generate", "--out", str(key_file)]) == 1  # never overwrites


def test_a_database_that_is_not_there_is_one_line_not_a_traceback(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/bm_never_created"
    monkeypatch.setenv("BUURTMUNT_DATABASE_URL", missing)
    monkeypatch.setenv("BUURTMUNT_SIGNING_KEY", generate_signer("buurtmunt.test").key_string())

    status = cli.main(["db", "upgrade"])

    said = capsys.readouterr().err.strip().splitlines()
    assert status == cli.EXIT_UNUSABLE
    assert said == ['buurtmunt: the database: database "bm_never_created" does not exist']


def test_auditing_a_community_that_does_not_exist_says_so(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BUURTMUNT_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("BUURTMUNT_SIGNING_KEY", generate_signer("buurtmunt.test").key_string())
    assert cli.main(["db", "upgrade"]) == 0

    status = cli.main(["audit", "--community", "nosuch"])

    assert status == 2
    assert "no community 'nosuch'" in capsys.readouterr().err


@pytest.mark.parametrize("server", [True, False])
async def test_only_the_served_app_tunes_the_process(
    sqlite_url: str, server: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    settled: list[bool] = []
    monkeypatch.setattr(app_module, "tune_for_serving", lambda: settled.append(True))
    settings = Settings(database_url=sqlite_url, signing_key=generate_signer("t.test").key_string())
    app = app_module.create_app(settings, server=server)

    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/health")).status_code == 200

    assert settled == ([True] if server else [])


def test_tuning_freezes_what_exists_widens_the_young_generation_and_shortens_gil_waits() -> None:
    before, interval = gc.get_threshold(), sys.getswitchinterval()
    try:
        app_module.tune_for_serving()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (app_module.YOUNG_GENERATION_OBJECTS, *before[1:])
        assert sys.getswitchinterval() == pytest.approx(app_module.GIL_SWITCH_INTERVAL_S)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        sys.setswitchinterval(interval)
        gc.set_threshold(*before)
