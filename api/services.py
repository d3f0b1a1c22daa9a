"""Builds the running parts from settings: the store, the migrations, the ledger."""

from __future__ import annotations

from api import migrate as api_migrate
from api.settings import Settings
from ledger.keys import load_signer
from ledger.note import NoteSigner
from ledger.service import Ledger
from ledger.sql import migrate
from ledger.sql.store import SqlStore


def signer_from(settings: Settings) -> NoteSigner:
    if settings.signing_key:
        return load_signer(value=settings.signing_key)
    return load_signer(path=settings.signing_key_file)


def store_from(settings: Settings) -> SqlStore:
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return SqlStore.from_url(settings.database_url)


def read_store_from(settings: Settings) -> SqlStore:
    """The store for reads that may lag (exports): the read replica when there is one."""
    if settings.read_database_url is None:
        return store_from(settings)
    return SqlStore.from_url(settings.read_database_url)


async def upgrade_database(store: SqlStore) -> None:
    """Apply every layer's migrations (journal first, then the application's)."""
    await migrate.upgrade(store.engine)
    await api_migrate.upgrade(store.engine)


def ledger_from(settings: Settings, store: SqlStore) -> Ledger:
    return Ledger(store, signer_from(settings), settings.host)
