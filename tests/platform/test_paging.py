"""Page sizes and page tokens (services/platform/paging.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.platform.errors import FieldViolation, InvalidArgument
from services.platform.paging import decode_page_token, encode_page_token, page_limit, token_field

REFUSED = [FieldViolation("page_token", "is not a token this service issued")]


def _after(document: Any) -> str:
    return token_field(document, "after", str)


def _before(document: Any) -> int:
    return token_field(document, "before", int)


def test_an_unset_page_size_is_the_default_and_a_large_one_the_maximum() -> None:
    assert page_limit(0, 50, 200) == 50
    assert page_limit(7, 50, 200) == 7
    assert page_limit(10_000, 50, 200) == 200


def test_a_negative_page_size_is_refused() -> None:
    with pytest.raises(InvalidArgument) as raised:
        page_limit(-1, 50, 200)
    assert raised.value.violations == [FieldViolation("page_size", "must not be negative")]


def test_a_token_gives_back_the_position_it_was_made_from() -> None:
    assert decode_page_token(encode_page_token({"after": "1000042"}), _after) == "1000042"
    assert decode_page_token(encode_page_token({"before": 17}), _before) == 17


def test_tokens_issued_before_the_shared_module_still_read() -> None:
    # The customer service's tokens were base64url of json.dumps({"after": code}); a client may hold one.
    earlier = base64.urlsafe_b64encode(b'{"after": "1000042"}').decode()
    assert encode_page_token({"after": "1000042"}) == earlier
    assert decode_page_token(earlier, _after) == "1000042"


def test_an_empty_token_is_the_first_page() -> None:
    assert decode_page_token("", _after) is None


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        base64.urlsafe_b64encode(b"not json").decode(),
        encode_page_token({"other": "x"}),
        encode_page_token({"after": 12}),
        base64.urlsafe_b64encode(b'["after"]').decode(),
    ],
)
def test_a_token_this_service_did_not_issue_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(token, _after)
    assert raised.value.violations == REFUSED


def test_a_boolean_is_not_taken_for_a_number() -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(encode_page_token({"before": True}), _before)
    assert raised.value.violations == REFUSED
