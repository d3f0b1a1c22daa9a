"""Pay codes' pure parts: RFC 6238 TOTP, the 12-digit layout, and which steps a code matches."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api import pay_codes
from api.tables import PayCodeDeviceRow

# RFC 6238 appendix B: the SHA-1 secret is the ASCII "12345678901234567890"; the
# 8-digit values there end in the 6 digits a 6-digit TOTP gives.
RFC_SECRET = b"12345678901234567890"
RFC_VECTORS = [
    (59, "287082"),
    (1111111109, "081804"),
    (1111111111, "050471"),
    (1234567890, "005924"),
    (2000000000, "279037"),
    (20000000000, "353130"),
]


@pytest.mark.parametrize(("unix_seconds", "expected"), RFC_VECTORS)
def test_the_totp_matches_rfc_6238(unix_seconds: int, expected: str) -> None:
    assert pay_codes.totp(RFC_SECRET, pay_codes.step_of(unix_seconds)) == expected


def test_a_code_is_the_device_number_then_the_totp() -> None:
    code = pay_codes.code_at("004217", RFC_SECRET, 59)

    assert code == "004217287082"
    assert pay_codes.split_code(code) == ("004217", "287082")


@pytest.mark.parametrize(
    "code", ["", "12345678901", "1234567890123", "12345678901a", "١٢٣٤٥٦٧٨٩٠١٢"]
)
def test_anything_but_twelve_ascii_digits_is_no_code(code: str) -> None:
    assert pay_codes.split_code(code) is None


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_code_from_one_step_either_side_matches_its_own_step(offset: int) -> None:
    now_step = pay_codes.step_of(1_800_000_000)
    otp = pay_codes.totp(RFC_SECRET, now_step + offset)

    assert pay_codes.matching_step(RFC_SECRET, otp, now_step) == now_step + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_a_code_from_further_away_matches_nothing(offset: int) -> None:
    now_step = pay_codes.step_of(1_800_000_000)
    otp = pay_codes.totp(RFC_SECRET, now_step + offset)

    assert pay_codes.matching_step(RFC_SECRET, otp, now_step) is None


def test_the_secret_is_base32_without_padding_as_authenticator_apps_take_it() -> None:
    assert pay_codes.secret_base32(RFC_SECRET) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def test_a_sealed_secret_opens_only_for_its_own_device_and_key() -> None:
    key = Ed25519PrivateKey.generate()
    sealed = pay_codes.seal_secret(key, "dev_a", RFC_SECRET)
    row = PayCodeDeviceRow(
        credential_id="dev_a", community="oost", member="mbr_a", device_number="000001",
        secret=sealed, created_at=0,
    )  # fmt: skip
    moved = PayCodeDeviceRow(
        credential_id="dev_b", community="oost", member="mbr_a", device_number="000002",
        secret=sealed, created_at=0,
    )  # fmt: skip

    assert RFC_SECRET not in sealed
    assert pay_codes.open_secret(key, row) == RFC_SECRET
    assert pay_codes.open_secret(key, moved) is None
    assert pay_codes.open_secret(Ed25519PrivateKey.generate(), row) is None
