"""What the pay screens accept: only our own QR payloads, a typed code in any case and
spacing, and amounts within the bounds."""

from __future__ import annotations

import pytest

from api.qr import payment_url, request_id_of
from mobile_web.forms import AmountInvalid, minutes_from
from mobile_web.pay import typed_request_id

PUBLIC = "https://buurtmunt.example/oost"
RID = "ABCDEFGHIJKLMNOPQRSTUVWXY2"


def test_our_payment_url_gives_its_request_id_in_any_case() -> None:
    assert request_id_of(PUBLIC, payment_url(PUBLIC, RID)) == RID
    assert request_id_of(PUBLIC, payment_url(PUBLIC, RID).lower()) == RID


@pytest.mark.parametrize(
    "text",
    [
        f"https://elsewhere.example/oost/P/{RID}",
        f"https://buurtmunt.example/P/{RID}",
        f"{payment_url(PUBLIC, RID)}X",
        f"{payment_url(PUBLIC, RID[:-1])}1",
        "WIFI:S:home;T:WPA;P:secret;;",
        "",
    ],
)
def test_any_other_qr_text_is_not_ours(text: str) -> None:
    assert request_id_of(PUBLIC, text) is None


def test_a_typed_code_may_be_lower_case_spaced_or_the_whole_link() -> None:
    assert typed_request_id(PUBLIC, "abcde fghij klmno pqrst uvwxy2") == RID
    assert typed_request_id(PUBLIC, payment_url(PUBLIC, RID)) == RID
    assert typed_request_id(PUBLIC, "ABC") is None


def test_a_typed_code_reads_a_zero_as_o_and_an_eight_as_b() -> None:
    assert typed_request_id(PUBLIC, "ABCDE FGHIJ KLMN0 PQRST UVWXY2") == RID
    assert typed_request_id(PUBLIC, "A8CDE FGHIJ KLMNO PQRST UVWXY2") == RID


def test_amounts_come_from_a_quick_choice_or_hours_and_minutes() -> None:
    assert minutes_from({"amount_minutes": "90"}, required=True) == 90
    assert minutes_from({"hours": "1", "minutes": "15"}, required=True) == 75
    assert minutes_from({}, required=False) is None
    for bad in ({}, {"hours": "-1"}, {"minutes": "1e3"}, {"hours": "99999999"}):
        with pytest.raises(AmountInvalid):
            minutes_from(bad, required=True)
