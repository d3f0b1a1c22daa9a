"""Where the OpenAPI document differs from Litestar's defaults: strict request bodies,
and no 400 responses.

A request shape declared with ``forbid_unknown_fields`` refuses a body with a
field it does not name (422); the document says so with
``additionalProperties: false``, so a client generator or a fuzzer knows too.
Litestar has no public hook for this, so the plugin extends its own msgspec one
(registered ahead of it, the app's plugins are asked first).

Litestar lists a 400 "Validation Exception" (plain JSON) for every operation
that reads input. This API answers bad input with a 422 problem
(``api.problems``), which every operation lists already, so the document is
served without the 400s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.plugins import JsonRenderPlugin

if TYPE_CHECKING:
    from typing import Any

    from litestar import Request
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's msgspec schema, closed where the struct forbids unknown fields."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


class ProblemJsonRenderPlugin(JsonRenderPlugin):
    """Litestar's JSON document without the 400 responses no route answers with."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        for path_item in openapi_schema.get("paths", {}).values():
            for operation in path_item.values():
                if isinstance(operation, dict):
                    operation.get("responses", {}).pop("400", None)
        return super().render(request, openapi_schema)
