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
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPluginProtocol

from api import logs, metrics
from api.auth import provide_principal
from api.bodies import strict_json_body
from api.headers import add_security_headers, bounded_headers
from api.observe import observed
from api.openapi import ProblemJsonRenderPlugin, StrictStructSchemaPlugin
from api.openapi_page import OfflineSwaggerPlugin, assets_router
from api.problems import EXCEPTION_HANDLERS
from api.replica import provide_reads
from api.routes import (
    accounts,
    cards,
    communities,
    credentials,
    exports,
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
# Responses smaller than this go out as they are; a gzip header would eat the gain.
COMPRESSION_BYTES_MIN = 500
COMPRESSION_LEVEL = 6
# Event streams go out unbuffered, as each event happens.
UNCOMPRESSED_PATHS = [r"/api/v1/payment-requests/[^/]+/events", r"/api/v1/exports/bundle"]

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
    exports.StatementController,
    exports.ExportController,
]


PAGES_ENTRY_POINT = "buurtmunt.pages"


def discovered_pages() -> list[Any]:
    """Page routes that installed packages register under the ``buurtmunt.pages`` entry point.

    ``mobile_web`` builds on the API (its pages call into ``api``), so the API
    must not import it; it registers its routes instead (see pyproject.toml).
    The list may hold Litestar init plugins too (the pages' HTML error page).
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


def cors_config(settings: Settings) -> CORSConfig | None:
    """Cross-origin calls from ``settings.cors_origins`` only, with a bearer token (never a
    cookie); without origins, browsers keep the API to its own origin."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "HEAD", "POST", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
        allow_credentials=False,
        expose_headers=["Retry-After"],
    )


def create_app(settings: Settings, *, clock: Clock | None = None, server: bool = False) -> Litestar:
    """The app. ``server``: it is the process's one app (``tune_for_serving``
    once started); tests and tools that build many apps in one process leave it off."""
    if not __debug__:
        raise RuntimeError("refusing to run under python -O: the ledger's asserts are its checks")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_runtime(settings, clock) as runtime:
            app.state.runtime = runtime
            runtime.witnesses.start()
            runtime.keys.start()
            if server:
                tune_for_serving()
            yield
        metrics.process_stopping()
        logs.flush()

    pages = discovered_pages()
    app = Litestar(
        route_handlers=[
            *health.ROUTES,
            *metrics.ROUTES,
            *CONTROLLERS,
            assets_router(),
            *(p for p in pages if not isinstance(p, InitPluginProtocol)),
        ],
        plugins=[
            StrictStructSchemaPlugin(),
            *(p for p in pages if isinstance(p, InitPluginProtocol)),
        ],
        lifespan=[lifespan],
        dependencies={
            "rt": Provide(provide_runtime, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
            "reads": Provide(provide_reads),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_json_body,
        before_send=[add_security_headers],
        compression_config=CompressionConfig(
            backend="gzip",
            minimum_size=COMPRESSION_BYTES_MIN,
            gzip_compress_level=COMPRESSION_LEVEL,
            exclude=UNCOMPRESSED_PATHS,
        ),
        middleware=[bounded_headers],
        cors_config=cors_config(settings),
        request_max_body_size=REQUEST_BODY_BYTES_MAX,
        openapi_config=OpenAPIConfig(
            title="Buurtmunt",
            version="1",
            description=(
                "A community time-credit ledger. Errors are RFC 9457 problem details with a "
                "stable `code`. Every POST under /api/v1 needs an Idempotency-Key."
            ),
            path="/schema",
            render_plugins=[OfflineSwaggerPlugin(path="/"), ProblemJsonRenderPlugin()],
            components=Components(
                security_schemes={
                    "BearerAuth": SecurityScheme(
                        type="http", scheme="bearer", description="A device session or API token."
                    )
                }
            ),
        ),
        debug=settings.debug,
        # The process configures logging (api.logs), not the app.
        logging_config=None,
    )
    # Around routing and its error handling: every request is seen, routed or not.
    app.asgi_handler = observed(app.asgi_handler)
    return app


def app_from_environment() -> Litestar:
    """For ASGI servers: ``uvicorn --factory api.app:app_from_environment``."""
    settings = Settings.from_env()
    logs.configure(settings.log_level, request_log=settings.request_log)
    return create_app(settings, server=True)
