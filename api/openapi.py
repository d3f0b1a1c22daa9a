"""What the OpenAPI document says beyond Litestar's defaults: strict request bodies.

A request shape declared with ``forbid_unknown_fields`` refuses a body with a
field it does not name (422); the document says so with
``additionalProperties: false``, so a client generator or a fuzzer knows too.
Litestar has no public hook for this, so the plugin extends its own msgspec one
(registered ahead of it, the app's plugins are asked first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin

if TYPE_CHECKING:
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
