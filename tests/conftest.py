"""Shared fixtures: real databases, and the rule that CI skips nothing.

PostgreSQL tests use ``BUURTMUNT_TEST_POSTGRES_URL`` (default: the local server
with trust auth, database ``test``); each test gets a database of its own. Where
PostgreSQL is unreachable these tests skip with the reason, except under
``CI=true``, where any skipped test fails the run.

Property tests run without Hypothesis's per-example deadline: the suite shares
a small machine with PostgreSQL and Chromium, and a pause there is not a bug.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings

from tests.support.databases import fresh_postgres_url, postgres_unavailable_reason

settings.register_profile("buurtmunt", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("buurtmunt")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(reason: str | None) -> None:
    """Skip (or, in CI, fail) when ``reason`` says a real dependency is missing."""
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    require(await postgres_unavailable_reason())
    async with fresh_postgres_url() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/buurtmunt.db"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[str]:
    """A fresh, empty database URL on each real engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/buurtmunt.db"
        return
    require(await postgres_unavailable_reason())
    async with fresh_postgres_url() as url:
        yield url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(f"CI: {skipped} skipped test(s) count as failures", red=True)
