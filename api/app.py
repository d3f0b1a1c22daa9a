"""The application factory: ``create_app(settings) -> Litestar``.

Nothing is opened at import time. Startup opens the store, applies every
migration, and builds the ledger and the runtime; shutdown closes them. One
deployment serves many communities: a caller's community comes from their
credential, never from the URL.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import entry_points
from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from api.auth import provide_principal
from api.bodies import strict_json_body
from api.openapi import StrictStructSchemaPlugin
from api.problems import EXCEPTION_HANDLERS
from api.routes import (
    accounts,
    cards,
    communities,
    credentials,
    health,
    ledger,
    me,
    organisations,
    pay_codes,
    payment_requests,
    payments,
    people,
    shop_payments,
)
from api.runtime import Runtime, open_runtime
from api.settings import Settings
from ledger.clock import Clock

REQUEST_BODY_BYTES_MAX = 64 * 1024

CONTROLLERS = [
    me.MeController,
    communities.CommunityController,
    organisations.OrganisationController,
    organisations.ShopController,
    people.MemberController,
    people.StaffController,
    people.PersonController,
    credentials.DeviceController,
    credentials.TokenController,
    credentials.EnrolmentController,
    payments.EarningController,
    payments.TransferController,
    payments.CorrectionController,
    shop_payments.RefundController,
    shop_payments.SettlementController,
    shop_payments.ShopStatementController,
    payment_requests.PaymentRequestController,
    pay_codes.PayCodeController,
    pay_codes.PaymentReportController,
    cards.CardController,
    accounts.AccountController,
    ledger.LedgerController,
    ledger.ReceiptController,
]


PAGES_ENTRY_POINT = "buurtmunt.pages"


def discovered_pages() -> list[Any]:
    """Page routes that installed packages register under the ``buurtmunt.pages`` entry point.

    ``mobile_web`` builds on the API (its pages call into ``api``), so the API
    must not import it; it registers its routes instead (see pyproject.toml).
    """
    routes: list[Any] = []
    for entry_point in entry_points(group=PAGES_ENTRY_POINT):
        routes.extend(entry_point.load())
    return routes


def provide_runtime(request: ASGIConnection[Any, Any, Any, Any]) -> Runtime:
    # The app's own state: a ``state`` parameter would be a fresh copy per request.
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime), "the app's lifespan builds the runtime"
    return runtime


# Objects a young generation holds before the collector looks at it: sized for
# the burst of objects a few dozen requests in flight make, not the default 700,
# which has the collector walk the same live requests over and over.
YOUNG_GENERATION_OBJECTS = 10_000
# How long a thread waiting for the GIL lets the holder run before asking for it.
GIL_SWITCH_INTERVAL_S = 0.001


def tune_for_serving() -> None:
    """Set the process up for serving, once everything built at start-up exists.

    Moves that out of the cyclic collector's way: the app, its routes, the ORM's
    metadata and the ledger's caches live as long as the process. Left in the
    collector's oldest generation, every full collection walks all of them: about
    140 ms on a small server, a pause that every request in flight waits out.
    Frozen, a full collection walks only what was made since.

    And has a thread that waits for the GIL get it sooner: SQLite's worker
    threads take it back after every statement, and by default wait up to 5 ms
    for the event loop's thread to let go, while a batch's callers wait too.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_OBJECTS, older, oldest)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def create_app(settings: Settings, *, clock: Clock | None = None, server: bool = False) -> Litestar:
    """The app. ``server``: it is the process's one app (``tune_for_serving``
    once started); tests and tools that build many apps in one process leave it off."""
    if not __debug__:
        raise RuntimeError("refusing to run under python -O: the ledger's asserts are its checks")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_runtime(settings, clock) as runtime:
            app.state.runtime = runtime
            if server:
                tune_for_serving()
            yield

    return Litestar(
        route_handlers=[*health.ROUTES, *CONTROLLERS, *discovered_pages()],
        lifespan=[lifespan],
        dependencies={
            "rt": Provide(provide_runtime, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        plugins=[StrictStructSchemaPlugin()],
        before_request=strict_json_body,
        request_max_body_size=REQUEST_BODY_BYTES_MAX,
        openapi_config=OpenAPIConfig(
            title="Buurtmunt",
            version="1",
            description=(
                "A community time-credit ledger. Errors are RFC 9457 problem details with a "
                "stable `code`. Every POST under /api/v1 needs an Idempotency-Key."
            ),
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(path="/"), JsonRenderPlugin()],
            components=Components(
                security_schemes={
                    "BearerAuth": SecurityScheme(
                        type="http", scheme="bearer", description="A device session or API token."
                    )
                }
            ),
        ),
        debug=settings.debug,
    )


def app_from_environment() -> Litestar:
    """For ASGI servers: ``uvicorn --factory api.app:app_from_environment``."""
    return create_app(Settings.from_env(), server=True)
