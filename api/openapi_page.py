"""The API documentation page (``/schema``) that works offline and under a strict CSP.

Swagger UI's script and style come from the ``swagger-ui-bundle-v2`` package on
PyPI, served under ``/schema/assets/``; the page starts it with a script file
of its own (``openapi_assets/swagger-init.js``), not an inline one. The
assets path is written in ``openapi_assets/page.html`` too.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from litestar import Request
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/schema/assets"
ASSETS_MAX_AGE_SECONDS = 24 * 3600
SWAGGER_DIRECTORY = Path(swagger_ui_bundle.swagger_ui_path)
INIT_DIRECTORY = Path(str(files("api") / "openapi_assets"))

_PAGE = (INIT_DIRECTORY / "page.html").read_bytes()


class OfflineSwaggerPlugin(OpenAPIRenderPlugin):
    """Swagger UI from this server's own files."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return _PAGE


def assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[INIT_DIRECTORY, SWAGGER_DIRECTORY],
        cache_control=CacheControlHeader(max_age=ASSETS_MAX_AGE_SECONDS, public=True),
        include_in_schema=False,
        name="openapi_assets",
    )
