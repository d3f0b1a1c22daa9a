"""Which database a read goes to (``api.replica``), and which errors mean "unreachable".

The router is given fake stores that only say how far their journal reaches;
``tests/e2e/test_read_replica.py`` runs the same choices against a real
streaming replica.
"""

from __future__ import annotations

from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from api.database import database_unreachable
from api.replica import (
    REPLICA_RETRY_SECONDS,
    REPLICA_TIP_MEMORY_SECONDS,
    ReadRouter,
    ReadView,
)
from ledger.sql import journal

LAG_MAX = 10.0


class FakeStore:
    """A store whose journal has ``size`` entries and which replayed its last transaction
    ``replay_age`` seconds ago (None: no standby), or that cannot be reached."""

    def __init__(
        self, size: int = 0, error: BaseException | None = None, replay_age: float | None = 0.0
    ) -> None:
        self.size = size
        self.error = error
        self.replay_age = replay_age
        self.asked = 0

    async def run(self, write: bool, fn: Any, *args: Any) -> tuple[int, Any]:
        assert not write, "choosing a database never writes"
        self.asked += 1
        if self.error is not None:
            raise self.error
        if fn is journal.read_tip:
            return self.size, b""
        return self.size, self.replay_age  # how far a replica has replayed


def a_view(store: FakeStore, is_replica: bool) -> ReadView:
    return ReadView(cast(Any, store), cast(Any, None), cast(Any, None), is_replica=is_replica)


@pytest.fixture
def primary() -> ReadView:
    return a_view(FakeStore(size=100), is_replica=False)


async def test_without_a_replica_every_read_goes_to_the_primary(primary: ReadView) -> None:
    router = ReadRouter(primary)

    assert await router.view("oost") is primary
    assert await router.view("oost", seen_size=5) is primary


async def test_a_replica_that_holds_what_the_client_saw_answers(primary: ReadView) -> None:
    replica = a_view(FakeStore(size=90), is_replica=True)
    router = ReadRouter(primary, replica)

    assert await router.view("oost") is replica
    assert await router.view("oost", seen_size=90) is replica


async def test_a_replica_behind_what_the_client_saw_leaves_the_read_to_the_primary(
    primary: ReadView,
) -> None:
    router = ReadRouter(primary, a_view(FakeStore(size=90), is_replica=True))

    assert await router.view("oost", seen_size=91) is primary


async def test_what_the_replica_said_is_trusted_for_a_moment_unless_the_client_saw_more(
    primary: ReadView, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore(size=90)
    replica = a_view(store, is_replica=True)
    router = ReadRouter(primary, replica)
    now = [1000.0]
    monkeypatch.setattr("api.replica.time.monotonic", lambda: now[0])

    assert await router.view("oost", seen_size=90) is replica
    store.size = 95
    assert await router.view("oost", seen_size=80) is replica
    assert store.asked == 1, "remembered, not asked again"
    assert await router.view("oost", seen_size=95) is replica
    assert store.asked == 2, "the client saw more than remembered: asked again"
    now[0] += REPLICA_TIP_MEMORY_SECONDS
    assert await router.view("oost") is replica
    assert store.asked == 3


async def test_an_unreachable_replica_is_skipped_for_a_while(
    primary: ReadView, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FakeStore(error=ConnectionRefusedError(111, "refused"))
    replica = a_view(store, is_replica=True)
    router = ReadRouter(primary, replica)
    now = [1000.0]
    monkeypatch.setattr("api.replica.time.monotonic", lambda: now[0])

    assert await router.view("oost") is primary
    assert await router.view("oost") is primary
    assert store.asked == 1, "skipped, not asked again at once"
    now[0] += REPLICA_RETRY_SECONDS + 0.1
    store.error = None
    assert await router.view("oost") is replica


async def test_a_replica_that_replays_nothing_while_the_primary_moves_on_is_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    primary_store = FakeStore(size=100)
    primary = a_view(primary_store, is_replica=False)
    store = FakeStore(size=90, replay_age=LAG_MAX + 1)
    replica = a_view(store, is_replica=True)
    router = ReadRouter(primary, replica, lag_max_seconds=LAG_MAX)
    now = [1000.0]
    monkeypatch.setattr("api.replica.time.monotonic", lambda: now[0])

    assert await router.view("oost") is primary
    assert primary_store.asked == 1, "the primary is asked how far it reaches"
    assert await router.view("oost") is primary
    assert store.asked == 1, "remembered as behind, not asked again at once"

    # It has caught up and replays again: read once it is asked again.
    store.size, store.replay_age = 100, 0.2
    now[0] += REPLICA_TIP_MEMORY_SECONDS
    assert await router.view("oost") is replica


async def test_a_replica_that_replayed_long_ago_is_read_while_the_primary_holds_no_more() -> None:
    primary = a_view(FakeStore(size=100), is_replica=False)
    quiet = a_view(FakeStore(size=100, replay_age=3600.0), is_replica=True)

    router = ReadRouter(primary, quiet, lag_max_seconds=LAG_MAX)

    assert await router.view("oost") is quiet, "an idle primary: the replica holds it all"


async def test_a_replica_within_its_lag_is_read_without_asking_the_primary() -> None:
    primary_store = FakeStore(size=100)
    replica = a_view(FakeStore(size=90, replay_age=LAG_MAX - 1), is_replica=True)

    router = ReadRouter(a_view(primary_store, is_replica=False), replica, LAG_MAX)

    assert await router.view("oost") is replica
    assert primary_store.asked == 0


@pytest.mark.parametrize(("size", "read"), [(90, "primary"), (100, "replica")])
async def test_a_database_that_is_no_standby_is_read_only_while_it_holds_what_the_primary_holds(
    size: int, read: str
) -> None:
    primary = a_view(FakeStore(size=100), is_replica=False)
    replica = a_view(FakeStore(size=size, replay_age=None), is_replica=True)

    router = ReadRouter(primary, replica, lag_max_seconds=LAG_MAX)

    assert await router.view("oost") is {"primary": primary, "replica": replica}[read]


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),
        DBAPIError("SELECT 1", {}, asyncpg.exceptions.CannotConnectNowError("starting up")),
        DBAPIError("SELECT 1", {}, asyncpg.exceptions.ConnectionDoesNotExistError("closed")),
    ],
    ids=["refused", "starting up", "connection lost"],
)
def test_a_database_that_is_down_is_unreachable(error: BaseException) -> None:
    assert database_unreachable(error)


def test_an_error_caused_by_an_unreachable_database_is_unreachable() -> None:
    try:
        try:
            raise ConnectionResetError(104, "reset")
        except OSError as inner:
            raise RuntimeError("the batch could not be committed") from inner
    except RuntimeError as outer:
        assert database_unreachable(outer)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        DBAPIError("SELECT", {}, asyncpg.exceptions.UndefinedTableError("no such table")),
    ],
    ids=["bug", "constraint", "statement"],
)
def test_a_statement_the_database_refused_is_not_unreachable(error: BaseException) -> None:
    assert not database_unreachable(error)
