"""Webhook signatures: what revoice accepts, and every way a forgery is refused."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revoice.sync.errors import WebhookVerificationError
from revoice.sync.webhook import sign, verify

SECRET = "whsec_test_secret"
BODY = b'{"id":"gen-1","status":"COMPLETED"}'
NOW = 1_760_000_000


def test_signature_matches_an_independent_hmac_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET, NOW) == f"t={NOW},v1={expected}"


def test_a_fresh_correct_signature_verifies_and_returns_its_timestamp() -> None:
    assert verify({"Sync-Signature": sign(BODY, SECRET, NOW)}, BODY, SECRET, now=NOW + 10) == NOW


def test_header_names_are_case_insensitive_and_the_alternative_name_is_accepted() -> None:
    header = sign(BODY, SECRET, NOW)
    assert verify({"sync-signature": header}, BODY, SECRET, now=NOW) == NOW
    assert verify({"X-Signature-Primary": header}, BODY, SECRET, now=NOW) == NOW


def test_any_of_several_v1_signatures_may_match_during_secret_rotation() -> None:
    good = sign(BODY, SECRET, NOW).split("v1=")[1]
    assert verify({"Sync-Signature": f"t={NOW},v1={'0' * 64},v1={good}"}, BODY, SECRET, now=NOW) == NOW


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing signature header"),
        ({"Sync-Signature": "garbage"}, "malformed signature header"),
        ({"Sync-Signature": "t=abc,v1=00"}, "malformed signature timestamp"),
        ({"Sync-Signature": f"t={NOW}"}, "malformed signature header"),
        ({"Sync-Signature": "v1=00"}, "malformed signature header"),
        ({"Sync-Signature": f"t={NOW},v1={'0' * 64}"}, "signature mismatch"),
    ],
)
def test_forged_or_malformed_headers_are_refused_with_a_reason(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(headers, BODY, SECRET, now=NOW)
    assert caught.value.reason == reason


@pytest.mark.parametrize("skew", [-301, 301, 86_400])
def test_stale_or_future_timestamps_are_refused_even_when_correctly_signed(skew: int) -> None:
    with pytest.raises(WebhookVerificationError, match="stale"):
        verify({"Sync-Signature": sign(BODY, SECRET, NOW)}, BODY, SECRET, now=NOW + skew)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        verify({"Sync-Signature": sign(BODY, "whsec_other", NOW)}, BODY, SECRET, now=NOW)


@given(body=st.binary(max_size=2048), secret=st.text(min_size=1, max_size=64), flip=st.integers(min_value=0))
def test_signing_round_trips_and_any_changed_byte_breaks_it(body: bytes, secret: str, flip: int) -> None:
    header = sign(body, secret, NOW)
    assert verify({"Sync-Signature": header}, body, secret, now=NOW) == NOW
    tampered = (
        body + b"x"
        if not body
        else body[: flip % len(body)] + bytes([body[flip % len(body)] ^ 1]) + body[flip % len(body) + 1 :]
    )
    with pytest.raises(WebhookVerificationError):
        verify({"Sync-Signature": header}, tampered, secret, now=NOW)
