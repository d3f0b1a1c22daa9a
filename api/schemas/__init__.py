"""Request (``…In``) and response (``…Out``) shapes of the API, as msgspec Structs.

Requests are validated by their annotations when they are decoded; responses
are built by named functions from domain values (``TransferOut.from_entry``),
never by splatting rows.
"""
