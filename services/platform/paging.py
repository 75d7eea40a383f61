"""Cursor (keyset) pagination for list RPCs: page sizes and opaque page tokens.

A token is base64url JSON of where the next page starts (``{"after": "1000042"}``); it means nothing to the
client and a token this service did not issue is INVALID_ARGUMENT on ``page_token``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from services.platform.errors import InvalidArgument

Position = TypeVar("Position")
Value = TypeVar("Value")


def page_limit(page_size: int, default: int, maximum: int) -> int:
    """How many to return: ``default`` for 0 (unset), at most ``maximum``; a negative size is refused."""
    if page_size < 0:
        raise InvalidArgument.for_field("page_size", "must not be negative")
    return min(page_size or default, maximum)


def encode_page_token(position: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def decode_page_token(token: str, read: Callable[[Any], Position]) -> Position | None:
    """None for an empty token (the first page); else what ``read`` makes of the token's JSON document.

    ``read`` may fail with ValueError, KeyError or TypeError (``token_field`` does for a missing or mistyped
    field): the token is then refused as not one this service issued.
    """
    if not token:
        return None
    try:
        return read(json.loads(base64.urlsafe_b64decode(token.encode())))
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidArgument.for_field("page_token", "is not a token this service issued") from error


def token_field(document: Any, name: str, kind: type[Value]) -> Value:
    """``document[name]``, which must be a ``kind`` (a bool is not an int here); TypeError or KeyError if not."""
    value = document[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise TypeError(f"{name} is not a {kind.__name__}")
    return value
