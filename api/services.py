"""Builds the running parts from settings: the store, the migrations, the ledger."""

from __future__ import annotations

import asyncio
import logging
import time

from api import migrate as api_migrate
from api.database import database_unreachable
from api.settings import Settings
from ledger.cadence import Cadence
from ledger.keys import load_signer
from ledger.note import NoteSigner, NoteVerifier
from ledger.sql import migrate
from ledger.sql.store import SqlStore

log = logging.getLogger(__name__)

DATABASE_WAIT_SECONDS = 60.0
DATABASE_RETRY_SECONDS = 0.5


def signer_from(settings: Settings) -> NoteSigner:
    if settings.signing_key:
        return load_signer(value=settings.signing_key)
    return load_signer(path=settings.signing_key_file)


def retired_verifiers(settings: Settings) -> tuple[NoteVerifier, ...]:
    """The verifier keys of the signing keys used before this one (``NoteError`` if one
    does not parse)."""
    return tuple(NoteVerifier.from_key_string(key) for key in settings.retired_verifier_keys)


def store_from(settings: Settings) -> SqlStore:
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return SqlStore.from_url(settings.database_url, settings.database_pool_size)


async def upgrade_database(store: SqlStore) -> None:
    """Apply every layer's migrations (journal first, then the application's).

    A database that cannot be reached yet (PostgreSQL starting, restarting, failing
    over) is tried again for up to ``DATABASE_WAIT_SECONDS``: a server worker that
    starts meanwhile waits for it instead of failing, which would stop the server.
    """
    deadline = time.monotonic() + DATABASE_WAIT_SECONDS
    while True:
        try:
            await migrate.upgrade(store.engine)
            await api_migrate.upgrade(store.engine)
            return
        except Exception as error:
            if not database_unreachable(error) or time.monotonic() > deadline:
                raise
            log.warning("database unreachable, trying again: %r", error)
            await asyncio.sleep(DATABASE_RETRY_SECONDS)


def cadence_from(settings: Settings) -> Cadence:
    """The checkpoint cadence the settings ask for."""
    return Cadence(settings.checkpoint_interval_seconds, settings.checkpoint_entries_step)
