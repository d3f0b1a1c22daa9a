"""Secrets and pseudonymous ids: how they are made and how they are kept.

Tokens (device sessions, API tokens, enrolment links) are 32 random bytes in
URL-safe base64; only their SHA-256 (hex) is stored. Ids are a short prefix and
16 lowercase base32 characters (80 random bits), e.g. ``mbr_k3j5x7q2m4n6p8r1``;
they never carry a name.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

TOKEN_BYTES = 32
ID_RANDOM_BYTES = 10  # 16 base32 characters


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_id(prefix: str) -> str:
    random = base64.b32encode(secrets.token_bytes(ID_RANDOM_BYTES)).decode("ascii").lower()
    return f"{prefix}_{random}"


class Prefix:
    MEMBER = "mbr"
    SHOP = "shp"
    ORGANISATION = "org"
    COMMUNITY = "cmy"
    STAFF = "stf"
    PERSON = "prs"
    DEVICE = "dev"
    API_TOKEN = "tok"
    ENROLMENT = "enr"
    OPERATOR = "ops"
    CARD = "crd"
